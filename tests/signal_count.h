/* signal_count.h — what signals hit in a wait, for the tests that direct
 * signals at waiting threads (races.c, test_barrier.c).
 *
 * The signals a waiting thread took inside a wait, and asleep in it (from
 * its first futex sleep, the SLEEPING point, until the wait returned): the
 * handler runs on the thread the signal interrupted, and a signal that
 * finds a thread in futex_wait ends that call with EINTR. A test marks its
 * waits with sig_in_wait = WAITING / NOT_WAITING around them and sets
 * sig_self to its thread's number. */
#ifndef RALLY_TEST_SIGNAL_COUNT_H
#define RALLY_TEST_SIGNAL_COUNT_H

#include <signal.h>
#include <stdatomic.h>

#include "hooks.h"

enum { SIG_THREADS = 2 };
enum { NOT_WAITING, WAITING, ASLEEP };

static _Atomic long alarms;
static _Thread_local int sig_self = -1;
static _Thread_local volatile sig_atomic_t sig_in_wait;
static _Atomic long sig_in_waits[SIG_THREADS], sig_asleep[SIG_THREADS];

/* Futex sleeps this thread began (the SLEEPING point): a sleep that a
 * signal ended (EINTR) is begun again, so a wait with more than one was
 * interrupted (or woken spuriously) and went on waiting. */
static _Thread_local long sleeps_begun;

static void on_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&alarms, 1);
	if (sig_in_wait != NOT_WAITING && sig_self >= 0)
		atomic_fetch_add(&sig_in_waits[sig_self], 1);
	if (sig_in_wait == ASLEEP && sig_self >= 0)
		atomic_fetch_add(&sig_asleep[sig_self], 1);
}

static void count_sleep(enum rally__point p, void *arg)
{
	(void)p;
	(void)arg;
	sleeps_begun++;
	if (sig_in_wait == WAITING)
		sig_in_wait = ASLEEP;
}

/* The handler for SIGALRM, without SA_RESTART: futex waits see EINTR;
 * and the SLEEPING point counted. */
static inline void count_signals(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	rally__point_on(RALLY__POINT_SLEEPING, count_sleep, NULL);
}

#endif
