/* heat.c — rally-heat: heat diffusion on an n x n grid, a strip of rows per
 * thread and a rally barrier between steps: the README's worked example
 * of finding a straggler.
 *
 *   rally-heat [--threads T] [--size N] [--steps S] [--imbalanced] [--stats]
 *
 * --imbalanced gives the last thread a strip twice the others' (the grid
 * split as if it had two shares): the others wait for it every step.
 * --stats creates the barrier with RALLY_STATS and prints its counts at
 * the end (rally_barrier_stats()); run it under `rally stats --` for the
 * view from the trace. Prints a checksum of the final grid (the same for
 * every split and thread count). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rally.h"

static struct {
	unsigned threads, n, steps;
	bool imbalanced, stats;
	double *grid[2];
	unsigned *first_row; /* thread t: rows first_row[t] .. first_row[t+1) */
	rally_barrier_t barrier;
	pid_t *tid;
} H = {.threads = 4, .n = 512, .steps = 200};

static void usage(FILE *f)
{
	fprintf(f, "usage: rally-heat [--threads T] [--size N] [--steps S] "
	           "[--imbalanced] [--stats]\n"
	           "Heat diffusion on an N x N grid (default 512), S steps "
	           "(200), T threads (4),\na strip of rows each, a rally "
	           "barrier between steps. --imbalanced: the last\nthread's "
	           "strip is twice the others'. --stats: print the barrier's "
	           "statistics\n(RALLY_STATS) at the end. Prints a checksum "
	           "of the final grid.\n");
}

static bool number(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || s[0] == '-' || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Rows 1 .. n-2 (the border stays 0, the centre row is held hot) split in
 * shares: one each, two for the last thread when imbalanced. */
static void split_rows(void)
{
	unsigned shares = H.threads + (H.imbalanced ? 1 : 0), inner = H.n - 2;
	for (unsigned t = 0; t <= H.threads; t++) {
		unsigned s = t < H.threads ? t : shares;
		H.first_row[t] = 1 + (unsigned)((uint64_t)inner * s / shares);
	}
}

static void step_rows(const double *in, double *out, unsigned lo,
                      unsigned hi)
{
	unsigned n = H.n;
	for (unsigned r = lo; r < hi; r++)
		for (unsigned c = 1; c + 1 < n; c++)
			out[r * n + c] =
			    r == n / 2 ? 1.0
			               : 0.25 * (in[(r - 1) * n + c] +
			                         in[(r + 1) * n + c] +
			                         in[r * n + c - 1] + in[r * n + c + 1]);
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	H.tid[t] = (pid_t)syscall(SYS_gettid);
	for (unsigned s = 0; s < H.steps; s++) {
		step_rows(H.grid[s % 2], H.grid[(s + 1) % 2], H.first_row[t],
		          H.first_row[t + 1]);
		int rc = rally_barrier_wait(&H.barrier);
		if (rc < 0) {
			fprintf(stderr, "rally-heat: wait: %s\n",
			        rally_strerror(rc));
			exit(1);
		}
	}
	return NULL;
}

static void print_stats(void)
{
	rally_stats_t st;
	if (rally_barrier_stats(&H.barrier, &st) != 0)
		return;
	unsigned straggler = H.threads;
	for (unsigned t = 0; t < H.threads; t++)
		if ((uint64_t)H.tid[t] == st.last_id)
			straggler = t;
	printf("barrier: %" PRIu64 " phases; skew p50 <= %.1f us, p99 <= "
	       "%.1f us, max %.1f us\n",
	       st.phases, st.skew_p50_ns / 1e3, st.skew_p99_ns / 1e3,
	       st.skew_max_ns / 1e3);
	printf("last to arrive most often: thread %u (tid %" PRIu64 "), %"
	       PRIu64 " of %" PRIu64 " phases\n",
	       straggler, st.last_id, st.last_count, st.phases);
	printf("wait by arrival index:");
	for (unsigned i = 0; i < H.threads && i < RALLY_STATS_INDICES; i++)
		printf(" %.2f ms", st.wait_ns[i] / 1e6);
	printf("\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--imbalanced")) {
			H.imbalanced = true;
		} else if (!strcmp(a, "--stats")) {
			H.stats = true;
		} else if (!strcmp(a, "--threads") &&
		           number(v, 1, 1024, &H.threads)) {
			i++;
		} else if (!strcmp(a, "--size") &&
		           number(v, 3, 1 << 15, &H.n)) {
			i++;
		} else if (!strcmp(a, "--steps") &&
		           number(v, 1, 1u << 30, &H.steps)) {
			i++;
		} else {
			fprintf(stderr, "rally-heat: bad option or value: %s %s\n",
			        a, v);
			usage(stderr);
			return 1;
		}
	}
	if (H.n - 2 < H.threads + 1) {
		fprintf(stderr, "rally-heat: a %u x %u grid has too few rows "
		                "for %u threads\n", H.n, H.n, H.threads);
		return 1;
	}
	size_t cells = (size_t)H.n * H.n;
	H.grid[0] = calloc(cells, sizeof(double));
	H.grid[1] = calloc(cells, sizeof(double));
	H.first_row = calloc(H.threads + 1, sizeof *H.first_row);
	H.tid = calloc(H.threads, sizeof *H.tid);
	pthread_t *th = calloc(H.threads, sizeof *th);
	if (!H.grid[0] || !H.grid[1] || !H.first_row || !H.tid || !th) {
		fprintf(stderr, "rally-heat: out of memory\n");
		return 1;
	}
	split_rows();
	rally_barrier_attr_t attr = {.flags = H.stats ? RALLY_STATS : 0};
	int rc = rally_barrier_init(&H.barrier, H.threads, &attr);
	if (rc) {
		fprintf(stderr, "rally-heat: init: %s\n", rally_strerror(rc));
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned t = 0; t < H.threads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t)) {
			fprintf(stderr, "rally-heat: cannot start thread %u\n", t);
			return 1;
		}
	for (unsigned t = 0; t < H.threads; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double sum = 0;
	const double *g = H.grid[H.steps % 2];
	for (size_t i = 0; i < cells; i++)
		sum += g[i];
	printf("rally-heat: %u x %u, %u steps, %u threads%s: %.3f s, "
	       "checksum %.9e\n",
	       H.n, H.n, H.steps, H.threads,
	       H.imbalanced ? " (imbalanced: the last strip doubled)" : "",
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, sum);
	if (H.stats)
		print_stats();
	rally_barrier_destroy(&H.barrier);
	free(H.grid[0]);
	free(H.grid[1]);
	free(H.first_row);
	free(H.tid);
	free(th);
	return 0;
}
