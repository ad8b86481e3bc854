/* phase.c — a phase of the barrier: arrival, waiting, completion, timeouts,
 * abort. The protocol as a whole (words in barrier_impl.h):
 *
 *   arr    phase | epoch | count: every caller's fetch_add
 *   state  gen (seq of the first incomplete phase, SLEEPERS, BROKEN, BUSY,
 *          EPOCH) with the BUSY holder and `ahead` beside it, one CAS
 *   out    callers that have left
 *
 * A phase q
 *   - Each caller fetch_adds arr (acq_rel: the last acquires everyone's
 *     writes). The one with index parties - 1 completes q. It first moves
 *     arr on by one phase (a second fetch_add), so that callers beyond
 *     `parties` belong to later phases at once and never wait for q to drain.
 *   - Without an action it publishes q + 1 with one CAS on state from the
 *     idle value naming q (release, paired with the waiters' acquire loads).
 *     With an action, or on a robust barrier, it first claims BUSY with its
 *     pid as holder, then runs the action (robust: counts itself out), then
 *     publishes q + 1 — or q | BROKEN if the action failed. While BUSY,
 *     timeouts cannot break q (as in CPython, where the action runs under
 *     the barrier's lock); destroy and reset wait.
 *   - A later phase can be fully arrived before q is published: its
 *     completer waits until gen names its phase.
 *   - The others wait until seq passes their phase (done) or it breaks.
 *     Waiting is wait.c's loop: spin, yield, then set SLEEPERS and futex-wait
 *     on the exact value; whoever changes gen with an RMW wakes all if the
 *     value it replaced had SLEEPERS. No syscall while nobody sleeps.
 *   - A caller whose deadline passes breaks its own phase: by a CAS of
 *     BROKEN into the exact state it saw if gen names its phase, else — gen
 *     still names an earlier phase, all of whose parties have arrived — by
 *     setting `ahead` to the distance, which each publish carries one phase
 *     down until it becomes BROKEN on the caller's phase. If gen moved first
 *     the phase completed or broke, and the timeout loses.
 *   - Leaving. Every caller but a completer that published counts itself in
 *     `out` as its last touch (release). A completer's last touch is its
 *     publishing CAS — after it only the futex wake, harmless on freed memory
 *     — so it reads all it needs (sharedness, codes) before. A completer
 *     whose action failed published no completion: it counts itself out
 *     as the others do, after its wake (run_busy). So the callers
 *     inside an epoch are its arrivals minus its completed phases minus
 *     `out`: what destroy (lifecycle.c) and reset (reset.c) wait on. A robust
 *     barrier counts per process instead (robust.c): the dead do not leave.
 *
 * Wrap-around: seq is compared modulo 2^28 within a window of 2^27; only a
 * caller that sleeps through 2^27 phases could misjudge (the runaway guard
 * below keeps a broken barrier's arrivals within reach of its seq). */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>

#include "barrier_impl.h"
#include "export.h"
#include "futex.h"
#include "hooks.h"
#include "points.h"
#include "trace.h"
#include "wait.h"

/* A robust waiter notes its arrival in its participant slot (for
 * rally_barrier_late) once it has waited this long: a store per phase on a
 * line the participants share would cost every phase. */
#define ROBUST_NOTE_NS 100000

/* The actions this thread runs, innermost first: an action may wait on
 * another barrier, whose action runs nested in it (review round 38: with
 * only the innermost known, a reset of the outer one from the inner
 * action waited for ever on the BUSY this thread holds). */
struct running_action {
	uint64_t tag;
	const struct rally__barrier *mapping; /* the memory it runs in */
	pid_t pid; /* a child fork()ed from the action runs none of it
	              (review round 43: its calls were refused) */
	const struct running_action *outer;
};
static _Thread_local const struct running_action *running_actions;

/* Whether a frame of this process runs tag's action, or mapping's: a
 * child's inherited frames are its parent's (rally__self_pid() is right
 * in a child of _Fork() too: review rounds 45 and 46). */
static bool running_here(uint64_t tag, const struct rally__barrier *mapping)
{
	const struct running_action *r = running_actions;
	if (!r)
		return false;
	pid_t self = rally__self_pid();
	for (; r; r = r->outer)
		if (r->pid == self && (mapping ? r->mapping == mapping
		                               : r->tag == tag))
			return true;
	return false;
}

bool rally__in_action(uint64_t tag) { return running_here(tag, NULL); }

bool rally__in_action_at(const struct rally__barrier *mapping)
{
	return running_here(0, mapping);
}

int rally__broken_code(const struct view *v)
{
	return view_robust(v) && atomic_load_explicit(&v->b->robust.dead,
	                                              memory_order_acquire)
	           ? RALLY_OWNERDEAD
	           : RALLY_BROKEN;
}

/* Only the view (the caller's copy) is read here: after the release the
 * object may be freed, and FUTEX_WAKE on freed memory is harmless. */
void rally__wake_if(const struct view *v, uint64_t old)
{
	RALLY_POINT(RELEASED);
	if (old & ST_SLEEPERS)
		rally__futex_wake_all(gen_of(v->state), view_shared(v));
}

