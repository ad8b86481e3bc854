/* test_hardening.c — a test for each defect of the hardening issue (#11),
 * named after its item (A1 ... C21). Where the defect lives in a window of
 * a few instructions, a delay point (lib/points.h) holds a thread there, so
 * that the test hits it every time rather than by luck. A barrier that a
 * test destroys lives alone on a page that is then made inaccessible: a
 * touch after destroy or after the release faults, and the test crashes. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

#define PAGE     4096
#define TAG      7 /* the thread a test holds at a point */
#define PAUSE_NS 5000000000LL

static void *page_alloc(bool shared)
{
	void *p =
	    mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
	         (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

/* The page stays reserved (nothing else lands there) but any access
 * faults. */
static void page_revoke(void *p)
{
	cr_assert_eq(mprotect(p, PAGE, PROT_NONE), 0);
}

/* A call made on a thread of its own, with a tag for the delay points.
 * WAIT_POLL and EVENT_POLL look every millisecond instead of sleeping on
 * the futex: they see a release even while its releaser is held before
 * the wake. */
enum op { WAIT, WAIT_POLL, RESET, ABORT, DESTROY, EVENT_SET, EVENT_POLL,
          EVENT_DESTROY, EVENT_WAIT };

static int wait_polling(rally_barrier_t *b)
{
	rally_token_t t;
	int idx = rally_barrier_arrive(b, &t);
	if (idx < 0)
		return idx;
	int rc;
	while ((rc = rally_barrier_poll(b, t, 1000000)) == 0)
		;
	return rc == 1 ? idx : rc;
}

struct call {
	pthread_t th;
	enum op op;
	void *obj;
	int64_t timeout;
	int tag;
	int rc;
	_Atomic bool done;
};

static void *call_main(void *arg)
{
	struct call *c = arg;
	rally__point_tag(c->tag);
	switch (c->op) {
	case WAIT:
		c->rc = rally_barrier_timedwait(c->obj, c->timeout);
		break;
	case WAIT_POLL:
		c->rc = wait_polling(c->obj);
		break;
	case RESET:
		c->rc = rally_barrier_reset(c->obj);
		break;
	case ABORT:
		c->rc = rally_barrier_abort(c->obj);
		break;
	case DESTROY:
		c->rc = rally_barrier_destroy(c->obj);
		break;
	case EVENT_SET:
		c->rc = rally_event_set(c->obj);
		break;
	case EVENT_DESTROY:
		c->rc = rally_event_destroy(c->obj);
		break;
	case EVENT_WAIT:
		c->rc = rally_event_wait(c->obj, c->timeout);
		break;
	case EVENT_POLL:
		while ((c->rc = rally_event_wait(c->obj, 1000000)) ==
		       RALLY_TIMEDOUT)
			;
		break;
	}
	atomic_store(&c->done, true);
	return NULL;
}

static void start(struct call *c, enum op op, void *obj, int64_t timeout,
                  int tag)
{
	*c =
	    (struct call){.op = op, .obj = obj, .timeout = timeout, .tag = tag};
	cr_assert_eq(pthread_create(&c->th, NULL, call_main, c), 0);
}

static int finish(struct call *c)
{
	pthread_join(c->th, NULL);
	return c->rc;
}

static void await_waiting(rally_barrier_t *b, unsigned n)
{
	while (rally_barrier_n_waiting(b) < n)
		test_sleep_ms(1);
}

static void parked(enum rally__point p)
{
	cr_assert(rally__pause_wait(p, 1, PAUSE_NS), "nobody reached %s",
	          rally__point_name(p));
}

static int noop(void *arg)
{
	(void)arg;
	return 0;
}

/* ---- A1: nothing is touched after the release -------------------------- */

/* The last arrival is held right after the CAS that releases the other;
 * the other destroys the barrier and its page goes; the last one then must
 * not touch it (it read the flags after its release: a use after free). */
static void completer_after_release(unsigned flags, bool action)
{
	rally_barrier_t *b = page_alloc(flags & RALLY_SHARED);
	rally_barrier_attr_t attr = {.flags = flags,
	                             .action = action ? noop : NULL};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	if (flags & RALLY_ROBUST)
		cr_assert_eq(rally_barrier_attach(b), 0);
	rally__pause_arm(RALLY__POINT_RELEASED, TAG, 0);
	struct call w, c;
	start(&w, WAIT_POLL, b, 0, 0);
	await_waiting(b, 1);
	start(&c, WAIT, b, RALLY_FOREVER, TAG);
	cr_expect_eq(finish(&w), 0);
	parked(RALLY__POINT_RELEASED);
	if (flags & RALLY_ROBUST)
		cr_assert_eq(rally_barrier_detach(b), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
	rally__pause_release(RALLY__POINT_RELEASED);
	cr_expect_eq(finish(&c), 1);
}

Test(hardening, A1_completer_with_action_after_release, .timeout = 20)
{
	completer_after_release(0, true);
}

Test(hardening, A1_completer_after_release, .timeout = 20)
{
	completer_after_release(0, false);
}

Test(hardening, A1_robust_completer_after_release, .timeout = 20)
{
	completer_after_release(RALLY_SHARED | RALLY_ROBUST, false);
}

Test(hardening, A1_aborter_after_release, .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	struct call w, a;
	start(&w, WAIT_POLL, b, 0, 0);
	await_waiting(b, 1);
	rally__pause_arm(RALLY__POINT_RELEASED, TAG, 0);
	start(&a, ABORT, b, 0, TAG);
	cr_expect_eq(finish(&w), RALLY_BROKEN);
	parked(RALLY__POINT_RELEASED);
	/* abort() is still inside: a visitor, which destroy refuses. */
	cr_expect_eq(rally_barrier_destroy(b), -EBUSY);
	rally__pause_release(RALLY__POINT_RELEASED);
	cr_expect_eq(finish(&a), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
}

/* A reset passes RELEASED at its claim (waking the cancelled phase) and at
 * its publish: held at the second, the barrier is whole and idle. */
Test(hardening, A1_resetter_after_release, .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_abort(b), 0);
	rally__pause_arm(RALLY__POINT_RELEASED, TAG, 1);
	struct call r;
	start(&r, RESET, b, 0, TAG);
	parked(RALLY__POINT_RELEASED);
	cr_expect_not(rally_barrier_broken(b));
	cr_expect_eq(rally_barrier_destroy(b), -EBUSY, "reset() is inside");
	rally__pause_release(RALLY__POINT_RELEASED);
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
}

Test(hardening, A1_event_setter_after_release, .timeout = 20)
{
	rally_event_t *e = page_alloc(false);
	cr_assert_eq(rally_event_init(e, 0), 0);
	struct call w, s;
	start(&w, EVENT_POLL, e, 0, 0);
	test_sleep_ms(20);
	rally__pause_arm(RALLY__POINT_EVENT_SET, TAG, 0);
	start(&s, EVENT_SET, e, 0, TAG);
	cr_expect_eq(finish(&w), 0);
	parked(RALLY__POINT_EVENT_SET);
	cr_expect_eq(rally_event_destroy(e), 0);
	page_revoke(e);
	rally__pause_release(RALLY__POINT_EVENT_SET);
	cr_expect_eq(finish(&s), 0);
}

/* ---- A2: destroy after a timeout that races the last arrival ---------- */

/* W times out and breaks while C, the last arrival, is held after it moved
 * arr on and before it publishes; W destroys. destroy must neither spin for
 * ever nor return while C may still touch the barrier. */
Test(hardening, A2_destroy_waits_for_a_last_arrival_after_a_timeout,
     .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	struct call w, c, d;
	start(&w, WAIT, b, 50000000, 0);
	await_waiting(b, 1);
	rally__pause_arm(RALLY__POINT_ADVANCED, TAG, 0);
	start(&c, WAIT, b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ADVANCED);
	cr_expect_eq(finish(&w), RALLY_TIMEDOUT);
	start(&d, DESTROY, b, 0, 0);
	test_sleep_ms(100);
	cr_expect_not(atomic_load(&d.done),
	              "destroy returned while the last arrival was inside");
	rally__pause_release(RALLY__POINT_ADVANCED);
	cr_expect_eq(finish(&c), RALLY_BROKEN);
	cr_expect_eq(finish(&d), 0);
	page_revoke(b);
}

/* ---- A3: a timeout breaks the caller's own phase ------------------------ */

/* Phase 0 has all its parties (C is held before it publishes); B arrives
 * for phase 1 and times out: phase 1 breaks, phase 0 completes. */
struct shared_state {
	rally_barrier_t b;
	_Atomic int in_action;
};

static int slow_action(void *arg)
{
	_Atomic int *in = arg;
	atomic_store(in, 1);
	test_sleep_ms(400);
	return 0;
}

static void next_phase_timeout(int64_t timeout)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct call a, c, p, d;
	start(&a, WAIT, &b, RALLY_FOREVER, 0);
	await_waiting(&b, 1);
	rally__pause_arm(RALLY__POINT_ADVANCED, TAG, 0);
	start(&c, WAIT, &b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ADVANCED);
	start(&p, WAIT, &b, RALLY_FOREVER, 0); /* phase 1, index 0 */
	test_sleep_ms(5);
	int64_t t0 = test_now_ns();
	start(&d, WAIT, &b, timeout, 0); /* phase 1, index 1 */
	cr_expect_eq(finish(&d), RALLY_TIMEDOUT);
	cr_expect_lt(test_now_ns() - t0, timeout + 50000000,
	             "blocked while the earlier phase was completing");
	rally__pause_release(RALLY__POINT_ADVANCED);
	cr_expect_eq(finish(&a), 0, "phase 0 broken by a timeout of phase 1");
	cr_expect_eq(finish(&c), 1);
	cr_expect_eq(finish(&p), RALLY_BROKEN);
	cr_expect(rally_barrier_broken(&b));
}

Test(hardening, A3_a_timeout_of_the_next_phase_breaks_the_next_phase,
     .timeout = 20)
{
	next_phase_timeout(20000000);
}

Test(hardening, A3_a_last_arrival_with_timeout_0_breaks_its_own_phase,
     .timeout = 20)
{
	next_phase_timeout(0);
}

/* Found by the chaos stress: on a shared barrier a waiter's deadline passes
 * while the last party runs the action; the waiter looks again at the end
 * of its slice and broke what it saw — the action's BUSY — although the
 * phase had all its parties: it returned RALLY_TIMEDOUT and the phase then
 * completed for the others. A timeout cannot break a phase whose action
 * runs. */
Test(hardening, A3_a_deadline_during_the_action_does_not_break_the_phase,
     .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED,
	                             .action = slow_action,
	                             .action_arg = &s->in_action};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	struct call w, c;
	rally__pause_arm(RALLY__POINT_SLICE_ENDED, TAG, 0);
	start(&w, WAIT, &s->b, 30000000, TAG);
	parked(RALLY__POINT_SLICE_ENDED);         /* its deadline passed */
	start(&c, WAIT, &s->b, RALLY_FOREVER, 0); /* runs the 400 ms action */
	while (!atomic_load(&s->in_action))
		test_sleep_ms(1);
	rally__pause_release(RALLY__POINT_SLICE_ENDED);
	cr_expect_eq(finish(&w), 0, "the timeout broke a completing phase");
	cr_expect_eq(finish(&c), 1);
	cr_expect_not(rally_barrier_broken(&s->b));
}

/* ---- A4: resets while a completer is between its two steps -------------- */

/* The completer has moved arr on and not yet published when resets come:
 * the first one cancels the phase and must wait for the completer to
 * leave before it reuses anything; nobody returns an index. */
Test(hardening, A4_a_reset_waits_for_a_completer_between_its_steps,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	struct call a, c, r;
	start(&a, WAIT, b, RALLY_FOREVER, 0);
	await_waiting(b, 1);
	rally__pause_arm(RALLY__POINT_ADVANCED, TAG, 0);
	start(&c, WAIT, b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ADVANCED);
	start(&r, RESET, b, 0, 0);
	cr_expect_eq(finish(&a), RALLY_BROKEN);
	test_sleep_ms(100);
	cr_expect_not(atomic_load(&r.done),
	              "the reset did not wait for the completer");
	rally__pause_release(RALLY__POINT_ADVANCED);
	cr_expect_eq(finish(&r), 0);
	/* C found its phase cancelled as it first looked: it arrived again,
	 * in the fresh phase. More resets cancel that one (or find C arriving
	 * again); an abort ends its wait. */
	for (int i = 0; i < 8; i++)
		cr_expect_eq(rally_barrier_reset(b), 0);
	cr_expect_eq(rally_barrier_abort(b), 0);
	cr_expect_eq(finish(&c), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_reset(b), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
}

/* ---- A5: a pin taken while a reset records is kept -------------------- */

struct await_call {
	pthread_t th;
	rally_barrier_t *b;
	rally_token_t t;
	int rc;
};

static void *await_main(void *arg)
{
	struct await_call *c = arg;
	rally__point_tag(TAG);
	c->rc = rally_barrier_await(c->b, c->t, RALLY_FOREVER);
	return NULL;
}

/* An await of an old token pins its record while the reset that will
 * overwrite that record runs: the reset waits for it, the await reads its
 * own record, and the pin leaves no trace (destroy then returns). */
Test(hardening, A5_a_pin_during_the_reset_that_reuses_its_record, .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	rally_token_t old, dummy;
	cr_assert_eq(rally_barrier_arrive(b, &old), 0);
	for (int i = 0; i < 8; i++) { /* epochs 0 .. 7 end */
		if (i)
			rally_barrier_arrive(b, &dummy);
		cr_assert_eq(rally_barrier_reset(b), 0);
	}
	struct await_call p = {.b = b, .t = old};
	rally__pause_arm(RALLY__POINT_TOKEN_PINNED, TAG, 0);
	cr_assert_eq(pthread_create(&p.th, NULL, await_main, &p), 0);
	parked(RALLY__POINT_TOKEN_PINNED);
	rally_barrier_arrive(b, &dummy);
	struct call r; /* ends epoch 8, whose record takes old's slot */
	start(&r, RESET, b, 0, 0);
	test_sleep_ms(100);
	cr_expect_not(atomic_load(&r.done), "the reset ignored the pin");
	rally__pause_release(RALLY__POINT_TOKEN_PINNED);
	pthread_join(p.th, NULL);
	cr_expect_eq(p.rc, RALLY_BROKEN); /* cancelled by the first reset */
	cr_expect_eq(finish(&r), 0);
	struct call d;
	start(&d, DESTROY, b, 0, 0);
	for (int i = 0; i < 100 && !atomic_load(&d.done); i++)
		test_sleep_ms(10);
	cr_assert(atomic_load(&d.done), "destroy hangs on a lost pin");
	cr_expect_eq(finish(&d), 0);
	page_revoke(b);
}

/* ---- A6: n_waiting inside the action ------------------------------------ */

static _Atomic unsigned seen_in_action;
static rally_barrier_t action_barrier;

static int note_n_waiting(void *arg)
{
	(void)arg;
	atomic_store(&seen_in_action, rally_barrier_n_waiting(&action_barrier));
	return 0;
}

static void wait_action_barrier(unsigned i, void *arg)
{
	(void)i;
	(void)arg;
	rally_barrier_wait(&action_barrier);
}

Test(hardening, A6_n_waiting_inside_the_action_is_parties, .timeout = 20)
{
	rally_barrier_attr_t attr = {.action = note_n_waiting};
	cr_assert_eq(rally_barrier_init(&action_barrier, 3, &attr), 0);
	test_run_threads(3, wait_action_barrier, NULL);
	cr_expect_eq(atomic_load(&seen_in_action), 3);
	cr_expect_eq(rally_barrier_n_waiting(&action_barrier), 0);
	cr_expect_eq(rally_barrier_destroy(&action_barrier), 0);
}

/* ---- A7: a token of another barrier ------------------------------------- */

Test(hardening, A7_a_token_of_another_barrier_is_refused, .timeout = 20)
{
	rally_barrier_t b1, b2;
	cr_assert_eq(rally_barrier_init(&b1, 2, NULL), 0);
	cr_assert_eq(rally_barrier_init(&b2, 2, NULL), 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&b1, &t), 0);
	const uint32_t *word;
	uint32_t value;
	bool shared;
	cr_expect_eq(rally_barrier_await(&b2, t, 0), -EINVAL);
	cr_expect_eq(rally_barrier_await(&b2, t, RALLY_FOREVER), -EINVAL);
	cr_expect_eq(rally_barrier_test(&b2, t), -EINVAL);
	cr_expect_eq(rally_barrier_poll(&b2, t, 1000), -EINVAL);
	cr_expect_eq(rally_barrier_futex(&b2, t, &word, &value, &shared),
	             -EINVAL);
	cr_expect_not(rally_barrier_broken(&b2));
	cr_expect_eq(rally_barrier_test(&b1, t), 0);
	cr_expect_eq(rally_barrier_abort(&b1), 0);
}

/* ---- A8: 0 means do not block ------------------------------------------- */

static int slow(void *arg)
{
	_Atomic int *in = arg;
	atomic_store(in, 1);
	test_sleep_ms(400);
	atomic_store(in, 2);
	return 0;
}

static void expect_quick(int64_t t0, const char *what)
{
	cr_expect_lt(test_now_ns() - t0, 50000000, "%s blocked", what);
}

Test(hardening, A8_zero_timeouts_do_not_wait_for_an_action, .timeout = 20)
{
	_Atomic int in = 0;
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = slow, .action_arg = &in};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	rally_token_t mine, next;
	cr_assert_eq(rally_barrier_arrive(&b, &mine), 0);
	struct call c;
	start(&c, WAIT, &b, RALLY_FOREVER, 0); /* the last: runs the action */
	while (atomic_load(&in) == 0)
		test_sleep_ms(1);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_await(&b, mine, 0), -EAGAIN);
	expect_quick(t0, "await(own phase, 0)");
	cr_expect_eq(rally_barrier_arrive(&b, &next), 0); /* phase 1 */
	t0 = test_now_ns();
	cr_expect_eq(rally_barrier_await(&b, next, 0), RALLY_TIMEDOUT);
	expect_quick(t0, "await(next phase, 0)");
	t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN);
	expect_quick(t0, "timedwait(0)");
	cr_expect_eq(atomic_load(&in), 1, "the action ended meanwhile");
	cr_expect_eq(finish(&c), 1); /* phase 0 completed */
	cr_expect_eq(rally_barrier_await(&b, mine, 0), 0);
	cr_expect(rally_barrier_broken(&b));
}

