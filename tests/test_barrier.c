/* test_barrier.c — the barrier's contract, threads of one process.
 * Every scenario runs with 1, 2, 4, 16 and 64 threads. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

#define ROUNDS 200

/* ---- bad input ----------------------------------------------------------- */

Test(args, init_rejects_bad_input, .timeout = 10)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {0};
	cr_expect_eq(rally_barrier_init(NULL, 2, NULL), -EINVAL);
	cr_expect_eq(rally_barrier_init(&b, 0, NULL), -EINVAL);
	cr_expect_eq(rally_barrier_init(&b, RALLY_PARTIES_MAX + 1, NULL),
	             -EINVAL);
	cr_expect_eq(rally_barrier_init(&b, UINT32_MAX, NULL), -EINVAL);
	attr.flags = 0x80;
	cr_expect_eq(rally_barrier_init(&b, 2, &attr), -EINVAL);
	attr.flags = RALLY_ROBUST;
	cr_expect_eq(rally_barrier_init(&b, 2, &attr), -EINVAL);
	attr.flags = RALLY_ROBUST | RALLY_SHARED;
	cr_expect_eq(rally_barrier_init(&b, 2, &attr), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
	attr = (rally_barrier_attr_t){.timeout_ns = -2};
	cr_expect_eq(rally_barrier_init(&b, 2, &attr), -EINVAL);
	attr = (rally_barrier_attr_t){.spin = -2};
	cr_expect_eq(rally_barrier_init(&b, 2, &attr), -EINVAL);
	attr =
	    (rally_barrier_attr_t){.timeout_ns = RALLY_FOREVER, .spin = 1000};
	cr_expect_eq(rally_barrier_init(&b, RALLY_PARTIES_MAX, &attr), 0);
	cr_expect_eq(rally_barrier_parties(&b), RALLY_PARTIES_MAX);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

static void expect_all_einval(rally_barrier_t *b)
{
	cr_expect_eq(rally_barrier_wait(b), -EINVAL);
	cr_expect_eq(rally_barrier_timedwait(b, 0), -EINVAL);
	cr_expect_eq(rally_barrier_abort(b), -EINVAL);
	cr_expect_eq(rally_barrier_reset(b), -EINVAL);
	cr_expect_eq(rally_barrier_destroy(b), -EINVAL);
	cr_expect_eq(rally_barrier_parties(b), 0);
	cr_expect_eq(rally_barrier_n_waiting(b), 0);
	cr_expect_not(rally_barrier_broken(b));
}

Test(args, null_zeroed_and_destroyed_objects, .timeout = 10)
{
	expect_all_einval(NULL);
	rally_barrier_t b;
	memset(&b, 0, sizeof b);
	expect_all_einval(&b);
	memset(&b, 0xa5, sizeof b);
	expect_all_einval(&b);
	cr_assert_eq(rally_barrier_init(&b, 1, NULL), 0);
	cr_expect_eq(rally_barrier_wait(&b), 0);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
	expect_all_einval(&b);
}

Test(args, negative_timeouts, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_expect_eq(rally_barrier_timedwait(&b, -2), -EINVAL);
	cr_expect_eq(rally_barrier_timedwait(&b, INT64_MIN), -EINVAL);
	/* A rejected call neither arrived nor broke anything. */
	cr_expect_eq(rally_barrier_n_waiting(&b), 0);
	cr_expect_not(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(args, strerror_names_every_code, .timeout = 10)
{
	const int codes[] = {RALLY_BROKEN, RALLY_TIMEDOUT, RALLY_OWNERDEAD,
	                     -EINVAL,      -EBUSY,         -EDEADLK,
	                     -ENOTSUP};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *s = rally_strerror(codes[i]);
		cr_assert_not_null(s);
		cr_expect_str_neq(s, "unknown error code");
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(s, rally_strerror(codes[j]));
	}
	cr_expect_str_eq(rally_strerror(-9999), "unknown error code");
	cr_expect_str_eq(rally_strerror(0), "success");
	cr_expect_str_eq(rally_strerror(7), "success");
	cr_expect_eq(RALLY_BROKEN, -EPIPE);
	cr_expect_eq(RALLY_TIMEDOUT, -ETIMEDOUT);
	cr_expect_eq(RALLY_OWNERDEAD, -EOWNERDEAD);
	cr_expect_eq(RALLY_FOREVER, -1);
}

/* ---- indices, action ----------------------------------------------------- */

struct phase_check {
	rally_barrier_t b;
	unsigned n;
	_Atomic unsigned seen[ROUNDS][64]; /* per round: how often each index */
	_Atomic unsigned actions;
	unsigned action_round;      /* plain: written by the action only */
	unsigned arrived_plain[64]; /* plain: each thread's round, pre-wait */
	_Atomic unsigned early;
};

static int count_action(void *arg)
{
	struct phase_check *pc = arg;
	/* Everyone's pre-wait writes are visible to the action. */
	for (unsigned j = 0; j < pc->n; j++)
		if (pc->arrived_plain[j] != pc->action_round)
			atomic_fetch_add(&pc->early, 1);
	pc->action_round++;
	atomic_fetch_add(&pc->actions, 1);
	return 0;
}

/* Two phases per round: 2r (checked) and 2r + 1 (which keeps round r+1's
 * writes from racing the action's reads of round r). */
static void phase_worker(unsigned i, void *arg)
{
	struct phase_check *pc = arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		pc->arrived_plain[i] = 2 * r;
		int idx = rally_barrier_wait(&pc->b);
		cr_assert(idx >= 0 && (unsigned)idx < pc->n,
		          "round %u: wait returned %d", r, idx);
		/* The action of this phase ran before anyone was released. */
		cr_assert_eq(pc->action_round, 2 * r + 1);
		atomic_fetch_add(&pc->seen[r][idx], 1);
		pc->arrived_plain[i] = 2 * r + 1;
		cr_assert_geq(rally_barrier_wait(&pc->b), 0);
		cr_assert_eq(pc->action_round, 2 * r + 2);
	}
}

Test(semantics, each_index_once_per_phase_and_action_once, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct phase_check *pc = calloc(1, sizeof *pc);
		pc->n = n;
		rally_barrier_attr_t attr = {.action = count_action,
		                             .action_arg = pc};
		cr_assert_eq(rally_barrier_init(&pc->b, n, &attr), 0);
		test_run_threads(n, phase_worker, pc);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				cr_assert_eq(pc->seen[r][i], 1,
				             "%u threads, round %u: index %u "
				             "seen %u times",
				             n, r, i, pc->seen[r][i]);
		cr_expect_eq(pc->actions, 2 * ROUNDS, "%u threads", n);
		cr_expect_eq(pc->early, 0, "%u threads: action ran early", n);
		cr_expect_eq(rally_barrier_destroy(&pc->b), 0);
		free(pc);
	}
}

struct last_check {
	rally_barrier_t b;
	_Atomic unsigned action_tid; /* thread that ran the action, + 1 */
	_Atomic unsigned wrong;
};

static _Thread_local unsigned my_tid;

static int note_tid(void *arg)
{
	struct last_check *lc = arg;
	atomic_store(&lc->action_tid, my_tid + 1);
	return 0;
}

static void last_worker(unsigned i, void *arg)
{
	struct last_check *lc = arg;
	my_tid = i;
	unsigned parties = rally_barrier_parties(&lc->b);
	for (unsigned r = 0; r < ROUNDS; r++) {
		int idx = rally_barrier_wait(&lc->b);
		/* The caller that ran the action got parties - 1. */
		bool ran = atomic_load(&lc->action_tid) == i + 1;
		if (ran != ((unsigned)idx == parties - 1))
			atomic_fetch_add(&lc->wrong, 1);
		/* A second phase before the next check's action. */
		rally_barrier_wait(&lc->b);
	}
}

Test(semantics, last_arrival_runs_action_and_gets_parties_minus_1,
     .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct last_check lc = {0};
		rally_barrier_attr_t attr = {.action = note_tid,
		                             .action_arg = &lc};
		cr_assert_eq(rally_barrier_init(&lc.b, n, &attr), 0);
		test_run_threads(n, last_worker, &lc);
		cr_expect_eq(lc.wrong, 0, "%u threads", n);
		cr_expect_eq(rally_barrier_destroy(&lc.b), 0);
	}
}

