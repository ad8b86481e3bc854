/* test_stats.c — RALLY_STATS (rally.h, SPEC §12): each count against what
 * the test itself did, on a private barrier, a shared one across fork(),
 * and a named one; and a barrier without the flag keeps no counts. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

#define MS 1000000ll

static void sleep_ns(long ns)
{
	struct timespec ts = {ns / 1000000000l, ns % 1000000000l};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static rally_stats_t stats_of(rally_barrier_t *b)
{
	rally_stats_t s;
	cr_assert_eq(rally_barrier_stats(b, &s), 0);
	return s;
}

Test(stats, refused_without_the_flag_or_with_robust)
{
	rally_barrier_t b;
	rally_stats_t s;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_expect_eq(rally_barrier_stats(&b, &s), -EINVAL);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&b, 2, &a), 0);
	cr_expect_eq(rally_barrier_stats(&b, NULL), -EINVAL);
	cr_expect_eq(rally_barrier_stats(NULL, &s), -EINVAL);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
	cr_expect_eq(rally_barrier_stats(&b, &s), -EINVAL, "destroyed");
	a.flags = RALLY_STATS | RALLY_SHARED | RALLY_ROBUST;
	cr_expect_eq(rally_barrier_init(&b, 2, &a), -EINVAL);
	a.flags = RALLY_STATS | RALLY_SHARED;
	cr_expect_eq(rally_barrier_init(&b, 2, &a), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* Without RALLY_STATS the lines the counts would use stay untouched: not a
 * byte written there by phases, timeouts, aborts and resets. */
