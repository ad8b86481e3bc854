/* probe_imbalance.c — programs of known shape, for barrier_probe_test:
 *
 *   probe-imbalance PHASES SLEEP_MS   two threads meet at a barrier PHASES
 *       times; before each wait the first sleeps SLEEP_MS, the second does
 *       not: the second waits about SLEEP_MS a phase, all of it before the
 *       last party arrives — half of the two threads' time is in the
 *       barrier, almost none after the last arrival
 *   probe-imbalance --ones PHASES     two threads at a barrier of 1, each
 *       waiting PHASES times: 2 * PHASES phases of 1
 *   probe-imbalance --reinit PHASES   two threads at a barrier of 2 for
 *       PHASES phases; destroyed and initialised again at the same address
 *       with a count of 1; then PHASES waits of one thread: 2 * PHASES
 *       phases
 *   probe-imbalance --exit-waiting MS a thread waits at a barrier of 2
 *       that nobody else reaches; the main thread exits after MS
 *   probe-imbalance --cancel          a barrier of 1: a wait; 1.2 s later a
 *       thread with a cancel pending waits (a wait is no cancellation
 *       point: it returns, and the thread is cancelled at its next one);
 *       then the main thread waits again
 *   probe-imbalance --fork PHASES     as PHASES 1, and a fork()ed child,
 *       before the last phase, that waits 3 times at a barrier of 1 (its
 *       probe's line goes to the file PROBE_CHILD_OUT names, if set) and
 *       exits
 *
 * With PROBE_CTOR=1 in the environment, a library's constructor (the
 * probe-ctorlib it links) initialises a barrier of 1 and waits at it
 * before main — before the probe's own constructor may have run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void probe_ctorlib_linked(void);

static pthread_barrier_t barrier;
static long phases, sleep_ms;

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
	nanosleep(&ts, NULL);
}

static void *party(void *arg)
{
	int sleeper = arg != NULL;
	for (long i = 0; i < phases; i++) {
		if (sleeper)
			pause_ms(sleep_ms);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

/* n threads (this one and n - 1 more, n <= 2) run party(); the last
 * sleeps. */
static int run_parties(int n, unsigned count)
{
	pthread_t t[2];
	if (pthread_barrier_init(&barrier, NULL, count))
		return 1;
	for (int i = 1; i < n; i++)
		if (pthread_create(&t[i], NULL, party,
		                   i == n - 1 ? &barrier : NULL))
			return 1;
	party(NULL);
	for (int i = 1; i < n; i++)
		pthread_join(t[i], NULL);
	return pthread_barrier_destroy(&barrier);
}

static void *cancelled_waiter(void *arg)
{
	(void)arg;
	pthread_cancel(pthread_self()); /* pending: deferred */
	pthread_barrier_wait(&barrier);
	puts("the wait returned with a cancel pending");
	fflush(stdout);
	pthread_testcancel();
	return NULL;
}

static void *wait_alone(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	return NULL;
}

int main(int argc, char **argv)
{
	probe_ctorlib_linked();
	const char *mode = argc > 1 && argv[1][0] == '-' ? argv[1] : "";
	int rc = 2;
	if (!*mode && argc == 3) {
		phases = atol(argv[1]), sleep_ms = atol(argv[2]);
		if (phases > 0 && sleep_ms >= 0)
			rc = run_parties(2, 2);
	} else if (!strcmp(mode, "--ones") && argc == 3 &&
	           (phases = atol(argv[2])) > 0) {
		rc = run_parties(2, 1);
	} else if (!strcmp(mode, "--reinit") && argc == 3 &&
	           (phases = atol(argv[2])) > 0) {
		rc = run_parties(2, 2);
		if (!rc && !pthread_barrier_init(&barrier, NULL, 1)) {
			for (long i = 0; i < phases; i++)
				pthread_barrier_wait(&barrier);
			rc = pthread_barrier_destroy(&barrier);
		}
	} else if (!strcmp(mode, "--exit-waiting") && argc == 3) {
		pthread_t t;
		if (!pthread_barrier_init(&barrier, NULL, 2) &&
		    !pthread_create(&t, NULL, wait_alone, NULL)) {
			pause_ms(atol(argv[2]));
			puts("done");
			exit(0); /* the other thread still waits */
		}
		rc = 1;
	} else if (!strcmp(mode, "--cancel") && argc == 2) {
		pthread_t t;
		rc = pthread_barrier_init(&barrier, NULL, 1);
		pthread_barrier_wait(&barrier);
		pause_ms(1200);
		rc = rc || pthread_create(&t, NULL, cancelled_waiter, NULL) ||
		     pthread_join(t, NULL);
		pthread_barrier_wait(&barrier);
		rc = rc || pthread_barrier_destroy(&barrier);
	} else if (!strcmp(mode, "--fork") && argc == 3 &&
	           (phases = atol(argv[2])) > 1) {
		phases--;
		rc = run_parties(2, 2);
		pid_t child = fork();
		if (child == 0) {
			const char *out = getenv("PROBE_CHILD_OUT");
			if (out)
				setenv("RALLY_PROBE_OUT", out, 1);
			pthread_barrier_t one;
			pthread_barrier_init(&one, NULL, 1);
			for (int i = 0; i < 3; i++)
				pthread_barrier_wait(&one);
			exit(0); /* runs the probe's destructor in the child */
		}
		waitpid(child, NULL, 0);
		phases = 1;
		rc = rc || run_parties(2, 2);
	}
	if (rc == 2)
		fprintf(stderr, "usage: probe-imbalance PHASES SLEEP_MS | "
		                "--ones|--reinit|--fork PHASES | "
		                "--exit-waiting MS\n");
	else if (rc == 0)
		puts("done");
	return rc;
}