/* ---- failing action --------------------------------------------------------
 */

struct fail_check {
	rally_barrier_t b;
	int action_rc;
	_Atomic unsigned broken, action_code, other;
};

static int failing_action(void *arg)
{
	return ((struct fail_check *)arg)->action_rc;
}

static void fail_worker(unsigned i, void *arg)
{
	struct fail_check *fc = arg;
	int rc = rally_barrier_wait(&fc->b);
	if (rc == RALLY_BROKEN)
		atomic_fetch_add(&fc->broken, 1);
	else if (rc == (fc->action_rc < 0 ? fc->action_rc : RALLY_BROKEN))
		atomic_fetch_add(&fc->action_code, 1);
	else
		atomic_fetch_add(&fc->other, 1);
}

Test(semantics, failing_action_breaks_the_barrier, .timeout = 120)
{
	const int rcs[] = {-42, 1};
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		for (unsigned j = 0; j < 2; j++) {
			unsigned n = test_thread_counts[k];
			struct fail_check fc = {.action_rc = rcs[j]};
			rally_barrier_attr_t attr = {.action = failing_action,
			                             .action_arg = &fc};
			cr_assert_eq(rally_barrier_init(&fc.b, n, &attr), 0);
			test_run_threads(n, fail_worker, &fc);
			if (rcs[j] < 0) {
				cr_expect_eq(fc.action_code, 1, "%u threads",
				             n);
				cr_expect_eq(fc.broken, n - 1, "%u threads", n);
			} else {
				/* Positive code: everyone gets RALLY_BROKEN. */
				cr_expect_eq(fc.action_code + fc.broken, n);
			}
			cr_expect_eq(fc.other, 0);
			cr_expect(rally_barrier_broken(&fc.b));
			cr_expect_eq(rally_barrier_wait(&fc.b), RALLY_BROKEN);
			cr_expect_eq(rally_barrier_reset(&fc.b), 0);
			cr_expect_not(rally_barrier_broken(&fc.b));
			cr_expect_eq(rally_barrier_destroy(&fc.b), 0);
		}
	}
}

/* ---- timeouts --------------------------------------------------------------
 */

struct timeout_check {
	rally_barrier_t b;
	_Atomic unsigned timedout, broken, other;
	_Atomic int64_t timedout_elapsed;
};

static void timeout_worker(unsigned i, void *arg)
{
	struct timeout_check *tc = arg;
	int64_t t0 = test_now_ns();
	/* Thread 0 has a short timeout, the others wait forever: the
	 * barrier has one party more than there are threads. */
	int rc = i == 0 ? rally_barrier_timedwait(&tc->b, 20000000)
	                : rally_barrier_timedwait(&tc->b, RALLY_FOREVER);
	if (rc == RALLY_TIMEDOUT) {
		atomic_fetch_add(&tc->timedout, 1);
		atomic_store(&tc->timedout_elapsed, test_now_ns() - t0);
	} else if (rc == RALLY_BROKEN) {
		atomic_fetch_add(&tc->broken, 1);
	} else {
		atomic_fetch_add(&tc->other, 1);
	}
}

Test(semantics, timeout_breaks_for_everyone, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct timeout_check tc = {0};
		cr_assert_eq(rally_barrier_init(&tc.b, n + 1, NULL), 0);
		test_run_threads(n, timeout_worker, &tc);
		cr_expect_eq(tc.timedout, 1, "%u threads", n);
		cr_expect_eq(tc.broken, n - 1, "%u threads", n);
		cr_expect_eq(tc.other, 0);
		cr_expect_geq(tc.timedout_elapsed, 20000000);
		cr_expect_lt(tc.timedout_elapsed, 2000000000);
		cr_expect(rally_barrier_broken(&tc.b));
		/* Broken: every wait returns at once. */
		int64_t t0 = test_now_ns();
		cr_expect_eq(rally_barrier_timedwait(&tc.b, RALLY_FOREVER),
		             RALLY_BROKEN);
		cr_expect_lt(test_now_ns() - t0, 100000000);
		cr_expect_eq(rally_barrier_reset(&tc.b), 0);
		cr_expect_eq(rally_barrier_destroy(&tc.b), 0);
	}
}

Test(semantics, default_timeout_and_forever_override, .timeout = 30)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.timeout_ns = 10000000};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_wait(&b), RALLY_TIMEDOUT);
	int64_t dt = test_now_ns() - t0;
	cr_expect_geq(dt, 10000000);
	cr_expect_lt(dt, 1000000000);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

struct late_partner {
	rally_barrier_t b;
	int delay_ms;
	_Atomic int rc;
};

static void late_worker(unsigned i, void *arg)
{
	struct late_partner *lp = arg;
	if (i == 1) {
		test_sleep_ms(lp->delay_ms);
		rally_barrier_wait(&lp->b);
	} else {
		/* Forever overrides the 5 ms default. */
		atomic_store(&lp->rc,
		             rally_barrier_timedwait(&lp->b, RALLY_FOREVER));
	}
}

Test(semantics, forever_ignores_the_default_timeout, .timeout = 30)
{
	struct late_partner lp = {.delay_ms = 50};
	rally_barrier_attr_t attr = {.timeout_ns = 5000000};
	cr_assert_eq(rally_barrier_init(&lp.b, 2, &attr), 0);
	test_run_threads(2, late_worker, &lp);
	cr_expect_eq(lp.rc, 0);
	cr_expect_not(rally_barrier_broken(&lp.b));
	cr_expect_eq(rally_barrier_destroy(&lp.b), 0);
}

Test(semantics, zero_timeout_does_not_block, .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_TIMEDOUT);
	cr_expect_lt(test_now_ns() - t0, 50000000);
	cr_expect(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
	/* The caller that completes the phase does not time out. */
	cr_assert_eq(rally_barrier_init(&b, 1, NULL), 0);
	cr_expect_eq(rally_barrier_timedwait(&b, 0), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* ---- abort, reset ----------------------------------------------------------
 */

struct break_check {
	rally_barrier_t b;
	bool use_reset;
	_Atomic unsigned broken, other, waiting;
};

static void break_worker(unsigned i, void *arg)
{
	struct break_check *bc = arg;
	int rc = rally_barrier_wait(&bc->b);
	if (rc == RALLY_BROKEN)
		atomic_fetch_add(&bc->broken, 1);
	else
		atomic_fetch_add(&bc->other, 1);
}

static void *breaker(void *arg)
{
	struct break_check *bc = arg;
	unsigned want = bc->waiting;
	while (rally_barrier_n_waiting(&bc->b) < want)
		test_sleep_ms(1);
	if (bc->use_reset)
		rally_barrier_reset(&bc->b);
	else
		rally_barrier_abort(&bc->b);
	return NULL;
}

static void run_break(unsigned n, bool use_reset)
{
	struct break_check bc = {.use_reset = use_reset, .waiting = n};
	cr_assert_eq(rally_barrier_init(&bc.b, n + 1, NULL), 0);
	pthread_t t;
	pthread_create(&t, NULL, breaker, &bc);
	test_run_threads(n, break_worker, &bc);
	pthread_join(t, NULL);
	cr_expect_eq(bc.broken, n, "%u threads, reset %d", n, use_reset);
	cr_expect_eq(bc.other, 0);
	if (use_reset) {
		/* Empty and whole again (barrier_works_after_reset shows a
		 * full phase completing after a reset). */
		cr_expect_not(rally_barrier_broken(&bc.b));
		cr_expect_eq(rally_barrier_n_waiting(&bc.b), 0);
	} else {
		cr_expect(rally_barrier_broken(&bc.b));
		cr_expect_eq(rally_barrier_n_waiting(&bc.b), 0);
		cr_expect_eq(rally_barrier_wait(&bc.b), RALLY_BROKEN);
		cr_expect_eq(rally_barrier_abort(&bc.b), 0);
		cr_expect_eq(rally_barrier_reset(&bc.b), 0);
		cr_expect_not(rally_barrier_broken(&bc.b));
	}
	cr_expect_eq(rally_barrier_destroy(&bc.b), 0);
}

Test(semantics, abort_breaks_waiters_until_reset, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++)
		run_break(test_thread_counts[k], false);
}

Test(semantics, reset_breaks_waiters_and_starts_fresh, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++)
		run_break(test_thread_counts[k], true);
}

