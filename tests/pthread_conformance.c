/* pthread_conformance.c — the POSIX surface of pthread barriers, run
 * against the C library and against librally-pthread.so (LD_PRELOAD), the
 * same program both ways:
 *
 *   pthread_conformance --expect glibc|shim [--threads LIST]
 *
 * --expect says which implementation must be in place (the shim's marker
 * symbol is looked up): a preload that silently did not happen fails. The
 * checks that only the shim promises (glibc leaves them undefined, or
 * blocks) run with --expect shim only, and say so.
 *
 * Prints a line per check and ends with "N passed, N failed"; exit status
 * 1 if anything failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
static bool shim;

static void check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s: ", ok ? "ok" : "FAILED");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pthread_conformance: %s: %s\n", what, strerror(rc));
	exit(2);
}

static void start(pthread_t *t, void *(*f)(void *), void *arg)
{
	int rc = pthread_create(t, NULL, f, arg);
	if (rc)
		die("pthread_create", rc);
}

/* ---- one serial thread per phase, nobody released early ----------------- */

struct phases {
	pthread_barrier_t barrier;
	unsigned threads, phases;
	_Atomic unsigned arrived;          /* arrivals ever */
	_Atomic unsigned *serial;          /* SERIAL answers per phase */
	_Atomic unsigned bad_answer, early; /* neither 0 nor SERIAL; early */
};

static void *phase_worker(void *arg)
{
	struct phases *p = arg;
	for (unsigned k = 0; k < p->phases; k++) {
		atomic_fetch_add(&p->arrived, 1);
		int rc = pthread_barrier_wait(&p->barrier);
		/* Released: every thread arrived for phase k. */
		if (atomic_load(&p->arrived) < (k + 1) * p->threads)
			atomic_fetch_add(&p->early, 1);
		if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
			atomic_fetch_add(&p->serial[k], 1);
		else if (rc != 0)
			atomic_fetch_add(&p->bad_answer, 1);
	}
	return NULL;
}

static void serial_once_per_phase(unsigned threads, unsigned phases)
{
	struct phases p = {.threads = threads, .phases = phases};
	p.serial = calloc(phases, sizeof *p.serial);
	pthread_t *t = calloc(threads, sizeof *t);
	if (!p.serial || !t)
		die("calloc", ENOMEM);
	int rc = pthread_barrier_init(&p.barrier, NULL, threads);
	if (rc)
		die("pthread_barrier_init", rc);
	for (unsigned i = 0; i < threads; i++)
		start(&t[i], phase_worker, &p);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	unsigned wrong = 0;
	for (unsigned k = 0; k < phases; k++)
		wrong += p.serial[k] != 1;
	check(wrong == 0, "%u threads, %u phases: PTHREAD_BARRIER_SERIAL_THREAD "
	      "exactly once per phase (%u phases not)", threads, phases, wrong);
	check(p.bad_answer == 0, "%u threads: every other answer is 0 (%u not)",
	      threads, p.bad_answer);
	check(p.early == 0, "%u threads: nobody released before all arrived "
	      "(%u early)", threads, p.early);
	check(pthread_barrier_destroy(&p.barrier) == 0,
	      "%u threads: destroy after the last phase: 0", threads);
	free(p.serial);
	free(t);
}

/* ---- arguments and errors ------------------------------------------------ */

static pthread_barrier_t errno_barrier;
static _Atomic unsigned errno_changed;
static _Atomic bool errno_done;

static void on_usr1(int sig) { (void)sig; }

/* Thread 0 arrives late each phase, so that the others sleep in the
 * futex, where a signal (EINTR) sets errno. */
static void *errno_worker(void *arg)
{
	bool late = arg != NULL;
	for (int k = 0; k < 500; k++) {
		if (late)
			nanosleep(&(struct timespec){0, 100000}, NULL);
		errno = 4242;
		pthread_barrier_wait(&errno_barrier);
		if (errno != 4242)
			atomic_fetch_add(&errno_changed, 1);
	}
	return NULL;
}

static void *errno_signaller(void *arg)
{
	pthread_t *t = arg;
	while (!atomic_load(&errno_done)) {
		for (int i = 1; i < 4; i++)
			pthread_kill(t[i], SIGUSR1);
		nanosleep(&(struct timespec){0, 20000}, NULL);
	}
	return NULL;
}

