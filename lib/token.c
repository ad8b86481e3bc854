/* token.c — split-phase waiting: arrive now, await later.
 *
 * arrive() counts the caller as wait() does, and completes the phase if it
 * is the last. Otherwise it leaves at once, with a token naming the barrier
 * (its tag), the caller's epoch (the full id), phase and index. Between
 * arrive and await the caller is not inside the barrier: a reset does not
 * wait for it, and its epoch may end. So a token is judged by its epoch's
 * record once the epoch has ended (reset.c), and by the state while it is
 * open — state first, then the record: a reset writes the record before it
 * publishes. Eight resets later the record's slot holds another epoch's:
 * the token is stale and reports RALLY_BROKEN.
 *
 * While it waits, await pins its epoch's record slot (seq_cst, then reads
 * the record; reset waits for the pins before it writes: see record()), so
 * that resets during the await do not count toward the eight. On a robust
 * barrier it counts itself in its process's tracker instead: the reset
 * drains it, and a dead awaiter holds nothing. */
#define _GNU_SOURCE
#include <string.h>

#include "barrier_impl.h"
#include "export.h"
#include "hooks.h"
#include "points.h"
#include "trace.h"

#define KIND_SHIFT 28
enum token_kind {
	KIND_WAITER = 0x5,   /* value: the arrival index */
	KIND_RESOLVED = 0xa, /* the last arrival's: value is its outcome */
};

struct token_repr {
	uint32_t tag;        /* the barrier's tag, low half */
	uint32_t epoch;      /* the full epoch id (waiters) */
	uint32_t phase_kind; /* kind << KIND_SHIFT | phase */
	int32_t value;
};

_Static_assert(sizeof(struct token_repr) == sizeof(rally_token_t),
               "a token is 16 bytes");

static rally_token_t pack(const struct view *v, uint32_t epoch, uint32_t phase,
                          enum token_kind kind, int32_t value)
{
	struct token_repr r = {(uint32_t)v->tag, epoch,
	                       (uint32_t)kind << KIND_SHIFT | phase, value};
	rally_token_t out;
	memcpy(&out, &r, sizeof out);
	return out;
}

/* A token of this barrier (A token of another is -EINVAL). */
static bool unpack(const struct view *v, rally_token_t in, struct token_repr *r)
{
	memcpy(r, &in, sizeof *r);
	uint32_t kind = r->phase_kind >> KIND_SHIFT;
	return r->tag == (uint32_t)v->tag &&
	       (kind == KIND_WAITER || kind == KIND_RESOLVED);
}

static bool resolved(const struct token_repr *r)
{
	return r->phase_kind >> KIND_SHIFT == KIND_RESOLVED;
}

/* The last arrival's token: its arrive() returned the action's own code;
 * the token answers as the phase did for everyone. */
static int resolved_answer(const struct token_repr *r)
{
	if (r->value >= 0)
		return 1;
	return r->value == RALLY_OWNERDEAD ? RALLY_OWNERDEAD : RALLY_BROKEN;
}

static uint32_t phase_of(const struct token_repr *r)
{
	return r->phase_kind & SEQ_MASK;
}

/* rally_barrier_arrive()'s work, waiting (if it must) within dl: the last
 * arrival for an earlier phase to complete, a caller that arrived during a
 * reset for the reset to end. no_block: a timeout of 0, as
 * rally_barrier_timedwait() takes it. Inlined: rally_barrier_arrive()'s
 * constants fold away, and its path stays as it was. */
