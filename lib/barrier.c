/* barrier.c — the barrier: arrival, release, timeout, abort, reset, destroy.
 *
 * Words (layout in barrier_impl.h; each hot word on a cache line of its own)
 *
 *   arrivals  64 bits: phase (29) | epoch (3) | count (32). Every caller's
 *             fetch_add gives it a token: count c in phase P means phase
 *             P + c / parties, index c % parties — so callers beyond
 *             `parties` (arriving while the last one still runs the action)
 *             belong to later phases at once and never wait for an earlier
 *             phase to drain.
 *   gen       32-bit futex word: the sequence number of the phase not yet
 *             completed (29 bits) above SLEEPERS, BROKEN and BUSY.
 *   epoch_end, leaving[]: see Epochs.
 *
 * A phase q
 *   - Each caller fetch_adds `arrivals` (acq_rel: releases its own writes,
 *     and the last one acquires everyone's). Whoever gets index
 *     parties - 1 completes q, once gen says q (an earlier phase may still
 *     be completing when callers outnumber parties).
 *   - Without an action the completer moves `arrivals` to phase q + 1
 *     (count - parties, by CAS: a reset may have taken the word), adds
 *     parties - 1 to `leaving`, then CASes gen from q to q + 1 (release,
 *     paired with the waiters' acquire loads of gen). The CAS fails if a
 *     timeout or abort set BROKEN first: the phase is then broken for all.
 *   - With an action it first claims gen with BUSY (CAS from q, unbroken).
 *     While BUSY, timeouts cannot break the phase and reset waits, as in
 *     CPython, where the action runs under the barrier's lock. It then
 *     advances `arrivals`, runs the action, and stores q + 1 (keeping a
 *     BROKEN an abort set meanwhile: the next phase is broken) or, if the
 *     action failed, q | BROKEN.
 *   - The others wait until gen's seq passes q (done: return the index) or
 *     BROKEN is set while seq <= q (broken). Waiting is wait.c's loop:
 *     spin, yield, then set SLEEPERS and futex-wait; whoever changes gen
 *     with an RMW wakes all if SLEEPERS was set. No syscall while nobody
 *     sleeps.
 *   - A waiter whose deadline passes CASes BROKEN into the exact gen value
 *     it last saw. If gen moved, the phase completed (or broke) first and
 *     the timeout loses.
 *
 * Epochs. Completion and reset both move seq on, so a caller that sees seq
 * past its phase must still learn which of the two happened — possibly long
 * after, having slept through further phases and resets. A reset therefore
 * closes the current epoch: it records in epoch_end[e] the seq at which it
 * cut the epoch (phases of e before it completed, the rest are cancelled)
 * and starts epoch e + 1 (mod EPOCHS). A caller's token names its epoch, so
 * it reads its outcome from epoch_end[e] exactly. The record stays valid
 * while the caller needs it: `leaving[e]` counts epoch e's callers still
 * inside, and a reset reuses a slot only once its count is zero. Those
 * callers' outcomes are decided, so they leave promptly; only a reset
 * eight resets after theirs can wait for them.
 *
 * Leaving. destroy() may return only when no caller will touch the object
 * again. leaving[e] + the count in `arrivals` (current epoch) is the number
 * of callers inside wait() other than completers: the completer moves
 * parties - 1 from the count to leaving[e] when it advances `arrivals`,
 * reset moves the whole count, and every other caller decrements leaving[e]
 * (release) as its last touch of the object. A completer touches nothing
 * after its gen CAS but the futex wake, harmless on freed memory.
 *
 * Wrap-around. Sequence numbers are compared modulo 2^29 within a window of
 * 2^28: "passed" means 1 <= seq - q < 2^28. Participants never see more than
 * one phase of distance; only a caller that sleeps through 2^28 phases that
 * completed without it (possible only with more callers than parties) could
 * misjudge, so wrap-around is harmless in practice, as in glibc. */
#define _GNU_SOURCE
#include "barrier_impl.h"

#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "export.h"
#include "futex.h"
#include "hooks.h"
#include "rally.h"
#include "spin.h"
#include "wait.h"

#define MAGIC_DYING 0x64656164u /* destroy in progress */

struct token {
	uint32_t phase; /* sequence number, SEQ_MASK bits */
	uint32_t epoch;
	uint32_t index;
};

enum outcome { PHASE_DONE, PHASE_BROKEN, PHASE_BUSY, PHASE_PENDING };

/* The barrier whose action this thread is running, if any. */
static _Thread_local struct rally__barrier *in_action;

/* What a call works on: the barrier — in place, or in a named mapping behind
 * this process's proxy — with this process's action and robust slot. */
struct view {
	struct rally__barrier *b;
	int (*action)(void *);
	void *action_arg;
	int slot; /* robust participant slot, or -1 */
};

static bool is_robust(const struct rally__barrier *b)
{
	return b->flags & RALLY_ROBUST;
}

