/* barrier_impl.h — rally_barrier_t's private layout, the encoding of its
 * words, and what the files of the barrier share:
 *
 *   phase.c      a phase: arrival, waiting, completion, timeouts, abort
 *   holder.c     BUSY: who runs an action, a completion or a reset, and
 *                taking over from a holder that died
 *   reset.c      reset: epochs, their records, draining
 *   token.c      split phase: tokens, arrive/await/test/poll
 *   lifecycle.c  init, destroy, handles, the state accessors
 *   robust.c     participant processes of a RALLY_ROBUST barrier
 *
 * phase.c opens with the protocol as a whole; each file with its own part.
 * lib/barrier.pml models them. */
#ifndef RALLY_BARRIER_IMPL_H
#define RALLY_BARRIER_IMPL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "points.h"
#include "rally.h"
#include "robust.h"
#include "spin.h"
#include "stats.h"

/* Names the layout too: "ral2" since the state word of a barrier of few
 * parties moved to arr's line; a build of the earlier layout ("ralb")
 * refuses this object (-EINVAL) rather than wait on the other word. */
#define RALLY__BARRIER_MAGIC 0x72616c32u /* "ral2" */
#define RALLY__PROXY_MAGIC   0x72616c70u /* "ralp": a handle from open() */
#define RALLY__DYING_MAGIC   0x64656164u /* destroy in progress */

/* ---- state: the futex word `gen` (low half) and its owner (high half) ---
 *
 *   bit 0      SLEEPERS  someone sleeps on gen: whoever changes it wakes
 *   bit 1      BROKEN    phase seq is broken, and every later one
 *   bit 2      BUSY      an action, a robust completion or a reset runs
 *                        (with BROKEN: a reset of the epoch of EPOCH)
 *   bit 3      EPOCH     the parity of the epoch that seq belongs to
 *   bits 4-31  seq       the first phase not yet complete (mod 2^28)
 *   bits 32-53 holder    the pid holding BUSY (0: none)
 *   bits 54-63 ahead     k > 0: phase seq + k is broken (and every later
 *                        one); seq .. seq + k - 1 are not, yet
 *
 * One 64-bit CAS changes all of it, so that BUSY and its holder are taken
 * and given back together: no window in which a holder that dies leaves
 * BUSY ownerless, and nothing to write after the release. The kernel's
 * futex sees only the low half. */
#define ST_SLEEPERS  0x1u
#define ST_BROKEN    0x2u
#define ST_BUSY      0x4u
#define ST_EPOCH     0x8u
#define SEQ_SHIFT    4
#define SEQ_BITS     28
#define SEQ_MASK     ((1u << SEQ_BITS) - 1)
#define SEQ_HALF     (1u << (SEQ_BITS - 1))
#define GEN_MASK     0xffffffffull
#define HOLDER_SHIFT 32
#define HOLDER_MASK  ((1ull << 22) - 1)
#define AHEAD_SHIFT  54
#define AHEAD_MAX    1023u

_Static_assert(SEQ_BITS == 28, "hooks.h says RALLY__SEQ_BITS 28");

static inline uint32_t st_seq(uint64_t s)
{
	return (uint32_t)(s >> SEQ_SHIFT) & SEQ_MASK;
}
static inline uint32_t st_parity(uint64_t s) { return (s & ST_EPOCH) != 0; }
static inline uint32_t st_holder(uint64_t s)
{
	return (uint32_t)(s >> HOLDER_SHIFT & HOLDER_MASK);
}
static inline uint32_t st_ahead(uint64_t s)
{
	return (uint32_t)(s >> AHEAD_SHIFT);
}
/* An idle state: phase seq of the epoch of parity `parity`, nothing set. */
static inline uint64_t st_make(uint32_t seq, uint32_t parity)
{
	return (uint64_t)(seq & SEQ_MASK) << SEQ_SHIFT |
	       (parity & 1 ? ST_EPOCH : 0);
}
static inline uint64_t st_with_holder(uint64_t s, uint32_t pid)
{
	return (s & ~(HOLDER_MASK << HOLDER_SHIFT)) |
	       (uint64_t)(pid & HOLDER_MASK) << HOLDER_SHIFT;
}
static inline uint64_t st_with_ahead(uint64_t s, uint32_t k)
{
	return (s & ((1ull << AHEAD_SHIFT) - 1)) | (uint64_t)k << AHEAD_SHIFT;
}