static inline __attribute__((always_inline)) int
arrive(const struct view *v, rally_token_t *token,
       const struct rally__deadline *dl, bool no_block)
{
	struct rally__barrier *b = v->b;
	bool back;
	int err = rally__guard(v, dl, no_block, &back);
	if (err) {
		*token = pack(v, 0, 0, KIND_RESOLVED, err);
		return err;
	}
	struct arrival t;
	uint64_t s;
	for (;;) {
		t = rally__arrive(v);
		if (back) /* counted as an arrival again */
			rally__rearrival_end(v);
		back = false;
		int rc = 0;
		if (t.index == v->parties - 1) {
			rc = rally__complete(v, t, dl);
		} else {
			s = atomic_load_explicit(v->state,
			                         memory_order_acquire);
			if (!resetting(s, t.phase, t.epoch & 1))
				break;
			rc = rally__rearrive_or_break(v, s, t);
		}
		if (rc != RALLY__REARRIVE) {
			*token =
			    pack(v, 0, t.phase, KIND_RESOLVED, rc < 0 ? rc : 0);
			return rc;
		}
		/* Arrived while a reset of our epoch ran: as wait() does,
		 * arrive again in the fresh epoch (a re-arrival meanwhile) —
		 * or, as timedwait, give up at the deadline, breaking nothing:
		 * we are in no phase. */
		back = true;
		rc = rally__rearrive_when_reset(v, t.epoch & 1, dl, no_block);
		if (rc) {
			*token = pack(v, 0, t.phase, KIND_RESOLVED, rc);
			return rc;
		}
	}
	if (rally__classify(s, t.phase, t.epoch & 1) == BROKEN) {
		rally__note_broken(v, s, t);
		int code = rally__broken_code(v);
		rally__leave(v);
		*token = pack(v, 0, t.phase, KIND_RESOLVED, code);
		return code;
	}
	/* While we are inside, no reset can move past our epoch: the newest
	 * id is ours or the next. */
	uint32_t id = epoch_full(
	    atomic_load_explicit(&b->epoch_id, memory_order_acquire), t.epoch);
	*token = pack(v, id, t.phase, KIND_WAITER, (int32_t)t.index);
	rally__leave(v);
	return (int)t.index;
}

RALLY_EXPORT int rally_barrier_arrive(rally_barrier_t *pub,
                                      rally_token_t *token)
{
	struct view v;
	int err = rally__caller_view(pub, &v);
	if (err || !token)
		return err ? err : -EINVAL;
	return arrive(&v, token, &rally__no_deadline, false);
}

/* hooks.h */
int rally__barrier_timedarrive(rally_barrier_t *pub, rally_token_t *token,
                               int64_t timeout_ns, bool (*go_on)(void *arg),
                               void *arg)
{
	struct view v;
	int err = rally__caller_view(pub, &v);
	if (err || !token || timeout_ns < RALLY_FOREVER)
		return err ? err : -EINVAL;
	struct rally__stop stop = {.go_on = go_on, .arg = arg};
	struct rally__deadline dl;
	rally__deadline_init(&dl, timeout_ns);
	if (go_on)
		dl.stop = &stop;
	return arrive(&v, token, &dl, timeout_ns == 0);
}

/* The token's outcome now; *s: the state it was judged by. */
static enum outcome judge(const struct view *v, const struct token_repr *r,
                          uint64_t *s)
{
	*s = atomic_load_explicit(v->state, memory_order_acquire);
	uint32_t p = phase_of(r);
	enum outcome o = rally__record_outcome(v->b, r->epoch, p);
	if (o != PENDING)
		return o;
	/* Phases compare within a window of 2^27: a token whose phase
	 * completed 2^27 phases ago (its epoch still current) seems ahead —
	 * judged so before classify(), which calls any phase ahead of a
	 * broken one broken (review round 10). */
	if (st_parity(*s) == (r->epoch & 1) &&
	    seq_diff(p, st_seq(*s)) > (int32_t)TOKEN_AHEAD_MAX)
		return DONE;
	return rally__classify(*s, p, r->epoch & 1);
}

RALLY_EXPORT int rally_barrier_test(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token_repr r;
	if (!rally__view(pub, &v) || !unpack(&v, token, &r))
		return -EINVAL;
	if (resolved(&r))
		return resolved_answer(&r);
	uint64_t s;
	for (;;) {
		switch (judge(&v, &r, &s)) {
		case DONE:
			return 1;
		case BROKEN:
			return rally__broken_code(&v);
		default:
			if (!rally__check_holder(&v, &s))
				return 0;
		}
	}
}

static void pin(const struct view *v, uint32_t id)
{
	if (view_robust(v))
		rally__robust_enter(&v->b->robust, v->slot);
	else
		atomic_fetch_add(&v->b->pins[id % RECORDS], 1);
	RALLY_POINT(TOKEN_PINNED);
}

