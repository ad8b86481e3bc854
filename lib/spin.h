/* spin.h — how long a waiter spins and yields before it sleeps. */
#ifndef RALLY_SPIN_H
#define RALLY_SPIN_H

#include <stdint.h>

struct rally__spin_plan {
	uint32_t iters;  /* at most this many polls of the word */
	uint32_t max_ns; /* ... and for at most this long (0: no time cap) */
	uint32_t yields; /* then this many sched_yield()s, then sleep */
};

/* The plan for a waiter on an object of `parties` callers whose attr asked
 * for `attr_spin` (RALLY_SPIN_AUTO, RALLY_SPIN_NEVER or a budget). */
void rally__spin_plan(int attr_spin, unsigned parties,
                      struct rally__spin_plan *plan);

/* CPUs this process may run on (its affinity mask), read once. */
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

#endif