/* d = p - seq in the comparison window: negative if p is before seq. */
static inline int32_t seq_diff(uint32_t p, uint32_t seq)
{
	uint32_t d = (p - seq) & SEQ_MASK;
	return d < SEQ_HALF ? (int32_t)d
	                    : (int32_t)d - (int32_t)(1u << SEQ_BITS);
}

/* ---- arr: phase | epoch | count --------------------------------------------
 *
 *   bits 0-31  count  callers arrived beyond the phases moved past
 *   bits 32-35 epoch  the epoch's number mod 16
 *   bits 36-63 phase  the first phase whose arrivals are incomplete
 *
 * A caller's fetch_add gives count c in phase P: its phase is
 * P + c / parties, its index c % parties. The last arrival of a phase moves
 * arr on by one phase and `parties` fewer (one fetch_add). */
#define ARR_COUNT_MASK  0xffffffffull
#define ARR_EPOCH_SHIFT 32
#define ARR_EPOCH_MASK  0xfu
#define ARR_PHASE_SHIFT 36

static inline uint32_t arr_count(uint64_t a) { return (uint32_t)a; }
static inline uint32_t arr_epoch(uint64_t a)
{
	return (uint32_t)(a >> ARR_EPOCH_SHIFT) & ARR_EPOCH_MASK;
}
static inline uint32_t arr_phase(uint64_t a)
{
	return (uint32_t)(a >> ARR_PHASE_SHIFT) & SEQ_MASK;
}
static inline uint64_t arr_make(uint32_t phase, uint32_t epoch)
{
	return (uint64_t)(phase & SEQ_MASK) << ARR_PHASE_SHIFT |
	       (uint64_t)(epoch & ARR_EPOCH_MASK) << ARR_EPOCH_SHIFT;
}
/* What the last arrival adds: one phase on, `parties` fewer. */
static inline uint64_t arr_advance(uint32_t parties)
{
	return (1ull << ARR_PHASE_SHIFT) - parties;
}

/* ---- epochs (reset.c) ------------------------------------------------------
 *
 * An epoch runs from one reset to the next. Each reset writes the record of
 * the epoch it closes: rec[id % RECORDS] = id | cut << 32, where phases of
 * the epoch before `cut` completed and the rest were cancelled. Only tokens
 * read records (a token can outlive its epoch). */
#define RECORDS 8u

static inline uint32_t rec_id(uint64_t r) { return (uint32_t)r; }
static inline uint32_t rec_cut(uint64_t r) { return (uint32_t)(r >> 32); }
static inline uint64_t rec_make(uint32_t id, uint32_t cut)
{
	return id | (uint64_t)cut << 32;
}

/* An epoch's baseline: phase `phase` with `out` at `out`. The callers
 * inside the epoch are its arrivals since that phase minus its completed
 * phases since it minus the leavers since (out - that out), modulo 2^32;
 * the phase differences must stay below 2^28: completers move the
 * baseline on by REBASE phases whenever it lags that far (phase.c). */
#define REBASE (1u << 24)

static inline uint64_t base_make(uint32_t phase, uint32_t out)
{
	return (phase & SEQ_MASK) | (uint64_t)out << 32;
}
static inline uint32_t base_phase(uint64_t w) { return (uint32_t)w & SEQ_MASK; }
static inline uint32_t base_out(uint64_t w) { return (uint32_t)(w >> 32); }

/* The full id of the epoch whose number mod 16 is `field`, given the id of
 * the newest epoch (which is that one, or the next). */
static inline uint32_t epoch_full(uint32_t newest, uint32_t field)
{
	return newest - ((newest - field) & ARR_EPOCH_MASK);
}

/* ---- the object ----------------------------------------------------------
 *
 * 1024 bytes in 64-byte lines. With only 8-byte alignment a line may begin
 * up to 56 bytes early: the pad lines keep arr and state off any line
 * another word lives on. */
struct rally__barrier {
	/* Line 0: configuration, written by init only. */
	_Atomic uint32_t magic;
	uint32_t parties;
	uint32_t flags;
	int32_t spin;
	int64_t timeout_ns;
	int (*action)(void *);
	void *action_arg;
	uint64_t tag; /* random: tells barriers apart (tokens, in_action) */
	/* Callers look whether the barrier is broken before they arrive
	 * (phase.c, the runaway guard): set once a broken barrier's arrivals
	 * ran far ahead, cleared by reset. Here, where every call reads. */
	_Atomic uint32_t guarded;
	uint32_t pad0_[3];