static void unpin(const struct view *v, uint32_t id)
{
	RALLY_POINT(DECIDED);
	if (view_robust(v))
		rally__robust_leave(&v->b->robust, v->slot);
	else /* release: reset acquires the pins before it writes */
		atomic_fetch_sub_explicit(&v->b->pins[id % RECORDS], 1,
		                          memory_order_release);
}

/* A token names a phase its caller arrived in: never one beyond the
 * arrivals of its epoch — arr's phase, plus the whole phases its count
 * holds (callers beyond `parties` belong to later phases before the
 * completer moves arr on). One that does was made up (or corrupted): its
 * timeout would break a phase nobody reached, or wait for it unbounded. */
static bool beyond_arrivals(const struct view *v, const struct token_repr *r)
{
	uint64_t a = atomic_load_explicit(&v->b->arr, memory_order_acquire);
	uint32_t last = arr_phase(a) + arr_count(a) / v->parties;
	return arr_epoch(a) == (r->epoch & ARR_EPOCH_MASK) &&
	       seq_diff(phase_of(r), last & SEQ_MASK) > 0;
}

/* Polls of one token in a row are one wait to the spin policy (the Python
 * binding waits in 50 ms polls, to look for signals between them): each
 * began afresh, spent an explicit budget again and counted as a fruitless
 * wait of its own (review round 8). This thread's last poll that ended
 * pending leaves its plan here for the next poll of the same token. */
static _Thread_local struct {
	uint64_t tag;
	struct token_repr token;
	struct rally__spin_plan plan;
	bool valid;
} last_poll;

