/* A leader waiting long for a late node tests less and less often, yet
 * sees the late one's arrival soon after it (lib/mpi/progress.c: the
 * sleeps between its MPI_Tests grow to 1/128 of the wait so far, 1 ms at
 * least, 8 ms at most). With a fixed 1 ms between tests a leader waiting
 * 1 s for a late node slept and tested a thousand times (2.3-2.9% of a CPU
 * in the benchmark; target under 2%).
 *
 * 2 ranks, RALLY_MPI_NODE_SIZE=1 (two nodes of one rank: both leaders).
 * Rank 1 arrives LATE_MS late. Rank 0 watches the sleeps librally-mpi
 * makes between its tests during its wait (this program's nanosleep()
 * takes the C library's place; a call from elsewhere is not counted; the
 * yields before the first sleep cost little and are not counted):
 *   - at most MAX_SLEEPS of them (a fixed 1 ms: over a thousand);
 *   - none longer than 1 ms or 1/128 of the time waited when it began,
 *     whichever is more, nor than 8 ms (LATE_MS is long enough that
 *     1/128 of it passes 8 ms);
 *   - the first six 20, 40, 80, 160, 320, 640 us (they start short and
 *     double: a node a little late is seen soon), every later one at
 *     least 0.9 of the cap for the time waited (the cap, not less), the
 *     longest 8 ms (they grow to the cap);
 * and rank 0 returns within SEEN_MS of rank 1's arrival (rank 1 sends the
 * time it arrived, CLOCK_MONOTONIC, after the phase; a loose bound: only
 * naps that grow without end fail it). Then two timed waits of rank 0
 * whose deadlines (TIMEOUTS_NS, not multiples of a nap) fall while rank 1
 * is late: RALLY_TIMEDOUT, not before the deadline nor more than 5 ms
 * after it, naps that grow as in the untimed wait (at most 450 of them),
 * and no nap ends more than 0.3 ms past it (a nap of up to 8 ms is cut to the deadline; uncut,
 * the wait returned up to 8 ms late — the test's deadline is taken a few
 * microseconds before the library's, hence the 0.3 ms; an uncut nap ends
 * within it 1 time in 27 at each wait). Rank 0 prints "N passed, N
 * failed" — its own checks; every rank exits non-zero if one of its own
 * failed (rank 1: its waits). */
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

enum { LATE_MS = 1200, MAX_SLEEPS = 600, SEEN_MS = 100, CHECKS = 13 };
/* rank 1 is 1.5 s late then */
static const long long TIMEOUTS_NS[2] = {1301700000LL, 1153300000LL};
#define CAP_MIN_S 1e-3
#define CAP_MAX_S 8e-3
#define SHARE 128

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0's wait: from when it began, its sleeps, the longest, and the
 * first too long for the time waited. */
static double wait_began; /* 0: not watching */
static atomic_long sleeps;
static double longest_s, too_long_s, too_long_at_s;
/* The first naps, and the first nap after them shorter than 0.9 of the
 * cap (not counting one a deadline cut). */
static double first_naps[6], too_short_s, too_short_at_s;
/* The timed wait's deadline (0: none), and how far a nap ran past it. */
static double deadline_s, overshoot_s;

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	Dl_info info;
	/* librally-mpi's first: MPI's own threads sleep too */
	if (dladdr(__builtin_return_address(0), &info) && info.dli_fname &&
	    strstr(info.dli_fname, "librally-mpi") && wait_began) {
		double nap = (double)req->tv_sec + 1e-9 * (double)req->tv_nsec,
		       waited = now_s() - wait_began,
		       cap = waited / SHARE > CAP_MIN_S ? waited / SHARE
		                                        : CAP_MIN_S;
		if (cap > CAP_MAX_S)
			cap = CAP_MAX_S;
		long k = atomic_fetch_add(&sleeps, 1);
		if (k < 6)
			first_naps[k] = nap;
		/* (a nap a deadline cut is short, rightly) */
		else if (nap < 0.9 * cap && !too_short_s &&
		         !(deadline_s &&
		           wait_began + waited + nap > deadline_s - 0.5e-3))
			too_short_s = nap, too_short_at_s = waited;
		if (nap > longest_s)
			longest_s = nap;
		if (nap > cap * 1.001 && !too_long_s)
			too_long_s = nap, too_long_at_s = waited;
		double past = wait_began + waited + nap - deadline_s;
		if (deadline_s && past > overshoot_s)
			overshoot_s = past;
	}
	return (int)syscall(SYS_nanosleep, req, rem);
}

/* Rank 0 waits `timeout_ns` while rank 1 is 1.5 s late, on a barrier
 * of its own (a timeout breaks it for good); the failed checks (3). */
