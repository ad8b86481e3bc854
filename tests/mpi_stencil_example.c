/* A hybrid stencil step — the README's example, built and run by the mpi
 * suite: heat diffuses along a rod cut among the ranks, each rank's part
 * cut among its threads. Each step the threads compute their cells, then
 * meet at the hierarchical barrier; its action — once per phase in each
 * rank, in the thread that makes the rank's MPI calls, before the rank's
 * threads go on — swaps the buffers and exchanges the halo cells with the
 * neighbouring ranks. Rank 0 then checks the result against the same rod
 * computed by one thread. Usage: mpi_stencil_example [threads] [steps] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rally-mpi.h"

enum { CELLS = 240 }; /* per rank: every thread count up to 8 divides it */

static double *cur, *next; /* CELLS + 2: a halo cell at each end */
static int rank, ranks, threads, steps;
static rally_mpi_barrier_t *barrier;

static void exchange_halos(void)
{
	int left = rank > 0 ? rank - 1 : MPI_PROC_NULL;
	int right = rank < ranks - 1 ? rank + 1 : MPI_PROC_NULL;
	MPI_Sendrecv(&cur[1], 1, MPI_DOUBLE, left, 0, &cur[CELLS + 1], 1,
	             MPI_DOUBLE, right, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	MPI_Sendrecv(&cur[CELLS], 1, MPI_DOUBLE, right, 1, &cur[0], 1,
	             MPI_DOUBLE, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

/* The action: the step is done everywhere in this rank (and in every
 * other: the barrier's levels above completed first). */
static int swap_and_exchange(void *arg)
{
	(void)arg;
	double *t = cur;
	cur = next;
	next = t;
	exchange_halos();
	return 0;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg, chunk = CELLS / threads;
	for (int s = 0; s < steps; s++) {
		for (int i = 1 + t * chunk; i <= (t + 1) * chunk; i++)
			next[i] = cur[i] + 0.25 * (cur[i - 1] - 2 * cur[i] +
			                           cur[i + 1]);
		int rc = rally_mpi_barrier_wait(barrier);
		if (rc < 0) {
			fprintf(stderr, "rank %d: %s\n", rank, rally_strerror(rc));
			MPI_Abort(MPI_COMM_WORLD, 1);
		}
	}
	return NULL;
}

/* The whole rod, one thread: what the ranks must have computed. */
static int check(const double *all)
{
	int n = CELLS * ranks;
	double *a = calloc(n + 2, sizeof *a), *b = calloc(n + 2, sizeof *b);
	a[n / 2] = 1000.0;
	for (int s = 0; s < steps; s++) {
		for (int i = 1; i <= n; i++)
			b[i] = a[i] + 0.25 * (a[i - 1] - 2 * a[i] + a[i + 1]);
		double *t = a;
		a = b;
		b = t;
	}
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += all[i] != a[i + 1];
	free(a);
	free(b);
	return bad;
}

int main(int argc, char **argv)
{
	int provided;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &ranks);
	threads = argc > 1 ? atoi(argv[1]) : 2;
	steps = argc > 2 ? atoi(argv[2]) : 500;
	if (threads < 1 || threads > 8 || CELLS % threads || steps < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: %s [threads 1-8, dividing %d] "
			                "[steps]\n", argv[0], CELLS);
		MPI_Finalize();
		return 2;
	}
	cur = calloc(CELLS + 2, sizeof *cur);
	next = calloc(CELLS + 2, sizeof *next);
	int middle = CELLS * ranks / 2 - 1; /* the rod's middle cell */
	if (rank == middle / CELLS)
		cur[1 + middle % CELLS] = 1000.0;
	rally_barrier_attr_t attr = {.action = swap_and_exchange};
	int rc = rally_mpi_barrier_create(&barrier, MPI_COMM_WORLD,
	                                  (unsigned)threads, &attr);
	if (rc < 0) {
		fprintf(stderr, "create: %s\n", rally_strerror(rc));
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	exchange_halos();
	pthread_t tid[8];
	for (int t = 0; t < threads; t++)
		pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t);
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	rc = rally_mpi_barrier_free(&barrier);
	double *all = rank == 0 ? malloc(sizeof *all * CELLS * ranks) : NULL;
	MPI_Gather(&cur[1], CELLS, MPI_DOUBLE, all, CELLS, MPI_DOUBLE, 0,
	           MPI_COMM_WORLD);
	int bad = rank == 0 ? check(all) : 0;
	if (rank == 0)
		printf("%d ranks x %d threads, %d steps: %d cells wrong, free "
		       "%d\n%d passed, %d failed\n",
		       ranks, threads, steps, bad, rc, !bad && rc == 0,
		       bad || rc != 0);
	MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
	MPI_Finalize();
	return bad || rc != 0;
}
