/* An abort from another thread reaches a 1-thread rank waiting above its
 * rank's level (review round 12 of rally-mpi: only the rank level's abort
 * was tested; with the node level's and the leader's checks of `broken`
 * removed, every test passed). 4 ranks, RALLY_MPI_NODE_SIZE=2 (nodes
 * {0,1} and {2,3}); rank 3 arrives LATE_MS late.
 *
 *   mpi_abort_test member   rank 1 (a member, waiting at its node's
 *                           release) is aborted after ABORT_MS: RALLY_BROKEN
 *                           well before rank 3 arrives; its arrival counted,
 *                           so the others complete the phase (0)
 *   mpi_abort_test leader   rank 0 (a leader, in its MPI_Ibarrier loop) is
 *                           aborted after ABORT_MS: RALLY_BROKEN well before
 *                           rank 3 arrives; rank 1, its node's member, is
 *                           left waiting (documented) and times out; node 1
 *                           completes (0)
 * Every rank then frees (rank 0's MPI_Ibarrier completes once node 1's
 * leader posts its own). Rank 0 prints "N passed, N failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rally-mpi.h"

enum { LATE_MS = 600, ABORT_MS = 100, MEMBER_TIMEOUT_MS = 1200 };

static rally_mpi_barrier_t *b;

static void *aborter(void *arg)
{
	(void)arg;
	nanosleep(&(struct timespec){0, ABORT_MS * 1000000L}, NULL);
	rally_mpi_barrier_abort(b);
	return NULL;
}

int main(int argc, char **argv)
{
	bool leader_case = argc == 2 && !strcmp(argv[1], "leader");
	if (argc != 2 || (!leader_case && strcmp(argv[1], "member"))) {
		fprintf(stderr, "usage: mpi_abort_test member|leader\n");
		return 2;
	}
	int provided, rank, size;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	alarm(20);
	if (size != 4 || rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL)) {
		fprintf(stderr, "needs 4 ranks and RALLY_MPI_NODE_SIZE=2\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	rally_mpi_layout_t l;
	rally_mpi_barrier_layout(b, &l);
	if (l.nodes != 2)
		MPI_Abort(MPI_COMM_WORLD, 2);
	int victim = leader_case ? 0 : 1;
	pthread_t t;
	if (rank == victim)
		pthread_create(&t, NULL, aborter, NULL);
	if (rank == 3)
		nanosleep(&(struct timespec){0, LATE_MS * 1000000L}, NULL);
	double t0 = MPI_Wtime();
	int rc = leader_case && rank == 1
	             ? rally_mpi_barrier_timedwait(b, MEMBER_TIMEOUT_MS *
	                                              1000000LL)
	             : rally_mpi_barrier_wait(b);
	double took = MPI_Wtime() - t0;
	bool ok;
	const char *want;
	if (rank == victim) {
		pthread_join(t, NULL);
		want = "RALLY_BROKEN before the late rank arrives";
		ok = rc == RALLY_BROKEN && took < (LATE_MS - 200) / 1e3;
	} else if (leader_case && rank == 1) {
		want = "RALLY_TIMEDOUT (its leader stopped before the release)";
		ok = rc == RALLY_TIMEDOUT;
	} else {
		want = "0 (the victim's arrival counted)";
		ok = rc >= 0;
	}
	if (!ok)
		printf("FAILED: %s case, rank %d: %d (%s) after %.3f s; wanted "
		       "%s\n", argv[1], rank, rc, rally_strerror(rc), took,
		       want);
	rally_mpi_barrier_free(&b);
	int mine = ok, oks;
	MPI_Reduce(&mine, &oks, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
	if (rank == 0)
		printf("%d passed, %d failed\n", oks, size - oks);
	int all;
	MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	MPI_Finalize();
	return all ? 0 : 1;
}