Test(hardening, A8_timedwait_0_of_the_next_phase_does_not_wait_for_an_action,
     .timeout = 20)
{
	_Atomic int in = 0;
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = slow, .action_arg = &in};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct call a, c;
	start(&a, WAIT, &b, RALLY_FOREVER, 0);
	await_waiting(&b, 1);
	start(&c, WAIT, &b, RALLY_FOREVER, 0);
	while (atomic_load(&in) == 0)
		test_sleep_ms(1);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_TIMEDOUT);
	expect_quick(t0, "timedwait(0)");
	cr_expect_eq(finish(&a) + finish(&c), 1, "phase 0 completes");
	cr_expect(rally_barrier_broken(&b), "phase 1 is broken");
}

Test(hardening, A8_zero_timeouts_do_not_wait_for_a_reset, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, TAG, 0);
	struct call r;
	start(&r, RESET, &b, 0, TAG);
	parked(RALLY__POINT_RESET_RECORDED);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_await(&b, t, 0), RALLY_BROKEN);
	expect_quick(t0, "a zero timeout during a reset");
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	cr_expect_eq(finish(&r), 0);
	cr_expect_not(rally_barrier_broken(&b));
}

/* ---- A9: a dead action runner ------------------------------------------- */

static int sleep_in_action(void *arg)
{
	struct shared_state *s = arg;
	atomic_store(&s->in_action, 1);
	test_sleep_ms(20000);
	return 0;
}

/* The child arrives last and runs the action; it is killed inside. The
 * parent's waits, timed or not, must not hang on the dead runner. */
static void dead_runner(int64_t timeout)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {
	    .flags = RALLY_SHARED, .action = sleep_in_action, .action_arg = s};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	struct call w;
	start(&w, WAIT, &s->b, timeout, 0);
	await_waiting(&s->b, 1);
	pid_t child = fork();
	if (child == 0)
		_exit(rally_barrier_wait(&s->b) == 1 ? 0 : 1);
	while (!atomic_load(&s->in_action))
		test_sleep_ms(1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t t0 = test_now_ns();
	cr_expect_eq(finish(&w), RALLY_BROKEN);
	cr_expect_lt(test_now_ns() - t0, 1000000000, "took too long");
	cr_expect(rally_barrier_broken(&s->b));
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_eq(rally_barrier_abort(&s->b), 0);
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_eq(rally_barrier_destroy(&s->b), 0);
}

Test(hardening, A9_a_timed_wait_outlives_a_dead_action_runner, .timeout = 20)
{
	dead_runner(100000000);
}

Test(hardening, A9_a_wait_outlives_a_dead_action_runner, .timeout = 20)
{
	dead_runner(RALLY_FOREVER);
}

/* ---- B: robust mode ----------------------------------------------------- */

static struct shared_state *robust_state(unsigned parties)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(&s->b, parties, &attr), 0);
	return s;
}

static void *reset_thread(void *arg)
{
	rally__point_tag(TAG);
	rally_barrier_reset(arg);
	return NULL;
}

/* The action of B10's child: lets the child's resetting thread go on (it
 * read the state before the claim, and its CAS now fails), then sleeps. */
static int free_resetter_then_sleep(void *arg)
{
	rally__pause_release(RALLY__POINT_RESET_CLAIMING);
	return sleep_in_action(arg);
}

/* B10: in the child, a thread about to claim BUSY for a reset is overtaken
 * by another thread that claims it to run the action; the first one's
 * failed claim must not hide the holder (it cleared the owner, in the old
 * code). The child dies inside the action: the parent gets
 * RALLY_OWNERDEAD, not a hang. */
Test(hardening, B10_a_second_thread_of_the_holder_does_not_hide_it,
     .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST,
	                             .action = free_resetter_then_sleep,
	                             .action_arg = s};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	struct call w;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	await_waiting(&s->b, 1);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(&s->b);
		rally__pause_arm(RALLY__POINT_RESET_CLAIMING, TAG, 0);
		pthread_t t;
		pthread_create(&t, NULL, reset_thread, &s->b);
		if (!rally__pause_wait(RALLY__POINT_RESET_CLAIMING, 1,
		                       PAUSE_NS))
			_exit(3);
		_exit(rally_barrier_wait(&s->b) == 1 ? 0 : 1);
	}
	while (!atomic_load(&s->in_action))
		test_sleep_ms(1);
	test_sleep_ms(50); /* the resetter's claim fails meanwhile */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t t0 = test_now_ns();
	cr_expect_eq(finish(&w), RALLY_OWNERDEAD);
	cr_expect_lt(test_now_ns() - t0, 1000000000);
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
}

static void die_here(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	raise(SIGKILL);
}

/* B11: a monitor — not a participant — dies inside reset() holding BUSY:
 * the participants' waits must end, and the next reset must work. */
Test(hardening, B11_a_monitor_that_dies_inside_reset, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	struct call w;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	await_waiting(&s->b, 1);
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_RESET_RECORDED, die_here, NULL);
		rally_barrier_reset(&s->b);
		_exit(1);
	}
	waitpid(child, NULL, 0);
	cr_expect_eq(finish(&w), RALLY_BROKEN); /* the reset's claim */
	int64_t t0 = test_now_ns();
	int rc = rally_barrier_timedwait(&s->b, RALLY_FOREVER);
	cr_expect(rc == RALLY_OWNERDEAD || rc == RALLY_BROKEN, "rc %d", rc);
	cr_expect_lt(test_now_ns() - t0, 1000000000, "hung on the dead");
	/* The next reset takes over from the dead one. Held before it forgets
	 * the dead: the monitor took no part, so no slot names it — dead()
	 * listed nobody while waits said OWNERDEAD (review round 1). */
	struct call r;
	rally__pause_arm(RALLY__POINT_RESET_DRAINED, TAG, 0);
	start(&r, RESET, &s->b, 0, TAG);
	parked(RALLY__POINT_RESET_DRAINED);
	pid_t dead[4] = {0};
	cr_expect_eq(rally_barrier_dead(&s->b, dead, 4), 1);
	cr_expect_eq(dead[0], child, "the dead monitor is listed");
	rally__pause_release(RALLY__POINT_RESET_DRAINED);
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_dead(&s->b, NULL, 0), 0, "forgotten");
	cr_expect_not(rally_barrier_broken(&s->b));
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	int mine = rally_barrier_wait(&s->b);
	cr_expect_eq(mine + finish(&w), 1);
}

/* B12: destroy waits for a live caller that is slow to leave, however
 * long; it used to give up after 100 ms and free under it. */
Test(hardening, B12_destroy_waits_for_a_slow_live_caller, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	rally__pause_arm(RALLY__POINT_DECIDED, TAG, 0);
	struct call w, d;
	start(&w, WAIT, &s->b, RALLY_FOREVER, TAG);
	await_waiting(&s->b, 1);
	cr_expect_eq(rally_barrier_wait(&s->b), 1);
	parked(RALLY__POINT_DECIDED);
	start(&d, DESTROY, &s->b, 0, 0);
	test_sleep_ms(400);
	cr_expect_not(atomic_load(&d.done), "destroy gave up on a live caller");
	rally__pause_release(RALLY__POINT_DECIDED);
	cr_expect_eq(finish(&w), 0);
	cr_expect_eq(finish(&d), 0);
	page_revoke(s);
}

static bool listed_late(rally_barrier_t *b, pid_t pid)
{
	pid_t late[64];
	int n = rally_barrier_late(b, late, 64);
	for (int i = 0; i < n && i < 64; i++)
		if (late[i] == pid)
			return true;
	return false;
}

/* B13: two handles of one process take part once; closing one leaves the
 * process a participant, and the last close unregisters only it. */
Test(hardening, B13_two_handles_of_one_process, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "hard-b13-%d", (int)getpid());
	rally_barrier_attr_t attr = {.flags = RALLY_ROBUST};
	rally_barrier_t *h1, *h2, *h3;
	cr_assert_eq(rally_barrier_open(&h1, name, 2, &attr, O_CREAT, 0600), 0);
	cr_assert_eq(rally_barrier_open(&h2, name, 2, &attr, O_CREAT, 0600), 0);
	cr_expect_eq(rally_barrier_close(h1), 0);
	cr_expect(listed_late(h2, getpid()), "closing one handle ended it");
	int gate[2];
	cr_assert_eq(pipe(gate), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_t *c;
		if (rally_barrier_open(&c, name, 2, NULL, 0, 0) != 0)
			_exit(1);
		char x;
		(void)!read(gate[0], &x, 1); /* until the parent closed */
		_exit(listed_late(c, getpid()) ? 0 : 2);
	}
	for (int i = 0; i < 500 && !listed_late(h2, child); i++)
		test_sleep_ms(2);
	cr_expect(listed_late(h2, child));
	cr_assert_eq(rally_barrier_open(&h3, name, 2, NULL, 0, 0), 0);
	cr_expect_eq(rally_barrier_close(h2), 0);
	cr_expect(listed_late(h3, getpid()));
	cr_expect_eq(rally_barrier_close(h3), 0);
	(void)!write(gate[1], "x", 1);
	int st;
	waitpid(child, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "the parent's close unregistered the child (%d)", st);
	rally_barrier_unlink(name);
}

/* B14: a fork()ed child inherits the attach record; its detach must not
 * end the parent's part. */
Test(hardening, B14_a_forked_childs_detach_leaves_the_parent, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	cr_assert(listed_late(&s->b, getpid()));
	pid_t child = fork();
	if (child == 0)
		_exit(rally_barrier_detach(&s->b) == 0 ? 0 : 1);
	int st;
	waitpid(child, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_expect(listed_late(&s->b, getpid()), "the child's detach ended it");
}

static void linger(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	test_sleep_ms(300);
}

/* B15: a process registering in a slot another one left: a scan meanwhile
 * must not pair the new pid with the old start time (spurious death). */
Test(hardening, B15_no_spurious_death_while_a_slot_is_taken, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	pid_t first = fork();
	if (first == 0) /* takes a slot, then leaves it */
		_exit(rally_barrier_attach(&s->b) ||
		      rally_barrier_detach(&s->b));
	waitpid(first, NULL, 0);
	test_sleep_ms(30);     /* another start time (10 ms ticks) */
	pid_t second = fork(); /* takes the slot the first one left */
	if (second == 0) {
		rally__point_on(RALLY__POINT_REGISTERING, linger, NULL);
		rally_barrier_attach(&s->b);
		pause(); /* a live participant until killed */
		_exit(0);
	}
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&s->b, &t), 0);
	int rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++)
		rc = rally_barrier_poll(&s->b, t, 2000000); /* scans */
	cr_expect_eq(rc, 0, "a live registrant was taken for dead (%d)", rc);
	kill(second, SIGKILL);
	waitpid(second, NULL, 0);
}

/* B16: a participant dies after it arrived; the fast path (here every wait
 * completes alone) still learns of it within the detection bound, and the
 * dead pid is listed as dead, not late. */
Test(hardening, B16_a_death_is_seen_from_the_fast_path, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(&s->b, 1, &attr), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(&s->b);
		rally_barrier_wait(&s->b);
		pause();
		_exit(0);
	}
	while (rally_barrier_phase(&s->b) == 0) /* the child crossed */
		test_sleep_ms(1);
	test_sleep_ms(20);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int64_t t0 = test_now_ns();
	int rc = 0;
	while (rc >= 0 && test_now_ns() - t0 < 2000000000)
		rc = rally_barrier_wait(&s->b);
	cr_expect_eq(rc, RALLY_OWNERDEAD);
	cr_expect_lt(test_now_ns() - t0, 100000000, "took %lld ms",
	             (long long)(test_now_ns() - t0) / 1000000);
	pid_t dead[4];
	cr_expect_eq(rally_barrier_dead(&s->b, dead, 4), 1);
	cr_expect_eq(dead[0], child);
	cr_expect_not(listed_late(&s->b, child), "the dead listed as late");
}

/* ... and with two parties, the phase the dead one arrived in completes,
 * and the next one breaks at once, without waiting to scan. */
Test(hardening, B16_the_phase_after_a_dead_arrival_breaks_at_once,
     .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(&s->b);
		rally_barrier_wait(&s->b);
		_exit(0);
	}
	await_waiting(&s->b, 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	test_sleep_ms(30); /* past the scans' rate limit */
	cr_expect_eq(rally_barrier_wait(&s->b), 1, "its phase completes");
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&s->b, 0), RALLY_OWNERDEAD);
	cr_expect_lt(test_now_ns() - t0, 5000000);
}

/* ---- C: named objects -----------------------------------------------------
 */

static void unlink_name(enum rally__point p, void *arg)
{
	(void)p;
	rally_barrier_unlink(arg);
	rally__point_on(RALLY__POINT_OPEN_EXISTING, NULL, NULL);
}

/* C17: O_CREAT finds the name taken, and it is unlinked before it opens
 * it: it must create it again, not fail with -ENOENT. */
Test(hardening, C17_create_or_open_never_fails_with_enoent, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "hard-c17-%d", (int)getpid());
	rally_barrier_t *h0, *h1;
	cr_assert_eq(rally_barrier_open(&h0, name, 2, NULL, O_CREAT, 0600), 0);
	rally__point_on(RALLY__POINT_OPEN_EXISTING, unlink_name, name);
	cr_expect_eq(rally_barrier_open(&h1, name, 2, NULL, O_CREAT, 0600), 0);
	rally_barrier_close(h1);
	rally_barrier_close(h0);
	rally_barrier_unlink(name);
}

static void *shm_body(const char *path, size_t len)
{
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(p, MAP_FAILED);
	return (char *)p + 64; /* the header */
}

/* C18: a valid header over a corrupt barrier (parties 0: a division by
 * zero in the old code): refused at open; corrupted after the open, no
 * call crashes. */
Test(hardening, C18_a_corrupt_body_is_refused_not_a_crash, .timeout = 20)
{
	char name[64], path[128];
	snprintf(name, sizeof name, "hard-c18-%d", (int)getpid());
	snprintf(path, sizeof path, "/dev/shm/rally.b.%s", name);
	rally_barrier_t *h, *h2;
	cr_assert_eq(rally_barrier_open(&h, name, 2, NULL, O_CREAT, 0600), 0);
	uint32_t *words = shm_body(path, 64 + sizeof(rally_barrier_t));
	words[1] = 0; /* parties */
	cr_expect_eq(rally_barrier_open(&h2, name, 0, NULL, 0, 0), -EINVAL);
	cr_expect_eq(rally_barrier_parties(h), 2);
	(void)rally_barrier_n_waiting(h);
	(void)rally_barrier_timedwait(h, 0);
	memset(words + 2, 0xff, sizeof(rally_barrier_t) - 8);
	(void)rally_barrier_n_waiting(h);
	(void)rally_barrier_timedwait(h, 0);
	(void)rally_barrier_abort(h);
	pid_t late[4];
	(void)rally_barrier_late(h, late, 4);
	rally_barrier_close(h);
	rally_barrier_unlink(name);
}

/* C19: an invalid attr is refused when opening an existing barrier, as
 * when creating one. */
Test(hardening, C19_an_invalid_attr_is_refused_on_an_existing_object,
     .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "hard-c19-%d", (int)getpid());
	rally_barrier_t *h, *h2;
	cr_assert_eq(rally_barrier_open(&h, name, 2, NULL, O_CREAT, 0600), 0);
	rally_barrier_attr_t bad[] = {
	    {.timeout_ns = -5}, {.flags = 0x80}, {.spin = -7}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_expect_eq(rally_barrier_open(&h2, name, 0, &bad[i], 0, 0),
		             -EINVAL, "attr %zu", i);
		cr_expect_eq(
		    rally_barrier_open(&h2, name, 2, &bad[i], O_CREAT, 0600),
		    -EINVAL, "attr %zu with O_CREAT", i);
	}
	rally_barrier_close(h);
	rally_barrier_unlink(name);
}

static rally_barrier_t *second_handle;
static _Atomic int reset_from_action;

static int reset_other_handle(void *arg)
{
	(void)arg;
	atomic_store(&reset_from_action, rally_barrier_reset(second_handle));
	return 0;
}

/* C20: the action, run through one handle, resets the barrier through
 * another handle on the same name: -EDEADLK, not a hang. */
Test(hardening, C20_reset_from_the_action_through_a_second_handle,
     .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "hard-c20-%d", (int)getpid());
	rally_barrier_attr_t attr = {.action = reset_other_handle};
	rally_barrier_t *h1;
	cr_assert_eq(rally_barrier_open(&h1, name, 1, &attr, O_CREAT, 0600), 0);
	cr_assert_eq(rally_barrier_open(&second_handle, name, 1, NULL, 0, 0),
	             0);
	cr_expect_eq(rally_barrier_wait(h1), 0);
	cr_expect_eq(atomic_load(&reset_from_action), -EDEADLK);
	rally_barrier_close(second_handle);
	rally_barrier_close(h1);
	rally_barrier_unlink(name);
}

