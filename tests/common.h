/* common.h — helpers shared by the test suites. */
#ifndef RALLY_TEST_COMMON_H
#define RALLY_TEST_COMMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t test_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Runs fn(i, arg) on n threads and joins them. */
typedef void (*test_thread_fn)(unsigned i, void *arg);

struct test_thread {
	pthread_t th;
	unsigned i;
	test_thread_fn fn;
	void *arg;
};

static void *test_thread_main(void *p)
{
	struct test_thread *t = (struct test_thread *)p;
	t->fn(t->i, t->arg);
	return NULL;
}

static inline void test_run_threads(unsigned n, test_thread_fn fn, void *arg)
{
	struct test_thread *ts = (struct test_thread *)calloc(n, sizeof *ts);
	for (unsigned i = 0; i < n; i++) {
		ts[i] = (struct test_thread){.i = i, .fn = fn, .arg = arg};
		pthread_create(&ts[i].th, NULL, test_thread_main, &ts[i]);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(ts[i].th, NULL);
	free(ts);
}

/* The thread counts every scenario runs with: 64 on 2 CPUs is 32x
 * oversubscribed. */
static const unsigned test_thread_counts[] = {1, 2, 4, 16, 64};
#define N_THREAD_COUNTS 5

#endif