void rally__leave(const struct view *v)
{
	RALLY_POINT(DECIDED);
	if (v->call)
		rally__stats_left(v);
	if (view_robust(v))
		rally__robust_leave(&v->b->robust, v->slot);
	else /* release: destroy and reset acquire `out` */
		atomic_fetch_add_explicit(&v->b->out, 1, memory_order_release);
}

/* Inline in wait's path (a call there cost a 1-party phase 10 ns); the
 * statistics out of line, after the arrival. */
static inline __attribute__((always_inline)) struct arrival
arrive(const struct view *v)
{
	struct rally__barrier *b = v->b;
	if (view_robust(v)) {
		rally__robust_enter(&b->robust, v->slot);
		RALLY_POINT(ROBUST_ENTERED);
	}
	/* Clocked before the arrival: a first arrival's stamp is then never
	 * later than its arrival, however long it is held before it writes
	 * the stamp (review round 3: a late stamp shortened the skew). */
	bool noted = __builtin_expect(v->call || view_stats(v), 0);
	int64_t now = noted ? rally__now_ns() : 0;
	uint64_t a =
	    atomic_fetch_add_explicit(&b->arr, 1, memory_order_acq_rel);
	RALLY_POINT(ARRIVED);
	uint32_t c = arr_count(a), n = v->parties;
	struct arrival t = {arr_phase(a), c, arr_epoch(a)};
	if (c >= n) {
		t.phase = (t.phase + c / n) & SEQ_MASK;
		t.index = c % n;
	}
	/* While we are inside, no reset can move past our epoch. */
	RALLY_NOTE_ARRIVAL(
	    epoch_full(atomic_load_explicit(&b->epoch_id, memory_order_relaxed),
	               t.epoch),
	    t.phase, t.index);
	if (noted)
		rally__stats_arrived(v, t.phase, t.index, t.epoch, now);
	return t;
}

struct arrival rally__arrive(const struct view *v) { return arrive(v); }

/* The last arrival's second step (rally__complete takes it): arr moves on
 * by one phase and `parties` fewer. Relaxed: whoever reads arr to count
 * callers (destroy, reset) first acquires this completer's publish or its
 * leaving. */
static void advance_arrivals(const struct view *v)
{
	atomic_fetch_add_explicit(&v->b->arr, arr_advance(v->parties),
	                          memory_order_relaxed);
	RALLY_POINT(ADVANCED);
}

/* ---- the runaway guard -----------------------------------------------------
 *
 * Callers of a broken barrier still arrive (fetch_add first, look after:
 * one transfer of a line per call, not two), and return RALLY_BROKEN; the
 * last of each `parties` moves arr on a phase. So the arrivals' phase runs
 * ahead of the broken one, and a loop retrying RALLY_BROKEN takes it 2^27
 * phases ahead in seconds, where phase comparisons wrap: a broken phase
 * would pass for complete. No phase is legitimately more than RUNAWAY
 * phases ahead of gen (each phase between holds a blocked completer): a
 * caller that finds its phase farther ahead of a broken gen sets `guarded`,
 * and from then on callers look before they arrive; reset clears it. */
#define RUNAWAY (1u << 20)

/* Whether a guarded caller may arrive: 0 it may, RALLY__REARRIVE after
 * it waits a reset out, or the broken code. */
static int guard_verdict(const struct view *v)
{
	struct rally__barrier *b = v->b;
	/* Broken — BROKEN (a reset's too), or `ahead` while an action runs:
	 * guarded, the arrivals are far past seq + ahead, so ours would be
	 * broken too; we do not arrive. (Not by classifying the phase we
	 * would arrive in: the model, with 2 seq bits, showed that phase may
	 * have wrapped past the window by then.) */
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	/* A reset in progress (BUSY|BROKEN) before its swap: a caller waits
	 * it out and joins the fresh phase — blocked, it cannot run away —
	 * except on a robust barrier, where it would return the broken code
	 * at once. After the swap (gen of the other parity) callers are of
	 * the fresh epoch, and an abort meanwhile breaks them at once. */
	bool resetting = (s & (ST_BROKEN | ST_BUSY)) == (ST_BROKEN | ST_BUSY);
	if (resetting && !view_robust(v)) {
		uint64_t a = atomic_load_explicit(&b->arr, memory_order_acquire);
		/* Before the swap: wait the reset out, but without arriving —
		 * a caller that does not wait (timeout 0) would arrive, leave,
		 * and run away (review round 12). */
		if (st_parity(s) == (arr_epoch(a) & 1))
			return RALLY__REARRIVE;
		/* Past the swap BROKEN is the reset's own: only `ahead` (an
		 * abort meanwhile) breaks the fresh epoch (review round 11). */
		return st_ahead(s) ? rally__broken_code(v) : 0;
	}
	return (s & ST_BROKEN) || st_ahead(s) ? rally__broken_code(v) : 0;
}

int rally__guard(const struct view *v, const struct rally__deadline *dl,
                 bool no_block, bool *back)
{
	*back = false;
	if (!atomic_load_explicit(&v->b->guarded, memory_order_relaxed))
		return 0;
	int rc = guard_verdict(v);
	if (rc != RALLY__REARRIVE)
		return rc;
	/* Counted as a re-arrival while it waits: destroy waits for it. */
	rally__rearrival_begin(v);
	*back = true;
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	return rally__rearrive_when_reset(v, st_parity(s), dl, no_block);
}