/* Fills *v; false if pub is neither a barrier nor a handle on one. */
static bool view_of(const rally_barrier_t *pub, struct view *v)
{
	if (!pub)
		return false;
	uint32_t magic = atomic_load_explicit(
	    &((struct rally__barrier *)pub)->magic, memory_order_acquire);
	if (magic == RALLY__PROXY_MAGIC) {
		const struct rally__barrier_proxy *px =
		    (const struct rally__barrier_proxy *)pub;
		*v = (struct view){px->shared, px->action, px->action_arg,
		                   px->slot};
		return atomic_load_explicit(&v->b->magic,
		                            memory_order_acquire) ==
		       RALLY__BARRIER_MAGIC;
	}
	if (magic != RALLY__BARRIER_MAGIC)
		return false;
	struct rally__barrier *b = (struct rally__barrier *)pub;
	*v =
	    (struct view){b, b->action, b->action_arg,
	                  is_robust(b) ? rally__attached_slot(&b->robust) : -1};
	return true;
}

/* An initialised barrier in place (not a handle), or NULL. */
static struct rally__barrier *barrier_of(const rally_barrier_t *pub)
{
	struct rally__barrier *b = (struct rally__barrier *)pub;
	if (!b || atomic_load_explicit(&b->magic, memory_order_acquire) !=
	              RALLY__BARRIER_MAGIC)
		return NULL;
	return b;
}

static uint32_t seq_of(uint32_t g) { return g >> GEN_SEQ_SHIFT; }

static uint32_t gen_of(uint32_t seq)
{
	return (seq & SEQ_MASK) << GEN_SEQ_SHIFT;
}

static uint32_t phase_of(uint64_t a)
{
	return (uint32_t)(a >> ARR_PHASE_SHIFT);
}

static uint32_t epoch_of(uint64_t a)
{
	return (uint32_t)(a >> ARR_EPOCH_SHIFT) & (EPOCHS - 1);
}

static uint32_t count_of(uint64_t a) { return (uint32_t)a; }

static uint64_t arrivals_at(uint32_t phase, uint32_t epoch)
{
	return (uint64_t)phase << ARR_PHASE_SHIFT | (uint64_t)epoch
	                                                << ARR_EPOCH_SHIFT;
}

/* What the completer adds to `arrivals`: one phase on, parties fewer. */
static uint64_t advance(uint32_t parties)
{
	return (1ull << ARR_PHASE_SHIFT) - parties;
}

/* q strictly precedes s, within the comparison window. */
static bool before(uint32_t q, uint32_t s)
{
	uint32_t d = (s - q) & SEQ_MASK;
	return d != 0 && d < SEQ_HALF;
}

static bool shared_of(const struct rally__barrier *b)
{
	return b->flags & RALLY_SHARED;
}

static int broken_code(const struct rally__barrier *b)
{
	return is_robust(b) && atomic_load_explicit(&b->robust.dead,
	                                            memory_order_acquire)
	           ? RALLY_OWNERDEAD
	           : RALLY_BROKEN;
}

static struct token token_of(const struct rally__barrier *b, uint64_t a)
{
	uint32_t c = count_of(a), p = b->parties;
	if (c < p)
		return (struct token){phase_of(a), epoch_of(a), c};
	return (struct token){(phase_of(a) + c / p) & SEQ_MASK, epoch_of(a),
	                      c % p};
}

/* The caller's last touch of the object. Release: destroy() and reset
 * acquire `leaving` before they free the memory or reuse the epoch. */
static void leave(struct rally__barrier *b, struct token t)
{
	atomic_fetch_sub_explicit(&b->leaving[t.epoch], 1,
	                          memory_order_release);
}

/* ---- waiting ------------------------------------------------------------ */

/* g was loaded with acquire, so the epoch_end written before it is seen. */
static enum outcome classify(struct rally__barrier *b, struct token t,
                             uint32_t g)
{
	uint32_t end =
	    atomic_load_explicit(&b->epoch_end[t.epoch], memory_order_relaxed);
	if (end != EPOCH_OPEN)
		return before(t.phase, end) ? PHASE_DONE : PHASE_BROKEN;
	if (before(t.phase, seq_of(g)))
		return PHASE_DONE;
	if (g & GEN_BUSY)
		return PHASE_BUSY;
	if (g & GEN_BROKEN)
		return PHASE_BROKEN;
	return PHASE_PENDING;
}

static void wake_if_sleepers(struct rally__barrier *b, uint32_t old,
                             bool shared)
{
	if (old & GEN_SLEEPERS)
		rally__futex_wake_all(&b->gen, shared);
}

/* Breaks the phase if gen still holds *g; else loads the new value. */
static bool try_break(struct rally__barrier *b, uint32_t *g)
{
	uint32_t old = *g;
	if (!atomic_compare_exchange_strong_explicit(
	        &b->gen, g, (old | GEN_BROKEN) & ~GEN_SLEEPERS,
	        memory_order_acq_rel, memory_order_acquire))
		return false;
	wake_if_sleepers(b, old, shared_of(b));
	return true;
}

