/* stress_withdraw.c — split-phase arrivals taken back (the cancelled
 * waiters of rally.AsyncBarrier, rally__barrier_withdraw), mixed with
 * awaits, timeouts, aborts and resets. A plain C program (no Criterion), so
 * that it runs under ThreadSanitizer.
 *
 * Every thread arrives; a third of the time it then takes the arrival back
 * (after a random short pause, so that the last arrival, a reset or an
 * abort may come in between). A withdrawn thread arrives again: it still
 * owes its party.
 *
 * Invariants checked
 *   - A completed phase releases exactly `parties` callers: the callers
 *     released (awaits that returned 0, last arrivals) equal the action's
 *     runs times parties — less only by tokens whose outcome eight resets
 *     made unknown (counted). A withdraw that returned 0 but left its
 *     arrival counted would complete a phase one caller short.
 *   - A withdraw answers 0 (its phase still filled), 1 (it had all its
 *     arrivals: then await must return 0 or the broken code, never hang),
 *     or the broken code; nothing else.
 *   - Nobody is released early (threads == parties): before each arrival a
 *     thread writes its round into a plain array, and marks it withdrawn
 *     after a withdraw; once released it expects every party's entry to
 *     hold its round. ThreadSanitizer reports a release not ordered after
 *     every arrival.
 *   - Nobody hangs (a watchdog), and reset and destroy at the end succeed:
 *     a withdraw that left `out` unbalanced makes destroy wait for ever.
 *
 * Usage: stress_withdraw [--seconds S] [--seed N] [--hang S] */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"

#define MAX_THREADS 16
#define WITHDRAWN   UINT64_MAX

struct config {
	unsigned threads, parties;
	unsigned fault_per_mille; /* aborts, resets and timeouts per call */
};

static const struct config configs[] = {
    {2, 2, 3}, {3, 3, 3}, {4, 4, 3}, {8, 8, 3},
    {4, 2, 3}, {9, 3, 3}, {3, 3, 60}, {6, 2, 60},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static struct {
	struct config cfg;
	rally_barrier_t barrier;
	_Atomic bool stop;
	_Atomic uint64_t progress;
	_Atomic uint64_t actions, released, withdrawn, too_late, broken,
	    timeouts, aborts, resets, stale;
	_Atomic unsigned failures;
	uint64_t round[2][MAX_THREADS]; /* plain on purpose */
	unsigned seed;
} S;

static void fail(const char *what, uint64_t a, uint64_t b)
{
	if (atomic_fetch_add(&S.failures, 1) < 10)
		fprintf(stderr,
		        "FAIL [%u threads, %u parties, faults %u/1000]: %s "
		        "(%" PRIu64 ", %" PRIu64 ")\n",
		        S.cfg.threads, S.cfg.parties, S.cfg.fault_per_mille, what,
		        a, b);
}

static uint32_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (uint32_t)(*state >> 11);
}

