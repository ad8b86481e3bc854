/*
 * rally.h — phase synchronisation for threads and processes on Linux.
 *
 * rally gives C programs the barrier of Python's threading.Barrier — an
 * arrival index, an action run once per phase, timeouts, abort, reset and a
 * broken state — at the speed of a few atomic operations per phase. It is
 * built on atomics and futexes; there is no mutex anywhere.
 *
 * This header is the manual. Every declaration states its contract.
 *
 * Conventions
 *   - Functions that can fail return int: 0 (or a non-negative result) on
 *     success, a negative errno-style code on failure. They do not report
 *     through errno (the system calls inside may leave it changed) and
 *     never print. rally_strerror() names every code.
 *   - Times are int64_t nanoseconds, relative, measured on CLOCK_MONOTONIC.
 *     RALLY_FOREVER (-1) means no timeout, 0 means "do not block"; any other
 *     negative value is -EINVAL.
 *   - Objects live in memory the caller owns, as pthread_barrier_t does. Their
 *     size is part of the ABI, their fields are private. Zeroed memory is not
 *     an initialised object: every call on it returns -EINVAL, as does every
 *     call after destroy.
 *   - The objects need only 8-byte alignment (malloc is enough); 64-byte
 *     alignment keeps neighbouring data off their cache lines.
 *   - Signals never end a wait: handlers run and the wait goes on; no call
 *     returns EINTR, and a timed wait still ends at its deadline.
 */
#ifndef RALLY_H
#define RALLY_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes (values fixed) --------------------------------------- */

/* The barrier is broken, or became broken while this caller waited: another
 * caller timed out, the action failed, or abort/reset was called. */
#define RALLY_BROKEN (-EPIPE)
/* This caller's own timeout expired before its phase completed; the barrier
 * is now broken for everyone else in the phase. */
#define RALLY_TIMEDOUT (-ETIMEDOUT)
/* A participant process of a RALLY_ROBUST barrier died. */
#define RALLY_OWNERDEAD (-EOWNERDEAD)

/* Other codes: -EINVAL (bad arguments, not an initialised object), -EBUSY
 * (in use), -EDEADLK (from the barrier's own action), -EAGAIN (a split-phase
 * await that must not block found its phase's action still running),
 * -ENOTSUP, and from named objects -ENOENT, -EEXIST, -EACCES, -ENOMEM,
 * -ENAMETOOLONG, -ENOSPC or any other errno that shm_open(), ftruncate() or
 * mmap() reported (-ELOOP for a symlink, -EMFILE ...): rally_strerror()
 * names each. */

/* Returns a static English text for any code a rally function returns (and
 * for 0). Never NULL. */
const char *rally_strerror(int code);

/* ---- timeouts ------------------------------------------------------------ */

#define RALLY_FOREVER ((int64_t)-1)

/* ---- barrier ------------------------------------------------------------- */

/* The largest number of parties a barrier accepts. */
#define RALLY_PARTIES_MAX (1u << 30)

/* attr.flags */
#define RALLY_SHARED 0x1u /* usable from several processes (shared mapping) */
#define RALLY_ROBUST                                                           \
	0x2u /* with RALLY_SHARED: a dead participant breaks it                \
	      */
/* rally_barrier_open() only: open to look, abort or reset — a monitor —
 * and take no part (robust: no participant slot; arrive and wait return
 * -EPERM). */
#define RALLY_WATCH 0x8u
/* Keep statistics in the object (rally_barrier_stats()); not with
 * RALLY_ROBUST, whose participants use the same room (-EINVAL). */
#define RALLY_STATS 0x4u

/* attr.spin */
#define RALLY_SPIN_AUTO  0  /* spin briefly only while it can pay off: not
                               with more parties than CPUs, nor while this
                               thread's recent spins on the barrier found
                               nothing (a busy neighbour; remembered for
                               the last 8 barriers a thread waited on) —
                               unless a yield shows the party awaited on
                               another CPU (README: the spin policy) */
#define RALLY_SPIN_NEVER -1 /* sleep on the futex at once */