void rally__note_broken(const struct view *v, uint64_t s, struct arrival t)
{
	/* However it broke: BROKEN, `ahead` (gen BUSY while an action runs),
	 * a robust reset (BUSY|BROKEN) — all leave seq behind. gen of the
	 * other parity: a reset died after it moved arr into our epoch, and
	 * all of it is broken; our epoch began at its baseline. */
	uint32_t from = st_seq(s);
	if (st_parity(s) != (t.epoch & 1))
		from = base_phase(atomic_load_explicit(
		    &v->b->base[t.epoch & 1], memory_order_relaxed));
	if (seq_diff(t.phase, from) > (int32_t)RUNAWAY &&
	    !atomic_load_explicit(&v->b->guarded, memory_order_relaxed))
		atomic_store_explicit(&v->b->guarded, 1, memory_order_relaxed);
}


/* The state that publishes phase `seq` of s's epoch (parity) as complete
 * and `next` as the first incomplete phase: no BUSY, no holder, SLEEPERS
 * cleared (the publisher wakes), and `ahead` carried down by the phases
 * passed — when it reaches the new seq, that phase is born broken. */
static uint64_t published(uint64_t s, uint32_t next, uint32_t parity)
{
	uint64_t n = st_make(next, parity);
	uint32_t k = st_ahead(s), m = (next - st_seq(s)) & SEQ_MASK;
	if (k == 0 || k < m)
		return n;
	return k == m ? n | ST_BROKEN : st_with_ahead(n, k - m);
}

uint64_t rally__published(uint64_t s, uint32_t next, uint32_t parity)
{
	return published(s, next, parity);
}

/* ---- waiting ------------------------------------------------------------- */

/* A robust waiter that has waited ROBUST_NOTE_NS notes its arrival, and
 * again at the end of every slice (ROBUST_CHECK_NS) — a load while the
 * note stands; a withdraw of another caller of the process may have taken
 * it away (review round 21) — and scans for dead participants. */
static void robust_slice_ended(const struct view *v, struct waiting *w)
{
	struct rally__robust *r = &v->b->robust;
	/* Noting does not skip the scan (rate limited in robust.c): a poll
	 * of 100 us or less has one slice, noted every time, and never found
	 * the dead (review round 6). */
	if (v->slot >= 0) {
		rally__robust_arrived(r, v->slot, w->note_phase,
		                      rally__takes_arrivals, v);
		w->noted = true;
	}
	if (rally__robust_check(r))
		rally__abort_for_dead(v);
}

/* A wait that may be stopped (dl->stop): false once it is. Asks go_on
 * when due — not as the wait first blocks: its caller has just looked. */
static bool keep_going(const struct rally__deadline *dl, int64_t now)
{
	struct rally__stop *st = dl->stop;
	if (st->stopped)
		return false;
	if (st->due_ns && now < st->due_ns)
		return true;
	if (st->due_ns && !st->go_on(st->arg)) {
		st->stopped = true;
		return false;
	}
	st->due_ns = now + RALLY__GO_ON_NS;
	return true;
}

bool rally__wait_state(const struct view *v, uint64_t *s,
                       const struct rally__deadline *dl, struct waiting *w)
{
	struct rally__barrier *b = v->b;
	if (!w->planned) {
		rally__spin_plan(v->spin, v->parties, &w->plan);
		w->plan.tag = v->tag;
		w->planned = true;
	}
	/* Slices on a shared barrier: a BUSY that lasts may have a dead
	 * holder (a sleeper is not woken when BUSY is claimed: it must look);
	 * a robust waiter notes its arrival and scans for the dead. A wait
	 * that may be stopped sleeps no longer than until go_on is due. */
	bool robust = view_robust(v);
	struct rally__deadline slice;
	const struct rally__deadline *until = dl;
	int64_t slice_ns = 0;
	if (view_shared(v))
		slice_ns = robust && v->slot >= 0 && !w->noted
		               ? ROBUST_NOTE_NS
		               : ROBUST_CHECK_NS;
	if (dl->stop) {
		int64_t now = rally__now_ns();
		if (!keep_going(dl, now))
			return false;
		int64_t left = dl->stop->due_ns - now;
		if (!slice_ns || left < slice_ns)
			slice_ns = left;
	}
	if (slice_ns) {
		rally__deadline_within(&slice, dl, slice_ns);
		until = &slice;
	}
	/* w->plan lives as long as the wait: the spin throttle judges and
	 * counts the wait at its first call only, however many slices it
	 * sleeps in or changes of the word it sees (wait.c). */
	int changed = rally__wait_change(v->state, *s, ST_SLEEPERS, until,
	                                 &w->plan, &b->arr, view_shared(v), s);
	if (v->call)
		v->call->reached |= w->plan.reached;
	if (changed == 0)
		return true;
	/* A slice or the deadline ended: look around first — a poll's short
	 * slices (rally_barrier_poll) must find the dead too. */
	if (view_shared(v)) {
		RALLY_POINT(SLICE_ENDED);
		if (robust)
			robust_slice_ended(v, w);
		if (*s & ST_BUSY)
			rally__take_over(v, s);
		*s = atomic_load_explicit(v->state, memory_order_acquire);
	}
	if (dl->stop && !keep_going(dl, rally__now_ns()))
		return false;
	return until != dl && !rally__deadline_passed(dl);
}

