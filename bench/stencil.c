/* stencil.c — a Jacobi heat-diffusion step, run with rally, pthread and
 * OpenMP barriers between steps. */
#define _GNU_SOURCE
#include "stencil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_OPENMP
#include <omp.h>
#endif

#include "rally.h"

#define DIFFUSIVITY 0.2

struct grid {
	unsigned n, steps, threads;
	double *buf[2]; /* step s reads buf[s % 2], writes buf[(s + 1) % 2] */
	rally_barrier_t rally;
	pthread_barrier_t pthread;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Interior rows [lo, hi) of one step; the border stays fixed. */
static void update_rows(const struct grid *g, unsigned step, unsigned lo,
                        unsigned hi)
{
	const double *src = g->buf[step % 2];
	double *dst = g->buf[(step + 1) % 2];
	unsigned n = g->n;
	for (unsigned i = lo; i < hi; i++)
		for (unsigned j = 1; j + 1 < n; j++) {
			const double *c = src + (size_t)i * n + j;
			dst[(size_t)i * n + j] =
			    *c + DIFFUSIVITY * (c[-(long)n] + c[n] + c[-1] +
			                        c[1] - 4 * *c);
		}
}

/* Thread t's share of the interior rows 1 .. n-2. */
static void strip(const struct grid *g, unsigned t, unsigned *lo, unsigned *hi)
{
	unsigned rows = g->n - 2;
	*lo = 1 + rows * t / g->threads;
	*hi = 1 + rows * (t + 1) / g->threads;
}

struct worker {
	struct grid *g;
	unsigned t;
	enum stencil_impl impl;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	unsigned lo, hi;
	strip(w->g, w->t, &lo, &hi);
	for (unsigned s = 0; s < w->g->steps; s++) {
		update_rows(w->g, s, lo, hi);
		if (w->impl == STENCIL_RALLY)
			rally_barrier_wait(&w->g->rally);
		else
			pthread_barrier_wait(&w->g->pthread);
	}
	return NULL;
}

static int run_threads(struct grid *g, enum stencil_impl impl)
{
	pthread_t *th = calloc(g->threads, sizeof *th);
	struct worker *ws = calloc(g->threads, sizeof *ws);
	if (!th || !ws) {
		free(th);
		free(ws);
		return -1;
	}
	for (unsigned t = 0; t < g->threads; t++) {
		ws[t] = (struct worker){g, t, impl};
		pthread_create(&th[t], NULL, worker_main, &ws[t]);
	}
	for (unsigned t = 0; t < g->threads; t++)
		pthread_join(th[t], NULL);
	free(th);
	free(ws);
	return 0;
}

#ifdef HAVE_OPENMP
static void run_openmp(struct grid *g)
{
#pragma omp parallel num_threads(g->threads)
	{
		unsigned lo, hi;
		strip(g, (unsigned)omp_get_thread_num(), &lo, &hi);
		for (unsigned s = 0; s < g->steps; s++) {
			update_rows(g, s, lo, hi);
#pragma omp barrier
		}
	}
}
#endif

static void init_grid(struct grid *g)
{
	unsigned n = g->n;
	for (int b = 0; b < 2; b++) {
		memset(g->buf[b], 0, (size_t)n * n * sizeof(double));
		for (unsigned j = 0; j < n; j++)
			g->buf[b][j] = 1.0; /* a hot top edge */
	}
}

const char *stencil_impl_name(enum stencil_impl impl)
{
	static const char *const names[] = {"rally", "pthread", "openmp"};
	return impl <= STENCIL_OPENMP ? names[impl] : "?";
}

bool stencil_impl_available(enum stencil_impl impl)
{
#ifndef HAVE_OPENMP
	if (impl == STENCIL_OPENMP)
		return false;
#endif
	return impl <= STENCIL_OPENMP;
}

double stencil_run(enum stencil_impl impl, unsigned threads, unsigned n,
                   unsigned steps, double *out)
{
	if (!stencil_impl_available(impl) || threads == 0 || n < 3 ||
	    threads > n - 2)
		return -1;
	struct grid g = {.n = n, .steps = steps, .threads = threads};
	g.buf[0] = malloc((size_t)n * n * sizeof(double));
	g.buf[1] = malloc((size_t)n * n * sizeof(double));
	if (!g.buf[0] || !g.buf[1]) {
		free(g.buf[0]);
		free(g.buf[1]);
		return -1;
	}
	init_grid(&g);
	rally_barrier_init(&g.rally, threads, NULL);
	pthread_barrier_init(&g.pthread, NULL, threads);
	double t0 = now_s(), elapsed = -1;
	if (impl == STENCIL_OPENMP) {
#ifdef HAVE_OPENMP
		run_openmp(&g);
		elapsed = now_s() - t0;
#endif
	} else if (run_threads(&g, impl) == 0) {
		elapsed = now_s() - t0;
	}
	if (out)
		memcpy(out, g.buf[steps % 2], (size_t)n * n * sizeof(double));
	rally_barrier_destroy(&g.rally);
	pthread_barrier_destroy(&g.pthread);
	free(g.buf[0]);
	free(g.buf[1]);
	return elapsed;
}

bool stencil_check(unsigned threads, unsigned n, unsigned steps)
{
	size_t bytes = (size_t)n * n * sizeof(double);
	double *ref = malloc(bytes), *got = malloc(bytes);
	bool ok =
	    ref && got && stencil_run(STENCIL_PTHREAD, 1, n, steps, ref) >= 0;
	for (int impl = 0; ok && impl <= STENCIL_OPENMP; impl++) {
		if (!stencil_impl_available(impl))
			continue;
		ok = stencil_run(impl, threads, n, steps, got) >= 0 &&
		     memcmp(ref, got, bytes) == 0;
	}
	free(ref);
	free(got);
	return ok;
}