	/* Line 1: the records of the last RECORDS epochs. */
	_Atomic uint64_t rec[RECORDS];

	/* Line 2: reset's bookkeeping, the pins of awaited tokens, and the
	 * visitors (lifecycle.c). */
	_Atomic uint32_t epoch_id; /* the newest epoch's id */
	_Atomic uint32_t visitors; /* calls in the object but not counted */
	/* By parity: the baseline of an epoch's count of callers inside, a
	 * phase and `out` as they stood there (base_make), in one word:
	 * completers move it on (rebase), reset and destroy read it. */
	_Atomic uint64_t base[2];
	_Atomic uint32_t pins[RECORDS]; /* awaits reading rec[i] */
	/* When a test or a zero-timeout await last looked for a dead BUSY
	 * holder (holder.c): rate limited. */
	_Atomic int64_t holder_checked_at;

	/* Line 3: the re-arrivals (lifecycle.c), and slack. */
	_Atomic uint32_t rearrivals;
	uint32_t pad3_[15];

	/* Line 4: arrivals, the state word of a barrier of few parties
	 * (state_word()) right beside them — on arr's line at any 16-byte
	 * alignment (malloc's): at offset 272 it fell on the next line for 1
	 * in 4 of malloc's addresses (review round 4) —, and the callers
	 * that have left. */
	_Atomic uint64_t arr;
	_Atomic uint64_t state_with_arr;
	_Atomic uint32_t out;
	uint32_t pad4_;
	uint64_t pad4b_[5];

	uint64_t pad5_[8];

	/* Line 6: the state word of a barrier of many parties. */
	_Atomic uint64_t state_alone;
	uint64_t pad6_[7];

	/* Lines 7-15: robust mode's participants, or RALLY_STATS's counts
	 * (stats.h): never both. */
	union {
		struct rally__robust robust;
		struct rally__stats stats;
	};
};

_Static_assert(sizeof(struct rally__barrier) == sizeof(rally_barrier_t),
               "rally_barrier_t is 1024 bytes");
_Static_assert(offsetof(struct rally__barrier, arr) == 256, "arr on line 4");
_Static_assert(offsetof(struct rally__barrier, state_with_arr) == 264,
               "state_with_arr beside arr");
_Static_assert(offsetof(struct rally__barrier, state_alone) == 384,
               "state_alone on line 6");
_Static_assert(offsetof(struct rally__barrier, robust) == 448,
               "robust from line 7");

/* Where the state word lives. With few parties, on the arrivals' line: a
 * phase then moves one line between the parties, not two — the last
 * arrival's fetch_add brings it the line its publishing CAS needs, and a
 * waiter's `out` comes with the state it read (2 threads: 2 transfers a
 * phase where two lines took 3, and 2.1x ConcurrencyKit's time became
 * 1.0x when the CPUs are far apart; README, "The floor"). With many, on a
 * line of its own: every arrival's RMW would take the line from every
 * spinning waiter, O(parties) transfers per arrival. Chosen by parties,
 * which never changes: every process and every call finds the same word. */
#define STATE_WITH_ARR_PARTIES 4

static inline _Atomic uint64_t *state_word(struct rally__barrier *b,
                                           uint32_t parties)
{
	return parties <= STATE_WITH_ARR_PARTIES ? &b->state_with_arr
	                                         : &b->state_alone;
}

