/* reset.c — reset, and the epochs that make it exact.
 *
 * An epoch runs from one reset to the next; arr carries its number mod 16,
 * gen (EPOCH) its parity. A reset ends the current epoch E and starts E + 1:
 *
 *   1. claim: CAS state from any value without BUSY to cut | BUSY | BROKEN
 *      with our pid as holder and arr's epoch parity. The cut of E is seq
 *      — or E's first phase, if a reset that died before us had already
 *      moved arr into E (gen never named E then). Phase cut is broken: its
 *      waiters wake and leave, and so do callers of E beyond it.
 *   2. record: rec[E % 8] = E | cut, once no await reads that slot (pins).
 *      A token that outlives its epoch finds its outcome there: phases of E
 *      before the cut completed, the rest were cancelled.
 *   3. drain: wait until every caller of E has left: arrivals minus
 *      completed phases minus `out` since E began; on a robust barrier,
 *      every live process's tracker at 0 (the dead never leave). Callers
 *      racing the claim arrive in E, see it broken and leave too.
 *   4. swap arr to E + 1 (phase cut + 1, count 0) by CAS from the value the
 *      drain counted — an arrival since makes it fail, and we drain again.
 *      A robust barrier forgets its dead just before (not after: one that
 *      dies in E + 1 must stay dead).
 *      E + 1's first phase, its `out` at the start and the newest epoch id
 *      are written first, for its callers (acquire on arr) and for the next
 *      reset.
 *   5. publish: seq cut + 1 with E + 1's parity, BUSY and holder cleared;
 *      an `ahead` set meanwhile by a caller of E + 1 whose deadline passed is
 *      carried down as a completion carries it.
 *
 * Every caller of E has left before 5, so a wait() never sees its epoch end
 * and never reads a record; only tokens do. A reset that dies at any step
 * leaves BUSY to be taken over (the barrier stays broken) and its work to
 * the next reset, which starts again at 1 with the epoch arr names: each
 * step is idempotent or re-done from the words. */
#define _GNU_SOURCE
#include "barrier_impl.h"
#include "export.h"
#include "hooks.h"
#include "points.h"
#include "wait.h"

static bool nothing_to_reset(uint64_t s, uint64_t a)
{
	return !(s & ST_BROKEN) && st_ahead(s) == 0 && arr_count(a) == 0 &&
	       arr_phase(a) == st_seq(s) && (arr_epoch(a) & 1) == st_parity(s);
}

/* The cut of the epoch arr names, given gen (s): seq — or the epoch's
 * first phase, if a reset that died had already moved arr into it (gen
 * never named that epoch). */
static uint32_t cut_of(const struct view *v, uint64_t a, uint64_t s)
{
	struct rally__barrier *b = v->b;
	/* gen names arr's epoch: no reset died past its swap. (Not judged by
	 * the distance from the baseline: a robust epoch's baseline never
	 * moves, and after 2^27 phases it seemed ahead — review round 9.) */
	if (st_parity(s) == (arr_epoch(a) & 1))
		return st_seq(s);
	uint32_t id =
	    epoch_full(atomic_load_explicit(&b->epoch_id, memory_order_acquire),
	               arr_epoch(a));
	return base_phase(
	    atomic_load_explicit(&b->base[id & 1], memory_order_relaxed));
}

/* Step 1; false if the barrier is empty and whole already (*a then the
 * arr that showed it). The claim names the cut, not gen's seq: an abort
 * meanwhile breaks the phase after the cut (`ahead` 1), which the publish
 * carries down — from a stale seq it was lost halfway (review round 8),
 * and so would a timeout's be. */