enum brk rally__break_phase(const struct view *v, uint64_t *s, uint32_t p,
                            uint32_t parity)
{
	uint64_t old = *s, next;
	/* Judge the state we are about to replace, not the one the deadline
	 * found: an action claimed since (every party arrived) cannot be
	 * broken by a timeout, and a phase decided since is not ours to
	 * break. */
	if (rally__classify(old, p, parity) != PENDING)
		return BRK_CHANGED;
	int32_t d = seq_diff(p, st_seq(old));
	if (st_parity(old) == parity && d == 0) {
		next = st_with_ahead((old | ST_BROKEN) & ~(uint64_t)ST_SLEEPERS,
		                     0);
	} else {
		if (d <= 0 || d > (int32_t)AHEAD_MAX)
			return BRK_TOO_FAR;
		/* Pending: any `ahead` is beyond p; ours comes first. */
		next = st_with_ahead(old, (uint32_t)d);
	}
	if (!atomic_compare_exchange_strong_explicit(v->state, s, next,
	                                             memory_order_acq_rel,
	                                             memory_order_acquire))
		return BRK_CHANGED;
	RALLY_POINT(BROKE);
	/* A break now; `ahead` is counted by the publish that makes it one
	 * (run_busy), or never if a failing action or a reset comes first
	 * (review round 3: counted twice). */
	if (next & ST_BROKEN) {
		stats_count(v, STAT_BROKEN);
		rally__wake_if(v, old);
	}
	return BRK_DONE;
}

/* The caller's deadline passed with its phase pending: breaks it (true), or
 * returns false with *s fresh to classify again. */
bool rally__expire(const struct view *v, uint64_t *s, struct arrival t,
                   struct waiting *w)
{
	RALLY_POINT(DEADLINE);
	switch (rally__break_phase(v, s, t.phase, t.epoch & 1)) {
	case BRK_DONE:
		return true;
	case BRK_TOO_FAR:
		/* More than AHEAD_MAX phases ahead of gen, all fully arrived:
		 * wait for them to complete, then break ours — unless they
		 * wait for this thread's own action (review round 41: a hang):
		 * then every phase after the action's breaks, as an abort
		 * from the action breaks them. */
		if (rally__in_action(v->tag)) {
			rally__abort(v);
			return true;
		}
		rally__wait_state(v, s, &rally__no_deadline, w);
		return false;
	default:
		return false;
	}
}

/* A caller whose deadline broke its phase leaves: RALLY_TIMEDOUT — or
 * -EDEADLK, which is no timeout (review round 41: counted as one), for a
 * wait on this thread's own action (rally__waits_on_itself). */
static int timed_out(const struct view *v, bool itself)
{
	if (!itself)
		stats_count(v, STAT_TIMEOUT);
	rally__leave(v);
	return itself ? -EDEADLK : RALLY_TIMEDOUT;
}

/* Whether a wait with no deadline (and nobody to stop it) would wait for
 * an action this very thread runs, of this barrier: the phase it waits
 * for cannot complete before that action returns (review round 40: an
 * arrive or a wait from the action hung). It ends as a timeout would
 * end it at once, with -EDEADLK. A wait with a deadline, or one that can
 * be stopped (the Python binding's), ends there, as documented. */
bool rally__waits_on_itself(const struct view *v,
                            const struct rally__deadline *dl)
{
	return dl->forever && !dl->stop && rally__in_action(v->tag);
}

/* Waits for t's phase from state s, a look after the first (which found
 * no reset cancelling it). */
static int await_from(const struct view *v, struct arrival t,
                      const struct rally__deadline *dl, uint64_t s)
{
	struct waiting w = {.note_phase = t.phase};
	for (;;) {
		int code;
		switch (rally__classify(s, t.phase, t.epoch & 1)) {
		case DONE:
			rally__leave(v);
			return (int)t.index;
		case BROKEN:
			rally__note_broken(v, s, t);
			code = rally__broken_code(v);
			rally__leave(v);
			return code;
		case COMPLETING:
			/* Every party has arrived: a timeout cannot break the
			 * phase any more; wait for its holder to publish. */
			rally__wait_state(v, &s, &rally__no_deadline, &w);
			break;
		default: {
			bool itself = rally__waits_on_itself(v, dl);
			if (!itself && rally__wait_state(v, &s, dl, &w))
				break;
			if (rally__expire(v, &s, t, &w))
				return timed_out(v, itself);
		}
		}
	}
}

int rally__await_phase(const struct view *v, struct arrival t,
                       const struct rally__deadline *dl)
{
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	if (resetting(s, t.phase, t.epoch & 1))
		return rally__rearrive_or_break(v, s, t);
	return await_from(v, t, dl, s);
}

