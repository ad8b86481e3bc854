/* probe_imbalance.c — a program of known imbalance, for barrier_probe_test:
 *
 *   probe-imbalance PHASES SLEEP_MS
 *
 * Two threads meet at a pthread barrier PHASES times; before each wait the
 * first sleeps SLEEP_MS, the second does not: the second waits about
 * SLEEP_MS a phase, all of it before the last party arrives — half of the
 * two threads' time is in the barrier, almost none after the last arrival.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_barrier_t barrier;
static long phases, sleep_ms;

static void *party(void *arg)
{
	int sleeper = arg != NULL;
	struct timespec ts = {sleep_ms / 1000, sleep_ms % 1000 * 1000000};
	for (long i = 0; i < phases; i++) {
		if (sleeper)
			nanosleep(&ts, NULL);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (phases = atol(argv[1])) < 1 ||
	    (sleep_ms = atol(argv[2])) < 0) {
		fprintf(stderr, "usage: probe-imbalance PHASES SLEEP_MS\n");
		return 2;
	}
	pthread_t t;
	if (pthread_barrier_init(&barrier, NULL, 2) ||
	    pthread_create(&t, NULL, party, &barrier)) {
		fprintf(stderr, "probe-imbalance: cannot start\n");
		return 1;
	}
	party(NULL);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&barrier);
	puts("done");
	return 0;
}