Test(stats, none_kept_without_the_flag)
{
	rally_barrier_t b;
	memset(&b, 0xa5, sizeof b);
	cr_assert_eq(rally_barrier_init(&b, 1, NULL), 0);
	unsigned char before[576];
	memcpy(before, (char *)&b + 448, sizeof before);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(rally_barrier_wait(&b), 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(memcmp(before, (char *)&b + 448, sizeof before), 0);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

struct late_args {
	rally_barrier_t *b;
	int phases;
	long delay_ns; /* before each arrival */
	unsigned parties;
	pid_t tid;
};

static void *arrive_late(void *arg)
{
	struct late_args *a = arg;
	a->tid = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < a->phases; i++) {
		sleep_ns(a->delay_ns);
		/* The straggler is last by construction: it arrives once the
		 * others wait. */
		while (a->delay_ns &&
		       rally_barrier_n_waiting(a->b) < a->parties - 1)
			sleep_ns(10000);
		int rc = rally_barrier_wait(a->b);
		cr_assert(rc >= 0, "wait: %d", rc);
	}
	return NULL;
}

/* One thread arrives 2 ms after the others every phase, and only once they
 * all wait: it is last each time, the skew is 2 ms or more, and index 0..2's waits hold the time. */
Test(stats, the_straggler_is_named)
{
	enum { PHASES = 40, THREADS = 4 };
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&b, THREADS, &attr), 0);
	struct late_args a[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct late_args){&b, PHASES, i == 2 ? 2 * MS : 0,
		                          THREADS, 0};
		pthread_create(&th[i], NULL, arrive_late, &a[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.phases, PHASES);
	cr_expect_eq(s.broken + s.timeouts + s.aborts + s.resets, 0);
	cr_expect_eq(s.waits, PHASES * THREADS);
	cr_expect_leq(s.spun + s.yielded + s.slept, s.waits);
	cr_expect_eq(s.last_id, (uint64_t)a[2].tid, "last %lu, straggler %d",
	             (unsigned long)s.last_id, a[2].tid);
	cr_expect_eq(s.last_count, PHASES);
	cr_expect_eq(s.skew_phases + s.skew_missed, PHASES);
	cr_expect_geq(s.skew_phases, PHASES - 2);
	/* At least the 2 ms the straggler slept; the p50 is a bucket's upper
	 * bound (at most twice the true one), never above the max. */
	cr_expect_geq(s.skew_max_ns, 2 * MS);
	cr_expect_geq(s.skew_p50_ns, 2 * MS);
	cr_expect_leq(s.skew_p50_ns, s.skew_p99_ns);
	cr_expect_leq(s.skew_p99_ns, s.skew_max_ns);
	uint64_t hist = 0;
	for (int i = 0; i < RALLY_STATS_BUCKETS; i++)
		hist += s.skew_hist[i];
	cr_expect_eq(hist, s.skew_phases);
	/* The first three arrivals of each phase waited for the straggler;
	 * the last did not. */
	for (int i = 0; i < THREADS - 1; i++)
		cr_expect_geq(s.wait_ns[i], PHASES * 2 * MS - PHASES * MS / 2,
		              "index %d waited %lu ns", i,
		              (unsigned long)s.wait_ns[i]);
	cr_expect_lt(s.wait_ns[THREADS - 1], PHASES * MS / 2);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

static int failing_action(void *arg)
{
	return *(int *)arg;
}

Test(stats, timeouts_aborts_resets_and_breaks)
{
	rally_barrier_t b;
	int action_rc = 0;
	rally_barrier_attr_t attr = {.flags = RALLY_STATS,
	                             .action = failing_action,
	                             .action_arg = &action_rc};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	/* A timeout breaks the barrier: 1 timeout, 1 break. */
	cr_assert_eq(rally_barrier_timedwait(&b, MS), RALLY_TIMEDOUT);
	/* Broken: a wait returns at once, an abort breaks nothing more. */
	cr_assert_eq(rally_barrier_timedwait(&b, MS), RALLY_BROKEN);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.timeouts, 1);
	cr_expect_eq(s.broken, 1);
	cr_expect_eq(s.aborts, 1);
	cr_expect_eq(s.waits, 2);
	cr_assert_eq(rally_barrier_reset(&b), 0);
	/* An abort of a working barrier breaks it. */
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally_barrier_reset(&b), 0);
	s = stats_of(&b);
	cr_expect_eq(s.aborts, 2);
	cr_expect_eq(s.resets, 2);
	cr_expect_eq(s.broken, 2);
	cr_expect_eq(s.phases, 0);
	cr_assert_eq(rally_barrier_destroy(&b), 0);

	/* A failing action breaks the phase: counted broken, not complete. */
	attr.flags = RALLY_STATS;
	cr_assert_eq(rally_barrier_init(&b, 1, &attr), 0);
	cr_assert_eq(rally_barrier_wait(&b), 0);
	action_rc = 1;
	cr_assert_eq(rally_barrier_wait(&b), RALLY_BROKEN);
	s = stats_of(&b);
	cr_expect_eq(s.phases, 1);
	cr_expect_eq(s.broken, 1);
	cr_expect_eq(s.last_count, 2, "the completer of both phases");
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

/* Split-phase calls count in phases, skew and the last caller, not in
 * waits; a timed-out await counts as a timeout. */
Test(stats, split_phase)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	rally_token_t t1, t2;
	cr_assert_eq(rally_barrier_arrive(&b, &t1), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &t2), 1);
	cr_assert_eq(rally_barrier_await(&b, t1, RALLY_FOREVER), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &t1), 0);
	cr_assert_eq(rally_barrier_await(&b, t1, MS), RALLY_TIMEDOUT);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.phases, 1);
	cr_expect_eq(s.timeouts, 1);
	cr_expect_eq(s.broken, 1);
	cr_expect_eq(s.waits, 0);
	cr_expect_eq(s.last_id, (uint64_t)syscall(SYS_gettid));
	cr_expect_eq(s.skew_phases, 1);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

/* A shared barrier keeps one set of counts for every process, and names
 * the last by pid (one arrives once the others wait). */
