/* helper.c — a separate program for the multi-process tests: independent
 * executables that meet on a named barrier or event.
 *
 *   helper barrier NAME PARTIES ROUNDS [robust]
 *       opens (creating if needed) and waits ROUNDS phases
 *   helper event-wait NAME TIMEOUT_MS     waits for the named event
 *   helper event-set NAME                 sets it
 *   helper slow-action NAME PARTIES MS    waits one phase; if it arrives
 *                                         last, its action sleeps MS first
 *   helper reset NAME                     resets the barrier (a monitor)
 *
 * Exit status: 0 done, 2 timed out, 3 RALLY_OWNERDEAD, 4 RALLY_BROKEN,
 * 1 anything else (with a message on stderr). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rally.h"

static int status_of(int rc)
{
	switch (rc) {
	case RALLY_TIMEDOUT:
		return 2;
	case RALLY_OWNERDEAD:
		return 3;
	case RALLY_BROKEN:
		return 4;
	default:
		fprintf(stderr, "helper: %s\n", rally_strerror(rc));
		return 1;
	}
}

static int barrier(const char *name, unsigned parties, long rounds, bool robust)
{
	rally_barrier_t *b;
	rally_barrier_attr_t attr = {.flags = robust ? RALLY_ROBUST : 0};
	int rc = rally_barrier_open(&b, name, parties, &attr, O_CREAT, 0600);
	if (rc)
		return status_of(rc);
	for (long r = 0; r < rounds; r++) {
		rc = rally_barrier_wait(b);
		if (rc < 0) {
			rally_barrier_close(b);
			return status_of(rc);
		}
	}
	rally_barrier_close(b);
	return 0;
}

static int sleep_ms(void *arg)
{
	long ms = (long)(intptr_t)arg;
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
	return 0;
}

static int slow_action(const char *name, unsigned parties, long ms)
{
	rally_barrier_t *b;
	rally_barrier_attr_t attr = {.action = sleep_ms,
	                             .action_arg = (void *)(intptr_t)ms};
	int rc = rally_barrier_open(&b, name, parties, &attr, O_CREAT, 0600);
	if (rc)
		return status_of(rc);
	rc = rally_barrier_wait(b);
	rally_barrier_close(b);
	return rc < 0 ? status_of(rc) : 0;
}

static int reset(const char *name)
{
	rally_barrier_t *b;
	rally_barrier_attr_t watch = {.flags = RALLY_WATCH};
	int rc = rally_barrier_open(&b, name, 0, &watch, 0, 0);
	if (rc)
		return status_of(rc);
	rc = rally_barrier_reset(b);
	rally_barrier_close(b);
	return rc < 0 ? status_of(rc) : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "slow-action") == 0)
		return slow_action(argv[2], (unsigned)atoi(argv[3]),
		                   atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "reset") == 0)
		return reset(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "barrier") == 0)
		return barrier(argv[2], (unsigned)atoi(argv[3]), atol(argv[4]),
		               argc > 5 && strcmp(argv[5], "robust") == 0);
	rally_event_t *e;
	if (argc == 4 && strcmp(argv[1], "event-wait") == 0) {
		int rc = rally_event_open(&e, argv[2], 0, O_CREAT, 0600);
		if (rc)
			return status_of(rc);
		rc = rally_event_wait(e, atol(argv[3]) * 1000000);
		rally_event_close(e);
		return rc ? status_of(rc) : 0;
	}
	if (argc == 3 && strcmp(argv[1], "event-set") == 0) {
		int rc = rally_event_open(&e, argv[2], 0, O_CREAT, 0600);
		if (rc)
			return status_of(rc);
		rc = rally_event_set(e);
		rally_event_close(e);
		return rc ? status_of(rc) : 0;
	}
	fprintf(stderr, "usage: helper barrier NAME PARTIES ROUNDS [robust] | "
	                "event-wait NAME TIMEOUT_MS | event-set NAME | "
	                "slow-action NAME PARTIES MS | reset NAME\n");
	return 1;
}
