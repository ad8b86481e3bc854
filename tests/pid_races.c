/* pid_races — the process's pid, learned while another thread forks.
 *
 * rally__self_pid() learns the pid once and keeps it also in a page the
 * kernel wipes at fork, so that a child that runs no fork handler (_Fork())
 * learns its own. Review round 47: the first call set a flag before it
 * registered the handler and mapped the page; a child forked in between
 * kept neither, and its own children (fork() and _Fork()) kept its pid —
 * a live grandchild was then taken for its dead parent on robust barriers.
 * The library's madvise is wrapped (-Wl,--wrap=madvise) to hold the first
 * call there while the main thread forks. Prints "N passed, N failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"

int __real_madvise(void *addr, size_t len, int advice);
int __wrap_madvise(void *addr, size_t len, int advice);

static pid_t parent;
static atomic_int in_madvise;

/* In the parent's first call only: says so, then lingers 200 ms. */
int __wrap_madvise(void *addr, size_t len, int advice)
{
	if (getpid() == parent && !atomic_exchange(&in_madvise, 1))
		nanosleep(&(struct timespec){0, 200000000}, NULL);
	return __real_madvise(addr, len, advice);
}

static void *first_call(void *arg)
{
	(void)arg;
	rally__self_pid();
	return NULL;
}

/* 0 if a child made by make (fork or _Fork) knows its own pid. */
static int child_knows(pid_t (*make)(void))
{
	pid_t g = make();
	if (g == 0)
		_exit(rally__self_pid() == getpid() ? 0 : 1);
	int st;
	if (g < 0 || waitpid(g, &st, 0) != g)
		return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

/* In a fresh process (no rally call yet): a thread makes the first call,
 * held in madvise, while the main thread forks by `make`; the child, and
 * its fork() and _Fork() children, must know their own pids — and the
 * child's first call must end (review round 48: after _Fork() it waited
 * for ever in pthread_once). Returns a bit per one that did not. */
static int scenario(pid_t (*make)(void))
{
	pid_t p = fork();
	if (p == 0) {
		parent = getpid();
		pthread_t a;
		if (pthread_create(&a, NULL, first_call, NULL))
			_exit(8);
		while (!atomic_load(&in_madvise))
			sched_yield();
		pid_t c = make(); /* while the first call is in madvise */
		if (c == 0) {
			alarm(10); /* a hang fails */
			int r = rally__self_pid() != getpid();
			r |= (child_knows(fork) != 0) << 1;
			r |= (child_knows(_Fork) != 0) << 2;
			_exit(r);
		}
		int st;
		waitpid(c, &st, 0);
		pthread_join(a, NULL);
		int r = WIFEXITED(st) ? WEXITSTATUS(st) : 8;
		r |= (rally__self_pid() != getpid()) << 4;
		_exit(r);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return 32;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 32;
}

int main(void)
{
	const char *how[] = {"fork()", "_Fork()"};
	pid_t (*make[])(void) = {fork, _Fork};
	const char *what[] = {"the child", "its fork() child",
	                      "its _Fork() child", "", "the parent"};
	int failed = 0, passed = 0;
	for (int m = 0; m < 2; m++) {
		int r = scenario(make[m]);
		if (r & 8) {
			printf("%s: the child hung or crashed\n", how[m]);
			failed++;
		}
		if (r & 32) {
			printf("%s: the process failed\n", how[m]);
			failed++;
			continue;
		}
		for (int i = 0; i < 5; i++) {
			if (i == 3)
				continue;
			bool bad = r & (1 << i);
			printf("%s during the first call: %s %s its own pid\n",
			       how[m], what[i], bad ? "does NOT know" : "knows");
			failed += bad;
			passed += !bad;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