static void fresh_worker(unsigned i, void *arg)
{
	struct phase_check *pc = arg;
	int idx = rally_barrier_wait(&pc->b);
	cr_assert(idx >= 0);
	atomic_fetch_add(&pc->seen[0][idx], 1);
}

Test(semantics, barrier_works_after_reset, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct phase_check *pc = calloc(1, sizeof *pc);
		cr_assert_eq(rally_barrier_init(&pc->b, n, NULL), 0);
		if (n > 1)
			cr_expect_eq(rally_barrier_timedwait(&pc->b, 0),
			             RALLY_TIMEDOUT);
		cr_expect_eq(rally_barrier_reset(&pc->b), 0);
		test_run_threads(n, fresh_worker, pc);
		for (unsigned i = 0; i < n; i++)
			cr_expect_eq(pc->seen[0][i], 1, "%u threads, index %u",
			             n, i);
		cr_expect_eq(rally_barrier_destroy(&pc->b), 0);
		free(pc);
	}
}

Test(semantics, reset_of_empty_barrier_is_a_no_op, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 1, NULL), 0);
	for (int i = 0; i < 100; i++) {
		cr_expect_eq(rally_barrier_reset(&b), 0);
		cr_expect_eq(rally_barrier_wait(&b), 0);
	}
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* ---- where an abort took effect (rally.aio) ----------------------------- */

static rally_barrier_t where_b;
static rally_token_t where_after; /* arrives in the epoch after the abort */
static bool where_armed;

/* Another party, while the aborting thread is held after its CAS (it
 * wakes the broken phase's sleepers: RELEASED): reset, an arrival and its
 * phase's completion, an arrival in the next phase, reset again. */
static void two_resets_after_the_abort(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	if (!where_armed)
		return;
	where_armed = false; /* (the resets below reach RELEASED too) */
	rally_token_t last, next;
	cr_expect_eq(rally_barrier_reset(&where_b), 0);
	cr_expect_eq(rally_barrier_arrive(&where_b, &where_after), 0);
	cr_expect_eq(rally_barrier_arrive(&where_b, &last), 1);
	cr_expect_eq(rally_barrier_test(&where_b, where_after), 1);
	cr_expect_eq(rally_barrier_arrive(&where_b, &next), 0);
	cr_expect_eq(rally_barrier_reset(&where_b), 0);
}

/* Review round 36: the epoch an abort took effect in is read under the
 * state it replaced — read after, two resets made an arrival of the epoch
 * between them (released after the abort) seem to have come before it. */
Test(semantics, abort_at_names_the_epoch_it_broke, .timeout = 10)
{
	cr_assert_eq(rally_barrier_init(&where_b, 2, NULL), 0);
	rally_token_t before, last;
	cr_expect_eq(rally_barrier_arrive(&where_b, &before), 0);
	cr_expect_eq(rally_barrier_arrive(&where_b, &last), 1);
	rally_token_t pending;
	cr_expect_eq(rally_barrier_arrive(&where_b, &pending), 0);
	uint32_t epoch, at_last;
	where_armed = true;
	rally__point_on(RALLY__POINT_RELEASED, two_resets_after_the_abort,
	                NULL);
	cr_expect_eq(rally__barrier_abort_at(&where_b, &epoch, &at_last), 0);
	rally__point_on(RALLY__POINT_RELEASED, NULL, NULL);
	cr_expect(!where_armed);
	cr_expect_eq(rally__token_arrived_by(before, epoch, at_last), 1);
	cr_expect_eq(rally__token_arrived_by(where_after, epoch, at_last), 0);
	cr_expect_eq(rally_barrier_destroy(&where_b), 0);
}

/* Review round 36: a wait released more than 2^27 phases before an abort
 * came before it (phases compare within 2^27, as the core's judge takes
 * them: it read as after). */
Test(semantics, arrived_by_far_before, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t, last;
	cr_expect_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &last), 1);
	cr_assert_eq(rally__barrier_skip_phases(&b, (1u << 27) + 5), 0);
	cr_expect_eq(rally_barrier_test(&b, t), 1);
	uint32_t epoch, at_last;
	cr_expect_eq(rally__barrier_abort_at(&b, &epoch, &at_last), 0);
	cr_expect_eq(rally__token_arrived_by(t, epoch, at_last), 1);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* Review round 38: an arrival in the phase after the cut, of the epoch a
 * reset ends — made while the cut's last arrival sat between its advance
 * of arr and its publish, before the reset claimed — came before the
 * reset (which cancelled it); arrived_by said it did not. */
static rally_barrier_t next_phase_b;
static uint32_t next_phase_epoch, next_phase_last;
static int next_phase_last_rc = 99, next_phase_reset_rc = 99;

static void *next_phase_completer(void *arg)
{
	(void)arg;
	rally__point_tag(1); /* the cut's last arrival: held at ADVANCED */
	next_phase_last_rc = rally_barrier_wait(&next_phase_b);
	return NULL;
}

static void *next_phase_resetter(void *arg)
{
	(void)arg;
	rally__point_tag(2); /* held once it claimed and recorded */
	next_phase_reset_rc = rally__barrier_reset_at(
	    &next_phase_b, &next_phase_epoch, &next_phase_last);
	return NULL;
}

Test(semantics, reset_at_counts_the_next_phase_of_its_epoch, .timeout = 10)
{
	cr_assert_eq(rally_barrier_init(&next_phase_b, 2, NULL), 0);
	rally_token_t cut, next;
	cr_expect_eq(rally_barrier_arrive(&next_phase_b, &cut), 0);
	rally__pause_arm(RALLY__POINT_ADVANCED, 1, 0);
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, 2, 0);
	pthread_t completer, resetter;
	cr_assert_eq(pthread_create(&completer, NULL, next_phase_completer,
	                            NULL), 0);
	cr_assert(rally__pause_wait(RALLY__POINT_ADVANCED, 1, 5000000000));
	cr_expect_eq(rally_barrier_arrive(&next_phase_b, &next), 0);
	cr_assert_eq(pthread_create(&resetter, NULL, next_phase_resetter,
	                            NULL), 0);
	cr_assert(rally__pause_wait(RALLY__POINT_RESET_RECORDED, 1,
	                            5000000000));
	rally__pause_release(RALLY__POINT_ADVANCED);
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	pthread_join(resetter, NULL);
	cr_expect_eq(next_phase_reset_rc, 0);
	/* The completer's phase broke: it arrives again, in the new epoch. */
	cr_expect_geq(rally_barrier_wait(&next_phase_b), 0);
	pthread_join(completer, NULL);
	cr_expect_geq(next_phase_last_rc, 0);
	cr_expect_eq(rally_barrier_await(&next_phase_b, next, 0),
	             RALLY_BROKEN);
	cr_expect_eq(rally__token_arrived_by(cut, next_phase_epoch,
	                                     next_phase_last), 1);
	cr_expect_eq(rally__token_arrived_by(next, next_phase_epoch,
	                                     next_phase_last), 1);
	rally_token_t fresh;
	cr_expect_eq(rally_barrier_arrive(&next_phase_b, &fresh), 0);
	cr_expect_eq(rally__token_arrived_by(fresh, next_phase_epoch,
	                                     next_phase_last), 0);
	/* However far the next epoch runs (review round 39: 2^20 phases on,
	 * an arrival of it seemed long before). */
	cr_expect_eq(rally__barrier_withdraw(&next_phase_b, fresh), 0);
	cr_assert_eq(rally__barrier_skip_phases(&next_phase_b, (1u << 20) + 5),
	             0);
	cr_expect_eq(rally_barrier_arrive(&next_phase_b, &fresh), 0);
	cr_expect_eq(rally__token_arrived_by(fresh, next_phase_epoch,
	                                     next_phase_last), 0);
	cr_expect_eq(rally_barrier_reset(&next_phase_b), 0);
	cr_expect_eq(rally_barrier_destroy(&next_phase_b), 0);
}

