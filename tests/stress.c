/* stress.c — millions of phases with random timeouts, aborts, resets and
 * failing actions, checking the barrier's invariants. A plain C program (no
 * Criterion) so that it runs under ThreadSanitizer.
 *
 * A fifth of the waits are split (arrive + await), mixed with the others,
 * where threads outnumber parties.
 *
 * Invariants checked
 *   - Every completed phase hands out each index 0..parties-1 exactly once
 *     (per phase, with an action that numbers the phases; in total, without).
 *   - The action runs exactly once per completed phase, never two at once.
 *   - Nobody is released early: before its arrival each thread writes its
 *     round into a plain array (double-buffered by round); once released it
 *     reads every party's entry and expects its own round there. A release
 *     before all arrived reads a stale round — or ThreadSanitizer reports a
 *     race, since only the barrier orders those plain accesses.
 *   - A caller released with an index saw the action of its phase run.
 *   - Nobody hangs: a watchdog fails the run when no call returns for
 *     --hang seconds.
 *
 * Usage: stress [--seconds S] [--seed N] [--hang S] [--quiet]
 * Runs a fixed list of configurations (threads = parties, and more threads
 * than parties), splitting the time between them. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"

#define MAX_THREADS 64
#define SLOTS       16
/* Phases below the wrap-around at the start of each configuration. */
#define WRAP_DISTANCE 100

struct config {
	unsigned threads, parties;
	bool action;
	bool storm; /* faults at 100x the rate: resets far outpace phases */
	bool stats; /* RALLY_STATS: its counts checked against ours */
};

static const struct config configs[] = {
    {2, 2, true, false, true},    {2, 2, false, false, false},
    {3, 3, true, false, false},   {4, 4, false, false, false},
    {8, 8, true, false, true},    {16, 16, false, false, false},
    {64, 64, true, false, false}, {4, 2, true, false, true},
    {9, 3, false, false, true},   {16, 4, true, false, false},
    {64, 8, false, false, false}, {3, 1, true, false, false},
    {4, 2, true, true, true},     {9, 3, false, true, true},
    {8, 8, true, true, false},    {64, 32, true, false, true},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

/* Per-phase record of the indices handed out (action mode, threads ==
 * parties, where the action's phase number identifies the phase). */
struct slot {
	_Atomic uint64_t tag; /* phase number + 1; 0: unused */
	_Atomic uint64_t mask;
	_Atomic unsigned count;
};

static struct {
	struct config cfg;
	rally_barrier_t barrier;
	_Atomic bool stop;
	_Atomic uint64_t progress; /* calls returned */
	/* action */
	_Atomic bool in_action;
	uint64_t phase_no; /* plain: written by the action only */
	_Atomic uint64_t actions_ok, actions_failed;
	struct slot slots[SLOTS];
	/* no-release-early check (threads == parties) */
	uint64_t round[2][MAX_THREADS]; /* plain on purpose */
	/* totals */
	_Atomic uint64_t index_count[MAX_THREADS];
	_Atomic uint64_t stale[MAX_THREADS]; /* split waits, outcome unknown */
	_Atomic uint64_t timeouts, aborts, resets, broken, released;
	_Atomic uint64_t waits_called; /* wait and timedwait calls */
	_Atomic unsigned failures;
	unsigned seed;
} S;

static uint64_t totals_phases, totals_timeouts, totals_aborts, totals_resets;
static unsigned wrap_crossed;

static void fail(const char *what, uint64_t a, uint64_t b)
{
	if (atomic_fetch_add(&S.failures, 1) < 10)
		fprintf(stderr,
		        "FAIL [%u threads, %u parties, action %d%s]: %s "
		        "(%" PRIu64 ", %" PRIu64 ")\n",
		        S.cfg.threads, S.cfg.parties, S.cfg.action,
		        S.cfg.storm ? ", storm" : "", what, a, b);
}

static uint32_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (uint32_t)(*state >> 11);
}

static _Thread_local uint64_t tl_rng;

