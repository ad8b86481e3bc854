/* test_event.c — rally_event_t: threading.Event's contract. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "hooks.h"
#include "rally.h"

Test(event_args, bad_input, .timeout = 10)
{
	rally_event_t e;
	cr_expect_eq(rally_event_init(NULL, 0), -EINVAL);
	cr_expect_eq(rally_event_init(&e, 0x80), -EINVAL);
	cr_expect_eq(rally_event_init(&e, RALLY_ROBUST), -EINVAL);
	memset(&e, 0, sizeof e);
	cr_expect_eq(rally_event_set(&e), -EINVAL);
	cr_expect_eq(rally_event_clear(&e), -EINVAL);
	cr_expect_eq(rally_event_wait(&e, 0), -EINVAL);
	cr_expect_eq(rally_event_destroy(&e), -EINVAL);
	cr_expect_not(rally_event_is_set(&e));
	cr_expect_eq(rally_event_set(NULL), -EINVAL);
	cr_expect_not(rally_event_is_set(NULL));
	cr_assert_eq(rally_event_init(&e, 0), 0);
	cr_expect_eq(rally_event_wait(&e, -2), -EINVAL);
	cr_expect_eq(rally_event_destroy(&e), 0);
	cr_expect_eq(rally_event_set(&e), -EINVAL);
	cr_expect_eq(rally_event_wait(&e, RALLY_FOREVER), -EINVAL);
}

Test(event, set_clear_and_timeouts, .timeout = 10)
{
	rally_event_t e;
	cr_assert_eq(rally_event_init(&e, 0), 0);
	cr_expect_not(rally_event_is_set(&e));
	cr_expect_eq(rally_event_wait(&e, 0), RALLY_TIMEDOUT);
	int64_t t0 = test_now_ns();
	cr_expect_eq(rally_event_wait(&e, 20000000), RALLY_TIMEDOUT);
	int64_t dt = test_now_ns() - t0;
	cr_expect_geq(dt, 20000000);
	cr_expect_lt(dt, 1000000000);
	cr_expect_eq(rally_event_set(&e), 0);
	cr_expect(rally_event_is_set(&e));
	cr_expect_eq(rally_event_set(&e), 0); /* idempotent */
	cr_expect_eq(rally_event_wait(&e, 0), 0);
	cr_expect_eq(rally_event_wait(&e, RALLY_FOREVER), 0);
	cr_expect_eq(rally_event_clear(&e), 0);
	cr_expect_not(rally_event_is_set(&e));
	cr_expect_eq(rally_event_clear(&e), 0);
	cr_expect_eq(rally_event_wait(&e, 0), RALLY_TIMEDOUT);
	cr_expect_eq(rally_event_destroy(&e), 0);
}

Test(event, set_without_waiters_makes_no_syscall, .timeout = 10)
{
	rally_event_t e;
	cr_assert_eq(rally_event_init(&e, 0), 0);
	uint64_t before = rally__futex_calls();
	for (int i = 0; i < 1000; i++) {
		rally_event_set(&e);
		cr_assert_eq(rally_event_wait(&e, RALLY_FOREVER), 0);
		rally_event_clear(&e);
	}
	cr_expect_eq(rally__futex_calls(), before);
	cr_expect_eq(rally_event_destroy(&e), 0);
}

struct wake_check {
	rally_event_t e;
	_Atomic unsigned started, woken, errors;
};

static void event_waiter(unsigned i, void *arg)
{
	struct wake_check *wc = arg;
	atomic_fetch_add(&wc->started, 1);
	if (rally_event_wait(&wc->e, RALLY_FOREVER) == 0)
		atomic_fetch_add(&wc->woken, 1);
	else
		atomic_fetch_add(&wc->errors, 1);
}

struct setter_arg {
	struct wake_check *wc;
	unsigned n;
	bool clear_at_once;
	int destroy_rc;
};

static void *setter(void *p)
{
	struct setter_arg *sa = p;
	while (atomic_load(&sa->wc->started) < sa->n)
		test_sleep_ms(1);
	test_sleep_ms(20); /* let them block */
	sa->destroy_rc = rally_event_destroy(&sa->wc->e);
	rally_event_set(&sa->wc->e);
	if (sa->clear_at_once)
		rally_event_clear(&sa->wc->e);
	return NULL;
}

static void run_wake(bool clear_at_once)
{
	for (unsigned k = 0; k < N_THREAD_COUNTS; k++) {
		unsigned n = test_thread_counts[k];
		struct wake_check wc = {0};
		cr_assert_eq(rally_event_init(&wc.e, 0), 0);
		struct setter_arg sa = {&wc, n, clear_at_once, 0};
		pthread_t t;
		pthread_create(&t, NULL, setter, &sa);
		test_run_threads(n, event_waiter, &wc);
		pthread_join(t, NULL);
		cr_expect_eq(sa.destroy_rc, -EBUSY, "%u waiters", n);
		cr_expect_eq(wc.woken, n, "%u waiters, clear %d", n,
		             clear_at_once);
		cr_expect_eq(wc.errors, 0);
		cr_expect_eq(rally_event_destroy(&wc.e), 0);
	}
}

Test(event, set_wakes_every_waiter, .timeout = 60) { run_wake(false); }

/* threading.Event: a waiter blocked when set() happened returns True even
 * if clear() follows at once. */
Test(event, clear_right_after_set_loses_no_wakeup, .timeout = 120)
{
	for (int i = 0; i < 20; i++)
		run_wake(true);
}

static rally_event_t sig_event;

static void set_from_handler(int sig)
{
	(void)sig;
	rally_event_set(&sig_event);
}

Test(event, set_from_a_signal_handler, .timeout = 10)
{
	cr_assert_eq(rally_event_init(&sig_event, 0), 0);
	struct sigaction sa = {.sa_handler = set_from_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	cr_expect_eq(rally_event_wait(&sig_event, 5000000000), 0);
	cr_expect(rally_event_is_set(&sig_event));
	cr_expect_eq(rally_event_destroy(&sig_event), 0);
}

Test(event, shared_across_processes, .timeout = 60)
{
	rally_event_t *e = mmap(NULL, sizeof *e, PROT_READ | PROT_WRITE,
	                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(e, MAP_FAILED);
	cr_assert_eq(rally_event_init(e, RALLY_SHARED), 0);
	pid_t kids[16];
	for (int i = 0; i < 16; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(rally_event_wait(e, 10000000000) == 0 ? 0 : 1);
	}
	test_sleep_ms(50);
	cr_expect_eq(rally_event_set(e), 0);
	for (int i = 0; i < 16; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", i);
	}
	/* And the other way round: a child sets, the parent waits. */
	rally_event_clear(e);
	pid_t p = fork();
	if (p == 0) {
		test_sleep_ms(20);
		_exit(rally_event_set(e) == 0 ? 0 : 1);
	}
	cr_expect_eq(rally_event_wait(e, 10000000000), 0);
	waitpid(p, NULL, 0);
	cr_expect_eq(rally_event_destroy(e), 0);
	munmap(e, sizeof *e);
}
