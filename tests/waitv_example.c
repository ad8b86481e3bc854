/* waitv_example.c — an event loop that waits on a barrier phase and an event
 * at once, without a thread of its own, with futex_waitv(2) (Linux 5.16+):
 * rally_barrier_futex() and rally_event_futex() give the words and values.
 *
 * A worker thread sets the event after 20 ms and arrives at the barrier
 * once the main thread has seen it (so that the order holds on a loaded
 * machine); the main thread arrives first, then sleeps in futex_waitv on
 * both words and reports each as it happens. Exit 0 when both were seen in
 * that order, 77 (skipped) where futex_waitv does not exist. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rally.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

static rally_barrier_t barrier;
static rally_event_t event;
static _Atomic bool event_noticed;

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
	(void)arg;
	sleep_ms(20);
	rally_event_set(&event);
	while (!atomic_load(&event_noticed))
		sleep_ms(1);
	rally_barrier_wait(&barrier);
	return NULL;
}

static void fill(struct futex_waitv *w, const uint32_t *word, uint32_t value,
                 bool shared)
{
	w->val = value;
	w->uaddr = (uintptr_t)word;
	w->flags = FUTEX_32 | (shared ? 0 : FUTEX_PRIVATE_FLAG);
	w->__reserved = 0;
}

int main(void)
{
	rally_token_t token;
	if (rally_barrier_init(&barrier, 2, NULL) ||
	    rally_event_init(&event, 0))
		return 1;
	if (rally_barrier_arrive(&barrier, &token) != 0)
		return 1;
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	bool event_seen = false, phase_seen = false;
	while (!phase_seen) {
		struct futex_waitv w[2];
		const uint32_t *word;
		uint32_t value;
		bool shared;
		int n = 0;
		int rc = rally_barrier_futex(&barrier, token, &word, &value,
		                             &shared);
		if (rc == 1) {
			phase_seen = true;
			printf("barrier phase complete%s\n",
			       event_seen ? " (after the event)" : "");
			break;
		}
		if (rc < 0)
			return 1;
		fill(&w[n++], word, value, shared);
		if (!event_seen) {
			rc = rally_event_futex(&event, &word, &value, &shared);
			if (rc == 1) {
				event_seen = true;
				atomic_store(&event_noticed, true);
				printf("event set\n");
				continue;
			}
			fill(&w[n++], word, value, shared);
		}
		if (syscall(SYS_futex_waitv, w, n, 0, NULL, CLOCK_MONOTONIC) <
		        0 &&
		    errno == ENOSYS) {
			printf("futex_waitv: not in this kernel, skipped\n");
			return 77;
		}
	}
	pthread_join(t, NULL);
	int ok = event_seen && phase_seen &&
	         rally_barrier_await(&barrier, token, 0) == 0;
	printf("%d passed, %d failed\n", ok, !ok);
	return ok ? 0 : 1;
}
