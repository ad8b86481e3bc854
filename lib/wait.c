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
#include "hooks.h"
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
                              struct rally__spin_plan *plan,
                              _Atomic uint64_t *progress, uint64_t *now)
{
	struct patience p = {0};
	/* An explicit budget goes on where a slice (dl) cut it. */
	uint32_t limit = plan->iters ? plan->iters - plan->polled
	                             : (plan->spin_ns ? ~0u : 0);
	for (uint32_t i = 1; i <= limit; i++) {
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		rally__cpu_relax();
		if (i % POLLS_PER_CLOCK_READ != 0)
			continue;
		int64_t t = rally__now_ns();
		if (rally__deadline_passed_at(dl, t)) {
			if (plan->iters)
				plan->polled += i;
			return false;
		}
		if (plan->iters)
			continue;
		if (i == POLLS_PER_CLOCK_READ)
			patience_start(&p, progress, t);
		else if (patience_idle(&p, t) >= plan->spin_ns ||
		         t - p.start >= plan->spin_cap_ns)
			break;
	}
	if (plan->iters)
		plan->polled = plan->iters;
	return false;
}

/* A yield that found no arrival and came back within this long ran
 * nobody else: this waiter is alone on its CPU (a lone sched_yield() takes
 * 0.3-1 us here; one that ran the party awaited, which arrives and yields
 * back, takes 2 us or more). Settable by tests (hooks.h). */
static _Atomic int64_t alone_yield_ns = 1500;

void rally__set_alone_yield_ns(int64_t ns)
{
	atomic_store_explicit(&alone_yield_ns, ns, memory_order_relaxed);
}

/* Yields the CPU as long as someone arrived (*progress changed) while this
 * waiter was away — or while only one yield in a row found nobody: with
 * more parties than CPUs a yield often goes to another waiter, and one
 * fruitless yield is no sign that only waiters are left (stopping at the
 * first: 4 threads on 2 CPUs took 4.5 us a phase, std::barrier 2.7, the
 * bare yield loop 2.4; at the second: 2.2 us, and 8 to 32 threads as
 * before). Without a progress word, yields once. With `alone`, times each
 * yield, and stops at the first that found no arrival and ran nobody else
 * (*alone = true). */
static bool yield_until_change(_Atomic uint64_t *word, uint64_t seen,
                               uint32_t sleep_bit,
                               const struct rally__deadline *dl,
                               const struct rally__spin_plan *plan,
                               _Atomic uint64_t *progress, uint64_t *now,
                               bool *alone)
{
	uint64_t mark =
	    progress ? atomic_load_explicit(progress, memory_order_relaxed) : 0;
	bool missed = false; /* the last yield found no new arrival */
	for (uint32_t i = 0; i < plan->yields; i++) {
		int64_t start = alone ? rally__now_ns() : 0;
		RALLY_POINT(YIELDING);
		sched_yield();
		*now = atomic_load_explicit(word, memory_order_acquire);
		if (changed(*now, seen, sleep_bit))
			return true;
		if (!progress || rally__deadline_passed(dl))
			return false;
		uint64_t m =
		    atomic_load_explicit(progress, memory_order_relaxed);
		if (alone && m == mark &&
		    rally__now_ns() - start <
		        atomic_load_explicit(&alone_yield_ns,
		                             memory_order_relaxed)) {
			*alone = true;
			return false;
		}
		if (m == mark && missed)
			return false;
		missed = m == mark;
		mark = m;
	}
	return false;
}

/* Sleeps until the word changes (announcing itself by sleep_bit) or the
 * deadline passes: 0 or RALLY_TIMEDOUT. */
static int sleep_until_change(_Atomic uint64_t *word, uint64_t seen,
                              uint32_t sleep_bit,
                              const struct rally__deadline *dl, bool shared,
                              uint64_t *now, uint8_t *reached)
{
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
		*reached |= RALLY__REACHED_SLEEP;
		rally__futex_wait(rally__low_half(word), (uint32_t)v,
		                  rally__deadline_ts(dl), shared);
	}
}

