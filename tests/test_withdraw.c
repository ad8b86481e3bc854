/* test_withdraw.c — taking a split-phase arrival back
 * (rally__barrier_withdraw, the cancelled waiter of rally.AsyncBarrier),
 * and the windows around its CAS made reachable with pause points. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

#define SECOND 1000000000ll

static rally_token_t arrive_ok(rally_barrier_t *b, int want_index)
{
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(b, &t), want_index);
	return t;
}

/* A fresh phase of b completes with `parties` arrivals and no fewer. */
static void expect_whole(rally_barrier_t *b, unsigned parties)
{
	rally_token_t t[8];
	for (unsigned i = 0; i + 1 < parties; i++) {
		t[i] = arrive_ok(b, (int)i);
		cr_expect_eq(rally_barrier_test(b, t[i]), 0,
		             "phase complete after %u of %u arrivals", i + 1,
		             parties);
	}
	arrive_ok(b, (int)parties - 1);
	for (unsigned i = 0; i + 1 < parties; i++)
		cr_expect_eq(rally_barrier_test(b, t[i]), 1);
}

Test(withdraw, leaves_a_filling_phase, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 3, NULL), 0);
	rally_token_t t0 = arrive_ok(&b, 0), t1 = arrive_ok(&b, 1);
	cr_expect_eq(rally_barrier_n_waiting(&b), 2);
	cr_expect_eq(rally__barrier_withdraw(&b, t0), 0);
	cr_expect_eq(rally_barrier_n_waiting(&b), 1);
	/* The phase needs one more: the next arrival is not the last. */
	rally_token_t t2 = arrive_ok(&b, 1);
	cr_expect_eq(rally_barrier_test(&b, t1), 0);
	cr_expect_eq(rally_barrier_test(&b, t2), 0);
	arrive_ok(&b, 2);
	cr_expect_eq(rally_barrier_test(&b, t1), 1);
	cr_expect_eq(rally_barrier_test(&b, t2), 1);
	cr_expect_eq(rally_barrier_phase(&b), 1);
	cr_expect_not(rally_barrier_broken(&b));
	expect_whole(&b, 3);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(withdraw, every_arrival_taken_back, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(rally__barrier_withdraw(&b, arrive_ok(&b, 0)), 0);
	cr_expect_eq(rally_barrier_n_waiting(&b), 0);
	cr_expect_eq(rally_barrier_phase(&b), 0);
	expect_whole(&b, 2);
	/* Nobody counted inside: reset and destroy do not wait. */
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(withdraw, too_late_once_the_phase_is_whole, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t0 = arrive_ok(&b, 0), t1 = arrive_ok(&b, 1);
	cr_expect_eq(rally__barrier_withdraw(&b, t0), 1);
	cr_expect_eq(rally__barrier_withdraw(&b, t1), 1); /* the last's */
	cr_expect_eq(rally_barrier_await(&b, t0, 0), 0);
	cr_expect_eq(rally_barrier_phase(&b), 1);
	expect_whole(&b, 2);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* An arrival in a later phase (callers outnumber parties) is not the
 * first phase's to lose. */
Test(withdraw, not_while_a_later_phase_fills, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t0 = arrive_ok(&b, 0);
	arrive_ok(&b, 1);
	rally_token_t t2 = arrive_ok(&b, 0); /* phase 1 */
	cr_expect_eq(rally__barrier_withdraw(&b, t0), 1);
	cr_expect_eq(rally__barrier_withdraw(&b, t2), 0);
	cr_expect_eq(rally_barrier_n_waiting(&b), 0);
	expect_whole(&b, 2);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(withdraw, broken_or_reset, .timeout = 10)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 3, NULL), 0);
	rally_token_t t0 = arrive_ok(&b, 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_expect_eq(rally__barrier_withdraw(&b, t0), RALLY_BROKEN);
	cr_assert_eq(rally_barrier_reset(&b), 0);
	rally_token_t t1 = arrive_ok(&b, 0);
	arrive_ok(&b, 1);
	cr_assert_eq(rally_barrier_reset(&b), 0); /* cancels t1's phase */
	cr_expect_eq(rally__barrier_withdraw(&b, t1), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_n_waiting(&b), 0);
	expect_whole(&b, 3);
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(withdraw, bad_tokens, .timeout = 10)
{
	rally_barrier_t b, other;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_init(&other, 2, NULL), 0);
	rally_token_t t;
	memset(&t, 0xee, sizeof t);
	cr_expect_eq(rally__barrier_withdraw(&b, t), -EINVAL);
	cr_expect_eq(rally__barrier_withdraw(NULL, t), -EINVAL);
	t = arrive_ok(&other, 0);
	cr_expect_eq(rally__barrier_withdraw(&b, t), -EINVAL);
	cr_expect_eq(rally_barrier_n_waiting(&other), 1);
	cr_expect_eq(rally__barrier_withdraw(&other, t), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&other), 0);
}

