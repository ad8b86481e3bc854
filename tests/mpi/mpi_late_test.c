/* A leader waiting long for a late node tests less and less often, yet
 * sees the late one's arrival soon after it (lib/mpi/progress.c: the
 * sleeps between its MPI_Tests grow to 1/128 of the wait so far, 1 ms at
 * least, 8 ms at most). With a fixed 1 ms between tests a leader waiting
 * 1 s for a late node slept and tested a thousand times (2.3-2.9% of a CPU
 * in the benchmark; target under 2%).
 *
 * 2 ranks, RALLY_MPI_NODE_SIZE=1 (two nodes of one rank: both leaders),
 * RALLY_SPIN=auto (meson.build). Rank 0 watches the sleeps librally-mpi
 * makes between its tests (this program's nanosleep() takes the C
 * library's place; a call from elsewhere is not counted; the spin and
 * yields before the first sleep are not checked here). In every wait:
 * the first six naps 20, 40, 80, 160, 320, 640 us; none longer than 1 ms
 * or 1/128 of the time this wait has waited, whichever is more, nor than
 * 8 ms; after the first six, none shorter than 0.9 of that.
 *   1. rank 1 arrives LATE_MS late: at most MAX_SLEEPS naps, the longest
 *      8 ms (1/128 of LATE_MS passes 8 ms), and rank 0 returns within
 *      SEEN_MS of rank 1's arrival (rank 1 sends the time it arrived; a
 *      loose bound: only naps that grow without end fail it);
 *   2. on the same barrier, 60 ms late: the naps start again (a cap
 *      counted from an earlier wait's start fails the checks above);
 *   3. two timed waits, each on a barrier of its own, whose deadlines
 *      (TIMEOUTS_NS, not multiples of a nap) fall while rank 1 is 1.5 s
 *      late: RALLY_TIMEDOUT, not before the deadline nor more than 20 ms
 *      after it (a loaded machine's wake-up; a wait that goes on past its
 *      deadline fails; the cut itself is the next check), at most 450 naps, and no nap ending more than 0.3 ms past
 *      the deadline (uncut, the wait returned up to 8 ms late; the test's
 *      deadline is taken a few microseconds before the library's, hence
 *      the 0.3 ms; an uncut nap ends within it 1 time in 27 at each
 *      wait); then free, which completes the outstanding MPI_Ibarrier —
 *      it returns after rank 1 arrived — burns under a quarter of a CPU
 *      (MPI_Wait spun: a whole one).
 * Rank 0 prints "N passed, N failed" (its checks; rank 1 checks only its
 * waits); every rank exits non-zero if any check on any rank failed. */
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

/* checks: 2 waits x 5 (rc, seen, 3 on naps) + 2 + 2 timed waits x 8 */
enum { LATE_MS = 1200, MAX_SLEEPS = 600, SEEN_MS = 100, CHECKS = 28 };
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
static long wait_naps; /* this wait's naps so far */
/* The timed wait's deadline (0: none), and how far a nap ran past it. */
static double deadline_s, overshoot_s;

/* Rank 0 starts watching a wait (deadline_at: 0, or its deadline). */
static void watch(double deadline_at)
{
	longest_s = too_long_s = too_short_s = overshoot_s = 0;
	memset(first_naps, 0, sizeof first_naps);
	wait_naps = 0;
	deadline_s = deadline_at;
	wait_began = now_s();
}

/* ... and stops: the nap checks every wait must pass (3 failed at most):
 * no nap longer than the cap, none after the first six shorter than 0.9
 * of it, the first six 20 us doubling. */
static int naps_checked(const char *what)
{
	wait_began = deadline_s = 0;
	int failed = 0;
	bool doubling = true;
	for (int i = 0; i < 6; i++)
		doubling &= first_naps[i] > 20e-6 * (1 << i) * 0.99 &&
		            first_naps[i] < 20e-6 * (1 << i) * 1.01;
	if (!doubling) {
		failed++;
		printf("FAILED: %s: the first sleeps %.0f %.0f %.0f %.0f %.0f "
		       "%.0f us (20 us doubling)\n", what, first_naps[0] * 1e6,
		       first_naps[1] * 1e6, first_naps[2] * 1e6,
		       first_naps[3] * 1e6, first_naps[4] * 1e6,
		       first_naps[5] * 1e6);
	}
	if (too_short_s > 0) {
		failed++;
		printf("FAILED: %s: a sleep of %.3f ms after waiting %.0f ms "
		       "(0.9 of 1 ms or 1/%d of the wait, at least)\n", what,
		       too_short_s * 1e3, too_short_at_s * 1e3, SHARE);
	}
	if (too_long_s > 0) {
		failed++;
		printf("FAILED: %s: a sleep of %.2f ms after waiting %.0f ms "
		       "(at most 1 ms or 1/%d of the wait, 8 ms at most)\n",
		       what, too_long_s * 1e3, too_long_at_s * 1e3, SHARE);
	}
	return failed;
}

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
		atomic_fetch_add(&sleeps, 1);
		long k = wait_naps++;
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

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0 waits `timeout_ns` while rank 1 is 1.5 s late, on a barrier
 * of its own (a timeout breaks it for good), then frees it — which
 * completes the outstanding MPI_Ibarrier when rank 1 arrives, napping as
 * a leader waits (MPI_Wait spun: a whole CPU); the failed checks. */