typedef struct rally_barrier_attr {
	/* Run once per phase by the last caller to arrive, before anyone is
	 * released. A non-zero return breaks the barrier: the others of the
	 * phase get RALLY_BROKEN, the caller that ran it gets the returned
	 * code if it is negative, else RALLY_BROKEN. NULL: no action. The
	 * action may call rally_barrier_abort(); rally_barrier_reset() and
	 * rally_barrier_destroy() on its own barrier return -EDEADLK / -EBUSY
	 * (also from an action nested in it, in the same thread: one of a
	 * barrier it waits on; an action run by another thread that resets
	 * a barrier whose action waits for it waits for ever, as with
	 * threading.Barrier), rally_barrier_close() of the handle it runs
	 * through -EBUSY. A wait on its own barrier from the action waits for
	 * a phase that cannot complete before the action returns: with a
	 * timeout it ends there (RALLY_TIMEDOUT); with none (wait without a
	 * default timeout, arrive, await RALLY_FOREVER) it returns -EDEADLK at
	 * once, its phase broken as a timeout breaks it (not counted as one);
	 * poll RALLY_FOREVER returns -EDEADLK and, as a poll does, breaks
	 * nothing. Behind more than 1023 fully arrived phases queued
	 * after the action's, too far ahead to break its own, it breaks every
	 * phase after the action's, as rally_barrier_abort() from the action
	 * does. An await of a token of the phase whose action runs returns
	 * -EDEADLK whatever its timeout (0 too: asking again would never
	 * end), and nothing breaks; rally_barrier_futex() of such a token
	 * gives a word that changes only after the action returns: not one
	 * to sleep on there. A child fork()ed in the action runs none of it
	 * (its calls are answered as anyone's) and must not return from it:
	 * it would complete the phase a second time (_exit or exec instead).
	 * The action returns: leaving it by longjmp() is not allowed.
	 */
	int (*action)(void *arg);
	void *action_arg;
	/* Default timeout of rally_barrier_wait(); 0 (the zero value) and
	 * RALLY_FOREVER mean none. */
	int64_t timeout_ns;
	/* RALLY_SHARED, RALLY_ROBUST, RALLY_STATS. */
	unsigned flags;
	/* RALLY_SPIN_AUTO (0), RALLY_SPIN_NEVER (-1), or a budget of spin
	 * iterations before sleeping. With RALLY_SPIN_AUTO the environment
	 * variable RALLY_SPIN (auto, never, or a number) decides for the run.
	 */
	int spin;
} rally_barrier_attr_t;

/* 1024 bytes: configuration, the outcome of recent resets, the arrival
 * counter on a cache line of its own — with the futex word beside it for
 * at most 4 parties (a phase then moves one line, not two; at 16-byte
 * alignment, malloc's, the two never split), on a line of its own for
 * more —, and room for robust mode. */
typedef struct rally_barrier {
	uint64_t opaque_[128];
} rally_barrier_t;

/* Initialises *b for `parties` callers per phase (1 ..= RALLY_PARTIES_MAX).
 * attr may be NULL (no action, no default timeout, private, auto spin).
 * -EINVAL: b NULL, parties out of range, unknown flags, RALLY_ROBUST without
 * RALLY_SHARED, a negative timeout other than RALLY_FOREVER, a spin below
 * RALLY_SPIN_NEVER. */
int rally_barrier_init(rally_barrier_t *b, unsigned parties,
                       const rally_barrier_attr_t *attr);

/* Destroys a barrier initialised in place (a handle from rally_barrier_open()
 * is closed instead: -EINVAL). -EBUSY while callers are blocked in a phase that
 * has not completed (or while its action runs), or while a reset or an
 * abort is in progress — also when a caller arrives in a phase that waits,
 * or a reset or an abort begins, while destroy runs; the barrier stays
 * usable. Callers released by a completed phase, or by a broken one, may
 * still be on their way out — the last arrival of a phase too, and its
 * action if it begins meanwhile: destroy waits for them (on a shared
 * barrier it takes over from one whose process died), so that the memory
 * may be freed as soon as it returns 0. After that every call on *b returns -EINVAL. (A process killed
 * inside reset or abort leaves destroy answering -EBUSY. On a RALLY_SHARED
 * barrier that is not robust, a process killed while it waits never
 * leaves: destroy answers -EBUSY once nothing has moved for a second. A
 * call that races destroy may get -EINVAL even if destroy then answers
 * -EBUSY; one that begins once destroy has returned 0 is the program's
 * error. destroy waits for or refuses waits, arrivals, awaits, resets and
 * aborts; the calls that only read — parties, n_waiting, broken, phase,
 * test, futex, late, dead — are not counted: they must not overlap it.) */