static void errors(void)
{
	pthread_barrier_t b;
	check(pthread_barrier_init(&b, NULL, 0) == EINVAL, "count 0: EINVAL");

	pthread_barrierattr_t bad;
	memset(&bad, 0x2a, sizeof bad); /* pshared neither value */
	int rc = pthread_barrier_init(&b, &bad, 2);
	if (shim)
		check(rc == EINVAL,
		      "an attr whose pshared is neither value: EINVAL");
	else /* glibc 2.36 takes it (as private) */
		printf("not checked (glibc): an attr whose pshared is neither "
		       "value: %d (%s)\n", rc, rc ? strerror(rc) : "taken");
	if (rc == 0)
		pthread_barrier_destroy(&b);

	pthread_barrierattr_t priv;
	pthread_barrierattr_init(&priv);
	pthread_barrierattr_setpshared(&priv, PTHREAD_PROCESS_PRIVATE);
	check(pthread_barrier_init(&b, &priv, 1) == 0,
	      "PTHREAD_PROCESS_PRIVATE attr, count 1: 0");
	bool all_serial = true;
	for (int i = 0; i < 1000; i++)
		all_serial &= pthread_barrier_wait(&b) ==
		              PTHREAD_BARRIER_SERIAL_THREAD;
	check(all_serial, "count 1: every wait answers SERIAL");
	check(pthread_barrier_destroy(&b) == 0, "count 1: destroy: 0");
	pthread_barrierattr_destroy(&priv);

	errno = 4242;
	check(pthread_barrier_init(&b, NULL, 1) == 0 &&
	          pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD &&
	          pthread_barrier_destroy(&b) == 0 && errno == 4242,
	      "errno untouched by init, wait and destroy (%d)", errno);
	/* With waits that sleep and signals that interrupt them (a futex's
	 * EINTR and EAGAIN set errno). */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	pthread_barrier_init(&errno_barrier, NULL, 4);
	pthread_t t[4], sig;
	for (int i = 0; i < 4; i++)
		start(&t[i], errno_worker, i == 0 ? (void *)1 : NULL);
	start(&sig, errno_signaller, t);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	atomic_store(&errno_done, true);
	pthread_join(sig, NULL);
	pthread_barrier_destroy(&errno_barrier);
	check(errno_changed == 0, "4 threads, 500 phases, signals meanwhile: "
	      "errno untouched by every wait (%u changed it)", errno_changed);
}

/* ---- many barriers at once ----------------------------------------------- */

enum { MANY = 64, MANY_THREADS = 4, MANY_ROUNDS = 200 };
static pthread_barrier_t many[MANY];
static _Atomic unsigned many_serial[MANY], many_bad;

static void *many_worker(void *arg)
{
	(void)arg;
	/* Every thread in the same order (each barrier needs them all). */
	for (unsigned r = 0; r < MANY_ROUNDS; r++)
		for (unsigned i = 0; i < MANY; i++) {
			int rc = pthread_barrier_wait(&many[i]);
			if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
				atomic_fetch_add(&many_serial[i], 1);
			else if (rc != 0)
				atomic_fetch_add(&many_bad, 1);
		}
	return NULL;
}

static void many_barriers(void)
{
	for (unsigned i = 0; i < MANY; i++) {
		int rc = pthread_barrier_init(&many[i], NULL, MANY_THREADS);
		if (rc)
			die("pthread_barrier_init", rc);
	}
	pthread_t t[MANY_THREADS];
	for (unsigned i = 0; i < MANY_THREADS; i++)
		start(&t[i], many_worker, NULL);
	for (unsigned i = 0; i < MANY_THREADS; i++)
		pthread_join(t[i], NULL);
	unsigned wrong = 0, destroyed = 0;
	for (unsigned i = 0; i < MANY; i++) {
		wrong += many_serial[i] != MANY_ROUNDS;
		destroyed += pthread_barrier_destroy(&many[i]) == 0;
	}
	check(wrong == 0 && many_bad == 0,
	      "%d barriers at once, %d threads: SERIAL once per phase of "
	      "each (%u barriers not, %u bad answers)", MANY, MANY_THREADS,
	      wrong, many_bad);
	check(destroyed == MANY, "%d barriers destroyed: %u", MANY, destroyed);
}

/* ---- destroy right after the wait, and init again ------------------------ */

struct cycle {
	pthread_barrier_t *b; /* on the heap: freed by the serial thread */
	pthread_barrier_t gate;
	_Atomic unsigned bad;
};