/* Waits for gen to change from *g: with the caller's deadline, or without
 * one while an action or reset runs. Returns true if the deadline passed
 * and this caller broke the barrier. */
/* Sets BROKEN (kept into the next phase if an action runs) and wakes. */
static void break_barrier(struct rally__barrier *b)
{
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed);
	do {
		if (g & GEN_BROKEN)
			return;
	} while (!atomic_compare_exchange_weak_explicit(
	    &b->gen, &g, (g | GEN_BROKEN) & ~GEN_SLEEPERS, memory_order_release,
	    memory_order_relaxed));
	wake_if_sleepers(b, g, shared_of(b));
}

/* How often a sleeping waiter of a robust barrier looks for dead
 * participants: detection within 100 ms. */
#define ROBUST_CHECK_NS 50000000

/* A dead process held GEN_BUSY: nobody will clear it. Clear it, broken. */
static void take_over_busy(struct rally__barrier *b)
{
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
	    &b->gen, &g, (g | GEN_BROKEN) & ~(GEN_BUSY | GEN_SLEEPERS),
	    memory_order_release, memory_order_relaxed))
		;
	wake_if_sleepers(b, g, shared_of(b));
}

/* A robust waiter's check: if a participant died, break the barrier (and
 * free it from a GEN_BUSY the dead one held). */
static void robust_rescue(struct rally__barrier *b)
{
	if (!rally__robust_check(&b->robust))
		return;
	if (rally__robust_busy_orphaned(&b->robust))
		take_over_busy(b);
	else
		break_barrier(b);
}

/* Robust barriers only: busy_pid before GEN_BUSY, so that a holder that
 * dies can be found. */
static void busy_enter(struct rally__barrier *b)
{
	if (!is_robust(b))
		return;
	for (unsigned i = 0; rally__robust_busy_try(&b->robust) != 0; i++) {
		if (rally__robust_busy_orphaned(&b->robust))
			take_over_busy(b);
		else if (i < 64)
			sched_yield();
		else
			nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
	}
}

static void busy_leave(struct rally__barrier *b)
{
	if (is_robust(b))
		rally__robust_busy_leave(&b->robust);
}

/* A robust waiter notes its arrival in its participant slot (for
 * rally_barrier_late) once it has waited ROBUST_NOTE_NS: a store per phase
 * on a line the participants share would cost every phase. */
#define ROBUST_NOTE_NS 100000

struct note {
	int slot; /* -1: nothing to note */
	uint32_t phase;
};

/* Waits for gen to move from *g. At the deadline: breaks the barrier and
 * returns true, or, with a soft deadline (rally_barrier_poll), returns true
 * and changes nothing. A hard deadline cannot expire while an action runs
 * (BUSY); a soft one can, as it breaks nothing. */
static bool wait_or_break(struct rally__barrier *b, uint32_t *g,
                          const struct rally__deadline *dl, bool soft,
                          const struct rally__spin_plan *plan,
                          struct note *note)
{
	if ((*g & GEN_BUSY) && !soft)
		dl = &rally__no_deadline;
	struct rally__deadline slice;
	const struct rally__deadline *until = dl;
	if (is_robust(b)) {
		rally__deadline_within(&slice, dl,
		                       note->slot >= 0 ? ROBUST_NOTE_NS
		                                       : ROBUST_CHECK_NS);
		until = &slice;
	}
	if (rally__wait_change(&b->gen, *g, GEN_SLEEPERS, until, plan,
	                       &b->arrivals, shared_of(b), g) == 0)
		return false;
	if (until != dl && !rally__deadline_passed(dl)) {
		/* A slice of a robust wait ended: note the arrival, or look
		 * for the dead. */
		if (note->slot >= 0) {
			rally__robust_arrived(&b->robust, note->slot,
			                      note->phase);
			note->slot = -1;
		} else {
			robust_rescue(b);
		}
		*g = atomic_load_explicit(&b->gen, memory_order_acquire);
		return false;
	}
	if (soft) {
		/* A poll's slices may all be shorter than the robust one:
		 * look for the dead at their end too (rate limited). */
		if (is_robust(b))
			robust_rescue(b);
		return true;
	}
	return try_break(b, g);
}

/* A token's epoch slot may be reused while it is not pinned: an outcome
 * read from a slot whose serial moved is not its own. */
static bool serial_moved(const struct rally__barrier *b, struct token t,
                         const uint32_t *serial)
{
	return serial && atomic_load_explicit(&b->epoch_serial[t.epoch],
	                                      memory_order_relaxed) != *serial;
}

/* Waits for t's phase; returns t.index or a code (RALLY_TIMEDOUT at a soft
 * deadline too, with nothing broken). A caller of wait() is pinned (counted
 * until it leaves); a split-phase token is not, and passes the serial of its
 * epoch, checked after every look. */