/* ---- a spin that cannot pay off stops being tried -------------------------
 *
 * RALLY_SPIN_AUTO trusts the affinity mask: with parties <= CPUs it polls.
 * But the mask does not show other processes' load: beside one busy loop
 * on a 2-CPU machine the two parties often share the other CPU (the
 * scheduler balances 3 tasks on 2 CPUs as well either way), where a poll
 * holds the CPU the party awaited needs and runs out (20-50 us) — 2
 * threads took 25 us a phase where pthread's sleeping barrier took 3.5 us.
 * So each
 * thread remembers, for each of the last RALLY__RECENT_WORDS words it
 * waited on, how its recent waits ended:
 * after THROTTLE_AFTER waits in a row whose spin found nothing, it no
 * longer spins: it yields while arrivals come (a party that shares its CPU
 * runs, arrives, and the wait ends for the price of a switch), then sleeps.
 * It probes — the whole plan once — after PROBE_FIRST such waits, and after
 * twice as many each time a probe finds nothing, up to PROBE_MAX: beside a
 * neighbour that stays, probes grow rare (a fruitless one costs up to
 * 50 us); once it has gone, a probe finds the party running and the count
 * is cleared. Why the yields: throttled parties that sleep at once are put
 * on one CPU by the scheduler's wake-ups (the other idle), where no spin
 * can pay off — 2 threads locked at 6.5 us a phase after 4 slow phases on
 * a quiet machine; yielding, they keep going and the load balancer can
 * part them. A yield that comes back at once with no arrival shows them
 * parted (nobody else ran on this CPU): that wait spins after all, and if
 * the spin pays off the throttle ends. A wait whose spin pays off clears the count: on a quiet
 * machine nothing changes. Per thread, so that the hot path writes no
 * shared line; initial-exec, so that it costs a load, not a call. An
 * explicit budget (attr.spin, RALLY_SPIN=N) is the user's, and is never
 * throttled; nor are events' waits (below). */
enum { THROTTLE_AFTER = RALLY__THROTTLE_AFTER, PROBE_FIRST = 16,
       PROBE_MAX = 1024, THROTTLED_YIELDS = 2, ALONE_MISSES = 4 };

_Thread_local struct rally__recent_words rally__recent;

/* This thread's record of `word`: found, or made in place of the one least
 * recently used (a thread that waits on several barriers in turn keeps a
 * record of each — with one, every switch started it afresh: review round
 * 2). */
static struct rally__recent *record_of(const void *word, uint64_t tag)
{
	struct rally__recent *r = rally__recent_of(word, tag), *oldest;
	if (!r) {
		oldest = &rally__recent.words[0];
		for (int i = 1; i < RALLY__RECENT_WORDS; i++)
			if (rally__recent.words[i].used < oldest->used)
				oldest = &rally__recent.words[i];
		r = oldest;
		*r = (struct rally__recent){.key = rally__recent_key(word, tag)};
	}
	r->used = ++rally__recent.clock;
	return r;
}

static bool adaptive(const struct rally__spin_plan *plan)
{
	return plan->iters == 0 && (plan->spin_ns || plan->yields);
}

/* Whether this wait skips the spin. */
static bool throttled(struct rally__recent *r)
{
	if (r->fruitless < THROTTLE_AFTER)
		return false;
	if (++r->skipped < r->interval)
		return true;
	r->skipped = 0; /* a probe */
	if (r->interval < PROBE_MAX)
		r->interval *= 2; /* for the next, if this one fails */
	return false;
}

static void note_spin(struct rally__recent *r, bool paid_off)
{
	if (paid_off) {
		r->fruitless = 0;
		r->alone_misses = 0;
	} else if (r->fruitless < THROTTLE_AFTER &&
	           ++r->fruitless == THROTTLE_AFTER) {
		r->skipped = 0; /* throttled from now on */
		r->interval = PROBE_FIRST;
	}
}

enum { UNJUDGED, SPINS, THROTTLED };

/* The word changed: a later call (the wait goes on) polls anew. */
static int renewed(struct rally__spin_plan *plan)
{
	plan->spent = false;
	plan->polled = 0;
	return 0;
}