/* ---- completing ---------------------------------------------------------- */

/* Whether s is still our claim: only SLEEPERS and `ahead` may change. */
static bool still_held(uint64_t s, uint64_t claim)
{
	return (s & (ST_BUSY | ST_BROKEN)) == ST_BUSY &&
	       st_holder(s) == st_holder(claim) &&
	       st_seq(s) == st_seq(claim) && st_parity(s) == st_parity(claim);
}

/* Holds BUSY (claimed from s): runs the action, then publishes. */
static int run_busy(const struct view *v, struct arrival t, uint64_t s)
{
	struct rally__barrier *b = v->b;
	bool robust = view_robust(v);
	RALLY_POINT(CLAIMED);
	/* BUSY covers this caller from now on — destroy and reset wait for
	 * it, and if its process dies a survivor takes over — so a robust one
	 * counts itself out here, while it may still touch the object. */
	bool dead = false;
	if (view_stats(v))
		rally__stats_completing(v, t.phase, t.epoch);
	if (robust) {
		/* Arrived (late() must not list it while its action runs:
		 * review round 10 — without one, it publishes at once, and
		 * a store per phase on the participants' line would cost
		 * every phase), then counted out. */
		if (v->action)
			rally__robust_arrived(&b->robust, v->slot, t.phase,
			                      NULL, NULL);
		rally__robust_leave(&b->robust, v->slot);
		dead = rally__robust_check(&b->robust);
	}
	int rc = 0;
	if (v->action) {
		struct running_action running = {v->tag, b, rally__self_pid(),
		                                 running_actions};
		running_actions = &running;
		rc = v->action(v->action_arg);
		running_actions = running.outer;
	}
	RALLY_POINT(ACTION_RAN);
	int ret = rc == 0 ? (int)v->parties - 1 : rc < 0 ? rc : RALLY_BROKEN;
	if (rc != 0)
		RALLY_POINT(ACTION_FAILED);
	if (view_stats(v)) /* before the publish: our last touch */
		rally__stats_completed(v, rc != 0);
	uint64_t next, claim = s;
	bool born_broken = false; /* counted: the next phase born broken */
	do {
		/* BUSY taken from us: a waiter judged us dead (a PID namespace
		 * hides us, say). It broke the phase and counted us out: we
		 * publish nothing and do not leave again. */
		if (!still_held(s, claim))
			return rally__broken_code(v);
		if (rc != 0)
			next = st_make(t.phase, t.epoch & 1) | ST_BROKEN;
		else
			next = published(s, t.phase + 1, t.epoch & 1) |
			       (dead ? ST_BROKEN : 0);
		/* An `ahead` (an abort, a later phase's timeout) that this
		 * publish makes a break: counted here, still ours to write —
		 * and taken back if the CAS fails and the next try differs. */
		bool born = rc == 0 && (next & ST_BROKEN);
		if (view_stats(v) && born != born_broken) {
			rally__stats_born_broken(v, born);
			born_broken = born;
		}
		/* Release: the action's writes, and the completion. */
	} while (!atomic_compare_exchange_weak_explicit(
	    v->state, &s, next, memory_order_release, memory_order_relaxed));
	rally__wake_if(v, s);
	/* A failed phase does not complete: its completer leaves as a waiter
	 * does, last. Not before the publish: dead in between, it was counted
	 * out twice, by itself and by the taker (holder.c), and every reset
	 * and destroy after waited for a caller below zero. Until it leaves,
	 * destroy waits for it, so the wake above touches a live object. */
	if (rc != 0 && !robust)
		atomic_fetch_add_explicit(&b->out, 1, memory_order_release);
	return ret;
}

/* Moves the epoch's baseline (barrier_impl.h) on by REBASE phases once our
 * phase is that far past it, so that the count of callers inside never
 * spans 2^28 phases: the phases before ours all completed, each with
 * parties arrivals and parties - 1 leavers. Only if gen names our phase,
 * whole: a completer's first try is a guess, and on a broken barrier the
 * last arrival of every phase still tries (the baseline passed a broken
 * phase, and destroy and reset counted callers inside for ever — found by
 * the model). Robust barriers count per process instead. */
static void rebase_if_due(const struct view *v, struct arrival t)
{
	if (view_robust(v))
		return;
	_Atomic uint64_t *bw = &v->b->base[t.epoch & 1];
	uint64_t w = atomic_load_explicit(bw, memory_order_relaxed);
	if (((t.phase - base_phase(w)) & SEQ_MASK) < REBASE)
		return;
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	if ((s & (ST_BROKEN | ST_BUSY)) || st_parity(s) != (t.epoch & 1) ||
	    st_seq(s) != t.phase)
		return;
	uint64_t n = base_make(base_phase(w) + REBASE,
	                       base_out(w) + REBASE * (v->parties - 1));
	atomic_compare_exchange_strong_explicit(bw, &w, n, memory_order_relaxed,
	                                        memory_order_relaxed);
}

/* One attempt to complete from *s, a state naming our phase with nothing
 * set but SLEEPERS or `ahead`: true with *ret if it did; else *s is fresh. */
