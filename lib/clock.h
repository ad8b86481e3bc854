/* clock.h — relative timeouts become absolute CLOCK_MONOTONIC deadlines,
 * once, at the start of a call. */
#ifndef RALLY_CLOCK_H
#define RALLY_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* How often a wait that may be stopped asks whether to go on. */
#define RALLY__GO_ON_NS 50000000

/* A way out of a wait besides its deadline (rally__barrier_timedarrive):
 * while the wait blocks, go_on(arg) is asked at least every RALLY__GO_ON_NS
 * (rally__wait_state); once it answers false, it is not asked again and the
 * deadline counts as passed. */
struct rally__stop {
	bool (*go_on)(void *arg);
	void *arg;
	int64_t due_ns; /* when to ask next; 0: the wait has not blocked yet */
	bool stopped;
};

struct rally__deadline {
	bool forever;
	struct timespec at;       /* CLOCK_MONOTONIC, when !forever */
	int64_t at_ns;            /* the same in nanoseconds */
	struct rally__stop *stop; /* NULL: none (deadline_init's) */
};

/* timeout_ns: RALLY_FOREVER or >= 0 (the caller has checked). */
void rally__deadline_init(struct rally__deadline *d, int64_t timeout_ns);

/* The forever deadline, for waits that must not time out. */
extern const struct rally__deadline rally__no_deadline;

bool rally__deadline_passed(const struct rally__deadline *d);

/* The same, given the time (rally__now_ns()) the caller just read. */
bool rally__deadline_passed_at(const struct rally__deadline *d, int64_t now);

/* NULL when forever: the form rally__futex_wait() takes. */
const struct timespec *rally__deadline_ts(const struct rally__deadline *d);

int64_t rally__now_ns(void);

/* *out = the earlier of *d and `within_ns` from now. */
void rally__deadline_within(struct rally__deadline *out,
                            const struct rally__deadline *d, int64_t within_ns);

#endif
