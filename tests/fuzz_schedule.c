/* fuzz_schedule.c — libFuzzer target: schedules of 2-4 threads, replayed at
 * the granularity of the protocol's atomic steps.
 *
 * The test library's delay points become a cooperative scheduler: a worker
 * thread that reaches any point parks there, and the input decides which
 * thread moves on, to its next point or to the end of its call, or gets a
 * new operation: wait, timed waits (0 and 200 us), arrive, await (none and
 * 0), test, abort, reset. Only one worker runs between two points, so an
 * input is an interleaving of steps and replays the same way; a thread that
 * blocks in the kernel (futex wait) is noticed and skipped until a wake
 * brings it to its next point.
 *
 * Input: byte 0 chooses threads (2-4), parties (1-3), whether the barrier
 * has an action and whether it is RALLY_SHARED (its waits then sleep in
 * slices, with their own steps); each next byte: the low 2 bits a thread, the
 * rest what it does (if idle: which operation; if parked: go on).
 *
 * Checked after each input (every call then ended: the barrier is aborted
 * and the workers run freely), against the model's invariants, per phase
 * (its epoch and number, from the test library's note of each arrival): a
 * phase that released a caller with its index released every party, each
 * index once, and none of its callers broken or timed out; its action ran
 * once, before any of them returned; a caller that timed out: its phase
 * never completed; the action never ran for a phase that broke; awaiting a
 * token agrees with testing it. And no hang: every call ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hooks.h"
#include "rally.h"

#define MAX_WORKERS 4
#define MAX_PHASES  256

enum op {
	OP_WAIT,
	OP_WAIT0,
	OP_WAIT_SHORT,
	OP_ARRIVE,
	OP_AWAIT,
	OP_AWAIT0,
	OP_TEST,
	OP_ABORT,
	OP_RESET,
	OPS
};

enum wstate { IDLE, RUNNING, PARKED };

struct worker {
	pthread_t th;
	_Atomic int state;
	_Atomic int op;                /* to start, when IDLE; -1 none */
	sem_t go;                      /* posted to let a PARKED worker go on */
	sem_t start;                   /* posted when op holds a call to make */
	_Atomic unsigned parks, calls; /* times it parked, calls it ended */
	rally_token_t token;
	bool has_token;
	int token_index;
	uint64_t token_key;
};

struct phase_rec {
	uint64_t key;
	unsigned released, broken, timedout, actions;
	uint64_t mask;
};

static struct {
	rally_barrier_t b;
	unsigned parties, workers;
	bool action;
	_Atomic bool free_run; /* points no longer park */
	struct worker w[MAX_WORKERS];
	pthread_mutex_t lock; /* the bookkeeping, taken outside the library */
	struct phase_rec rec[MAX_PHASES];
	unsigned nrec;
	unsigned epoch_base; /* resets are per barrier: keys per input */
} F;

static _Thread_local int my_worker = -1;

static void fail(const char *what, long a, long b)
{
	fprintf(stderr, "fuzz_schedule: %s (%ld, %ld)\n", what, a, b);
	abort();
}

static uint64_t last_key(void)
{
	uint32_t e, p, i;
	if (!rally__last_arrival(&e, &p, &i))
		return 0;
	return (uint64_t)e << 32 | p;
}

static struct phase_rec *rec_of(uint64_t key)
{
	for (unsigned i = 0; i < F.nrec; i++)
		if (F.rec[i].key == key)
			return &F.rec[i];
	if (F.nrec == MAX_PHASES)
		fail("too many phases for the table", MAX_PHASES, 0);
	F.rec[F.nrec] = (struct phase_rec){.key = key};
	return &F.rec[F.nrec++];
}

static int action(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&F.lock);
	rec_of(last_key())->actions++;
	pthread_mutex_unlock(&F.lock);
	return 0;
}

/* The scheduler: a worker parks at every point until granted a step. */
static void park(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	if (my_worker < 0 || atomic_load(&F.free_run))
		return;
	struct worker *w = &F.w[my_worker];
	atomic_store(&w->state, PARKED);
	atomic_fetch_add(&w->parks, 1);
	while (sem_wait(&w->go) != 0)
		;
	atomic_store(&w->state, RUNNING);
}