Test(stats, shared_across_processes)
{
	enum { PROCS = 3, PHASES = 30 };
	rally_barrier_t *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(b, MAP_FAILED);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_STATS};
	cr_assert_eq(rally_barrier_init(b, PROCS, &attr), 0);
	pid_t late = 0;
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			for (int i = 0; i < PHASES; i++) {
				while (p == 1 &&
				       rally_barrier_n_waiting(b) < PROCS - 1)
					sleep_ns(100000);
				if (rally_barrier_wait(b) < 0)
					_exit(1);
			}
			_exit(0);
		}
		if (p == 1)
			late = pid;
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		cr_assert_neq(wait(&st), -1);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	rally_stats_t s = stats_of(b);
	cr_expect_eq(s.phases, PHASES);
	cr_expect_eq(s.waits, PROCS * PHASES);
	cr_expect_eq(s.last_id, (uint64_t)late);
	cr_expect_eq(s.last_count, PHASES);
	cr_assert_eq(rally_barrier_destroy(b), 0);
	munmap(b, sizeof *b);
}

/* A named barrier created with stats: another handle reads the same. */
Test(stats, named)
{
	char name[64];
	snprintf(name, sizeof name, "/rally-test-stats-%d", getpid());
	rally_barrier_t *b1, *b2;
	rally_barrier_attr_t attr = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_open(&b1, name, 1, &attr, O_CREAT | O_EXCL,
	                                0600),
	             0);
	cr_assert_eq(rally_barrier_open(&b2, name, 1, NULL, 0, 0), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(rally_barrier_wait(b1), 0);
	rally_stats_t s = stats_of(b2);
	cr_expect_eq(s.phases, 5);
	cr_expect_eq(s.last_id, (uint64_t)getpid());
	cr_assert_eq(rally_barrier_close(b2), 0);
	cr_assert_eq(rally_barrier_close(b1), 0);
	cr_assert_eq(rally_barrier_unlink(name), 0);
}

/* How far each wait went: with RALLY_SPIN_NEVER every wait that waits
 * sleeps; with a budget of polls far beyond the wait, it polls only. */
static void how_waits_went(int spin, uint64_t want_spun, uint64_t want_slept)
{
	enum { PHASES = 20 };
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.flags = RALLY_STATS, .spin = spin};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct late_args a = {&b, PHASES, 100000, 2, 0};
	pthread_t th;
	pthread_create(&th, NULL, arrive_late, &a);
	for (int i = 0; i < PHASES; i++)
		cr_assert_eq(rally_barrier_wait(&b), 0, "the first to arrive");
	pthread_join(th, NULL);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.waits, 2 * PHASES);
	cr_expect_eq(s.spun, want_spun * PHASES, "spun %lu",
	             (unsigned long)s.spun);
	cr_expect_eq(s.yielded, 0);
	cr_expect_eq(s.slept, want_slept * PHASES, "slept %lu",
	             (unsigned long)s.slept);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

Test(stats, waits_that_slept) { how_waits_went(RALLY_SPIN_NEVER, 0, 1); }

Test(stats, waits_that_polled) { how_waits_went(1 << 30, 1, 0); }

static pid_t parent_pid;

static int die_in_child(void *arg)
{
	(void)arg;
	if (getpid() != parent_pid)
		_exit(0); /* dies holding the barrier */
	return 0;
}

/* A completer that dies in its action: the survivor takes over, the
 * barrier is broken once, and the phase was not completed. */
Test(stats, completer_died)
{
	rally_barrier_t *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(b, MAP_FAILED);
	parent_pid = getpid();
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_STATS,
	                             .action = die_in_child};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		while (rally_barrier_n_waiting(b) < 1)
			sleep_ns(100000);
		rally_barrier_wait(b);
		_exit(1); /* not reached: the action exits */
	}
	cr_expect_eq(rally_barrier_wait(b), RALLY_BROKEN);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rally_stats_t s = stats_of(b);
	cr_expect_eq(s.phases, 0);
	cr_expect_eq(s.broken, 1);
	cr_expect_eq(s.last_id, (uint64_t)pid);
	cr_assert_eq(rally_barrier_reset(b), 0);
	cr_assert_eq(rally_barrier_destroy(b), 0);
	munmap(b, sizeof *b);
}