static int action(void *arg)
{
	(void)arg;
	atomic_fetch_add(&S.actions, 1);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A pause of 0 to a few microseconds: yields and spins. */
static void jitter(uint64_t *rng)
{
	uint32_t d = rnd(rng) % 8;
	if (d == 0)
		sched_yield();
	else
		for (volatile uint32_t i = 0; i < d * 50; i++)
			;
}

static bool lockstep(void) { return S.cfg.threads == S.cfg.parties; }

static void check_round(uint64_t r)
{
	for (unsigned j = 0; j < S.cfg.threads; j++)
		if (S.round[r % 2][j] != r)
			fail("released before every party arrived", j,
			     S.round[r % 2][j]);
}

/* A fault instead of an await, now and then: 1 if one was made. */
static bool maybe_fault(uint64_t *rng)
{
	uint32_t dice = rnd(rng) % 1000;
	if (dice >= S.cfg.fault_per_mille)
		return false;
	if (dice % 2) {
		atomic_fetch_add(&S.aborts, 1);
		rally_barrier_abort(&S.barrier);
	} else {
		atomic_fetch_add(&S.resets, 1);
		rally_barrier_reset(&S.barrier);
	}
	return true;
}

/* The outcome of an await: 0 released, or the broken/timeout code. */
static int await_token(rally_token_t t, uint64_t *rng)
{
	int64_t timeout = rnd(rng) % 1000 < S.cfg.fault_per_mille
	                      ? (int64_t)(rnd(rng) % 50000)
	                      : RALLY_FOREVER;
	int rc = rally_barrier_await(&S.barrier, t, timeout);
	if (rc == -EAGAIN && timeout == 0)
		rc = rally_barrier_await(&S.barrier, t, RALLY_FOREVER);
	return rc;
}

/* Lockstep's check stops once a token's outcome was lost to eight resets:
 * its thread may have been released without knowing it, and its round
 * count lags for good. */
static _Atomic bool desynced;

/* One round of this thread: arrive (again after each withdraw) until
 * released (true) or broken, timed out or made to give up (false). */
static bool one_round(unsigned self, uint64_t r, uint64_t *rng)
{
	for (;;) {
		if (lockstep())
			S.round[r % 2][self] = r;
		rally_token_t t;
		int idx = rally_barrier_arrive(&S.barrier, &t);
		atomic_fetch_add(&S.progress, 1);
		if (idx >= (int)S.cfg.parties)
			fail("index out of range", (uint64_t)idx, 0);
		int rc;
		if (idx < 0) {
			rc = idx;
		} else if (rnd(rng) % 3 == 0) {
			jitter(rng);
			int w = rally__barrier_withdraw(&S.barrier, t);
			if (w == 0) {
				if (lockstep())
					S.round[r % 2][self] = WITHDRAWN;
				atomic_fetch_add(&S.withdrawn, 1);
				if (maybe_fault(rng))
					return false;
				continue; /* it still owes its party */
			}
			if (w != 1 && w != RALLY_BROKEN)
				fail("withdraw answered", (uint64_t)-w, 0);
			if (w == 1)
				atomic_fetch_add(&S.too_late, 1);
			rc = w == 1 ? await_token(t, rng) : w;
		} else if (maybe_fault(rng)) {
			rc = rally_barrier_await(&S.barrier, t, RALLY_FOREVER);
		} else {
			rc = await_token(t, rng);
		}
		atomic_fetch_add(&S.progress, 1);
		if (rc == 0) {
			atomic_fetch_add(&S.released, 1);
			if (lockstep() && !atomic_load(&desynced))
				check_round(r);
			return true;
		} else if (rc == RALLY_TIMEDOUT) {
			atomic_fetch_add(&S.timeouts, 1);
		} else if (rc == RALLY_BROKEN) {
			if (idx >= 0 && rally__token_stale(&S.barrier, t)) {
				atomic_fetch_add(&S.stale, 1);
				atomic_store(&desynced, true);
			}
			atomic_fetch_add(&S.broken, 1);
			if (rnd(rng) % S.cfg.threads == 0) {
				atomic_fetch_add(&S.resets, 1);
				rally_barrier_reset(&S.barrier);
			} else {
				sched_yield();
			}
		} else {
			fail("unexpected code", (uint64_t)-rc, 0);
		}
		return false;
	}
}

static void *worker(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg;
	uint64_t rng = (uint64_t)S.seed * 2654435761u + self * 40503u + 1;
	for (uint64_t r = 0; !atomic_load(&S.stop);)
		if (one_round(self, r, &rng))
			r++;
	return NULL;
}

static void reset_counts(void)
{
	atomic_store(&S.stop, false);
	atomic_store(&S.progress, 0);
	_Atomic uint64_t *c[] = {&S.actions, &S.released, &S.withdrawn,
	                         &S.too_late, &S.broken,  &S.timeouts,
	                         &S.aborts,  &S.resets,   &S.stale};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		atomic_store(c[i], 0);
	atomic_store(&S.failures, 0);
	atomic_store(&desynced, false);
	memset(S.round, 0xee, sizeof S.round);
}

/* Stops the workers: aborts until each has left (waits are forever). */
static void stop_workers(pthread_t *th, double hang_s)
{
	atomic_store(&S.stop, true);
	for (unsigned i = 0; i < S.cfg.threads; i++) {
		double t0 = now_s();
		while (pthread_tryjoin_np(th[i], NULL) == EBUSY) {
			rally_barrier_abort(&S.barrier);
			usleep(1000);
			if (now_s() - t0 > hang_s) {
				fail("thread did not stop: hang", i, 0);
				_exit(1);
			}
		}
	}
}

static unsigned run(const struct config *cfg, double seconds, double hang_s)
{
	S.cfg = *cfg;
	reset_counts();
	rally_barrier_attr_t attr = {.action = action};
	if (rally_barrier_init(&S.barrier, cfg->parties, &attr) != 0) {
		fail("init", 0, 0);
		return 1;
	}
	pthread_t th[MAX_THREADS];
	for (unsigned i = 0; i < cfg->threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	double start = now_s(), last_t = start;
	uint64_t last = 0;
	while (now_s() - start < seconds) {
		usleep(20000);
		uint64_t p = atomic_load(&S.progress);
		if (p != last) {
			last = p;
			last_t = now_s();
		} else if (now_s() - last_t > hang_s) {
			fprintf(stderr,
			        "stress_withdraw: no progress (n_waiting %u, "
			        "broken %d): hang\n",
			        rally_barrier_n_waiting(&S.barrier),
			        rally_barrier_broken(&S.barrier));
			_exit(1);
		}
	}
	stop_workers(th, hang_s);
	uint64_t actions = atomic_load(&S.actions);
	uint64_t released = atomic_load(&S.released);
	uint64_t stale = atomic_load(&S.stale);
	if (released > actions * cfg->parties ||
	    released + stale < actions * cfg->parties)
		fail("callers released != phases x parties", released,
		     actions * cfg->parties);
	if (atomic_load(&S.withdrawn) == 0)
		fail("no arrival was withdrawn", 0, 0);
	if (rally_barrier_reset(&S.barrier) != 0)
		fail("reset at the end", 0, 0);
	if (rally_barrier_n_waiting(&S.barrier) != 0)
		fail("n_waiting after the final reset",
		     rally_barrier_n_waiting(&S.barrier), 0);
	if (rally_barrier_destroy(&S.barrier) != 0)
		fail("destroy at the end", 0, 0);
	printf("%2u threads %2u parties faults %2u/1000: %8" PRIu64
	       " phases, %8" PRIu64 " withdrawn, %6" PRIu64
	       " too late, %6" PRIu64 " timeouts, %5" PRIu64 " aborts, %6" PRIu64
	       " resets, %" PRIu64 " stale%s\n",
	       cfg->threads, cfg->parties, cfg->fault_per_mille, actions,
	       atomic_load(&S.withdrawn), atomic_load(&S.too_late),
	       atomic_load(&S.timeouts), atomic_load(&S.aborts),
	       atomic_load(&S.resets), stale,
	       atomic_load(&S.failures) ? "  FAILED" : "");
	return atomic_load(&S.failures);
}

static void usage(FILE *to)
{
	fprintf(to,
	        "usage: stress_withdraw [--seconds S] [--seed N] [--hang S]\n"
	        "Arrives, takes arrivals back and waits at rally barriers with\n"
	        "random timeouts, aborts and resets, in %zu configurations\n"
	        "sharing S seconds (default 8), and checks that every phase\n"
	        "released exactly its parties. --hang: seconds without progress\n"
	        "that count as a hang (default 10). Exit 0 when all passed.\n",
	        N_CONFIGS);
}

int main(int argc, char **argv)
{
	double seconds = 8, hang = 10;
	S.seed = (unsigned)time(NULL);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "stress_withdraw: %s needs a value\n",
			        a);
			return 2;
		}
		if (strcmp(a, "--seconds") == 0)
			seconds = strtod(v, &end);
		else if (strcmp(a, "--hang") == 0)
			hang = strtod(v, &end);
		else if (strcmp(a, "--seed") == 0)
			S.seed = (unsigned)strtoul(v, &end, 10);
		else {
			fprintf(stderr, "stress_withdraw: unknown option %s\n",
			        a);
			usage(stderr);
			return 2;
		}
		if (!end || *end || end == v || seconds <= 0 || hang <= 0) {
			fprintf(stderr, "stress_withdraw: bad value for %s: %s\n",
			        a, v);
			return 2;
		}
		i++;
	}
	printf("stress_withdraw: seed %u, %.1f s over %zu configurations\n",
	       S.seed, seconds, N_CONFIGS);
	unsigned passed = 0, failed = 0;
	for (size_t i = 0; i < N_CONFIGS; i++) {
		if (run(&configs[i], seconds / N_CONFIGS, hang))
			failed++;
		else
			passed++;
		fflush(stdout);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