int rally_barrier_destroy(rally_barrier_t *b);

/* Waits until `parties` callers have arrived in this caller's phase, with
 * the attr's default timeout. Returns the caller's arrival index in its
 * phase, 0 for the first to arrive and parties - 1 for the last (which ran
 * the action); or RALLY_BROKEN, RALLY_TIMEDOUT, RALLY_OWNERDEAD, the
 * action's negative code, or -EINVAL.
 *
 * A caller that arrives once a phase is complete belongs to the next phase,
 * so more callers than parties may share a barrier; nobody blocks while the
 * callers of an earlier phase are leaving. Once the last caller has completed
 * a phase, every caller of that phase returns its index, even if its own
 * timeout expires at the same moment.
 *
 * Timeouts. A caller whose timeout expires breaks its own phase, never
 * another: if an earlier phase is still completing (its parties have all
 * arrived; its action may run), that one completes and the caller's phase
 * is born broken. Once the last party of the caller's own phase has taken
 * it up (its claim, a CAS right after its arrival, before the action
 * runs), its timeout can no longer expire (as in CPython, where the action runs under the
 * barrier's lock) — except that on a RALLY_SHARED barrier a waiter that
 * finds the process running the action (or a reset) dead breaks the
 * barrier and returns RALLY_BROKEN (RALLY_OWNERDEAD if robust): no wait
 * hangs on a dead action runner or resetter, timed or not. Waits on a
 * shared barrier check every 50 ms while an action or a reset lasts. Death
 * is read from /proc/PID (a process whose main thread called pthread_exit()
 * lives while any thread does): the processes must see each other there
 * (one PID namespace, no hidepid), else a live runner is taken for dead and
 * its phase breaks for all its callers, the runner included. Other
 * deaths on a barrier that is not RALLY_ROBUST — a process killed while it
 * waits — are not seen: a reset then waits for the dead caller to leave,
 * and destroy answers -EBUSY. Use RALLY_ROBUST where processes may die.
 *
 * A caller that arrives while a reset runs waits for it to finish and joins
 * the fresh phase, as CPython's does; if its timeout expires first it
 * returns RALLY_TIMEDOUT and breaks nothing (it is in no phase). (One that
 * arrives in the reset's last steps — once it has moved the arrivals into
 * the fresh epoch, before it publishes — is in the fresh phase already:
 * its timeout breaks that phase, as any caller's breaks its own.) On a
 * RALLY_ROBUST barrier it returns RALLY_BROKEN at once instead: a process
 * that died while waiting there could not be accounted for. */
int rally_barrier_wait(rally_barrier_t *b);

/* rally_barrier_wait() with this call's own timeout instead of the default:
 * RALLY_FOREVER waits without one. 0 does not block: the last arrival of a
 * phase completes it (running the action, as threading.Barrier.wait(0)
 * does), any other caller breaks its phase and returns RALLY_TIMEDOUT at
 * once — also when an earlier phase's action or a reset is running (during
 * a reset it returns RALLY_BROKEN: the barrier is broken at that instant).
 * The one wait of a zero timeout: a caller whose phase gets its last party
 * between its own arrival and its first look waits for that phase's action,
 * whose outcome is its own. A caller more than 1023 fully arrived phases
 * ahead of the phase completing (more callers than parties by that much,
 * behind a slow action) cannot break its phase: past its deadline it waits
 * until the phases before it complete, then breaks it. */
int rally_barrier_timedwait(rally_barrier_t *b, int64_t timeout_ns);

/* Breaks the barrier: current waiters return RALLY_BROKEN, and so does
 * every wait until rally_barrier_reset(). Called while an action runs, the
 * phase of that action still completes and the next one is broken.
 * Returns 0, or -EINVAL. */