static int await_release(const struct view *v, struct token t,
                         const struct rally__deadline *dl, bool soft,
                         const uint32_t *serial)
{
	bool pinned = !serial;
	struct rally__barrier *b = v->b;
	struct note note = {v->slot, t.phase};
	struct rally__spin_plan plan;
	rally__spin_plan(b->spin, b->parties, &plan);
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_acquire);
	for (;;) {
		int code;
		enum outcome o = classify(b, t, g);
		if (serial_moved(b, t, serial))
			return RALLY_BROKEN; /* its epoch is long gone */
		switch (o) {
		case PHASE_DONE:
			if (pinned)
				leave(b, t);
			return (int)t.index;
		case PHASE_BROKEN:
			code = broken_code(b);
			if (pinned)
				leave(b, t);
			return code;
		default:
			if (wait_or_break(b, &g, dl, soft, &plan, &note)) {
				if (pinned)
					leave(b, t);
				return RALLY_TIMEDOUT;
			}
		}
	}
}

/* ---- completing a phase ------------------------------------------------- */

static int run_action(const struct view *v, struct token t)
{
	struct rally__barrier *b = v->b;
	uint32_t parties = b->parties;
	bool shared = shared_of(b);
	/* GEN_BUSY excludes resets: a plain add is safe. */
	atomic_fetch_add_explicit(&b->arrivals, advance(parties),
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&b->leaving[t.epoch], (int32_t)parties - 1,
	                          memory_order_relaxed);

	struct rally__barrier *outer = in_action;
	in_action = b;
	int rc = v->action(v->action_arg);
	in_action = outer;

	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed), next;
	do {
		next = rc == 0 ? gen_of(t.phase + 1) | (g & GEN_BROKEN)
		               : gen_of(t.phase) | GEN_BROKEN;
	} while (!atomic_compare_exchange_weak_explicit(
	    &b->gen, &g, next, memory_order_release, memory_order_relaxed));
	wake_if_sleepers(b, g, shared);
	busy_leave(b);
	if (rc == 0)
		return (int)parties - 1;
	return rc < 0 ? rc : RALLY_BROKEN;
}

/* Completes phase t.phase without an action; g: gen, holding seq t.phase,
 * neither broken nor busy. */
static int release(struct rally__barrier *b, struct token t, uint32_t g)
{
	uint32_t parties = b->parties;
	bool shared = shared_of(b);
	int code = broken_code(b); /* computed now: see below */

	uint64_t a = atomic_load_explicit(&b->arrivals, memory_order_relaxed);
	uint64_t mine = arrivals_at(t.phase, t.epoch);
	do {
		if ((a & ~0xffffffffull) != mine) {
			/* A reset swapped `arrivals` and counted us: leave. */
			leave(b, t);
			return code;
		}
	} while (!atomic_compare_exchange_weak_explicit(
	    &b->arrivals, &a, a + advance(parties), memory_order_relaxed,
	    memory_order_relaxed));
	atomic_fetch_add_explicit(&b->leaving[t.epoch], (int32_t)parties - 1,
	                          memory_order_relaxed);

	uint32_t old = g;
	while (!atomic_compare_exchange_weak_explicit(
	    &b->gen, &old, gen_of(t.phase + 1), memory_order_release,
	    memory_order_relaxed)) {
		/* Broken by a timeout or abort, or taken by a reset: the
		 * waiters may all leave and destroy the barrier now, so touch
		 * nothing more. */
		if (seq_of(old) != t.phase || (old & (GEN_BROKEN | GEN_BUSY)))
			return code;
	}
	wake_if_sleepers(b, old, shared);
	return (int)parties - 1;
}

static int complete(const struct view *v, struct token t,
                    const struct rally__deadline *dl)
{
	struct rally__barrier *b = v->b;
	struct note note = {v->slot, t.phase};
	struct rally__spin_plan plan;
	rally__spin_plan(b->spin, b->parties, &plan);
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_acquire);
	for (;;) {
		enum outcome o = classify(b, t, g);
		if (o == PHASE_DONE || o == PHASE_BROKEN) {
			/* Decided without us: only a reset or a break does
			 * that. */
			int code = broken_code(b);
			leave(b, t);
			return code;
		}
		if (o == PHASE_PENDING && seq_of(g) == t.phase) {
			if (!v->action)
				return release(b, t, g);
			busy_enter(b);
			if (atomic_compare_exchange_weak_explicit(
			        &b->gen, &g, g | GEN_BUSY, memory_order_acquire,
			        memory_order_acquire))
				return run_action(v, t);
			busy_leave(b);
			continue;
		}
		/* An earlier phase completes, or an action or reset runs. */
		if (wait_or_break(b, &g, dl, false, &plan, &note)) {
			leave(b, t);
			return RALLY_TIMEDOUT;
		}
	}
}

static int barrier_wait(const struct view *v, const struct rally__deadline *dl)
{
	struct rally__barrier *b = v->b;
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed);
	if ((g & (GEN_BROKEN | GEN_BUSY)) == GEN_BROKEN)
		return broken_code(b); /* broken: do not even arrive */
	uint64_t a =
	    atomic_fetch_add_explicit(&b->arrivals, 1, memory_order_acq_rel);
	struct token t = token_of(b, a);
	if (t.index == b->parties - 1)
		return complete(v, t, dl);
	return await_release(v, t, dl, false, NULL);
}