/* C21: every code a call returns has a text; an empty shm file (a creator
 * that died before sizing it, or not rally's) is refused without a busy
 * loop. */
Test(hardening, C21_codes_of_shm_open_are_named, .timeout = 20)
{
	char name[64], path[128];
	snprintf(name, sizeof name, "hard-c21-%d", (int)getpid());
	snprintf(path, sizeof path, "/dev/shm/rally.b.%s", name);
	cr_assert_eq(symlink("/dev/null", path), 0);
	rally_barrier_t *h;
	int rc = rally_barrier_open(&h, name, 2, NULL, O_CREAT, 0600);
	cr_expect_lt(rc, 0);
	cr_expect_str_neq(rally_strerror(rc), "unknown error code", "rc %d",
	                  rc);
	unlink(path);
}

Test(hardening, C21_an_empty_file_is_refused_without_spinning, .timeout = 20)
{
	char name[64], path[128];
	snprintf(name, sizeof name, "hard-c21e-%d", (int)getpid());
	snprintf(path, sizeof path, "/dev/shm/rally.b.%s", name);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	struct timespec c0, c1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	rally_barrier_t *h;
	cr_expect_eq(rally_barrier_open(&h, name, 2, NULL, 0, 0), -EINVAL);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
	cr_expect_lt(cpu, 0.2, "%.2f s of CPU", cpu);
	unlink(path);
}

/* Found while building the chaos stress: a process killed between claiming
 * a slot and publishing its id left the slot claimed for ever; 32 such
 * deaths and nobody could take part. Now a registrant takes over a dead
 * claimant's slot. */
Test(hardening, B17_a_process_killed_while_taking_a_slot_leaks_nothing,
     .timeout = 60)
{
	struct shared_state *s = robust_state(2);
	for (int i = 0; i < 40; i++) {
		pid_t child = fork();
		if (child == 0) {
			rally__point_on(RALLY__POINT_REGISTERING, die_here,
			                NULL);
			rally_barrier_attach(&s->b);
			_exit(1);
		}
		int st;
		waitpid(child, &st, 0);
		cr_assert(WIFSIGNALED(st),
		          "the child did not die taking a slot");
	}
	cr_expect_eq(rally_barrier_attach(&s->b), 0);
	cr_expect(listed_late(&s->b, getpid()));
	cr_expect_eq(rally_barrier_dead(&s->b, NULL, 0), 0,
	             "a claimant taken for a dead participant");
}

/* ---- review round 1 ------------------------------------------------------ */

/* Finding 1: the count of callers inside an epoch spans its phases; past
 * 2^28 of them the phase difference wrapped and reset and destroy waited
 * for ever. The epoch's baseline now moves on as phases complete. */
Test(hardening, R1_counts_survive_the_wrap_of_an_epochs_phases, .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally__barrier_skip_phases(&b, (1u << 28) - 4), 0);
	rally_token_t t;
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
		cr_assert_eq(rally_barrier_arrive(&b, &t), 1);
	}
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_TIMEDOUT);
	struct call r, d;
	start(&r, RESET, &b, 0, 0);
	for (int i = 0; i < 200 && !atomic_load(&r.done); i++)
		test_sleep_ms(10);
	cr_assert(atomic_load(&r.done), "reset hangs past the wrap");
	cr_expect_eq(finish(&r), 0);
	start(&d, DESTROY, &b, 0, 0);
	for (int i = 0; i < 200 && !atomic_load(&d.done); i++)
		test_sleep_ms(10);
	cr_assert(atomic_load(&d.done), "destroy hangs past the wrap");
	cr_expect_eq(finish(&d), 0);
}

/* Finding 2: a wait() that arrives while a reset cancels its phase leaves
 * and waits for the reset to end, then arrives again. While it waited it
 * was counted nowhere: destroy() after the reset returned 0 and the caller
 * then touched the freed barrier. Now it is counted as a re-arrival, and
 * destroy waits for it to come back in (then refuses: it waits). */
Test(hardening, R2_a_wait_that_waits_out_a_reset_keeps_destroy_away,
     .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	struct call a, r, w, x;
	start(&a, WAIT, b, RALLY_FOREVER, 0);
	await_waiting(b, 1);
	rally__pause_arm(RALLY__POINT_RESET_CLAIMED, 1, 0);
	start(&r, RESET, b, 0, 1);
	parked(RALLY__POINT_RESET_CLAIMED);
	cr_expect_eq(finish(&a), RALLY_BROKEN);
	rally__pause_arm(RALLY__POINT_SPUN, TAG, 0);
	start(&w, WAIT, b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_SPUN); /* waiting for the reset to end */
	rally__pause_release(RALLY__POINT_RESET_CLAIMED);
	cr_expect_eq(finish(&r), 0);
	/* destroy waits for W to come back in, then refuses: W waits. */
	struct call d;
	start(&d, DESTROY, b, 0, 0);
	test_sleep_ms(50);
	cr_expect_not(atomic_load(&d.done), "destroyed while a wait() was inside");
	rally__pause_release(RALLY__POINT_SPUN);
	cr_expect_eq(finish(&d), -EBUSY);
	await_waiting(b, 1); /* arrived again, in the fresh epoch */
	start(&x, WAIT, b, RALLY_FOREVER, 0);
	cr_expect_eq(finish(&w) + finish(&x), 1);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
}

/* The same on a robust barrier: a caller that waited there could die
 * counted nowhere; it returns at once instead, the phase it arrived in
 * being broken. */
Test(hardening, R2_a_robust_wait_during_a_reset_returns_broken,
     .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	struct call r, w;
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&s->b, &t), 0);
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, 1, 0);
	start(&r, RESET, &s->b, 0, 1);
	parked(RALLY__POINT_RESET_RECORDED);
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	for (int i = 0; i < 100 && !atomic_load(&w.done); i++)
		test_sleep_ms(10);
	cr_expect(atomic_load(&w.done), "the robust wait waits for the reset");
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(finish(&w), RALLY_BROKEN);
}

/* Finding 3: the wait for a reset to end ignored the caller's deadline. */
Test(hardening, R3_a_timed_wait_during_a_reset_keeps_its_deadline,
     .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, 1, 0);
	struct call r, w;
	start(&r, RESET, &b, 0, 1);
	parked(RALLY__POINT_RESET_RECORDED);
	start(&w, WAIT, &b, 50000000, 0);
	for (int i = 0; i < 100 && !atomic_load(&w.done); i++)
		test_sleep_ms(10);
	cr_expect(atomic_load(&w.done), "the deadline passed unseen");
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(finish(&w), RALLY_TIMEDOUT);
	cr_expect_not(rally_barrier_broken(&b), "the reset stands");
	cr_expect_eq(rally_barrier_n_waiting(&b), 0, "the timed out left");
}

static _Atomic bool action_go;

static int action_until_go(void *arg)
{
	(void)arg;
	while (!atomic_load(&action_go))
		test_sleep_ms(1);
	return 0;
}

/* Finding 9: a reset waiting for an action to end was counted nowhere:
 * destroy(), once the action had ended, returned 0 and the reset then
 * touched the freed barrier. */
Test(hardening, R9_a_reset_waiting_for_an_action_keeps_destroy_away,
     .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	rally_barrier_attr_t attr = {.action = action_until_go};
	atomic_store(&action_go, false);
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	struct call w1, w2, r;
	start(&w1, WAIT, b, RALLY_FOREVER, 0);
	start(&w2, WAIT, b, RALLY_FOREVER, 0);
	while (!rally__point_hits(RALLY__POINT_CLAIMED))
		test_sleep_ms(1);
	rally__pause_arm(RALLY__POINT_SLEEPING, TAG, 0);
	start(&r, RESET, b, 0, TAG);
	parked(RALLY__POINT_SLEEPING); /* waiting for the action */
	atomic_store(&action_go, true);
	cr_expect_eq(finish(&w1) + finish(&w2), 1);
	cr_expect_eq(rally_barrier_destroy(b), -EBUSY,
	             "destroyed while a reset was inside");
	rally__pause_release(RALLY__POINT_SLEEPING);
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_destroy(b), 0);
	page_revoke(b);
}

/* Finding 10: destroy() waited for a caller that had counted itself in but
 * not yet arrived; it arrived into an incomplete phase and waited for a
 * partner that destroy had locked out: both hung. destroy now refuses
 * (-EBUSY) once such a caller arrives, and the barrier goes on. */
Test(hardening, R10_destroy_refuses_a_caller_that_arrives_meanwhile,
     .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	rally__pause_arm(RALLY__POINT_ROBUST_ENTERED, TAG, 0);
	struct call w, d;
	start(&w, WAIT, &s->b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ROBUST_ENTERED);
	start(&d, DESTROY, &s->b, 0, 0);
	test_sleep_ms(50);
	cr_expect_not(atomic_load(&d.done), "destroy ignored a caller inside");
	rally__pause_release(RALLY__POINT_ROBUST_ENTERED);
	for (int i = 0; i < 200 && !atomic_load(&d.done); i++)
		test_sleep_ms(10);
	cr_assert(atomic_load(&d.done), "destroy hangs");
	cr_expect_eq(finish(&d), -EBUSY);
	cr_expect_eq(rally_barrier_wait(&s->b) + finish(&w), 1,
	             "the barrier goes on after the refusal");
}

/* Finding 4: a process that takes no part in a robust barrier (it never
 * attached; a fork()ed child) could wait there, counted only in a shared
 * tally; killed while waiting, it stayed counted for ever and every reset
 * and destroy hung. Such callers are refused (-EPERM); a monitor may still
 * look, abort and reset. */
Test(hardening, R4_a_robust_barrier_refuses_callers_that_take_no_part,
     .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	rally_token_t t;
	cr_expect_eq(rally_barrier_timedwait(&s->b, 0), -EPERM);
	cr_expect_eq(rally_barrier_arrive(&s->b, &t), -EPERM);
	cr_expect_not(rally_barrier_broken(&s->b));
	cr_expect_eq(rally_barrier_n_waiting(&s->b), 0);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	cr_assert_eq(rally_barrier_arrive(&s->b, &t), 0);
	pid_t child = fork();
	if (child == 0) {
		alarm(5);
		bool ok = rally_barrier_await(&s->b, t, 0) == -EPERM &&
		          rally_barrier_poll(&s->b, t, 0) == -EPERM &&
		          rally_barrier_wait(&s->b) == -EPERM &&
		          rally_barrier_test(&s->b, t) == 0;
		_exit(ok ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "a process that takes no part got in (status %#x)", st);
	cr_expect_eq(rally_barrier_n_waiting(&s->b), 1);
	cr_expect_eq(rally_barrier_reset(&s->b), 0, "a monitor may reset");
	cr_expect_eq(rally_barrier_await(&s->b, t, 0), RALLY_BROKEN);
	cr_expect_str_neq(rally_strerror(-EPERM), "unknown error code");
}

/* Finding 7: phases are numbered modulo 2^28 and compared within a window
 * of 2^27. A token whose phase completed 2^27 phases ago looked 2^27 - 1
 * phases ahead: test() said "not yet" for ever and await() hung. No caller
 * can be that far ahead (each phase ahead of the first incomplete one holds
 * a blocked completer), so a token more than 2^20 phases ahead is behind. */
Test(hardening, R7_a_token_awaited_2_27_phases_late_is_done, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t, x;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &x), 1);
	cr_assert_eq(rally__barrier_skip_phases(&b, (1u << 27) + 5), 0);
	cr_expect_eq(rally_barrier_test(&b, t), 1);
	cr_expect_eq(rally_barrier_await(&b, t, 100000000), 0);
	cr_expect_not(rally_barrier_broken(&b));
	/* A token of the phase in progress is still pending. */
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_test(&b, t), 0);
	cr_expect_eq(rally_barrier_await(&b, t, 0), RALLY_TIMEDOUT);
}

/* Finding 11: only a wait's slices looked for a dead BUSY holder; an event
 * loop that asks with test(), await(token, 0) or futex() never waits, and
 * was told "not yet" (or -EAGAIN) for ever once the action's runner died.
 * They look too, rate limited. */
static void asks_outlive_a_dead_runner(int how)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {
	    .flags = RALLY_SHARED, .action = sleep_in_action, .action_arg = s};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&s->b, &t), 0);
	pid_t child = fork();
	if (child == 0)
		_exit(rally_barrier_wait(&s->b) == 1 ? 0 : 1);
	while (!atomic_load(&s->in_action))
		test_sleep_ms(1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	int rc = 0;
	const uint32_t *word;
	uint32_t value;
	bool shared;
	for (int i = 0; i < 100 && (rc == 0 || rc == -EAGAIN); i++) {
		test_sleep_ms(10);
		rc = how == 0   ? rally_barrier_test(&s->b, t)
		     : how == 1 ? rally_barrier_await(&s->b, t, 0)
		                : rally_barrier_futex(&s->b, t, &word, &value,
		                                      &shared);
	}
	cr_expect_eq(rc, RALLY_BROKEN, "after 1 s of asking: %d", rc);
	cr_expect(rally_barrier_broken(&s->b));
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_eq(rally_barrier_destroy(&s->b), 0);
}

Test(hardening, R11_test_outlives_a_dead_action_runner, .timeout = 20)
{
	asks_outlive_a_dead_runner(0);
}

Test(hardening, R11_await_0_outlives_a_dead_action_runner, .timeout = 20)
{
	asks_outlive_a_dead_runner(1);
}

Test(hardening, R11_futex_outlives_a_dead_action_runner, .timeout = 20)
{
	asks_outlive_a_dead_runner(2);
}

/* Finding 12: a monitor (rally status, abort, reset) opened the name as a
 * participant and detached after: killed in between, it was a dead
 * participant and broke the barrier; with 32 participants it could not
 * open at all (-ENOSPC). RALLY_WATCH opens without taking part. */
Test(hardening, R12_a_watcher_takes_no_part, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "hard-r12-%d", (int)getpid());
	rally_barrier_attr_t robust = {.flags = RALLY_ROBUST};
	rally_barrier_attr_t watch = {.flags = RALLY_WATCH};
	rally_barrier_t *h, *w;
	cr_assert_eq(rally_barrier_open(&h, name, 2, &robust, O_CREAT, 0600),
	             0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_t *cw;
		if (rally_barrier_open(&cw, name, 0, &watch, 0, 0) != 0)
			_exit(1);
		raise(SIGKILL);
	}
	int st;
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFSIGNALED(st), "the watcher could not open");
	cr_expect_eq(rally_barrier_dead(h, NULL, 0), 0, "a dead watcher");
	cr_expect_eq(rally_barrier_timedwait(h, 200000000), RALLY_TIMEDOUT);
	cr_assert_eq(rally_barrier_open(&w, name, 0, &watch, 0, 0), 0);
	cr_expect_eq(rally_barrier_timedwait(w, 0), -EPERM);
	cr_expect(rally_barrier_broken(w));
	cr_expect_eq(rally_barrier_reset(w), 0);
	pid_t late[4];
	cr_expect_eq(rally_barrier_late(w, late, 4), 1, "only the opener");
	rally_barrier_close(w);
	rally_barrier_t in_place;
	cr_expect_eq(rally_barrier_init(&in_place, 2, &watch), -EINVAL,
	             "a barrier is watched, not made watching");
	rally_barrier_close(h);
	rally_barrier_unlink(name);
}

/* Found by the model (robust.pml): a reset forgot the dead after moving arr
 * into the new epoch; a participant that arrived in the new epoch and died
 * before the reset forgot the dead was forgotten too — its death was never
 * found, and the phase after waited for ever. The dead are now forgotten
 * before the swap. */
Test(hardening, M4_a_death_in_the_new_epoch_is_not_forgotten, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	cr_assert_eq(rally_barrier_abort(&s->b), 0); /* work for the reset */
	rally__pause_arm(RALLY__POINT_RESET_SWAPPED, TAG, 0);
	struct call r;
	start(&r, RESET, &s->b, 0, TAG);
	parked(RALLY__POINT_RESET_SWAPPED);
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		if (rally_barrier_attach(&s->b) != 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		rally_barrier_wait(&s->b); /* in the new epoch */
		_exit(2);
	}
	char x;
	cr_assert_eq(read(ready[0], &x, 1), 1);
	test_sleep_ms(100); /* it arrived */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rally__pause_release(RALLY__POINT_RESET_SWAPPED);
	cr_expect_eq(finish(&r), 0);
	/* The child had arrived: its phase completes with us. */
	cr_expect_eq(rally_barrier_timedwait(&s->b, 2000000000), 1);
	cr_expect_eq(rally_barrier_timedwait(&s->b, 500000000), RALLY_OWNERDEAD,
	             "the death in the new epoch was forgotten");
	close(ready[0]);
	close(ready[1]);
}

/* Found by the model (barrier.pml, with 2-bit phase numbers): callers of a
 * broken barrier still arrive, so the arrivals' phase runs ahead of the
 * broken one; a loop retrying RALLY_BROKEN took it 2^27 phases ahead in
 * seconds, where the comparison window wraps: a wait then returned an
 * index from the broken barrier. A caller that finds its phase that far
 * ahead now guards the barrier: from then on callers look before they
 * arrive, until the reset. */