static int action(void *arg)
{
	(void)arg;
	if (atomic_exchange(&S.in_action, true))
		fail("two actions at once", 0, 0);
	int rc = 0;
	if (rnd(&tl_rng) % 4096 == 0) {
		rc = (rnd(&tl_rng) & 1) ? -ECANCELED : 1;
		atomic_fetch_add(&S.actions_failed, 1);
	} else {
		uint64_t k = S.phase_no++;
		struct slot *sl = &S.slots[k % SLOTS];
		uint64_t tag = atomic_load(&sl->tag);
		if (tag && atomic_load(&sl->count) != S.cfg.parties &&
		    S.cfg.threads == S.cfg.parties)
			fail("a phase handed out too few indices", tag - 1,
			     atomic_load(&sl->count));
		atomic_store(&sl->mask, 0);
		atomic_store(&sl->count, 0);
		atomic_store(&sl->tag, k + 1);
		atomic_fetch_add(&S.actions_ok, 1);
	}
	atomic_store(&S.in_action, false);
	return rc;
}

static void record_index(unsigned idx)
{
	if (idx >= S.cfg.parties) {
		fail("index out of range", idx, S.cfg.parties);
		return;
	}
	atomic_fetch_add(&S.index_count[idx], 1);
	if (!S.cfg.action || S.cfg.threads != S.cfg.parties)
		return;
	uint64_t k = S.phase_no - 1; /* plain read, ordered by the barrier */
	struct slot *sl = &S.slots[k % SLOTS];
	if (atomic_load(&sl->tag) != k + 1)
		fail("released into a phase the action did not open", k,
		     atomic_load(&sl->tag));
	uint64_t bit = 1ull << idx;
	if (atomic_fetch_or(&sl->mask, bit) & bit)
		fail("index handed out twice in one phase", k, idx);
	if (atomic_fetch_add(&sl->count, 1) >= S.cfg.parties)
		fail("more indices than parties in one phase", k, idx);
}

/* Threads == parties: every completed phase includes every thread, so all
 * threads' success counts move in step. */
static void check_round(unsigned self, uint64_t r)
{
	for (unsigned j = 0; j < S.cfg.threads; j++)
		if (S.round[r % 2][j] != r)
			fail("released before every party arrived", j,
			     S.round[r % 2][j]);
	(void)self;
}

/* one_call's result for an abort or reset (not a wait). */
#define NOT_A_WAIT 0x7fffffff

/* A wait as arrive + await (sometimes with a test in between, sometimes a
 * timeout): it must behave as one wait, so the same checks apply — except
 * for a token whose epoch record eight resets reused before it was awaited
 * (the documented limit): its outcome is unknown, counted per index. Only
 * configurations with more threads than parties use split waits: there the
 * check is per index, and the unknown outcomes are exactly accounted. */
static int split_wait(uint64_t *rng)
{
	rally_token_t t;
	int idx = rally_barrier_arrive(&S.barrier, &t);
	if (idx < 0)
		return idx;
	if (rnd(rng) % 2)
		(void)rally_barrier_test(&S.barrier, t);
	/* Sometimes first a few polls, as the Python binding waits: their
	 * time running out must break nothing, and "done" must stay done. */
	int polled = 0;
	for (int k = rnd(rng) % 4 ? 3 : 0; k < 3 && polled == 0; k++) {
		polled = rally_barrier_poll(&S.barrier, t,
		                            (int64_t)(rnd(rng) % 50000));
		if (polled < 0 && polled != RALLY_BROKEN)
			fail("poll failed", (uint64_t)-polled, 0);
	}
	int64_t timeout = rnd(rng) % 8
	                      ? RALLY_FOREVER
	                      : (int64_t)(rnd(rng) % (100000 * S.cfg.threads));
	int rc = rally_barrier_await(&S.barrier, t, timeout);
	/* A timeout of 0 while the phase's action runs: -EAGAIN, "ask
	 * again" (rally.h) — the phase completes; wait for it. */
	if (rc == -EAGAIN && timeout == 0)
		rc = rally_barrier_await(&S.barrier, t, RALLY_FOREVER);
	if (rc == RALLY_BROKEN && rally__token_stale(&S.barrier, t)) {
		atomic_fetch_add(&S.stale[idx], 1);
		return RALLY_BROKEN;
	}
	if (rc == 0) {
		/* Asked again, the same answer — unless 8 resets have come
		 * since the arrival, which make the token stale (rally.h:
		 * its outcome is kept for 8 resets): RALLY_BROKEN then. */
		int again = rally_barrier_test(&S.barrier, t);
		if (again != 1 && !(again == RALLY_BROKEN &&
		                    rally__token_stale(&S.barrier, t)))
			fail("test disagrees with await", (uint64_t)-again, 0);
	}
	if (polled == 1 && rc != 0)
		fail("poll said done, await did not", (uint64_t)-rc, 0);
	return rc == 0 ? idx : rc;
}