/* ---- the action and the barrier's own calls ---------------------------- */

static int deferred_answers[2];

static int abort_twice(void *arg)
{
	deferred_answers[0] = rally__barrier_abort_deferred(arg);
	deferred_answers[1] = rally__barrier_abort_deferred(arg);
	return 0;
}

/* An abort while the action runs is left for the next phase, and says so
 * (rally.aio's abort tells by it which coroutines raise) — the second too,
 * which finds the break already left there (review round 28: it said "at
 * once"). Made when nothing runs, it takes effect at once. */
Test(semantics, abort_says_whether_it_was_deferred, .timeout = 10)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = abort_twice, .action_arg = &b};
	cr_assert_eq(rally_barrier_init(&b, 1, &attr), 0);
	cr_expect_eq(rally_barrier_wait(&b), 0);
	cr_expect_eq(deferred_answers[0], 1);
	cr_expect_eq(deferred_answers[1], 1);
	cr_expect(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally__barrier_abort_deferred(&b), 0);
	cr_expect(rally_barrier_broken(&b));
	cr_expect_eq(rally__barrier_abort_deferred(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

struct self_calls {
	rally_barrier_t b;
	int reset_rc, destroy_rc, abort_rc;
	bool do_abort;
};

static int self_calling_action(void *arg)
{
	struct self_calls *sc = arg;
	sc->reset_rc = rally_barrier_reset(&sc->b);
	sc->destroy_rc = rally_barrier_destroy(&sc->b);
	if (sc->do_abort)
		sc->abort_rc = rally_barrier_abort(&sc->b);
	return 0;
}

static void self_worker(unsigned i, void *arg)
{
	struct self_calls *sc = arg;
	/* The phase of the action completes even though it aborted. */
	cr_expect_geq(rally_barrier_wait(&sc->b), 0);
}

Test(semantics, action_calling_its_own_barrier, .timeout = 60)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct self_calls sc = {.do_abort = true};
		rally_barrier_attr_t attr = {.action = self_calling_action,
		                             .action_arg = &sc};
		cr_assert_eq(rally_barrier_init(&sc.b, n, &attr), 0);
		test_run_threads(n, self_worker, &sc);
		cr_expect_eq(sc.reset_rc, -EDEADLK);
		cr_expect_eq(sc.destroy_rc, -EBUSY);
		cr_expect_eq(sc.abort_rc, 0);
		/* The abort broke the next phase. */
		cr_expect(rally_barrier_broken(&sc.b));
		cr_expect_eq(rally_barrier_wait(&sc.b), RALLY_BROKEN);
		cr_expect_eq(rally_barrier_reset(&sc.b), 0);
		cr_expect_eq(rally_barrier_destroy(&sc.b), 0);
	}
}

/* Review round 38: an action that waits on another barrier, whose action
 * calls back into the first: still inside the first's action, so reset
 * and destroy of it are refused, not a wait for ever on the BUSY this
 * thread holds (only the innermost action was known). */
static rally_barrier_t outer_b, inner_b;
static int nested_reset_rc = 99, nested_destroy_rc = 99,
           inner_reset_rc = 99;

static int inner_action(void *arg)
{
	(void)arg;
	nested_reset_rc = rally_barrier_reset(&outer_b);
	nested_destroy_rc = rally_barrier_destroy(&outer_b);
	inner_reset_rc = rally_barrier_reset(&inner_b);
	return 0;
}

static int outer_action(void *arg)
{
	(void)arg;
	return rally_barrier_wait(&inner_b) == 0 ? 0 : -EIO;
}

Test(semantics, action_nested_in_an_action_calling_the_outer, .timeout = 10)
{
	rally_barrier_attr_t outer = {.action = outer_action},
	                     inner = {.action = inner_action};
	cr_assert_eq(rally_barrier_init(&outer_b, 1, &outer), 0);
	cr_assert_eq(rally_barrier_init(&inner_b, 1, &inner), 0);
	cr_expect_eq(rally_barrier_wait(&outer_b), 0);
	cr_expect_eq(nested_reset_rc, -EDEADLK);
	cr_expect_eq(nested_destroy_rc, -EBUSY);
	cr_expect_eq(inner_reset_rc, -EDEADLK);
	/* Out of both actions, the calls work. */
	cr_expect_eq(rally_barrier_reset(&outer_b), 0);
	cr_expect_eq(rally_barrier_destroy(&inner_b), 0);
	cr_expect_eq(rally_barrier_destroy(&outer_b), 0);
}

/* Review round 40: the action waits on its own barrier with nothing to end
 * the wait — it would wait for itself for ever: -EDEADLK at once, its
 * phase (the next) broken as a timeout breaks it. An await of the action's
 * own phase, which a timeout cannot break, -EDEADLK whatever its timeout
 * (it waited past it), nothing broken. */
enum self_call { SELF_ARRIVE, SELF_WAIT, SELF_AWAIT_OWN_PHASE };
struct self_wait {
	rally_barrier_t b;
	enum self_call call;
	rally_token_t own; /* SELF_AWAIT_OWN_PHASE: a token of the phase */
	int rc, rc0, runs; /* rc0: the same await with timeout 0 */
};

static int waits_on_itself(void *arg)
{
	struct self_wait *sw = arg;
	rally_token_t t;
	if (sw->runs++) /* the first phase only */
		return 0;
	switch (sw->call) {
	case SELF_ARRIVE:
		sw->rc = rally_barrier_arrive(&sw->b, &t);
		break;
	case SELF_WAIT:
		sw->rc = rally_barrier_wait(&sw->b);
		break;
	case SELF_AWAIT_OWN_PHASE:
		sw->rc = rally_barrier_await(&sw->b, sw->own, 100000000);
		sw->rc0 = rally_barrier_await(&sw->b, sw->own, 0);
		break;
	}
	return 0;
}

static void self_wait_worker(unsigned i, void *arg)
{
	struct self_wait *sw = arg;
	cr_expect_geq(rally_barrier_wait(&sw->b), 0);
}

Test(semantics, action_waiting_on_its_own_barrier, .timeout = 30)
{
	for (unsigned parties = 1; parties <= 2; parties++)
		for (int c = SELF_ARRIVE; c <= SELF_WAIT; c++) {
			struct self_wait sw = {.call = c};
			rally_barrier_attr_t attr = {.action = waits_on_itself,
			                             .action_arg = &sw,
			                             .flags = RALLY_STATS};
			cr_assert_eq(rally_barrier_init(&sw.b, parties, &attr),
			             0);
			test_run_threads(parties, self_wait_worker, &sw);
			if (parties == 2 && c == SELF_ARRIVE) {
				/* not the last of its phase: arrive returns */
				cr_expect_eq(sw.rc, 0);
				cr_expect_eq(rally_barrier_wait(&sw.b), 1);
			} else {
				cr_expect_eq(sw.rc, -EDEADLK, "parties %u call %d",
				             parties, c);
				cr_expect_eq(rally_barrier_timedwait(&sw.b, 0),
				             RALLY_BROKEN);
				/* no timeout (review round 41: counted) */
				rally_stats_t st;
				cr_expect_eq(rally_barrier_stats(&sw.b, &st), 0);
				cr_expect_eq(st.timeouts, 0);
			}
			cr_expect_eq(rally_barrier_reset(&sw.b), 0);
			cr_expect_eq(rally_barrier_destroy(&sw.b), 0);
		}
	struct self_wait sw = {.call = SELF_AWAIT_OWN_PHASE};
	rally_barrier_attr_t attr = {.action = waits_on_itself,
	                             .action_arg = &sw};
	cr_assert_eq(rally_barrier_init(&sw.b, 2, &attr), 0);
	cr_expect_eq(rally_barrier_arrive(&sw.b, &sw.own), 0);
	cr_expect_eq(rally_barrier_wait(&sw.b), 1); /* runs the action */
	cr_expect_eq(sw.rc, -EDEADLK);
	/* not -EAGAIN: asked again from the action, it never ends (review
	 * round 41) */
	cr_expect_eq(sw.rc0, -EDEADLK);
	cr_expect_eq(rally_barrier_await(&sw.b, sw.own, 0), 0); /* completed */
	cr_expect(!rally_barrier_broken(&sw.b));
	cr_expect_eq(rally_barrier_destroy(&sw.b), 0);
}