Test(hardening, M3_a_broken_barrier_stays_broken_however_long_retried,
     .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally__barrier_arrive_broken(&b, (1u << 27) - 8), 0);
	rally_token_t t;
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN,
		             "call %d", i);
		cr_assert_eq(rally_barrier_arrive(&b, &t), RALLY_BROKEN,
		             "arrive %d", i);
	}
	cr_expect_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_arrive(&b, &t), 0);
	cr_expect_eq(rally_barrier_timedwait(&b, 0), 1);
	cr_expect_eq(rally_barrier_await(&b, t, 0), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* ---- found by reading the model's take-over ---------------------------- */

static int failing_action(void *arg)
{
	(void)arg;
	return 1;
}

/* A shared barrier's action fails, and its runner dies after it counted
 * itself out but before it published: the taker counted the dead runner
 * out a second time, and every reset and destroy after waited for ever
 * for a caller below zero. */
Test(hardening, M5_a_dead_runner_of_a_failed_action_is_counted_out_once,
     .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED,
	                             .action = failing_action};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	struct call w;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	await_waiting(&s->b, 1);
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_ACTION_FAILED, die_here, NULL);
		rally_barrier_wait(&s->b);
		_exit(1);
	}
	waitpid(child, NULL, 0);
	cr_expect_eq(finish(&w), RALLY_BROKEN);
	struct call r;
	start(&r, RESET, &s->b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&r.done) &&
	       test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&r.done), "the reset hung on a caller below zero");
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_destroy(&s->b), 0);
}

/* A reset killed after it moved arr into the next epoch, before it
 * published: the barrier stays broken (taken over), the next reset
 * finishes its work, and destroy never hangs on the epochs' mismatch —
 * it refuses while the dead reset counts as a visitor (README: a process
 * killed inside reset or abort). */
Test(hardening, M6_a_reset_killed_after_its_swap, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_abort(&s->b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_RESET_SWAPPED, die_here, NULL);
		rally_barrier_reset(&s->b);
		_exit(1);
	}
	waitpid(child, NULL, 0);
	cr_expect_eq(rally_barrier_timedwait(&s->b, 100000000), RALLY_BROKEN);
	struct call d;
	start(&d, DESTROY, &s->b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&d.done) && test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&d.done), "destroy hung");
	int rc = finish(&d);
	cr_expect(rc == 0 || rc == -EBUSY, "destroy: %d", rc);
	if (rc == 0)
		return;
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_not(rally_barrier_broken(&s->b));
	struct call w;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	int mine = rally_barrier_wait(&s->b);
	cr_expect_eq(mine + finish(&w), 1);
}

/* Review round 2, finding 1: a live action runner judged dead (its
 * process's main thread had called pthread_exit(): /proc said Z; or a PID
 * namespace hid it) was taken over, and then published its phase as
 * complete over the broken state: its waiters got RALLY_BROKEN while it
 * returned an index, and the taker's count of it made every reset hang.
 * A runner that finds BUSY taken from it publishes nothing. */
Test(hardening, M7_a_runner_taken_over_alive_publishes_nothing, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED, .action = noop};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	struct call w, c;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	await_waiting(&s->b, 1);
	rally__pause_arm(RALLY__POINT_ACTION_RAN, TAG, 0);
	start(&c, WAIT, &s->b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ACTION_RAN);
	cr_assert_eq(rally__barrier_seize_busy(&s->b), 0);
	cr_expect_eq(finish(&w), RALLY_BROKEN);
	rally__pause_release(RALLY__POINT_ACTION_RAN);
	cr_expect_eq(finish(&c), RALLY_BROKEN, "all broken or none");
	cr_expect(rally_barrier_broken(&s->b));
	struct call r;
	start(&r, RESET, &s->b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&r.done) && test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&r.done), "the reset hung: counted out twice");
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_destroy(&s->b), 0);
}

/* The same finding's cause: a process whose main thread called
 * pthread_exit() lives on in its other threads, though /proc calls it a
 * zombie. Its action must not be taken over. */
static void *exit_main_then_wait(void *arg)
{
	struct shared_state *s = arg;
	test_sleep_ms(100);
	_exit(rally_barrier_wait(&s->b) == 1 ? 0 : 1);
}

static int slow_noop(void *arg)
{
	(void)arg;
	test_sleep_ms(300);
	return 0;
}

Test(hardening, M7_a_process_whose_main_thread_exited_lives, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED,
	                             .action = slow_noop};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	pid_t child = fork();
	if (child == 0) {
		pthread_t t;
		pthread_create(&t, NULL, exit_main_then_wait, s);
		pthread_exit(NULL);
	}
	cr_expect_eq(rally_barrier_wait(&s->b), 0, "taken over alive");
	int st;
	waitpid(child, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the runner: %x", st);
	cr_expect_eq(rally_barrier_destroy(&s->b), 0);
}

/* Review round 2, finding 3: a process killed while it waits on a shared
 * barrier that is not robust never leaves; destroy waited for it for
 * ever. It answers -EBUSY once nothing has moved for a second. */
Test(hardening, M8_destroy_gives_up_on_a_dead_waiter, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	pid_t child = fork();
	if (child == 0)
		_exit(rally_barrier_wait(&s->b));
	await_waiting(&s->b, 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_expect_eq(rally_barrier_wait(&s->b), 1);
	struct call d;
	start(&d, DESTROY, &s->b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&d.done) && test_now_ns() - t0 < 5000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&d.done), "destroy hung on the dead");
	cr_expect_eq(finish(&d), -EBUSY);
	cr_expect_eq(rally_barrier_parties(&s->b), 2, "still usable");
}

/* Review round 2, finding 4: the same for a shared event: once it is set,
 * destroy waited for a killed waiter to leave, for ever. */
Test(hardening, M9_event_destroy_gives_up_on_a_dead_waiter, .timeout = 20)
{
	rally_event_t *e = page_alloc(true);
	cr_assert_eq(rally_event_init(e, RALLY_SHARED), 0);
	pid_t child = fork();
	if (child == 0)
		_exit(rally_event_wait(e, RALLY_FOREVER));
	test_sleep_ms(200);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_expect_eq(rally_event_destroy(e), -EBUSY, "clear: blocked");
	cr_assert_eq(rally_event_set(e), 0);
	struct call d;
	start(&d, EVENT_DESTROY, e, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&d.done) && test_now_ns() - t0 < 5000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&d.done), "destroy hung on the dead");
	cr_expect_eq(finish(&d), -EBUSY);
	cr_expect_eq(rally_event_wait(e, 0), 0, "still usable");
}

/* Review round 2, finding 6: destroy forgot to drop the process's record
 * of an attached barrier in place: after 64, attach said -ENOSPC. */
Test(hardening, M10_destroy_drops_the_attachment, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(rally_barrier_init(&s->b, 1, &attr), 0);
		cr_assert_eq(rally_barrier_attach(&s->b), 0, "barrier %d", i);
		cr_assert_eq(rally_barrier_wait(&s->b), 0);
		cr_assert_eq(rally_barrier_destroy(&s->b), 0);
	}
}

/* Review round 2, finding 7: attach on a handle this process had
 * detached answered 0 and left it out (waits said -EPERM). */
Test(hardening, M11_a_detached_handle_attaches_again, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "rally-test-reattach-%d", (int)getpid());
	rally_barrier_attr_t attr = {.flags = RALLY_ROBUST};
	rally_barrier_t *b;
	rally_barrier_unlink(name);
	cr_assert_eq(rally_barrier_open(&b, name, 1, &attr, O_CREAT, 0600), 0);
	cr_expect_eq(rally_barrier_wait(b), 0);
	cr_expect_eq(rally_barrier_detach(b), 0);
	cr_expect_eq(rally_barrier_wait(b), -EPERM);
	cr_expect_eq(rally_barrier_attach(b), 0);
	cr_expect_eq(rally_barrier_wait(b), 0, "takes part again");
	cr_expect_eq(rally_barrier_attach(b), 0, "once");
	cr_expect_eq(rally_barrier_close(b), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

/* Found by the model: every phase's last arrival on a broken barrier
 * still tries to complete, and moved the epoch's baseline on over phases
 * that never completed (a rebase was due 2^24 phases into the epoch):
 * destroy and reset then counted callers inside for ever. A completer now
 * rebases only while gen names its phase. */
static void rebase_past_a_break(enum op op)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	cr_assert_eq(rally__barrier_skip_phases(b, (1u << 24) - 2), 0);
	cr_assert_eq(rally_barrier_abort(b), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(rally_barrier_timedwait(b, 0), RALLY_BROKEN);
	struct call c;
	start(&c, op, b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&c.done) && test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&c.done), "hung: the baseline passed the break");
	cr_expect_eq(finish(&c), 0);
	if (op == RESET) {
		struct call w;
		start(&w, WAIT, b, RALLY_FOREVER, 0);
		int mine = rally_barrier_wait(b);
		cr_expect_eq(mine + finish(&w), 1);
		cr_expect_eq(rally_barrier_destroy(b), 0);
	}
}

Test(hardening, M12_destroy_after_a_break_at_a_rebase, .timeout = 20)
{
	rebase_past_a_break(DESTROY);
}

Test(hardening, M12_reset_after_a_break_at_a_rebase, .timeout = 20)
{
	rebase_past_a_break(RESET);
}

/* ---- S: an arrival that blocks, in a runtime that waits in slices -------
 *
 * The Python binding and the rally command arrive, then wait in slices
 * between which they look for signals and their deadline. The arrival
 * itself blocks when it is the last of a phase whose predecessor's action
 * still runs, or when a reset is under way: with rally_barrier_arrive()
 * neither a timeout nor Ctrl-C ended that (review 2). They arrive with
 * rally__barrier_timedarrive(): a deadline, and go_on asked every 50 ms. */

/* go_on's record: when it was asked, and the answer to give. */
struct asked {
	_Atomic unsigned n;
	unsigned stop_at; /* answers false on this ask (0: never) */
	int64_t first_ns, last_ns, max_gap_ns;
};

static bool asked_go_on(void *arg)
{
	struct asked *a = arg;
	int64_t now = test_now_ns();
	unsigned n = atomic_fetch_add(&a->n, 1) + 1;
	if (n == 1)
		a->first_ns = now;
	else if (now - a->last_ns > a->max_gap_ns)
		a->max_gap_ns = now - a->last_ns;
	a->last_ns = now;
	return n != a->stop_at;
}

/* An action that runs until let go. */
static _Atomic int held_action_in, held_action_go;

static int held_action(void *arg)
{
	(void)arg;
	atomic_store(&held_action_in, 1);
	while (!atomic_load(&held_action_go))
		test_sleep_ms(1);
	return 0;
}

/* Phase 0's action runs (held) in a thread of its own, phase 1 has its
 * first arrival (*t1): the caller is next, the last arrival of phase 1. */
static void action_held(rally_barrier_t *b, struct call *w0, struct call *w1,
                        rally_token_t *t1)
{
	atomic_store(&held_action_in, 0);
	atomic_store(&held_action_go, 0);
	rally_barrier_attr_t attr = {.action = held_action};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	start(w0, WAIT, b, RALLY_FOREVER, 0);
	await_waiting(b, 1);
	start(w1, WAIT, b, RALLY_FOREVER, 0);
	while (!atomic_load(&held_action_in))
		test_sleep_ms(1);
	cr_assert_eq(rally_barrier_arrive(b, t1), 0);
}

/* The action ends: phase 0 completes; phase 1 was broken by the caller. */
static void action_let_go(rally_barrier_t *b, struct call *w0, struct call *w1,
                          rally_token_t t1)
{
	atomic_store(&held_action_go, 1);
	cr_expect_eq(finish(w0) + finish(w1), 1, "phase 0 did not complete");
	cr_expect_eq(rally_barrier_await(b, t1, RALLY_FOREVER), RALLY_BROKEN);
	cr_expect(rally_barrier_broken(b));
	cr_expect_eq(rally_barrier_destroy(b), 0);
}

Test(hardening, S1_the_last_arrival_times_out_while_an_earlier_action_runs,
     .timeout = 20)
{
	rally_barrier_t b;
	struct call w0, w1;
	rally_token_t t1, t;
	action_held(&b, &w0, &w1, &t1);
	struct asked a = {0};
	int64_t t0 = test_now_ns();
	int rc = rally__barrier_timedarrive(&b, &t, 200000000, asked_go_on, &a);
	int64_t took = test_now_ns() - t0;
	cr_expect_eq(rc, RALLY_TIMEDOUT);
	cr_expect_geq(took, 200000000, "early: %lld ns", (long long)took);
	cr_expect_lt(took, 1000000000, "timeout 0.2 s took %lld ns",
	             (long long)took);
	cr_expect_geq(atomic_load(&a.n), 2, "go_on asked %u times in 0.2 s",
	              atomic_load(&a.n));
	cr_expect(atomic_load(&held_action_in) && !atomic_load(&held_action_go),
	          "the action ended first");
	action_let_go(&b, &w0, &w1, t1);
}

Test(hardening, S2_go_on_stops_the_last_arrival_while_an_earlier_action_runs,
     .timeout = 20)
{
	rally_barrier_t b;
	struct call w0, w1;
	rally_token_t t1, t;
	action_held(&b, &w0, &w1, &t1);
	struct asked a = {.stop_at = 3};
	int64_t t0 = test_now_ns();
	int rc =
	    rally__barrier_timedarrive(&b, &t, RALLY_FOREVER, asked_go_on, &a);
	int64_t took = test_now_ns() - t0;
	/* Stopped as at a deadline: its phase broken, as timedwait's. */
	cr_expect_eq(rc, RALLY_TIMEDOUT);
	cr_expect_eq(atomic_load(&a.n), 3, "asked %u times", atomic_load(&a.n));
	/* Asked at least every 50 ms (the slack: a loaded 2-CPU machine). */
	cr_expect_lt(a.first_ns - t0, 50000000 + 100000000,
	             "first ask after %lld ns", (long long)(a.first_ns - t0));
	cr_expect_lt(a.max_gap_ns, 50000000 + 100000000, "asks %lld ns apart",
	             (long long)a.max_gap_ns);
	cr_expect_lt(took - (a.last_ns - t0), 100000000,
	             "returned %lld ns after the stop",
	             (long long)(took - (a.last_ns - t0)));
	cr_expect(!atomic_load(&held_action_go), "the action ended first");
	test_sleep_ms(120);
	cr_expect_eq(atomic_load(&a.n), 3, "asked again after the stop");
	action_let_go(&b, &w0, &w1, t1);
}

Test(hardening, S3_an_arrival_during_a_reset_ends_at_its_deadline_or_stop,
     .timeout = 20)
{
	rally_barrier_t *b = page_alloc(false);
	cr_assert_eq(rally_barrier_init(b, 2, NULL), 0);
	struct call a, r;
	start(&a, WAIT, b, RALLY_FOREVER, 0);
	await_waiting(b, 1);
	rally__pause_arm(RALLY__POINT_RESET_CLAIMED, 1, 0);
	start(&r, RESET, b, 0, 1);
	parked(RALLY__POINT_RESET_CLAIMED); /* the reset holds the barrier */
	cr_expect_eq(finish(&a), RALLY_BROKEN);
	rally_token_t t;
	struct asked k = {0};
	int64_t t0 = test_now_ns();
	int rc = rally__barrier_timedarrive(b, &t, 200000000, asked_go_on, &k);
	int64_t took = test_now_ns() - t0;
	cr_expect_eq(rc, RALLY_TIMEDOUT);
	cr_expect_geq(took, 200000000, "early: %lld ns", (long long)took);
	cr_expect_lt(took, 1000000000, "timeout 0.2 s took %lld ns",
	             (long long)took);
	cr_expect_geq(atomic_load(&k.n), 2, "go_on asked %u times in 0.2 s",
	              atomic_load(&k.n));
	/* 0 does not block: broken at this instant, as timedwait(0). */
	t0 = test_now_ns();
	cr_expect_eq(rally__barrier_timedarrive(b, &t, 0, asked_go_on, &k),
	             RALLY_BROKEN);
	cr_expect_lt(test_now_ns() - t0, 50000000, "timeout 0 blocked");
	struct asked s = {.stop_at = 1};
	t0 = test_now_ns();
	cr_expect_eq(
	    rally__barrier_timedarrive(b, &t, RALLY_FOREVER, asked_go_on, &s),
	    -EINTR);
	took = test_now_ns() - t0;
	cr_expect_lt(took, 50000000 + 100000000, "stopped after %lld ns",
	             (long long)took);
	cr_expect_eq(atomic_load(&s.n), 1);
	rally__pause_release(RALLY__POINT_RESET_CLAIMED);
	cr_expect_eq(finish(&r), 0);
	/* They broke nothing and left nothing behind: no phantom arrival, no
	 * re-arrival that destroy would wait for. */
	cr_expect_not(rally_barrier_broken(b));
	cr_expect_eq(rally_barrier_n_waiting(b), 0);
	struct call x;
	start(&x, WAIT, b, RALLY_FOREVER, 0);
	int mine = rally_barrier_timedwait(b, 5000000000);
	cr_expect_eq(mine + finish(&x), 1);
	cr_expect_eq(rally_barrier_destroy(b), 0);
}