/* Per call, with T threads: an abort or a reset each with probability
 * 0.3%/T, a zero timeout 1%/T, a timed wait (up to T x 100 us) 5%: so that
 * about one fault in a few hundred phases hits, whatever T. */
static int one_call(uint64_t *rng)
{
	uint32_t t = S.cfg.threads;
	uint32_t dice = rnd(rng) % (1000 * t / (S.cfg.storm ? 100 : 1) + 16);
	if (dice < 3) {
		atomic_fetch_add(&S.aborts, 1);
		return rally_barrier_abort(&S.barrier) == 0 ? NOT_A_WAIT : -EIO;
	}
	if (dice < 6) {
		atomic_fetch_add(&S.resets, 1);
		return rally_barrier_reset(&S.barrier) == 0 ? NOT_A_WAIT : -EIO;
	}
	/* parties while a phase's action runs (as in CPython), never more. */
	if (dice < 8 && rally_barrier_n_waiting(&S.barrier) > S.cfg.parties)
		fail("n_waiting > parties",
		     rally_barrier_n_waiting(&S.barrier), S.cfg.parties);
	if (dice % 5 == 0 && dice >= 16 + 50 * t &&
	    S.cfg.threads > S.cfg.parties)
		return split_wait(rng);
	atomic_fetch_add(&S.waits_called, 1);
	if (dice < 16)
		return rally_barrier_timedwait(&S.barrier, 0);
	if (dice < 16 + 50 * t)
		return rally_barrier_timedwait(&S.barrier,
		                               rnd(rng) % (100000 * t));
	return rally_barrier_wait(&S.barrier);
}

