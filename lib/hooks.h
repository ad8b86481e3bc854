/* hooks.h — internal entry points for tests and benchmarks, which link a
 * static library. Not part of the API. */
#ifndef RALLY_HOOKS_H
#define RALLY_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "points.h"
#include "rally.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts an idle, freshly initialised barrier at sequence number `phase`
 * (below 2^RALLY__SEQ_BITS), so that tests cross the wrap-around of the
 * sequence quickly. Returns 0, or -EINVAL (not a barrier in place, not
 * idle, or `phase` out of range). */
int rally__barrier_set_phase(rally_barrier_t *b, uint32_t phase);

/* Moves an idle barrier (robust too) on by n phases (below 2^28) as if they
 * had completed and every caller had left, its epoch's baseline where it
 * was: tests reach the baseline's rebase and the 2^28 wrap of the phase
 * differences it spans. 0 or -EINVAL. */
int rally__barrier_skip_phases(rally_barrier_t *b, uint32_t n);
/* As if n phases' worth of callers had arrived at the barrier, whose next
 * phase is broken and empty, and left (a loop that retries RALLY_BROKEN):
 * -EINVAL unless it is so. */
int rally__barrier_arrive_broken(rally_barrier_t *b, uint32_t n);

/* Takes BUSY over as a waiter does from a dead holder, whether or not it
 * lives (as when /proc misleads): -EINVAL unless BUSY is held. */
int rally__barrier_seize_busy(rally_barrier_t *b);

/* Plants, in a free slot of robust barrier b, a participant that has this
 * process's pid but started `earlier` clock ticks before it — a dead
 * process whose pid came back as ours — with `inside` callers in: the
 * slot or a negative code. */
int rally__barrier_plant_pid_twin(rally_barrier_t *b, uint64_t earlier,
                                  unsigned inside);

/* Whether the runaway guard is on (phase.c): 1, 0, or -EINVAL. */
int rally__barrier_guarded(rally_barrier_t *b);

/* A throttled waiter's yield that found no arrival and took less than `ns`
 * is taken to have run nobody else (wait.c): the waiter spins after all.
 * 1500 by default; 0 makes no yield such, INT64_MAX every fruitless one —
 * the policy made independent of how busy the test machine is. */
void rally__set_alone_yield_ns(int64_t ns);

/* The sequence numbers wrap at 2^RALLY__SEQ_BITS. */
#define RALLY__SEQ_BITS 28

/* Whether a split-phase token's epoch record was reused (8 resets since its
 * arrival): its outcome is then unknown and reported as RALLY_BROKEN. */
bool rally__token_stale(rally_barrier_t *b, rally_token_t token);

/* rally_barrier_reset(), telling where it took effect (rally.aio's
 * reset() tells by it which waits came before it: review round 34):
 * every arrival of an epoch before *epoch, and of *epoch's phases up to
 * *last, came before it. A reset that ends an epoch names it and
 * RALLY__WHOLE_EPOCH: every arrival of that epoch came before (completed,
 * or cancelled by it) and none of the next; with nothing to reset, the
 * current epoch and the phase before the next. 0 or a code as
 * rally_barrier_reset()'s. */
#define RALLY__WHOLE_EPOCH UINT32_MAX

int rally__barrier_reset_at(rally_barrier_t *b, uint32_t *epoch,
                            uint32_t *last);

/* Whether a waiter's token arrived before a reset or abort that took
 * effect at (epoch, last) (rally__barrier_reset_at, _abort_at) — for an
 * abort, whether its phase had completed before it: 1 or 0;
 * -EINVAL for the last arrival's. Reads only the token (of the barrier
 * that answered), which may be finished. */
int rally__token_arrived_by(rally_token_t token, uint32_t epoch,
                            uint32_t last);