static int timed_wait(int rank, long long timeout_ns)
{
	rally_mpi_barrier_t *b;
	if (rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL) ||
	    rally_mpi_barrier_wait(b) < 0) /* both in step */
		MPI_Abort(MPI_COMM_WORLD, 1);
	if (rank == 1) {
		nanosleep(&(struct timespec){1, 500000000L}, NULL);
		rally_mpi_barrier_wait(b); /* 0, or broken: either */
		rally_mpi_barrier_free(&b);
		return 0;
	}
	double began = now_s();
	long sleeps_before = atomic_load(&sleeps);
	overshoot_s = 0;
	deadline_s = began + (double)timeout_ns * 1e-9;
	wait_began = began;
	int rc = rally_mpi_barrier_timedwait(b, timeout_ns);
	double returned = now_s();
	wait_began = 0;
	double deadline = deadline_s;
	deadline_s = 0;
	printf("# timedwait(%.4f s): %s after %.4f s; the naps ran %.3f ms "
	       "past the deadline at most\n", (double)timeout_ns * 1e-9,
	       rally_strerror(rc), returned - began, overshoot_s * 1e3);
	int failed = 0;
	long made = atomic_load(&sleeps) - sleeps_before;
	if (rc != RALLY_TIMEDOUT || returned < deadline ||
	    returned > deadline + 5e-3) {
		failed++;
		printf("FAILED: timedwait: %s after %.4f s, wanted "
		       "RALLY_TIMEDOUT at %.4f s (not before, not 5 ms after)\n",
		       rally_strerror(rc), returned - began,
		       (double)timeout_ns * 1e-9);
	}
	if (made > 450 || made == 0) {
		failed++;
		printf("FAILED: %ld sleeps in the timed wait (1 ..= 450)\n",
		       made);
	}
	if (overshoot_s > 0.3e-3) {
		failed++;
		printf("FAILED: a nap ran %.3f ms past the deadline\n",
		       overshoot_s * 1e3);
	}
	rally_mpi_barrier_free(&b); /* completes the MPI_Ibarrier */
	return failed;
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
	double arrived = now_s();
	wait_began = arrived; /* rank 1 does not sleep in rally: it is last */
	int rc = rally_mpi_barrier_wait(b);
	double returned = now_s();
	wait_began = 0;
	long made = atomic_load(&sleeps);
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
		printf("# the first sleep %.3f ms, the longest %.2f ms\n",
		       first_naps[0] * 1e3, longest_s * 1e3);
		bool doubling = true;
		for (int i = 0; i < 6; i++)
			doubling &= first_naps[i] > 20e-6 * (1 << i) * 0.99 &&
			            first_naps[i] < 20e-6 * (1 << i) * 1.01;
		failed += made > MAX_SLEEPS || made == 0;
		failed += seen_ms > SEEN_MS;
		failed += too_long_s > 0;
		failed += longest_s < 7.9e-3;
		failed += !doubling;
		failed += too_short_s > 0;
		if (!doubling)
			printf("FAILED: the first sleeps %.0f %.0f %.0f %.0f %.0f "
			       "%.0f us (20 us doubling)\n", first_naps[0] * 1e6,
			       first_naps[1] * 1e6, first_naps[2] * 1e6,
			       first_naps[3] * 1e6, first_naps[4] * 1e6,
			       first_naps[5] * 1e6);
		if (too_short_s > 0)
			printf("FAILED: a sleep of %.3f ms after waiting %.0f ms "
			       "(0.9 of 1 ms or 1/%d of the wait, at least)\n",
			       too_short_s * 1e3, too_short_at_s * 1e3, SHARE);
		if (too_long_s > 0)
			printf("FAILED: a sleep of %.2f ms after waiting %.0f ms "
			       "(at most 1 ms or 1/%d of the wait, 8 ms at "
			       "most)\n", too_long_s * 1e3, too_long_at_s * 1e3,
			       SHARE);
		if (longest_s < 7.9e-3)
			printf("FAILED: the sleeps did not grow to 8 ms (the "
			       "longest %.2f ms)\n", longest_s * 1e3);
		if (made > MAX_SLEEPS || made == 0)
			printf("FAILED: %ld sleeps between tests in a wait of "
			       "%d ms (1 ..= %d)\n", made, LATE_MS, MAX_SLEEPS);
		if (seen_ms > SEEN_MS)
			printf("FAILED: returned %.1f ms after the late rank "
			       "arrived (at most %d)\n", seen_ms, SEEN_MS);
		if (rc < 0)
			printf("FAILED: wait: %s\n", rally_strerror(rc));
	}
	rally_mpi_barrier_free(&b);
	for (int k = 0; k < 2; k++)
		failed += timed_wait(rank, TIMEOUTS_NS[k]);
	if (rank == 0)
		printf("%d passed, %d failed\n", CHECKS - failed, failed);
	int all;
	MPI_Allreduce(&failed, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	MPI_Finalize();
	return all ? 1 : 0;
}