static void *cycle_worker(void *arg)
{
	struct cycle *c = arg;
	pthread_barrier_wait(&c->gate); /* c->b is ready */
	int rc = pthread_barrier_wait(c->b);
	if (rc == PTHREAD_BARRIER_SERIAL_THREAD) {
		/* The others may still be leaving: POSIX lets the serial
		 * thread destroy (and free) now. */
		if (pthread_barrier_destroy(c->b) != 0)
			atomic_fetch_add(&c->bad, 1);
		free(c->b);
	} else if (rc != 0) {
		atomic_fetch_add(&c->bad, 1);
	}
	pthread_barrier_wait(&c->gate); /* done */
	return NULL;
}

static void destroy_after_wait(unsigned cycles)
{
	struct cycle c = {0};
	enum { T = 3 };
	pthread_barrier_init(&c.gate, NULL, T + 1);
	pthread_t t[T];
	unsigned inits_ok = 0;
	for (unsigned k = 0; k < cycles; k++) {
		c.b = malloc(sizeof *c.b);
		if (!c.b)
			die("malloc", ENOMEM);
		inits_ok += pthread_barrier_init(c.b, NULL, T) == 0;
		for (unsigned i = 0; i < T; i++)
			start(&t[i], cycle_worker, &c);
		pthread_barrier_wait(&c.gate);
		pthread_barrier_wait(&c.gate);
		for (unsigned i = 0; i < T; i++)
			pthread_join(t[i], NULL);
	}
	pthread_barrier_destroy(&c.gate);
	check(inits_ok == cycles && c.bad == 0,
	      "%u cycles of init, wait by 3 threads, destroy and free by the "
	      "serial thread at once: all 0 (%u inits failed, %u bad)",
	      cycles, cycles - inits_ok, c.bad);

	/* One barrier, destroyed and initialised again in place. */
	pthread_barrier_t b;
	unsigned ok = 0;
	for (unsigned k = 0; k < 10000; k++)
		ok += pthread_barrier_init(&b, NULL, 1) == 0 &&
		      pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD &&
		      pthread_barrier_destroy(&b) == 0;
	check(ok == 10000, "10000 init/wait/destroy in place: %u", ok);
}

/* ---- the serial thread when the other destroys at once ------------------- */

/* Two threads on one CPU meet at a fresh barrier of 2 each phase; A
 * destroys it as soon as its own wait returned (POSIX allows it); B runs
 * SCHED_IDLE, so that A runs first once both are released, while B is
 * still inside its wait. Each phase gives SERIAL to exactly one of them
 * (review of the shim, 1: B read the freed barrier, and with RALLY_SPIN=
 * never 1000 of 1000 phases had no serial thread). */
enum { IDLE_PHASES = 1000 };
static pthread_barrier_t idle_bars[IDLE_PHASES];
static int idle_a[IDLE_PHASES], idle_b[IDLE_PHASES];

static void pin_to_cpu0(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	pin_to_cpu0();
	struct sched_param p = {0};
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &p);
	for (int i = 0; i < IDLE_PHASES; i++)
		idle_b[i] = pthread_barrier_wait(&idle_bars[i]);
	return NULL;
}

static void *destroying_thread(void *arg)
{
	(void)arg;
	pin_to_cpu0();
	for (int i = 0; i < IDLE_PHASES; i++) {
		idle_a[i] = pthread_barrier_wait(&idle_bars[i]);
		pthread_barrier_destroy(&idle_bars[i]);
	}
	return NULL;
}