static bool same_token(const struct token_repr *a, const struct token_repr *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

/* await (soft false) and poll (soft true) of a waiter's token: 1 once its
 * phase completed, 0 when a soft deadline passed first, -EAGAIN when a
 * timeout of 0 finds the phase's action running, or a code. */
static int await_waiter(const struct view *v, const struct token_repr *r,
                        int64_t timeout_ns, bool soft)
{
	struct rally__deadline dl;
	rally__deadline_init(&dl, timeout_ns);
	struct arrival t = {phase_of(r), (uint32_t)r->value, r->epoch};
	struct waiting w = {.note_phase = t.phase};
	if (soft && last_poll.valid && last_poll.tag == v->tag &&
	    same_token(&last_poll.token, r)) {
		w.plan = last_poll.plan;
		w.planned = true;
	}
	last_poll.valid = false;
	pin(v, r->epoch);
	int rc = 0;
	for (;;) {
		uint64_t s;
		enum outcome o = judge(v, r, &s);
		if (o == DONE) {
			rc = 1;
			break;
		}
		if (o == BROKEN) {
			rc = rally__broken_code(v);
			break;
		}
		if (o == COMPLETING && !soft) {
			/* Every party arrived; the action runs. A timeout
			 * cannot break the phase now: wait for it — unless
			 * told not to block at all, or the action is this
			 * thread's own (review round 40: it waited for
			 * itself, past its timeout). */
			if (rally__in_action(v->tag)) {
				rc = -EDEADLK; /* before -EAGAIN: asked again
				                  from here, it never ends
				                  (review round 41) */
				break;
			}
			if (timeout_ns == 0) {
				if (rally__check_holder(v, &s))
					continue;
				rc = -EAGAIN;
				break;
			}
			rally__wait_state(v, &s, &rally__no_deadline, &w);
			continue;
		}
		bool itself = rally__waits_on_itself(v, &dl);
		if (!itself && rally__wait_state(v, &s, &dl, &w))
			continue;
		if (soft) {
			rc = itself ? -EDEADLK : 0;
			break;
		}
		if (beyond_arrivals(v, r)) {
			rc = -EINVAL;
			break;
		}
		if (rally__expire(v, &s, t, &w)) {
			if (!itself) /* -EDEADLK is no timeout */
				stats_count(v, STAT_TIMEOUT);
			rc = itself ? -EDEADLK : RALLY_TIMEDOUT;
			break;
		}
	}
	if (soft && rc == 0 && w.planned) {
		last_poll.tag = v->tag;
		last_poll.token = *r;
		last_poll.plan = w.plan;
		last_poll.valid = true;
	}
	unpin(v, r->epoch);
	return rc;
}

static int await_token(rally_barrier_t *pub, rally_token_t token,
                       int64_t timeout_ns, bool soft)
{
	struct view v;
	struct token_repr r;
	int err = rally__caller_view(pub, &v);
	if (err)
		return err;
	if (!unpack(&v, token, &r) || timeout_ns < RALLY_FOREVER)
		return -EINVAL;
	if (resolved(&r))
		return resolved_answer(&r);
	return await_waiter(&v, &r, timeout_ns, soft);
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
	struct token_repr r;
	if (!rally__view(pub, &v) || !unpack(&v, token, &r) || !word ||
	    !value || !shared)
		return -EINVAL;
	if (resolved(&r))
		return resolved_answer(&r);
	uint64_t s;
	for (;;) {
		enum outcome o = judge(&v, &r, &s);
		if (o == DONE)
			return 1;
		if (o == BROKEN)
			return rally__broken_code(&v);
		if (rally__check_holder(&v, &s))
			continue;
		if (announce_sleeper(v.state, &s))
			break;
	}
	*word = (const uint32_t *)gen_of(v.state);
	*value = (uint32_t)(s | ST_SLEEPERS);
	*shared = view_shared(&v);
	return 0;
}

/* ---- withdraw (hooks.h) ------------------------------------------------------
 *
 * asyncio.Barrier lets a cancelled waiter leave a phase that is still
 * filling: the phase then needs one arrival more. Here that is one CAS on
 * arr, from a value in which the token's phase (of its epoch) still takes
 * arrivals and holds ours — count between 1 and parties - 1, so nobody
 * has arrived in a later phase and no last arrival has been counted — to
 * one arrival less. Any arrival, completion (its fetch_add), reset (its
 * swap) or other withdraw in between makes the CAS fail, and we look
 * again. Arrival indices are positions, not names: the next caller gets
 * the index of the latest arrival again (as asyncio's count does).
 *
 * The token's caller left when it arrived (`out`, or its robust tracker):
 * taking an arrival away would make a reset or destroy count one caller
 * too few inside. So we first count ourselves in again — one caller too
 * many is safe: they wait for us — and the CAS takes us out with the
 * arrival; if it cannot, we leave as a caller does. */

/* One look: 0 withdrawn, 1 the phase has all its arrivals, 2 look again
 * (arr moved), or the broken code. */
static int withdraw_once(const struct view *v, const struct token_repr *r)
{
	struct rally__barrier *b = v->b;
	uint64_t a = atomic_load_explicit(&b->arr, memory_order_acquire);
	uint32_t id = epoch_full(
	    atomic_load_explicit(&b->epoch_id, memory_order_acquire),
	    arr_epoch(a));
	uint32_t c = arr_count(a);
	uint64_t s;
	/* A broken phase keeps its arrivals: its callers all return the
	 * broken code (one that breaks between this look and the CAS loses
	 * the arrival all the same: it is broken either way). */
	if (judge(v, r, &s) == BROKEN)
		return rally__broken_code(v);
	/* Not ours to take back: the phase is whole (or completed), or its
	 * epoch ended (then judge found it cancelled, above). The token's
	 * phase may be d phases past arr's: a last arrival counts itself
	 * (fetch_add) a step before it moves arr on (advance_arrivals), and
	 * callers in between are counted past `parties`, in the next phase
	 * (review round 16: such a phase was taken for whole, and the
	 * cancelled arrival stayed in it as a ghost). Those d phases' counts
	 * come first; the moves still to come subtract them: our CAS
	 * commutes with them. */
	int32_t d = seq_diff(phase_of(r), arr_phase(a));
	if (id != r->epoch || d < 0 || (uint64_t)d * v->parties >= c ||
	    c - (uint32_t)d * v->parties >= v->parties)
		return 1;
	RALLY_POINT(WITHDRAWING);
	return atomic_compare_exchange_strong_explicit(
	           &b->arr, &a, a - 1, memory_order_acq_rel,
	           memory_order_relaxed)
	           ? 0
	           : 2;
}

int rally__barrier_withdraw(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token_repr r;
	int err = rally__caller_view(pub, &v);
	if (err)
		return err;
	if (!unpack(&v, token, &r))
		return -EINVAL;
	if (resolved(&r)) /* the last arrival: it completed the phase */
		return resolved_answer(&r);
	/* Counted in again: acq_rel, as an arrival's fetch_add — a reset or
	 * destroy that reads `out` after this sees us inside. */
	if (view_robust(&v))
		rally__robust_enter(&v.b->robust, v.slot);
	else
		atomic_fetch_sub_explicit(&v.b->out, 1, memory_order_acq_rel);
	int rc;
	while ((rc = withdraw_once(&v, &r)) == 2)
		;
	if (rc == 0) {
		/* Out with the arrival: nothing to leave (a robust caller's
		 * tracker counts calls, not arrivals: it leaves), and its
		 * note for rally_barrier_late goes with it. */
		if (view_robust(&v)) {
			rally__robust_unarrived(&v.b->robust, v.slot,
			                        phase_of(&r));
			rally__robust_leave(&v.b->robust, v.slot);
		}
		return 0;
	}
	rally__leave(&v);
	return rc;
}

/* hooks.h. What a robust waiter does at the end of each sleep slice
 * (phase.c), for a token that an event loop waits on without a thread of
 * its own: note its arrival, scan for the dead (rate limited), and break
 * the barrier if one is. */
void rally__token_look(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token_repr r;
	if (rally__caller_view(pub, &v) || !view_robust(&v) ||
	    !unpack(&v, token, &r) || resolved(&r))
		return;
	/* Counted in, as an await is while it notes: a reset drains us
	 * before it forgets the notes, and one that began before finds the
	 * token cancelled here. Only a pending token's arrival is noted: a
	 * cancelled one of phase cut + 1 named the fresh epoch's first phase,
	 * and late() hid a process that never arrived there (review round
	 * 25). */
	pin(&v, r.epoch);
	uint64_t s;
	enum outcome o = judge(&v, &r, &s);
	if (o == PENDING || o == COMPLETING)
		rally__robust_arrived(&v.b->robust, v.slot, phase_of(&r),
		                      rally__takes_arrivals, &v);
	/* Still counted in: no destroy frees the barrier under the abort. */
	if (rally__robust_check(&v.b->robust))
		rally__abort_for_dead(&v);
	unpin(&v, r.epoch);
}

bool rally__token_stale(rally_barrier_t *pub, rally_token_t token)
{
	struct view v;
	struct token_repr r;
	if (!rally__view(pub, &v) || !unpack(&v, token, &r) || resolved(&r))
		return false;
	uint64_t rec = atomic_load(&v.b->rec[r.epoch % RECORDS]);
	return (int32_t)(rec_id(rec) - r.epoch) > 0;
}

int rally__token_arrived_by(rally_token_t token, uint32_t epoch,
                            uint32_t last)
{
	struct token_repr r;
	memcpy(&r, &token, sizeof r);
	if (r.phase_kind >> KIND_SHIFT != KIND_WAITER)
		return -EINVAL;
	if (r.epoch != epoch)
		return (int32_t)(epoch - r.epoch) > 0;
	if (last == RALLY__WHOLE_EPOCH)
		return 1;
	/* Phases compare as judge() takes them: one that seems more than
	 * TOKEN_AHEAD_MAX beyond `last` came that long before it (review
	 * round 36). */
	int32_t d = seq_diff(phase_of(&r), last);
	return d <= 0 || d > (int32_t)TOKEN_AHEAD_MAX;
}

void rally__trace_token(const rally_barrier_t *pub, rally_token_t token,
                        int index, int64_t t0, int rc)
{
	struct view v;
	struct token_repr r;
	if (!atomic_load_explicit(&rally__trace_on, memory_order_relaxed) ||
	    !rally__view(pub, &v))
		return;
	uint32_t phase = index >= 0 && unpack(&v, token, &r) ? phase_of(&r) : 0;
	rally__trace_wait(v.tag, view_shared(&v), phase, index, t0,
	                  rally__now_ns(), rc);
}
