/* test_split.c — split-phase waiting: arrive + await behaves as one wait. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <stdatomic.h>
#include <string.h>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

#define ROUNDS 100

Test(split_args, bad_input, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_expect_eq(rally_barrier_arrive(&b, NULL), -EINVAL);
	cr_expect_eq(rally_barrier_arrive(NULL, &t), -EINVAL);
	memset(&t, 0xee, sizeof t);
	cr_expect_eq(rally_barrier_test(&b, t), -EINVAL);
	cr_expect_eq(rally_barrier_await(&b, t, 0), -EINVAL);
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_await(&b, t, -2), -EINVAL);
	const uint32_t *w;
	uint32_t v;
	bool sh;
	cr_expect_eq(rally_barrier_futex(&b, t, NULL, &v, &sh), -EINVAL);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_futex(&b, t, &w, &v, &sh), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

struct split_check {
	rally_barrier_t b;
	unsigned n;
	_Atomic unsigned seen[ROUNDS][64];
	_Atomic unsigned actions, early, errors;
	unsigned action_round; /* plain, written by the action */
};

static int split_action(void *arg)
{
	struct split_check *sc = arg;
	/* A waiter released early would get to run meanwhile. */
	sched_yield();
	sc->action_round++;
	atomic_fetch_add(&sc->actions, 1);
	return 0;
}

static void split_worker(unsigned i, void *arg)
{
	struct split_check *sc = arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		rally_token_t t;
		int idx = rally_barrier_arrive(&sc->b, &t);
		if (idx < 0 || (unsigned)idx >= sc->n) {
			atomic_fetch_add(&sc->errors, 1);
			return;
		}
		atomic_fetch_add(&sc->seen[r][idx], 1);
		/* Odd threads mix in a test() before the await. */
		if (i % 2 && rally_barrier_test(&sc->b, t) < 0)
			atomic_fetch_add(&sc->errors, 1);
		if (rally_barrier_await(&sc->b, t, RALLY_FOREVER) != 0 ||
		    rally_barrier_test(&sc->b, t) != 1 ||
		    rally_barrier_await(&sc->b, t, 0) != 0)
			atomic_fetch_add(&sc->errors, 1);
		/* Round r runs two phases, each with its action: the split
		 * phase is the round's first, so its action is the (2r + 1)th.
		 * The next action needs this thread's own arrival below, so
		 * the count is exact: fewer means released before the action
		 * (in any round, not only the first). */
		if (sc->action_round != 2 * r + 1)
			atomic_fetch_add(&sc->early, 1);
		/* A plain wait separates rounds (its action counts too). */
		if (rally_barrier_wait(&sc->b) < 0)
			atomic_fetch_add(&sc->errors, 1);
		if (sc->action_round != 2 * r + 2)
			atomic_fetch_add(&sc->early, 1);
	}
}

Test(split, arrive_await_is_one_wait, .timeout = 120)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct split_check *sc = calloc(1, sizeof *sc);
		sc->n = n;
		rally_barrier_attr_t attr = {.action = split_action,
		                             .action_arg = sc};
		cr_assert_eq(rally_barrier_init(&sc->b, n, &attr), 0);
		test_run_threads(n, split_worker, sc);
		cr_expect_eq(sc->errors, 0, "%u threads", n);
		cr_expect_eq(sc->early, 0,
		             "%u threads: released before the action %u times",
		             n, sc->early);
		cr_expect_eq(sc->actions, 2 * ROUNDS);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				cr_assert_eq(sc->seen[r][i], 1,
				             "%u threads, round %u, index %u",
				             n, r, i);
		cr_expect_eq(rally_barrier_destroy(&sc->b), 0);
		free(sc);
	}
}

