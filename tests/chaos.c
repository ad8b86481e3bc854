/* chaos.c — the delay-injection stress: random mixes of every operation,
 * with random short delays (a yield, a sleep of 1-64 us, a spin) at random
 * steps of the protocol — the test library's delay points — checked against
 * the invariants the model asserts. A plain C program: it runs under
 * ThreadSanitizer and AddressSanitizer.
 *
 * Threads (configurations of threads and parties, more threads than
 * parties among them): wait, timed waits (0 and short), arrive + test +
 * polls + await (short timeouts or none), abort, reset; actions that fail
 * or sleep. In configurations where threads == parties the action now and
 * then makes its phase the barrier's last: the caller with index 0
 * destroys the barrier at once, while the others are still leaving, and
 * revokes its page (PROT_NONE: any later touch faults); a fresh barrier on
 * a fresh page takes over.
 *
 * Robust (processes on a RALLY_ROBUST barrier in shared memory): the same
 * mix, and each process SIGKILLs itself at a random delay point now and
 * then (inside an action, a reset, a registration ...); the parent starts
 * a replacement; survivors see RALLY_OWNERDEAD and reset.
 *
 * Checked, per phase (its epoch and number, from the test library's note
 * of each caller's arrival):
 *   - a phase that released a caller with its index: each index once,
 *     `parties` of them (threads), no caller of it broken or timed out, its
 *     action run once and before any of them returned;
 *   - a caller that timed out: its phase never completed;
 *   - threads == parties: nobody released before every party arrived
 *     (each writes its round before arriving, and reads all after);
 *   - no hang: a watchdog fails the run when no call returns for --hang s;
 *   - no touch after destroy (the revoked page), no data race (TSan), no
 *     memory error (ASan).
 *
 * Usage: chaos [--seconds S] [--seed N] [--hang S] [--delays PER_MILLE]
 *              [--mode threads|robust|all] [--quiet] */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"

#define MAX_THREADS 64
#define TABLE_SIZE  (1u << 18)
#define PAGE        4096

/* ---- the record of each phase ---------------------------------------------
 * Open addressing on a key made of the barrier's generation (destroy and
 * re-create), the epoch id and the phase. Relaxed atomics throughout: the
 * bookkeeping must add no ordering of its own that could hide a missing
 * one in the library from ThreadSanitizer. */
struct phase_rec {
	_Atomic uint64_t key; /* 0: free */
	_Atomic uint64_t mask;
	_Atomic uint32_t released, broken, timedout, unknown, actions;
};

struct table {
	struct phase_rec r[TABLE_SIZE];
	_Atomic uint64_t full; /* phases not recorded: the table was full */
};

/* gen 20 bits, epoch 20, phase 24: a run retires fewer than a million
 * barriers per configuration and sees fewer phases and resets per barrier
 * than the fields hold (checked where they are counted). */
static uint64_t key_of(uint32_t gen, uint32_t epoch, uint32_t phase)
{
	return ((uint64_t)(gen & 0xfffff) << 44 |
	        (uint64_t)(epoch & 0xfffff) << 24 | (phase & 0xffffff)) +
	       1;
}

static struct phase_rec *lookup(struct table *t, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; i < 64; i++) {
		struct phase_rec *r = &t->r[(h + i) & (TABLE_SIZE - 1)];
		uint64_t k =
		    atomic_load_explicit(&r->key, memory_order_relaxed);
		if (k == key)
			return r;
		if (k == 0 && (atomic_compare_exchange_strong_explicit(
		                   &r->key, &k, key, memory_order_relaxed,
		                   memory_order_relaxed) ||
		               k == key))
			return r;
	}
	atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
	return NULL;
}

/* ---- run state ------------------------------------------------------------
 */

struct config {
	unsigned threads, parties;
	bool action, storm;
};