/* ---- windows: a withdraw held between its look at arr and its CAS -------- */

static rally_barrier_t held_b;
static rally_token_t held_token;

static void *withdraw_held(void *arg)
{
	rally__point_tag(7);
	*(int *)arg = rally__barrier_withdraw(&held_b, held_token);
	return NULL;
}

static pthread_t start_held_withdraw(int *rc)
{
	rally__pause_arm(RALLY__POINT_WITHDRAWING, 7, 0);
	pthread_t t;
	pthread_create(&t, NULL, withdraw_held, rc);
	cr_assert(rally__pause_wait(RALLY__POINT_WITHDRAWING, 1, 5 * SECOND));
	return t;
}

/* The last arrival comes in between: the phase is whole, the withdraw
 * must fail and say so — not take an arrival from the next phase. */
Test(withdraw, last_arrival_in_the_window, .timeout = 20)
{
	cr_assert_eq(rally_barrier_init(&held_b, 2, NULL), 0);
	held_token = arrive_ok(&held_b, 0);
	int rc = -99;
	pthread_t t = start_held_withdraw(&rc);
	arrive_ok(&held_b, 1);
	rally_token_t next = arrive_ok(&held_b, 0); /* phase 1 */
	rally__pause_release(RALLY__POINT_WITHDRAWING);
	pthread_join(t, NULL);
	cr_expect_eq(rc, 1);
	cr_expect_eq(rally_barrier_test(&held_b, held_token), 1);
	cr_expect_eq(rally_barrier_n_waiting(&held_b), 1);
	arrive_ok(&held_b, 1);
	cr_expect_eq(rally_barrier_test(&held_b, next), 1);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

static void *arrive_tagged(void *arg)
{
	rally__point_tag(3);
	rally_token_t t;
	*(int *)arg = rally_barrier_arrive(&held_b, &t);
	return NULL;
}

/* held_b, 2 parties: the first arrival (its token), and the last one,
 * made by thread *t (its index in *idx), held between its fetch_add and
 * moving arr on. */
/* One more arrival at held_b, made by thread *t (its index in *idx) and
 * held between its fetch_add and whatever follows; `held` threads are
 * parked at ARRIVED then. */
static void hold_an_arrival(pthread_t *t, int *idx, unsigned held)
{
	rally__pause_arm(RALLY__POINT_ARRIVED, 3, 0);
	*idx = -99;
	pthread_create(t, NULL, arrive_tagged, idx);
	cr_assert(rally__pause_wait(RALLY__POINT_ARRIVED, held, 5 * SECOND));
}

static rally_token_t hold_the_last_arrival(pthread_t *t, int *idx)
{
	cr_assert_eq(rally_barrier_init(&held_b, 2, NULL), 0);
	rally_token_t t0 = arrive_ok(&held_b, 0);
	hold_an_arrival(t, idx, 1);
	return t0;
}

/* ... then let go: it completes the first phase with index 1. */
static void let_the_last_arrival_go(pthread_t t, const int *idx,
                                    rally_token_t t0)
{
	rally__pause_release(RALLY__POINT_ARRIVED);
	pthread_join(t, NULL);
	cr_expect_eq(*idx, 1);
	cr_expect_eq(rally_barrier_test(&held_b, t0), 1);
}

/* The last arrival held between its fetch_add and moving arr on: the
 * count says `parties`, and the phase is whole — nothing to take back. */
Test(withdraw, whole_before_arr_moves_on, .timeout = 20)
{
	pthread_t t;
	int idx;
	rally_token_t t0 = hold_the_last_arrival(&t, &idx);
	cr_expect_eq(rally__barrier_withdraw(&held_b, t0), 1);
	let_the_last_arrival_go(t, &idx, t0);
	expect_whole(&held_b, 2);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

/* Review round 16: a caller that arrives while the last arrival is held
 * between its fetch_add and moving arr on is counted past `parties`, in
 * the next phase (index 0). Its withdraw takes it back from that phase —
 * it answered "whole", and the arrival stayed: the next phase later
 * completed with one live party. */
Test(withdraw, next_phase_before_arr_moves_on, .timeout = 20)
{
	pthread_t t;
	int idx;
	rally_token_t t0 = hold_the_last_arrival(&t, &idx);
	rally_token_t next = arrive_ok(&held_b, 0);
	cr_expect_eq(rally__barrier_withdraw(&held_b, next), 0);
	let_the_last_arrival_go(t, &idx, t0);
	cr_expect_eq(rally_barrier_n_waiting(&held_b), 0);
	expect_whole(&held_b, 2);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

/* Two phases' last arrivals held before they move arr on: a caller
 * after them is counted two phases past arr's (d = 2), index 0 of the
 * phase after next. Its withdraw takes it back from there: arr's count
 * less 2 x parties is its phase's count. */
Test(withdraw, two_phases_before_arr_moves_on, .timeout = 20)
{
	pthread_t a, b;
	int idx_a, idx_b;
	rally_token_t t0 = hold_the_last_arrival(&a, &idx_a);
	rally_token_t next = arrive_ok(&held_b, 0);
	hold_an_arrival(&b, &idx_b, 2); /* the last of phase 1 */
	rally_token_t after = arrive_ok(&held_b, 0); /* phase 2 */
	cr_expect_eq(rally__barrier_withdraw(&held_b, after), 0);
	let_the_last_arrival_go(a, &idx_a, t0);
	pthread_join(b, NULL);
	cr_expect_eq(idx_b, 1);
	cr_expect_eq(rally_barrier_test(&held_b, next), 1);
	cr_expect_eq(rally_barrier_phase(&held_b), 2);
	cr_expect_eq(rally_barrier_n_waiting(&held_b), 0);
	expect_whole(&held_b, 2);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

static _Atomic int reset_done;

static void *reset_held_b(void *arg)
{
	(void)arg;
	rally_barrier_reset(&held_b);
	atomic_store(&reset_done, 1);
	return NULL;
}

/* A reset in the window counts the withdrawing caller inside and waits
 * for it; afterwards the barrier is whole and nobody is left counted. */
Test(withdraw, reset_in_the_window, .timeout = 20)
{
	cr_assert_eq(rally_barrier_init(&held_b, 3, NULL), 0);
	held_token = arrive_ok(&held_b, 0);
	arrive_ok(&held_b, 1);
	int rc = -99;
	atomic_store(&reset_done, 0);
	pthread_t t = start_held_withdraw(&rc);
	pthread_t r;
	pthread_create(&r, NULL, reset_held_b, NULL);
	test_sleep_ms(100);
	cr_expect_eq(atomic_load(&reset_done), 0,
	             "the reset ended while a withdraw was inside");
	rally__pause_release(RALLY__POINT_WITHDRAWING);
	pthread_join(t, NULL);
	pthread_join(r, NULL);
	cr_expect(rc == 0 || rc == RALLY_BROKEN, "withdraw: %d", rc);
	cr_expect_not(rally_barrier_broken(&held_b));
	cr_expect_eq(rally_barrier_n_waiting(&held_b), 0);
	expect_whole(&held_b, 3);
	cr_expect_eq(rally_barrier_reset(&held_b), 0);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

static _Atomic int destroy_rc = 1;

static void *destroy_held_b(void *arg)
{
	(void)arg;
	atomic_store(&destroy_rc, rally_barrier_destroy(&held_b));
	return NULL;
}

/* destroy in the window, of a broken phase (destroy refuses a phase with
 * arrivals otherwise): it waits for the withdraw to leave, then finds
 * nobody inside. */
Test(withdraw, destroy_in_the_window, .timeout = 20)
{
	cr_assert_eq(rally_barrier_init(&held_b, 2, NULL), 0);
	held_token = arrive_ok(&held_b, 0);
	int rc = -99;
	atomic_store(&destroy_rc, 1);
	pthread_t t = start_held_withdraw(&rc);
	cr_assert_eq(rally_barrier_abort(&held_b), 0);
	pthread_t d;
	pthread_create(&d, NULL, destroy_held_b, NULL);
	test_sleep_ms(100);
	cr_expect_eq(atomic_load(&destroy_rc), 1,
	             "destroy returned while a withdraw was inside");
	rally__pause_release(RALLY__POINT_WITHDRAWING);
	pthread_join(t, NULL);
	pthread_join(d, NULL);
	cr_expect_eq(rc, 0); /* it had looked before the abort */
	cr_expect_eq(atomic_load(&destroy_rc), 0);
}

/* Two withdraws in the window: the first CAS wins, the second looks again
 * and still finds its own arrival to take. */
Test(withdraw, two_in_the_window, .timeout = 20)
{
	cr_assert_eq(rally_barrier_init(&held_b, 3, NULL), 0);
	held_token = arrive_ok(&held_b, 0);
	rally_token_t mine = arrive_ok(&held_b, 1);
	int rc = -99;
	pthread_t t = start_held_withdraw(&rc);
	cr_expect_eq(rally__barrier_withdraw(&held_b, mine), 0);
	rally__pause_release(RALLY__POINT_WITHDRAWING);
	pthread_join(t, NULL);
	cr_expect_eq(rc, 0);
	cr_expect_eq(rally_barrier_n_waiting(&held_b), 0);
	expect_whole(&held_b, 3);
	cr_expect_eq(rally_barrier_destroy(&held_b), 0);
}

/* ---- robust: the tracker, not `out` ------------------------------------- */

Test(withdraw, robust_named, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "rally-test-withdraw-%d", getpid());
	rally_barrier_attr_t a = {.flags = RALLY_ROBUST};
	rally_barrier_t *b;
	cr_assert_eq(rally_barrier_open(&b, name, 2, &a, O_CREAT | O_EXCL,
	                                0600),
	             0);
	rally_token_t t = arrive_ok(b, 0);
	cr_expect_eq(rally__barrier_withdraw(b, t), 0);
	cr_expect_eq(rally_barrier_n_waiting(b), 0);
	expect_whole(b, 2);
	/* A wait of 1 ms notes our arrival (rally_barrier_late); the
	 * withdraw takes the note back with the arrival: we are late again
	 * (review round 19: the note stayed, and late() hid the process
	 * whose arrival was missing). */
	t = arrive_ok(b, 0);
	pid_t late[2];
	cr_expect_eq(rally_barrier_poll(b, t, 1000000), 0);
	cr_expect_eq(rally_barrier_late(b, late, 2), 0);
	cr_expect_eq(rally__barrier_withdraw(b, t), 0);
	cr_expect_eq(rally_barrier_late(b, late, 2), 1);
	cr_expect_eq(late[0], getpid());
	/* The tracker is back at 0: a reset does not wait for us. */
	cr_expect_eq(rally_barrier_reset(b), 0);
	cr_expect_eq(rally_barrier_close(b), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

static rally_barrier_t *robust_b;

/* robust_b: a robust barrier of `parties`, named after `what` and our pid
 * (in name); close_robust_b closes and unlinks it. */
static void open_robust_b(char *name, size_t len, const char *what,
                          unsigned parties)
{
	snprintf(name, len, "rally-test-withdraw-%s-%d", what, getpid());
	rally_barrier_attr_t a = {.flags = RALLY_ROBUST};
	cr_assert_eq(rally_barrier_open(&robust_b, name, parties, &a,
	                                O_CREAT | O_EXCL, 0600),
	             0);
}

static void close_robust_b(const char *name)
{
	cr_expect_eq(rally_barrier_close(robust_b), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

static void *wait_robust_b(void *arg)
{
	*(int *)arg = rally_barrier_wait(robust_b);
	return NULL;
}

static unsigned late_count(rally_barrier_t *b)
{
	pid_t late[2];
	return (unsigned)rally_barrier_late(b, late, 2);
}

/* Until late(b) says `want`, at most 2 s (a waiter notes every 50 ms). */
static bool late_becomes(rally_barrier_t *b, unsigned want)
{
	for (int i = 0; i < 1000 && late_count(b) != want; i++)
		test_sleep_ms(2);
	return late_count(b) == want;
}

/* Review round 20: a thread of this process waits in the phase (noted);
 * another caller's arrival is taken back, and its note with it — the
 * process has still arrived: the waiting thread notes again at the end of
 * its next slice (it noted once, and late() listed its process for good). */
Test(withdraw, robust_noted_again_while_another_waits, .timeout = 20)
{
	char name[64];
	open_robust_b(name, sizeof name, "again", 3);
	int rc = -99;
	pthread_t t;
	pthread_create(&t, NULL, wait_robust_b, &rc);
	cr_assert(late_becomes(robust_b, 0),
	          "the waiting thread never noted its arrival");
	rally_token_t mine = arrive_ok(robust_b, 1);
	cr_expect_eq(rally__barrier_withdraw(robust_b, mine), 0);
	cr_expect(late_becomes(robust_b, 0),
	          "the waiting thread's arrival not noted again");
	arrive_ok(robust_b, 1);
	arrive_ok(robust_b, 2);
	pthread_join(t, NULL);
	cr_expect_eq(rc, 0);
	close_robust_b(name);
}

static void *wait_robust_b_tagged(void *arg)
{
	rally__point_tag(5);
	return wait_robust_b(arg);
}

/* Review round 21: a thread of this process released from phase 0 is
 * still inside (held before it leaves) while another caller arrives in
 * phase 1, notes, and is taken back. The process owes phase 1 its
 * arrival: late() lists it (a note kept for the thread inside, which had
 * not arrived in phase 1, hid the process for good). */
Test(withdraw, robust_listed_while_one_leaves_the_phase_before,
     .timeout = 20)
{
	char name[64];
	open_robust_b(name, sizeof name, "before", 2);
	int rc = -99;
	rally__pause_arm(RALLY__POINT_DECIDED, 5, 0);
	pthread_t t;
	pthread_create(&t, NULL, wait_robust_b_tagged, &rc);
	while (rally_barrier_n_waiting(robust_b) != 1)
		test_sleep_ms(1);
	arrive_ok(robust_b, 1); /* phase 0 completes; the thread is held */
	cr_assert(rally__pause_wait(RALLY__POINT_DECIDED, 1, 5 * SECOND));
	rally_token_t mine = arrive_ok(robust_b, 0); /* phase 1 */
	cr_expect_eq(rally_barrier_poll(robust_b, mine, 1000000), 0);
	cr_expect_eq(late_count(robust_b), 0);
	cr_expect_eq(rally__barrier_withdraw(robust_b, mine), 0);
	rally__pause_release(RALLY__POINT_DECIDED);
	pthread_join(t, NULL);
	cr_expect_eq(rc, 0);
	cr_expect_eq(late_count(robust_b), 1);
	close_robust_b(name);
}

static void *reset_robust_b(void *arg)
{
	*(int *)arg = rally_barrier_reset(robust_b);
	return NULL;
}

static void *arrive_robust_b_tagged(void *arg)
{
	rally__point_tag(3);
	rally_token_t t;
	*(int *)arg = rally_barrier_arrive(robust_b, &t);
	return NULL;
}

/* Review round 25: a token that a reset cancelled, of phase cut + 1 of
 * the old epoch (counted past `parties` while the last arrival was held
 * before it moved arr on) — the number of the new epoch's first phase.
 * An event loop's look at it (rally__token_look, every slice) noted an
 * arrival, and late() hid the process, which had not arrived in the new
 * epoch. A look notes a pending token's arrival only. */
Test(withdraw, robust_look_of_a_cancelled_token_notes_nothing,
     .timeout = 20)
{
	char name[64];
	open_robust_b(name, sizeof name, "look", 2);
	arrive_ok(robust_b, 0);
	int last_rc = -99, reset_rc = -99;
	rally__pause_arm(RALLY__POINT_ARRIVED, 3, 0);
	pthread_t last, reset;
	pthread_create(&last, NULL, arrive_robust_b_tagged, &last_rc);
	cr_assert(rally__pause_wait(RALLY__POINT_ARRIVED, 1, 5 * SECOND));
	rally_token_t stale = arrive_ok(robust_b, 0); /* phase 1, epoch 0 */
	pthread_create(&reset, NULL, reset_robust_b, &reset_rc);
	for (int i = 0; i < 5000 && !rally_barrier_broken(robust_b); i++)
		test_sleep_ms(1); /* the reset claimed (cut = 0): it drains */
	rally__pause_release(RALLY__POINT_ARRIVED);
	pthread_join(last, NULL);
	pthread_join(reset, NULL);
	cr_assert_eq(reset_rc, 0);
	cr_assert_eq(rally_barrier_phase(robust_b), 1);
	cr_expect_eq(rally_barrier_test(robust_b, stale), RALLY_BROKEN);
	cr_expect_eq(late_count(robust_b), 1);
	rally__token_look(robust_b, stale);
	cr_expect_eq(late_count(robust_b), 1,
	             "a look at a cancelled token noted an arrival");
	/* A pending token's look notes it. */
	rally_token_t fresh = arrive_ok(robust_b, 0);
	rally__token_look(robust_b, fresh);
	cr_expect_eq(late_count(robust_b), 0);
	cr_expect_eq(rally__barrier_withdraw(robust_b, fresh), 0);
	close_robust_b(name);
}

static rally_token_t looked_at;

static void *look_tagged(void *arg)
{
	(void)arg;
	rally__point_tag(9);
	rally__token_look(robust_b, looked_at);
	return NULL;
}

/* A look is counted in while it judges and notes (the pin): a reset that
 * comes meanwhile waits for it, and forgets its note after — so the
 * fresh epoch starts with nobody noted. */
Test(withdraw, robust_look_holds_a_reset_until_it_noted, .timeout = 20)
{
	char name[64];
	open_robust_b(name, sizeof name, "pin", 2);
	looked_at = arrive_ok(robust_b, 0);
	rally__pause_arm(RALLY__POINT_TOKEN_PINNED, 9, 0);
	pthread_t look, reset;
	pthread_create(&look, NULL, look_tagged, NULL);
	cr_assert(rally__pause_wait(RALLY__POINT_TOKEN_PINNED, 1, 5 * SECOND),
	          "the look was not counted in");
	int reset_rc = -99;
	pthread_create(&reset, NULL, reset_robust_b, &reset_rc);
	test_sleep_ms(100);
	cr_expect_eq(reset_rc, -99, "the reset ended while a look was inside");
	rally__pause_release(RALLY__POINT_TOKEN_PINNED);
	pthread_join(look, NULL);
	pthread_join(reset, NULL);
	cr_expect_eq(reset_rc, 0);
	cr_expect_eq(late_count(robust_b), 1);
	close_robust_b(name);
}

static void *reset_robust_b_tagged(void *arg)
{
	rally__point_tag(5);
	return reset_robust_b(arg);
}

/* Review round 27: a participant dies; an event loop's look finds it and
 * breaks the barrier; a reset in answer runs, and the loop, woken by its
 * claim, looks again while the reset holds the barrier (held after its
 * record, before it forgets the dead). That look broke the barrier again
 * (an abort while BUSY breaks the next phase: the fresh epoch's first),
 * and the reset returned 0 with the barrier broken. A look's break spares
 * a reset, which forgets the dead. */
static bool open_by_name(void *name)
{
	rally_barrier_t *mine;
	return rally_barrier_open(&mine, name, 2, NULL, 0, 0) == 0;
}

Test(withdraw, robust_look_during_a_reset_breaks_nothing, .timeout = 20)
{
	char name[64];
	open_robust_b(name, sizeof name, "dead", 2);
	pid_t child = test_fork_participant(open_by_name, name);
	cr_assert_gt(child, 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rally_token_t tok = arrive_ok(robust_b, 0);
	for (int i = 0; i < 200 && !rally_barrier_broken(robust_b); i++) {
		rally__token_look(robust_b, tok);
		test_sleep_ms(5);
	}
	cr_assert_eq(rally_barrier_test(robust_b, tok), RALLY_OWNERDEAD);
	int reset_rc = -99;
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, 5, 0);
	pthread_t reset;
	pthread_create(&reset, NULL, reset_robust_b_tagged, &reset_rc);
	cr_assert(rally__pause_wait(RALLY__POINT_RESET_RECORDED, 1,
	                            5 * SECOND));
	rally__token_look(robust_b, tok);
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	pthread_join(reset, NULL);
	cr_expect_eq(reset_rc, 0);
	cr_expect_not(rally_barrier_broken(robust_b),
	              "a look during the reset broke the fresh epoch");
	rally_token_t fresh = arrive_ok(robust_b, 0);
	cr_expect_eq(rally__barrier_withdraw(robust_b, fresh), 0);
	close_robust_b(name);
}
