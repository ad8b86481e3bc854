/* events.c — rally_event_t and a condvar event behind one interface. */
#include "events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "rally.h"

/* The condvar event: a generation makes a set() seen by waiters that were
 * blocked, even if a clear() follows at once, as rally's does. */
struct condvar_event {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool set;
	unsigned long gen;
};

struct bench_event {
	enum event_impl impl;
	union {
		rally_event_t rally;
		struct condvar_event cond;
	} u;
};

const char *bench_event_name(enum event_impl impl)
{
	return impl == EVENT_RALLY ? "rally" : "condvar";
}

struct bench_event *bench_event_new(enum event_impl impl)
{
	struct bench_event *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->impl = impl;
	if (impl == EVENT_RALLY) {
		rally_event_init(&e->u.rally, 0);
	} else {
		pthread_mutex_init(&e->u.cond.mu, NULL);
		pthread_cond_init(&e->u.cond.cv, NULL);
	}
	return e;
}

void bench_event_set(struct bench_event *e)
{
	if (e->impl == EVENT_RALLY) {
		rally_event_set(&e->u.rally);
		return;
	}
	pthread_mutex_lock(&e->u.cond.mu);
	if (!e->u.cond.set) {
		e->u.cond.set = true;
		e->u.cond.gen++;
		pthread_cond_broadcast(&e->u.cond.cv);
	}
	pthread_mutex_unlock(&e->u.cond.mu);
}

void bench_event_clear(struct bench_event *e)
{
	if (e->impl == EVENT_RALLY) {
		rally_event_clear(&e->u.rally);
		return;
	}
	pthread_mutex_lock(&e->u.cond.mu);
	e->u.cond.set = false;
	pthread_mutex_unlock(&e->u.cond.mu);
}

void bench_event_wait(struct bench_event *e)
{
	if (e->impl == EVENT_RALLY) {
		rally_event_wait(&e->u.rally, RALLY_FOREVER);
		return;
	}
	pthread_mutex_lock(&e->u.cond.mu);
	unsigned long g = e->u.cond.gen;
	while (!e->u.cond.set && e->u.cond.gen == g)
		pthread_cond_wait(&e->u.cond.cv, &e->u.cond.mu);
	pthread_mutex_unlock(&e->u.cond.mu);
}

void bench_event_free(struct bench_event *e)
{
	if (!e)
		return;
	if (e->impl == EVENT_RALLY) {
		rally_event_destroy(&e->u.rally);
	} else {
		pthread_cond_destroy(&e->u.cond.cv);
		pthread_mutex_destroy(&e->u.cond.mu);
	}
	free(e);
}