static bool try_complete(const struct view *v, struct arrival t, uint64_t *s,
                         int *ret)
{
	uint64_t old = *s;
	rebase_if_due(v, t);
	if (view_busy_path(v)) {
		uint64_t claim =
		    st_with_holder(old | ST_BUSY, rally__holder_self());
		if (!atomic_compare_exchange_strong_explicit(
		        v->state, s, claim, memory_order_acquire,
		        memory_order_acquire))
			return false;
		*ret = run_busy(v, t, claim);
		return true;
	}
	if (!atomic_compare_exchange_strong_explicit(
	        v->state, s, published(old, t.phase + 1, t.epoch & 1),
	        memory_order_release, memory_order_acquire))
		return false;
	rally__wake_if(v, old);
	*ret = (int)v->parties - 1;
	return true;
}

/* The completer after its first try failed: s is the state at its first
 * look. */
static int complete_from(const struct view *v, struct arrival t,
                         const struct rally__deadline *dl, uint64_t s)
{
	uint32_t parity = t.epoch & 1;
	struct waiting w = {.note_phase = t.phase};
	int ret;
	if (resetting(s, t.phase, parity))
		return rally__rearrive_or_break(v, s, t);
	for (;;) {
		enum outcome o = rally__classify(s, t.phase, parity);
		if (o == BROKEN || o == DONE) {
			rally__note_broken(v, s, t);
			int code = rally__broken_code(v);
			rally__leave(v);
			return code;
		}
		if (o == PENDING && st_parity(s) == parity &&
		    st_seq(s) == t.phase) {
			if (try_complete(v, t, &s, &ret))
				return ret;
			continue;
		}
		/* An earlier phase is still completing, or the reset that
		 * opened our epoch is publishing. */
		bool itself = rally__waits_on_itself(v, dl);
		if (!itself && rally__wait_state(v, &s, dl, &w))
			continue;
		if (rally__expire(v, &s, t, &w))
			return timed_out(v, itself);
	}
}

/* Whether the epoch's baseline must move on before t's phase publishes. */
static inline bool rebase_due(const struct view *v, struct arrival t)
{
	uint64_t w = atomic_load_explicit(&v->b->base[t.epoch & 1],
	                                  memory_order_relaxed);
	return ((t.phase - base_phase(w)) & SEQ_MASK) >= REBASE;
}

/* The common case: no action, not robust, no rebase due. In as few
 * instructions as can be between the advance and the publishing CAS: with
 * state on arr's line (few parties), a waiter's poll that falls between
 * the two takes the line away and costs the phase a transfer. Guesses the
 * idle state naming our phase — right unless someone sleeps, a later phase
 * timed out, or it broke — so that the CAS costs one transfer of the line
 * where a load before it would cost two; the guess has no SLEEPERS: nobody
 * to wake. True if it published; else *s is the state it found. */
static inline bool publish_at_once(const struct view *v, struct arrival t,
                                   uint64_t *s)
{
	uint32_t parity = t.epoch & 1;
	*s = st_make(t.phase, parity);
	advance_arrivals(v);
	return atomic_compare_exchange_strong_explicit(
	    v->state, s, st_make(t.phase + 1, parity), memory_order_release,
	    memory_order_acquire);
}

int rally__complete(const struct view *v, struct arrival t,
                    const struct rally__deadline *dl)
{
	uint64_t s;
	int ret;
	if (!view_busy_path(v) && !rebase_due(v, t)) {
		if (publish_at_once(v, t, &s))
			return (int)v->parties - 1;
	} else {
		rebase_if_due(v, t);
		s = st_make(t.phase, t.epoch & 1);
		advance_arrivals(v);
		if (try_complete(v, t, &s, &ret))
			return ret;
	}
	return complete_from(v, t, dl, s);
}

/* ---- abort -----------------------------------------------------------------
 */

/* The full id of the epoch arr names now. */
static uint32_t epoch_now(const struct view *v)
{
	uint64_t a = atomic_load_explicit(&v->b->arr, memory_order_acquire);
	return epoch_full(
	    atomic_load_explicit(&v->b->epoch_id, memory_order_acquire),
	    arr_epoch(a));
}

/* deferred, at (may be NULL): whether the break was left for the next
 * phase, and where the abort took effect (or found nothing to do): the
 * phases of at->epoch before gen's seq then, and every earlier epoch's,
 * had completed or broken. The epoch is read under the state the abort
 * decides on, and that state is still there after (the CAS, or a look
 * again): a reset claims by changing it before it moves the epoch on —
 * read after, two resets made a later epoch's arrival seem earlier
 * (review round 36). Under a running reset's BUSY the epoch read is that
 * reset's or the next, both before the phases the abort breaks. */