static const struct config configs[] = {
    {2, 2, true, false},  {2, 2, false, false}, {3, 3, true, false},
    {4, 4, false, false}, {8, 8, true, false},  {4, 2, true, false},
    {9, 3, false, false}, {16, 4, true, false}, {4, 2, true, true},
    {9, 3, false, true},  {3, 1, true, false},  {16, 16, true, false},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

struct shared {
	rally_barrier_t *_Atomic barrier;
	_Atomic uint32_t gen;      /* barriers destroyed so far */
	_Atomic uint32_t lifetime; /* phases the current barrier lives */
	_Atomic bool stop;
	_Atomic unsigned running; /* workers not yet out of their loop */
	_Atomic uint64_t progress, phases, timeouts, aborts, resets, broken,
	    splits, destroys, failed_actions, deaths, ownerdead, stale;
	_Atomic unsigned failures;
	uint64_t round[2][MAX_THREADS]; /* plain: only the barrier orders it */
	/* Threads holding a token not yet awaited: a barrier is destroyed
	 * only once every token is awaited (the contract). */
	_Atomic bool holding[MAX_THREADS];
	/* When each worker last came back from a call (its watchdog). */
	_Atomic int64_t last_return[MAX_THREADS];
	/* Delay points reached by the robust run's processes (the library's
	 * own counts are per process). */
	_Atomic uint64_t robust_hits[RALLY__POINTS];
	struct config cfg;
	struct table table;
};

static struct shared *S;
static uint64_t seed;
static bool quiet;

static void fail(const char *what, uint64_t a, uint64_t b)
{
	if (atomic_fetch_add(&S->failures, 1) < 10)
		fprintf(stderr,
		        "FAIL [%u threads, %u parties, action %d%s]: %s "
		        "(%" PRIu64 ", %" PRIu64 ")\n",
		        S->cfg.threads, S->cfg.parties, S->cfg.action,
		        S->cfg.storm ? ", storm" : "", what, a, b);
}

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static _Thread_local uint64_t tl_rng;
static _Thread_local unsigned tl_self;

/* The key of the phase this thread last arrived in, at a barrier of
 * generation `gen`. */
static uint64_t my_phase_key(uint32_t gen)
{
	uint32_t e, p, i;
	if (!rally__last_arrival(&e, &p, &i))
		return 0;
	return key_of(gen, e, p);
}

static int action(void *arg)
{
	(void)arg;
	uint32_t r = rnd(&tl_rng);
	if (r % 4096 == 0) {
		atomic_fetch_add(&S->failed_actions, 1);
		return (r >> 12) & 1 ? -ECANCELED : 1;
	}
	/* The barrier of this phase is the current one until its last
	 * phase has released everyone. */
	struct phase_rec *rec =
	    lookup(&S->table, my_phase_key(atomic_load(&S->gen)));
	if (rec &&
	    atomic_fetch_add_explicit(&rec->actions, 1, memory_order_relaxed))
		fail("an action ran twice for one phase", 0, 0);
	if (r % 200 == 1) /* a slow action */
		nanosleep(&(struct timespec){0, 50000 + (r >> 8) % 450000},
		          NULL);
	return 0;
}

/* ---- one call -------------------------------------------------------------
 */

#define NOT_A_WAIT INT_MAX

/* A wait as arrive + test + polls + await; `*unknown` with the index when
 * its outcome was lost (its epoch's record reused: 9 resets between arrive
 * and await). */
static int split_wait(rally_barrier_t *b, uint64_t *rng, bool *unknown)
{
	rally_token_t t;
	atomic_fetch_add(&S->splits, 1);
	atomic_store(&S->holding[tl_self], true);
	int idx = rally_barrier_arrive(b, &t);
	if (idx < 0) {
		atomic_store(&S->holding[tl_self], false);
		return idx;
	}
	if (rnd(rng) % 2)
		(void)rally_barrier_test(b, t);
	int polled = 0;
	for (int k = rnd(rng) % 4 ? 3 : 0; k < 3 && polled == 0; k++)
		polled = rally_barrier_poll(b, t, (int64_t)(rnd(rng) % 50000));
	int64_t timeout =
	    rnd(rng) % 8 ? RALLY_FOREVER : (int64_t)(rnd(rng) % 200000);
	int rc = rally_barrier_await(b, t, timeout);
	while (rc == -EAGAIN) /* timeout 0 during the phase's action */
		rc = rally_barrier_await(b, t, RALLY_FOREVER);
	atomic_store(&S->holding[tl_self], false);
	if (rc == RALLY_BROKEN && rally__token_stale(b, t)) {
		*unknown = true; /* the index, outcome unknown */
		return idx;
	}
	if (polled == 1 && rc != 0)
		fail("poll said done, await did not", (uint64_t)-rc, 0);
	return rc == 0 ? idx : rc;
}

static int one_call(rally_barrier_t *b, uint64_t *rng, bool *unknown)
{
	uint32_t t = S->cfg.threads;
	uint32_t dice = rnd(rng) % (1000 * t / (S->cfg.storm ? 100 : 1) + 16);
	if (dice < 3) {
		atomic_fetch_add(&S->aborts, 1);
		return rally_barrier_abort(b) == 0 ? NOT_A_WAIT : -EIO;
	}
	if (dice < 6) {
		atomic_fetch_add(&S->resets, 1);
		return rally_barrier_reset(b) == 0 ? NOT_A_WAIT : -EIO;
	}
	if (dice < 16)
		return rally_barrier_timedwait(b, 0);
	if (dice < 16 + 50 * t)
		return rally_barrier_timedwait(b, rnd(rng) % (200000 * t));
	if (dice % 5 == 0)
		return split_wait(b, rng, unknown);
	return rally_barrier_wait(b);
}

/* What a call returned, recorded for its phase; checked at once where it
 * can be. */
static void record(int rc, bool unknown, uint32_t gen)
{
	uint64_t key = my_phase_key(gen);
	struct phase_rec *r = key ? lookup(&S->table, key) : NULL;
	if (!r)
		return;
	if (unknown) {
		atomic_fetch_add_explicit(&r->unknown, 1, memory_order_relaxed);
	} else if (rc >= 0) {
		if ((unsigned)rc >= S->cfg.parties) {
			fail("index out of range", (uint64_t)rc,
			     S->cfg.parties);
			return;
		}
		uint64_t bit = 1ull << rc;
		if (atomic_fetch_or_explicit(&r->mask, bit,
		                             memory_order_relaxed) &
		    bit)
			fail("an index handed out twice in one phase", key, rc);
		atomic_fetch_add_explicit(&r->released, 1,
		                          memory_order_relaxed);
		if (S->cfg.action &&
		    !atomic_load_explicit(&r->actions, memory_order_relaxed))
			fail("released before its phase's action ran", key, rc);
	} else if (rc == RALLY_TIMEDOUT) {
		atomic_fetch_add_explicit(&r->timedout, 1,
		                          memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&r->broken, 1, memory_order_relaxed);
	}
}

/* Whether a caller of the phase this thread last arrived in was released
 * with its index. */
static bool released_elsewhere(uint32_t gen)
{
	uint64_t key = my_phase_key(gen);
	struct phase_rec *r = key ? lookup(&S->table, key) : NULL;
	return r && atomic_load_explicit(&r->released, memory_order_relaxed);
}

/* The barrier's last phase: index 0 destroys it and revokes its page while
 * the others leave; everyone goes on with a new one. */
static rally_barrier_t *retire(rally_barrier_t *b, int idx, uint32_t gen,
                               uint64_t *rng)
{
	if (idx == 0) {
		for (unsigned j = 0; j < S->cfg.threads; j++)
			while (atomic_load(&S->holding[j]))
				sched_yield();
		int rc = rally_barrier_destroy(b);
		if (rc != 0)
			fail("destroy after a completed phase", (uint64_t)-rc,
			     0);
		mprotect(b, PAGE, PROT_NONE);
		rally_barrier_t *n = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		rally_barrier_attr_t attr = {.action =
		                                 S->cfg.action ? action : NULL};
		rally_barrier_init(n, S->cfg.parties, &attr);
		atomic_store(&S->lifetime, 1 + rnd(rng) % 600);
		atomic_store(&S->barrier, n);
		atomic_fetch_add(&S->destroys, 1);
		atomic_store(&S->gen, gen + 1);
		return n;
	}
	while (atomic_load(&S->gen) == gen)
		sched_yield();
	return atomic_load(&S->barrier);
}

static void *worker(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg;
	tl_self = self;
	uint64_t rng = seed * 2654435761u + self * 40503u + 1;
	tl_rng = rng ^ 0x9e3779b97f4a7c15ull;
	uint64_t rounds = 0;
	bool lockstep = S->cfg.threads == S->cfg.parties;
	rally_barrier_t *b = atomic_load(&S->barrier);
	/* Phases b completed (lockstep: all threads count the same ones), and
	 * how many it lives: read once per barrier, before using it. */
	uint32_t lived = 0, lifetime = atomic_load(&S->lifetime);
	while (!atomic_load(&S->stop)) {
		atomic_store(&S->last_return[self], now_ns());
		if (lockstep)
			S->round[rounds % 2][self] = rounds;
		uint32_t gen = atomic_load(&S->gen);
		bool unknown = false;
		int rc = one_call(b, &rng, &unknown);
		atomic_fetch_add(&S->progress, 1);
		if (rc == NOT_A_WAIT)
			continue;
		if (rc == -EIO || (rc < 0 && rc != RALLY_BROKEN &&
		                   rc != RALLY_TIMEDOUT && rc != -ECANCELED))
			fail("unexpected return code", (uint64_t)-rc, 0);
		if (unknown) {
			atomic_fetch_add(&S->stale, 1);
			/* Lockstep threads must agree on the phases b lived:
			 * its fellows recorded their releases long ago. */
			if (!lockstep || !released_elsewhere(gen))
				rc = RALLY_BROKEN;
			else
				unknown = false;
		}
		record(rc, unknown, gen);
		if (rc >= 0) {
			atomic_fetch_add(&S->phases, 1);
			if (lockstep) {
				for (unsigned j = 0; j < S->cfg.threads; j++)
					if (S->round[rounds % 2][j] != rounds)
						fail("released before every "
						     "party arrived",
						     j, rounds);
				rounds++;
			}
			/* Lockstep: every thread counts the same phases, and
			 * each knows when b has lived its life. */
			if (lockstep && ++lived == lifetime) {
				b = retire(b, rc, gen, &rng);
				lifetime = atomic_load(&S->lifetime);
				lived = 0;
			}
		} else if (rc == RALLY_TIMEDOUT) {
			atomic_fetch_add(&S->timeouts, 1);
		} else {
			atomic_fetch_add(&S->broken, 1);
			if (rnd(&rng) % S->cfg.threads == 0)
				rally_barrier_reset(b);
			else
				sched_yield();
		}
	}
	atomic_store(&S->last_return[self], 0); /* out of the watch */
	atomic_fetch_sub(&S->running, 1);
	return NULL;
}

/* At the end of a configuration every caller has returned: each record is
 * whole. */
static void check_table(unsigned parties, bool exact)
{
	uint64_t full_mask = parties == 64 ? ~0ull : (1ull << parties) - 1;
	for (unsigned i = 0; i < TABLE_SIZE; i++) {
		struct phase_rec *r = &S->table.r[i];
		uint64_t key = atomic_load(&r->key);
		if (!key)
			continue;
		uint32_t rel = atomic_load(&r->released);
		uint32_t unk = atomic_load(&r->unknown);
		uint32_t br = atomic_load(&r->broken);
		uint32_t to = atomic_load(&r->timedout);
		uint64_t mask = atomic_load(&r->mask);
		if (atomic_load(&r->actions) > 1)
			fail("two actions in one phase", key, 0);
		if (rel == 0)
			continue;
		if (br || to)
			fail("a completed phase broken or timed out for some",
			     key, (uint64_t)br << 32 | to);
		if ((uint32_t)__builtin_popcountll(mask) != rel)
			fail("indices do not match releases", key, rel);
		if (exact &&
		    (rel + unk != parties || (unk == 0 && mask != full_mask)))
			fail("a completed phase released too few", key, rel);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void reset_counters(void)
{
	atomic_store(&S->stop, false);
	atomic_store(&S->progress, 0);
	atomic_store(&S->phases, 0);
	atomic_store(&S->timeouts, 0);
	atomic_store(&S->aborts, 0);
	atomic_store(&S->resets, 0);
	atomic_store(&S->broken, 0);
	atomic_store(&S->splits, 0);
	atomic_store(&S->destroys, 0);
	atomic_store(&S->failed_actions, 0);
	atomic_store(&S->deaths, 0);
	atomic_store(&S->ownerdead, 0);
	atomic_store(&S->stale, 0);
	atomic_store(&S->failures, 0);
	atomic_store(&S->gen, 0);
	memset(&S->table, 0, sizeof S->table);
	memset(S->round, 0xff, sizeof S->round);
}

/* Waits `seconds`, or until the workers have stopped; false as soon as one
 * of `threads` workers has not come back from a call for hang_s (a thread
 * stuck in a reset or a destroy while others go on is a hang too). */
static bool watch(double seconds, double hang_s, unsigned threads)
{
	double start = now_s();
	while (now_s() - start < seconds ||
	       (atomic_load(&S->stop) && atomic_load(&S->running))) {
		nanosleep(&(struct timespec){0, 20000000}, NULL);
		if (atomic_load(&S->stop))
			rally_barrier_abort(atomic_load(&S->barrier));
		else if (now_s() - start >= seconds)
			atomic_store(&S->stop, true);
		for (unsigned i = 0; i < threads; i++) {
			int64_t t = atomic_load(&S->last_return[i]);
			if (t && now_ns() - t > (int64_t)(hang_s * 1e9)) {
				fprintf(stderr, "chaos: worker %u stuck\n", i);
				return false;
			}
		}
	}
	return true;
}

static void report_points(void)
{
	unsigned hit = 0;
	uint64_t total = 0;
	for (int p = 0; p < RALLY__POINTS; p++) {
		uint64_t h = rally__point_hits((enum rally__point)p) +
		             atomic_load(&S->robust_hits[p]);
		hit += h != 0;
		total += h;
	}
	printf("points: %u of %d reached, %" PRIu64 " hits; not reached:", hit,
	       RALLY__POINTS, total);
	for (int p = 0; p < RALLY__POINTS; p++)
		if (!rally__point_hits((enum rally__point)p) &&
		    !atomic_load(&S->robust_hits[p]))
			printf(" %s", rally__point_name((enum rally__point)p));
	printf("\n");
}

static unsigned run_threads(const struct config *cfg, double seconds,
                            double hang_s)
{
	reset_counters();
	S->cfg = *cfg;
	rally_barrier_t *b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rally_barrier_attr_t attr = {.action = cfg->action ? action : NULL};
	rally_barrier_init(b, cfg->parties, &attr);
	atomic_store(&S->barrier, b);
	pthread_t th[MAX_THREADS];
	atomic_store(&S->running, cfg->threads);
	atomic_store(&S->lifetime, 1 + (uint32_t)(seed % 600));
	for (unsigned i = 0; i < cfg->threads; i++) {
		atomic_store(&S->last_return[i], now_ns());
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	}
	bool alive = watch(seconds, hang_s, cfg->threads);
	if (!alive) {
		fail("hang: no call returned", (uint64_t)hang_s, 0);
		fprintf(stderr,
		        "chaos: hang, n_waiting %u broken %d phase %u\n",
		        rally_barrier_n_waiting(atomic_load(&S->barrier)),
		        rally_barrier_broken(atomic_load(&S->barrier)),
		        rally_barrier_phase(atomic_load(&S->barrier)));
		fflush(stderr);
		_exit(2);
	}
	for (unsigned i = 0; i < cfg->threads; i++)
		pthread_join(th[i], NULL);
	check_table(cfg->parties, true);
	if (!quiet)
		printf("%2u threads %2u parties action %d%s: %8" PRIu64
		       " phases, %6" PRIu64 " timeouts, %6" PRIu64
		       " aborts, %6" PRIu64 " resets, %6" PRIu64
		       " split, %4" PRIu64 " destroyed, %" PRIu64 " stale%s\n",
		       cfg->threads, cfg->parties, cfg->action,
		       cfg->storm ? " storm" : "", atomic_load(&S->phases),
		       atomic_load(&S->timeouts), atomic_load(&S->aborts),
		       atomic_load(&S->resets), atomic_load(&S->splits),
		       atomic_load(&S->destroys), atomic_load(&S->stale),
		       atomic_load(&S->failures) ? "  FAILED" : "");
	fflush(stdout); /* progress, also into a file */
	return atomic_load(&S->failures);
}

/* ---- robust: processes that die at random steps ------------------------ */

#define PROCS 3

static _Atomic uint32_t death_odds; /* per point hit, 1 in this */

static void maybe_die(enum rally__point p, void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&S->robust_hits[p], 1, memory_order_relaxed);
	uint32_t odds = atomic_load(&death_odds);
	if (odds && rnd(&tl_rng) % odds == 0)
		raise(SIGKILL);
}

static void robust_process(unsigned self, uint64_t s)
{
	tl_rng = s | 1;
	uint64_t rng = s ^ 0x51ed2701a3b4c5d6ull;
	rally_barrier_t *b = atomic_load(&S->barrier);
	/* Die now and then at some step of the library (taking a slot
	 * included). */
	atomic_store(&death_odds, 20000);
	for (int p = 0; p < RALLY__POINTS; p++)
		rally__point_on((enum rally__point)p, maybe_die, NULL);
	if (rally_barrier_attach(b) != 0)
		_exit(3);
	(void)self;
	while (!atomic_load(&S->stop)) {
		bool unknown = false;
		int rc = one_call(b, &rng, &unknown);
		atomic_fetch_add(&S->progress, 1);
		if (rc == NOT_A_WAIT)
			continue;
		if (rc != RALLY_OWNERDEAD)
			record(rc, unknown, 0);
		if (rc >= 0) {
			atomic_fetch_add(&S->phases, 1);
		} else if (rc == RALLY_TIMEDOUT) {
			atomic_fetch_add(&S->timeouts, 1);
		} else if (rc == RALLY_OWNERDEAD || rc == RALLY_BROKEN ||
		           rc == -ECANCELED) {
			if (rc == RALLY_OWNERDEAD)
				atomic_fetch_add(&S->ownerdead, 1);
			atomic_fetch_add(&S->broken, 1);
			if (rnd(&rng) % PROCS == 0)
				rally_barrier_reset(b);
			else
				sched_yield();
		} else if (rc != RALLY_BROKEN) {
			fail("unexpected return code", (uint64_t)-rc, 0);
		}
	}
	atomic_store(&death_odds, 0);
	rally_barrier_detach(b);
	_exit(0);
}

static unsigned run_robust(double seconds, double hang_s)
{
	reset_counters();
	S->cfg = (struct config){PROCS, PROCS, true, false};
	rally_barrier_t *b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST,
	                             .action = action};
	rally_barrier_init(b, PROCS, &attr);
	atomic_store(&S->barrier, b);
	pid_t kids[PROCS];
	uint64_t n = 0;
	for (unsigned i = 0; i < PROCS; i++)
		if ((kids[i] = fork()) == 0)
			robust_process(i, seed + ++n * 7919);
	double start = now_s(), last_t = start;
	uint64_t last = 0;
	bool alive = true;
	while (now_s() - start < seconds && alive) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		for (unsigned i = 0; p > 0 && i < PROCS; i++) {
			if (kids[i] != p)
				continue;
			if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				atomic_fetch_add(&S->deaths, 1);
			else
				fail("a process ended unkilled", (uint64_t)st,
				     0);
			if ((kids[i] = fork()) == 0)
				robust_process(i, seed + ++n * 7919);
		}
		if (p > 0)
			continue;
		nanosleep(&(struct timespec){0, 5000000}, NULL);
		uint64_t prog = atomic_load(&S->progress);
		if (prog != last) {
			last = prog;
			last_t = now_s();
		} else if (now_s() - last_t > hang_s) {
			alive = false;
		}
	}
	atomic_store(&S->stop, true);
	for (unsigned i = 0; i < PROCS; i++) {
		for (int k = 0; k < 2000; k++) {
			int st;
			if (waitpid(kids[i], &st, WNOHANG) == kids[i])
				break;
			rally_barrier_abort(b);
			nanosleep(&(struct timespec){0, 1000000}, NULL);
			if (k == 1999) {
				alive = false;
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
			}
		}
	}
	if (!alive)
		fail("hang: no call returned in the robust run",
		     (uint64_t)hang_s, 0);
	check_table(PROCS, false);
	if (!quiet)
		printf("robust, %u processes: %8" PRIu64 " phases, %6" PRIu64
		       " deaths, %6" PRIu64 " OWNERDEAD, %6" PRIu64
		       " timeouts, %6" PRIu64 " resets%s\n",
		       PROCS, atomic_load(&S->phases), atomic_load(&S->deaths),
		       atomic_load(&S->ownerdead), atomic_load(&S->timeouts),
		       atomic_load(&S->resets),
		       atomic_load(&S->failures) ? "  FAILED" : "");
	return atomic_load(&S->failures);
}

