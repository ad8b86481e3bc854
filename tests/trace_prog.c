/* trace_prog.c — waits of known shape, for tests/trace_test.py to check
 * the RALLY_TRACE file against. A plain C program (it runs under
 * ThreadSanitizer too). Prints what it did as one JSON line on stdout.
 *
 * Usage: trace_prog MODE [PHASES]
 *   main   THREADS threads cross barrier A PHASES times; a thread of its
 *          own crosses barrier B (parties 1) 5 times and ends (its buffer
 *          is written as it ends); the main thread crosses barrier E
 *          (parties 1) 3 times before barrier B is destroyed (which writes
 *          every buffer) and 2 times after (written at exit); one call
 *          times out on barrier C (2 parties, alone); a fork()ed child
 *          crosses its own barrier 3 times
 *   kill   THREADS threads cross A PHASES times and block at barrier K,
 *          where the process kills itself (SIGKILL): no thread ends, no
 *          exit, no closing "]}"
 *   phases     one thread crosses a barrier of 1 PHASES times (RALLY_STATS
 *   phases-stats  with the second): what a phase costs in system calls
 *   cdphases   phases, after a chdir("/")
 *   forkcopy  a private barrier of 2, then fork(): in each process 2
 *          threads cross its copy PHASES times (two barriers, one tag)
 *   mixed  2 threads cross a rally barrier PHASES times, then a pthread
 *          barrier PHASES times (with librally-pthread.so preloaded, its
 *          own copy of the tracer records those) */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rally.h"

#define THREADS 4

static rally_barrier_t a, b, c, e, k;
static int phases = 100;

static void *cross_a(void *arg)
{
	for (int i = 0; i < phases; i++)
		if (rally_barrier_wait(&a) < 0)
			abort();
	if (arg) /* kill: blocks until the end */
		rally_barrier_wait(&k);
	return NULL;
}

static void *cross_b(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		if (rally_barrier_wait(&b) != 0)
			abort();
	return NULL;
}

static void *cross_mixed(void *arg)
{
	for (int i = 0; i < phases; i++)
		if (rally_barrier_wait(&a) < 0)
			abort();
	for (int i = 0; i < phases; i++)
		pthread_barrier_wait(arg);
	return NULL;
}

static void run_a(void)
{
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, cross_a, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: trace_prog main|kill [PHASES]\n");
		return 2;
	}
	if (argc == 3)
		phases = atoi(argv[2]);
	if (rally_barrier_init(&a, THREADS, NULL) != 0)
		return 1;
	if (strcmp(argv[1], "kill") == 0) {
		if (rally_barrier_init(&k, THREADS + 1, NULL) != 0)
			return 1;
		pthread_t th[THREADS];
		for (int i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, cross_a, &k);
		while (rally_barrier_n_waiting(&k) < THREADS)
			usleep(1000);
		printf("{\"threads\": %d, \"phases\": %d}\n", THREADS, phases);
		fflush(stdout);
		raise(SIGKILL);
	}
	if (strcmp(argv[1], "cdphases") == 0) {
		if (chdir("/") != 0) /* a relative RALLY_TRACE stays where it was */
			return 1;
		argv[1] = "phases";
	}
	if (strncmp(argv[1], "phases", 6) == 0) {
		rally_barrier_attr_t attr = {
		    .flags = strcmp(argv[1], "phases-stats") == 0 ? RALLY_STATS
		                                                   : 0};
		rally_barrier_t p;
		if (rally_barrier_init(&p, 1, &attr) != 0)
			return 1;
		for (int i = 0; i < phases; i++)
			if (rally_barrier_wait(&p) != 0)
				return 1;
		return rally_barrier_destroy(&p) != 0;
	}
	if (strcmp(argv[1], "forkcopy") == 0) {
		if (rally_barrier_init(&a, 2, NULL) != 0)
			return 1;
		pid_t child = fork();
		pthread_t t;
		pthread_create(&t, NULL, cross_a, NULL);
		cross_a(NULL);
		pthread_join(t, NULL);
		if (child == 0)
			exit(0);
		int st;
		if (child < 0 || waitpid(child, &st, 0) != child ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
		printf("{\"pid\": %d, \"child\": %d, \"phases\": %d}\n",
		       (int)getpid(), (int)child, phases);
		return 0;
	}
	if (strcmp(argv[1], "mixed") == 0) {
		pthread_barrier_t pb;
		if (rally_barrier_init(&a, 2, NULL) != 0 ||
		    pthread_barrier_init(&pb, NULL, 2) != 0)
			return 1;
		pthread_t t;
		pthread_create(&t, NULL, cross_mixed, &pb);
		cross_mixed(&pb);
		pthread_join(t, NULL);
		printf("{\"pid\": %d, \"phases\": %d}\n", (int)getpid(),
		       phases);
		return 0;
	}
	if (strcmp(argv[1], "main") != 0)
		return 2;
	run_a();
	if (rally_barrier_init(&b, 1, NULL) != 0 ||
	    rally_barrier_init(&c, 2, NULL) != 0 ||
	    rally_barrier_init(&e, 1, NULL) != 0)
		return 1;
	pthread_t tb;
	pthread_create(&tb, NULL, cross_b, NULL);
	pthread_join(tb, NULL);
	for (int i = 0; i < 3; i++)
		if (rally_barrier_wait(&e) != 0)
			return 1;
	if (rally_barrier_destroy(&b) != 0)
		return 1;
	for (int i = 0; i < 2; i++)
		if (rally_barrier_wait(&e) != 0)
			return 1;
	if (rally_barrier_timedwait(&c, 1000000) != RALLY_TIMEDOUT)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_t d;
		if (rally_barrier_init(&d, 1, NULL) != 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (rally_barrier_wait(&d) != 0)
				_exit(1);
		exit(0); /* through exit: its file is closed */
	}
	int st;
	if (child < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return 1;
	printf("{\"pid\": %d, \"child\": %d, \"threads\": %d, "
	       "\"phases\": %d}\n",
	       (int)getpid(), (int)child, THREADS, phases);
	return 0;
}
