/* pthread_kernel.c — an iterative solver written the usual way, with
 * pthread barriers, to run as it is and under librally-pthread.so:
 *
 *   rally-pthread-kernel [--threads T] [--cells N] [--steps S]
 *
 * Jacobi relaxation of a 1-D heat equation with fixed ends: T threads, a
 * strip of cells each; a step is three phases — (1) each thread computes
 * its strip of the next grid and its part of the residual, (2) one thread
 * (the serial one) swaps the grids and adds the parts up in a fixed order,
 * (3) all read whether to stop. Three pthread_barrier_wait per step, as
 * such codes have them. It links the C library only: the shim is what
 * LD_PRELOAD adds.
 *
 * Prints (stdout) "checksum ... residual ... steps ..." — the same whichever
 * barrier runs it, and however the threads are scheduled (each thread's
 * part is summed in thread order) — then "time_s T", and "barrier_frac F":
 * the share of the threads' time spent inside pthread_barrier_wait
 * (measured around each call, in both runs alike). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	unsigned threads;
	long cells, steps;
} opt = {4, 20000, 2000};

static double *grid[2];
static double *part; /* each thread's residual part, one line each */
enum { PART_STRIDE = 8 };
static double residual;
static long steps_done;
static int done;
static pthread_barrier_t barrier;
static double *waited; /* each thread's seconds in the barrier */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int wait_timed(unsigned t)
{
	double t0 = now();
	int rc = pthread_barrier_wait(&barrier);
	waited[t * PART_STRIDE] += now() - t0;
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		fprintf(stderr, "pthread_barrier_wait: %s\n", strerror(rc));
		exit(2);
	}
	return rc;
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(size_t)arg;
	long n = opt.cells, lo = 1 + t * (n - 2) / opt.threads,
	     hi = 1 + (t + 1) * (n - 2) / opt.threads;
	int cur = 0;
	for (;;) {
		const double *g = grid[cur];
		double *next = grid[1 - cur], r = 0;
		for (long i = lo; i < hi; i++) {
			next[i] = 0.5 * (g[i - 1] + g[i + 1]);
			double d = next[i] - g[i];
			r += d * d;
		}
		part[t * PART_STRIDE] = r;
		if (wait_timed(t) == PTHREAD_BARRIER_SERIAL_THREAD) {
			double sum = 0;
			for (unsigned k = 0; k < opt.threads; k++)
				sum += part[k * PART_STRIDE];
			residual = sqrt(sum);
			steps_done++;
			done = steps_done >= opt.steps;
		}
		wait_timed(t);
		cur = 1 - cur;
		int stop = done;
		wait_timed(t); /* everyone read done before it changes */
		if (stop)
			return NULL;
	}
}

static long number(const char *flag, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi) {
		fprintf(stderr, "rally-pthread-kernel: %s %s: a number %ld ..= "
		        "%ld\n", flag, s, lo, hi);
		exit(1);
	}
	return v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: rally-pthread-kernel [--threads T] "
			       "[--cells N] [--steps S]\n"
			       "A Jacobi solver with 3 pthread barriers a step "
			       "(bench/pthread_kernel.c);\nrun it as it is and "
			       "with rally run (librally-pthread.so).\n");
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "rally-pthread-kernel: %s needs a "
			        "value\n", argv[i]);
			return 1;
		}
		if (!strcmp(argv[i], "--threads"))
			opt.threads = (unsigned)number(argv[i], argv[i + 1], 1,
			                                 1024);
		else if (!strcmp(argv[i], "--cells"))
			opt.cells = number(argv[i], argv[i + 1], 3, 1L << 28);
		else if (!strcmp(argv[i], "--steps"))
			opt.steps = number(argv[i], argv[i + 1], 1, 1L << 30);
		else {
			fprintf(stderr, "rally-pthread-kernel: unknown option "
			        "%s (--help)\n", argv[i]);
			return 1;
		}
		i++;
	}
	if ((long)opt.threads > opt.cells - 2)
		opt.threads = (unsigned)(opt.cells - 2);
	grid[0] = calloc((size_t)opt.cells, sizeof(double));
	grid[1] = calloc((size_t)opt.cells, sizeof(double));
	part = calloc((size_t)opt.threads * PART_STRIDE, sizeof(double));
	waited = calloc((size_t)opt.threads * PART_STRIDE, sizeof(double));
	pthread_t *t = calloc(opt.threads, sizeof *t);
	if (!grid[0] || !grid[1] || !part || !waited || !t) {
		fprintf(stderr, "rally-pthread-kernel: out of memory\n");
		return 2;
	}
	/* Hot left end, cold right end, cold inside. */
	grid[0][0] = grid[1][0] = 100.0;
	int rc = pthread_barrier_init(&barrier, NULL, opt.threads);
	if (rc) {
		fprintf(stderr, "pthread_barrier_init: %s\n", strerror(rc));
		return 2;
	}
	double t0 = now();
	for (unsigned i = 0; i < opt.threads; i++)
		if ((rc = pthread_create(&t[i], NULL, worker,
		                         (void *)(size_t)i))) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			return 2;
		}
	for (unsigned i = 0; i < opt.threads; i++)
		pthread_join(t[i], NULL);
	double wall = now() - t0, in_barrier = 0;
	for (unsigned i = 0; i < opt.threads; i++)
		in_barrier += waited[i * PART_STRIDE];
	pthread_barrier_destroy(&barrier);
	double sum = 0;
	const double *g = grid[steps_done % 2];
	for (long i = 0; i < opt.cells; i++)
		sum += g[i] * (double)(i % 97 + 1);
	printf("checksum %.10e residual %.10e steps %ld\n", sum, residual,
	       steps_done);
	printf("time_s %.6f\n", wall);
	printf("barrier_frac %.4f\n", in_barrier / (wall * opt.threads));
	return 0;
}