static void serial_while_destroyed(void)
{
	for (int i = 0; i < IDLE_PHASES; i++)
		pthread_barrier_init(&idle_bars[i], NULL, 2);
	pthread_t a, b;
	start(&b, idle_thread, NULL);
	start(&a, destroying_thread, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	int wrong = 0;
	for (int i = 0; i < IDLE_PHASES; i++)
		wrong += (idle_a[i] == PTHREAD_BARRIER_SERIAL_THREAD) +
		                 (idle_b[i] == PTHREAD_BARRIER_SERIAL_THREAD) !=
		         1;
	check(wrong == 0, "%d phases on one CPU, destroyed by one caller as "
	      "its wait returns: SERIAL to exactly one (%d phases not)",
	      IDLE_PHASES, wrong);
}

/* ---- counts beyond rally's, and init again ------------------------------- */

static void big_counts(void)
{
	/* glibc takes counts up to about INT_MAX; the shim hands those
	 * beyond rally's to it (review of the shim, 3). */
	unsigned counts[] = {(1u << 30) + 1, 2147483646u};
	for (int i = 0; i < 2; i++) {
		pthread_barrier_t b;
		int rc = pthread_barrier_init(&b, NULL, counts[i]);
		check(rc == 0, "count %u: 0 (%d)", counts[i], rc);
		if (rc == 0)
			check(pthread_barrier_destroy(&b) == 0,
			      "count %u: destroy: 0", counts[i]);
	}
	/* Initialised again (undefined in POSIX, taken by glibc), with a
	 * count rally does not take in between: nothing freed twice
	 * (review of the shim, 2: a double free). */
	pthread_barrier_t b;
	int rc1 = pthread_barrier_init(&b, NULL, 2);
	int rc2 = pthread_barrier_init(&b, NULL, (1u << 30) + 1);
	int rc3 = pthread_barrier_init(&b, NULL, 1);
	int rc4 = pthread_barrier_wait(&b);
	int rc5 = pthread_barrier_destroy(&b);
	check(rc1 == 0 && rc2 == 0 && rc3 == 0 &&
	          rc4 == PTHREAD_BARRIER_SERIAL_THREAD && rc5 == 0,
	      "init 2, init 2^30+1, init 1, wait, destroy: 0 0 0 SERIAL 0 "
	      "(%d %d %d %d %d)", rc1, rc2, rc3, rc4, rc5);
	/* An init again that the C library refuses leaves the barrier as
	 * it was (review 3: the shim's was destroyed first). */
	rc1 = pthread_barrier_init(&b, NULL, 1);
	rc2 = pthread_barrier_init(&b, NULL, UINT_MAX);
	rc3 = pthread_barrier_wait(&b);
	rc4 = pthread_barrier_destroy(&b);
	check(rc1 == 0 && rc2 == EINVAL &&
	          rc3 == PTHREAD_BARRIER_SERIAL_THREAD && rc4 == 0,
	      "init 1, init UINT_MAX (refused), wait, destroy: 0 EINVAL "
	      "SERIAL 0 (%d %d %d %d)", rc1, rc2, rc3, rc4);
}

/* ---- fork() while a thread waits ------------------------------------------ */

static pthread_barrier_t fork_barrier, fork_idle;

static void *fork_waiter(void *arg)
{
	pthread_barrier_wait(arg);
	return NULL;
}

/* In the child: its own thread waits at a barrier the parent made (idle at
 * the fork); destroy then answers EBUSY, as anywhere (review 2 of the
 * shim: the child's destroy freed it under the waiter). 0 if right. */
static int child_destroy_busy(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fork_waiter, &fork_idle))
		return 1;
	int rc = 0;
	for (int i = 0; i < 2000 && rc != EBUSY; i++) {
		nanosleep(&(struct timespec){0, 1000000}, NULL);
		rc = pthread_barrier_destroy(&fork_idle);
		if (rc == 0) /* nobody waited yet */
			pthread_barrier_init(&fork_idle, NULL, 2);
	}
	pthread_barrier_wait(&fork_idle);
	pthread_join(t, NULL);
	return rc == EBUSY && pthread_barrier_destroy(&fork_idle) == 0 ? 0 : 2;
}

/* The child has a copy of a barrier a thread of its parent waits at; it
 * initialises it again for itself, as glibc lets it (review of the shim,
 * 4: the shim answered EBUSY, and destroy then waited for ever for the
 * parent's thread). */
static void fork_while_waiting(void)
{
	pthread_barrier_init(&fork_barrier, NULL, 2);
	pthread_barrier_init(&fork_idle, NULL, 2);
	pthread_t t;
	start(&t, fork_waiter, &fork_barrier);
	struct timespec ms = {0, 20000000};
	nanosleep(&ms, NULL); /* the thread waits (most likely) */
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		alarm(10);
		int a = pthread_barrier_init(&fork_barrier, NULL, 1);
		int w = pthread_barrier_wait(&fork_barrier);
		int d = pthread_barrier_destroy(&fork_barrier);
		if (a != 0 || w != PTHREAD_BARRIER_SERIAL_THREAD || d != 0)
			_exit(10 + (a != 0) + 2 * (w != -1) + 4 * (d != 0));
		/* glibc's destroy waits for the phase instead of EBUSY */
		_exit(shim ? 20 * child_destroy_busy() : 0);
	}
	int status;
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork() while a thread waits: the child inits its copy again, "
	      "waits alone, destroys: 0 SERIAL 0; %s (status %d)",
	      shim ? "its own thread waits at a barrier its parent made: "
	             "destroy EBUSY, then 0"
	           : "(EBUSY not checked: glibc waits)", status);
	pthread_barrier_destroy(&fork_idle);
	pthread_barrier_wait(&fork_barrier);
	pthread_join(t, NULL);
	check(pthread_barrier_destroy(&fork_barrier) == 0,
	      "fork() while a thread waits: the parent goes on, destroys: 0");
}