static int abort_state(const struct view *v, bool spare_reset,
                       bool *deferred, struct rally__reset_at *at)
{
	/* Asked where, the state is read with acquire (the CAS's failure
	 * too), so that the epoch read after it is no older than it. */
	memory_order look = at ? memory_order_acquire : memory_order_relaxed;
	memory_order swap = at ? memory_order_acq_rel : memory_order_release;
	uint64_t s = atomic_load_explicit(v->state, look);
	uint64_t next;
	for (;;) {
		RALLY_POINT(ABORTING);
		if (deferred)
			*deferred = false;
		if (at) {
			at->epoch = epoch_now(v);
			at->last = (st_seq(s) - 1) & SEQ_MASK;
		}
		bool nothing = false;
		if ((s & ST_BROKEN) && !(s & ST_BUSY))
			nothing = true;
		/* BUSY|BROKEN: a reset runs. Judged on the exact state the
		 * CAS below replaces: a reset that claims after this look
		 * makes it fail, and we look again. */
		else if (spare_reset && (s & ST_BROKEN))
			nothing = true;
		/* An action, a completion or a reset runs: its phase still
		 * completes (or is reset); the next one breaks — left there
		 * already? */
		else if ((s & ST_BUSY) && st_ahead(s) == 1) {
			if (deferred)
				*deferred = true;
			nothing = true;
		}
		if (nothing) {
			uint64_t again =
			    atomic_load_explicit(v->state, memory_order_acquire);
			if (!at || again == s)
				return 0;
			s = again;
			continue;
		}
		if (s & ST_BUSY)
			next = st_with_ahead(s, 1);
		else
			next = st_with_ahead(
			    (s | ST_BROKEN) & ~(uint64_t)ST_SLEEPERS, 0);
		if (atomic_compare_exchange_weak_explicit(v->state, &s, next,
		                                          swap, look))
			break;
	}
	if (deferred)
		*deferred = s & ST_BUSY;
	if (next & ST_BROKEN) { /* `ahead`: see break_phase */
		stats_count(v, STAT_BROKEN);
		rally__wake_if(v, s);
	}
	return 0;
}

int rally__abort(const struct view *v)
{
	return abort_state(v, false, NULL, NULL);
}

int rally__abort_for_dead(const struct view *v)
{
	return abort_state(v, true, NULL, NULL);
}

/* hooks.h */
int rally__barrier_abort_deferred(rally_barrier_t *pub)
{
	uint32_t epoch, last;
	return rally__barrier_abort_at(pub, &epoch, &last);
}

int rally__barrier_abort_at(rally_barrier_t *pub, uint32_t *epoch,
                            uint32_t *last)
{
	struct view v;
	bool deferred;
	struct rally__reset_at at;
	if (!epoch || !last || !rally__view(pub, &v) || !rally__visit(&v))
		return -EINVAL;
	abort_state(&v, false, &deferred, &at);
	*epoch = at.epoch;
	*last = at.last;
	stats_count(&v, STAT_ABORT);
	rally__unvisit(&v);
	return deferred;
}

/* ---- the public calls
 * -------------------------------------------------------- */

int rally__rearrive_or_break(const struct view *v, uint64_t s,
                             struct arrival t)
{
	if (view_robust(v)) {
		rally__note_broken(v, s, t);
		/* Broken by a reset whose monitor died inside it: nobody waits
		 * out a robust reset, so no slice ever looked — the holder is
		 * checked here, and its death recorded (RALLY_OWNERDEAD, not
		 * RALLY_BROKEN: review round 11). Rate-limited as test()'s look
		 * (a /proc read at most every 25 ms among all callers): a
		 * caller retrying RALLY_BROKEN, looking at every arrival, held
		 * a live reset's drain up for up to 1 s (round 18); so the
		 * first arrivals after a death may still get RALLY_BROKEN. We
		 * are inside: a reset drains us before it forgets the dead. */
		rally__check_holder(v, &s);
		int code = rally__broken_code(v); /* read before we leave */
		rally__leave(v);
		return code;
	}
	/* Counted before we leave: destroy never finds us nowhere. */
	rally__note_broken(v, s, t);
	rally__rearrival_begin(v);
	if (v->call)
		v->call->again = true;
	rally__leave(v);
	return RALLY__REARRIVE;
}

bool rally__await_reset(const struct view *v, uint32_t parity,
                        const struct rally__deadline *dl)
{
	struct waiting w = {.noted = true}; /* not an arrival */
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	while ((s & (ST_BUSY | ST_BROKEN)) == (ST_BUSY | ST_BROKEN) &&
	       st_parity(s) == parity)
		if (!rally__wait_state(v, &s, dl, &w))
			return false;
	return true;
}

int rally__rearrive_when_reset(const struct view *v, uint32_t parity,
                               const struct rally__deadline *dl,
                               bool no_block)
{
	/* "Do not block" does not wait: the barrier is broken at this
	 * instant. A timeout breaks nothing: we are in no phase. */
	if (!no_block && rally__await_reset(v, parity, dl))
		return 0;
	if (!no_block && !(dl->stop && dl->stop->stopped))
		stats_count(v, STAT_TIMEOUT);
	/* The call ends here, after an arrival whose leaving was not
	 * counted (to be counted once, on arriving again): counted now
	 * (review round 1). A guarded call that never arrived is no wait. */
	if (v->call && v->call->again) {
		v->call->again = false;
		rally__stats_left(v);
	}
	rally__rearrival_end(v);
	return no_block                        ? RALLY_BROKEN
	       : dl->stop && dl->stop->stopped ? -EINTR
	                                       : RALLY_TIMEDOUT;
}

