/* spin.h — how long a waiter spins and yields before it sleeps. */
#ifndef RALLY_SPIN_H
#define RALLY_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/* How a waiter waits before it sleeps: it polls (an explicit number of
 * times, or while arrivals keep coming), then yields while arrivals keep
 * coming, then sleeps on the futex. */
struct rally__spin_plan {
	uint32_t iters;       /* an explicit budget of polls (attr, RALLY_SPIN);
	                         0: poll by spin_ns instead */
	uint32_t spin_ns;     /* poll while an arrival came within this long */
	uint32_t spin_cap_ns; /* ... but never poll longer than this */
	uint32_t yields;      /* then sched_yield() while every yield finds a
	                         new arrival, at most this many times */
	uint64_t tag;         /* the barrier's (its spins are remembered by
	                         word and tag: wait.c), or 0 */
	uint8_t verdict;      /* wait.c's, at the wait's first call: 0 not
	                         yet, then spin or throttled for the wait */
	bool spent;           /* polled and yielded in vain while the word
	                         held spent_seen: a later slice of the same
	                         wait, seeing it still, sleeps at once */
	uint64_t spent_seen;  /* the word the last call polled on */
	uint32_t polled;      /* of an explicit budget (iters), since the word
	                         last changed: a slice's end does not renew
	                         it */
	uint8_t reached;      /* how far the wait went: RALLY__REACHED_* */
};

/* What a wait did, for RALLY_STATS (stats.c counts each wait by the
 * deepest). */
#define RALLY__REACHED_POLL  0x1u
#define RALLY__REACHED_YIELD 0x2u
#define RALLY__REACHED_SLEEP 0x4u

/* The plan for a waiter on an object of `parties` callers whose attr asked
 * for `attr_spin` (RALLY_SPIN_AUTO, RALLY_SPIN_NEVER or a budget). */
void rally__spin_plan(int attr_spin, unsigned parties,
                      struct rally__spin_plan *plan);

/* CPUs this process may run on (its affinity mask when the library was
 * loaded), read once. */
unsigned rally__cpus(void);

static inline void rally__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* A wait for running threads to take a step (leave, publish): spin a
 * little, then yield, then sleep 50 us at a time. *i counts the turns. */
void rally__backoff(unsigned *i);

/* Sleeps ns nanoseconds, or less if a signal comes; not a cancellation
 * point (nanosleep() is). */
void rally__pause_ns(long ns);

#endif