/* ---- fork handlers of other code, registered before any barrier --------- */

/* A child handler that uses a barrier (registered in main before any
 * barrier exists): the shim's own fork handling must not stand in its way
 * (review 3 of the shim: a lock taken around fork() deadlocked it). */
static int handler_result = -1;

static void child_handler_uses_barrier(void)
{
	pthread_barrier_t b;
	int a = pthread_barrier_init(&b, NULL, 1);
	int w = pthread_barrier_wait(&b);
	int d = pthread_barrier_destroy(&b);
	handler_result = a == 0 && w == PTHREAD_BARRIER_SERIAL_THREAD && d == 0
	                     ? 0
	                     : 1;
}

static void fork_with_handlers(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		alarm(10);
		_exit(handler_result == 0 ? 0 : 3);
	}
	int status;
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork() with another library's child handler (registered "
	      "first) that uses a barrier: no hang (status %d)", status);
}

/* ---- a fork() while another thread starts barriers again ----------------- */

/* P (a child: each barrier is of an earlier fork count there) has a thread
 * that makes the first call on each of RESTARTS barriers — starting each
 * again — while P's main thread forks C in the middle; C then calls wait
 * on every barrier. A barrier caught mid-restart must not hang C (review 4
 * of the shim: 2 children in 10 hung, pinned to one CPU). */
enum { RESTARTS = 20000, RESTART_TRIALS = 12 };
static pthread_barrier_t *restart_bars;
static atomic_bool restart_go;

static void *restarter(void *arg)
{
	(void)arg;
	atomic_store(&restart_go, true);
	for (int i = 0; i < RESTARTS; i++)
		pthread_barrier_wait(&restart_bars[i]);
	return NULL;
}

static void fork_during_restart(void)
{
	restart_bars = calloc(RESTARTS, sizeof *restart_bars);
	if (!restart_bars)
		die("calloc", ENOMEM);
	int hung = 0;
	for (int t = 0; t < RESTART_TRIALS; t++) {
		for (int i = 0; i < RESTARTS; i++)
			pthread_barrier_init(&restart_bars[i], NULL, 1);
		pid_t p = fork();
		if (p < 0)
			die("fork", errno);
		if (p == 0) {
			cpu_set_t one; /* one CPU: the fork lands mid-restart */
			CPU_ZERO(&one);
			CPU_SET(0, &one);
			sched_setaffinity(0, sizeof one, &one);
			atomic_store(&restart_go, false);
			pthread_t th;
			pthread_create(&th, NULL, restarter, NULL);
			while (!atomic_load(&restart_go))
				sched_yield();
			nanosleep(&(struct timespec){0, (t * 37 % 200) * 1000},
			          NULL);
			pid_t c = fork();
			if (c == 0) {
				alarm(5);
				int bad = 0; /* review 5: EINVAL for good */
				for (int i = 0; i < RESTARTS; i++)
					bad += pthread_barrier_wait(
					           &restart_bars[i]) !=
					       PTHREAD_BARRIER_SERIAL_THREAD;
				_exit(bad ? 2 : 0);
			}
			int st;
			waitpid(c, &st, 0);
			pthread_join(th, NULL);
			_exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
		}
		int st;
		waitpid(p, &st, 0);
		hung += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		for (int i = 0; i < RESTARTS; i++)
			pthread_barrier_destroy(&restart_bars[i]);
	}
	free(restart_bars);
	check(hung == 0, "fork() while a thread starts %d barriers again (a "
	      "child's first calls): the grandchild's waits end, SERIAL (%d "
	      "of %d hung or failed)", RESTARTS, hung, RESTART_TRIALS);
}

/* ---- a library's fork handler, registered before the shim's load -------- */

extern pthread_barrier_t forklib_barrier; /* tests/pthread_forklib.c */
extern int forklib_armed, forklib_destroy, forklib_init;

static void *forklib_waiter(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&forklib_barrier);
	return NULL;
}

/* A thread waits at the library's barrier when the program forks; the
 * library's child handler destroys it and makes it again: 0 and 0, as the
 * parent's waiter is not the child's (review 5 of the shim: EBUSY, the
 * fork not yet counted there). The shim only: glibc's destroy waits. */
