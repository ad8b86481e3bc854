/* Two findings of rally-mpi's second review, as tests (suite mpi):
 *   reask   a thread drives phases of two barriers in turn and asks its
 *           tokens again: the same answer (a finished driver's token of
 *           an earlier phase answered -EINVAL);
 *   action  the action calls wait, free, test and await (on its own
 *           thread's token) on its own barrier: -EDEADLK, and the phase
 *           completes (wait released itself early and hung the rank with
 *           2 threads, recursed with 1; test and await ran the action
 *           again: review round 3);
 *   nested  A's action waits on barrier B, whose action calls wait and
 *           free on A: -EDEADLK there too (round 4: only the innermost
 *           action was known, and A's phases ran recursively).
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

static int inner_action(void *arg)
{
	(void)arg;
	atomic_fetch_add(&actions, 1);
	int rc = rally_mpi_barrier_wait(b1);
	check(rc == -EDEADLK, "wait on A from B's action inside A's", rc);
	rc = rally_mpi_barrier_free(&b1);
	check(rc == -EDEADLK, "free of A from B's action inside A's", rc);
	return 0;
}

static int outer_action(void *arg)
{
	(void)arg;
	int rc = rally_mpi_barrier_wait(b2);
	check(rc >= 0, "wait on B from A's action", rc);
	return 0;
}

static void *wait_nested(void *arg)
{
	(void)arg;
	int rc = rally_mpi_barrier_wait(b1);
	check(rc >= 0, "the phase of A whose action waited on B", rc);
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
	bool nested = argc > 1 && strcmp(argv[1], "nested") == 0;
	if (argc < 2 || (!action && !nested && strcmp(argv[1], "reask") != 0) ||
	    threads < 1 || threads > MAX_THREADS) {
		if (rank == 0)
			fprintf(stderr, "usage: %s reask|action|nested THREADS(1-4)\n",
			        argv[0]);
		MPI_Finalize();
		return 2;
	}
	rally_barrier_attr_t attr = {.action = reenter};
	rally_barrier_attr_t inner = {.action = inner_action};
	if (nested)
		attr = (rally_barrier_attr_t){.action = outer_action};
	int rc = rally_mpi_barrier_create(&b1, MPI_COMM_WORLD, (unsigned)threads,
	                                  action || nested ? &attr : NULL);
	check(rc == 0, "create b1", rc);
	if (!action) {
		rc = rally_mpi_barrier_create(&b2, MPI_COMM_WORLD,
		                              (unsigned)threads,
		                              nested ? &inner : NULL);
		check(rc == 0, "create b2", rc);
	}
	run(action ? wait_once : nested ? wait_nested : reask);
	if (action || nested)
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
