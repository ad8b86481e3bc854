/* event.c — threading.Event: a flag, set and cleared, that callers wait for.
 *
 * One futex word: a generation (30 bits, + 1 at every set of a clear flag)
 * above SET and SLEEPERS. set() is one CAS — and one FUTEX_WAKE only if
 * SLEEPERS was set (the sleeper's CAS and the setter's RMW on one word
 * cannot miss each other; see wait.c). A waiter that saw the flag clear
 * waits for the word to change in any bit but SLEEPERS: only a set changes
 * a clear word, and the generation keeps the change visible even if a
 * clear follows at once, so no wake-up is lost. `waiters` counts callers
 * blocked or leaving, for destroy(). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "event_impl.h"
#include "export.h"
#include "futex.h"
#include "points.h"
#include "rally.h"
#include "spin.h"
#include "wait.h"

#define EV_SLEEPERS   0x1u
#define EV_SET        0x2u
#define EV_GEN        0x4u /* one generation */
#define EVENT_SPIN_NS  5000     /* see wait_for_set() */
#define EVENT_SLICE_NS 50000000 /* a shared waiter looks again after it */

/* The event itself, or the one a handle from rally_event_open() names;
 * *shared says whether its futex is shared, read now: after set()'s CAS the
 * event may be freed, and its flags with it. */
static struct rally__event *event_of(const rally_event_t *pub, bool *shared)
{
	struct rally__event *e = (struct rally__event *)pub;
	if (!e)
		return NULL;
	uint32_t magic = atomic_load_explicit(&e->magic, memory_order_acquire);
	if (magic == RALLY__EVENT_PROXY_MAGIC) {
		*shared = true;
		e = ((const struct rally__event_proxy *)pub)->shared;
	} else if (magic == RALLY__EVENT_MAGIC) {
		*shared = e->flags & RALLY_SHARED;
	} else {
		return NULL;
	}
	if (atomic_load_explicit(&e->magic, memory_order_acquire) !=
	    RALLY__EVENT_MAGIC)
		return NULL;
	return e;
}

RALLY_EXPORT int rally_event_init(rally_event_t *pub, unsigned flags)
{
	if (!pub || (flags & ~RALLY_SHARED))
		return -EINVAL;
	struct rally__event *e = (struct rally__event *)pub;
	memset(e, 0, sizeof *e);
	e->flags = flags;
	atomic_store_explicit(&e->magic, RALLY__EVENT_MAGIC,
	                      memory_order_release);
	return 0;
}

RALLY_EXPORT int rally_event_set(rally_event_t *pub)
{
	bool shared;
	struct rally__event *e = event_of(pub, &shared);
	if (!e)
		return -EINVAL;
	uint64_t w = atomic_load_explicit(&e->word, memory_order_relaxed);
	do {
		if (w & EV_SET)
			return 0;
		/* Release: the setter's writes before set() are seen by
		 * whoever sees the flag. */
	} while (!atomic_compare_exchange_weak_explicit(
	    &e->word, &w, ((w + EV_GEN) | EV_SET) & ~EV_SLEEPERS,
	    memory_order_release, memory_order_relaxed));
	RALLY_POINT(EVENT_SET);
	if (w & EV_SLEEPERS)
		rally__futex_wake_all(rally__low_half(&e->word), shared);
	return 0;
}

RALLY_EXPORT int rally_event_clear(rally_event_t *pub)
{
	bool shared;
	struct rally__event *e = event_of(pub, &shared);
	if (!e)
		return -EINVAL;
	atomic_fetch_and_explicit(&e->word, ~(uint64_t)EV_SET,
	                          memory_order_relaxed);
	return 0;
}

RALLY_EXPORT bool rally_event_is_set(const rally_event_t *pub)
{
	bool shared;
	struct rally__event *e = event_of(pub, &shared);
	return e &&
	       (atomic_load_explicit(&e->word, memory_order_acquire) & EV_SET);
}

