/* races.c — the hard races, tested for real (TAP output).
 *
 *   destroy-unmap  the caller that gets index 0 destroys the barrier and
 *                  unmaps its page (remapped PROT_NONE at the same address)
 *                  while the others leave: a touch after destroy faults.
 *   signals        SIGALRM every millisecond during many waits: none
 *                  returns early or fails; timed waits end within 10% of
 *                  their deadline (overshoot p50/p99 reported).
 *   wrap           the generation starts just below its wrap-around and
 *                  crosses it, again and again, with every index checked.
 *
 * usage: races [--iterations N] [--waits N] [--crossings N] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"

static int tests, failures;

static void report(bool ok, const char *what)
{
	tests++;
	if (!ok)
		failures++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tests, what);
	fflush(stdout);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- destroy and unmap ------------------------------------------------------
 */

enum { DU_THREADS = 2 };

static struct {
	void *page;
	size_t size;
	long iterations;
	_Atomic long ready; /* iteration whose barrier is initialised */
	_Atomic long done;  /* iteration the destroyer has finished */
	_Atomic int errors;
} du;

static void *du_thread(void *arg)
{
	(void)arg;
	for (long it = 1; it <= du.iterations; it++) {
		while (atomic_load_explicit(&du.ready, memory_order_acquire) <
		       it)
			sched_yield();
		rally_barrier_t *b = du.page;
		int idx = rally_barrier_wait(b);
		if (idx < 0) {
			atomic_fetch_add(&du.errors, 1);
			return NULL;
		}
		if (idx == 0) {
			if (rally_barrier_destroy(b) != 0)
				atomic_fetch_add(&du.errors, 1);
			/* The others may be leaving: from now on, any touch of
			 * the page faults. */
			if (mmap(du.page, du.size, PROT_NONE,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			         0) == MAP_FAILED)
				atomic_fetch_add(&du.errors, 1);
			atomic_store_explicit(&du.done, it,
			                      memory_order_release);
		}
	}
	return NULL;
}

static void test_destroy_unmap(long iterations)
{
	du.size = (size_t)sysconf(_SC_PAGESIZE);
	du.iterations = iterations;
	du.page = mmap(NULL, du.size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th[DU_THREADS];
	for (int i = 0; i < DU_THREADS; i++)
		pthread_create(&th[i], NULL, du_thread, NULL);
	for (long it = 1; it <= iterations && !du.errors; it++) {
		/* A fresh page at the same address for the next barrier. */
		while (it > 1 && atomic_load_explicit(
		                     &du.done, memory_order_acquire) < it - 1)
			sched_yield();
		if (it > 1 && mmap(du.page, du.size, PROT_READ | PROT_WRITE,
		                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		                   0) == MAP_FAILED)
			break;
		rally_barrier_init(du.page, DU_THREADS, NULL);
		atomic_store_explicit(&du.ready, it, memory_order_release);
	}
	for (int i = 0; i < DU_THREADS; i++)
		pthread_join(th[i], NULL);
	char what[128];
	snprintf(what, sizeof what,
	         "destroy and unmap right after wait: %ld iterations, no fault",
	         iterations);
	report(du.errors == 0, what);
	munmap(du.page, du.size);
}

/* ---- signals
 * ------------------------------------------------------------------ */

static _Atomic long alarms;

static void on_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&alarms, 1);
}

static struct {
	rally_barrier_t b;
	long waits;
	_Atomic long errors;
} sg;

