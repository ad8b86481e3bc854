/* common.h — helpers shared by the test suites. */
#ifndef RALLY_TEST_COMMON_H
#define RALLY_TEST_COMMON_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
/* Forks a participant of a shared barrier, for a test to kill: the child
 * runs join(arg) (attaches, opens by name), says whether it joined, and
 * stays alive until killed. Returns its pid once it joined; -1 if it did
 * not (join() said no: the child is killed), or no pipe or fork. */
static inline pid_t test_fork_participant(bool (*join)(void *), void *arg)
{
	int ready[2];
	if (pipe(ready) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		char joined = join(arg) ? 'y' : 'n';
		(void)!write(ready[1], &joined, 1);
		pause();
		_exit(0);
	}
	char joined = 'n';
	if (pid > 0 && read(ready[0], &joined, 1) != 1)
		joined = 'n';
	close(ready[0]);
	close(ready[1]);
	if (pid > 0 && joined != 'y') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static const unsigned test_thread_counts[] = {1, 2, 4, 16, 64};
#define N_THREAD_COUNTS 5

#endif