static void *worker(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg;
	uint64_t rng = (uint64_t)S.seed * 2654435761u + self * 40503u + 1;
	tl_rng = rng ^ 0x9e3779b97f4a7c15ull;
	uint64_t rounds = 0;
	bool lockstep = S.cfg.threads == S.cfg.parties;
	while (!atomic_load(&S.stop)) {
		if (lockstep)
			S.round[rounds % 2][self] = rounds;
		uint64_t before_actions = atomic_load(&S.actions_ok);
		int rc = one_call(&rng);
		atomic_fetch_add(&S.progress, 1);
		if (rc == NOT_A_WAIT)
			continue;
		if (rc >= 0) {
			atomic_fetch_add(&S.released, 1);
			if (S.cfg.action &&
			    atomic_load(&S.actions_ok) == before_actions)
				fail("released without its phase's action", 0,
				     0);
			record_index((unsigned)rc);
			if (lockstep)
				check_round(self, rounds);
			rounds++;
		} else if (rc == RALLY_TIMEDOUT) {
			atomic_fetch_add(&S.timeouts, 1);
		} else if (rc == RALLY_BROKEN || rc == -ECANCELED) {
			atomic_fetch_add(&S.broken, 1);
			/* About one of the threads repairs it. */
			if (!atomic_load(&S.stop) &&
			    rnd(&rng) % S.cfg.threads == 0) {
				atomic_fetch_add(&S.resets, 1);
				rally_barrier_reset(&S.barrier);
			} else {
				sched_yield();
			}
		} else {
			fail("unexpected return code", (uint64_t)-rc, 0);
		}
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t stale_total(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < MAX_THREADS; i++)
		n += atomic_load(&S.stale[i]);
	return n;
}

/* A RALLY_STATS barrier's counts against ours (rally.h): exact where the
 * test knows each event, bounded where it cannot tell (a break that broke
 * nothing new). */
static void check_stats(uint64_t completed)
{
	rally_stats_t st;
	if (rally_barrier_stats(&S.barrier, &st) != 0) {
		fail("stats", 0, 0);
		return;
	}
	uint64_t timeouts = atomic_load(&S.timeouts);
	uint64_t aborts = atomic_load(&S.aborts);
	uint64_t failed = atomic_load(&S.actions_failed);
	if (st.phases != completed)
		fail("stats: phases", st.phases, completed);
	if (st.timeouts != timeouts)
		fail("stats: timeouts", st.timeouts, timeouts);
	if (st.aborts != aborts)
		fail("stats: aborts", st.aborts, aborts);
	if (st.resets != atomic_load(&S.resets))
		fail("stats: resets", st.resets, atomic_load(&S.resets));
	/* Every failed action broke its phase; every break came from a
	 * timeout, an abort or a failed action. */
	if (st.broken < failed || st.broken > timeouts + aborts + failed)
		fail("stats: broken", st.broken, timeouts + aborts + failed);
	/* A wait that was refused before it arrived is not counted. */
	if (st.waits > atomic_load(&S.waits_called) ||
	    st.spun + st.yielded + st.slept > st.waits)
		fail("stats: waits", st.waits, atomic_load(&S.waits_called));
	/* Every completer counted its skew, or a miss: those that
	 * published and those whose action failed. */
	if (st.skew_phases + st.skew_missed != completed + failed)
		fail("stats: skew phases", st.skew_phases + st.skew_missed,
		     completed + failed);
	if (st.last_count > completed + failed ||
	    (S.cfg.threads <= RALLY_STATS_LAST && completed + failed &&
	     st.last_count * S.cfg.threads < completed + failed))
		fail("stats: last", st.last_count, completed + failed);
	if (st.skew_p50_ns > st.skew_p99_ns || st.skew_p99_ns > st.skew_max_ns)
		fail("stats: percentiles", st.skew_p50_ns, st.skew_p99_ns);
	/* No phase of a run of seconds took a minute to arrive: a skew
	 * "below 0" read as 2^48 ns would. */
	if (st.skew_max_ns > 60000000000ull)
		fail("stats: skew max", st.skew_max_ns, 0);
}

/* Runs one configuration for `seconds`; returns the failures seen. */
static unsigned run(const struct config *cfg, double seconds, double hang_s,
                    bool quiet)
{
	memset(&S.slots, 0, sizeof S.slots);
	memset(&S.round, 0xff, sizeof S.round); /* no round yet */
	S.cfg = *cfg;
	S.phase_no = 0;
	atomic_store(&S.stop, false);
	atomic_store(&S.progress, 0);
	atomic_store(&S.actions_ok, 0);
	atomic_store(&S.actions_failed, 0);
	atomic_store(&S.timeouts, 0);
	atomic_store(&S.aborts, 0);
	atomic_store(&S.resets, 0);
	atomic_store(&S.broken, 0);
	atomic_store(&S.released, 0);
	atomic_store(&S.waits_called, 0);
	atomic_store(&S.failures, 0);
	for (unsigned i = 0; i < MAX_THREADS; i++) {
		atomic_store(&S.index_count[i], 0);
		atomic_store(&S.stale[i], 0);
	}

	rally_barrier_attr_t attr = {.action = cfg->action ? action : NULL,
	                             .flags = cfg->stats ? RALLY_STATS : 0};
	if (rally_barrier_init(&S.barrier, cfg->parties, &attr) != 0) {
		fail("init", 0, 0);
		return 1;
	}
	/* Start just below the sequence numbers' wrap-around, so that every
	 * configuration crosses it, early enough even in a short run under
	 * ThreadSanitizer. */
	const uint32_t below = (1u << RALLY__SEQ_BITS) - WRAP_DISTANCE;
	if (rally__barrier_set_phase(&S.barrier, below) != 0)
		fail("set_phase failed", 0, 0);
	uint32_t first = rally_barrier_phase(&S.barrier);
	if (first != below)
		fail("set_phase did not start below the wrap", first, below);

	pthread_t th[MAX_THREADS];
	for (unsigned i = 0; i < cfg->threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);

	double start = now_s(), last_progress_t = start;
	uint64_t last_progress = 0;
	while (now_s() - start < seconds) {
		usleep(20000);
		uint64_t p = atomic_load(&S.progress);
		if (p != last_progress) {
			last_progress = p;
			last_progress_t = now_s();
		} else if (now_s() - last_progress_t > hang_s) {
			fail("no call returned: hang", p, 0);
			fprintf(stderr,
			        "stress: hang detected, n_waiting %u, "
			        "broken %d\n",
			        rally_barrier_n_waiting(&S.barrier),
			        rally_barrier_broken(&S.barrier));
			fflush(stderr);
			_exit(1);
		}
	}
	/* Stop: abort until every thread has left (waits would be forever). */
	atomic_store(&S.stop, true);
	for (unsigned i = 0; i < cfg->threads; i++) {
		double t0 = now_s();
		while (pthread_tryjoin_np(th[i], NULL) == EBUSY) {
			atomic_fetch_add(&S.aborts, 1);
			rally_barrier_abort(&S.barrier);
			usleep(1000);
			if (now_s() - t0 > hang_s) {
				fail("thread did not stop: hang", i, 0);
				_exit(1);
			}
		}
	}

	/* Every completed phase handed out each index exactly once. */
	uint64_t completed = atomic_load(&S.index_count[cfg->parties - 1]);
	/* Completions and resets only move the phase on: from where it was
	 * at the start, past the wrap (so it is lower now), by at least the
	 * phases completed (a window far below 2^27). */
	uint32_t end = rally_barrier_phase(&S.barrier);
	uint32_t moved = (end - first) & ((1u << RALLY__SEQ_BITS) - 1);
	bool crossed = end < first;
	if (crossed)
		wrap_crossed++;
	else if (completed >= WRAP_DISTANCE)
		fail("the phase did not cross the wrap", end, completed);
	/* else: a run too short (or too slow) to get there; see main(). */
	if (moved < completed)
		fail("the phase moved less than the phases completed", moved,
		     completed);
	for (unsigned i = 0; i < cfg->parties; i++)
		if (atomic_load(&S.index_count[i]) +
		            (i < cfg->parties - 1 ? atomic_load(&S.stale[i])
		                                  : 0) <
		        completed ||
		    atomic_load(&S.index_count[i]) > completed)
			fail("index counts differ across indices", i,
			     atomic_load(&S.index_count[i]));
	if (cfg->action && atomic_load(&S.actions_ok) != completed)
		fail("actions run != phases completed",
		     atomic_load(&S.actions_ok), completed);
	if (cfg->stats)
		check_stats(completed);
	if (rally_barrier_reset(&S.barrier) != 0 ||
	    rally_barrier_destroy(&S.barrier) != 0)
		fail("reset/destroy at the end", 0, 0);

	if (!quiet)
		printf("%2u threads %2u parties action %d%s%s: %9" PRIu64
		       " phases, %7" PRIu64 " timeouts, %6" PRIu64
		       " aborts, %7" PRIu64 " resets, %5" PRIu64
		       " failed actions, %8" PRIu64 " broken returns, %" PRIu64
		       " stale tokens%s%s\n",
		       cfg->threads, cfg->parties, cfg->action,
		       cfg->storm ? " storm" : "", cfg->stats ? " stats" : "",
		       completed,
		       atomic_load(&S.timeouts), atomic_load(&S.aborts),
		       atomic_load(&S.resets), atomic_load(&S.actions_failed),
		       atomic_load(&S.broken), stale_total(),
		       crossed ? "" : ", wrap not reached",
		       atomic_load(&S.failures) ? "  FAILED" : "");
	totals_phases += completed;
	totals_timeouts += atomic_load(&S.timeouts);
	totals_aborts += atomic_load(&S.aborts);
	totals_resets += atomic_load(&S.resets);
	return atomic_load(&S.failures);
}

/* ---- events -------------------------------------------------------------- */

/* A setter publishes a round number (plain), sets the event; waiters wait
 * with random timeouts (retrying), check the number, and meet the setter at
 * a barrier; the setter clears and they meet again. A lost wake-up hangs
 * (the watchdog), a missing happens-before is a TSan race. */
enum { EVENT_WAITERS = 4 };

static struct {
	rally_event_t ev;
	rally_barrier_t meet;
	uint64_t round; /* plain */
	_Atomic bool stop;
	_Atomic uint64_t progress, timeouts, rounds;
} E;

static void *event_waiter(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 7919 + S.seed;
	for (uint64_t r = 0;; r++) {
		int rc;
		do {
			int64_t t = rnd(&rng) % 4
			                ? RALLY_FOREVER
			                : (int64_t)(rnd(&rng) % 50000);
			rc = rally_event_wait(&E.ev, t);
			if (rc == RALLY_TIMEDOUT)
				atomic_fetch_add(&E.timeouts, 1);
		} while (rc == RALLY_TIMEDOUT);
		if (rc != 0)
			fail("event wait failed", (uint64_t)-rc, 0);
		if (E.round == UINT64_MAX)
			return NULL;
		if (E.round != r)
			fail("event woke a waiter before its round", r,
			     E.round);
		atomic_fetch_add(&E.progress, 1);
		rally_barrier_wait(&E.meet);
		rally_barrier_wait(&E.meet);
	}
}

static unsigned run_events(double seconds, double hang_s, bool quiet)
{
	S.cfg =
	    (struct config){EVENT_WAITERS + 1, EVENT_WAITERS + 1, false, false,
	                    false};
	atomic_store(&S.failures, 0);
	rally_event_init(&E.ev, 0);
	rally_barrier_init(&E.meet, EVENT_WAITERS + 1, NULL);
	pthread_t th[EVENT_WAITERS];
	for (uintptr_t i = 0; i < EVENT_WAITERS; i++)
		pthread_create(&th[i], NULL, event_waiter, (void *)i);
	double start = now_s(), last_t = start;
	uint64_t last = 0;
	for (uint64_t r = 0; now_s() - start < seconds; r++) {
		E.round = r;
		rally_event_set(&E.ev);
		rally_barrier_wait(&E.meet);
		rally_event_clear(&E.ev);
		rally_barrier_wait(&E.meet);
		atomic_fetch_add(&E.rounds, 1);
		if (r % 256 == 0) {
			uint64_t p = atomic_load(&E.progress);
			if (p != last) {
				last = p;
				last_t = now_s();
			} else if (now_s() - last_t > hang_s) {
				fail("event: no progress: hang", p, 0);
				_exit(1);
			}
		}
	}
	E.round = UINT64_MAX;
	rally_event_set(&E.ev);
	for (unsigned i = 0; i < EVENT_WAITERS; i++)
		pthread_join(th[i], NULL);
	if (rally_event_destroy(&E.ev) != 0 ||
	    rally_barrier_destroy(&E.meet) != 0)
		fail("event/barrier destroy at the end", 0, 0);
	if (!quiet)
		printf("events, %u waiters: %9" PRIu64 " rounds, %7" PRIu64
		       " timeouts%s\n",
		       EVENT_WAITERS, atomic_load(&E.rounds),
		       atomic_load(&E.timeouts),
		       atomic_load(&S.failures) ? "  FAILED" : "");
	return atomic_load(&S.failures);
}

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "usage: stress [--seconds S] [--seed N] [--hang S] [--quiet]\n"
	    "Drives rally barriers through millions of phases with random\n"
	    "timeouts, aborts, resets and failing actions, in %zu\n"
	    "configurations sharing S seconds (default 20), and checks the\n"
	    "invariants. --hang: seconds without progress that count as a\n"
	    "hang (default 10). Exit 0 when every configuration passed.\n",
	    N_CONFIGS);
}

