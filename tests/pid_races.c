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

int main(void)
{
	parent = getpid();
	pthread_t a;
	if (pthread_create(&a, NULL, first_call, NULL))
		return 2;
	while (!atomic_load(&in_madvise))
		sched_yield();
	pid_t c = fork(); /* while the first call is in madvise */
	if (c == 0) {
		int r = rally__self_pid() != getpid();
		r |= (child_knows(fork) != 0) << 1;
		r |= (child_knows(_Fork) != 0) << 2;
		_exit(r);
	}
	int st;
	waitpid(c, &st, 0);
	pthread_join(a, NULL);
	int r = WIFEXITED(st) ? WEXITSTATUS(st) : 8;
	const char *what[] = {"the child", "its fork() child",
	                      "its _Fork() child"};
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		bool bad = r & (1 << i);
		printf("%s: %s its own pid\n", what[i],
		       bad ? "does NOT know" : "knows");
		failed += bad;
	}
	failed += r >= 8;
	int own = rally__self_pid() == getpid();
	printf("the parent: %s its own pid\n", own ? "knows" : "does NOT know");
	failed += !own;
	printf("%d passed, %d failed\n", 4 - failed, failed);
	return failed != 0;
}