static bool claim(const struct view *v, uint64_t *s, uint64_t *a_seen)
{
	struct rally__barrier *b = v->b;
	struct waiting w = {.noted = true}; /* not an arrival */
	*s = atomic_load_explicit(v->state, memory_order_acquire);
	for (;;) {
		if (*s & ST_BUSY) {
			/* An action, a completion or another reset runs (or
			 * its holder died: wait_state takes over). */
			rally__wait_state(v, s, &rally__no_deadline, &w);
			continue;
		}
		/* arr's epoch changes only under a reset's BUSY: it stays
		 * what we read here if our CAS succeeds. */
		uint64_t a =
		    atomic_load_explicit(&b->arr, memory_order_acquire);
		*a_seen = a;
		/* A robust barrier with the dead in its slots has something
		 * to reset even when idle and whole: forget them (a death
		 * between phases breaks the phase after). */
		if (nothing_to_reset(*s, a) &&
		    !(view_robust(v) &&
		      rally__robust_dead(&b->robust, 0, NULL, 0) > 0))
			return false;
		RALLY_POINT(RESET_CLAIMING);
		uint64_t old = *s;
		uint64_t next = st_with_holder(
		    st_make(cut_of(v, a, old), arr_epoch(a)) |
		        ST_BUSY | ST_BROKEN,
		    rally__holder_self());
		if (atomic_compare_exchange_weak_explicit(
		        v->state, s, next, memory_order_acq_rel,
		        memory_order_acquire)) {
			rally__wake_if(v, old);
			*s = next;
			return true;
		}
	}
}

/* Step 2. seq_cst, against an await that pins the slot and then reads the
 * record: either we see its pin and wait for it, or it sees our record. */
static void record(const struct view *v, uint32_t id, uint32_t cut)
{
	struct rally__barrier *b = v->b;
	_Atomic uint32_t *pins = &b->pins[id % RECORDS];
	for (unsigned i = 0; atomic_load(pins) != 0;)
		rally__backoff(&i);
	atomic_store(&b->rec[id % RECORDS], rec_make(id, cut));
}

/* Where `out` stands once every caller of the epoch whose baseline is w
 * has left, given arr a and cut, the epoch's first incomplete phase: its
 * arrivals since the baseline, less its completed phases (their completers
 * do not count themselves out), on top of the baseline's `out`. Modulo
 * 2^32: fewer callers than that are ever inside at once, and the phase
 * differences stay below 2^28 (REBASE). */
static uint32_t out_when_empty(const struct view *v, uint64_t a, uint64_t w,
                               uint32_t cut)
{
	uint32_t bp = base_phase(w);
	uint32_t in =
	    (uint32_t)((uint64_t)((arr_phase(a) - bp) & SEQ_MASK) * v->parties +
	               arr_count(a));
	return base_out(w) + in - ((cut - bp) & SEQ_MASK);
}

bool rally__callers_inside(const struct view *v, uint64_t a, uint32_t cut)
{
	struct rally__barrier *b = v->b;
	if (view_robust(v))
		return rally__robust_inside(&b->robust);
	uint64_t w = atomic_load_explicit(&b->base[arr_epoch(a) & 1],
	                                  memory_order_relaxed);
	return atomic_load_explicit(&b->out, memory_order_acquire) !=
	       out_when_empty(v, a, w, cut);
}

/* Steps 3 and 4: drains epoch `id` and moves arr into the next. */
static void drain_and_swap(const struct view *v, uint32_t id, uint32_t cut)
{
	struct rally__barrier *b = v->b;
	uint32_t next = id + 1;
	unsigned i = 0;
	for (;;) {
		uint64_t a =
		    atomic_load_explicit(&b->arr, memory_order_acquire);
		if (rally__callers_inside(v, a, cut)) {
			rally__backoff(&i);
			continue;
		}
		RALLY_POINT(RESET_DRAINED);
		/* Before the swap: a participant that arrives in the next
		 * epoch and dies before we publish must not be forgotten with
		 * the dead of this one (its phase would wait for ever). */
		if (view_robust(v)) {
			rally__robust_forget_dead(&b->robust);
			/* The epoch's arrival notes name phases of it: kept,
			 * one of the cancelled cut + 1 read as an arrival in
			 * the fresh epoch's first phase, and late() left out a
			 * participant that never arrived (review round 10).
			 * Nobody is inside: no note of the next epoch yet. */
			rally__robust_forget_arrivals(&b->robust);
		}
		/* Everyone left: the next epoch's baseline is here. */
		uint64_t w = atomic_load_explicit(&b->base[id & 1],
		                                  memory_order_relaxed);
		atomic_store_explicit(
		    &b->base[next & 1],
		    base_make(cut + 1, out_when_empty(v, a, w, cut)),
		    memory_order_relaxed);
		atomic_store_explicit(&b->epoch_id, next, memory_order_relaxed);
		/* Release: E + 1's callers acquire arr, then read the above. */
		if (atomic_compare_exchange_strong_explicit(
		        &b->arr, &a, arr_make(cut + 1, next),
		        memory_order_acq_rel, memory_order_acquire))
			return;
	}
}

