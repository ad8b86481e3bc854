/* floor_probe.c — rally against the spin floor, outside rally-bench.
 *
 * A second opinion on the benchmark's headline ratio, with none of its
 * machinery: no Google Benchmark, no harness switch. Two parties (threads,
 * or fork()ed processes with RALLY_SHARED) cross a barrier PHASES times;
 * rounds cycle through rally, ConcurrencyKit's centralized barrier (its
 * counter and sense on a line of their own, each party's sense on its own
 * line, as ck's authors lay it out) and a bare counter barrier written
 * inline here (one fetch-add, the last stores the generation, the others
 * poll it: no call, no fence beyond the atomics — what any barrier on one
 * line must at least do), so that all see the same machine state, and the
 * ratios are taken per round: a host that changes speed between rounds
 * moves all of them. Prints each round and the median, min and max of the
 * ratios.
 *
 * usage: rally-floor-probe [--procs] [--rounds N] [--phases N] [--busy] */
#define _GNU_SOURCE
#include <ck_barrier.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

#include "rally.h"

#define LINE 128

/* Everything the parties share, each part on lines of its own. */
struct arena {
	_Alignas(LINE) rally_barrier_t rally;
	_Alignas(LINE) ck_barrier_centralized_t ck;
	_Alignas(LINE) ck_barrier_centralized_state_t ck_state[2][LINE /
	                                                          sizeof(ck_barrier_centralized_state_t)];
	_Alignas(LINE) struct {
		_Atomic uint32_t count, gen;
	} bare;
	_Alignas(LINE) _Atomic int go; /* round number to run; -1: quit */
	_Alignas(LINE) _Atomic int done;
};

enum which { RALLY, CK, BARE, WHICH };

static struct arena *A;
static long phases = 200000;

static void cross(enum which w, unsigned self, long n)
{
	if (w == RALLY) {
		for (long i = 0; i < n; i++)
			if (rally_barrier_wait(&A->rally) < 0)
				abort();
	} else if (w == CK) {
		for (long i = 0; i < n; i++)
			ck_barrier_centralized(&A->ck, &A->ck_state[self][0], 2);
	} else {
		for (long i = 0; i < n; i++) {
			uint32_t g = atomic_load_explicit(&A->bare.gen,
			                                  memory_order_acquire);
			if (atomic_fetch_add_explicit(&A->bare.count, 1,
			                              memory_order_acq_rel) == 1) {
				atomic_store_explicit(&A->bare.count, 0,
				                      memory_order_relaxed);
				atomic_store_explicit(&A->bare.gen, g + 1,
				                      memory_order_release);
				continue;
			}
			while (atomic_load_explicit(&A->bare.gen,
			                            memory_order_acquire) == g)
				__builtin_ia32_pause();
		}
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Party 1: runs each round the leader announces (round r: rally, ck or
 * bare as r % 3), until -1. */
static void follower(void)
{
	for (int r = 0;; r++) {
		int g;
		while ((g = atomic_load(&A->go)) < r)
			if (g < 0)
				return;
		if (g < 0)
			return;
		cross((enum which)(g % WHICH), 1, phases);
		atomic_store(&A->done, r + 1);
	}
}

static void *follower_thread(void *arg)
{
	(void)arg;
	follower();
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	bool procs = false, busy = false;
	int rounds = 15;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--procs"))
			procs = true;
		else if (!strcmp(argv[i], "--busy"))
			busy = true;
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--phases") && i + 1 < argc)
			phases = atol(argv[++i]);
		else {
			printf("usage: %s [--procs] [--rounds N] [--phases N] "
			       "[--busy]\n"
			       "2 parties cross rally's barrier, ck's "
			       "centralized one and a bare inline counter\n"
			       "barrier in rotating rounds; prints ns per "
			       "phase and the ratios per round.\n"
			       "--busy: a process spins on one CPU meanwhile "
			       "(a noisy neighbour).\n",
			       argv[0]);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (rounds < 1 || rounds > 1000 || phases < 1) {
		fprintf(stderr, "rounds 1..1000, phases >= 1\n");
		return 2;
	}
	A = mmap(NULL, sizeof *A, PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (A == MAP_FAILED)
		return 1;
	rally_barrier_attr_t attr = {.flags = procs ? RALLY_SHARED : 0};
	if (rally_barrier_init(&A->rally, 2, &attr) != 0)
		return 1;
	pid_t hog = 0;
	if (busy && (hog = fork()) == 0)
		for (volatile unsigned long x = 0;; x++)
			;
	pid_t kid = 0;
	pthread_t th;
	if (procs) {
		if ((kid = fork()) == 0) {
			follower();
			_exit(0);
		}
	} else {
		pthread_create(&th, NULL, follower_thread, NULL);
	}
	static double ns[3000], vs_ck[1000], vs_bare[1000];
	for (int r = 0; r < WHICH * rounds; r++) {
		atomic_store(&A->go, r);
		double t0 = now();
		cross((enum which)(r % WHICH), 0, phases);
		ns[r] = (now() - t0) * 1e9 / phases;
		while (atomic_load(&A->done) < r + 1)
			;
		if (r % WHICH == WHICH - 1) {
			int k = r / WHICH;
			vs_ck[k] = ns[r - 2] / ns[r - 1];
			vs_bare[k] = ns[r - 2] / ns[r];
			printf("round %2d: rally %7.1f ns  ck %7.1f ns  bare "
			       "%7.1f ns  rally/ck %.2f  rally/bare %.2f\n",
			       k + 1, ns[r - 2], ns[r - 1], ns[r], vs_ck[k],
			       vs_bare[k]);
			fflush(stdout);
		}
	}
	atomic_store(&A->go, -1);
	if (procs)
		waitpid(kid, NULL, 0);
	else
		pthread_join(th, NULL);
	if (hog) {
		kill(hog, SIGKILL);
		waitpid(hog, NULL, 0);
	}
	qsort(vs_ck, rounds, sizeof vs_ck[0], cmp);
	qsort(vs_bare, rounds, sizeof vs_bare[0], cmp);
	printf("%s, %d rounds of %ld phases: rally/ck median %.2f (min %.2f, "
	       "max %.2f); rally/bare median %.2f (min %.2f, max %.2f)\n",
	       procs ? "2 processes" : "2 threads", rounds, phases,
	       vs_ck[rounds / 2], vs_ck[0], vs_ck[rounds - 1],
	       vs_bare[rounds / 2], vs_bare[0], vs_bare[rounds - 1]);
	rally_barrier_destroy(&A->rally);
	return 0;
}