static void *sg_thread(void *arg)
{
	(void)arg;
	for (long i = 0; i < sg.waits; i++)
		if (rally_barrier_wait(&sg.b) < 0)
			atomic_fetch_add(&sg.errors, 1);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_signals(long waits)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);

	/* Sleeping waits (no spin) see the signals as EINTR. */
	rally_barrier_attr_t attr = {.spin = RALLY_SPIN_NEVER};
	rally_barrier_init(&sg.b, 2, &attr);
	sg.waits = waits;
	pthread_t th[2];
	long a0 = atomic_load(&alarms);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, sg_thread, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	char what[160];
	snprintf(what, sizeof what,
	         "%ld waits under SIGALRM every ms (%ld signals): none failed",
	         2 * waits, atomic_load(&alarms) - a0);
	report(sg.errors == 0 && atomic_load(&alarms) > a0, what);
	rally_barrier_destroy(&sg.b);

	/* Timed waits alone: each must time out at its deadline, not before,
	 * and not much after. */
	enum { TIMED = 200 };
	const int64_t timeout = 20000000;
	int64_t over[TIMED];
	bool early = false, errors = false;
	rally_barrier_init(&sg.b, 2, NULL);
	for (int i = 0; i < TIMED; i++) {
		int64_t t0 = now_ns();
		int rc = rally_barrier_timedwait(&sg.b, timeout);
		over[i] = now_ns() - t0 - timeout;
		early |= over[i] < 0;
		errors |= rc != RALLY_TIMEDOUT;
		rally_barrier_reset(&sg.b);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	qsort(over, TIMED, sizeof over[0], cmp64);
	/* over[TIMED - 1] is the maximum: the p99 is the value below the
	 * top 1%, so that one hiccup of a shared machine is not a failure. */
	int64_t p50 = over[TIMED / 2], p99 = over[TIMED * 99 / 100 - 1];
	snprintf(
	    what, sizeof what,
	    "%d timed waits of 20 ms under SIGALRM: none early, p99 "
	    "within 10%% (overshoot p50 %.0f us, p99 %.0f us, max %.0f us)",
	    TIMED, p50 / 1e3, p99 / 1e3, over[TIMED - 1] / 1e3);
	report(!early && !errors && p99 <= timeout / 10, what);
	rally_barrier_destroy(&sg.b);
}

/* ---- generation wrap
 * ------------------------------------------------------------ */

enum { WRAP_THREADS = 3, WRAP_PHASES = 64 };

static struct {
	rally_barrier_t b;
	_Atomic unsigned seen[WRAP_PHASES][WRAP_THREADS];
	_Atomic long errors;
} wr;

static void *wrap_thread(void *arg)
{
	(void)arg;
	for (int r = 0; r < WRAP_PHASES; r++) {
		int idx = rally_barrier_wait(&wr.b);
		if (idx < 0 || idx >= WRAP_THREADS)
			atomic_fetch_add(&wr.errors, 1);
		else
			atomic_fetch_add(&wr.seen[r][idx], 1);
	}
	return NULL;
}

static void test_wrap(long crossings)
{
	long bad = 0;
	for (long c = 0; c < crossings; c++) {
		memset(&wr.seen, 0, sizeof wr.seen);
		rally_barrier_init(&wr.b, WRAP_THREADS, NULL);
		/* WRAP_PHASES / 2 below the 29-bit wrap-around. */
		rally__barrier_set_phase(&wr.b, (1u << 29) - WRAP_PHASES / 2);
		/* A reset across the wrap too, now and then. */
		if (c % 4 == 3) {
			rally_token_t t;
			rally_barrier_arrive(&wr.b, &t);
			rally_barrier_reset(&wr.b);
		}
		pthread_t th[WRAP_THREADS];
		for (int i = 0; i < WRAP_THREADS; i++)
			pthread_create(&th[i], NULL, wrap_thread, NULL);
		for (int i = 0; i < WRAP_THREADS; i++)
			pthread_join(th[i], NULL);
		for (int r = 0; r < WRAP_PHASES; r++)
			for (int i = 0; i < WRAP_THREADS; i++)
				bad += wr.seen[r][i] != 1;
		if (rally_barrier_phase(&wr.b) >= (1u << 29) - WRAP_PHASES)
			bad++; /* it did not cross */
		rally_barrier_destroy(&wr.b);
	}
	char what[128];
	snprintf(
	    what, sizeof what,
	    "generation wrap crossed %ld times, every index once per phase",
	    crossings);
	report(bad == 0 && wr.errors == 0, what);
}

int main(int argc, char **argv)
{
	long iterations = 1000000, waits = 50000, crossings = 100;
	for (int i = 1; i + 1 < argc; i += 2) {
		long v = atol(argv[i + 1]);
		if (strcmp(argv[i], "--iterations") == 0)
			iterations = v;
		else if (strcmp(argv[i], "--waits") == 0)
			waits = v;
		else if (strcmp(argv[i], "--crossings") == 0)
			crossings = v;
		else {
			fprintf(stderr,
			        "usage: races [--iterations N] [--waits N] "
			        "[--crossings N]\n");
			return 2;
		}
	}
	if (argc % 2 == 0) {
		fprintf(stderr, "races: an option without its value\n");
		return 2;
	}
	printf("TAP version 13\n1..4\n");
	test_destroy_unmap(iterations);
	test_signals(waits);
	test_wrap(crossings);
	printf("# %d passed, %d failed\n", tests - failures, failures);
	return failures ? 1 : 0;
}