/* ---- reset -------------------------------------------------------------- */

/* Claims gen for a reset; false if there is nothing to reset. */
static bool claim_for_reset(struct rally__barrier *b, uint32_t *g,
                            const struct rally__spin_plan *plan)
{
	*g = atomic_load_explicit(&b->gen, memory_order_acquire);
	for (;;) {
		if (*g & GEN_BUSY) {
			/* An action or another reset runs: wait (in slices on a
			 * robust barrier, whose holder may die). */
			struct rally__deadline slice;
			rally__deadline_within(&slice, &rally__no_deadline,
			                       ROBUST_CHECK_NS);
			if (rally__wait_change(
			        &b->gen, *g, GEN_SLEEPERS,
			        is_robust(b) ? &slice : &rally__no_deadline,
			        plan, NULL, shared_of(b), g) != 0)
				robust_rescue(b);
			*g =
			    atomic_load_explicit(&b->gen, memory_order_acquire);
			continue;
		}
		uint64_t a =
		    atomic_load_explicit(&b->arrivals, memory_order_acquire);
		if (!(*g & GEN_BROKEN) && count_of(a) == 0 &&
		    phase_of(a) == seq_of(*g))
			return false; /* empty and whole already */
		busy_enter(b);
		if (atomic_compare_exchange_weak_explicit(
		        &b->gen, g, *g | GEN_BUSY | GEN_BROKEN,
		        memory_order_acquire, memory_order_acquire))
			return true;
		busy_leave(b);
	}
}

/* Waits until *count reaches `want`: its callers are running (their outcome
 * is decided), so briefly. A robust barrier's participant may have died
 * inside a call and never leave: there the wait ends after 100 ms. */
static void wait_count(const struct rally__barrier *b, _Atomic int32_t *count,
                       int32_t want)
{
	int64_t give_up = is_robust(b) ? rally__now_ns() + 100000000 : 0;
	for (unsigned i = 0;
	     atomic_load_explicit(count, memory_order_acquire) != want; i++) {
		if (i < 64)
			rally__cpu_relax();
		else if (i < 1024)
			sched_yield();
		else if (give_up && rally__now_ns() > give_up)
			return;
		else
			nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
	}
}

static int reset(struct rally__barrier *b)
{
	struct rally__spin_plan plan;
	rally__spin_plan(b->spin, b->parties, &plan);
	uint32_t g;
	if (!claim_for_reset(b, &g, &plan))
		return 0;
	/* gen is ours (BUSY): no completer, no other reset until we store. */
	uint32_t seq = seq_of(g), fresh = (seq + 1) & SEQ_MASK;
	uint64_t a = atomic_load_explicit(&b->arrivals, memory_order_relaxed);
	uint32_t e = epoch_of(a), next = (e + 1) % EPOCHS;
	wait_count(b, &b->leaving[next], 0);
	atomic_store_explicit(&b->leaving[next], 0, memory_order_relaxed);
	/* Serial first, then the slot open (release): see classify(). And
	 * seq_cst, against an await that pins the slot and then checks the
	 * serial: either we saw its pin (and waited), or it sees our bump. */
	atomic_fetch_add_explicit(&b->epoch_serial[next], 1,
	                          memory_order_seq_cst);
	atomic_store_explicit(&b->epoch_end[next], EPOCH_OPEN,
	                      memory_order_release);
	/* Close epoch e before moving `arrivals` on: whatever prefix of this
	 * reset a dead process leaves done, a later reset completes it (it
	 * closes the epoch `arrivals` names, at the same seq). Callers that
	 * arrive in e meanwhile have phases >= seq: cancelled. */
	atomic_store_explicit(&b->epoch_end[e], seq, memory_order_release);
	/* acq_rel: new arrivals in epoch `next` see its slot open. */
	a = atomic_exchange_explicit(&b->arrivals, arrivals_at(fresh, next),
	                             memory_order_acq_rel);
	/* Everyone still counted in epoch e will leave it. */
	atomic_fetch_add_explicit(&b->leaving[e], (int32_t)count_of(a),
	                          memory_order_relaxed);
	if (is_robust(b))
		rally__robust_forget_dead(&b->robust);
	/* Release: publishes epoch_end[e] to whoever sees the new gen. */
	uint32_t old = atomic_exchange_explicit(&b->gen, gen_of(fresh),
	                                        memory_order_release);
	wake_if_sleepers(b, old, shared_of(b));
	busy_leave(b);
	return 0;
}

/* ---- public API --------------------------------------------------------- */

static int check_attr(const rally_barrier_attr_t *attr)
{
	if (attr->flags & ~(RALLY_SHARED | RALLY_ROBUST))
		return -EINVAL;
	if ((attr->flags & RALLY_ROBUST) && !(attr->flags & RALLY_SHARED))
		return -EINVAL;
	if (attr->timeout_ns < RALLY_FOREVER || attr->spin < RALLY_SPIN_NEVER)
		return -EINVAL;
	return 0;
}

