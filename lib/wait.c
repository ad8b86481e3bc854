/* wait.c — the one waiting loop, shared by barrier and event.
 *
 * The lost-wake-up rule: a sleeper announces itself by setting sleep_bit
 * with a CAS on the exact value it saw, then sleeps on that value. A waker
 * changes the word with a read-modify-write and wakes only if the value it
 * replaced had sleep_bit. Both are RMWs on one word, so one of them sees the
 * other: either the waker sees the bit and wakes, or the sleeper's CAS fails
 * (or the kernel's compare does) and it re-reads the word. */
#define _GNU_SOURCE
#include "wait.h"

#include <sched.h>

#include "futex.h"
#include "rally.h"

enum { POLLS_PER_CLOCK_READ = 64 };

static bool changed(uint32_t v, uint32_t seen, uint32_t sleep_bit)
{
	return ((v ^ seen) & ~sleep_bit) != 0;
}

/* Polls for at most plan->iters iterations and plan->max_ns. */
static bool spin_until_change(_Atomic uint32_t *word, uint32_t seen,
                              uint32_t sleep_bit,
                              const struct rally__deadline *dl,
                              const struct rally__spin_plan *plan,
                              uint32_t *now)
{
	int64_t stop = plan->max_ns ? rally__now_ns() + plan->max_ns : 0;
	for (uint32_t i = 1; i <= plan->iters; i++) {
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		rally__cpu_relax();
		if (i % POLLS_PER_CLOCK_READ == 0 &&
		    ((stop && rally__now_ns() >= stop) ||
		     rally__deadline_passed(dl)))
			break;
	}
	return false;
}

static bool yield_until_change(_Atomic uint32_t *word, uint32_t seen,
                               uint32_t sleep_bit,
                               const struct rally__deadline *dl,
                               uint32_t yields, uint32_t *now)
{
	for (uint32_t i = 0; i < yields; i++) {
		sched_yield();
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		if (rally__deadline_passed(dl))
			break;
	}
	return false;
}

int rally__wait_change(_Atomic uint32_t *word, uint32_t seen,
                       uint32_t sleep_bit, const struct rally__deadline *dl,
                       const struct rally__spin_plan *plan, bool shared,
                       uint32_t *now)
{
	/* A timeout of 0 ("do not block") must not spin either. */
	if (!rally__deadline_passed(dl) &&
	    (spin_until_change(word, seen, sleep_bit, dl, plan, now) ||
	     yield_until_change(word, seen, sleep_bit, dl, plan->yields, now)))
		return 0;
	for (;;) {
		uint32_t v = atomic_load_explicit(word, memory_order_acquire);
		*now = v;
		if (changed(v, seen, sleep_bit))
			return 0;
		if (rally__deadline_passed(dl))
			return RALLY_TIMEDOUT;
		if (!(v & sleep_bit)) {
			/* Relaxed: the waker's RMW on this word is what must
			 * see the bit, and RMWs on one word are totally
			 * ordered. */
			if (!atomic_compare_exchange_weak_explicit(
			        word, &v, v | sleep_bit, memory_order_relaxed,
			        memory_order_relaxed))
				continue;
			v |= sleep_bit;
		}
		/* Any return (woken, spurious, EAGAIN, EINTR, ETIMEDOUT) leads
		 * back to re-reading the word and the deadline. */
		rally__futex_wait(word, v, rally__deadline_ts(dl), shared);
	}
}