int rally__reset(const struct view *v, struct rally__reset_at *at)
{
	struct rally__barrier *b = v->b;
	uint64_t s, a;
	if (!claim(v, &s, &a)) {
		/* Nothing to do: every arrival so far is in a phase before
		 * the next one, seq (count 0), of arr's epoch. */
		at->epoch = epoch_full(
		    atomic_load_explicit(&b->epoch_id, memory_order_acquire),
		    arr_epoch(a));
		at->last = (st_seq(s) - 1) & SEQ_MASK;
		return 0;
	}
	RALLY_POINT(RESET_CLAIMED);
	a = atomic_load_explicit(&b->arr, memory_order_acquire);
	uint32_t id =
	    epoch_full(atomic_load_explicit(&b->epoch_id, memory_order_acquire),
	               arr_epoch(a));
	uint32_t cut = st_seq(s); /* claim() named it */
	/* Every arrival of epoch id came before: its phases before the cut
	 * completed, the rest are cancelled — the phases after the cut too,
	 * arrived while the cut's last arrival had not yet published (review
	 * round 38: reported as (id, cut), those seemed to come after) — and
	 * none of the next epoch's, however far it runs (round 39: named by
	 * its first phase, one 2^20 phases on seemed long before). */
	*at = (struct rally__reset_at){id, RALLY__WHOLE_EPOCH};
	if (!view_robust(v))
		record(v, id, cut);
	else /* robust awaits count in their tracker, not in pins */
		atomic_store(&b->rec[id % RECORDS], rec_make(id, cut));
	RALLY_POINT(RESET_RECORDED);
	drain_and_swap(v, id, cut);
	RALLY_POINT(RESET_SWAPPED);
	atomic_store_explicit(&b->guarded, 0, memory_order_relaxed);
	/* Release: publishes the new epoch to whoever sees the new gen. */
	uint64_t next;
	do {
		next = rally__published(s, cut + 1, (id + 1) & 1);
	} while (!atomic_compare_exchange_weak_explicit(
	    v->state, &s, next, memory_order_release, memory_order_relaxed));
	rally__wake_if(v, s);
	return 0;
}

enum outcome rally__record_outcome(const struct rally__barrier *b, uint32_t id,
                                   uint32_t phase)
{
	uint64_t r =
	    atomic_load_explicit(&b->rec[id % RECORDS], memory_order_acquire);
	if (rec_id(r) == id) {
		/* Phases compare within 2^27: one that seems far beyond the
		 * cut completed that long before it (as judge() takes gen). */
		int32_t d = seq_diff(phase, rec_cut(r));
		return d < 0 || d > (int32_t)TOKEN_AHEAD_MAX ? DONE : BROKEN;
	}
	/* A newer epoch's record: this one is 8 resets gone (stale). */
	return (int32_t)(rec_id(r) - id) > 0 ? BROKEN : PENDING;
}

RALLY_EXPORT int rally_barrier_reset(rally_barrier_t *pub)
{
	uint32_t epoch, last;
	return rally__barrier_reset_at(pub, &epoch, &last);
}

int rally__barrier_reset_at(rally_barrier_t *pub, uint32_t *epoch,
                            uint32_t *last)
{
	struct view v;
	if (!rally__view(pub, &v) || !epoch || !last)
		return -EINVAL;
	if (rally__in_action(v.tag))
		return -EDEADLK;
	if (!rally__visit(&v))
		return -EINVAL;
	struct rally__reset_at at;
	int rc = rally__reset(&v, &at);
	if (rc == 0) {
		stats_count(&v, STAT_RESET);
		*epoch = at.epoch;
		*last = at.last;
	}
	rally__unvisit(&v);
	return rc;
}