/* A waiter's first polls, right here rather than in the waiting loop
 * (wait.c): with the state on arr's line, what a late party runs between
 * seeing a release and its next arrival is paid by every phase — the
 * other party's polls take the line away meanwhile — and the loop's layers
 * cost a 2-thread phase more than its atomics did. Only waits without a
 * deadline (a timed one must not overrun it, a timeout of 0 must not spin)
 * whose plan polls and whose thread's recent spins paid off. */
enum { PLAIN_POLLS = 64 };

static bool may_poll(const struct view *v, int64_t timeout_ns)
{
	if (timeout_ns != RALLY_FOREVER ||
	    !rally__spin_allowed(v->state, v->tag))
		return false;
	struct rally__spin_plan plan;
	rally__spin_plan(v->spin, v->parties, &plan);
	return plan.spin_ns != 0;
}

static int await_polling(const struct view *v, struct arrival t,
                         const struct rally__deadline *dl, int64_t timeout_ns)
{
	uint32_t parity = t.epoch & 1;
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	if (resetting(s, t.phase, parity))
		return rally__rearrive_or_break(v, s, t);
	if (rally__classify(s, t.phase, parity) == PENDING &&
	    may_poll(v, timeout_ns)) {
		if (v->call)
			v->call->reached |= RALLY__REACHED_POLL;
		for (unsigned i = 0; i < PLAIN_POLLS; i++) {
			rally__cpu_relax();
			s = atomic_load_explicit(v->state, memory_order_acquire);
			if (rally__classify(s, t.phase, parity) != DONE)
				continue;
			rally__spin_paid_off(v->state, v->tag);
			rally__leave(v);
			return (int)t.index;
		}
	}
	return await_from(v, t, dl, s);
}

static int barrier_wait(struct view *v, int64_t timeout_ns)
{
	struct rally__call call;
	if (view_stats(v) && !v->call) {
		call.again = call.arrived = false;
		v->call = &call;
	}
	struct rally__deadline dl = {.forever = true};
	if (timeout_ns != RALLY_FOREVER)
		rally__deadline_init(&dl, timeout_ns);
	bool back = false;
	int rc = 0;
	if (atomic_load_explicit(&v->b->guarded, memory_order_relaxed))
		rc = rally__guard(v, &dl, timeout_ns == 0, &back);
	if (rc)
		return rc;
	for (;;) {
		struct arrival t = arrive(v);
		if (back) /* counted as an arrival again */
			rally__rearrival_end(v);
		uint64_t s;
		if (t.index != v->parties - 1)
			rc = await_polling(v, t, &dl, timeout_ns);
		else if (!view_busy_path(v) && !rebase_due(v, t))
			rc = publish_at_once(v, t, &s) ? (int)v->parties - 1
			                               : complete_from(v, t, &dl, s);
		else
			rc = rally__complete(v, t, &dl);
		if (rc != RALLY__REARRIVE)
			return rc;
		/* Arrived while a reset of our epoch ran (a re-arrival now):
		 * wait for it within our deadline, then arrive again. */
		back = true;
		rc = rally__rearrive_when_reset(v, t.epoch & 1, &dl,
		                                timeout_ns == 0);
		if (rc)
			return rc;
	}
}

/* A wait that RALLY_TRACE records (trace.c): its own clock, arrival and
 * outcome, into this thread's buffer after the return — nothing of the
 * object is touched after the release. */
static __attribute__((noinline)) int traced_wait(struct view *v,
                                                 int64_t timeout_ns)
{
	struct rally__call call = {.again = false, .arrived = false};
	v->call = &call;
	int64_t t0 = rally__now_ns();
	int rc = barrier_wait(v, timeout_ns);
	/* From its first arrival (clocked as it arrived) if it arrived. */
	rally__trace_wait(v->tag, view_shared(v), call.phase,
	                  call.arrived ? (int32_t)call.index : -1,
	                  call.arrived ? call.arrived_ns : t0, rally__now_ns(),
	                  rc);
	return rc;
}

static inline int wait_maybe_traced(struct view *v, int64_t timeout_ns)
{
	if (__builtin_expect(atomic_load_explicit(&rally__trace_on,
	                                          memory_order_relaxed),
	                     0))
		return traced_wait(v, timeout_ns);
	return barrier_wait(v, timeout_ns);
}

RALLY_EXPORT int rally_barrier_wait(rally_barrier_t *pub)
{
	struct view v;
	int rc = rally__caller_view(pub, &v);
	if (rc)
		return rc;
	return wait_maybe_traced(&v, v.timeout_ns ? v.timeout_ns
	                                          : RALLY_FOREVER);
}

RALLY_EXPORT int rally_barrier_timedwait(rally_barrier_t *pub,
                                         int64_t timeout_ns)
{
	struct view v;
	int rc = rally__caller_view(pub, &v);
	if (rc || timeout_ns < RALLY_FOREVER)
		return rc ? rc : -EINVAL;
	return wait_maybe_traced(&v, timeout_ns);
}

RALLY_EXPORT int rally_barrier_abort(rally_barrier_t *pub)
{
	int rc = rally__barrier_abort_deferred(pub);
	return rc < 0 ? rc : 0;
}