static void note(int rc, uint64_t key, bool broken_is_timeout)
{
	pthread_mutex_lock(&F.lock);
	struct phase_rec *r = rec_of(key);
	if (rc >= 0) {
		if ((unsigned)rc >= F.parties)
			fail("index out of range", rc, F.parties);
		if (r->mask & 1ull << rc)
			fail("an index handed out twice in one phase", rc, 0);
		r->mask |= 1ull << rc;
		r->released++;
		if (F.action && !r->actions)
			fail("released before its phase's action", rc, 0);
	} else if (rc == RALLY_TIMEDOUT || broken_is_timeout) {
		r->timedout++;
	} else if (rc == RALLY_BROKEN) {
		r->broken++;
	} else if (rc != -EAGAIN) {
		fail("unexpected return code", rc, 0);
	}
	pthread_mutex_unlock(&F.lock);
}

static void run_op(struct worker *w, int op)
{
	rally_barrier_t *b = &F.b;
	int rc;
	switch (op) {
	case OP_WAIT:
	case OP_WAIT0:
	case OP_WAIT_SHORT:
		rc = rally_barrier_timedwait(b, op == OP_WAIT    ? RALLY_FOREVER
		                                : op == OP_WAIT0 ? 0
		                                                 : 200000);
		note(rc, last_key(), false);
		break;
	case OP_ARRIVE:
		if (w->has_token)
			break;
		rc = rally_barrier_arrive(b, &w->token);
		if (rc >= 0 && (unsigned)rc == F.parties - 1) {
			note(rc, last_key(), false); /* the last: done */
		} else if (rc >= 0) {
			w->has_token = true;
			w->token_index = rc;
			w->token_key = last_key();
		} else {
			note(rc, last_key(), false);
		}
		break;
	case OP_AWAIT:
	case OP_AWAIT0:
	case OP_TEST:
		if (!w->has_token)
			break;
		if (op == OP_TEST) {
			rc = rally_barrier_test(b, w->token);
			if (rc > 1 || (rc < 0 && rc != RALLY_BROKEN))
				fail("test", rc, 0);
			break;
		}
		rc = rally_barrier_await(b, w->token,
		                         op == OP_AWAIT ? RALLY_FOREVER : 0);
		if (rc == -EAGAIN)
			break; /* its action runs: keep the token */
		/* After a timeout the phase is broken (this call broke it). */
		int t = rally_barrier_test(b, w->token);
		int want = rc == 0                ? 1
		           : rc == RALLY_TIMEDOUT ? RALLY_BROKEN
		                                  : rc;
		if (t != want)
			fail("test disagrees with await", rc, t);
		if (rc == RALLY_BROKEN && rally__token_stale(b, w->token))
			rc = -EAGAIN; /* outcome unknown: not recorded */
		note(rc == 0 ? w->token_index : rc, w->token_key, false);
		w->has_token = false;
		break;
	case OP_ABORT:
		if (rally_barrier_abort(b) != 0)
			fail("abort", 0, 0);
		break;
	case OP_RESET:
		if (rally_barrier_reset(b) != 0)
			fail("reset", 0, 0);
		break;
	}
}