/* rally_barrier_arrive() for a runtime that waits in slices (the Python
 * binding, the rally command), which must end a wait at its deadline or
 * when a signal comes also while the arrival itself blocks: the last
 * arrival of a phase waits until the phases before it complete (while an
 * earlier phase's action runs, say), and a caller arriving while a reset
 * runs waits for the reset to end. Those waits end at timeout_ns
 * (RALLY_FOREVER, 0: do not block, or more: as rally_barrier_timedwait
 * takes it), and ask go_on(arg) at least every 50 ms while they block (never
 * when nothing blocks; go_on may be NULL); once it answers false it is not
 * asked again and the wait ends as at its deadline. They end as
 * rally_barrier_timedwait's do: a last arrival breaks its own phase and
 * returns RALLY_TIMEDOUT; a caller waiting for a reset is in no phase and
 * breaks nothing: RALLY_TIMEDOUT at the deadline (RALLY_BROKEN if the
 * timeout is 0), -EINTR if go_on stopped it (one that arrived in the
 * fresh epoch before the reset published is in the fresh phase: it breaks
 * it, RALLY_TIMEDOUT). A last arrival more than 1023 fully arrived phases
 * ahead of gen (AHEAD_MAX) cannot break its phase: it waits, without
 * asking go_on, until it can. Otherwise as
 * rally_barrier_arrive: the arrival index, or a code (-EINVAL also for a
 * timeout below RALLY_FOREVER). Not exported by the shared library: link
 * librally.a. */
int rally__barrier_timedarrive(rally_barrier_t *b, rally_token_t *token,
                               int64_t timeout_ns, bool (*go_on)(void *arg),
                               void *arg);

/* Takes a split-phase arrival back, as asyncio.Barrier's cancelled waiter
 * leaves a phase that is still filling (rally.AsyncBarrier): 0 when the
 * token's phase still waited for parties — it now needs one arrival more,
 * the token is void (do not await it), and the next caller to arrive gets
 * the index of the latest arrival again (asyncio's count does the same);
 * 1 when it had all its arrivals (it completes, or completed: the token
 * stands — the last arrival's token too); RALLY_BROKEN or RALLY_OWNERDEAD
 * when its phase was broken or a reset cancelled it (a break that comes
 * after the look may still find the arrival withdrawn: 0); -EINVAL,
 * -EPERM as rally_barrier_await(). Withdraw a token at most once, before
 * the barrier is destroyed. On a RALLY_STATS barrier a withdrawn first
 * arrival's time stays the phase's first arrival (the skew counts from
 * it). */
int rally__barrier_withdraw(rally_barrier_t *b, rally_token_t token);

/* For a pending token of a RALLY_ROBUST barrier that an event loop waits
 * on without a thread (rally.aio): what a waiter does after each 50 ms
 * sleep — notes the arrival (rally_barrier_late) and scans for dead
 * participants (at most every 25 ms), breaking the barrier if one died,
 * so that the wait then returns RALLY_OWNERDEAD. Nothing on other
 * barriers. Call it every 50 ms or so while the token is pending. */
void rally__token_look(rally_barrier_t *b, rally_token_t token);

/* Whether an action, a completion or a reset runs on b now (BUSY): an
 * arrival or a reset made now would wait for it (rally.aio waits for that
 * off its event loop). A look: it may begin or end just after. On a
 * shared barrier a holder that died is taken over (as by
 * rally_barrier_test(), at most every 25 ms): polling it ends. */
bool rally__barrier_busy(const rally_barrier_t *b);

/* rally_barrier_abort(b), telling whether it was left for the next phase
 * (1: a phase's action, completion or reset ran; that phase completes
 * first) or took effect at once (0); -EINVAL. rally.aio tells by it which
 * of its released waits the abort makes raise (review round 27). */
int rally__barrier_abort_deferred(rally_barrier_t *b);

/* rally__barrier_abort_deferred(), telling also where the abort took
 * effect, as rally__barrier_reset_at() does: the phases up to *last of
 * *epoch (and every earlier epoch's) had completed or broken before it —
 * a phase whose action, completion or reset ran completes (or is reset)
 * after it. rally.aio's abort() makes those waits raise that it had
 * released (review round 35). */
int rally__barrier_abort_at(rally_barrier_t *b, uint32_t *epoch,
                            uint32_t *last);

/* The code a caller of b hears while b is broken: RALLY_OWNERDEAD if the
 * barrier recorded a participant's death, else RALLY_BROKEN — what a
 * thread's arrival returns (rally.aio raises it before it would arrive:
 * review round 26, a /proc read of its own told coroutines of a death
 * the threads did not hear of). -EINVAL for a bad handle. */
