/* points.c — the test side of the delay points (points.h), compiled only
 * into the test variant of the library. A thread that reaches a point
 *   - counts a hit;
 *   - runs the callback set for the point, if any;
 *   - parks there if a pause is armed for it (and for this thread's tag),
 *     until the test releases it;
 *   - with random delays on, sometimes yields or sleeps a few microseconds.
 * Test code: plain polling, no futex, so that it never hides a futex bug. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "hooks.h"
#include "points.h"
#include "spin.h"

struct point_state {
	_Atomic uint64_t hits;
	_Atomic(rally__point_fn) fn;
	_Atomic(void *) arg;
	_Atomic unsigned armed; /* a thread is still to park here */
	_Atomic unsigned skip;  /* matching hits to let pass first */
	_Atomic int arm_tag;    /* park only threads with this tag (0: any) */
	_Atomic unsigned parked;
	_Atomic unsigned released; /* bumped by rally__pause_release() */
};

static struct point_state points[RALLY__POINTS];
static _Atomic unsigned delay_per_mille;
static _Atomic uint64_t delay_seed;
static _Thread_local int thread_tag;
static _Thread_local uint64_t thread_rng;

static const char *const names[RALLY__POINTS] = {
#define RALLY__POINT_NAME(name) #name,
    RALLY__POINT_LIST(RALLY__POINT_NAME)
#undef RALLY__POINT_NAME
};

static void sleep_ns(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

static bool take_pause(struct point_state *s)
{
	int tag = atomic_load(&s->arm_tag);
	if (tag != 0 && tag != thread_tag)
		return false;
	unsigned k = atomic_load(&s->skip);
	while (k > 0)
		if (atomic_compare_exchange_weak(&s->skip, &k, k - 1))
			return false;
	unsigned a = 1;
	return atomic_compare_exchange_strong(&s->armed, &a, 0);
}

static void park(struct point_state *s)
{
	unsigned gen = atomic_load(&s->released);
	atomic_fetch_add(&s->parked, 1);
	while (atomic_load(&s->released) == gen)
		sleep_ns(20000);
	atomic_fetch_sub(&s->parked, 1);
}

static uint32_t next_random(void)
{
	if (thread_rng == 0)
		thread_rng =
		    atomic_fetch_add(&delay_seed, 0x9e3779b97f4a7c15ull) | 1;
	thread_rng ^= thread_rng << 13;
	thread_rng ^= thread_rng >> 7;
	thread_rng ^= thread_rng << 17;
	return (uint32_t)(thread_rng >> 20);
}

/* A short random delay: a yield, a sleep of 1-64 us, or a spin. */
static void random_delay(void)
{
	uint32_t r = next_random();
	switch (r % 3) {
	case 0:
		sched_yield();
		break;
	case 1:
		sleep_ns(1000 + (long)(r >> 2) % 64000);
		break;
	default:
		for (uint32_t i = (r >> 2) % 2000; i > 0; i--)
			rally__cpu_relax();
	}
}

void rally__point(enum rally__point p)
{
	struct point_state *s = &points[p];
	atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
	rally__point_fn fn = atomic_load(&s->fn);
	if (fn)
		fn(p, atomic_load(&s->arg));
	if (atomic_load_explicit(&s->armed, memory_order_relaxed) &&
	    take_pause(s))
		park(s);
	unsigned pm =
	    atomic_load_explicit(&delay_per_mille, memory_order_relaxed);
	if (pm && next_random() % 1000 < pm)
		random_delay();
}

void rally__point_on(enum rally__point p, rally__point_fn fn, void *arg)
{
	atomic_store(&points[p].arg, arg);
	atomic_store(&points[p].fn, fn);
}

void rally__point_tag(int tag) { thread_tag = tag; }

void rally__pause_arm(enum rally__point p, int tag, unsigned skip)
{
	atomic_store(&points[p].arm_tag, tag);
	atomic_store(&points[p].skip, skip);
	atomic_store(&points[p].armed, 1);
}

bool rally__pause_wait(enum rally__point p, unsigned threads,
                       int64_t timeout_ns)
{
	int64_t give_up = rally__now_ns() + timeout_ns;
	while (atomic_load(&points[p].parked) < threads) {
		if (rally__now_ns() > give_up)
			return false;
		sleep_ns(20000);
	}
	return true;
}

void rally__pause_release(enum rally__point p)
{
	atomic_store(&points[p].armed, 0);
	atomic_fetch_add(&points[p].released, 1);
}

unsigned rally__pause_parked(enum rally__point p)
{
	return atomic_load(&points[p].parked);
}

void rally__delay_random(unsigned per_mille, uint64_t seed)
{
	atomic_store(&delay_seed, seed);
	atomic_store(&delay_per_mille, per_mille);
}

uint64_t rally__point_hits(enum rally__point p)
{
	return atomic_load(&points[p].hits);
}

const char *rally__point_name(enum rally__point p)
{
	return (unsigned)p < RALLY__POINTS ? names[p] : "?";
}

static _Thread_local struct {
	bool noted;
	uint32_t epoch, phase, index;
} last_arrival;

void rally__point_arrival(uint32_t epoch, uint32_t phase, uint32_t index)
{
	last_arrival.noted = true;
	last_arrival.epoch = epoch;
	last_arrival.phase = phase;
	last_arrival.index = index;
}

bool rally__last_arrival(uint32_t *epoch, uint32_t *phase, uint32_t *index)
{
	*epoch = last_arrival.epoch;
	*phase = last_arrival.phase;
	*index = last_arrival.index;
	return last_arrival.noted;
}