int main(int argc, char **argv)
{
	double seconds = 10, hang = 20;
	unsigned delays = 50;
	const char *mode = "all";
	seed = (uint64_t)time(NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hang") && i + 1 < argc)
			hang = atof(argv[++i]);
		else if (!strcmp(argv[i], "--delays") && i + 1 < argc)
			delays = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--quiet"))
			quiet = true;
		else {
			fprintf(stderr,
			        "usage: chaos [--seconds S] [--seed N] "
			        "[--hang S] [--delays PER_MILLE] [--mode "
			        "threads|robust|all] [--quiet]\n");
			return 1;
		}
	}
	S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED)
		return 1;
	rally__delay_random(delays, seed);
	bool threads = strcmp(mode, "robust") != 0;
	bool robust = strcmp(mode, "threads") != 0;
	printf("chaos: seed %" PRIu64 ", %.1f s, delays at %u per mille of "
	       "point hits, mode %s\n",
	       seed, seconds, delays, mode);
	fflush(stdout);
	unsigned failed = 0, runs = 0;
	double slice = seconds / ((threads ? N_CONFIGS : 0) + (robust ? 2 : 0));
	for (unsigned i = 0; threads && i < N_CONFIGS; i++, runs++)
		failed += run_threads(&configs[i], slice, hang) != 0;
	if (robust) {
		failed += run_robust(2 * slice, hang) != 0;
		runs++;
	}
	report_points();
	printf("%u passed, %u failed\n", runs - failed, failed);
	return failed ? 1 : 0;
}