static void *worker_main(void *arg)
{
	my_worker = (int)(intptr_t)arg;
	struct worker *w = &F.w[my_worker];
	for (;;) {
		while (sem_wait(&w->start) != 0)
			;
		int op = atomic_load(&w->op);
		atomic_store(&w->state, RUNNING);
		run_op(w, op);
		atomic_store(&w->state, IDLE);
		atomic_store(&w->op, -1);
		atomic_fetch_add(&w->calls, 1);
	}
	return NULL;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until worker w parks again or ends its call, given the counts
 * before it was let go; a worker that does neither in 1 ms is blocked in
 * the kernel (a futex wait) and is left to it. */
static void step(struct worker *w, unsigned parks, unsigned calls)
{
	int64_t give_up = now_ns() + 1000000;
	while (now_ns() < give_up) {
		if (atomic_load(&w->parks) != parks ||
		    atomic_load(&w->calls) != calls)
			return;
		sched_yield();
	}
}

static void start_pool(void)
{
	static bool started;
	if (started)
		return;
	started = true;
	pthread_mutex_init(&F.lock, NULL);
	for (int p = 0; p < RALLY__POINTS; p++)
		rally__point_on((enum rally__point)p, park, NULL);
	for (int i = 0; i < MAX_WORKERS; i++) {
		atomic_store(&F.w[i].op, -1);
		sem_init(&F.w[i].go, 0, 0);
		sem_init(&F.w[i].start, 0, 0);
		pthread_create(&F.w[i].th, NULL, worker_main,
		               (void *)(intptr_t)i);
	}
}

static bool all_idle(void)
{
	for (unsigned i = 0; i < F.workers; i++)
		if (atomic_load(&F.w[i].op) >= 0)
			return false;
	return true;
}

/* Ends every call: no more parking; abort frees the waiters; tokens are
 * awaited. The workers' semaphores start the next input at zero. */
static void finish(void)
{
	atomic_store(&F.free_run, true);
	int64_t give_up = now_ns() + 10000000000LL;
	while (!all_idle()) {
		for (unsigned i = 0; i < F.workers; i++)
			if (atomic_load(&F.w[i].state) == PARKED)
				sem_post(&F.w[i].go);
		rally_barrier_abort(&F.b);
		if (now_ns() > give_up)
			fail("hang: a call did not end", 0, 0);
		nanosleep(&(struct timespec){0, 20000}, NULL);
	}
	for (unsigned i = 0; i < F.workers; i++)
		while (sem_trywait(&F.w[i].go) == 0)
			;
	rally_barrier_abort(&F.b); /* the tokens' phases end too */
	for (unsigned i = 0; i < F.workers; i++) {
		struct worker *w = &F.w[i];
		if (w->has_token)
			run_op(w, OP_AWAIT);
	}
}

static void check(void)
{
	uint64_t full = (1ull << F.parties) - 1;
	for (unsigned i = 0; i < F.nrec; i++) {
		struct phase_rec *r = &F.rec[i];
		if (r->actions > 1)
			fail("two actions in one phase", r->actions, 0);
		if (r->released == 0)
			continue;
		if (r->broken || r->timedout)
			fail("a completed phase broken or timed out for some",
			     r->broken, r->timedout);
		if (r->mask != full || r->released != F.parties)
			fail("a completed phase released too few", r->released,
			     (long)r->mask);
		if (F.action && r->actions != 1)
			fail("a completed phase's action", r->actions, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	start_pool();
	F.workers = 2 + data[0] % 3;
	F.parties = 1 + (data[0] >> 2) % 3;
	F.action = data[0] & 0x20;
	F.nrec = 0;
	rally_barrier_attr_t attr = {.action = F.action ? action : NULL,
	                             .flags =
	                                 data[0] & 0x40 ? RALLY_SHARED : 0};
	if (rally_barrier_init(&F.b, F.parties, &attr) != 0)
		fail("init", 0, 0);
	atomic_store(&F.free_run, false);
	for (size_t k = 1; k < size && k < 200; k++) {
		struct worker *w = &F.w[data[k] % F.workers];
		int what = data[k] >> 2;
		unsigned parks = atomic_load(&w->parks);
		unsigned calls = atomic_load(&w->calls);
		if (atomic_load(&w->op) < 0) {
			atomic_store(&w->op, what % OPS);
			sem_post(&w->start);
		} else if (atomic_load(&w->state) == PARKED) {
			sem_post(&w->go);
		} else {
			continue; /* blocked in the kernel */
		}
		step(w, parks, calls);
	}
	finish();
	check();
	if (rally_barrier_reset(&F.b) != 0 || rally_barrier_destroy(&F.b) != 0)
		fail("reset and destroy after the run", 0, 0);
	return 0;
}