Test(hardening, S4_go_on_is_not_asked_when_nothing_blocks, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct asked k = {.stop_at = 1};
	rally_token_t t0, t1;
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(rally__barrier_timedarrive(&b, &t0, 1000000000,
		                                        asked_go_on, &k),
		             0);
		cr_assert_eq(rally__barrier_timedarrive(&b, &t1, RALLY_FOREVER,
		                                        asked_go_on, &k),
		             1);
		cr_assert_eq(rally_barrier_await(&b, t0, 0), 0);
		cr_assert_eq(rally_barrier_await(&b, t1, 0), 0);
	}
	cr_expect_eq(atomic_load(&k.n), 0);
	cr_expect_eq(rally__barrier_timedarrive(&b, &t0, -2, NULL, NULL),
	             -EINVAL);
	cr_expect_eq(rally__barrier_timedarrive(&b, NULL, 0, NULL, NULL),
	             -EINVAL);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* An action that waits on its own barrier: its arrival is the last of the
 * next phase, which waits for the action's own — for ever, unless stopped.
 * (The Python binding's action calling wait(timeout=...).) */
static struct asked self_asked;
static int self_rc;

static int waits_on_itself(void *arg)
{
	rally_token_t t;
	self_rc = rally__barrier_timedarrive(arg, &t, RALLY_FOREVER,
	                                     asked_go_on, &self_asked);
	return 0;
}

Test(hardening, S5_an_action_that_waits_on_its_barrier_can_be_stopped,
     .timeout = 20)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = waits_on_itself,
	                             .action_arg = &b};
	cr_assert_eq(rally_barrier_init(&b, 1, &attr), 0);
	self_asked = (struct asked){.stop_at = 2};
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_wait(&b), 0);
	cr_expect_lt(test_now_ns() - t0, 2 * 50000000 + 100000000);
	cr_expect_eq(self_rc, RALLY_TIMEDOUT);
	cr_expect_eq(atomic_load(&self_asked.n), 2);
	/* Its phase (the next) was broken, as a timeout breaks it. */
	cr_expect_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* Review round 3, finding 1: a setter of a shared event killed between
 * its CAS (which took the sleepers' bit off) and its wake: the waiters
 * slept for ever, and no later set woke them. They sleep in slices. */
Test(hardening, M13_a_setter_killed_before_its_wake, .timeout = 20)
{
	rally_event_t *e = page_alloc(true);
	cr_assert_eq(rally_event_init(e, RALLY_SHARED), 0);
	struct call w;
	start(&w, EVENT_WAIT, e, RALLY_FOREVER, 0);
	test_sleep_ms(200); /* asleep */
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_EVENT_SET, die_here, NULL);
		rally_event_set(e);
		_exit(1);
	}
	int st;
	waitpid(child, &st, 0);
	cr_assert(WIFSIGNALED(st), "the setter was not killed at its point");
	cr_assert(rally_event_is_set(e));
	int64_t t0 = test_now_ns();
	while (!atomic_load(&w.done) && test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&w.done), "the waiter still sleeps");
	cr_expect_eq(finish(&w), 0);
	cr_expect_eq(rally_event_destroy(e), 0);
}

/* Review round 3, finding 2: a barrier in place attached here and
 * destroyed by another process (or its memory unmapped, or reused) kept
 * its entry in this process's record: after 64, attach said -ENOSPC. An
 * attach that finds no free entry takes one whose barrier is gone. */
Test(hardening, M14_entries_of_barriers_gone_elsewhere_are_reused,
     .timeout = 30)
{
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	rally_barrier_t *reused = page_alloc(true);
	for (int i = 0; i < 140; i++) {
		rally_barrier_t *b = i % 2 ? page_alloc(true) : reused;
		cr_assert_eq(rally_barrier_init(b, 1, &attr), 0);
		cr_assert_eq(rally_barrier_attach(b), 0, "round %d", i);
		cr_assert_eq(rally_barrier_wait(b), 0);
		pid_t child = fork();
		if (child == 0)
			_exit(rally_barrier_destroy(b) == 0 ? 0 : 1);
		int st;
		waitpid(child, &st, 0);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		if (i % 2)
			munmap(b, PAGE);
	}
}

/* Review round 3, finding 3: two threads attaching at once took one
 * entry, and one barrier's attach was lost (its waits said -EPERM). */
static rally_barrier_t *attach_b;
static void *attach_main(void *arg)
{
	(void)arg;
	rally__point_tag(TAG);
	return (void *)(intptr_t)rally_barrier_attach(attach_b);
}

Test(hardening, M15_two_threads_attach_at_once, .timeout = 20)
{
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	rally_barrier_t *b0 = page_alloc(true), *b1 = page_alloc(true);
	cr_assert_eq(rally_barrier_init(b0, 1, &attr), 0);
	cr_assert_eq(rally_barrier_init(b1, 1, &attr), 0);
	attach_b = b0;
	rally__pause_arm(RALLY__POINT_ATTACHING, TAG, 0);
	pthread_t th;
	pthread_create(&th, NULL, attach_main, NULL);
	parked(RALLY__POINT_ATTACHING);
	cr_expect_eq(rally_barrier_attach(b1), 0);
	rally__pause_release(RALLY__POINT_ATTACHING);
	void *rc;
	pthread_join(th, &rc);
	cr_expect_eq((intptr_t)rc, 0);
	cr_expect_eq(rally_barrier_wait(b0), 0, "b0 attached");
	cr_expect_eq(rally_barrier_wait(b1), 0, "b1 attached");
	cr_expect_eq(rally_barrier_detach(b0), 0);
	cr_expect_eq(rally_barrier_detach(b1), 0);
	cr_expect_eq(rally_barrier_destroy(b0), 0);
	cr_expect_eq(rally_barrier_destroy(b1), 0);
}

/* Review round 5, finding 4: a process out of file descriptors read every
 * /proc/PID/stat as gone: it took a live action runner's BUSY over and
 * broke the phase the runner completed (and on a robust barrier, every
 * live participant for dead). Only ENOENT/ESRCH mean gone now. */
static int slow_400ms(void *arg)
{
	(void)arg;
	test_sleep_ms(400);
	return 0;
}

Test(hardening, M16_out_of_descriptors_is_not_a_death, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED,
	                             .action = slow_400ms};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	pid_t child = fork();
	if (child == 0) {
		test_sleep_ms(100); /* the last: runs the action */
		_exit(rally_barrier_wait(&s->b) == 1 ? 0 : 1);
	}
	struct rlimit rl = {64, 64};
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	int first = -1, fd;
	while ((fd = dup(0)) >= 0)
		if (first < 0)
			first = fd;
	cr_expect_eq(rally_barrier_timedwait(&s->b, 2000000000), 0,
	             "a live runner taken for dead");
	for (fd = first; fd >= 0 && fd < 64; fd++)
		close(fd);
	int st;
	waitpid(child, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the runner: %x", st);
}

/* Review round 5, finding 3: reset on an idle, whole robust barrier
 * returned at once and forgot nobody: a participant dead between phases
 * stayed listed, and the phase after broke. */
Test(hardening, M17_reset_forgets_the_dead_of_an_idle_barrier, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	pid_t z = fork();
	if (z == 0)
		_exit(rally_barrier_attach(&s->b)); /* dies attached */
	waitpid(z, NULL, 0);
	pid_t dead[4];
	cr_assert_eq(rally_barrier_dead(&s->b, dead, 4), 1);
	cr_expect_not(rally_barrier_broken(&s->b));
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_eq(rally_barrier_dead(&s->b, NULL, 0), 0, "forgotten");
	for (int i = 0; i < 3; i++) {
		struct call w;
		start(&w, WAIT, &s->b, 2000000000, 0);
		int mine = rally_barrier_timedwait(&s->b, 2000000000);
		cr_expect_eq(mine + finish(&w), 1, "phase %d", i);
	}
}

/* Review round 5, finding 5: a token whose phase was corrupted (here: 5000
 * and 500 phases ahead) made await(token, 0) wait for ever, or broke a
 * phase nobody had reached. A token beyond the arrivals is refused. */
static rally_token_t phase_moved(rally_token_t t, uint32_t ahead)
{
	uint32_t w[4];
	_Static_assert(sizeof w == sizeof t, "a token is 16 bytes");
	memcpy(w, &t, sizeof w);
	/* word 2: kind << 28 | phase (token.c) */
	w[2] = (w[2] & 0xf0000000u) | ((w[2] + ahead) & 0x0fffffffu);
	memcpy(&t, w, sizeof t);
	return t;
}

Test(hardening, M18_a_corrupt_token_is_refused, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 3, NULL), 0);
	rally_token_t t, mine;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	for (uint32_t ahead = 500; ahead <= 5000; ahead *= 10) {
		int64_t t0 = test_now_ns();
		cr_expect_eq(rally_barrier_await(&b, phase_moved(t, ahead), 0),
		             -EINVAL, "%u ahead", ahead);
		cr_expect_lt(test_now_ns() - t0, 1000000000, "blocked");
	}
	cr_expect_not(rally_barrier_broken(&b));
	cr_expect_eq(rally_barrier_arrive(&b, &mine), 1);
	cr_expect_eq(rally_barrier_arrive(&b, &mine), 2, "phase 0 whole");
	int rc = rally_barrier_await(&b, t, 0);
	cr_expect_eq(rc, 0, "await of the real token: %d", rc);
}

/* The check of M18 took a real token for a corrupt one: with more callers
 * than parties, a caller belongs to a later phase before the completer of
 * the earlier one moves arr on (held here between its two steps). */
Test(hardening, M18_a_token_ahead_of_arr_s_phase_is_real, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t first, later;
	cr_assert_eq(rally_barrier_arrive(&b, &first), 0);
	rally__pause_arm(RALLY__POINT_ARRIVED, TAG, 0);
	struct call c;
	start(&c, WAIT, &b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ARRIVED);
	cr_assert_eq(rally_barrier_arrive(&b, &later), 0, "phase 1's first");
	cr_expect_eq(rally_barrier_await(&b, later, 0), RALLY_TIMEDOUT,
	             "as wait(0): its own phase broken");
	rally__pause_release(RALLY__POINT_ARRIVED);
	cr_expect_eq(finish(&c), 1, "phase 0 completes");
	cr_expect_eq(rally_barrier_await(&b, first, 0), 0);
}

/* Review round 6, finding 2: an await(token, 0), pinned, that met the
 * completer's BUSY looked for a dead holder as a visitor, and the visit
 * waited for a destroy in progress — which waited for the pin: both for
 * ever (robust). The look now never waits for destroy. */
struct await0 {
	rally_barrier_t *b;
	rally_token_t t;
	int rc;
	_Atomic bool done;
};

static void *await0_main(void *arg)
{
	struct await0 *a = arg;
	rally__point_tag(TAG + 1);
	a->rc = rally_barrier_await(a->b, a->t, 0);
	atomic_store(&a->done, true);
	return NULL;
}

Test(hardening, M19_await_0_and_destroy_do_not_wait_for_each_other,
     .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	struct await0 a = {.b = &s->b};
	cr_assert_eq(rally_barrier_arrive(&s->b, &a.t), 0);
	struct call last, d;
	rally__pause_arm(RALLY__POINT_ADVANCED, TAG, 0);
	start(&last, WAIT, &s->b, RALLY_FOREVER, TAG);
	parked(RALLY__POINT_ADVANCED);
	rally__pause_arm(RALLY__POINT_TOKEN_PINNED, TAG + 1, 0);
	pthread_t th;
	pthread_create(&th, NULL, await0_main, &a);
	cr_assert(rally__pause_wait(RALLY__POINT_TOKEN_PINNED, 1, 2000000000));
	rally__pause_arm(RALLY__POINT_DESTROYING, TAG + 2, 0);
	start(&d, DESTROY, &s->b, 0, TAG + 2);
	cr_assert(rally__pause_wait(RALLY__POINT_DESTROYING, 1, 2000000000));
	rally__pause_release(RALLY__POINT_DESTROYING);
	rally__pause_arm(RALLY__POINT_CLAIMED, TAG, 0);
	rally__pause_release(RALLY__POINT_ADVANCED);
	parked(RALLY__POINT_CLAIMED);
	rally__pause_release(RALLY__POINT_TOKEN_PINNED);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&a.done) && test_now_ns() - t0 < 2000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&a.done), "await(token, 0) waits for destroy");
	cr_expect_eq(a.rc, -EAGAIN);
	pthread_join(th, NULL);
	rally__pause_release(RALLY__POINT_CLAIMED);
	cr_expect_eq(finish(&last), 1);
	int rc = finish(&d);
	cr_expect(rc == 0 || rc == -EBUSY, "destroy: %d", rc);
}

/* Review round 6, finding 4: with all 64 entries in use, attach took the
 * entry of a barrier that was only being destroyed (destroy may yet answer
 * -EBUSY, and the barrier stays in use): this process then took no part
 * in it (-EPERM). Only a barrier gone is taken. */
Test(hardening, M20_attach_leaves_a_barrier_being_destroyed, .timeout = 30)
{
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	enum { N = 64 };
	rally_barrier_t *bs = mmap(NULL, N * sizeof *bs, PROT_READ | PROT_WRITE,
	                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(bs, MAP_FAILED);
	rally_barrier_t *more = page_alloc(true);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(rally_barrier_init(&bs[i], 1, &attr), 0);
		cr_assert_eq(rally_barrier_attach(&bs[i]), 0, "%d", i);
	}
	cr_assert_eq(rally_barrier_init(more, 1, &attr), 0);
	cr_assert_eq(rally_barrier_attach(more), -ENOSPC, "all 64 in use");
	struct call d;
	rally__pause_arm(RALLY__POINT_DESTROYING, TAG, 0);
	start(&d, DESTROY, &bs[0], 0, TAG);
	parked(RALLY__POINT_DESTROYING);
	cr_expect_eq(rally_barrier_attach(more), -ENOSPC,
	             "took the entry of a barrier being destroyed");
	rally__pause_release(RALLY__POINT_DESTROYING);
	cr_expect_eq(finish(&d), 0);
	cr_expect_eq(rally_barrier_attach(more), 0, "now it is gone");
	cr_expect_eq(rally_barrier_wait(more), 0);
}

/* Review round 6, finding 5: two threads of one process opening a robust
 * name at once took two slots (neither saw the other's, not yet
 * published): the process was listed twice, and late after it arrived.
 * Registration is one at a time within a process. */
struct opener {
	const char *name;
	rally_barrier_t *h;
	int rc, tag;
};

static void *open_main(void *arg)
{
	struct opener *o = arg;
	rally__point_tag(o->tag);
	rally_barrier_attr_t attr = {.flags = RALLY_ROBUST};
	o->rc = rally_barrier_open(&o->h, o->name, 2, &attr, O_CREAT, 0600);
	return NULL;
}

Test(hardening, M21_two_threads_open_one_robust_name, .timeout = 20)
{
	char name[64];
	snprintf(name, sizeof name, "rally-test-two-opens-%d", (int)getpid());
	rally_barrier_unlink(name);
	rally_barrier_t *mon;
	rally_barrier_attr_t watch = {.flags = RALLY_ROBUST | RALLY_WATCH};
	cr_assert_eq(rally_barrier_open(&mon, name, 2, &watch, O_CREAT, 0600),
	             0);
	struct opener a = {name, NULL, -1, TAG}, b = {name, NULL, -1, 0};
	pthread_t ta, tb;
	rally__pause_arm(RALLY__POINT_REGISTERING, TAG, 0);
	pthread_create(&ta, NULL, open_main, &a);
	parked(RALLY__POINT_REGISTERING);
	pthread_create(&tb, NULL, open_main, &b);
	test_sleep_ms(100);
	rally__pause_release(RALLY__POINT_REGISTERING);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(b.rc, 0);
	pid_t late[4];
	cr_expect_eq(rally_barrier_late(mon, late, 4), 1, "listed once");
	cr_expect_eq(rally_barrier_close(a.h), 0);
	cr_expect_eq(rally_barrier_late(mon, late, 4), 1, "still takes part");
	cr_expect_eq(rally_barrier_close(b.h), 0);
	cr_expect_eq(rally_barrier_late(mon, late, 4), 0, "its last close");
	cr_expect_eq(rally_barrier_close(mon), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

/* Review round 6, finding 3: a process that had got a dead participant's
 * pid took the dead one's slot for its own (the pid alone was compared):
 * the death was never found, and its reset waited for the dead one's
 * callers for ever. A slot is ours only with our start time too. */
Test(hardening, M22_a_dead_participant_with_our_pid_is_dead, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	cr_assert_geq(rally__barrier_plant_pid_twin(&s->b, 1, 1), 0);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_barrier_timedwait(&s->b, 1000000000),
	             RALLY_OWNERDEAD, "the twin is dead");
	cr_expect_eq(rally_barrier_dead(&s->b, NULL, 0), 1);
	struct call r;
	start(&r, RESET, &s->b, 0, 0);
	while (!atomic_load(&r.done) && test_now_ns() - t0 < 3000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&r.done), "reset waits for the dead twin");
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally_barrier_dead(&s->b, NULL, 0), 0, "forgotten");
}

/* Review round 6, finding 1: the runaway guard knew only a barrier broken
 * and idle. One broken by `ahead` — an abort, or a timeout of the next
 * phase, while an action runs (BUSY) — let retried callers run 2^27
 * phases ahead until one returned an index. */
static _Atomic bool hold_m3_action;
static int m3_held_action(void *arg)
{
	(void)arg;
	while (atomic_load(&hold_m3_action))
		test_sleep_ms(1);
	return 0;
}

Test(hardening, M3_a_barrier_broken_during_its_action_stays_broken,
     .timeout = 20)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.action = m3_held_action};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	atomic_store(&hold_m3_action, true);
	struct call w, c;
	start(&w, WAIT, &b, RALLY_FOREVER, 0);
	await_waiting(&b, 1);
	start(&c, WAIT, &b, RALLY_FOREVER, 0);
	while (!rally__point_hits(RALLY__POINT_CLAIMED))
		test_sleep_ms(1);
	cr_assert_eq(rally_barrier_abort(&b), 0); /* phase 1, via ahead */
	cr_assert_eq(rally__barrier_arrive_broken(&b, (1u << 27) - 8), 0);
	rally_token_t t;
	for (int i = 0; i < 64; i++) {
		cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN,
		             "call %d", i);
		cr_assert_eq(rally_barrier_arrive(&b, &t), RALLY_BROKEN,
		             "arrive %d", i);
	}
	atomic_store(&hold_m3_action, false);
	cr_expect_eq(finish(&w) + finish(&c), 1, "phase 0 completed");
	cr_expect_eq(rally_barrier_reset(&b), 0);
	start(&w, WAIT, &b, RALLY_FOREVER, 0);
	int mine = rally_barrier_wait(&b);
	cr_expect_eq(mine + finish(&w), 1);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* After a reset: a fresh phase of two parties completes, each index once
 * (the waiter in a thread, the other here). */