static int wait_for_set(struct rally__event *e, uint64_t seen,
                        const struct rally__deadline *dl, bool shared)
{
	struct rally__spin_plan plan;
	/* A setter is some other running thread: poll a little if there is a
	 * CPU for it, as for a barrier of two — but briefly: a hand-off takes
	 * a few hundred ns, and polling longer before sleeping made the next
	 * wake-up of the sleeper ~20 us slower (measured on a 2-CPU VM). */
	rally__spin_plan(RALLY_SPIN_AUTO, 2, &plan);
	if (plan.spin_ns) {
		plan.spin_ns = EVENT_SPIN_NS;
		plan.spin_cap_ns = 2 * EVENT_SPIN_NS;
	}
	uint64_t now;
	atomic_fetch_add_explicit(&e->waiters, 1, memory_order_relaxed);
	int rc;
	if (!shared) {
		rc = rally__wait_change(&e->word, seen, EV_SLEEPERS, dl, &plan,
		                        NULL, shared, &now);
	} else {
		/* A setter whose process died between its CAS (which took
		 * SLEEPERS off) and its wake leaves the sleepers asleep, and no
		 * later set wakes them: a shared event's waiters sleep in
		 * slices and look again. */
		do {
			struct rally__deadline slice;
			rally__deadline_within(&slice, dl, EVENT_SLICE_NS);
			rc = rally__wait_change(&e->word, seen, EV_SLEEPERS,
			                        &slice, &plan, NULL, shared,
			                        &now);
		} while (rc == RALLY_TIMEDOUT && !rally__deadline_passed(dl));
	}
	/* Release: destroy() acquires `waiters` before the memory goes. */
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_release);
	return rc;
}

RALLY_EXPORT int rally_event_wait(rally_event_t *pub, int64_t timeout_ns)
{
	bool shared;
	struct rally__event *e = event_of(pub, &shared);
	if (!e || timeout_ns < RALLY_FOREVER)
		return -EINVAL;
	uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
	if (w & EV_SET)
		return 0;
	if (timeout_ns == 0)
		return RALLY_TIMEDOUT;
	struct rally__deadline dl;
	rally__deadline_init(&dl, timeout_ns);
	return wait_for_set(e, w, &dl, shared);
}

/* Destroys an event in place; handles from rally_event_open() are closed
 * instead. */
RALLY_EXPORT int rally_event_destroy(rally_event_t *pub)
{
	struct rally__event *e = (struct rally__event *)pub;
	if (!e || atomic_load_explicit(&e->magic, memory_order_acquire) !=
	              RALLY__EVENT_MAGIC)
		return -EINVAL;
	/* A shared event's waiter killed inside never leaves: give up once
	 * nothing has moved for a second (-EBUSY, the event stays usable). */
	bool shared = e->flags & RALLY_SHARED;
	uint64_t seen = 0;
	int64_t since = 0;
	for (unsigned i = 0;
	     atomic_load_explicit(&e->waiters, memory_order_acquire) != 0;
	     i++) {
		/* Waiters on a clear event are blocked; on a set one they
		 * are leaving. */
		uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
		if (!(w & EV_SET))
			return -EBUSY;
		if (shared) {
			uint64_t now_seen =
			    w ^ (uint64_t)atomic_load(&e->waiters) << 32;
			int64_t now = rally__now_ns();
			if (since == 0 || now_seen != seen) {
				seen = now_seen;
				since = now;
			} else if (now - since >= 1000000000) {
				return -EBUSY;
			}
		}
		if (i < 1024)
			sched_yield();
		else
			rally__pause_ns(50000); /* not a cancellation point */
	}
	uint32_t magic = RALLY__EVENT_MAGIC;
	if (!atomic_compare_exchange_strong_explicit(&e->magic, &magic, 0,
	                                             memory_order_acq_rel,
	                                             memory_order_relaxed))
		return -EINVAL;
	return 0;
}

RALLY_EXPORT int rally_event_futex(rally_event_t *pub, const uint32_t **word,
                                   uint32_t *value, bool *shared)
{
	bool sh;
	struct rally__event *e = event_of(pub, &sh);
	if (!e || !word || !value || !shared)
		return -EINVAL;
	uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
	do {
		if (w & EV_SET)
			return 1;
		/* Announce a sleeper, as wait.c does, so that set() wakes. */
	} while (!(w & EV_SLEEPERS) &&
	         !atomic_compare_exchange_weak_explicit(
	             &e->word, &w, w | EV_SLEEPERS, memory_order_acquire,
	             memory_order_acquire));
	*word = (const uint32_t *)rally__low_half(&e->word);
	*value = (uint32_t)(w | EV_SLEEPERS);
	*shared = sh;
	return 0;
}