int rally_barrier_abort(rally_barrier_t *b);

/* Returns the barrier to its empty, unbroken state. Callers that were
 * waiting in the phase it ends return RALLY_BROKEN; callers that arrive
 * after it returns belong to the fresh phase. Waits for a running action to
 * end, and for the callers of the phase it cancels to leave (they do at
 * once; one that is stopped, SIGSTOP, holds the reset until it runs again,
 * and one that died inside a barrier that is not robust, for ever; so not
 * from a signal handler that interrupted this thread's own wait on the
 * barrier: it would wait for that wait). Returns 0, -EINVAL, or -EDEADLK
 * when called from the barrier's own action. */
int rally_barrier_reset(rally_barrier_t *b);

/* The number of parties, or 0 if b is not a barrier. */
unsigned rally_barrier_parties(const rally_barrier_t *b);

/* The number of callers that have arrived in the current, incomplete phase
 * (0 while broken, or if b is not a barrier): parties while the phase's
 * action runs, as in CPython. A snapshot. */
unsigned rally_barrier_n_waiting(const rally_barrier_t *b);

/* Whether the barrier is broken (false if b is not a barrier). */
bool rally_barrier_broken(const rally_barrier_t *b);

/* The number of the current, incomplete phase (0 at init; completions and
 * resets move it on; it wraps at 2^28). For logs and status displays. */
unsigned rally_barrier_phase(const rally_barrier_t *b);

/* ---- split-phase waiting (asyncio.Barrier, C++20 arrive/wait) ----------- */

/* Names a caller's arrival in a phase. 16 bytes, passed by value. */
typedef struct rally_token {
	uint64_t opaque_[2];
} rally_token_t;

/* Arrives without waiting for the others: returns the arrival index and
 * stores a token for rally_barrier_await()/rally_barrier_test(). The last
 * arrival runs the action and completes the phase here, and returns as
 * rally_barrier_wait() would (parties - 1, or the action's code, or
 * RALLY_BROKEN). It does not wait for the other parties. It waits only
 * when callers outnumber parties and the previous phase is still
 * completing — the last arrival waits for that phase, its action included,
 * before completing its own — or when it arrives while a reset runs (as
 * wait() does; on a RALLY_ROBUST barrier it returns RALLY_BROKEN instead).
 * Those waits have no timeout (the Python binding and the rally command,
 * which must honour theirs and Ctrl-C there too, arrive through an
 * internal variant with a deadline); from the action of the phase it would
 * wait for, -EDEADLK (attr.action). Between arrive and await the caller
 * computes: the overlap HPC codes get
 * from MPI_Ibarrier. arrive + await behaves as one wait: action, timeouts,
 * abort, reset and the broken state alike. -EINVAL: bad arguments. */
int rally_barrier_arrive(rally_barrier_t *b, rally_token_t *token);

/* Waits for the token's phase: 0 once it completed; RALLY_BROKEN or
 * RALLY_OWNERDEAD; RALLY_TIMEDOUT when timeout_ns passes first (which
 * breaks the barrier, as in wait); -EINVAL (also for a token of another
 * barrier). A timeout of 0 never blocks: while every party of the token's
 * phase has arrived and its action still runs (in another thread) it
 * returns -EAGAIN (nothing
 * broken, ask again); otherwise as wait(0) would. -EDEADLK from the action
 * that its phase waits for (attr.action). Await every token before
 * the barrier is destroyed. A token is light (it pins nothing between
 * arrive and await), so its outcome is kept for 8 resets: should a 9th
 * reset come between its arrive and its await, it gets RALLY_BROKEN even if
 * its phase had completed (resets during the await do not count). Phases
 * are numbered modulo 2^28: a token is judged right if awaited within
 * 2^28 - 2^20 (about 267 million) phases of its arrival. Calling it again
 * gives the same answer, except that a RALLY_TIMEDOUT is RALLY_BROKEN the
 * next time (the phase it broke). */
int rally_barrier_await(rally_barrier_t *b, rally_token_t token,
                        int64_t timeout_ns);