int rally__barrier_init(struct rally__barrier *b, unsigned parties,
                        const rally_barrier_attr_t *attr)
{
	static const rally_barrier_attr_t defaults;
	if (!b || parties == 0 || parties > RALLY_PARTIES_MAX)
		return -EINVAL;
	if (!attr)
		attr = &defaults;
	int rc = check_attr(attr);
	if (rc)
		return rc;
	memset(b, 0, sizeof *b);
	b->parties = parties;
	b->flags = attr->flags;
	b->spin = attr->spin;
	b->timeout_ns = attr->timeout_ns > 0 ? attr->timeout_ns : 0;
	b->action = attr->action;
	b->action_arg = attr->action_arg;
	for (uint32_t e = 0; e < EPOCHS; e++)
		atomic_store_explicit(&b->epoch_end[e], EPOCH_OPEN,
		                      memory_order_relaxed);
	atomic_store_explicit(&b->magic, RALLY__BARRIER_MAGIC,
	                      memory_order_release);
	return 0;
}

RALLY_EXPORT int rally_barrier_init(rally_barrier_t *pub, unsigned parties,
                                    const rally_barrier_attr_t *attr)
{
	return rally__barrier_init((struct rally__barrier *)pub, parties, attr);
}

RALLY_EXPORT int rally_barrier_wait(rally_barrier_t *pub)
{
	struct view v;
	if (!view_of(pub, &v))
		return -EINVAL;
	struct rally__deadline dl;
	rally__deadline_init(&dl,
	                     v.b->timeout_ns ? v.b->timeout_ns : RALLY_FOREVER);
	return barrier_wait(&v, &dl);
}

RALLY_EXPORT int rally_barrier_timedwait(rally_barrier_t *pub,
                                         int64_t timeout_ns)
{
	struct view v;
	if (!view_of(pub, &v) || timeout_ns < RALLY_FOREVER)
		return -EINVAL;
	struct rally__deadline dl;
	rally__deadline_init(&dl, timeout_ns);
	return barrier_wait(&v, &dl);
}

RALLY_EXPORT int rally_barrier_abort(rally_barrier_t *pub)
{
	struct view v;
	if (!view_of(pub, &v))
		return -EINVAL;
	break_barrier(v.b);
	return 0;
}

RALLY_EXPORT int rally_barrier_reset(rally_barrier_t *pub)
{
	struct view v;
	if (!view_of(pub, &v))
		return -EINVAL;
	if (in_action == v.b)
		return -EDEADLK;
	return reset(v.b);
}

/* Destroys a barrier in place; handles from rally_barrier_open() are
 * closed instead (and their barrier unlinked). */
RALLY_EXPORT int rally_barrier_destroy(rally_barrier_t *pub)
{
	struct rally__barrier *b = barrier_of(pub);
	if (!b)
		return -EINVAL;
	if (in_action == b)
		return -EBUSY;
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_acquire);
	uint64_t a = atomic_load_explicit(&b->arrivals, memory_order_acquire);
	bool broken = g & GEN_BROKEN;
	if ((g & GEN_BUSY) ||
	    (!broken && (count_of(a) || phase_of(a) != seq_of(g))))
		return -EBUSY;
	uint32_t magic = RALLY__BARRIER_MAGIC;
	if (!atomic_compare_exchange_strong_explicit(
	        &b->magic, &magic, MAGIC_DYING, memory_order_acq_rel,
	        memory_order_relaxed))
		return -EINVAL; /* destroyed concurrently */
	/* Released callers leave on their own: every epoch's count goes to 0,
	 * but if broken the current one's goes to minus the callers still
	 * counted in `arrivals`, who leave too. */
	uint32_t cur = epoch_of(a);
	for (uint32_t e = 0; e < EPOCHS; e++)
		wait_count(b, &b->leaving[e],
		           e == cur && broken ? -(int32_t)count_of(a) : 0);
	atomic_store_explicit(&b->magic, 0, memory_order_release);
	return 0;
}

RALLY_EXPORT unsigned rally_barrier_parties(const rally_barrier_t *pub)
{
	struct view v;
	return view_of(pub, &v) ? v.b->parties : 0;
}

RALLY_EXPORT unsigned rally_barrier_n_waiting(const rally_barrier_t *pub)
{
	struct view v;
	if (!view_of(pub, &v))
		return 0;
	uint32_t g = atomic_load_explicit(&v.b->gen, memory_order_acquire);
	if (g & GEN_BROKEN)
		return 0;
	uint64_t a = atomic_load_explicit(&v.b->arrivals, memory_order_acquire);
	return count_of(a) % v.b->parties;
}

RALLY_EXPORT bool rally_barrier_broken(const rally_barrier_t *pub)
{
	struct view v;
	return view_of(pub, &v) &&
	       (atomic_load_explicit(&v.b->gen, memory_order_acquire) &
	        GEN_BROKEN);
}