static void forklib_handler(void)
{
	pthread_barrier_init(&forklib_barrier, NULL, 2);
	pthread_t t;
	start(&t, forklib_waiter, NULL);
	nanosleep(&(struct timespec){0, 20000000}, NULL); /* it waits */
	forklib_armed = 1;
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		alarm(5);
		int ok = forklib_destroy == 0 && forklib_init == 0 &&
		         pthread_barrier_wait(&forklib_barrier) ==
		             PTHREAD_BARRIER_SERIAL_THREAD;
		_exit(ok ? 0 : 10 + (forklib_destroy != 0) +
		                   2 * (forklib_init != 0));
	}
	forklib_armed = 0;
	int st;
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a library's fork child handler (registered before the shim "
	      "was loaded) destroys and inits its barrier a parent's thread "
	      "waits at: 0, 0, then it works (status %d)", st);
	pthread_barrier_wait(&forklib_barrier);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&forklib_barrier);
}

/* ---- not a cancellation point, also in a child's first call -------------- */

static pthread_barrier_t child_cancel_barrier;
static int child_cancel_rc = 99;

static void *cancel_first_call(void *arg)
{
	pthread_cancel(pthread_self());
	child_cancel_rc = arg ? pthread_barrier_destroy(&child_cancel_barrier)
	                      : pthread_barrier_wait(&child_cancel_barrier);
	return NULL;
}

/* In a fork child, a thread with a cancellation pending makes the first
 * call on a barrier (which starts it again), then the main thread waits
 * there (review 4 of the shim: the restart called getrandom(), a
 * cancellation point; the thread died mid-restart and every later call
 * spun for ever). And init itself, with a cancellation pending. */
static void cancel_in_first_calls(void)
{
	for (int destroy = 0; destroy < 2; destroy++) {
		pthread_barrier_init(&child_cancel_barrier, NULL, 1);
		pid_t pid = fork();
		if (pid < 0)
			die("fork", errno);
		if (pid == 0) {
			alarm(5);
			pthread_t t;
			pthread_create(&t, NULL, cancel_first_call,
			               destroy ? (void *)1 : NULL);
			void *ret;
			pthread_join(t, &ret);
			if (ret == PTHREAD_CANCELED)
				_exit(2);
			if (destroy)
				pthread_barrier_init(&child_cancel_barrier, NULL,
				                     1);
			_exit(pthread_barrier_wait(&child_cancel_barrier) ==
			              PTHREAD_BARRIER_SERIAL_THREAD
			          ? 0
			          : 3);
		}
		int st;
		waitpid(pid, &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "a fork child's first call (%s) with a cancellation "
		      "pending: not cancelled, and the barrier works after "
		      "(status %d)", destroy ? "destroy" : "wait", st);
		pthread_barrier_destroy(&child_cancel_barrier);
	}
}

static void *cancel_init(void *arg)
{
	(void)arg;
	pthread_cancel(pthread_self());
	pthread_barrier_t b;
	int rc = pthread_barrier_init(&b, NULL, 2);
	if (rc == 0)
		pthread_barrier_destroy(&b);
	return (void *)(intptr_t)(rc == 0 ? 1 : 2);
}

static void init_not_a_cancellation_point(void)
{
	pthread_t t;
	start(&t, cancel_init, NULL);
	void *ret;
	pthread_join(t, &ret);
	check(ret == (void *)1, "init with a cancellation pending: not "
	      "cancelled, 0 (%s)", ret == PTHREAD_CANCELED ? "cancelled"
	                                                   : "returned");
}

/* ---- not a cancellation point -------------------------------------------- */

/* POSIX: an implementation shall not make other functions cancellation
 * points. A thread with a cancellation pending completes a phase and
 * destroys the barrier at once, while the other caller, released, is still
 * in a signal handler inside its wait (so destroy waits for it to leave:
 * review 3 of the shim, the thread was cancelled inside destroy). */
static pthread_barrier_t cancel_barrier;
static volatile int cancel_stage, cancel_destroy_rc = 99;

static void on_usr2(int sig)
{
	(void)sig;
	nanosleep(&(struct timespec){0, 150000000}, NULL);
}

static void *cancel_other(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&cancel_barrier);
	return NULL;
}

static void *cancel_pending(void *arg)
{
	(void)arg;
	pthread_cancel(pthread_self()); /* acted on at a cancellation point */
	pthread_barrier_wait(&cancel_barrier);
	cancel_stage = 1;
	cancel_destroy_rc = pthread_barrier_destroy(&cancel_barrier);
	cancel_stage = 2;
	return NULL;
}

