/* RALLY_SPIN decides the node level's waiting, as rally.h says it does for
 * a barrier whose attr leaves spin at RALLY_SPIN_AUTO (review round 6 of
 * rally-mpi: with the machine's ranks outnumbering its CPUs, the node
 * level yielded under RALLY_SPIN=never, and bound ranks polled 1000
 * times).
 *
 * Usage (under mpirun, RALLY_MPI_NODE_SIZE=2, 4 ranks or more on 2 CPUs):
 *   mpi_spin_env_test never   a non-leader rank never yields
 *   mpi_spin_env_test auto    a non-leader rank yields (the count works)
 * The program's own sched_yield() takes the place of the C library's for
 * librally-mpi and librally too, and counts; the non-leaders make no MPI
 * call during the phases, so every yield counted is rally's. Rank 0 prints
 * "N passed, N failed"; every rank exits non-zero on a failure. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rally-mpi.h"

enum { PHASES = 2000 };

static atomic_long yields;

int sched_yield(void)
{
	atomic_fetch_add(&yields, 1);
	return (int)syscall(SYS_sched_yield);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "never") && strcmp(argv[1], "auto"))) {
		fprintf(stderr, "usage: mpi_spin_env_test never|auto\n");
		return 2;
	}
	bool never = !strcmp(argv[1], "never");
	setenv("RALLY_SPIN", argv[1], 1); /* before rally reads it */
	MPI_Init(&argc, &argv);
	int rank;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	rally_mpi_barrier_t *b;
	int rc = rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL);
	if (rc) {
		fprintf(stderr, "rank %d: create: %s\n", rank,
		        rally_strerror(rc));
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	rally_mpi_layout_t l;
	rally_mpi_barrier_layout(b, &l);
	atomic_store(&yields, 0);
	for (int p = 0; p < PHASES && rc >= 0; p++)
		rc = rally_mpi_barrier_wait(b);
	long mine = l.leader ? -1 : atomic_load(&yields);
	int ok = rc >= 0 && (l.leader || (never ? mine == 0 : mine > 0));
	if (!ok)
		printf("FAILED: rank %d (%s, node rank %d): %ld sched_yield "
		       "calls in %d phases with RALLY_SPIN=%s (wait: %d)\n",
		       rank, l.leader ? "leader" : "not a leader", l.node_rank,
		       mine, PHASES, argv[1], rc);
	int all_ok;
	MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	int oks;
	MPI_Reduce(&ok, &oks, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
	int size;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank == 0)
		printf("%d passed, %d failed\n", oks, size - oks);
	rally_mpi_barrier_free(&b);
	MPI_Finalize();
	return all_ok ? 0 : 1;
}