int rally__wait_change(_Atomic uint64_t *word, uint64_t seen,
                       uint32_t sleep_bit, const struct rally__deadline *dl,
                       struct rally__spin_plan *plan,
                       _Atomic uint64_t *progress, bool shared, uint64_t *now)
{
	/* A timeout of 0 ("do not block") must not spin either. */
	if (!rally__deadline_passed(dl)) {
		/* Barriers only (they pass their arrivals as progress): an
		 * event's poll is brief already, and its waiter, sleeping at
		 * once, was woken onto its setter's CPU — 300 us a wake where
		 * the setter then polled for an answer (event/wake_sleeping).
		 * Judged and counted once a wait (the plan lives as long as
		 * it): a wait sleeping in slices counted each as a wait (review
		 * round 5), and one that slept at once after a change that did
		 * not end it dropped explicit budgets (round 6). */
		struct rally__recent *r = NULL;
		bool alone_spin = false;
		/* The caller saw the word change (it reloads it itself at a
		 * slice's end, after a failed break): poll anew (round 8) —
		 * a whole budget, not what a slice left of the last one
		 * (round 9). */
		if ((plan->spent || plan->polled) &&
		    changed(seen, plan->spent_seen, sleep_bit))
			renewed(plan);
		plan->spent_seen = seen;
		if (plan->verdict == UNJUDGED) {
			if (progress && adaptive(plan))
				r = record_of(word, plan->tag);
			plan->verdict = r && throttled(r) ? THROTTLED : SPINS;
		}
		if (plan->verdict == THROTTLED) {
			RALLY_POINT(THROTTLED);
			plan->reached |= RALLY__REACHED_YIELD;
			struct rally__spin_plan yields = {
			    .yields = plan->yields > THROTTLED_YIELDS
			                  ? plan->yields
			                  : THROTTLED_YIELDS};
			bool alone = false;
			if (progress &&
			    yield_until_change(word, seen, sleep_bit, dl,
			                       &yields, progress, now,
			                       plan->spin_ns ? &alone : NULL))
				return 0;
			/* Alone on its CPU: the party awaited is not here, so
			 * it most likely runs elsewhere (or waits for a CPU
			 * there) — the spins in vain were those of two parties
			 * on one CPU, which the load balancer has parted since.
			 * Spin; a spin that pays off ends the throttle.
			 * Sleeping instead left this CPU idle, and the balancer
			 * pulled the other party back onto it: beside a busy
			 * loop 2 processes crossed a phase in 1.2-2.8 us, one
			 * CPU handing over to the other, where parted they took
			 * 0.2-0.6 us (rally-floor-probe, bench/python_bench).
			 * But a party that sleeps or blocks is on no CPU (and
			 * a yield beside a thread that computes may come back
			 * at once, too): after ALONE_MISSES such spins in a row
			 * in vain, the yields are no longer believed, until a
			 * spin pays off (review round 14: every throttled wait
			 * spun 20 us for a party asleep). */
			if (alone && !r) /* a later slice of the wait */
				r = rally__recent_of(word, plan->tag);
			alone_spin = alone && r && r->alone_misses < ALONE_MISSES;
			if (alone_spin) {
				RALLY_POINT(ALONE);
				plan->verdict = SPINS;
			}
		}
		if (plan->verdict == SPINS && !plan->spent) {
			/* A plan with no polls (RALLY_SPIN_NEVER) did not
			 * poll (review round 2). */
			if (plan->iters || plan->spin_ns)
				plan->reached |= RALLY__REACHED_POLL;
			bool spun = spin_until_change(word, seen, sleep_bit, dl,
			                              plan, progress, now);
			/* A deadline that ended the spin says nothing of it. */
			if (r && (spun || !rally__deadline_passed(dl))) {
				note_spin(r, spun);
				r->alone_misses += alone_spin && !spun;
			}
			if (spun)
				return renewed(plan);
			RALLY_POINT(SPUN);
			if (plan->yields)
				plan->reached |= RALLY__REACHED_YIELD;
			if (yield_until_change(word, seen, sleep_bit, dl, plan,
			                       progress, now, NULL))
				return renewed(plan);
			/* Unless a slice cut an explicit budget short, this wait's
			 * polling is done until the word changes: a shared
			 * barrier's 50 ms slices renewed it, and a budget longer
			 * than a slice never slept (review round 7). */
			plan->spent = !plan->iters || plan->polled >= plan->iters;
		}
	}
	int rc = sleep_until_change(word, seen, sleep_bit, dl, shared, now,
	                            &plan->reached);
	return rc == 0 ? renewed(plan) : rc;
}