/* ---- review round 1 (helper-79): windows between two steps ------------ */

static rally_barrier_t paused_b;

static void *wait_tagged(void *arg)
{
	rally__point_tag(1);
	*(int *)arg = rally_barrier_wait(&paused_b);
	return NULL;
}

/* A phase of paused_b (2 parties) whose first arrival is held between its
 * arrival and its stamp while this thread arrives last and completes it. */
static void complete_with_the_first_held(void)
{
	rally__pause_arm(RALLY__POINT_ARRIVED, 1, 0);
	int rc1 = -1;
	pthread_t t;
	pthread_create(&t, NULL, wait_tagged, &rc1);
	cr_assert(rally__pause_wait(RALLY__POINT_ARRIVED, 1, 5000000000ll));
	cr_assert_eq(rally_barrier_wait(&paused_b), 1);
	rally__pause_release(RALLY__POINT_ARRIVED);
	pthread_join(t, NULL);
	cr_assert_eq(rc1, 0);
}

/* Phase 0's first arrival paused between its arrival and its clock read:
 * the last arrives and completes — the phase is missed, not measured (the
 * zeroed stamp passed for phase 0's, at time 0: a skew of the uptime). */
Test(stats, first_paused_before_its_stamp)
{
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&paused_b, 2, &a), 0);
	complete_with_the_first_held();
	rally_stats_t s = stats_of(&paused_b);
	cr_expect_eq(s.skew_missed, 1);
	cr_expect_eq(s.skew_phases, 0);
	cr_expect_eq(s.skew_max_ns, 0, "max %lu ns",
	             (unsigned long)s.skew_max_ns);
	cr_assert_eq(rally_barrier_destroy(&paused_b), 0);
}

static void *reset_it(void *arg)
{
	(void)arg;
	rally_barrier_reset(&paused_b);
	return NULL;
}

static void *timedwait_200ms(void *arg)
{
	*(int *)arg = rally_barrier_timedwait(&paused_b, 200 * MS);
	return NULL;
}

/* A timed wait that arrives while a reset runs waits the reset out and
 * times out meanwhile: a wait that left, counted once (it was not). */
Test(stats, timeout_while_a_reset_runs_is_a_wait)
{
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&paused_b, 3, &a), 0);
	int rc1 = 0, rc2 = 0;
	pthread_t t1, t2, r;
	pthread_create(&t1, NULL, wait_tagged, &rc1);
	while (rally_barrier_n_waiting(&paused_b) != 1)
		sleep_ns(100000);
	rally__pause_arm(RALLY__POINT_RESET_CLAIMED, 0, 0);
	pthread_create(&r, NULL, reset_it, NULL);
	cr_assert(rally__pause_wait(RALLY__POINT_RESET_CLAIMED, 1,
	                            5000000000ll));
	pthread_create(&t2, NULL, timedwait_200ms, &rc2);
	pthread_join(t2, NULL);
	rally__pause_release(RALLY__POINT_RESET_CLAIMED);
	pthread_join(r, NULL);
	pthread_join(t1, NULL);
	cr_expect_eq(rc1, RALLY_BROKEN);
	cr_expect_eq(rc2, RALLY_TIMEDOUT);
	rally_stats_t s = stats_of(&paused_b);
	cr_expect_eq(s.timeouts, 1);
	cr_expect_eq(s.resets, 1);
	cr_expect_eq(s.waits, 2, "waits %lu", (unsigned long)s.waits);
	cr_expect_geq(s.wait_ns[0] + s.wait_ns[1], 200 * MS);
	cr_assert_eq(rally_barrier_destroy(&paused_b), 0);
}