/* Review round 41: more than AHEAD_MAX (1023) fully arrived phases queued
 * behind the action, each of their last arrivals waiting for the phases
 * before it: the action's own wait can neither break its phase (too far
 * ahead) nor wait for them (they wait for the action). It breaks every
 * phase after the action's, as an abort from the action does: -EDEADLK
 * (or RALLY_TIMEDOUT at its timeout), the queued callers RALLY_BROKEN.
 * It waited for ever. */
enum { FAR_QUEUED = 1030 };
static rally_barrier_t far_b;
static _Atomic unsigned far_arrived, far_broken;
static int64_t far_timeout;
static int far_rc = 99;

static void *far_caller(void *arg)
{
	(void)arg;
	if (rally_barrier_wait(&far_b) == RALLY_BROKEN)
		atomic_fetch_add(&far_broken, 1);
	return NULL;
}

/* ARRIVED: a caller's arrival is counted in arr. */
static void far_counted(enum rally__point p, void *arg)
{
	(void)p, (void)arg;
	atomic_fetch_add(&far_arrived, 1);
}

static int waits_behind_far_phases(void *arg)
{
	pthread_t *threads = arg;
	if (atomic_load(&far_arrived)) /* the first phase only */
		return 0;
	rally__point_on(RALLY__POINT_ARRIVED, far_counted, NULL);
	pthread_attr_t small;
	pthread_attr_init(&small);
	pthread_attr_setstacksize(&small, 64 * 1024);
	for (int i = 0; i < FAR_QUEUED; i++)
		cr_assert_eq(
		    pthread_create(&threads[i], &small, far_caller, NULL), 0);
	pthread_attr_destroy(&small);
	while (atomic_load(&far_arrived) < FAR_QUEUED)
		test_sleep_ms(1);
	rally__point_on(RALLY__POINT_ARRIVED, NULL, NULL);
	far_rc = rally_barrier_timedwait(&far_b, far_timeout);
	return 0;
}

Test(semantics, action_waiting_behind_too_many_phases, .timeout = 60)
{
	static pthread_t threads[FAR_QUEUED];
	const int64_t timeouts[] = {RALLY_FOREVER, 50000000};
	for (int k = 0; k < 2; k++) {
		far_timeout = timeouts[k];
		atomic_store(&far_arrived, 0);
		atomic_store(&far_broken, 0);
		rally_barrier_attr_t attr = {.action = waits_behind_far_phases,
		                             .action_arg = threads};
		cr_assert_eq(rally_barrier_init(&far_b, 1, &attr), 0);
		cr_expect_eq(rally_barrier_wait(&far_b), 0);
		cr_expect_eq(far_rc, k == 0 ? -EDEADLK : RALLY_TIMEDOUT);
		for (int i = 0; i < FAR_QUEUED; i++)
			pthread_join(threads[i], NULL);
		cr_expect_eq(atomic_load(&far_broken), FAR_QUEUED);
		cr_expect_eq(rally_barrier_reset(&far_b), 0);
		cr_expect_eq(rally_barrier_wait(&far_b), 0);
		cr_expect_eq(rally_barrier_destroy(&far_b), 0);
	}
}

/* Review round 43: a child fork()ed from the action runs no action of the
 * barrier (the parent's completes without it): its reset and wait work —
 * they were refused (-EDEADLK) by the chain of running actions it
 * inherited. */
static rally_barrier_t *forked_b;
static _Atomic int *forked_reset_done; /* shared with the child */
static pid_t forked_child = -1;
static bool forked_raw; /* by _Fork(): no fork handlers run (review round
                           45: the cached pid was the parent's) */

static int forks_once(void *arg)
{
	(void)arg;
	if (forked_child != -1)
		return 0;
	forked_child = forked_raw ? _Fork() : fork();
	if (forked_child == 0) {
		/* waits for the parent's action to end, then resets */
		int reset = rally_barrier_reset(forked_b);
		atomic_store(forked_reset_done, 1);
		int wait = rally_barrier_wait(forked_b); /* with the parent */
		_exit(reset == 0 && wait >= 0 ? 0 : 1);
	}
	return 0;
}

static void forked_worker(unsigned i, void *arg)
{
	(void)arg;
	cr_expect_geq(rally_barrier_wait(forked_b), 0);
}

static void child_forked_from_the_action(bool raw)
{
	forked_raw = raw;
	forked_child = -1;
	forked_b = mmap(NULL, 2 * sizeof *forked_b, PROT_READ | PROT_WRITE,
	                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(forked_b, MAP_FAILED);
	forked_reset_done = (_Atomic int *)&forked_b[1];
	rally_barrier_attr_t attr = {.action = forks_once,
	                             .flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(forked_b, 2, &attr), 0);
	test_run_threads(2, forked_worker, NULL);
	cr_assert_gt(forked_child, 0);
	/* after the child's reset, which would break our wait */
	for (int i = 0; i < 10000 && !atomic_load(forked_reset_done); i++)
		test_sleep_ms(1);
	cr_expect_geq(rally_barrier_timedwait(forked_b, 10000000000), 0);
	int st;
	cr_assert_eq(waitpid(forked_child, &st, 0), forked_child);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d",
	          st);
	cr_expect_eq(rally_barrier_destroy(forked_b), 0);
	munmap(forked_b, 2 * sizeof *forked_b);
}

Test(semantics, child_forked_from_the_action, .timeout = 30)
{
	child_forked_from_the_action(false);
	child_forked_from_the_action(true);
}

/* Review round 46: a child of _Fork() (no fork handlers) after its parent
 * knew its pid: its own action's reset is refused as anyone's (the frame
 * carried the parent's pid: it waited for ever on its own BUSY). */
static int resets_itself(void *arg)
{
	return rally_barrier_reset(arg) == -EDEADLK ? 0 : -EIO;
}

Test(semantics, action_of_a_child_of_fork_without_handlers, .timeout = 30)
{
	/* the parent knows its pid: an action ran here */
	rally_barrier_t warm;
	rally_barrier_attr_t attr = {.action = resets_itself,
	                             .action_arg = &warm};
	cr_assert_eq(rally_barrier_init(&warm, 1, &attr), 0);
	cr_expect_eq(rally_barrier_wait(&warm), 0);
	pid_t child = _Fork();
	if (child == 0) {
		alarm(10); /* a hang fails the test */
		rally_barrier_t own;
		attr.action_arg = &own;
		if (rally_barrier_init(&own, 1, &attr) != 0)
			_exit(2);
		_exit(rally_barrier_wait(&own) == 0 ? 0 : 1);
	}
	cr_assert_gt(child, 0);
	int st;
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d",
	          st);
	cr_expect_eq(rally_barrier_destroy(&warm), 0);
}

/* The same from an action nested in the barrier's: B's action, run inside
 * A's (A's action waits on B), awaits a token of A's running phase. */
static rally_token_t nested_own;
static int nested_await_rc = 99;

static int awaits_outer(void *arg)
{
	(void)arg;
	nested_await_rc = rally_barrier_await(&outer_b, nested_own, 100000000);
	return 0;
}

Test(semantics, action_nested_awaiting_the_outer_phase, .timeout = 10)
{
	rally_barrier_attr_t outer = {.action = outer_action},
	                     inner = {.action = awaits_outer};
	cr_assert_eq(rally_barrier_init(&outer_b, 2, &outer), 0);
	cr_assert_eq(rally_barrier_init(&inner_b, 1, &inner), 0);
	cr_expect_eq(rally_barrier_arrive(&outer_b, &nested_own), 0);
	cr_expect_eq(rally_barrier_wait(&outer_b), 1);
	cr_expect_eq(nested_await_rc, -EDEADLK);
	cr_expect_eq(rally_barrier_await(&outer_b, nested_own, 0), 0);
	cr_expect_eq(rally_barrier_destroy(&inner_b), 0);
	cr_expect_eq(rally_barrier_destroy(&outer_b), 0);
}

/* ---- more callers than parties ------------------------------------------- */