static void not_a_cancellation_point(void)
{
	struct sigaction sa = {.sa_handler = on_usr2};
	sigaction(SIGUSR2, &sa, NULL);
	pthread_barrier_init(&cancel_barrier, NULL, 2);
	pthread_t o, d;
	start(&o, cancel_other, NULL);
	struct timespec ms30 = {0, 30000000};
	nanosleep(&ms30, NULL); /* o waits */
	pthread_kill(o, SIGUSR2); /* o in its handler, inside the wait */
	nanosleep(&ms30, NULL);
	start(&d, cancel_pending, NULL);
	void *ret;
	pthread_join(d, &ret);
	pthread_join(o, NULL);
	check(ret != PTHREAD_CANCELED && cancel_stage == 2 &&
	          cancel_destroy_rc == 0,
	      "a cancellation pending: wait and destroy are no cancellation "
	      "points (%s at stage %d, destroy %d)",
	      ret == PTHREAD_CANCELED ? "cancelled" : "returned", cancel_stage,
	      cancel_destroy_rc);
}

/* ---- PTHREAD_PROCESS_SHARED goes to the C library ------------------------ */

static void process_shared(void)
{
	pthread_barrier_t *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
	                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		die("mmap", errno);
	pthread_barrierattr_t a;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	int rc = pthread_barrier_init(b, &a, 2);
	pthread_barrierattr_destroy(&a);
	check(rc == 0, "PTHREAD_PROCESS_SHARED init: 0 (%d)", rc);
	/* The shim's view starts with its tag: a shared barrier must not. */
	uint64_t first;
	memcpy(&first, b, sizeof first);
	check(first != 0x72616c6c79707462ull,
	      "PTHREAD_PROCESS_SHARED: left to the C library");
	enum { PHASES = 2000 };
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		int serial = 0;
		for (int i = 0; i < PHASES; i++) {
			int r = pthread_barrier_wait(b);
			if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
				_exit(3);
			serial += r == PTHREAD_BARRIER_SERIAL_THREAD;
		}
		_exit(serial > PHASES ? 4 : 0);
	}
	int serial = 0, bad = 0;
	for (int i = 0; i < PHASES; i++) {
		int r = pthread_barrier_wait(b);
		serial += r == PTHREAD_BARRIER_SERIAL_THREAD;
		bad += r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD;
	}
	int status;
	waitpid(pid, &status, 0);
	check(bad == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "PTHREAD_PROCESS_SHARED across fork: %d phases, both sides 0 "
	      "or SERIAL (parent bad %d, child status %d)", PHASES, bad,
	      status);
	check(pthread_barrier_destroy(b) == 0, "PTHREAD_PROCESS_SHARED "
	      "destroy: 0");
	munmap(b, sizeof *b);
}

/* ---- the shim only: what glibc leaves undefined or blocks on ------------- */

static pthread_barrier_t busy;

static void *copy_with_cancel(void *arg)
{
	pthread_cancel(pthread_self());
	int w = pthread_barrier_wait(arg);
	int d = pthread_barrier_destroy(arg);
	return (void *)(intptr_t)(w == EINVAL && d == EINVAL ? 1 : 2);
}

static void *busy_waiter(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&busy);
	return NULL;
}