/* Does not wait: 1 when the token's phase completed, 0 not yet (also while
 * its action runs), or a negative code (as rally_barrier_await()). On a
 * RALLY_SHARED barrier it, await(token, 0) and rally_barrier_futex() find
 * a dead action runner (or resetter) as waits do: asked every 50 ms or
 * so, they break the barrier and answer RALLY_BROKEN. */
int rally_barrier_test(rally_barrier_t *b, rally_token_t token);

/* rally_barrier_test() that waits up to timeout_ns for an answer other than
 * 0, as rally_barrier_await() waits, but breaks nothing when the time is up:
 * it returns 0 and the token is still pending. For callers that must look
 * up now and then — a language runtime checking for Ctrl-C between slices
 * of a long wait — and then end it: rally_barrier_await() with the time
 * left (0 breaks the barrier if the phase is still pending, as a timeout
 * does). Unlike a timed wait, its time can run out while an action runs.
 * From the action its phase waits for, with RALLY_FOREVER: -EDEADLK. */
int rally_barrier_poll(rally_barrier_t *b, rally_token_t token,
                       int64_t timeout_ns);

/* For an event loop that waits without a thread of its own (futex_waitv,
 * io_uring's futex wait): the 32-bit futex word to sleep on and the value
 * it holds while the token's phase is pending. Returns 0 and sets *word,
 * *value and *shared (false: use the private futex flag, FUTEX2_PRIVATE);
 * or, without touching them, what rally_barrier_test() returns if the
 * phase is no longer pending. Sleep while *word == *value, then call
 * rally_barrier_test(): wake-ups may be spurious, and other phases wake
 * the word too. On a RALLY_SHARED barrier sleep with a timeout (50 ms):
 * a process that dies running the action never changes the word. */
int rally_barrier_futex(rally_barrier_t *b, rally_token_t token,
                        const uint32_t **word, uint32_t *value, bool *shared);

/* ---- named barriers (POSIX shared memory) ------------------------------ */

/* Opens the barrier called `name` (1..200 characters, no '/' but an
 * optional leading one), as sem_open() opens a semaphore: independent
 * programs meet on the name. oflag: 0, O_CREAT or O_CREAT | O_EXCL (from
 * <fcntl.h>); mode: the permissions of a new object (with the umask).
 * Stores a handle, private to this process, in *out. Named barriers are
 * always RALLY_SHARED; attr (may be NULL) sets the object's flags, timeout
 * and spin when this call creates it, and this process's own action in any
 * case: it runs if this process arrives last. `parties` must match the
 * existing object's; 0 means "as created" (without O_CREAT).
 * Returns 0, -ENOENT (no such name, no O_CREAT), -EEXIST (O_EXCL),
 * -EINVAL (bad name, oflag or attr — also when the object exists — other
 * parties, or an object that is not a sound rally barrier: every field a
 * call trusts is checked, and the handle keeps its own copy of them),
 * -ENAMETOOLONG, -EACCES, -ENOSPC (robust: 32 processes take part
 * already), -ENOMEM, or another errno of shm_open() (see the codes above).
 * O_CREAT creates or opens, whatever happens meanwhile: two processes
 * creating one name at once both succeed with one object, and a name
 * unlinked between the two steps is created again. A file its creator never
 * finished (empty or unready: it died meanwhile) is -EINVAL after a
 * second; `rally rm NAME` removes it.
 * Not guarded against: a process that truncates the file under a live
 * mapping (every access then raises SIGBUS, as with any shared mapping). */
int rally_barrier_open(rally_barrier_t **out, const char *name,
                       unsigned parties, const rally_barrier_attr_t *attr,
                       int oflag, mode_t mode);

/* Closes a handle from rally_barrier_open() (the object stays until
 * unlinked and closed by all). 0, -EINVAL, or -EBUSY (robust: this
 * process's callers are inside; and from an action that runs through this
 * handle: the handle stays open). Do not close a handle that other threads
 * of this process still use. */
int rally_barrier_close(rally_barrier_t *b);

/* Removes the name; processes that have it open keep using it. 0, -ENOENT,
 * -EINVAL, -EACCES. */
int rally_barrier_unlink(const char *name);

/* ---- robust barriers ---------------------------------------------------- */