static void expect_a_fresh_phase(rally_barrier_t *b)
{
	struct call w;
	start(&w, WAIT, b, 2000000000, 0);
	int mine = rally_barrier_timedwait(b, 2000000000);
	cr_expect_eq(mine + finish(&w), 1, "the fresh phase completed");
}

/* A reset held up: W waits alone in a 2-party phase, the reset cancels it
 * and drains, and W is held at DECIDED, not yet out (a preempted or
 * stopped caller). release_held_reset() lets both finish. */
static void hold_a_reset(rally_barrier_t *b, struct call *w, struct call *r)
{
	rally__pause_arm(RALLY__POINT_DECIDED, TAG, 0);
	start(w, WAIT, b, RALLY_FOREVER, TAG);
	await_waiting(b, 1);
	start(r, RESET, b, 0, 0);
	parked(RALLY__POINT_DECIDED);
}

static void release_held_reset(struct call *w, struct call *r)
{
	rally__pause_release(RALLY__POINT_DECIDED);
	cr_expect_eq(finish(w), RALLY_BROKEN);
	cr_expect_eq(finish(r), 0);
}

/* Review round 7, finding 1: after a reset killed past its swap (gen of the
 * old epoch, broken; arr in the new one), callers never guarded the
 * barrier (their epoch's parity differed from gen's): a retry loop ran arr
 * 2^28 phases past the baseline, the count of callers inside wrapped, and
 * every reset after hung. */
Test(hardening, M23_a_dead_reset_s_epoch_is_guarded, .timeout = 30)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(&s->b, 1, &attr), 0);
	cr_assert_eq(rally_barrier_abort(&s->b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_RESET_SWAPPED, die_here, NULL);
		rally_barrier_reset(&s->b);
		_exit(1);
	}
	waitpid(child, NULL, 0);
	cr_assert_eq(rally_barrier_timedwait(&s->b, 200000000), RALLY_BROKEN);
	/* A retry loop: 2^20 phases past the epoch's start it is guarded
	 * (else it runs on to 2^28, where the count wraps: 16 s of calls). */
	cr_assert_eq(rally__barrier_arrive_broken(&s->b, (1u << 20) - 100), 0);
	for (int i = 0; i < 200; i++)
		cr_assert_eq(rally_barrier_timedwait(&s->b, 0), RALLY_BROKEN);
	cr_expect_eq(rally__barrier_guarded(&s->b), 1, "not guarded");
	struct call r;
	start(&r, RESET, &s->b, 0, 0);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&r.done) && test_now_ns() - t0 < 3000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&r.done), "reset hung");
	cr_expect_eq(finish(&r), 0);
	cr_expect_eq(rally__barrier_guarded(&s->b), 0, "the reset unguards");
	cr_expect_eq(rally_barrier_wait(&s->b), 0);
}

/* Review round 7, finding 2: on a guarded barrier a caller that arrived
 * while a reset ran was turned away (RALLY_BROKEN) instead of waiting the
 * reset out and joining the fresh phase. */
Test(hardening, M24_a_guarded_barrier_s_reset_is_waited_out, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally__barrier_arrive_broken(&b, (1u << 20) + 8), 0);
	cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN); /* guards */
	struct call r, w;
	rally__pause_arm(RALLY__POINT_RESET_RECORDED, TAG, 0);
	start(&r, RESET, &b, 0, TAG);
	parked(RALLY__POINT_RESET_RECORDED);
	start(&w, WAIT, &b, 2000000000, 0);
	test_sleep_ms(50);
	cr_expect_not(atomic_load(&w.done), "turned away during the reset");
	rally__pause_release(RALLY__POINT_RESET_RECORDED);
	cr_expect_eq(finish(&r), 0);
	int mine = rally_barrier_timedwait(&b, 2000000000);
	cr_expect_eq(mine + finish(&w), 1, "the fresh phase completed");
}

/* Review round 7, finding 3: a robust completer killed holding BUSY while
 * destroy waited (the barrier dying: nobody else could look for the dead)
 * hung destroy for ever. destroy looks itself and takes over. */
static int go_pipe[2];
static void wait_for_go(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	char c;
	if (write(go_pipe[1], "a", 1) != 1 || read(go_pipe[0], &c, 1) != 1)
		_exit(9);
	rally__point_on(RALLY__POINT_CLAIMED, die_here, NULL);
}

Test(hardening, M25_destroy_outlives_a_completer_killed_meanwhile,
     .timeout = 20)
{
	struct shared_state *s = robust_state(1);
	cr_assert_eq(pipe(go_pipe), 0);
	int to_child[2];
	cr_assert_eq(pipe(to_child), 0);
	pid_t child = fork();
	if (child == 0) {
		go_pipe[0] = to_child[0];
		if (rally_barrier_attach(&s->b) != 0)
			_exit(8);
		rally__point_on(RALLY__POINT_ADVANCED, wait_for_go, NULL);
		rally_barrier_wait(&s->b);
		_exit(1);
	}
	char c;
	cr_assert_eq(read(go_pipe[0], &c, 1), 1, "the child arrived");
	struct call d;
	start(&d, DESTROY, &s->b, 0, 0);
	test_sleep_ms(100); /* destroy waits for the completer */
	cr_assert_eq(write(to_child[1], "g", 1), 1);
	int st;
	waitpid(child, &st, 0);
	cr_assert(WIFSIGNALED(st), "the completer was not killed: %x", st);
	int64_t t0 = test_now_ns();
	while (!atomic_load(&d.done) && test_now_ns() - t0 < 3000000000)
		test_sleep_ms(1);
	cr_assert(atomic_load(&d.done), "destroy hung on the dead completer");
	int rc = finish(&d);
	cr_expect(rc == 0 || rc == -EBUSY, "destroy: %d", rc);
}

/* Review round 8: an abort during the reset that follows a reset killed
 * past its swap was lost halfway: the claim named gen's stale seq, abort
 * broke the phase after it (`ahead` 1), and the publish, two phases on,
 * dropped it — callers before the publish got RALLY_BROKEN, one after it
 * passed a 2-party barrier alone. The claim names the cut. */
Test(hardening, M26_an_abort_during_the_reset_after_a_dead_one, .timeout = 20)
{
	struct shared_state *s = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(&s->b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_abort(&s->b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally__point_on(RALLY__POINT_RESET_SWAPPED, die_here, NULL);
		rally_barrier_reset(&s->b);
		_exit(1);
	}
	int st;
	waitpid(child, &st, 0);
	cr_assert(WIFSIGNALED(st));
	struct call r;
	rally__pause_arm(RALLY__POINT_RESET_SWAPPED, TAG, 0);
	start(&r, RESET, &s->b, 0, TAG);
	parked(RALLY__POINT_RESET_SWAPPED);
	cr_assert_eq(rally_barrier_abort(&s->b), 0);
	cr_expect_eq(rally_barrier_timedwait(&s->b, RALLY_FOREVER),
	             RALLY_BROKEN, "before the publish");
	rally__pause_release(RALLY__POINT_RESET_SWAPPED);
	cr_expect_eq(finish(&r), 0);
	cr_expect(rally_barrier_broken(&s->b), "the abort kept");
	cr_expect_eq(rally_barrier_timedwait(&s->b, 1000000000), RALLY_BROKEN,
	             "passed a 2-party barrier alone");
}

/* Review round 9, finding 1: a robust epoch's baseline never moves, and a
 * reset 2^27 phases into it took the distance from the baseline for "a
 * reset died past its swap": it cut at the baseline, a cancelled phase's
 * waiter returned an index, and the phase went back to 1. The cut is the
 * baseline only when gen names the other epoch. */
Test(hardening, M27_a_robust_reset_2_27_phases_into_an_epoch, .timeout = 20)
{
	struct shared_state *s = robust_state(2);
	cr_assert_eq(rally_barrier_attach(&s->b), 0);
	cr_assert_eq(rally__barrier_skip_phases(&s->b, (1u << 27) + 8), 0);
	uint32_t before = rally_barrier_phase(&s->b);
	struct call w;
	start(&w, WAIT, &s->b, RALLY_FOREVER, 0);
	await_waiting(&s->b, 1);
	cr_expect_eq(rally_barrier_reset(&s->b), 0);
	cr_expect_eq(finish(&w), RALLY_BROKEN, "a cancelled phase passed");
	cr_expect_eq(rally_barrier_phase(&s->b), before + 1, "went back");
}

/* Review round 9, finding 2: a completed token awaited after a reset that
 * came 2^27 phases after it got RALLY_BROKEN (the record's cut compared
 * within 2^27 only), though documented right within 2^28 - 2^20. */
Test(hardening, M28_a_token_s_record_2_27_phases_on, .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t, u;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &u), 1);
	cr_assert_eq(rally__barrier_skip_phases(&b, (1u << 27) + 100), 0);
	cr_expect_eq(rally_barrier_test(&b, t), 1);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally_barrier_reset(&b), 0);
	cr_expect_eq(rally_barrier_await(&b, t, 0), 0, "one reset old");
	cr_expect_eq(rally_barrier_test(&b, t), 1);
}

/* Review round 10, finding 1: a token whose phase completed more than 2^27
 * phases ago read RALLY_BROKEN once the barrier broke (classify() called
 * it, seemingly ahead, broken before the window was applied), though
 * documented right within 2^28 - 2^20. Phases are skipped in chunks with
 * a real phase between, so that the baseline rebases as in use. */
Test(hardening, M29_a_token_2_27_phases_old_on_a_broken_barrier,
     .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	rally_token_t t, u;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_assert_eq(rally_barrier_arrive(&b, &u), 1);
	for (int i = 0; i < 17; i++) { /* 17 * 2^23 = 2^27 + 2^23 */
		cr_assert_eq(rally__barrier_skip_phases(&b, 1u << 23), 0);
		cr_assert_eq(rally_barrier_arrive(&b, &u), 0);
		cr_assert_eq(rally_barrier_arrive(&b, &u), 1);
	}
	cr_expect_eq(rally_barrier_test(&b, t), 1);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_expect_eq(rally_barrier_test(&b, t), 1, "broken by the abort");
	cr_expect_eq(rally_barrier_await(&b, t, 0), 0);
}

/* Review round 10, finding 2: between a reset's swap and its publish, an
 * abort breaks the fresh epoch's first phase, and its callers return at
 * once: the guard exempted them (as if they waited the reset out), and a
 * retry loop ran 2^27 phases on until a wait passed. After the swap the
 * guard acts. */
Test(hardening, M30_the_guard_between_a_reset_s_swap_and_publish,
     .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	struct call r;
	rally__pause_arm(RALLY__POINT_RESET_SWAPPED, TAG, 0);
	start(&r, RESET, &b, 0, TAG);
	parked(RALLY__POINT_RESET_SWAPPED);
	cr_assert_eq(rally_barrier_abort(&b), 0); /* the fresh first phase */
	cr_assert_eq(rally__barrier_arrive_broken(&b, (1u << 27) - 50), 0);
	for (int i = 0; i < 120; i++)
		cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN,
		             "call %d", i);
	rally__pause_release(RALLY__POINT_RESET_SWAPPED);
	cr_expect_eq(finish(&r), 0);
	cr_expect(rally_barrier_broken(&b), "the abort kept");
	cr_expect_eq(rally_barrier_reset(&b), 0);
	struct call w;
	start(&w, WAIT, &b, RALLY_FOREVER, 0);
	int mine = rally_barrier_wait(&b);
	cr_expect_eq(mine + finish(&w), 1);
}

/* Review round 11: the guard of M30 refused callers of the fresh epoch
 * past a reset's swap for the reset's own BROKEN bit, with no abort: one
 * was turned away, and its partner waited for a party that never came. */
Test(hardening, M31_past_a_reset_s_swap_the_guard_refuses_only_an_abort,
     .timeout = 20)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	cr_assert_eq(rally_barrier_abort(&b), 0);
	cr_assert_eq(rally__barrier_arrive_broken(&b, (1u << 20) + 8), 0);
	cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN);
	cr_assert_eq(rally__barrier_guarded(&b), 1);
	struct call r, w;
	rally__pause_arm(RALLY__POINT_RESET_SWAPPED, TAG, 0);
	start(&r, RESET, &b, 0, TAG);
	parked(RALLY__POINT_RESET_SWAPPED);
	start(&w, WAIT, &b, 2000000000, 0);
	test_sleep_ms(50);
	cr_expect_not(atomic_load(&w.done), "turned away past the swap");
	rally__pause_release(RALLY__POINT_RESET_SWAPPED);
	cr_expect_eq(finish(&r), 0);
	int mine = rally_barrier_timedwait(&b, 2000000000);
	cr_expect_eq(mine + finish(&w), 1, "the fresh phase completed");
}

/* Review round 12: a reset held up (a cancelled waiter not yet out) and a
 * retry loop of timedwait(0): each call arrived in the old epoch and left
 * (the guard let resets be waited out, and the re-arrival path noted
 * nothing), so arr ran from the cut until a call returned an index, alone
 * on a 2-party barrier. Re-arrivals guard now, and a guarded caller waits
 * a reset out before it arrives (timeout 0: RALLY_BROKEN at once). */
Test(hardening, M32_a_retry_loop_during_a_held_reset, .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct call w, r;
	hold_a_reset(&b, &w, &r);
	for (int i = 0; i < (1 << 21) + 64; i++) /* past 2^20: guarded */
		cr_assert_eq(rally_barrier_timedwait(&b, 0), RALLY_BROKEN,
		             "call %d", i);
	cr_expect_eq(rally__barrier_guarded(&b), 1, "not guarded");
	release_held_reset(&w, &r);
	expect_a_fresh_phase(&b);
}

/* Review round 13: the same as M32 through the timed arrival of the Python
 * binding and the CLI (a short timeout, not 0): each call arrived, gave up
 * at its deadline, and moved arr on, guarded or not. It waits the reset
 * out before arriving now. */
Test(hardening, M33_a_timed_arrival_loop_during_a_held_reset, .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct call w, r;
	hold_a_reset(&b, &w, &r);
	rally_token_t t;
	for (int i = 0; i < (1 << 21) + 64; i++)
		cr_assert_eq(rally__barrier_timedarrive(&b, &t, 1, NULL, NULL),
		             RALLY_TIMEDOUT, "call %d", i);
	cr_expect_eq(rally__barrier_guarded(&b), 1, "not guarded");
	uint32_t ep, before, after, idx;
	rally__last_arrival(&ep, &before, &idx);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(rally__barrier_timedarrive(&b, &t, 1, NULL, NULL),
		             RALLY_TIMEDOUT);
	rally__last_arrival(&ep, &after, &idx);
	cr_expect_eq(after, before, "guarded, they still arrive");
	release_held_reset(&w, &r);
	expect_a_fresh_phase(&b);
}

/* ---- issue 13: a spin that cannot pay off stops being tried ------------- */

struct late_party {
	rally_barrier_t *b;
	int phases;
	int sleep_ms;
};

static void *arrive_late(void *arg)
{
	struct late_party *l = arg;
	for (int i = 0; i < l->phases; i++) {
		test_sleep_ms(l->sleep_ms);
		rally_barrier_wait(l->b);
	}
	return NULL;
}

/* The party awaited always comes 2 ms late — as one that shares its CPU
 * with a busy neighbour does: after 4 fruitless spins in a row the waiter
 * no longer spins (THROTTLED: it yields, then sleeps), and spins again
 * only after 16 such waits (a probe), then after 32. Observes the policy (the points), not the time. */
Test(hardening, T1_fruitless_spins_are_throttled_then_probed, .timeout = 30)
{
	/* As if the party awaited shared this CPU: no yield counts as one
	 * that ran nobody else (T24, T25 are about those). */
	rally__set_alone_yield_ns(0);
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = RALLY_SPIN_AUTO};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct late_party l = {&b, 40, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	uint64_t spun0 = rally__point_hits(RALLY__POINT_SPUN);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	uint64_t spun = rally__point_hits(RALLY__POINT_SPUN) - spun0;
	/* 40 waits: 4 to learn, then 31 of every 32 skipped. */
	cr_expect_geq(throttled, 30, "throttled %llu of 40 waits",
	              (unsigned long long)throttled);
	cr_expect_geq(spun, 5, "spun %llu times: no probe?",
	              (unsigned long long)spun);
	cr_expect_leq(spun, 10, "spun %llu times", (unsigned long long)spun);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* An explicit budget is the user's: never throttled. */
Test(hardening, T2_an_explicit_spin_budget_is_never_throttled, .timeout = 30)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = 1000};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct late_party l = {&b, 20, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), 0);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* What a thread learnt about one barrier says nothing of another: its
 * first waits there spin. */
Test(hardening, T3_the_throttle_is_per_barrier, .timeout = 30)
{
	rally_barrier_t x, y;
	cr_assert_eq(rally_barrier_init(&x, 2, NULL), 0);
	cr_assert_eq(rally_barrier_init(&y, 2, NULL), 0);
	struct late_party l = {&x, 8, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&x), 0);
	pthread_join(th, NULL);
	uint64_t on_x = rally__point_hits(RALLY__POINT_THROTTLED);
	cr_assert_geq(on_x, 3, "not throttled on x");
	l = (struct late_party){&y, 4, 2};
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&y), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), on_x,
	             "y's first waits were throttled by what x taught");
	cr_expect_eq(rally_barrier_destroy(&x), 0);
	cr_expect_eq(rally_barrier_destroy(&y), 0);
}

struct alternating {
	rally_barrier_t *b;
	int phases;
	int late_from, late_to; /* phases [from, to) this party comes late */
};