/* A fork()ed child's thread is named by its own thread id. */
Test(stats, last_id_after_fork)
{
	rally_barrier_t b;
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&b, 1, &a), 0);
	cr_assert_eq(rally_barrier_wait(&b), 0); /* this thread's id, known */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		rally_barrier_t c;
		rally_stats_t s;
		if (rally_barrier_init(&c, 1, &a) || rally_barrier_wait(&c) ||
		    rally_barrier_stats(&c, &s))
			_exit(2);
		_exit(s.last_id == (uint64_t)syscall(SYS_gettid) ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "the child's last_id was its parent's thread");
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

/* ---- review round 2 (helper-80) ---------------------------------------- */

/* Arrivals of a broken barrier stamp the phases beyond its cut; a reset
 * starts the fresh epoch at those numbers. Its first arrival paused before
 * its stamp: missed, not measured from the cancelled epoch's stamp. */
Test(stats, stamp_of_a_cancelled_epoch)
{
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&paused_b, 2, &a), 0);
	cr_assert_eq(rally_barrier_abort(&paused_b), 0);
	for (int i = 0; i < 4; i++) /* phases 0 and 1, broken: 1 stamped */
		cr_assert_eq(rally_barrier_timedwait(&paused_b, 0),
		             RALLY_BROKEN);
	sleep_ns(50 * MS);
	cr_assert_eq(rally_barrier_reset(&paused_b), 0);
	complete_with_the_first_held();
	rally_stats_t s = stats_of(&paused_b);
	cr_expect_eq(s.phases, 1);
	cr_expect_eq(s.skew_missed, 1);
	cr_expect_lt(s.skew_max_ns, 50 * MS, "max %lu ns",
	             (unsigned long)s.skew_max_ns);
	cr_assert_eq(rally_barrier_destroy(&paused_b), 0);
}

static int sleep_20ms(void *arg)
{
	(void)arg;
	sleep_ns(20 * MS);
	return 0;
}

/* The completer's wait runs to its return: its action's time is in it. */
Test(stats, completer_waits_for_its_action)
{
	rally_barrier_t b;
	rally_barrier_attr_t a = {.flags = RALLY_STATS, .action = sleep_20ms};
	cr_assert_eq(rally_barrier_init(&b, 1, &a), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rally_barrier_wait(&b), 0);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.waits, 3);
	cr_expect_geq(s.wait_ns[0], 60 * MS, "wait_ns[0] %lu",
	              (unsigned long)s.wait_ns[0]);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

/* With RALLY_SPIN_NEVER no wait polls: a waiter held just before it
 * sleeps while the phase completes did not poll. */
Test(stats, spin_never_never_polls)
{
	rally_barrier_attr_t a = {.flags = RALLY_STATS,
	                          .spin = RALLY_SPIN_NEVER};
	cr_assert_eq(rally_barrier_init(&paused_b, 2, &a), 0);
	rally__pause_arm(RALLY__POINT_SPUN, 1, 0);
	int rc1 = -1;
	pthread_t t;
	pthread_create(&t, NULL, wait_tagged, &rc1);
	cr_assert(rally__pause_wait(RALLY__POINT_SPUN, 1, 5000000000ll));
	cr_assert_eq(rally_barrier_wait(&paused_b), 1);
	rally__pause_release(RALLY__POINT_SPUN);
	pthread_join(t, NULL);
	rally_stats_t s = stats_of(&paused_b);
	cr_expect_eq(s.waits, 2);
	cr_expect_eq(s.spun, 0, "spun %lu", (unsigned long)s.spun);
	cr_assert_eq(rally_barrier_destroy(&paused_b), 0);
}

/* ---- review round 3 (helper-81) ---------------------------------------- */

static int sleep_100ms_once(void *arg)
{
	if (!*(int *)arg) {
		*(int *)arg = 1;
		sleep_ns(100 * MS);
	}
	return 0;
}