static int timed_wait(int rank, long long timeout_ns)
{
	rally_mpi_barrier_t *b;
	if (rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL) ||
	    rally_mpi_barrier_wait(b) < 0) /* both in step */
		MPI_Abort(MPI_COMM_WORLD, 1);
	if (rank == 1) {
		nanosleep(&(struct timespec){1, 500000000L}, NULL);
		double arrived = now_s();
		rally_mpi_barrier_wait(b); /* 0, or broken: either */
		MPI_Send(&arrived, 1, MPI_DOUBLE, 0, 1, MPI_COMM_WORLD);
		rally_mpi_barrier_free(&b);
		return 0;
	}
	long sleeps_before = atomic_load(&sleeps);
	watch(now_s() + (double)timeout_ns * 1e-9);
	double began = wait_began, deadline = deadline_s;
	int rc = rally_mpi_barrier_timedwait(b, timeout_ns);
	double returned = now_s(), overshoot = overshoot_s;
	int failed = naps_checked("timedwait");
	printf("# timedwait(%.4f s): %s after %.4f s; the naps ran %.3f ms "
	       "past the deadline at most\n", (double)timeout_ns * 1e-9,
	       rally_strerror(rc), returned - began, overshoot * 1e3);
	long made = atomic_load(&sleeps) - sleeps_before;
	if (rc != RALLY_TIMEDOUT || returned < deadline ||
	    returned > deadline + 20e-3) {
		failed++;
		printf("FAILED: timedwait: %s after %.4f s, wanted "
		       "RALLY_TIMEDOUT at %.4f s (not before, not 20 ms after)\n",
		       rally_strerror(rc), returned - began,
		       (double)timeout_ns * 1e-9);
	}
	if (made > 450 || made == 0) {
		failed++;
		printf("FAILED: %ld sleeps in the timed wait (1 ..= 450)\n",
		       made);
	}
	if (overshoot > 0.3e-3) {
		failed++;
		printf("FAILED: a nap ran %.3f ms past the deadline\n",
		       overshoot * 1e3);
	}
	double t0 = now_s(), c0 = thread_cpu_s();
	rally_mpi_barrier_free(&b);
	double freed = now_s(), wall = freed - t0, cpu = thread_cpu_s() - c0;
	double late_arrival;
	MPI_Recv(&late_arrival, 1, MPI_DOUBLE, 1, 1, MPI_COMM_WORLD,
	         MPI_STATUS_IGNORE);
	printf("# free: %.3f s, %.3f s of CPU\n", wall, cpu);
	if (freed < late_arrival) {
		failed++;
		printf("FAILED: free returned %.3f s before rank 1 arrived: "
		       "the MPI_Ibarrier was not completed\n",
		       late_arrival - freed);
	}
	if (wall > 0.05 && cpu > 0.25 * wall) {
		failed++;
		printf("FAILED: free burned %.0f%% of a CPU while it completed "
		       "the MPI_Ibarrier\n", 100 * cpu / wall);
	}
	return failed;
}

int main(int argc, char **argv)
{
	int provided, rank, size;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	alarm(30);
	rally_mpi_barrier_t *b;
	rally_mpi_layout_t l;
	if (size != 2 || rally_mpi_barrier_create(&b, MPI_COMM_WORLD, 1, NULL) ||
	    rally_mpi_barrier_layout(b, &l) || l.nodes != 2) {
		fprintf(stderr, "needs 2 ranks and RALLY_MPI_NODE_SIZE=1\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	if (rally_mpi_barrier_wait(b) < 0) /* both in step */
		MPI_Abort(MPI_COMM_WORLD, 1);
	/* 1. LATE_MS late; 2. on the same barrier, 60 ms late: the naps
	 * start again from 20 us and the cap from the wait's own start. */
	int failed = 0;
	for (int phase = 1; phase <= 2; phase++) {
		long late_ms = phase == 1 ? LATE_MS : 60;
		if (rank == 1)
			nanosleep(&(struct timespec){late_ms / 1000,
			                             late_ms % 1000 * 1000000L},
			          NULL);
		long before = atomic_load(&sleeps);
		double arrived = now_s();
		if (rank == 0)
			watch(0);
		int rc = rally_mpi_barrier_wait(b);
		double returned = now_s();
		long made = atomic_load(&sleeps) - before;
		failed += rc < 0;
		if (rank == 1) {
			MPI_Send(&arrived, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD);
			continue;
		}
		double longest = longest_s;
		failed += naps_checked(phase == 1 ? "the long wait"
		                                  : "the short wait");
		double late_arrival;
		MPI_Recv(&late_arrival, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD,
		         MPI_STATUS_IGNORE);
		double seen_ms = (returned - late_arrival) * 1e3;
		printf("# rank 0 waited %.0f ms: %ld sleeps between tests, the "
		       "longest %.2f ms, returned %.1f ms after rank 1 "
		       "arrived\n", (returned - arrived) * 1e3, made,
		       longest * 1e3, seen_ms);
		if (rc < 0)
			printf("FAILED: wait: %s\n", rally_strerror(rc));
		if (seen_ms > SEEN_MS) {
			failed++;
			printf("FAILED: returned %.1f ms after the late rank "
			       "arrived (at most %d)\n", seen_ms, SEEN_MS);
		}
		if (phase == 1 && (made > MAX_SLEEPS || made == 0)) {
			failed++;
			printf("FAILED: %ld sleeps between tests in a wait of "
			       "%d ms (1 ..= %d)\n", made, LATE_MS, MAX_SLEEPS);
		}
		if (phase == 1 && longest < 7.9e-3) {
			failed++;
			printf("FAILED: the sleeps did not grow to 8 ms (the "
			       "longest %.2f ms)\n", longest * 1e3);
		}
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