int rally__barrier_broken_code(const rally_barrier_t *b);

/* This process's pid, kept across calls (and forgotten by fork()'s child
 * handler): getpid() is a system call, and rally.aio asks for it in
 * every wait (its fork guards). */
pid_t rally__self_pid(void);

/* For an event loop that waits for that without a thread (rally.aio): 1
 * if b is not BUSY (a dead holder taken over, as above), else 0 with the
 * futex word (the state's low half), the value it holds while BUSY —
 * sleepers announced, so that the publish that clears BUSY wakes it — and
 * whether it is shared; -EINVAL. Sleep while *word == *value, then ask
 * again (other changes wake the word too; on a shared barrier sleep with
 * a timeout, 50 ms, as a holder may die). */
int rally__barrier_busy_futex(const rally_barrier_t *b, const uint32_t **word,
                              uint32_t *value, bool *shared);

/* A RALLY_STATS barrier counts a wait made of split-phase calls (the Python
 * binding's: arrive, then polls): arrival index `index`, arrived at
 * `arrived_ns` (rally__now_ns()), over now — by its time, not by how it went
 * (spun, yielded, slept). Only while the caller keeps the object mapped (a
 * named barrier's handle): it writes after the release. Nothing if b is
 * not a barrier with RALLY_STATS. */
void rally__barrier_count_wait(const rally_barrier_t *b, unsigned index,
                               int64_t arrived_ns);
int64_t rally__now_ns(void);

/* Under RALLY_TRACE (trace.c), records a wait made of split-phase calls as
 * wait() records its own: from t0 (rally__now_ns()) to now, the token's
 * phase, arrival index `index` (-1 if it never arrived: token unused) and
 * outcome rc. Nothing when not tracing. */
void rally__trace_token(const rally_barrier_t *b, rally_token_t token,
                        int index, int64_t t0, int rc);

/* The length of the valid UTF-8 character at s (1 to 4), or 0 if none
 * begins there (JSON writers: a byte that is none is escaped). */
size_t rally__utf8_seq(const unsigned char *s);

/* RALLY_TRACE from a program (the benchmark, tests): start tracing into
 * path as the variable would (0, -EINVAL, -EBUSY if on already); stop:
 * write every thread's waits and close the file, as at exit. */
int rally__trace_start(const char *path);
void rally__trace_stop(void);

/* Futex system calls (wait + wake) this process has made. */
uint64_t rally__futex_calls(void);

/* ---- delay points: only in the test variant (librally_test.a) ---------- */

/* Called by a thread that reaches point p (see points.h), before it parks. */
typedef void (*rally__point_fn)(enum rally__point p, void *arg);

/* Runs fn(p, arg) in every thread that reaches p; fn NULL: none. */
void rally__point_on(enum rally__point p, rally__point_fn fn, void *arg);

/* This thread's tag (0 at start): pauses can be armed for one tag. */
void rally__point_tag(int tag);

/* The next thread with tag `tag` (0: any) to reach p, after `skip` such
 * hits, parks there until rally__pause_release(p). */
void rally__pause_arm(enum rally__point p, int tag, unsigned skip);

/* Waits until `threads` threads are parked at p; false after timeout_ns. */
bool rally__pause_wait(enum rally__point p, unsigned threads,
                       int64_t timeout_ns);

/* Releases every thread parked at p and disarms it. */
void rally__pause_release(enum rally__point p);

/* Threads parked at p now. */
unsigned rally__pause_parked(enum rally__point p);

/* At every point, with probability per_mille / 1000, a yield, a sleep of
 * 1-64 us or a short spin (0: off). */
void rally__delay_random(unsigned per_mille, uint64_t seed);

/* This thread's latest arrival at any barrier: its epoch's id, phase and
 * index (a caller that arrived again after a reset: the second). False if
 * it never arrived. */
bool rally__last_arrival(uint32_t *epoch, uint32_t *phase, uint32_t *index);

/* Threads that reached p so far. */
uint64_t rally__point_hits(enum rally__point p);
const char *rally__point_name(enum rally__point p);

#ifdef __cplusplus
}
#endif

#endif