struct many_check {
	rally_barrier_t b;
	unsigned parties;
	unsigned long total; /* calls to make, a multiple of parties */
	_Atomic unsigned long tickets;
	_Atomic unsigned long seen[64];
	_Atomic unsigned long actions;
};

static int many_action(void *arg)
{
	atomic_fetch_add(&((struct many_check *)arg)->actions, 1);
	return 0;
}

/* Threads share a pool of calls: a thread that ran out of its own would
 * leave fewer than `parties` callers for the calls still to make. */
static void many_worker(unsigned i, void *arg)
{
	struct many_check *mc = arg;
	while (atomic_fetch_add(&mc->tickets, 1) < mc->total) {
		int idx = rally_barrier_wait(&mc->b);
		cr_assert(idx >= 0 && (unsigned)idx < mc->parties, "got %d",
		          idx);
		atomic_fetch_add(&mc->seen[idx], 1);
	}
}

Test(semantics, more_callers_than_parties, .timeout = 120)
{
	for (unsigned k = 1; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		/* n threads, parties dividing n * ROUNDS, fewer than n */
		unsigned parties = n == 2 ? 1 : n / 2;
		struct many_check mc = {.parties = parties,
		                        .total = (unsigned long)n * ROUNDS};
		rally_barrier_attr_t attr = {.action = many_action,
		                             .action_arg = &mc};
		cr_assert_eq(rally_barrier_init(&mc.b, parties, &attr), 0);
		test_run_threads(n, many_worker, &mc);
		unsigned long phases = (unsigned long)n * ROUNDS / parties;
		for (unsigned i = 0; i < parties; i++)
			cr_expect_eq(mc.seen[i], phases, "%u threads, index %u",
			             n, i);
		cr_expect_eq(mc.actions, phases);
		cr_expect_eq(rally_barrier_n_waiting(&mc.b), 0);
		cr_expect_eq(rally_barrier_destroy(&mc.b), 0);
	}
}

/* ---- n_waiting, destroy ----------------------------------------------------
 */

struct destroy_busy {
	rally_barrier_t b;
	unsigned n;
	int busy_rc;
	unsigned seen_waiting;
	int rc[64];  /* each waiter's wait */
	int last_rc; /* the wait that completed the phase, after destroy */
};

static void destroy_busy_waiter(unsigned i, void *arg)
{
	struct destroy_busy *db = arg;
	db->rc[i] = rally_barrier_wait(&db->b);
}

static void *destroy_while_waiting(void *arg)
{
	struct destroy_busy *db = arg;
	while (rally_barrier_n_waiting(&db->b) < db->n)
		test_sleep_ms(1);
	db->seen_waiting = rally_barrier_n_waiting(&db->b);
	db->busy_rc = rally_barrier_destroy(&db->b);
	/* Still usable: complete the phase. */
	db->last_rc = rally_barrier_wait(&db->b);
	return NULL;
}

Test(semantics, destroy_with_waiters_is_ebusy, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct destroy_busy db = {.n = n};
		cr_assert_eq(rally_barrier_init(&db.b, n + 1, NULL), 0);
		pthread_t t;
		pthread_create(&t, NULL, destroy_while_waiting, &db);
		test_run_threads(n, destroy_busy_waiter, &db);
		pthread_join(t, NULL);
		cr_expect_eq(db.busy_rc, -EBUSY, "%u threads", n);
		cr_expect_eq(db.seen_waiting, n);
		/* The refused destroy changed nothing for the waiters: the
		 * phase completed normally, every index handed out once, the
		 * last (n) to the caller that arrived after the destroy. */
		cr_expect_eq(db.last_rc, (int)n,
		             "%u threads: the wait after destroy returned %d",
		             n, db.last_rc);
		unsigned seen[65] = {0};
		for (unsigned i = 0; i < n; i++) {
			cr_expect(db.rc[i] >= 0 && db.rc[i] < (int)n,
			          "%u threads: waiter %u returned %d", n, i,
			          db.rc[i]);
			if (db.rc[i] >= 0 && db.rc[i] < (int)n)
				seen[db.rc[i]]++;
		}
		for (unsigned i = 0; i < n; i++)
			cr_expect_eq(seen[i], 1,
			             "%u threads: index %u %u times", n, i,
			             seen[i]);
		cr_expect_not(rally_barrier_broken(&db.b), "%u threads", n);
		cr_expect_eq(rally_barrier_phase(&db.b), 1, "%u threads", n);
		cr_expect_eq(rally_barrier_n_waiting(&db.b), 0);
		cr_expect_eq(rally_barrier_destroy(&db.b), 0);
	}
}

static void destroy_and_free_worker(unsigned i, void *arg)
{
	rally_barrier_t **slot = arg;
	rally_barrier_t *b = *slot;
	int idx = rally_barrier_wait(b);
	if (idx == 0) {
		/* The others may still be on their way out. */
		cr_assert_eq(rally_barrier_destroy(b), 0);
		memset(b, 0xdd, sizeof *b);
		free(b);
	}
}

Test(semantics, destroy_and_free_right_after_wait, .timeout = 300)
{
	for (unsigned k = 1; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		unsigned iters = n >= 16 ? 100 : 2000;
		for (unsigned it = 0; it < iters; it++) {
			rally_barrier_t *b = malloc(sizeof *b);
			cr_assert_eq(rally_barrier_init(b, n, NULL), 0);
			test_run_threads(n, destroy_and_free_worker, &b);
		}
	}
}

/* ---- spin policies ----------------------------------------------------------
 */

static void spin_worker(unsigned i, void *arg)
{
	struct phase_check *pc = arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		int idx = rally_barrier_wait(&pc->b);
		cr_assert(idx >= 0);
		atomic_fetch_add(&pc->seen[r][idx], 1);
	}
}

static void run_spin_policy(int spin)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct phase_check *pc = calloc(1, sizeof *pc);
		rally_barrier_attr_t attr = {.spin = spin};
		cr_assert_eq(rally_barrier_init(&pc->b, n, &attr), 0);
		test_run_threads(n, spin_worker, pc);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				cr_assert_eq(pc->seen[r][i], 1);
		cr_expect_eq(rally_barrier_destroy(&pc->b), 0);
		free(pc);
	}
}

/* The policy itself, watched at the delay points of the waiting loop
 * (lib/points.h): SPUN (its polling ended without a change — reached at
 * once by a waiter that does not poll), YIELDING and SLEEPING. One waiter
 * is traced, alone on a fresh barrier: the other parties arrive with
 * rally_barrier_arrive(), which never waits, `late_ms` after it. */
struct spin_trace {
	int64_t start;   /* just before the wait */
	int64_t spun_ns; /* from start to the first SPUN; -1: none */
	unsigned spun, yields, sleeps;
	bool yielded_first; /* a yield came before the first sleep */
	int rc;
	uint64_t futex_calls; /* by the whole process during the phase */
};

static _Thread_local struct spin_trace *traced;

static void trace_point(enum rally__point p, void *arg)
{
	(void)arg;
	struct spin_trace *t = traced;
	if (!t)
		return;
	if (p == RALLY__POINT_SPUN && t->spun++ == 0)
		t->spun_ns = test_now_ns() - t->start;
	if (p == RALLY__POINT_YIELDING && t->yields++ == 0 && t->sleeps == 0)
		t->yielded_first = true;
	if (p == RALLY__POINT_SLEEPING)
		t->sleeps++;
}

struct traced_wait {
	rally_barrier_t *b;
	struct spin_trace tr;
};

static void *traced_waiter(void *arg)
{
	struct traced_wait *tw = arg;
	traced = &tw->tr;
	tw->tr.start = test_now_ns();
	tw->tr.rc = rally_barrier_wait(tw->b);
	traced = NULL;
	return NULL;
}

static void need_delay_points(void)
{
#ifndef RALLY_DELAY_POINTS
	cr_skip_test("the spin policy is seen at delay points: build with "
	             "-Ddelay_points=true");
#endif
}

/* CPUs this process may run on, as the library counts them. */
static unsigned test_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 1)
		return 1;
	return (unsigned)CPU_COUNT(&set);
}

