/* spin.c — the waiting policy.
 *
 * Spinning pays off only while the caller we wait for is running on another
 * CPU: when more parties than CPUs share a barrier, a spinner steals the CPU
 * from the very thread it waits for (a fixed spin of 20 000 polls costs
 * 390 µs a phase at 4 threads on 2 CPUs). So RALLY_SPIN_AUTO
 *   - with parties <= CPUs, polls while arrivals keep coming (20 µs of
 *     patience, 50 µs at most), then sleeps — unless its recent polls
 *     found nothing (wait.c: a busy neighbour);
 *   - with more parties than CPUs, never polls: it yields the CPU — to a
 *     thread that has yet to arrive — and yields again as long as someone
 *     arrived while it was away. Every party must run once a phase, and a
 *     yield hands over the CPU for one syscall where a sleep costs its
 *     waker a wake-up too. Two turns in a row that find no new arrival
 *     mean only waiters run meanwhile (one alone often went to another
 *     waiter): the waiter sleeps, which frees the CPU for the parties
 *     still to come (and a late party costs no CPU). And it yields
 *     at most two rotations of the run queue (2 * parties / CPUs times):
 *     the scheduler (EEVDF) keeps picking yielders, which barely run, over
 *     a party that computes, whose vruntime is ahead; bounded yields cannot
 *     starve it for long.
 * Measured on 2 CPUs at 32 threads: ~1.2 context switches per thread per
 * phase, where one is the floor. */
#define _GNU_SOURCE
#include "spin.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rally.h"

enum { SPIN_PATIENCE_NS = 20000, SPIN_CAP_NS = 50000, YIELD_ROTATIONS = 2 };

/* 0 until read; then RALLY_SPIN_AUTO, RALLY_SPIN_NEVER or a budget, + 2 so
 * that every resolved value is non-zero. */
static _Atomic int env_spin_plus2;
static _Atomic unsigned cpus_cached;

static int parse_env_spin(void)
{
	const char *s = getenv("RALLY_SPIN");
	if (!s || !*s || strcmp(s, "auto") == 0)
		return RALLY_SPIN_AUTO;
	if (strcmp(s, "never") == 0)
		return RALLY_SPIN_NEVER;
	char *end;
	long n = strtol(s, &end, 10);
	if (*end != '\0' || n < 0 || n > (1L << 30))
		return RALLY_SPIN_AUTO; /* unreadable: keep the default */
	return n == 0 ? RALLY_SPIN_NEVER : (int)n;
}

static int env_spin(void)
{
	int v = atomic_load_explicit(&env_spin_plus2, memory_order_relaxed);
	if (v == 0) {
		v = parse_env_spin() + 2;
		atomic_store_explicit(&env_spin_plus2, v, memory_order_relaxed);
	}
	return v - 2;
}

/* The CPUs of the process: read when the library is loaded, before the
 * program pins its threads — a thread pinned to one CPU saw 1, and if it
 * waited first, the whole process never spun (review round 5: 2 pinned
 * threads took 18.6 us a phase, 166 ns when an unpinned one waited
 * first). A library loaded later (dlopen) reads the loading thread's. */
__attribute__((constructor)) static void read_cpus_at_load(void)
{
	(void)rally__cpus();
}

unsigned rally__cpus(void)
{
	unsigned n = atomic_load_explicit(&cpus_cached, memory_order_relaxed);
	if (n == 0) {
		cpu_set_t set;
		if (sched_getaffinity(0, sizeof set, &set) == 0)
			n = (unsigned)CPU_COUNT(&set);
		if (n == 0)
			n = 1;
		atomic_store_explicit(&cpus_cached, n, memory_order_relaxed);
	}
	return n;
}

void rally__spin_plan(int attr_spin, unsigned parties,
                      struct rally__spin_plan *plan)
{
	int spin = attr_spin == RALLY_SPIN_AUTO ? env_spin() : attr_spin;
	*plan = (struct rally__spin_plan){0};
	if (spin == RALLY_SPIN_NEVER)
		return;
	if (spin > 0) {
		plan->iters = (uint32_t)spin;
		return;
	}
	if (parties <= rally__cpus()) {
		plan->spin_ns = SPIN_PATIENCE_NS;
		plan->spin_cap_ns = SPIN_CAP_NS;
	} else {
		unsigned c = rally__cpus();
		plan->yields = YIELD_ROTATIONS * ((parties + c - 1) / c);
	}
}

/* nanosleep() is a cancellation point: a caller with a cancellation
 * pending died inside rally's destroy (and, through the pthread drop-in,
 * inside pthread_barrier_destroy, which POSIX forbids to be one: review 3
 * of the shim). The system call itself is not one. */
void rally__pause_ns(long ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	syscall(SYS_nanosleep, &ts, NULL);
}

void rally__backoff(unsigned *i)
{
	if (*i < 64)
		rally__cpu_relax();
	else if (*i < 1024)
		sched_yield();
	else
		rally__pause_ns(50000);
	(*i)++;
}
