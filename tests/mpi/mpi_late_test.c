/* A leader waiting long for a late node tests less and less often, yet
 * sees the late one's arrival soon after it (lib/mpi/progress.c: the
 * sleeps between its MPI_Tests grow to 1/64 of the wait so far, 1 ms at
 * least, 16 ms at most). With a fixed 1 ms between tests a leader waiting
 * 1 s for a late node slept and tested a thousand times (2.9% of a CPU in
 * the benchmark; target under 2%).
 *
 * 2 ranks, RALLY_MPI_NODE_SIZE=1 (two nodes of one rank: both leaders).
 * Rank 1 arrives LATE_MS late. Rank 0 counts the sleeps librally-mpi makes
 * between its tests during its wait (this program's nanosleep() takes the
 * C library's place; a call from elsewhere is not counted; the yields
 * before the first sleep cost little and are not counted): at most
 * MAX_SLEEPS; and it returns within SEEN_MS of rank 1's arrival (rank 1
 * sends the time it arrived, CLOCK_MONOTONIC, after the phase). Rank 0
 * prints "N passed, N failed". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rally-mpi.h"

enum { LATE_MS = 1000, MAX_SLEEPS = 500, SEEN_MS = 100 };

static atomic_long sleeps;

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	Dl_info info;
	if (dladdr(__builtin_return_address(0), &info) && info.dli_fname &&
	    strstr(info.dli_fname, "librally-mpi"))
		atomic_fetch_add(&sleeps, 1);
	return (int)syscall(SYS_nanosleep, req, rem);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int provided, rank, size;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	alarm(20);
	rally_mpi_barrier_t *b;
	rally_mpi_layout_t l;
	if (size != 2 || rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL) ||
	    rally_mpi_barrier_layout(b, &l) || l.nodes != 2) {
		fprintf(stderr, "needs 2 ranks and RALLY_MPI_NODE_SIZE=1\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	if (rally_mpi_barrier_wait(b) < 0) /* both in step */
		MPI_Abort(MPI_COMM_WORLD, 1);
	if (rank == 1)
		nanosleep(&(struct timespec){LATE_MS / 1000,
		                             LATE_MS % 1000 * 1000000L},
		          NULL);
	long before = atomic_load(&sleeps);
	double arrived = now_s();
	int rc = rally_mpi_barrier_wait(b);
	double returned = now_s();
	long made = atomic_load(&sleeps) - before;
	int failed = rc < 0;
	if (rank == 1) {
		MPI_Send(&arrived, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD);
	} else {
		double late_arrival;
		MPI_Recv(&late_arrival, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD,
		         MPI_STATUS_IGNORE);
		double seen_ms = (returned - late_arrival) * 1e3;
		printf("# rank 0 waited %.0f ms: %ld sleeps between tests, returned "
		       "%.1f ms after rank 1 arrived\n",
		       (returned - arrived) * 1e3, made, seen_ms);
		failed += made > MAX_SLEEPS || made == 0;
		failed += seen_ms > SEEN_MS;
		if (made > MAX_SLEEPS || made == 0)
			printf("FAILED: %ld sleeps between tests in a wait of "
			       "%d ms (1 ..= %d)\n", made, LATE_MS, MAX_SLEEPS);
		if (seen_ms > SEEN_MS)
			printf("FAILED: returned %.1f ms after the late rank "
			       "arrived (at most %d)\n", seen_ms, SEEN_MS);
		if (rc < 0)
			printf("FAILED: wait: %s\n", rally_strerror(rc));
		printf("%d passed, %d failed\n", 3 - failed, failed);
	}
	rally_mpi_barrier_free(&b);
	int all;
	MPI_Allreduce(&failed, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	MPI_Finalize();
	return all ? 1 : 0;
}