static struct spin_trace trace_wait(int spin, unsigned parties, int late_ms)
{
	rally__point_on(RALLY__POINT_SPUN, trace_point, NULL);
	rally__point_on(RALLY__POINT_YIELDING, trace_point, NULL);
	rally__point_on(RALLY__POINT_SLEEPING, trace_point, NULL);
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = spin};
	cr_assert_eq(rally_barrier_init(&b, parties, &attr), 0);
	struct traced_wait tw = {.b = &b, .tr = {.spun_ns = -1}};
	uint64_t f0 = rally__futex_calls();
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, traced_waiter, &tw), 0);
	while (rally_barrier_n_waiting(&b) < 1)
		sched_yield();
	test_sleep_ms(late_ms);
	rally_token_t tok[64];
	cr_assert_leq(parties, 64);
	for (unsigned i = 1; i < parties; i++)
		cr_assert_eq(rally_barrier_arrive(&b, &tok[i]), (int)i);
	pthread_join(th, NULL);
	for (unsigned i = 1; i < parties; i++)
		cr_assert_eq(rally_barrier_await(&b, tok[i], 0), 0);
	tw.tr.futex_calls = rally__futex_calls() - f0;
	cr_assert_eq(tw.tr.rc, 0, "spin %d, %u parties: the wait returned %d",
	             spin, parties, tw.tr.rc);
	cr_assert_eq(rally_barrier_destroy(&b), 0);
	return tw.tr;
}

enum {
	LATE_MS = 20,
	/* RALLY_SPIN_AUTO polls for at least its patience (lib/spin.c)
	 * before it gives up: */
	AUTO_PATIENCE_NS = 20000,
	/* a waiter that reaches SPUN sooner than this did not poll: */
	NO_POLL_NS = AUTO_PATIENCE_NS / 2,
	TRIES = 5,
};

/* Neither polls nor yields: sleeps at once. The time to SPUN is the best of
 * a few waits: a busy machine may preempt any one of them. */
static void expect_sleeps_at_once(int spin, unsigned parties)
{
	int64_t best = INT64_MAX;
	for (int i = 0; i < TRIES; i++) {
		struct spin_trace t = trace_wait(spin, parties, LATE_MS);
		cr_expect_geq(t.spun, 1,
		              "spin %d, %u parties: never reached SPUN", spin,
		              parties);
		cr_expect_eq(t.yields, 0,
		             "spin %d, %u parties: yielded %u times", spin,
		             parties, t.yields);
		cr_expect_geq(t.sleeps, 1, "spin %d, %u parties: never slept",
		              spin, parties);
		cr_expect_geq(t.futex_calls, 2,
		              "spin %d, %u parties: %llu futex calls", spin,
		              parties, (unsigned long long)t.futex_calls);
		if (t.spun_ns >= 0 && t.spun_ns < best)
			best = t.spun_ns;
	}
	if (best != INT64_MAX) /* else "never reached SPUN" said it */
		cr_expect_lt(
		    best, NO_POLL_NS,
		    "spin %d, %u parties: polled %lld ns before sleeping "
		    "(the quickest of %d waits)",
		    spin, parties, (long long)best, TRIES);
}

/* Polls through a late party's whole delay: no sleep, no futex call. */
static void expect_polls_throughout(int spin, unsigned parties)
{
	struct spin_trace t = trace_wait(spin, parties, LATE_MS);
	cr_expect_eq(t.spun, 0, "spin %d: stopped polling after %lld ns", spin,
	             (long long)t.spun_ns);
	cr_expect_eq(t.yields, 0, "spin %d: yielded %u times", spin, t.yields);
	cr_expect_eq(t.sleeps, 0, "spin %d: slept %u times", spin, t.sleeps);
	cr_expect_eq(t.futex_calls, 0, "spin %d: %llu futex calls", spin,
	             (unsigned long long)t.futex_calls);
}

/* A budget ends, then the waiter sleeps without yielding, even when
 * parties outnumber CPUs (where auto would yield). */
static void expect_budget_then_sleep(int spin)
{
	unsigned parties = 2 * test_cpus() + 1;
	struct spin_trace t = trace_wait(spin, parties, LATE_MS);
	cr_expect_eq(t.spun, 1, "spin %d, %u parties: reached SPUN %u times",
	             spin, parties, t.spun);
	cr_expect_eq(t.yields, 0, "spin %d, %u parties: yielded %u times", spin,
	             parties, t.yields);
	cr_expect_geq(t.sleeps, 1, "spin %d, %u parties: never slept", spin,
	              parties);
}

/* Auto, parties <= CPUs: polls for its patience, never yields, then
 * sleeps. (A waiter preempted for the whole delay may see the late party
 * while it still polls: such a wait shows nothing, the others must.) */
static void expect_auto_polls(int spin)
{
	if (test_cpus() < 2)
		cr_skip_test("one CPU: 2 parties are more than CPUs");
	unsigned slept = 0;
	for (int i = 0; i < TRIES; i++) {
		struct spin_trace t = trace_wait(spin, 2, LATE_MS);
		cr_expect_leq(t.spun, 1, "reached SPUN %u times", t.spun);
		if (t.spun)
			cr_expect_geq(t.spun_ns, AUTO_PATIENCE_NS,
			              "polled only %lld ns",
			              (long long)t.spun_ns);
		cr_expect_eq(t.yields, 0, "yielded %u times", t.yields);
		slept += t.sleeps > 0;
	}
	cr_expect_gt(slept, 0, "never slept in %d waits", TRIES);
}

/* Auto, parties > CPUs: does not poll, yields before it sleeps — twice,
 * as nobody arrives for LATE_MS: one fruitless yield is no sign that only
 * waiters are left, two in a row are. */
static void expect_auto_yields(int spin)
{
	unsigned parties = 2 * test_cpus();
	int64_t best = INT64_MAX;
	for (int i = 0; i < TRIES; i++) {
		struct spin_trace t = trace_wait(spin, parties, LATE_MS);
		cr_expect_eq(t.yields, 2, "%u parties: yielded %u times",
		              parties, t.yields);
		cr_expect(t.yielded_first,
		          "%u parties: slept before it yielded", parties);
		cr_expect_geq(t.sleeps, 1, "%u parties: never slept", parties);
		if (t.spun_ns >= 0 && t.spun_ns < best)
			best = t.spun_ns;
	}
	cr_expect_lt(best, NO_POLL_NS,
	             "%u parties: polled %lld ns before yielding (the "
	             "quickest of %d waits)",
	             parties, (long long)best, TRIES);
}

Test(spin, never, .timeout = 120)
{
	need_delay_points();
	expect_sleeps_at_once(RALLY_SPIN_NEVER, 2);
	expect_sleeps_at_once(RALLY_SPIN_NEVER, 2 * test_cpus());
	run_spin_policy(RALLY_SPIN_NEVER);
}

Test(spin, budget, .timeout = 120)
{
	need_delay_points();
	/* 2^31 polls take seconds: the party 20 ms late finds it polling. */
	expect_polls_throughout(INT_MAX, 2);
	expect_budget_then_sleep(500);
	run_spin_policy(500);
}

Test(spin, auto_parties_within_cpus_polls, .timeout = 120)
{
	need_delay_points();
	expect_auto_polls(RALLY_SPIN_AUTO);
}

Test(spin, auto_parties_beyond_cpus_yields, .timeout = 120)
{
	need_delay_points();
	expect_auto_yields(RALLY_SPIN_AUTO);
	run_spin_policy(RALLY_SPIN_AUTO);
}

/* The library reads RALLY_SPIN once per process, at the first wait; each
 * Criterion test runs in a process of its own, and .init runs in it before
 * the test, so the variable is set before anything can read it. */
static void env_never(void) { setenv("RALLY_SPIN", "never", 1); }
static void env_2000(void) { setenv("RALLY_SPIN", "2000", 1); }
static void env_huge(void) { setenv("RALLY_SPIN", "1000000000", 1); }
static void env_garbage(void) { setenv("RALLY_SPIN", "fast please", 1); }

Test(spin, env_never, .init = env_never, .timeout = 120)
{
	need_delay_points();
	expect_sleeps_at_once(RALLY_SPIN_AUTO, 2);
	expect_sleeps_at_once(RALLY_SPIN_AUTO, 2 * test_cpus());
	run_spin_policy(RALLY_SPIN_AUTO);
}

