/* races.c — the hard races, tested for real (TAP output).
 *
 *   destroy-unmap  the caller that gets index 0 destroys the barrier and
 *                  unmaps its page (remapped PROT_NONE at the same address)
 *                  while the others leave: a touch after destroy faults.
 *   signals        SIGALRM every millisecond during many waits: none
 *                  returns early or fails; timed waits end by
 *                  their deadline, never early (overshoot p50/p99 reported).
 *   wrap           the generation starts just below its wrap-around and
 *                  crosses it, again and again, with every index checked.
 *
 * usage: races [--iterations N] [--waits N] [--crossings N] */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "rally.h"
#include "signal_count.h"

static int tests, failures;

static void report(bool ok, const char *what)
{
	tests++;
	if (!ok)
		failures++;
	printf("%sok %d - %s\n", ok ? "" : "not ", tests, what);
	fflush(stdout);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- destroy and unmap ------------------------------------------------------
 */

enum { DU_THREADS = 2 };

static struct {
	void *page;
	size_t size;
	long iterations;
	_Atomic long ready; /* iteration whose barrier is initialised */
	_Atomic long done;  /* iteration the destroyer has finished */
	_Atomic int errors;
} du;

static void *du_thread(void *arg)
{
	(void)arg;
	for (long it = 1; it <= du.iterations; it++) {
		while (atomic_load_explicit(&du.ready, memory_order_acquire) <
		       it)
			sched_yield();
		rally_barrier_t *b = du.page;
		int idx = rally_barrier_wait(b);
		if (idx < 0) {
			atomic_fetch_add(&du.errors, 1);
			return NULL;
		}
		if (idx == 0) {
			if (rally_barrier_destroy(b) != 0)
				atomic_fetch_add(&du.errors, 1);
			/* The others may be leaving: from now on, any touch of
			 * the page faults. */
			if (mmap(du.page, du.size, PROT_NONE,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			         0) == MAP_FAILED)
				atomic_fetch_add(&du.errors, 1);
			atomic_store_explicit(&du.done, it,
			                      memory_order_release);
		}
	}
	return NULL;
}

static void test_destroy_unmap(long iterations)
{
	du.size = (size_t)sysconf(_SC_PAGESIZE);
	du.iterations = iterations;
	du.page = mmap(NULL, du.size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th[DU_THREADS];
	for (int i = 0; i < DU_THREADS; i++)
		pthread_create(&th[i], NULL, du_thread, NULL);
	for (long it = 1; it <= iterations && !du.errors; it++) {
		/* A fresh page at the same address for the next barrier. */
		while (it > 1 && atomic_load_explicit(
		                     &du.done, memory_order_acquire) < it - 1)
			sched_yield();
		if (it > 1 && mmap(du.page, du.size, PROT_READ | PROT_WRITE,
		                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		                   0) == MAP_FAILED)
			break;
		rally_barrier_init(du.page, DU_THREADS, NULL);
		atomic_store_explicit(&du.ready, it, memory_order_release);
	}
	for (int i = 0; i < DU_THREADS; i++)
		pthread_join(th[i], NULL);
	char what[128];
	snprintf(what, sizeof what,
	         "destroy and unmap right after wait: %ld iterations, no fault",
	         iterations);
	report(du.errors == 0, what);
	munmap(du.page, du.size);
}

/* ---- signals
 * ------------------------------------------------------------------ */

static struct {
	rally_barrier_t b;
	long waits;
	pthread_t th[SIG_THREADS];
	_Atomic bool stop;        /* main: enough waits and signals seen */
	_Atomic long total;       /* the phases both threads run (0: open) */
	_Atomic bool sender_stop; /* main: the threads are done */
	_Atomic long arrived, errors, early;
	_Atomic long phases[SIG_THREADS];
	_Atomic long resumed[SIG_THREADS]; /* sleeps begun again */
	_Atomic int done;
} sg;

/* Both threads must run the same number of phases. The first to see the
 * stop proposes one more phase than it has done: the other cannot finish
 * that phase before this one arrives in it, after its proposal, so it sees
 * the total in time; a proposal that loses the CAS is replaced by the
 * other's, which is at most one phase shorter and still ahead of both. */
static bool sg_finished(long done)
{
	long total = atomic_load(&sg.total);
	if (total == 0 && atomic_load(&sg.stop) &&
	    atomic_compare_exchange_strong(&sg.total, &total, done + 1))
		total = done + 1;
	return total != 0 && done >= total;
}

static void *sg_thread(void *arg)
{
	int self = (int)(intptr_t)arg;
	sig_self = self;
	for (long i = 0; !sg_finished(i); i++) {
		/* Most waits are a quick ping-pong, over before a signal comes.
		 * Every 64th phase one thread, in turn, comes 2 ms late: the
		 * other sleeps in the futex meanwhile, through two signals. */
		if (i % 64 == 0 && (i / 64) % SIG_THREADS == self) {
			struct timespec late = {0, 2000000};
			while (nanosleep(&late, &late) != 0)
				;
		}
		atomic_fetch_add(&sg.arrived, 1);
		long s0 = sleeps_begun;
		sig_in_wait = WAITING;
		int rc = rally_barrier_wait(&sg.b);
		sig_in_wait = NOT_WAITING;
		if (rc < 0 || rc >= SIG_THREADS)
			atomic_fetch_add(&sg.errors, 1);
		/* Released only once both arrived in phase i. */
		if (atomic_load(&sg.arrived) < SIG_THREADS * (i + 1))
			atomic_fetch_add(&sg.early, 1);
		if (sleeps_begun - s0 > 1)
			atomic_fetch_add(&sg.resumed[self],
			                 sleeps_begun - s0 - 1);
		atomic_store(&sg.phases[self], i + 1);
	}
	atomic_fetch_add(&sg.done, 1);
	return NULL;
}

/* A process-directed signal (setitimer) goes to whichever thread the
 * kernel picks — mostly the main thread, idle in pthread_join, which tells
 * nothing. So each waiting thread gets its own, every millisecond. */
static void *sg_sender(void *arg)
{
	(void)arg;
	while (!atomic_load(&sg.sender_stop)) {
		for (int i = 0; i < SIG_THREADS; i++)
			pthread_kill(sg.th[i], SIGALRM);
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static long sg_least(_Atomic long *per_thread)
{
	long least = LONG_MAX;
	for (int i = 0; i < SIG_THREADS; i++)
		if (atomic_load(&per_thread[i]) < least)
			least = atomic_load(&per_thread[i]);
	return least;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void test_signals(long waits)
{
	count_signals();

	/* Sleeping waits (no spin) see the signals as EINTR. The threads
	 * wait at least `waits` times each, and on until enough signals have
	 * found them asleep in a wait and made them sleep again after the
	 * EINTR, or for at most a minute. */
	enum { ASLEEP_MIN = 200, RESUMED = 100, MAX_S = 60 };
	rally_barrier_attr_t attr = {.spin = RALLY_SPIN_NEVER};
	rally_barrier_init(&sg.b, SIG_THREADS, &attr);
	sg.waits = waits;
	long a0 = atomic_load(&alarms);
	for (int i = 0; i < SIG_THREADS; i++)
		pthread_create(&sg.th[i], NULL, sg_thread, (void *)(intptr_t)i);
	pthread_t sender;
	pthread_create(&sender, NULL, sg_sender, NULL);
	int64_t give_up = now_ns() + MAX_S * 1000000000LL;
	for (;;) {
		bool enough = sg_least(sg.phases) >= waits;
#ifdef RALLY_DELAY_POINTS
		enough = enough && sg_least(sig_asleep) >= ASLEEP_MIN &&
		         sg_least(sg.resumed) >= RESUMED;
#endif
		if (enough || atomic_load(&sg.errors) ||
		    atomic_load(&sg.early) || now_ns() > give_up)
			break;
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	atomic_store(&sg.stop, true);
	/* The sender stops before the threads it signals are joined. */
	while (atomic_load(&sg.done) < SIG_THREADS) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	atomic_store(&sg.sender_stop, true);
	pthread_join(sender, NULL);
	for (int i = 0; i < SIG_THREADS; i++)
		pthread_join(sg.th[i], NULL);
	rally__point_on(RALLY__POINT_SLEEPING, NULL, NULL);
	/* Without the delay points only the signals inside a wait are seen:
	 * at least one per nap. */
	bool interrupted = sg_least(sig_in_waits) >= waits / 64 / SIG_THREADS;
#ifdef RALLY_DELAY_POINTS
	interrupted = sg_least(sig_asleep) >= ASLEEP_MIN &&
	              sg_least(sg.resumed) >= RESUMED;
#endif
	char what[256];
	snprintf(
	    what, sizeof what,
	    "%ld waits under SIGALRM every ms to each waiter (%ld "
	    "signals; per thread at least %ld inside a wait, %ld asleep, "
	    "%ld futex sleeps begun again): %ld failed, %ld returned early",
	    atomic_load(&sg.phases[0]) + atomic_load(&sg.phases[1]),
	    atomic_load(&alarms) - a0, sg_least(sig_in_waits),
	    sg_least(sig_asleep), sg_least(sg.resumed), atomic_load(&sg.errors),
	    atomic_load(&sg.early));
	report(sg.errors == 0 && sg.early == 0 && interrupted, what);
	rally_barrier_destroy(&sg.b);

	/* Timed waits alone, in the main thread, which the process-directed
	 * timer does interrupt: each must time out at its deadline, not
	 * before, and not much after. */
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
	enum { TIMED = 200 };
	const int64_t timeout = 20000000;
	int64_t over[TIMED];
	bool early = false, errors = false;
	rally_barrier_init(&sg.b, 2, NULL);
	for (int i = 0; i < TIMED; i++) {
		int64_t t0 = now_ns();
		int rc = rally_barrier_timedwait(&sg.b, timeout);
		over[i] = now_ns() - t0 - timeout;
		early |= over[i] < 0;
		errors |= rc != RALLY_TIMEDOUT;
		rally_barrier_reset(&sg.b);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	qsort(over, TIMED, sizeof over[0], cmp64);
	/* Behaviour, not speed: none early, each ended by its deadline (the
	 * p99 within 50 timeouts: a wait that ignored its deadline would
	 * not be); the overshoot is reported — on a shared machine its p99
	 * went from 0.1 to 2 ms with the load. */
	int64_t p50 = over[TIMED / 2], p99 = over[TIMED * 99 / 100 - 1];
	snprintf(
	    what, sizeof what,
	    "%d timed waits of 20 ms under SIGALRM: none early, all ended by "
	    "their deadline (overshoot p50 %.0f us, p99 %.0f us, max %.0f us)",
	    TIMED, p50 / 1e3, p99 / 1e3, over[TIMED - 1] / 1e3);
	report(!early && !errors && p99 <= 50 * timeout, what);
	rally_barrier_destroy(&sg.b);
}

/* ---- generation wrap
 * ------------------------------------------------------------ */

enum { WRAP_THREADS = 3, WRAP_PHASES = 64 };

static struct {
	rally_barrier_t b;
	_Atomic unsigned seen[WRAP_PHASES][WRAP_THREADS];
	_Atomic long errors;
} wr;

static void *wrap_thread(void *arg)
{
	(void)arg;
	for (int r = 0; r < WRAP_PHASES; r++) {
		int idx = rally_barrier_wait(&wr.b);
		if (idx < 0 || idx >= WRAP_THREADS)
			atomic_fetch_add(&wr.errors, 1);
		else
			atomic_fetch_add(&wr.seen[r][idx], 1);
	}
	return NULL;
}

static void test_wrap(long crossings)
{
	const uint32_t seq_mask = (1u << RALLY__SEQ_BITS) - 1;
	/* WRAP_PHASES / 2 below the wrap-around of the sequence numbers. */
	const uint32_t start = (1u << RALLY__SEQ_BITS) - WRAP_PHASES / 2;
	long bad = 0, crossed = 0;
	uint32_t last_start = 0, last_end = 0;
	for (long c = 0; c < crossings; c++) {
		memset(&wr.seen, 0, sizeof wr.seen);
		rally_barrier_init(&wr.b, WRAP_THREADS, NULL);
		bool set = rally__barrier_set_phase(&wr.b, start) == 0;
		last_start = rally_barrier_phase(&wr.b);
		set = set && last_start == start;
		/* A reset across the wrap too, now and then: it moves the
		 * phase on, still below the wrap. */
		if (c % 4 == 3) {
			rally_token_t t;
			rally_barrier_arrive(&wr.b, &t);
			rally_barrier_reset(&wr.b);
		}
		uint32_t before = rally_barrier_phase(&wr.b);
		pthread_t th[WRAP_THREADS];
		for (int i = 0; i < WRAP_THREADS; i++)
			pthread_create(&th[i], NULL, wrap_thread, NULL);
		for (int i = 0; i < WRAP_THREADS; i++)
			pthread_join(th[i], NULL);
		for (int r = 0; r < WRAP_PHASES; r++)
			for (int i = 0; i < WRAP_THREADS; i++)
				bad += wr.seen[r][i] != 1;
		/* Every phase moved it on by one, across the wrap: it is
		 * small again. */
		last_end = rally_barrier_phase(&wr.b);
		if (set && before >= start &&
		    last_end == ((before + WRAP_PHASES) & seq_mask) &&
		    last_end < before)
			crossed++;
		rally_barrier_destroy(&wr.b);
	}
	char what[200];
	snprintf(what, sizeof what,
	         "generation wrap at 2^%d crossed %ld of %ld times (the last "
	         "from phase %u to %u), every index once per phase",
	         RALLY__SEQ_BITS, crossed, crossings, (unsigned)last_start,
	         (unsigned)last_end);
	report(bad == 0 && wr.errors == 0 && crossed == crossings, what);
}

int main(int argc, char **argv)
{
	long iterations = 1000000, waits = 50000, crossings = 100;
	for (int i = 1; i + 1 < argc; i += 2) {
		long v = atol(argv[i + 1]);
		if (strcmp(argv[i], "--iterations") == 0)
			iterations = v;
		else if (strcmp(argv[i], "--waits") == 0)
			waits = v;
		else if (strcmp(argv[i], "--crossings") == 0)
			crossings = v;
		else {
			fprintf(stderr,
			        "usage: races [--iterations N] [--waits N] "
			        "[--crossings N]\n");
			return 2;
		}
	}
	if (argc % 2 == 0) {
		fprintf(stderr, "races: an option without its value\n");
		return 2;
	}
	printf("TAP version 13\n1..4\n");
	test_destroy_unmap(iterations);
	test_signals(waits);
	test_wrap(crossings);
	printf("# %d passed, %d failed\n", tests - failures, failures);
	return failures ? 1 : 0;
}
