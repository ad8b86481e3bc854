/* wait.c — the one waiting loop, shared by barrier and event.
 *
 * The lost-wake-up rule: a sleeper announces itself by setting sleep_bit
 * with a CAS on the exact value it saw, then sleeps on that value. A waker
 * changes the word with a read-modify-write and wakes only if the value it
 * replaced had sleep_bit. Both are RMWs on one word, so one of them sees the
 * other: either the waker sees the bit and wakes, or the sleeper's CAS fails
 * (or the kernel's compare does) and it re-reads the word. The words are
 * 64-bit atomics whose low half is the futex word: user space only ever
 * touches them whole (ThreadSanitizer and C11 see one atomic object), the
 * kernel only the low half. */
#define _GNU_SOURCE
#include "wait.h"

#include <sched.h>

#include "futex.h"
#include "points.h"
#include "rally.h"

enum { POLLS_PER_CLOCK_READ = 64 };

static bool changed(uint64_t v, uint64_t seen, uint32_t sleep_bit)
{
	return (uint32_t)(v ^ seen) & ~sleep_bit;
}

/* Patience renewed by progress: an arrival since the last look. */
struct patience {
	_Atomic uint64_t *progress;
	uint64_t mark;
	int64_t start, last;
};

static void patience_start(struct patience *p, _Atomic uint64_t *progress,
                           int64_t now)
{
	p->progress = progress;
	p->mark =
	    progress ? atomic_load_explicit(progress, memory_order_relaxed) : 0;
	p->start = p->last = now;
}

/* Time since the last progress seen at `now`. */
static int64_t patience_idle(struct patience *p, int64_t now)
{
	if (p->progress) {
		uint64_t m =
		    atomic_load_explicit(p->progress, memory_order_relaxed);
		if (m != p->mark) {
			p->mark = m;
			p->last = now;
		}
	}
	return now - p->last;
}

/* Polls: plan->iters times, or while progress comes (plan->spin_ns of
 * patience, plan->spin_cap_ns at most). The clock is first read after
 * POLLS_PER_CLOCK_READ polls: most waits end before. */
static bool spin_until_change(_Atomic uint64_t *word, uint64_t seen,
                              uint32_t sleep_bit,
                              const struct rally__deadline *dl,
                              const struct rally__spin_plan *plan,
                              _Atomic uint64_t *progress, uint64_t *now)
{
	struct patience p = {0};
	uint32_t limit = plan->iters ? plan->iters : (plan->spin_ns ? ~0u : 0);
	for (uint32_t i = 1; i <= limit; i++) {
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		rally__cpu_relax();
		if (i % POLLS_PER_CLOCK_READ != 0)
			continue;
		int64_t t = rally__now_ns();
		if (rally__deadline_passed_at(dl, t))
			break;
		if (plan->iters)
			continue;
		if (i == POLLS_PER_CLOCK_READ)
			patience_start(&p, progress, t);
		else if (patience_idle(&p, t) >= plan->spin_ns ||
		         t - p.start >= plan->spin_cap_ns)
			break;
	}
	return false;
}

/* Yields the CPU as long as someone arrived (*progress changed) while this
 * waiter was away; without a progress word, yields once. */
static bool yield_until_change(_Atomic uint64_t *word, uint64_t seen,
                               uint32_t sleep_bit,
                               const struct rally__deadline *dl,
                               const struct rally__spin_plan *plan,
                               _Atomic uint64_t *progress, uint64_t *now)
{
	uint64_t mark =
	    progress ? atomic_load_explicit(progress, memory_order_relaxed) : 0;
	for (uint32_t i = 0; i < plan->yields; i++) {
		RALLY_POINT(YIELDING);
		sched_yield();
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		if (!progress || rally__deadline_passed(dl))
			return false;
		uint64_t m =
		    atomic_load_explicit(progress, memory_order_relaxed);
		if (m == mark)
			return false;
		mark = m;
	}
	return false;
}

int rally__wait_change(_Atomic uint64_t *word, uint64_t seen,
                       uint32_t sleep_bit, const struct rally__deadline *dl,
                       const struct rally__spin_plan *plan,
                       _Atomic uint64_t *progress, bool shared, uint64_t *now)
{
	/* A timeout of 0 ("do not block") must not spin either. */
	if (!rally__deadline_passed(dl)) {
		if (spin_until_change(word, seen, sleep_bit, dl, plan, progress,
		                      now))
			return 0;
		RALLY_POINT(SPUN);
		if (yield_until_change(word, seen, sleep_bit, dl, plan,
		                       progress, now))
			return 0;
	}
	for (;;) {
		uint64_t v = atomic_load_explicit(word, memory_order_acquire);
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
		RALLY_POINT(SLEEPING);
		rally__futex_wait(rally__low_half(word), (uint32_t)v,
		                  rally__deadline_ts(dl), shared);
	}
}