Test(spin, env_number, .init = env_2000, .timeout = 120)
{
	need_delay_points();
	expect_budget_then_sleep(RALLY_SPIN_AUTO);
	run_spin_policy(RALLY_SPIN_AUTO);
}

Test(spin, env_number_polls, .init = env_huge, .timeout = 120)
{
	need_delay_points();
	expect_polls_throughout(RALLY_SPIN_AUTO, 2);
}

/* The variable decides only for RALLY_SPIN_AUTO: an attr's own policy
 * stands. */
Test(spin, env_does_not_override_attr, .init = env_huge, .timeout = 120)
{
	need_delay_points();
	expect_sleeps_at_once(RALLY_SPIN_NEVER, 2);
	expect_budget_then_sleep(500);
}

Test(spin, env_garbage_falls_back_to_auto, .init = env_garbage, .timeout = 120)
{
	need_delay_points();
	expect_auto_polls(RALLY_SPIN_AUTO);
	expect_auto_yields(RALLY_SPIN_AUTO);
	run_spin_policy(RALLY_SPIN_AUTO);
}

/* ---- signals ------------------------------------------------------------- */

#include <signal.h>
#include <sys/time.h>

#include "signal_count.h"

/* SIGALRM every millisecond, without SA_RESTART: futex waits see EINTR. */
static void alarm_every_ms(void)
{
	count_signals();
	struct itimerval it = {{0, 1000}, {0, 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

struct sig_check {
	rally_barrier_t b;
	pthread_t th[SIG_THREADS];
	_Atomic bool stop;
	_Atomic unsigned arrived, done, errors, early;
	_Atomic unsigned resumed[SIG_THREADS]; /* sleeps begun again */
};

struct sig_arg {
	struct sig_check *sc;
	int i;
};

static void *sig_worker(void *p)
{
	struct sig_arg *a = p;
	struct sig_check *sc = a->sc;
	int i = a->i;
	sig_self = i;
	uint64_t rng = (uint64_t)i + 1;
	for (unsigned r = 0; r < 300; r++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/* Each in turn comes late: the other sleeps through signals
		 * meanwhile. */
		if ((unsigned)i == r % 2)
			test_sleep_ms((int)(rng >> 62));
		atomic_fetch_add(&sc->arrived, 1);
		unsigned s0 = sleeps_begun;
		sig_in_wait = WAITING;
		int rc = rally_barrier_wait(&sc->b);
		sig_in_wait = NOT_WAITING;
		if (rc < 0 || rc >= SIG_THREADS)
			atomic_fetch_add(&sc->errors, 1);
		/* Released only once both arrived in round r. */
		if (atomic_load(&sc->arrived) < SIG_THREADS * (r + 1))
			atomic_fetch_add(&sc->early, 1);
		if (sleeps_begun - s0 > 1)
			atomic_fetch_add(&sc->resumed[i],
			                 sleeps_begun - s0 - 1);
	}
	atomic_fetch_add(&sc->done, 1);
	return NULL;
}

/* A process-directed signal (setitimer) goes to whichever thread the
 * kernel picks — mostly the main thread, idle in pthread_join, which tells
 * nothing. So each waiting thread gets its own, every millisecond. */
static void *sig_sender(void *p)
{
	struct sig_check *sc = p;
	while (!atomic_load(&sc->stop)) {
		for (int i = 0; i < SIG_THREADS; i++)
			pthread_kill(sc->th[i], SIGALRM);
		test_sleep_ms(1);
	}
	return NULL;
}

Test(signals, do_not_end_waits, .timeout = 60)
{
	struct sig_check sc = {0};
	struct sig_arg args[SIG_THREADS];
	rally_barrier_attr_t attr = {.spin = RALLY_SPIN_NEVER};
	cr_assert_eq(rally_barrier_init(&sc.b, SIG_THREADS, &attr), 0);
	count_signals();
	for (int i = 0; i < SIG_THREADS; i++) {
		args[i] = (struct sig_arg){&sc, i};
		pthread_create(&sc.th[i], NULL, sig_worker, &args[i]);
	}
	pthread_t sender;
	pthread_create(&sender, NULL, sig_sender, &sc);
	/* The sender stops before the threads it signals are joined. */
	while (atomic_load(&sc.done) < SIG_THREADS)
		test_sleep_ms(1);
	atomic_store(&sc.stop, true);
	pthread_join(sender, NULL);
	for (int i = 0; i < SIG_THREADS; i++)
		pthread_join(sc.th[i], NULL);
	cr_expect_eq(sc.errors, 0, "%u waits failed", sc.errors);
	cr_expect_eq(sc.early, 0, "%u waits returned early", sc.early);
	for (int i = 0; i < SIG_THREADS; i++) {
		cr_expect_geq(sig_in_waits[i], 50,
		              "thread %d took only %ld signals inside a wait",
		              i, sig_in_waits[i]);
#ifdef RALLY_DELAY_POINTS
		cr_expect_geq(
		    sig_asleep[i], 50,
		    "thread %d took only %ld signals asleep in a wait", i,
		    sig_asleep[i]);
		cr_expect_geq(
		    sc.resumed[i], 50,
		    "thread %d: only %u futex sleeps were interrupted "
		    "and begun again",
		    i, sc.resumed[i]);
#endif
		cr_log_info(
		    "thread %d: %ld signals inside a wait, %ld asleep, %u "
		    "sleeps begun again",
		    i, sig_in_waits[i], sig_asleep[i], sc.resumed[i]);
	}
	cr_expect_eq(rally_barrier_destroy(&sc.b), 0);
}

Test(signals, timed_waits_end_at_their_deadline, .timeout = 60)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	alarm_every_ms();
	const int64_t timeout = 20000000;
	int64_t worst = 0;
	for (int i = 0; i < 20; i++) {
		int64_t t0 = test_now_ns();
		cr_assert_eq(rally_barrier_timedwait(&b, timeout),
		             RALLY_TIMEDOUT);
		int64_t dt = test_now_ns() - t0;
		cr_assert_geq(dt, timeout, "returned %lld ns early",
		              (long long)(timeout - dt));
		if (dt - timeout > worst)
			worst = dt - timeout;
		cr_assert_eq(rally_barrier_reset(&b), 0);
	}
	/* Bounded, not lengthened by the 20 signals each wait took: a shared,
	 * noisy machine gets a generous bound. */
	cr_expect_lt(worst, timeout, "worst overshoot %lld ns",
	             (long long)worst);
	cr_expect_gt(alarms, 200);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* ---- a late party costs the waiters no CPU ------------------------------- */

struct late_cpu {
	rally_barrier_t b;
	_Atomic int64_t worst_cpu_ns;
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void late_cpu_worker(unsigned i, void *arg)
{
	struct late_cpu *lc = arg;
	if (i == 0) { /* the late party */
		test_sleep_ms(200);
		rally_barrier_wait(&lc->b);
		return;
	}
	int64_t c0 = thread_cpu_ns();
	rally_barrier_wait(&lc->b);
	int64_t used = thread_cpu_ns() - c0;
	int64_t w = atomic_load(&lc->worst_cpu_ns);
	while (used > w &&
	       !atomic_compare_exchange_weak(&lc->worst_cpu_ns, &w, used))
		;
}

/* Waiters spin or yield only while arrivals keep coming: 200 ms of waiting
 * for a late party must not cost them 200 ms of CPU. The bound is loose (a
 * shared machine): spinning for the whole wait would use ~200 ms. */
Test(spin, late_party_costs_waiters_no_cpu, .timeout = 60)
{
	const unsigned counts[] = {2, 16};
	for (unsigned k = 0; k < 2; k++) {
		struct late_cpu lc = {0};
		cr_assert_eq(rally_barrier_init(&lc.b, counts[k], NULL), 0);
		test_run_threads(counts[k], late_cpu_worker, &lc);
		cr_expect_lt(lc.worst_cpu_ns, 20000000,
		             "%u threads: a waiter used %lld us of CPU",
		             counts[k], (long long)lc.worst_cpu_ns / 1000);
		cr_expect_eq(rally_barrier_destroy(&lc.b), 0);
	}
}