RALLY_EXPORT unsigned rally_barrier_phase(const rally_barrier_t *pub)
{
	struct view v;
	return view_of(pub, &v) ? seq_of(atomic_load_explicit(
	                              &v.b->gen, memory_order_acquire))
	                        : 0;
}

/* ---- split phase ----------------------------------------------------------
 *
 * Tokens. arrive() counts the caller as wait() does, and completes the phase
 * if it is the last; then it leaves at once, while still pinned, having
 * noted its epoch's serial: a token is passed by value, so await() and
 * test() can only observe, never unpin. If eight resets reuse the epoch's
 * slot before the token is awaited, the serial no longer matches and the
 * outcome is RALLY_BROKEN rather than another epoch's. */

enum token_kind {
	TOKEN_WAITER = 0x5a1, /* result: the epoch serial */
	TOKEN_RESOLVED,       /* the last arrival's: result is its outcome */
};

struct token_repr {
	uint32_t phase;
	uint16_t epoch;
	uint16_t kind;
	uint32_t index;
	int32_t result;
};

_Static_assert(sizeof(struct token_repr) == sizeof(rally_token_t),
               "a token is 16 bytes");

static rally_token_t pack(struct token t, enum token_kind kind, int32_t result)
{
	struct token_repr r = {t.phase, (uint16_t)t.epoch, (uint16_t)kind,
	                       t.index, result};
	rally_token_t out;
	memcpy(&out, &r, sizeof out);
	return out;
}

static bool unpack(rally_token_t in, struct token *t, struct token_repr *r)
{
	memcpy(r, &in, sizeof *r);
	if ((r->kind != TOKEN_WAITER && r->kind != TOKEN_RESOLVED) ||
	    r->epoch >= EPOCHS || r->phase > SEQ_MASK)
		return false;
	*t = (struct token){r->phase, r->epoch, r->index};
	return true;
}

RALLY_EXPORT int rally_barrier_arrive(rally_barrier_t *pub,
                                      rally_token_t *token)
{
	struct view v;
	if (!view_of(pub, &v) || !token)
		return -EINVAL;
	struct rally__barrier *b = v.b;
	struct rally__deadline dl;
	rally__deadline_init(&dl, RALLY_FOREVER);
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed);
	if ((g & (GEN_BROKEN | GEN_BUSY)) == GEN_BROKEN) {
		int code = broken_code(b);
		*token = pack((struct token){0, 0, 0}, TOKEN_RESOLVED, code);
		return code;
	}
	uint64_t a =
	    atomic_fetch_add_explicit(&b->arrivals, 1, memory_order_acq_rel);
	struct token t = token_of(b, a);
	if (v.slot >= 0)
		rally__robust_arrived(&b->robust, v.slot, t.phase);
	if (t.index == b->parties - 1) {
		/* Completes now (waiting only if callers outnumber parties and
		 * the previous phase is still completing). */
		int rc = complete(&v, t, &dl);
		*token = pack(t, TOKEN_RESOLVED, rc < 0 ? rc : 0);
		return rc;
	}
	uint32_t serial = atomic_load_explicit(&b->epoch_serial[t.epoch],
	                                       memory_order_relaxed);
	*token = pack(t, TOKEN_WAITER, (int32_t)serial);
	leave(b, t);
	return (int)t.index;
}

/* The token's outcome if known without waiting: 1 done, a negative code,
 * or 0 (pending). */
static int token_state(struct rally__barrier *b, struct token t,
                       const struct token_repr *r)
{
	if (r->kind == TOKEN_RESOLVED)
		return r->result < 0
		           ? (r->result == RALLY_OWNERDEAD ? RALLY_OWNERDEAD
		                                           : RALLY_BROKEN)
		           : 1;
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_acquire);
	enum outcome o = classify(b, t, g);
	uint32_t serial = (uint32_t)r->result;
	if (serial_moved(b, t, &serial))
		return RALLY_BROKEN; /* its epoch is long gone */
	switch (o) {
	case PHASE_DONE:
		return 1;
	case PHASE_BROKEN:
		return broken_code(b);
	default:
		return 0;
	}
}

RALLY_EXPORT int rally_barrier_test(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token t;
	struct token_repr r;
	if (!view_of(pub, &v) || !unpack(token, &t, &r))
		return -EINVAL;
	return token_state(v.b, t, &r);
}

/* await (soft false) and poll (soft true): 1 once the token's phase
 * completed, 0 when a soft deadline passed first, or a code. */