/* The futex word: the low half of a state word. */
static inline _Atomic uint32_t *gen_of(_Atomic uint64_t *state)
{
	return (_Atomic uint32_t *)state +
	       (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
}

/* For a caller that hands the futex word to someone else to sleep on
 * (rally_barrier_futex(), rally__barrier_busy_futex()): raises SLEEPERS
 * in the state, as wait.c does, so that whoever changes gen next wakes
 * the word. True once *s says it is raised; false if the CAS failed (*s
 * fresh: look again). */
static inline bool announce_sleeper(_Atomic uint64_t *state, uint64_t *s)
{
	return (*s & ST_SLEEPERS) ||
	       atomic_compare_exchange_weak_explicit(state, s, *s | ST_SLEEPERS,
	                                             memory_order_acquire,
	                                             memory_order_acquire);
}

/* What rally_barrier_open() returns: a per-process handle on a barrier in a
 * shared mapping, with this process's own action and a private copy of the
 * configuration, checked when it was opened: a corrupt object in shared
 * memory cannot make a call divide by zero or index out of bounds. */
struct rally__barrier_proxy {
	_Atomic uint32_t magic;
	int32_t slot; /* robust participant slot, or -1 */
	pid_t pid;    /* the opener: a fork()ed child's copy owns no slot */
	uint32_t parties;
	uint32_t flags;
	int32_t spin;
	int64_t timeout_ns;
	uint64_t tag;
	struct rally__barrier *shared;
	void *map;
	size_t map_len;
	int (*action)(void *);
	void *action_arg;
};

_Static_assert(sizeof(struct rally__barrier_proxy) <= sizeof(rally_barrier_t),
               "a proxy fits in a rally_barrier_t");

/* What a call works on, read once at its start: after the release nothing
 * of the object is read again — not even its configuration. */
struct view {
	struct rally__barrier *b;
	_Atomic uint64_t *state; /* state_word(b, parties) */
	uint32_t parties;
	uint32_t flags;
	int32_t spin;
	int64_t timeout_ns;
	uint64_t tag;
	int (*action)(void *);
	void *action_arg;
	int slot; /* robust participant slot, or -1 */
	/* A wait/timedwait of a RALLY_STATS barrier: its arrival and how its
	 * waiting went (stats.h), else NULL. */
	struct rally__call *call;
};

static inline bool view_shared(const struct view *v)
{
	return v->flags & RALLY_SHARED;
}
static inline bool view_robust(const struct view *v)
{
	return v->flags & RALLY_ROBUST;
}
static inline bool view_stats(const struct view *v)
{
	return v->flags & RALLY_STATS;
}
/* An event of a RALLY_STATS barrier counted (stats.c); nothing without
 * the flag. */
static inline void stats_count(const struct view *v, enum rally__stat what)
{
	if (view_stats(v))
		rally__stats_event(v, what);
}
/* Whether the completer claims BUSY before it publishes: to run an action,
 * to count itself out of a robust barrier, or to count the phase. */
static inline bool view_busy_path(const struct view *v)
{
	return v->action || (v->flags & (RALLY_ROBUST | RALLY_STATS));
}

/* Whether `phase` still takes arrivals (arr's first incomplete phase):
 * then nobody has arrived in a later one. For rally__robust_arrived. */
static inline bool rally__takes_arrivals(const void *view, uint32_t phase)
{
	const struct view *v = view;
	uint64_t a = atomic_load_explicit(&v->b->arr, memory_order_acquire);
	return ((arr_phase(a) + arr_count(a) / v->parties) & SEQ_MASK) == phase;
}

/* ---- lifecycle.c ----------------------------------------------------------
 *
 * Calls in the object that no count of arrivals covers. Visitors — a reset,
 * an abort — make destroy() refuse (-EBUSY). Re-arrivals — a wait() between
 * leaving a phase that a reset cancelled and arriving again in the fresh
 * epoch — make it wait: they come back as arrivals, which it judges then. */

/* A call that begins: false if the barrier was destroyed meanwhile (a
 * destroy in progress is waited out). */
bool rally__visit(const struct view *v);
/* The same, for a caller that must not wait — one that destroy may itself
 * be waiting for (a pinned await): false while destroy runs too. */
bool rally__visit_now(const struct view *v);
/* The visitor's last touch (release). */
void rally__unvisit(const struct view *v);
/* A caller inside that leaves to arrive again: counted before it leaves
 * (seq_cst), uncounted once it has arrived again or given up (release). */
void rally__rearrival_begin(const struct view *v);
void rally__rearrival_end(const struct view *v);

/* Fills *v from a barrier or a handle; false if neither. */
bool rally__view(const rally_barrier_t *pub, struct view *v);
/* The same for a call that arrives or waits: 0, -EINVAL, or -EPERM from a
 * process that takes no part in a robust barrier. */
int rally__caller_view(const rally_barrier_t *pub, struct view *v);
int rally__barrier_init(struct rally__barrier *b, unsigned parties,
                        const rally_barrier_attr_t *attr);
/* -EINVAL unless attr is valid (NULL is). */
int rally__check_attr(const rally_barrier_attr_t *attr);

/* ---- phase.c --------------------------------------------------------------
 */

/* A caller's arrival: its phase, index and epoch (field of arr). */
struct arrival {
	uint32_t phase;
	uint32_t index;
	uint32_t epoch; /* arr's epoch field (the id mod 16) */
};

enum outcome { DONE, BROKEN, PENDING, COMPLETING };

/* Counts the caller in (robust trackers, arr); the last one moves arr on. */
struct arrival rally__arrive(const struct view *v);
/* The runaway guard, before a caller arrives: 0 if it may arrive, else the
 * code to return without arriving (guarded and broken). Guarded while a
 * non-robust reset runs, before its swap, it first waits the reset out
 * within dl, as a re-arrival (*back: counted; end it once arrived). */
int rally__guard(const struct view *v, const struct rally__deadline *dl,
                 bool no_block, bool *back);
/* A caller that found its phase broken: guards the barrier if the phase
 * was far ahead of the broken one. */
void rally__note_broken(const struct view *v, uint64_t s, struct arrival t);
/* No token's phase is this far ahead of the first incomplete phase (each
 * phase between holds a completer blocked until the one before publishes)
 * nor of an epoch's cut: one that seems so completed 2^27 phases ago. */
#define TOKEN_AHEAD_MAX (1u << 20)

/* The outcome of phase p of an epoch of parity `parity`, as state s says
 * (inline: a waiter's polls ask it each time). */
static inline enum outcome rally__classify(uint64_t s, uint32_t p,
                                           uint32_t parity)
{
	uint32_t k = st_ahead(s);
	bool broken = s & ST_BROKEN, busy = s & ST_BUSY;
	int32_t d = seq_diff(p, st_seq(s));
	if (st_parity(s) != parity) {
		/* gen still names the previous epoch: the reset that opened
		 * ours has yet to publish (BUSY), or died doing it (then
		 * everything from seq on is broken). Our phases all come after
		 * seq. */
		if (broken && !busy)
			return BROKEN;
		return k && d >= (int32_t)k ? BROKEN : PENDING;
	}
	if (d < 0)
		return DONE;
	if (broken) /* with BUSY: a reset of this epoch, which cancels all */
		return BROKEN;
	if (d == 0)
		return busy ? COMPLETING : PENDING;
	return k && d >= (int32_t)k ? BROKEN : PENDING;
}

/* Completes t's phase: parties - 1, or a code; the caller has left. */
int rally__complete(const struct view *v, struct arrival t,
                    const struct rally__deadline *dl);
/* Waits for t's phase (t not the last): its index or a code; has left. */
int rally__await_phase(const struct view *v, struct arrival t,
                       const struct rally__deadline *dl);
/* What complete and await_phase return to a caller that arrived while a
 * reset of its epoch ran (its first look found it): it has left, and
 * arrives again in the fresh epoch once the reset is done, as CPython's
 * wait() waits for a reset to finish before it enters. */
#define RALLY__REARRIVE INT_MIN
/* True if s is a reset in progress that cancels phase p of the epoch of
 * parity `parity` (a phase before its cut completed: not cancelled). */
static inline bool resetting(uint64_t s, uint32_t p, uint32_t parity)
{
	return (s & (ST_BUSY | ST_BROKEN)) == (ST_BUSY | ST_BROKEN) &&
	       st_parity(s) == parity && seq_diff(p, st_seq(s)) >= 0;
}
/* The caller's first look found a reset cancelling its phase: it leaves
 * and returns RALLY__REARRIVE as a re-arrival — or, on a robust barrier,
 * where one that died would be counted for ever, the broken code. */
int rally__rearrive_or_break(const struct view *v, uint64_t s,
                             struct arrival t);
/* Waits until a reset of the epoch of parity `parity` has published: false
 * if dl passed first. */
bool rally__await_reset(const struct view *v, uint32_t parity,
                        const struct rally__deadline *dl);
/* A re-arrival (counted) waits for that reset within dl: 0 to arrive again
 * (still counted), else — uncounted — RALLY_BROKEN if it must not block,
 * -EINTR if dl's go_on stopped it, RALLY_TIMEDOUT. */
int rally__rearrive_when_reset(const struct view *v, uint32_t parity,
                               const struct rally__deadline *dl,
                               bool no_block);
/* The caller's last touch of the object. */
void rally__leave(const struct view *v);
/* RALLY_OWNERDEAD if a robust participant died, else RALLY_BROKEN. */
int rally__broken_code(const struct view *v);
/* Breaks phase p (of the epoch of parity `parity`) at its caller's
 * deadline: BRK_DONE if it did; BRK_CHANGED with *s fresh if the state
 * moved first; BRK_TOO_FAR if p is more than AHEAD_MAX phases ahead of gen
 * (the caller waits for gen to come closer). */
enum brk { BRK_DONE, BRK_CHANGED, BRK_TOO_FAR };
enum brk rally__break_phase(const struct view *v, uint64_t *s, uint32_t p,
                            uint32_t parity);
/* The state that publishes the phases of s's epoch before `next` as
 * complete, with `ahead` carried down (reset.c publishes with it too). */
uint64_t rally__published(uint64_t s, uint32_t next, uint32_t parity);

/* A caller's waiting: its spin plan (worked out when first needed) and its
 * robust arrival note. */
struct waiting {
	struct rally__spin_plan plan;
	bool planned;
	bool noted;
	uint32_t note_phase;
};
/* Waits for state to change from *s (updated): spin, yield, sleep. On a
 * shared barrier it sleeps in slices of ROBUST_CHECK_NS, after each of
 * which a BUSY is checked for a dead holder (taken over if so) and a robust
 * waiter notes its arrival and scans for dead participants. With dl->stop
 * it sleeps in slices too, and asks go_on at least every RALLY__GO_ON_NS
 * (clock.h). Returns false when dl passed first, or go_on said stop. */
bool rally__wait_state(const struct view *v, uint64_t *s,
                       const struct rally__deadline *dl, struct waiting *w);
void rally__wake_if(const struct view *v, uint64_t old);
int rally__abort(const struct view *v);
/* The same for a dead participant found by a waiter's or a look's scan —
 * except while a reset runs: it forgets the dead, and an abort left for
 * its fresh epoch broke that again (review round 27). */
int rally__abort_for_dead(const struct view *v);

/* Whether this thread runs the action of the barrier tagged `tag` — the
 * innermost, or one that an action running here is nested in. */
bool rally__in_action(uint64_t tag);
/* Whether an action running here runs in this mapping of its barrier (a
 * handle's: closing it would unmap the memory the action returns to). */
bool rally__in_action_at(const struct rally__barrier *mapping);
/* A waiter's deadline passed with its phase pending: breaks the phase
 * (true), or returns false with *s fresh to classify again. */
bool rally__expire(const struct view *v, uint64_t *s, struct arrival t,
                   struct waiting *w);
/* Whether a wait until dl would wait for this thread's own action. */
bool rally__waits_on_itself(const struct view *v,
                            const struct rally__deadline *dl);

/* ---- holder.c -------------------------------------------------------------
 */

/* How often a wait that lasts looks for a dead holder or participant. */
#define ROBUST_CHECK_NS 50000000

/* This process's pid as a holder (pids fit in 22 bits on Linux). */
uint32_t rally__holder_self(void);
/* Whether the process holding BUSY in s died (shared barriers only). */
bool rally__holder_dead(const struct view *v, uint64_t s);
/* If BUSY in *s is held by a dead process, takes it over: the barrier is
 * left broken (a dead completer's arrival counted as left). Returns true if
 * state changed (then *s is stale: reload). */
bool rally__take_over(const struct view *v, uint64_t *s);
/* The same for the calls that never wait (test, await(token, 0), futex),
 * rate limited: true if state changed. */
bool rally__check_holder(const struct view *v, uint64_t *s);

/* ---- reset.c --------------------------------------------------------------
 */

/* Where a reset took effect: the arrivals it came after are those of
 * epochs before `epoch` and of `epoch`'s phases up to `last` — a reset
 * that ends an epoch names it and RALLY__WHOLE_EPOCH (hooks.h); one with
 * nothing to do, the current epoch and the phase before the next. */
struct rally__reset_at {
	uint32_t epoch;
	uint32_t last;
};
int rally__reset(const struct view *v, struct rally__reset_at *at);
/* The record read for epoch id (token.c): DONE, BROKEN, or PENDING (open:
 * ask the state). */
enum outcome rally__record_outcome(const struct rally__barrier *b, uint32_t id,
                                   uint32_t phase);
/* Whether callers remain inside the epoch (parity p) that began with
 * phase `base`, given arr and state: destroy and drain use it. */
bool rally__callers_inside(const struct view *v, uint64_t a, uint32_t cut);

#endif