/* A process is a participant of a RALLY_ROBUST barrier from
 * rally_barrier_open() — or rally_barrier_attach(), for one placed in shared
 * memory by other means (e.g. before fork(): each process attaches) — until
 * close or rally_barrier_detach(). If a participant dies — before arriving,
 * while waiting, between phases — the barrier breaks: waits return
 * RALLY_OWNERDEAD (detected within 100 ms, by sleeping waiters and by the
 * completers of phases) until rally_barrier_reset(), which forgets the
 * dead. A phase the dead one had arrived in completes if its last party
 * arrives before the death is found (by a waiter's scan, every 50 ms, or a
 * completer's); otherwise it breaks, and so does the next. Death is read
 * from /proc/PID: participants must see each other there (one PID
 * namespace; no hidepid mount hiding them, else a live one counts as dead). The process holding BUSY (an action's
 * runner, a reset's caller — a monitor too) that dies breaks the barrier
 * the same way. destroy() and reset() wait for every live caller to leave,
 * however slow, and never for the dead (destroy answers -EBUSY while a dead
 * caller's phase waits unbroken, until a wait or a reset finds the death).
 * Only participants arrive and wait:
 * wait, timedwait, arrive, await and poll from a process that takes no part
 * return -EPERM (it may still look, test, abort and reset: a monitor). Up to 32 participant processes; a
 * process that opens a name twice takes part once, until its last close. A
 * stopped process (SIGSTOP) is not dead: timeouts cover that.
 * attach/detach: 0, -EINVAL, -ENOSPC; no-ops on a barrier that is not
 * robust. rally_barrier_detach() also takes a handle from
 * rally_barrier_open(): a monitor that opens a barrier to watch, abort or
 * reset it stops being a participant (and is not listed as late). A
 * fork()ed child's copy of a handle, or of an attach, is not a participant
 * (closing or detaching it there leaves the parent's participation
 * alone): the child opens the name, or attaches, itself to take part.
 * detach and close return -EBUSY while this process's callers are inside
 * (it stays a participant). attach on a handle this process detached,
 * opened with RALLY_WATCH, or inherited through fork() makes it take part.
 * A process may have up to 64 barriers in place attached at once (then
 * -ENOSPC): detach, or destroy the barrier, to drop one; an attach that
 * finds all 64 in use takes the place of one whose barrier is gone
 * (destroyed by another process, its memory unmapped or reused). */
int rally_barrier_attach(rally_barrier_t *b);
int rally_barrier_detach(rally_barrier_t *b);

/* Who is late: the live participants (pids) that have not yet arrived in
 * the current phase (the dead: rally_barrier_dead()). Stores up to max of
 * them in pids and returns how many there are (more than max: call again with
 * room for all), or -EINVAL, or -ENOTSUP if the barrier is not robust. A
 * snapshot, meant for a phase that is stuck: a participant notes its arrival
 * once it has waited 0.1 ms (a note on every phase would cost every phase), so
 * one that arrived just now may still be listed — and one that arrived with
 * rally_barrier_arrive() is listed until its await has waited that long
 * (a rally.AsyncBarrier wait: until its event loop's first look, within
 * 50 ms, or its 0.1 ms poll — its wait in place is shorter).
 * An arrival taken back (a cancelled rally.AsyncBarrier wait) takes its
 * note with it: its process is listed until another of its callers that
 * waits in the phase notes again (within 50 ms of its waiting, or when its
 * next await has waited 0.1 ms).
 * Notes name a phase mod 2^28: while the phase takes arrivals, a note left
 * exactly a multiple of 2^28 phases before it (by a participant that has
 * not waited 0.1 ms since) passes for an arrival in it. Once every party
 * has arrived (its action runs), or while phases keep completing during
 * the look, a note up to 2^20 phases "ahead" counts as an arrival too. */
int rally_barrier_late(const rally_barrier_t *b, pid_t *pids, unsigned max);