static void *cross_alternating(void *arg)
{
	struct alternating *a = arg;
	for (int i = 0; i < a->phases; i++) {
		if (i >= a->late_from && i < a->late_to)
			test_sleep_ms(2);
		rally_barrier_wait(a->b);
	}
	return NULL;
}

/* Both parties throttled (each came late while the other waited), then
 * balanced. Throttled parties that slept at once were put on one CPU by
 * the scheduler's wake-ups, where no spin can pay off, and slept every
 * phase for good (6.5 us a phase, 19964 of 20000 waits asleep, after 4
 * slow phases on a quiet machine). Throttled, they now yield to each other
 * first: the balanced phases must not sleep every time. */
Test(hardening, T4_both_throttled_parties_do_not_sleep_every_phase,
     .timeout = 60)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	enum { LEARN = 8, PHASES = 20000 };
	struct alternating x = {&b, PHASES, 0, LEARN};
	struct alternating y = {&b, PHASES, LEARN, 2 * LEARN};
	pthread_t tx, ty;
	cr_assert_eq(pthread_create(&tx, NULL, cross_alternating, &x), 0);
	cr_assert_eq(pthread_create(&ty, NULL, cross_alternating, &y), 0);
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	uint64_t slept = rally__point_hits(RALLY__POINT_SLEEPING);
	/* Both learnt (each waited in vain at least 4 times in a row)... */
	cr_expect_geq(throttled, 2 * (LEARN - 4), "not throttled");
	/* ... and did not lock into sleeping (the 2 * LEARN slow phases
	 * slept). */
	cr_expect_lt(slept, PHASES / 4, "%llu of %d waits slept",
	             (unsigned long long)slept, PHASES);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* Comes late each phase by sleep_ms counted from the other party's
 * arrival (not from its own last phase). */
static void *arrive_after_us(void *arg)
{
	struct late_party *l = arg;
	for (int i = 0; i < l->phases; i++) {
		while (rally_barrier_n_waiting(l->b) == 0)
			test_sleep_ms(0);
		test_sleep_ms(l->sleep_ms);
		rally_barrier_wait(l->b);
	}
	return NULL;
}

/* A thread that waits on two barriers in turn, each of whose other party
 * comes 2 ms after it: it learns about each, and stays throttled on both (with
 * one record per thread, every switch started afresh and every wait spun
 * in vain: review round 2). */
Test(hardening, T5_a_thread_alternating_barriers_is_throttled_on_each,
     .timeout = 30)
{
	rally_barrier_t x, y;
	cr_assert_eq(rally_barrier_init(&x, 2, NULL), 0);
	cr_assert_eq(rally_barrier_init(&y, 2, NULL), 0);
	enum { WAITS = 20 };
	struct late_party lx = {&x, WAITS, 2}, ly = {&y, WAITS, 2};
	pthread_t tx, ty;
	cr_assert_eq(pthread_create(&tx, NULL, arrive_after_us, &lx), 0);
	cr_assert_eq(pthread_create(&ty, NULL, arrive_after_us, &ly), 0);
	for (int i = 0; i < WAITS; i++) {
		cr_assert_geq(rally_barrier_wait(&x), 0);
		cr_assert_geq(rally_barrier_wait(&y), 0);
	}
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	/* 40 waits: 4 to learn on each, then throttled but for a probe. */
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	cr_expect_geq(throttled, 2 * (WAITS - 4) - 4, "throttled %llu of %d",
	              (unsigned long long)throttled, 2 * WAITS);
	cr_expect_eq(rally_barrier_destroy(&x), 0);
	cr_expect_eq(rally_barrier_destroy(&y), 0);
}

struct late_setter {
	rally_event_t *e;
	_Atomic int *round;
	int rounds;
};

static void *set_late(void *arg)
{
	struct late_setter *l = arg;
	for (int i = 1; i <= l->rounds; i++) {
		while (atomic_load(l->round) < i)
			test_sleep_ms(0);
		test_sleep_ms(2);
		rally_event_set(l->e);
	}
	return NULL;
}

/* Events are not throttled: their poll is brief already, and a waiter
 * that slept at once was woken onto its setter's CPU (300 us a wake in
 * event/wake_sleeping, 20 us before). */
Test(hardening, T6_event_waits_are_never_throttled, .timeout = 30)
{
	rally_event_t e;
	cr_assert_eq(rally_event_init(&e, 0), 0);
	_Atomic int round = 0;
	struct late_setter l = {&e, &round, 12};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, set_late, &l), 0);
	for (int i = 1; i <= l.rounds; i++) {
		rally_event_clear(&e);
		atomic_store(&round, i);
		cr_assert_eq(rally_event_wait(&e, RALLY_FOREVER), 0);
	}
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), 0);
	cr_expect_eq(rally_event_destroy(&e), 0);
}

/* The same with 8 barriers in turn, the most a thread remembers (with 4
 * records every barrier was forgotten before it came round again, and
 * every wait spun in vain: review round 3). */
Test(hardening, T7_a_thread_rotating_8_barriers_is_throttled_on_each,
     .timeout = 30)
{
	enum { N = 8, WAITS = 8 };
	rally_barrier_t b[N];
	struct late_party l[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		cr_assert_eq(rally_barrier_init(&b[i], 2, NULL), 0);
		l[i] = (struct late_party){&b[i], WAITS, 2};
		cr_assert_eq(pthread_create(&th[i], NULL, arrive_after_us,
		                            &l[i]),
		             0);
	}
	for (int k = 0; k < WAITS; k++)
		for (int i = 0; i < N; i++)
			cr_assert_geq(rally_barrier_wait(&b[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	cr_expect_geq(throttled, N * (WAITS - 4) - N, "throttled %llu of %d",
	              (unsigned long long)throttled, N * WAITS);
	for (int i = 0; i < N; i++)
		cr_expect_eq(rally_barrier_destroy(&b[i]), 0);
}

/* A barrier made anew in memory where a throttled one was is another
 * barrier: its first waits spin (with records keyed by address only, the
 * new one started out throttled: review round 4). */
Test(hardening, T8_a_new_barrier_at_an_old_address_is_not_throttled,
     .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct late_party l = {&b, 8, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	uint64_t learnt = rally__point_hits(RALLY__POINT_THROTTLED);
	cr_assert_geq(learnt, 3, "not throttled on the first barrier");
	cr_assert_eq(rally_barrier_destroy(&b), 0);
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	l = (struct late_party){&b, 3, 2};
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), learnt,
	             "the new barrier's first waits were throttled");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* With few parties the futex word shares the arrival counter's line at
 * any 16-byte alignment, malloc's (at offset 272 it did not at 48 and 56
 * mod 64: review round 4). arr is at offset 256 (barrier_impl.h). */
Test(hardening, T9_the_futex_word_is_on_arrs_line_at_malloc_alignment)
{
	static _Alignas(64) unsigned char mem[sizeof(rally_barrier_t) + 64];
	for (unsigned off = 0; off < 64; off += 16) {
		rally_barrier_t *b = (rally_barrier_t *)(mem + off);
		cr_assert_eq(rally_barrier_init(b, 4, NULL), 0);
		rally_token_t t;
		cr_assert_eq(rally_barrier_arrive(b, &t), 0);
		const uint32_t *word;
		uint32_t value;
		bool shared;
		cr_assert_eq(rally_barrier_futex(b, t, &word, &value, &shared),
		             0);
		uintptr_t arr = (uintptr_t)b + 256;
		cr_expect_eq((uintptr_t)word / 64, arr / 64,
		             "offset %u: the futex word is off arr's line", off);
		cr_assert_eq(rally_barrier_abort(b), 0);
		cr_assert_lt(rally_barrier_await(b, t, RALLY_FOREVER), 0);
		cr_assert_eq(rally_barrier_destroy(b), 0);
	}
}

/* A wait that sleeps in slices (a shared barrier: 50 ms; robust: 100 us
 * first) spins once and counts once: each slice counted as a wait of its
 * own, and 2 waits of 120 ms throttled the third (review round 5). */
Test(hardening, T10_a_sliced_wait_counts_once, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	struct late_party l = {b, 3, 120};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), 0,
	             "3 waits in vain were throttled");
	cr_expect_eq(rally_barrier_destroy(b), 0);
}

/* A thread pinned to one CPU is not the process: the CPUs are read when
 * the library loads. Pinned first, a waiter saw 1 CPU, and the whole
 * process never spun again (18.6 us a phase for 2 pinned threads, 166 ns
 * otherwise: review round 5). With 2 parties on a machine of 2 or more
 * CPUs the first wait polls, and does not yield. */
static void *pinned_waits(void *arg)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof one, &one),
	             0);
	rally_barrier_wait(arg);
	return NULL;
}

Test(hardening, T11_a_pinned_thread_does_not_make_the_process_one_cpu,
     .timeout = 30)
{
	cpu_set_t set;
	cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
	if (CPU_COUNT(&set) < 2)
		cr_skip_test("one CPU: 2 parties are more than CPUs");
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, pinned_waits, &b), 0);
	while (rally_barrier_n_waiting(&b) == 0)
		test_sleep_ms(0);
	test_sleep_ms(2);
	cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_YIELDING), 0,
	             "the pinned waiter yielded: it counted one CPU");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* Two handles on one named barrier are one barrier to the throttle: its
 * records are keyed by the barrier's tag, not by the address a handle
 * maps (review round 5: alternating handles learnt at half the pace). */
Test(hardening, T12_two_handles_are_one_barrier_to_the_throttle,
     .timeout = 30)
{
	char name[64];
	snprintf(name, sizeof name, "t12.%d", (int)getpid());
	rally_barrier_t *h1, *h2;
	cr_assert_eq(rally_barrier_open(&h1, name, 2, NULL, O_CREAT, 0600), 0);
	cr_assert_eq(rally_barrier_open(&h2, name, 2, NULL, 0, 0), 0);
	struct late_party l = {h1, 12, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(i % 2 ? h2 : h1), 0);
	pthread_join(th, NULL);
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	cr_expect_geq(throttled, 7, "throttled %llu of 12",
	              (unsigned long long)throttled);
	cr_expect_eq(rally_barrier_close(h2), 0);
	cr_expect_eq(rally_barrier_close(h1), 0);
	cr_expect_eq(rally_barrier_unlink(name), 0);
}

/* An action that sleeps *(int *)arg ms. */
static int sleep_action(void *arg)
{
	test_sleep_ms(*(const int *)arg);
	return 0;
}

/* An explicit budget spins through a change of the word that does not end
 * the wait (the completer claiming BUSY for its action): the wait spun
 * only at its first call, and slept through the action (review round 6:
 * 1030 sleeps in 2000 phases against 5). */
Test(hardening, T13_a_budget_spins_through_a_claim, .timeout = 30)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = 100000000, .action = sleep_action,
	                             .action_arg = &(int){20}};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct late_party l = {&b, 1, 1};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	uint64_t slept = rally__point_hits(RALLY__POINT_SLEEPING);
	cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_SLEEPING), slept,
	             "the waiter slept with its budget unspent");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

static bool attach(void *b)
{
	return rally_barrier_attach(b) == 0;
}

/* A robust waiter that polls in short slices finds a dead participant:
 * every poll of 100 us or less noted its arrival and never scanned
 * (review round 6: pending after 2 s, with the dead listed). */
Test(hardening, T14_short_polls_find_a_dead_participant, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	pid_t child = test_fork_participant(attach, b);
	cr_assert_gt(child, 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(b, &t), 0);
	int rc = 0;
	int64_t t0 = test_now_ns();
	while (rc == 0 && test_now_ns() - t0 < 2000000000)
		rc = rally_barrier_poll(b, t, 50000);
	cr_expect_eq(rc, RALLY_OWNERDEAD, "poll returned %d", rc);
}

/* On a shared barrier a wait sleeps in 50 ms slices; an explicit budget is
 * spent once across them, not once per slice (review round 7: a budget
 * longer than a slice never slept, and a 1.5 s wait burnt 1.3 s of CPU). */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

Test(hardening, T15_a_budget_is_spent_once_across_slices, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED, .spin = 4000000};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	struct late_party l = {b, 1, 800};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	uint64_t slept = rally__point_hits(RALLY__POINT_SLEEPING);
	int64_t cpu0 = thread_cpu_ns(), t0 = test_now_ns();
	cr_assert_geq(rally_barrier_wait(b), 0);
	int64_t cpu = thread_cpu_ns() - cpu0, wall = test_now_ns() - t0;
	pthread_join(th, NULL);
	cr_expect_gt(rally__point_hits(RALLY__POINT_SLEEPING), slept,
	             "never slept in a wait of %lld ms", (long long)wall / 1000000);
	cr_expect_lt(cpu, wall / 2, "spun %lld ms of a %lld ms wait",
	             (long long)cpu / 1000000, (long long)wall / 1000000);
	cr_expect_eq(rally_barrier_destroy(b), 0);
}

/* Polls of one token in a row are one wait (the Python binding waits in
 * 50 ms polls): each spent an explicit budget again (spun 795 ms of an
 * 800 ms wait) and counted as a fruitless wait of its own, throttling
 * within one wait (review round 8). */
static int poll_until_done(rally_barrier_t *b, rally_token_t t)
{
	int rc;
	while ((rc = rally_barrier_poll(b, t, 50000000)) == 0)
		;
	return rc;
}

Test(hardening, T16_polls_of_one_token_spend_a_budget_once, .timeout = 30)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = 4000000};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	struct late_party l = {&b, 1, 800};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	rally_token_t t;
	int64_t cpu0 = thread_cpu_ns(), t0 = test_now_ns();
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_assert_eq(poll_until_done(&b, t), 1);
	int64_t cpu = thread_cpu_ns() - cpu0, wall = test_now_ns() - t0;
	pthread_join(th, NULL);
	cr_expect_lt(cpu, wall / 2, "spun %lld ms of a %lld ms wait",
	             (long long)cpu / 1000000, (long long)wall / 1000000);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

Test(hardening, T17_polls_of_one_token_count_as_one_wait, .timeout = 30)
{
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct late_party l = {&b, 1, 400};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_after_us, &l), 0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	cr_assert_eq(poll_until_done(&b, t), 1);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), 0,
	             "one wait of 8 polls was throttled");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* A wait whose polling was spent polls anew once the word changes, even
 * when the caller saw the change itself: a timed waiter paused at its
 * deadline while the last party claims BUSY for a 300 ms action finds its
 * break refused (every party arrived), and waits for the action — polling
 * its budget first, not asleep at once (review round 8). */
struct timed_call {
	rally_barrier_t *b;
	int64_t timeout_ns;
	int rc;
};

static void *timed_wait_main(void *arg)
{
	struct timed_call *c = arg;
	rally__point_tag(1); /* parks at the armed point */
	c->rc = rally_barrier_timedwait(c->b, c->timeout_ns);
	return NULL;
}

static void *plain_wait_main(void *arg)
{
	rally_barrier_wait(arg);
	return NULL;
}

Test(hardening, T18_a_spent_wait_polls_anew_after_a_change_it_saw,
     .timeout = 30)
{
	rally_barrier_t b;
	rally_barrier_attr_t attr = {.spin = 200000, .action = sleep_action,
	                             .action_arg = &(int){300}};
	cr_assert_eq(rally_barrier_init(&b, 2, &attr), 0);
	rally__pause_arm(RALLY__POINT_DEADLINE, 1, 0);
	struct timed_call c = {&b, 20000000, 0};
	pthread_t w, l;
	cr_assert_eq(pthread_create(&w, NULL, timed_wait_main, &c), 0);
	cr_assert(rally__pause_wait(RALLY__POINT_DEADLINE, 1, 5000000000LL));
	uint64_t spun = rally__point_hits(RALLY__POINT_SPUN);
	cr_assert_eq(pthread_create(&l, NULL, plain_wait_main, &b), 0);
	while (rally__point_hits(RALLY__POINT_CLAIMED) == 0)
		test_sleep_ms(1);
	rally__pause_release(RALLY__POINT_DEADLINE);
	pthread_join(w, NULL);
	pthread_join(l, NULL);
	cr_expect_eq(c.rc, 0);
	cr_expect_geq(rally__point_hits(RALLY__POINT_SPUN), spun + 1,
	              "slept through the action without polling");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* A budget that a slice cut short is spent whole again once the word
 * changes, not only its rest (review round 9: 25% of a budget). Phase 1's
 * token is polled in 2 ms slices while phase 0's action runs, until about
 * 80% of a budget is polled; the action ends (the word changes) and the
 * next poll must spin about a whole budget again. CPU time, calibrated
 * on a whole budget first. */
static _Atomic int t19_claimed, t19_done;

static int t19_action(void *arg)
{
	(void)arg;
	atomic_store(&t19_claimed, 1);
	while (!atomic_load(&t19_done))
		test_sleep_ms(1);
	return 0;
}

Test(hardening, T19_a_cut_budget_is_renewed_whole_by_a_change,
     .timeout = 60)
{
	enum { SPIN = 2000000 };
	rally_barrier_t c;
	rally_barrier_attr_t ca = {.spin = SPIN};
	cr_assert_eq(rally_barrier_init(&c, 2, &ca), 0);
	rally_token_t ct;
	cr_assert_eq(rally_barrier_arrive(&c, &ct), 0);
	int64_t c0 = thread_cpu_ns();
	cr_assert_eq(rally_barrier_poll(&c, ct, 2000000000LL), 0);
	int64_t whole = thread_cpu_ns() - c0;
	cr_assert_eq(rally_barrier_abort(&c), 0);
	rally_barrier_await(&c, ct, 0);
	rally_barrier_t b;
	rally_barrier_attr_t a = {.spin = SPIN, .action = t19_action};
	cr_assert_eq(rally_barrier_init(&b, 2, &a), 0);
	pthread_t x, y;
	cr_assert_eq(pthread_create(&x, NULL, plain_wait_main, &b), 0);
	while (rally_barrier_n_waiting(&b) < 1)
		test_sleep_ms(0);
	cr_assert_eq(pthread_create(&y, NULL, plain_wait_main, &b), 0);
	while (!atomic_load(&t19_claimed))
		test_sleep_ms(0);
	rally_token_t t;
	cr_assert_eq(rally_barrier_arrive(&b, &t), 0);
	int64_t s0 = thread_cpu_ns();
	while (thread_cpu_ns() - s0 < whole * 8 / 10)
		cr_assert_eq(rally_barrier_poll(&b, t, 2000000), 0);
	atomic_store(&t19_done, 1);
	while (rally_barrier_phase(&b) == 0)
		test_sleep_ms(1);
	s0 = thread_cpu_ns();
	cr_expect_eq(rally_barrier_poll(&b, t, 3 * whole + 200000000LL), 0);
	int64_t again = thread_cpu_ns() - s0;
	cr_expect_geq(again, whole / 2, "polled %lld%% of a budget after the "
	              "change", (long long)(100 * again / whole));
	cr_assert_eq(rally_barrier_abort(&b), 0);
	rally_barrier_await(&b, t, 0);
	pthread_join(x, NULL);
	pthread_join(y, NULL);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
	cr_expect_eq(rally_barrier_destroy(&c), 0);
}

/* ---- review round 10: rally_barrier_late() on robust barriers ----------- */

/* While the last arrival runs the action every party has arrived: late()
 * lists nobody (it listed the runner's process for the whole action). */
Test(hardening, T20_the_action_runner_is_not_late, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST,
	                             .action = sleep_action,
	                             .action_arg = &(int){600}};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		test_sleep_ms(100);
		rally_barrier_wait(b); /* last: runs the action */
		_exit(0);
	}
	pid_t mon = fork();
	if (mon == 0) {
		test_sleep_ms(400);
		pid_t p[8];
		_exit(rally_barrier_late(b, p, 8) == 0 ? 0 : 1);
	}
	cr_assert_geq(rally_barrier_wait(b), 0);
	int st;
	waitpid(mon, &st, 0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "late() listed a party while the action ran");
	waitpid(child, NULL, 0);
}