static void shim_only(void)
{
	/* glibc's destroy waits for the phase instead. */
	pthread_barrier_init(&busy, NULL, 2);
	pthread_t t;
	start(&t, busy_waiter, NULL);
	struct timespec ms = {0, 1000000};
	int rc = 0;
	for (int i = 0; i < 2000 && rc != EBUSY; i++) { /* until it waits */
		nanosleep(&ms, NULL);
		rc = pthread_barrier_destroy(&busy);
		if (rc == 0) /* nobody waited yet: the barrier is gone */
			pthread_barrier_init(&busy, NULL, 2);
	}
	check(rc == EBUSY, "destroy while a caller waits: EBUSY (%d)", rc);
	check(pthread_barrier_init(&busy, NULL, 2) == EBUSY,
	      "init again while a caller waits: EBUSY");
	/* ... also when the new one would be the C library's (review 2 of
	 * the shim: the waiter was stranded, the barrier leaked). */
	pthread_barrierattr_t shared;
	pthread_barrierattr_init(&shared);
	pthread_barrierattr_setpshared(&shared, PTHREAD_PROCESS_SHARED);
	check(pthread_barrier_init(&busy, &shared, 2) == EBUSY &&
	          pthread_barrier_init(&busy, NULL, (1u << 30) + 1) == EBUSY,
	      "init again as PTHREAD_PROCESS_SHARED, or beyond 2^30, while "
	      "a caller waits: EBUSY");
	pthread_barrierattr_destroy(&shared);
	pthread_barrier_wait(&busy);
	pthread_join(t, NULL);
	check(pthread_barrier_destroy(&busy) == 0,
	      "destroy once the phase completed: 0");
	check(pthread_barrier_wait(&busy) == EINVAL,
	      "wait on a destroyed barrier: EINVAL");
	check(pthread_barrier_destroy(&busy) == EINVAL,
	      "destroy twice: EINVAL");
	check(pthread_barrier_init(&busy, NULL, 1) == 0 &&
	          pthread_barrier_wait(&busy) == PTHREAD_BARRIER_SERIAL_THREAD &&
	          pthread_barrier_destroy(&busy) == 0,
	      "a destroyed barrier initialised again works");
	/* A copy (undefined in POSIX) is not taken for the barrier, nor
	 * handed to the C library, which read the view as its counters and
	 * aborted (review of the shim, 8). */
	pthread_barrier_t orig, copy;
	pthread_barrier_init(&orig, NULL, 1);
	memcpy(&copy, &orig, sizeof copy);
	check(pthread_barrier_wait(&copy) == EINVAL &&
	          pthread_barrier_destroy(&copy) == EINVAL,
	      "a copy of a barrier: wait and destroy EINVAL");
	/* ... and no cancellation point there either, also when it says so
	 * (RALLY_PTHREAD_VERBOSE: review 4 wrote with write()) */
	pthread_t ct;
	start(&ct, copy_with_cancel, &copy);
	void *cret;
	pthread_join(ct, &cret);
	check(cret == (void *)1, "a copy, a cancellation pending%s: wait and "
	      "destroy EINVAL, not cancelled",
	      getenv("RALLY_PTHREAD_VERBOSE") ? " (verbose)" : "");
	check(pthread_barrier_wait(&orig) == PTHREAD_BARRIER_SERIAL_THREAD &&
	          pthread_barrier_destroy(&orig) == 0,
	      "the original still works");

	/* Through pointers the compiler cannot see into: pthread.h declares
	 * the argument nonnull. */
	int (*volatile wait)(pthread_barrier_t *) = pthread_barrier_wait;
	int (*volatile destroy)(pthread_barrier_t *) = pthread_barrier_destroy;
	int (*volatile init)(pthread_barrier_t *,
	                     const pthread_barrierattr_t *, unsigned) =
	    pthread_barrier_init;
	check(wait(NULL) == EINVAL && destroy(NULL) == EINVAL &&
	          init(NULL, NULL, 1) == EINVAL,
	      "NULL: EINVAL");
}

/* ---- main ---------------------------------------------------------------- */

static unsigned parse_list(const char *s, unsigned *out, unsigned max)
{
	unsigned n = 0;
	char *end;
	while (*s && n < max) {
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0 || v > 1024) {
			fprintf(stderr, "pthread_conformance: bad --threads "
			        "list\n");
			exit(2);
		}
		out[n++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	int errno_at_start = errno; /* 0, as ISO C says: nothing loaded set it */
	const char *expect = NULL;
	unsigned threads[16] = {1, 2, 4, 16, 64}, nthreads = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = parse_list(argv[++i], threads, 16);
		else {
			fprintf(stderr, "usage: pthread_conformance --expect "
			        "glibc|shim [--threads LIST]\n");
			return 2;
		}
	}
	if (!expect || (strcmp(expect, "glibc") && strcmp(expect, "shim"))) {
		fprintf(stderr, "pthread_conformance: --expect glibc|shim\n");
		return 2;
	}
	/* Before any barrier exists, as a library's constructor would. */
	pthread_atfork(NULL, NULL, child_handler_uses_barrier);
	shim = dlsym(RTLD_DEFAULT, "rally_pthread_shim") != NULL;
	check(shim == !strcmp(expect, "shim"), "implementation: %s, expected "
	      "%s", shim ? "librally-pthread (preloaded)" : "the C library",
	      expect);
	if (failed) /* testing the wrong one proves nothing */
		goto out;
	check(errno_at_start == 0, "errno at the start of main: 0 (%d)",
	      errno_at_start);

	for (unsigned i = 0; i < nthreads; i++)
		serial_once_per_phase(threads[i],
		                      threads[i] >= 16 ? 500 : 5000);
	errors();
	many_barriers();
	destroy_after_wait(300);
	serial_while_destroyed();
	big_counts();
	fork_while_waiting();
	fork_with_handlers();
	not_a_cancellation_point();
	init_not_a_cancellation_point();
	cancel_in_first_calls();
	fork_during_restart();
	process_shared();
	if (shim) {
		shim_only();
		forklib_handler();
	}
	else
		printf("skipped (glibc): EBUSY from destroy and init while "
		       "a caller waits (glibc blocks), calls on a destroyed "
		       "barrier, NULL (undefined there)\n");
out:
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