static int await_token(rally_barrier_t *pub, rally_token_t token,
                       int64_t timeout_ns, bool soft)
{
	struct view v;
	struct token t;
	struct token_repr r;
	if (!view_of(pub, &v) || !unpack(token, &t, &r) ||
	    timeout_ns < RALLY_FOREVER)
		return -EINVAL;
	int st = token_state(v.b, t, &r);
	if (st != 0)
		return st;
	struct rally__deadline dl;
	rally__deadline_init(&dl, timeout_ns);
	v.slot = -1; /* arrival noted by arrive() */
	uint32_t serial = (uint32_t)r.result;
	/* Pin the epoch while waiting (a reuse would lose the outcome), then
	 * check it is still the token's: seq_cst pairs with reset's check of
	 * `leaving` and bump of the serial. */
	atomic_fetch_add_explicit(&v.b->leaving[t.epoch], 1,
	                          memory_order_seq_cst);
	int rc = atomic_load_explicit(&v.b->epoch_serial[t.epoch],
	                              memory_order_seq_cst) == serial
	             ? await_release(&v, t, &dl, soft, &serial)
	             : RALLY_BROKEN;
	leave(v.b, t);
	if (rc >= 0)
		return 1;
	return soft && rc == RALLY_TIMEDOUT ? 0 : rc;
}

RALLY_EXPORT int rally_barrier_await(rally_barrier_t *pub, rally_token_t token,
                                     int64_t timeout_ns)
{
	int rc = await_token(pub, token, timeout_ns, false);
	return rc > 0 ? 0 : rc;
}

RALLY_EXPORT int rally_barrier_poll(rally_barrier_t *pub, rally_token_t token,
                                    int64_t timeout_ns)
{
	return await_token(pub, token, timeout_ns, true);
}

RALLY_EXPORT int rally_barrier_futex(rally_barrier_t *pub, rally_token_t token,
                                     const uint32_t **word, uint32_t *value,
                                     bool *shared)
{
	struct view v;
	struct token t;
	struct token_repr r;
	if (!view_of(pub, &v) || !unpack(token, &t, &r) || !word || !value ||
	    !shared)
		return -EINVAL;
	struct rally__barrier *b = v.b;
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_acquire);
	for (;;) {
		int st = token_state(b, t, &r);
		if (st != 0)
			return st;
		/* Announce a sleeper, as wait.c does, so that whoever changes
		 * gen next wakes this one too. */
		if ((g & GEN_SLEEPERS) ||
		    atomic_compare_exchange_weak_explicit(
		        &b->gen, &g, g | GEN_SLEEPERS, memory_order_acquire,
		        memory_order_acquire))
			break;
	}
	*word = (const uint32_t *)&b->gen;
	*value = g | GEN_SLEEPERS;
	*shared = shared_of(b);
	return 0;
}

bool rally__token_stale(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token t;
	struct token_repr r;
	if (!view_of(pub, &v) || !unpack(token, &t, &r) ||
	    r.kind != TOKEN_WAITER)
		return false;
	uint32_t serial = (uint32_t)r.result;
	return serial_moved(v.b, t, &serial);
}

/* ---- robust participants ------------------------------------------------ */

RALLY_EXPORT int rally_barrier_attach(rally_barrier_t *pub)
{
	struct rally__barrier *b = barrier_of(pub);
	if (!b)
		return -EINVAL;
	if (!is_robust(b))
		return 0; /* nothing to track */
	int slot = rally__robust_register(&b->robust);
	if (slot < 0)
		return slot;
	if (rally__attach_note(&b->robust, slot) != 0) {
		rally__robust_unregister(&b->robust, slot);
		return -ENOSPC;
	}
	return 0;
}

RALLY_EXPORT int rally_barrier_detach(rally_barrier_t *pub)
{
	struct rally__barrier_proxy *px = (struct rally__barrier_proxy *)pub;
	if (px && atomic_load_explicit(&px->magic, memory_order_acquire) ==
	              RALLY__PROXY_MAGIC) {
		/* A handle from open(): this process stops taking part (a
		 * fork()ed child's copy of it never took part). */
		if (px->slot >= 0 && px->pid == getpid())
			rally__robust_unregister(&px->shared->robust, px->slot);
		px->slot = -1;
		return 0;
	}
	struct rally__barrier *b = barrier_of(pub);
	if (!b)
		return -EINVAL;
	if (!is_robust(b))
		return 0;
	rally__robust_unregister(&b->robust, rally__attach_forget(&b->robust));
	return 0;
}

RALLY_EXPORT int rally_barrier_late(const rally_barrier_t *pub, pid_t *pids,
                                    unsigned max)
{
	struct view v;
	if (!view_of(pub, &v) || (max && !pids))
		return -EINVAL;
	if (!is_robust(v.b))
		return -ENOTSUP;
	/* gen's seq is the phase not yet complete — also while its action
	 * runs, when `arrivals` has moved on already. */
	uint32_t g = atomic_load_explicit(&v.b->gen, memory_order_acquire);
	return rally__robust_late(&v.b->robust, seq_of(g), pids, max);
}

int rally__barrier_set_phase(rally_barrier_t *pub, uint32_t phase)
{
	struct rally__barrier *b = barrier_of(pub);
	if (!b)
		return -EINVAL;
	uint64_t a = atomic_load_explicit(&b->arrivals, memory_order_relaxed);
	atomic_store_explicit(&b->arrivals,
	                      arrivals_at(phase & SEQ_MASK, epoch_of(a)),
	                      memory_order_relaxed);
	atomic_store_explicit(&b->gen, gen_of(phase), memory_order_release);
	return 0;
}