/* A reset cancels a phase whose completer had not published; a live
 * participant that had waited (and noted its arrival) in the next phase
 * never arrives in the fresh epoch, whose first phase bears that number:
 * late() must list it (its old note read as an arrival). */
static void *tagged_wait(void *arg)
{
	rally__point_tag(2);
	rally_barrier_wait(arg);
	return NULL;
}

static void *reset_main(void *arg)
{
	rally_barrier_reset(arg);
	return NULL;
}

Test(hardening, T21_late_after_a_reset_lists_who_never_arrived,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		char c;
		(void)!read(go[0], &c, 1);
		rally_barrier_wait(b); /* phase 1, cancelled by the reset */
		pause();               /* alive, never arrives again */
		_exit(0);
	}
	test_sleep_ms(50);
	pthread_t a, c, r;
	cr_assert_eq(pthread_create(&a, NULL, plain_wait_main, b), 0);
	while (rally_barrier_n_waiting(b) < 1)
		test_sleep_ms(1);
	rally__pause_arm(RALLY__POINT_ADVANCED, 2, 0);
	cr_assert_eq(pthread_create(&c, NULL, tagged_wait, b), 0);
	cr_assert(rally__pause_wait(RALLY__POINT_ADVANCED, 1, 2000000000LL));
	(void)!write(go[1], "g", 1);
	test_sleep_ms(30); /* the child waits in phase 1 and notes it */
	cr_assert_eq(pthread_create(&r, NULL, reset_main, b), 0);
	test_sleep_ms(30);
	rally__pause_release(RALLY__POINT_ADVANCED);
	pthread_join(r, NULL);
	pthread_join(a, NULL);
	pthread_join(c, NULL);
	test_sleep_ms(100);
	pid_t p[8];
	int n = rally_barrier_late(b, p, 8);
	bool listed = false;
	for (int i = 0; i < n && i < 8; i++)
		listed |= p[i] == child;
	cr_expect(listed, "the child, which never arrived, is not late (%d "
	          "listed)", n);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* A robust process's arrival note only moves forward: its completer of
 * phase 0, whose action starts after another of its threads noted an
 * arrival in phase 1, must not set the note back — late() then listed the
 * process during phase 1 (review round 11). */
Test(hardening, T22_a_completers_note_does_not_hide_a_later_arrival,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST,
	                             .action = sleep_action,
	                             .action_arg = &(int){500}};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		char c;
		(void)!read(go[0], &c, 1);
		rally_barrier_wait(b); /* phase 0 */
		test_sleep_ms(1500);
		rally_barrier_wait(b); /* phase 1, late on purpose */
		_exit(0);
	}
	(void)!write(go[1], "g", 1);
	while (rally_barrier_n_waiting(b) < 1)
		test_sleep_ms(1);
	test_sleep_ms(5);
	rally__pause_arm(RALLY__POINT_ADVANCED, 2, 0);
	pthread_t t1, t2;
	cr_assert_eq(pthread_create(&t1, NULL, tagged_wait, b), 0);
	cr_assert(rally__pause_wait(RALLY__POINT_ADVANCED, 1, 2000000000LL));
	cr_assert_eq(pthread_create(&t2, NULL, plain_wait_main, b), 0);
	test_sleep_ms(20); /* phase 1: it waits and notes */
	rally__pause_release(RALLY__POINT_ADVANCED);
	test_sleep_ms(800); /* the action ran; phase 1 waits for the child */
	pid_t p[8];
	int n = rally_barrier_late(b, p, 8);
	bool parent_listed = false;
	for (int i = 0; i < n && i < 8; i++)
		parent_listed |= p[i] == getpid();
	cr_expect(!parent_listed, "late() lists this process, which arrived");
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	waitpid(child, NULL, 0);
}

/* A note from a wait 2^27 phases ago is stale, not "ahead": a process that
 * then waits in the current phase notes it, and late() does not list it
 * (review round 12: round 11's forward-only note refused it for half of
 * every 2^28 phases). The phases between ran without a wait of 0.1 ms:
 * no notes (skipped by the hook). */
Test(hardening, T23_a_stale_note_does_not_block_a_new_one, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	pthread_t t;
	pid_t p[4];
	cr_assert_eq(pthread_create(&t, NULL, plain_wait_main, b), 0);
	test_sleep_ms(20); /* waits: notes phase 0 */
	cr_assert_eq(rally_barrier_late(b, p, 4), 0);
	cr_assert_geq(rally_barrier_wait(b), 0);
	pthread_join(t, NULL);
	cr_assert_eq(rally__barrier_skip_phases(b, (1u << 27) + 1), 0);
	cr_assert_eq(pthread_create(&t, NULL, plain_wait_main, b), 0);
	test_sleep_ms(20); /* waits in the current phase: notes it */
	cr_expect_eq(rally_barrier_late(b, p, 4), 0,
	             "late() lists this process, which arrived");
	cr_assert_geq(rally_barrier_wait(b), 0);
	pthread_join(t, NULL);
}

/* Throttled, a waiter whose yield finds no arrival and ran nobody else is
 * alone on its CPU: the party awaited is elsewhere, and it spins after all
 * (sleeping, it left its CPU idle and the scheduler put both parties back
 * on one). Every fruitless yield counts as such here; the party comes 2 ms
 * late, so each of those spins is in vain and the throttle stays — and
 * after 4 in a row, the waits no longer spin when alone. */
Test(hardening, T24_a_throttled_waiter_alone_on_its_cpu_spins, .timeout = 30)
{
	rally__set_alone_yield_ns(INT64_MAX);
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	struct late_party l = {&b, 40, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	uint64_t spun0 = rally__point_hits(RALLY__POINT_SPUN);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	uint64_t spun = rally__point_hits(RALLY__POINT_SPUN) - spun0;
	uint64_t alone = rally__point_hits(RALLY__POINT_ALONE);
	cr_expect_geq(throttled, 30, "throttled %llu of 40 waits",
	              (unsigned long long)throttled);
	/* 4 spins alone, each in vain: the yields are no longer believed
	 * (a party asleep is on no CPU; review round 14: every throttled
	 * wait spun 20 us). */
	cr_expect_eq(alone, 4, "%llu spins alone", (unsigned long long)alone);
	/* 4 to learn, 4 alone, then the probes (T1: 5 to 10 in all). */
	cr_expect_geq(spun, 4 + 4 + 1, "spun %llu times",
	              (unsigned long long)spun);
	cr_expect_leq(spun, 4 + 4 + 6, "spun %llu times",
	              (unsigned long long)spun);
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* The other party of T25: arrives (a split-phase arrival, the phase's
 * last) from the waiter's own ALONE point — while it spins — once. */
static rally_barrier_t *arrive_at_alone_b;
static rally_token_t arrive_at_alone_tok;
static int arrive_at_alone_rc = -1;

static void arrive_at_alone(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	if (arrive_at_alone_rc == -1)
		arrive_at_alone_rc =
		    rally_barrier_arrive(arrive_at_alone_b, &arrive_at_alone_tok);
}

/* ... and when such a spin pays off, the throttle ends: the next wait
 * spins from the start (not only the 16th throttled wait's probe). The
 * party awaited arrives during the spin, from the ALONE point. */
Test(hardening, T25_an_alone_spin_that_pays_off_ends_the_throttle,
     .timeout = 30)
{
	rally__set_alone_yield_ns(INT64_MAX);
	rally_barrier_t b;
	cr_assert_eq(rally_barrier_init(&b, 2, NULL), 0);
	/* 4 waits to learn, 2 throttled (2 spins alone in vain: fewer than
	 * the 4 after which alone no longer counts). */
	struct late_party l = {&b, 6, 2};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	for (int i = 0; i < l.phases; i++)
		cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_assert_geq(rally__point_hits(RALLY__POINT_THROTTLED), 1,
	              "not throttled after %d late phases", l.phases);
	uint64_t alone = rally__point_hits(RALLY__POINT_ALONE);
	arrive_at_alone_b = &b;
	rally__point_on(RALLY__POINT_ALONE, arrive_at_alone, NULL);
	cr_assert_geq(rally_barrier_timedwait(&b, 2000000000LL), 0,
	              "no spin alone: nobody arrived");
	rally__point_on(RALLY__POINT_ALONE, NULL, NULL);
	cr_assert_eq(rally__point_hits(RALLY__POINT_ALONE), alone + 1);
	cr_assert_eq(arrive_at_alone_rc, 1);
	cr_assert_eq(rally_barrier_await(&b, arrive_at_alone_tok, 0), 0);
	/* The next wait, its party 2 ms late again, is judged afresh. */
	uint64_t throttled = rally__point_hits(RALLY__POINT_THROTTLED);
	l = (struct late_party){&b, 1, 2};
	cr_assert_eq(pthread_create(&th, NULL, arrive_late, &l), 0);
	cr_assert_geq(rally_barrier_wait(&b), 0);
	pthread_join(th, NULL);
	cr_expect_eq(rally__point_hits(RALLY__POINT_THROTTLED), throttled,
	             "still throttled after a spin that paid off");
	cr_expect_eq(rally_barrier_destroy(&b), 0);
}

/* T26, T27: a robust barrier of 2 whose process noted phase 0, then
 * 2^28 - 5 phases without a note: that note now seems 4 phases ahead. */
static rally_barrier_t *a_note_2_28_phases_old(void)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, plain_wait_main, b), 0);
	test_sleep_ms(20); /* waits: notes phase 0 */
	cr_assert_geq(rally_barrier_wait(b), 0);
	pthread_join(t, NULL);
	cr_assert_eq(rally__barrier_skip_phases(b, (1u << 28) - 5), 0);
	return b;
}

/* A note 2^28 - 4 phases old names a phase 4 "ahead" of the current one,
 * which still takes arrivals — where no process can be ahead: the process
 * that made it and never arrived since is late, and late() lists it
 * (review round 13: it read as an arrival 2^20 phases in every 2^28). */
Test(hardening, T26_a_note_from_2_28_phases_ago_is_no_arrival,
     .timeout = 30)
{
	rally_barrier_t *b = a_note_2_28_phases_old();
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		char c;
		(void)!read(go[0], &c, 1);
		rally_barrier_wait(b); /* notes the current phase */
		_exit(0);
	}
	(void)!write(go[1], "g", 1);
	while (rally_barrier_n_waiting(b) < 1)
		test_sleep_ms(1);
	test_sleep_ms(20);
	pid_t p[4];
	int n = rally_barrier_late(b, p, 4);
	cr_expect(n == 1 && p[0] == getpid(),
	          "late() lists %d (the first %d), not this process %d", n,
	          n > 0 ? p[0] : 0, getpid());
	cr_assert_geq(rally_barrier_wait(b), 0);
	waitpid(child, NULL, 0);
}

/* A note 2^28 - 4 phases old seems 4 phases ahead of the current one; a
 * process that waits in it now must replace it — the phase still takes
 * arrivals, so no thread can be ahead — or late() lists it, though it
 * waits (review round 14: the note only moved "forward"). */
Test(hardening, T27_a_waiter_replaces_a_note_that_seems_ahead,
     .timeout = 30)
{
	rally_barrier_t *b = a_note_2_28_phases_old();
	pthread_t t;
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		char c;
		(void)!read(go[0], &c, 1);
		rally_barrier_wait(b); /* the late one */
		_exit(0);
	}
	cr_assert_eq(pthread_create(&t, NULL, plain_wait_main, b), 0);
	test_sleep_ms(50); /* waits: notes the current phase */
	pid_t p[4];
	int n = rally_barrier_late(b, p, 4);
	cr_expect(n == 1 && p[0] == child,
	          "late() lists %d (the first %d), not only the child %d", n,
	          n > 0 ? p[0] : 0, child);
	(void)!write(go[1], "g", 1);
	pthread_join(t, NULL);
	waitpid(child, NULL, 0);
}

/* A monitor (no participant) killed inside a robust reset, before its
 * swap: rally_barrier_dead() names it, and a wait returns RALLY_OWNERDEAD
 * (review round 11: dead() listed nobody and waits returned RALLY_BROKEN
 * until the next reset — robust callers do not wait out a reset, so no
 * slice of theirs ever looked at the holder). T28 asks dead() first, T29
 * waits first. */
static pid_t kill_a_monitor_inside_a_reset(rally_barrier_t *b)
{
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	cr_assert_eq(rally_barrier_abort(b), 0); /* something to reset */
	pid_t monitor = fork();
	if (monitor == 0) { /* not attached: a monitor */
		rally__pause_arm(RALLY__POINT_RESET_RECORDED, 0, 0);
		rally_barrier_reset(b);
		_exit(0);
	}
	test_sleep_ms(200); /* held inside the reset */
	kill(monitor, SIGKILL);
	waitpid(monitor, NULL, 0);
	test_sleep_ms(60); /* past the holder checks' rate limit */
	return monitor;
}

static void expect_dead_lists(rally_barrier_t *b, pid_t monitor)
{
	pid_t p[4];
	int n = rally_barrier_dead(b, p, 4);
	cr_expect(n == 1 && p[0] == monitor,
	          "dead() lists %d (the first %d), not the monitor %d", n,
	          n > 0 ? p[0] : 0, monitor);
}

Test(hardening, T28_a_monitor_killed_inside_a_reset_is_reported,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	pid_t monitor = kill_a_monitor_inside_a_reset(b);
	expect_dead_lists(b, monitor);
	cr_expect_eq(rally_barrier_timedwait(b, 100000000), RALLY_OWNERDEAD);
}

Test(hardening, T29_a_wait_finds_the_monitor_killed_inside_a_reset,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	pid_t monitor = kill_a_monitor_inside_a_reset(b);
	cr_expect_eq(rally_barrier_timedwait(b, 100000000), RALLY_OWNERDEAD);
	expect_dead_lists(b, monitor);
}

static int kill_myself(void *arg)
{
	(void)arg;
	kill(getpid(), SIGKILL);
	return 0;
}

/* A participant killed inside its action holds BUSY: dead() lists it once
 * (review round 18: once by its slot and once as a dead holder). */
Test(hardening, T30_a_participant_dead_holding_busy_is_listed_once,
     .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST,
	                             .action = kill_myself};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_eq(rally_barrier_attach(b), 0);
	rally_token_t tok;
	cr_assert_eq(rally_barrier_arrive(b, &tok), 0);
	pid_t child = fork();
	if (child == 0) {
		rally_barrier_attach(b);
		rally_barrier_wait(b); /* the last arrival: runs the action */
		_exit(0);
	}
	waitpid(child, NULL, 0);
	pid_t p[4] = {0};
	int n = rally_barrier_dead(b, p, 4);
	cr_expect(n == 1 && p[0] == child, "dead() lists %d: %d %d (child %d)",
	          n, p[0], p[1], child);
	cr_expect_eq(rally_barrier_await(b, tok, 1000000000), RALLY_OWNERDEAD);
}

/* Two dead slots of one pid (a pid reused twice, planted): dead() lists it
 * once (review round 20: twice). */
Test(hardening, T31_dead_lists_a_pid_once, .timeout = 30)
{
	rally_barrier_t *b = page_alloc(true);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	cr_assert_eq(rally_barrier_init(b, 2, &attr), 0);
	cr_assert_geq(rally__barrier_plant_pid_twin(b, 1, 0), 0);
	cr_assert_geq(rally__barrier_plant_pid_twin(b, 2, 0), 0);
	pid_t p[4] = {0};
	int n = rally_barrier_dead(b, p, 4);
	cr_expect(n == 1 && p[0] == getpid(), "dead() lists %d: %d %d", n,
	          p[0], p[1]);
}
