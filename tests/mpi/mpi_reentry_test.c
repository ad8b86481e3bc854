/* Two findings of rally-mpi's second review, as tests (suite mpi):
 *   reask   a thread drives phases of two barriers in turn and asks its
 *           tokens again: the same answer (a finished driver's token of
 *           an earlier phase answered -EINVAL);
 *   action  the action calls wait, free, test and await (on its own
 *           thread's token) on its own barrier: -EDEADLK, and the phase
 *           completes (wait released itself early and hung the rank with
 *           2 threads, recursed with 1; test and await ran the action
 *           again: review round 3);
 *   slow    the action takes 300 ms, the default timeout is 100 ms: every
 *           thread arrived, so no timeout breaks the phase (round 3: it
 *           broke the rank).
 * Usage: mpi_reentry_test reask|action THREADS. Rank 0 prints
 * "N passed, N failed"; every rank exits non-zero on a failure. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rally-mpi.h"

enum { PHASES = 1000, MAX_THREADS = 4 };

static rally_mpi_barrier_t *b1, *b2;
static int threads;
static atomic_int passed, failed;

static void check(bool ok, const char *what, int got)
{
	if (ok) {
		atomic_fetch_add(&passed, 1);
	} else if (atomic_fetch_add(&failed, 1) < 5) {
		printf("FAILED: %s (got %d)\n", what, got);
	}
}

static void *reask(void *arg)
{
	(void)arg;
	for (int p = 0; p < PHASES; p++) {
		rally_token_t t1, t2;
		check(rally_mpi_barrier_arrive(b1, &t1) >= 0, "arrive b1", 0);
		check(rally_mpi_barrier_arrive(b2, &t2) >= 0, "arrive b2", 0);
		int rc = rally_mpi_barrier_await(b1, t1, RALLY_FOREVER);
		check(rc == 0, "await b1", rc);
		rc = rally_mpi_barrier_await(b2, t2, RALLY_FOREVER);
		check(rc == 0, "await b2", rc);
		rc = rally_mpi_barrier_test(b1, t1);
		check(rc == 1, "b1's token asked again (test)", rc);
		rc = rally_mpi_barrier_await(b1, t1, 0);
		check(rc == 0, "b1's token asked again (await)", rc);
		rc = rally_mpi_barrier_test(b2, t2);
		check(rc == 1, "b2's token asked again (test)", rc);
	}
	return NULL;
}

static atomic_int actions;
static _Thread_local rally_token_t my_token;

static int reenter(void *arg)
{
	(void)arg;
	if (atomic_fetch_add(&actions, 1) > 0)
		return 0; /* re-entered: counted, checked below */
	int rc = rally_mpi_barrier_timedwait(b1, 2000000000LL);
	check(rc == -EDEADLK, "wait from the barrier's own action", rc);
	rc = rally_mpi_barrier_free(&b1);
	check(rc == -EDEADLK, "free from the barrier's own action", rc);
	rc = rally_mpi_barrier_test(b1, my_token);
	check(rc == -EDEADLK, "test from the barrier's own action", rc);
	rc = rally_mpi_barrier_await(b1, my_token, 0);
	check(rc == -EDEADLK, "await from the barrier's own action", rc);
	return 0;
}

static void *wait_once(void *arg)
{
	(void)arg;
	int rc = rally_mpi_barrier_arrive(b1, &my_token);
	check(rc >= 0, "arrive", rc);
	rc = rally_mpi_barrier_await(b1, my_token, 5000000000LL);
	check(rc == 0, "the phase whose action called back", rc);
	return NULL;
}

static int slow_action(void *arg)
{
	(void)arg;
	atomic_fetch_add(&actions, 1);
	struct timespec ts = {0, 300000000};
	nanosleep(&ts, NULL);
	return 0;
}

static void *wait_slow(void *arg)
{
	(void)arg;
	int rc = rally_mpi_barrier_wait(b1); /* attr's 100 ms timeout */
	check(rc >= 0, "a wait whose phase's action outlasted its timeout",
	      rc);
	return NULL;
}

static void run(void *(*fn)(void *))
{
	pthread_t t[MAX_THREADS];
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	fn(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	int provided, rank;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	threads = argc > 2 ? atoi(argv[2]) : 2;
	bool action = argc > 1 && strcmp(argv[1], "action") == 0;
	bool slow = argc > 1 && strcmp(argv[1], "slow") == 0;
	if (argc < 2 || (!action && !slow && strcmp(argv[1], "reask") != 0) ||
	    threads < 1 || threads > MAX_THREADS) {
		if (rank == 0)
			fprintf(stderr, "usage: %s reask|action|slow THREADS(1-4)\n",
			        argv[0]);
		MPI_Finalize();
		return 2;
	}
	rally_barrier_attr_t attr = {.action = reenter};
	if (slow)
		attr = (rally_barrier_attr_t){.action = slow_action,
		                              .timeout_ns = 100000000};
	int rc = rally_mpi_barrier_create(&b1, MPI_COMM_WORLD, (unsigned)threads,
	                                  action || slow ? &attr : NULL);
	check(rc == 0, "create b1", rc);
	if (!action && !slow) {
		rc = rally_mpi_barrier_create(&b2, MPI_COMM_WORLD,
		                              (unsigned)threads, NULL);
		check(rc == 0, "create b2", rc);
	}
	run(action ? wait_once : slow ? wait_slow : reask);
	if (action || slow)
		check(atomic_load(&actions) == 1, "the action ran once",
		      atomic_load(&actions));
	check(rally_mpi_barrier_free(&b1) == 0, "free b1", 0);
	if (b2)
		check(rally_mpi_barrier_free(&b2) == 0, "free b2", 0);
	int f = atomic_load(&failed), all = 0;
	MPI_Allreduce(&f, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf("%d passed, %d failed\n", atomic_load(&passed), all);
	MPI_Finalize();
	return all != 0;
}