int main(int argc, char **argv)
{
	double seconds = 20, hang = 10;
	bool quiet = false;
	S.seed = (unsigned)time(NULL);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--quiet") == 0) {
			quiet = true;
			continue;
		} else if (!v) {
			fprintf(stderr, "stress: %s needs a value\n", a);
			return 2;
		} else if (strcmp(a, "--seconds") == 0) {
			seconds = strtod(v, &end);
		} else if (strcmp(a, "--hang") == 0) {
			hang = strtod(v, &end);
		} else if (strcmp(a, "--seed") == 0) {
			S.seed = (unsigned)strtoul(v, &end, 10);
		} else {
			fprintf(stderr, "stress: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (!end || *end || end == v) {
			fprintf(stderr, "stress: bad value for %s: %s\n", a, v);
			return 2;
		}
		if (seconds <= 0 || hang <= 0) {
			fprintf(stderr, "stress: durations must be positive\n");
			return 2;
		}
		i++;
	}
	printf("stress: seed %u, %.1f s over %zu configurations\n", S.seed,
	       seconds, N_CONFIGS + 1);
	unsigned passed = 0, failed = 0;
	for (size_t i = 0; i < N_CONFIGS; i++) {
		if (run(&configs[i], seconds / (N_CONFIGS + 1), hang, quiet))
			failed++;
		else
			passed++;
		fflush(stdout);
	}
	if (run_events(seconds / (N_CONFIGS + 1), hang, quiet))
		failed++;
	else
		passed++;
	printf("stress: %" PRIu64 " phases completed; injected %" PRIu64
	       " timeouts, %" PRIu64 " aborts, %" PRIu64 " resets\n",
	       totals_phases, totals_timeouts, totals_aborts, totals_resets);
	/* A configuration too short to complete WRAP_DISTANCE phases may not
	 * get there; a run in which none did has not tested the wrap. */
	printf("stress: %u of %zu configurations crossed the wrap at 2^%d\n",
	       wrap_crossed, N_CONFIGS, RALLY__SEQ_BITS);
	if (wrap_crossed == 0) {
		printf("FAIL: no configuration crossed the wrap\n");
		failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