/* Who died: participants (pids) found dead and not yet forgotten by
 * rally_barrier_reset() — they are not listed as late — and a monitor that
 * died holding the barrier (inside a reset). Stores up to max of
 * them in pids and returns how many there are, or -EINVAL, or -ENOTSUP if
 * the barrier is not robust. Each pid once (a pid reused by a live
 * process since may be listed: slots are judged by pid and start time,
 * the listed pid is just a number). A process that died holding the
 * barrier (a monitor killed inside a reset; a participant killed running
 * the action is listed by its slot) is listed once found dead (a /proc
 * read while one holds it) — and after the take-over below only if no
 * other death was recorded before it (the barrier keeps the first death
 * it records: a monitor killed after a participant died is listed only
 * until taken over). A snapshot: a call racing a take-over may miss such a
 * holder once, and one racing a reset that completes may list what the
 * reset just forgot. The holder is taken over — the
 * barrier stays broken, and waits return RALLY_OWNERDEAD — by a waiter at
 * the end of its 50 ms sleep, or by a robust caller that arrives, a
 * test() or an await(token, 0), which look at most every 25 ms among them
 * all: an arrival within 25 ms of a look made while the holder lived gets
 * RALLY_BROKEN, and a reset made in answer to it forgets the death, which
 * is then never reported. */
int rally_barrier_dead(const rally_barrier_t *b, pid_t *pids, unsigned max);

/* ---- statistics (RALLY_STATS) --------------------------------------------
 *
 * Where a parallel code loses its time: a RALLY_STATS barrier counts, in
 * the object (so a shared or named barrier's counts are every process's),
 * what its phases did. Without the flag nothing is counted and a phase
 * costs what it did; with it, every caller reads the clock (no system
 * call) and the last of each phase takes the path an action takes (one
 * more atomic step), and writes the counts on lines of their own. */
#define RALLY_STATS_BUCKETS 24 /* skew histogram: bucket 0 holds skews
                                  below 128 ns, bucket b >= 1 those in
                                  [2^(b+6), 2^(b+7)) ns, the last all from
                                  2^29 ns (0.54 s) on */
#define RALLY_STATS_INDICES 16 /* wait_ns[i]: arrival index i; the last
                                  takes every index beyond */
#define RALLY_STATS_LAST    8  /* callers told apart as "last" (below) */

typedef struct rally_stats {
	uint64_t phases;   /* completed (an action that failed: broken). On a
	                      RALLY_SHARED barrier whose completer is judged
	                      dead while it lives (a PID namespace hides it)
	                      and taken over, its phase may count as completed
	                      and broken both, and in the skew and last. */
	uint64_t broken;   /* times the barrier broke: a timeout, an abort
	                      that broke something, an action that failed, a
	                      completer that died (once per break, not per
	                      phase it then refuses) */
	uint64_t timeouts; /* calls that returned RALLY_TIMEDOUT — and the
	                      Python binding's and the rally tool's waits
	                      ended by a signal, which leave as a timeout
	                      does (breaking the phase if it still waited) */
	uint64_t aborts;   /* rally_barrier_abort() calls */
	uint64_t resets;   /* rally_barrier_reset() calls that returned 0 */
	/* Calls of wait/timedwait that arrived and left, each counted once
	 * by how far its waiting went: it slept on the futex; else it
	 * yielded; else it polled; the rest (waits - slept - yielded - spun)
	 * found their phase decided at once (the last arrival among them).
	 * The Python binding's and the rally tool's waits count in waits and
	 * wait_ns only, and only those that got an arrival index back: one
	 * that ended inside its arrival (a timeout or a break while the
	 * arrival itself waited for an earlier phase's action or a reset)
	 * counts in timeouts or broken alone. */
	uint64_t waits, spun, yielded, slept;
	/* Arrival skew: the time from the first arrival of a phase to its
	 * last — each clocked just before it arrives —, over skew_phases
	 * phases (with the percentiles the upper bound of their bucket,
	 * never above the max), up to 19.5 hours; skew_missed phases are
	 * not in it: their first caller had not yet written its clock into
	 * the object when the last arrived (it was preempted between its
	 * arrival and that write), or more than 4 phases were in flight at
	 * once. */
	uint64_t skew_p50_ns, skew_p99_ns, skew_max_ns;
	uint64_t skew_phases, skew_missed;
	/* Who completed most phases as the last to arrive — the one the
	 * others waited for: its thread id (gettid()), or on a RALLY_SHARED
	 * barrier its pid, and how many. Exact while at most
	 * RALLY_STATS_LAST callers were ever last; beyond, a caller new to
	 * the table takes the place of the least counted with its count plus
	 * one (space saving: last_count may be over by that much). 0, 0
	 * before the first phase. */
	uint64_t last_id, last_count;
	uint64_t skew_hist[RALLY_STATS_BUCKETS];
	/* The total time callers of wait/timedwait of each arrival index
	 * waited, arrival to return (index 0 arrived first). */
	uint64_t wait_ns[RALLY_STATS_INDICES];
	uint64_t reserved_[8];
} rally_stats_t;