Test(split, test_before_and_after, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t0, t1;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t0), 0);
	cr_expect_eq(rally_barrier_test(&b, t0), 0);
	cr_expect_eq(rally_barrier_n_waiting(&b), 1);
	/* The last arrival completes the phase inside arrive. */
	cr_expect_eq(rally_barrier_arrive(&b, &t1), 1);
	cr_expect_eq(rally_barrier_test(&b, t0), 1);
	cr_expect_eq(rally_barrier_test(&b, t1), 1);
	cr_expect_eq(rally_barrier_await(&b, t0, 0), 0);
	cr_expect_eq(rally_barrier_await(&b, t1, 0), 0);
	cr_expect_eq(rally_barrier_n_waiting(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(split, await_timeout_breaks, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t0, t1;
	cr_assert_eq(rally_barrier_init(&b, 3, NULL), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t0), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t1), 1);
	int64_t start = test_now_ns();
	cr_expect_eq(rally_barrier_await(&b, t0, 10000000), RALLY_TIMEDOUT);
	cr_expect_geq(test_now_ns() - start, 10000000);
	cr_expect(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_await(&b, t1, RALLY_FOREVER), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_test(&b, t1), RALLY_BROKEN);
	/* Broken: arrive fails at once. */
	rally_token_t t2;
	cr_expect_eq(rally_barrier_arrive(&b, &t2), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_await(&b, t2, RALLY_FOREVER), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* poll's time running out breaks nothing; it answers as test does. */
Test(split, poll_breaks_nothing, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t0, t1, t2;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	memset(&t0, 0xee, sizeof t0);
	cr_expect_eq(rally_barrier_poll(&b, t0, 0), -EINVAL); /* garbage */
	cr_expect_eq(rally_barrier_arrive(&b, &t0), 0);
	cr_expect_eq(rally_barrier_poll(&b, t0, -2), -EINVAL);
	cr_expect_eq(rally_barrier_poll(&b, t0, 0), 0);
	int64_t start = test_now_ns();
	cr_expect_eq(rally_barrier_poll(&b, t0, 5000000), 0);
	cr_expect_geq(test_now_ns() - start, 5000000);
	cr_expect_not(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_n_waiting(&b), 1);
	cr_expect_eq(rally_barrier_arrive(&b, &t1), 1);
	cr_expect_eq(rally_barrier_poll(&b, t0, RALLY_FOREVER), 1);
	cr_expect_eq(rally_barrier_poll(&b, t1, 0), 1);
	cr_expect_eq(rally_barrier_await(&b, t0, 0), 0);
	/* Ending a pending token after polls: await 0 breaks, as a timeout. */
	cr_expect_eq(rally_barrier_arrive(&b, &t2), 0);
	cr_expect_eq(rally_barrier_poll(&b, t2, 1000000), 0);
	cr_expect_eq(rally_barrier_await(&b, t2, 0), RALLY_TIMEDOUT);
	cr_expect(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_poll(&b, t2, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

struct poll_action {
	rally_barrier_t b;
	_Atomic int in_action;
};

static int slow_action(void *arg)
{
	struct poll_action *pa = arg;
	atomic_store(&pa->in_action, 1);
	struct timespec ts = {0, 30000000};
	nanosleep(&ts, NULL);
	return 0;
}

static void *arrive_last(void *arg)
{
	struct poll_action *pa = arg;
	rally_token_t t;
	return (void *)(intptr_t)rally_barrier_arrive(&pa->b, &t);
}

/* While an action runs, a timed wait cannot expire, but a poll can: its
 * answer is "pending", and the phase then completes. An await that must not
 * block answers -EAGAIN (undecided, nothing broken) instead of waiting for
 * the action (hardening A8: it used to block until the action ended). */
Test(split, poll_during_action, .timeout = 10)
{
	struct poll_action pa = {0};
	rally_barrier_attr_t attr = {.action = slow_action, .action_arg = &pa};
	cr_assert_eq(rally_barrier_init(&pa.b, 2, &attr), 0);
	rally_token_t t;
	cr_expect_eq(rally_barrier_arrive(&pa.b, &t), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_last, &pa), 0);
	while (!atomic_load(&pa.in_action))
		sched_yield();
	cr_expect_eq(rally_barrier_poll(&pa.b, t, 1000000), 0);
	int64_t start = test_now_ns();
	cr_expect_eq(rally_barrier_await(&pa.b, t, 0), -EAGAIN);
	cr_expect_lt(test_now_ns() - start, 10000000, "await(0) blocked");
	cr_expect_eq(rally_barrier_await(&pa.b, t, RALLY_FOREVER), 0);
	void *ret;
	pthread_join(th, &ret);
	cr_expect_eq((intptr_t)ret, 1);
	cr_expect_not(rally_barrier_broken(&pa.b));
	cr_expect_eq(rally_barrier_destroy(&pa.b), 0);
}

Test(split, abort_and_reset_between_arrive_and_await, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_abort(&b), 0);
	cr_expect_eq(rally_barrier_await(&b, t, RALLY_FOREVER), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	/* Cancelled by the reset, though the barrier is whole again. */
	cr_expect_eq(rally_barrier_await(&b, t, RALLY_FOREVER), RALLY_BROKEN);
	cr_expect_not(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

static int failing(void *arg)
{
	(void)arg;
	return -42;
}

Test(split, failing_action_at_arrive, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t0, t1;
	rally_barrier_attr_t attr = {.action = failing};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t0), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t1), -42);
	cr_expect_eq(rally_barrier_await(&b, t0, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_await(&b, t1, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* A completed phase's token stays good over 8 resets (its epoch's record
 * is kept until the 9th): then the slot holds a newer epoch's record and
 * the answer is RALLY_BROKEN, never a wrong "done" or "pending". */
Test(split, stale_tokens, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t done, last, dummy;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_barrier_arrive(&b, &done);
	rally_barrier_arrive(&b, &last);
	for (int r = 0; r < 10; r++) {
		int want = r < 9 ? 1 : RALLY_BROKEN;
		cr_expect_eq(rally_barrier_test(&b, done), want, "after %d", r);
		rally_barrier_arrive(&b, &dummy); /* something to cancel */
		cr_expect_eq(rally_barrier_reset(&b), 0);
	}
	cr_expect_eq(rally_barrier_await(&b, done, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

static void mixed_worker(unsigned i, void *arg)
{
	struct split_check *sc = arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		int idx;
		if (i % 2) {
			rally_token_t t;
			idx = rally_barrier_arrive(&sc->b, &t);
			if (idx >= 0 &&
			    rally_barrier_await(&sc->b, t, RALLY_FOREVER) != 0)
				idx = -1;
		} else {
			idx = rally_barrier_wait(&sc->b);
		}
		if (idx < 0)
			atomic_fetch_add(&sc->errors, 1);
		else
			atomic_fetch_add(&sc->seen[r][idx], 1);
	}
}

Test(split, mixed_with_wait, .timeout = 60)
{
	for (unsigned k = 1; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct split_check *sc = calloc(1, sizeof *sc);
		sc->n = n;
		cr_assert_eq(rally_barrier_init(&sc->b, n, NULL), 0);
		test_run_threads(n, mixed_worker, sc);
		cr_expect_eq(sc->errors, 0);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				cr_assert_eq(sc->seen[r][i], 1);
		cr_expect_eq(rally_barrier_destroy(&sc->b), 0);
		free(sc);
	}
}

struct many_split {
	rally_barrier_t b;
	unsigned long total;
	_Atomic unsigned long tickets, count[8], errors;
};

static void many_split_worker(unsigned i, void *arg)
{
	struct many_split *m = arg;
	while (atomic_fetch_add(&m->tickets, 1) < m->total) {
		rally_token_t t;
		int idx = rally_barrier_arrive(&m->b, &t);
		if (idx < 0 ||
		    rally_barrier_await(&m->b, t, RALLY_FOREVER) != 0)
			atomic_fetch_add(&m->errors, 1);
		else
			atomic_fetch_add(&m->count[idx], 1);
	}
}

Test(split, more_callers_than_parties, .timeout = 60)
{
	struct many_split m = {.total = 16 * ROUNDS};
	cr_assert_eq(rally_barrier_init(&m.b, 4, NULL), 0);
	test_run_threads(16, many_split_worker, &m);
	cr_expect_eq(m.errors, 0);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(m.count[i], 16 * ROUNDS / 4);
	cr_expect_eq(rally_barrier_destroy(&m.b), 0);
}

Test(split, futex_word_for_event_loops, .timeout = 10)
{
	rally_barrier_t b;
	rally_token_t t0, t1;
	const uint32_t *word;
	uint32_t value;
	bool shared = true;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &t0), 0);
	cr_assert_eq(rally_barrier_futex(&b, t0, &word, &value, &shared), 0);
	cr_expect_not(shared);
	cr_expect_eq(__atomic_load_n(word, __ATOMIC_ACQUIRE), value);
	cr_assert_eq(rally_barrier_arrive(&b, &t1), 1);
	cr_expect_neq(__atomic_load_n(word, __ATOMIC_ACQUIRE), value);
	cr_expect_eq(rally_barrier_futex(&b, t0, &word, &value, &shared), 1);
	cr_expect_eq(rally_barrier_destroy(&b), 0);

	rally_event_t e;
	cr_assert_eq(rally_event_init(&e, 0), 0);
	cr_assert_eq(rally_event_futex(&e, &word, &value, &shared), 0);
	cr_expect_eq(__atomic_load_n(word, __ATOMIC_ACQUIRE), value);
	rally_event_set(&e);
	cr_expect_neq(__atomic_load_n(word, __ATOMIC_ACQUIRE), value);
	cr_expect_eq(rally_event_futex(&e, &word, &value, &shared), 1);
	cr_expect_eq(rally_event_destroy(&e), 0);
}

/* ---- rally__barrier_busy (hooks.h), rally.aio's look before it arrives -- */

static rally_barrier_t busy_b;
static _Atomic int busy_release;

static int hold_busy(void *arg)
{
	(void)arg;
	while (!atomic_load(&busy_release))
		sched_yield();
	return 0;
}

static void *wait_busy_b(void *arg)
{
	(void)arg;
	rally_barrier_wait(&busy_b);
	return NULL;
}

Test(busy, while_an_action_runs, .timeout = 10)
{
	rally_barrier_attr_t a = {.action = hold_busy};
	cr_assert_eq(rally_barrier_init(&busy_b, 1, &a), 0);
	cr_expect_not(rally__barrier_busy(&busy_b));
	atomic_store(&busy_release, 0);
	pthread_t t;
	pthread_create(&t, NULL, wait_busy_b, NULL);
	while (!rally__barrier_busy(&busy_b))
		sched_yield();
	atomic_store(&busy_release, 1);
	pthread_join(t, NULL);
	cr_expect_not(rally__barrier_busy(&busy_b));
	cr_expect_eq(rally_barrier_phase(&busy_b), 1);
	cr_expect_eq(rally_barrier_destroy(&busy_b), 0);
}

static int die_in_action(void *arg)
{
	(void)arg;
	_exit(0);
}

/* A shared barrier whose action's process died holding BUSY: the look
 * takes it over (rate limited), so that a poll of it ends. */
Test(busy, a_dead_holder_is_taken_over, .timeout = 10)
{
	rally_barrier_t *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(b, MAP_FAILED);
	rally_barrier_attr_t a = {.flags = RALLY_SHARED, .action = die_in_action};
	cr_assert_eq(rally_barrier_init(b, 1, &a), 0);
	pid_t pid = fork();
	if (pid == 0) {
		rally_barrier_wait(b);
		_exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	int64_t t0 = test_now_ns();
	while (rally__barrier_busy(b) && test_now_ns() - t0 < 2000000000ll)
		test_sleep_ms(1);
	cr_expect_not(rally__barrier_busy(b), "BUSY still held after 2 s");
	cr_expect(rally_barrier_broken(b));
	cr_expect_eq(rally_barrier_reset(b), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	munmap(b, sizeof *b);
}

/* rally__barrier_busy_futex: a word to sleep on while BUSY, woken when the
 * action's phase publishes. */
Test(busy, futex_wakes_when_the_action_ends, .timeout = 10)
{
	rally_barrier_attr_t a = {.action = hold_busy};
	cr_assert_eq(rally_barrier_init(&busy_b, 1, &a), 0);
	const uint32_t *word;
	uint32_t value;
	bool shared;
	cr_expect_eq(rally__barrier_busy_futex(&busy_b, &word, &value, &shared),
	             1);
	atomic_store(&busy_release, 0);
	pthread_t t;
	pthread_create(&t, NULL, wait_busy_b, NULL);
	while (!rally__barrier_busy(&busy_b))
		sched_yield();
	cr_assert_eq(rally__barrier_busy_futex(&busy_b, &word, &value, &shared),
	             0);
	cr_expect_not(shared);
	cr_expect_eq(__atomic_load_n(word, __ATOMIC_ACQUIRE), value);
	atomic_store(&busy_release, 1);
	/* Asleep on the word: the publish that ends BUSY wakes us. */
	struct timespec ts = {5, 0};
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == value)
		syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, &ts, NULL,
		        0);
	pthread_join(t, NULL);
	cr_expect_eq(rally__barrier_busy_futex(&busy_b, &word, &value, &shared),
	             1);
	cr_expect_eq(rally_barrier_destroy(&busy_b), 0);
}