static void *arrive_and_await(void *arg)
{
	rally_token_t t;
	if (rally_barrier_arrive(arg, &t) != 0 ||
	    rally_barrier_await(arg, t, RALLY_FOREVER) != 0)
		abort();
	return NULL;
}

/* A split-phase completer that waits for an earlier phase's action: its
 * phase's skew is from arrivals (a barrier of 1: 0), not to its BUSY. */
Test(stats, split_completer_skew_from_its_arrival)
{
	rally_barrier_t b;
	int ran = 0;
	rally_barrier_attr_t a = {.flags = RALLY_STATS,
	                          .action = sleep_100ms_once, .action_arg = &ran};
	cr_assert_eq(rally_barrier_init(&b, 1, &a), 0);
	pthread_t t;
	pthread_create(&t, NULL, arrive_and_await, &b);
	sleep_ns(10 * MS);
	arrive_and_await(&b); /* phase 1: waits ~90 ms for phase 0 */
	pthread_join(t, NULL);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.phases, 2);
	cr_expect_lt(s.skew_max_ns, 5 * MS, "max %lu ns",
	             (unsigned long)s.skew_max_ns);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

/* The first arrival held 20 ms between its arrival and its stamp, which
 * it then makes before the last arrives: the skew is still its own. */
Test(stats, late_stamp_keeps_the_first_arrival)
{
	rally_barrier_attr_t a = {.flags = RALLY_STATS};
	cr_assert_eq(rally_barrier_init(&paused_b, 2, &a), 0);
	rally__pause_arm(RALLY__POINT_ARRIVED, 1, 0);
	int rc1 = -1;
	pthread_t t;
	pthread_create(&t, NULL, wait_tagged, &rc1);
	cr_assert(rally__pause_wait(RALLY__POINT_ARRIVED, 1, 5000000000ll));
	sleep_ns(20 * MS);
	rally__pause_release(RALLY__POINT_ARRIVED);
	sleep_ns(5 * MS); /* it stamps, and waits */
	cr_assert_eq(rally_barrier_wait(&paused_b), 1);
	pthread_join(t, NULL);
	rally_stats_t s = stats_of(&paused_b);
	cr_expect_eq(s.skew_phases, 1);
	cr_expect_geq(s.skew_max_ns, 25 * MS, "max %lu ns",
	              (unsigned long)s.skew_max_ns);
	cr_assert_eq(rally_barrier_destroy(&paused_b), 0);
}

static int abort_then_fail(void *arg)
{
	rally_barrier_abort(arg);
	return -1;
}

/* An action that aborts (the next phase is to break) and then fails (this
 * one breaks): one break. */
Test(stats, abort_in_a_failing_action_is_one_break)
{
	rally_barrier_t b;
	rally_barrier_attr_t a = {.flags = RALLY_STATS,
	                          .action = abort_then_fail, .action_arg = &b};
	cr_assert_eq(rally_barrier_init(&b, 1, &a), 0);
	cr_assert_eq(rally_barrier_wait(&b), -1);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.aborts, 1);
	cr_expect_eq(s.broken, 1, "broken %lu", (unsigned long)s.broken);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}

static int abort_only(void *arg)
{
	rally_barrier_abort(arg);
	return 0;
}

/* An action that aborts: its phase completes, the next is born broken —
 * one break, counted by that publish. */
Test(stats, abort_in_an_action_breaks_the_next)
{
	rally_barrier_t b;
	rally_barrier_attr_t a = {.flags = RALLY_STATS, .action = abort_only,
	                          .action_arg = &b};
	cr_assert_eq(rally_barrier_init(&b, 1, &a), 0);
	cr_assert_eq(rally_barrier_wait(&b), 0);
	cr_assert_eq(rally_barrier_wait(&b), RALLY_BROKEN);
	rally_stats_t s = stats_of(&b);
	cr_expect_eq(s.phases, 1);
	cr_expect_eq(s.broken, 1, "broken %lu", (unsigned long)s.broken);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
}