/* Copies a RALLY_STATS barrier's counts into *out: 0, or -EINVAL (b or out
 * NULL, not a barrier, or no RALLY_STATS). A snapshot, not taken at one
 * instant: counts may disagree by the phases in flight. The counts run
 * from init (or, for a named barrier, from its creation) and reset does not
 * clear them. Split-phase calls (arrive/await) count in phases, skew and
 * the last caller, not in waits. */
int rally_barrier_stats(const rally_barrier_t *b, rally_stats_t *out);

/* ---- event ----------------------------------------------------------------
 */

/* threading.Event in C: a flag that callers wait for. 64 bytes. */
typedef struct rally_event {
	uint64_t opaque_[8];
} rally_event_t;

/* Initialises *e, clear. flags: 0 or RALLY_SHARED (the event may live in a
 * MAP_SHARED mapping and be used from several processes). -EINVAL: e NULL
 * or unknown flags. */
int rally_event_init(rally_event_t *e, unsigned flags);

/* -EBUSY while callers are blocked in rally_event_wait() on the clear
 * event — also for a moment after a set that a clear follows at once,
 * until the woken ones have left: try again; once it is set, waits
 * (briefly) for the woken ones to leave, so that the memory may be freed
 * when it returns 0 — on a RALLY_SHARED event, -EBUSY once nothing has
 * moved for a second (a waiter's process was killed). Not covered: a
 * waiter counts itself a few instructions after it finds the event clear,
 * and a set and destroy that fall in between return 0 before it does (it
 * then touches the freed memory). Free an event only once no wait on it can
 * still be starting: join the waiters, or keep one-shot events for good. */
int rally_event_destroy(rally_event_t *e);

/* Sets the flag and wakes every waiter. No system call when nobody sleeps;
 * async-signal-safe. Returns 0 or -EINVAL. */
int rally_event_set(rally_event_t *e);

/* Clears the flag. A waiter that was blocked when the flag was set still
 * returns 0, however soon the clear follows. Returns 0 or -EINVAL. */
int rally_event_clear(rally_event_t *e);

/* Whether the flag is set (false if e is not an event). */
bool rally_event_is_set(const rally_event_t *e);

/* Returns 0 once the flag is set (at once — a load and a branch — if it
 * already is), RALLY_TIMEDOUT when timeout_ns passes first (0: do not
 * block; RALLY_FOREVER: no timeout), or -EINVAL. */
int rally_event_wait(rally_event_t *e, int64_t timeout_ns);

/* As rally_barrier_futex(), for an event: returns 1 if the event is set,
 * else 0 with the word to sleep on while it holds *value. On a shared
 * event sleep with a timeout (50 ms) and ask again: a setter whose process
 * died between setting the flag and its wake leaves sleepers asleep
 * (rally_event_wait() sleeps so itself). */
int rally_event_futex(rally_event_t *e, const uint32_t **word, uint32_t *value,
                      bool *shared);

/* Named events, as rally_barrier_open/close/unlink: a handle in *out on
 * the event `name` in POSIX shared memory (always RALLY_SHARED; flags: 0 or
 * RALLY_SHARED). The same codes. rally_event_destroy() is for events in
 * place; a handle is closed. */
int rally_event_open(rally_event_t **out, const char *name, unsigned flags,
                     int oflag, mode_t mode);
int rally_event_close(rally_event_t *e);
int rally_event_unlink(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* RALLY_H */
