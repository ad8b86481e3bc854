/* test_shared.c — RALLY_SHARED barriers in an anonymous MAP_SHARED mapping,
 * used by fork()ed processes. Children report through the shared mapping
 * and their exit status; the parent asserts. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "rally.h"

#define ROUNDS    100
#define MAX_PROCS 64

static const unsigned proc_counts[] = {1, 2, 4, 16, 64};
#define N_PROC_COUNTS 5

struct shm {
	rally_barrier_t b;
	unsigned n;
	_Atomic unsigned seen[ROUNDS][MAX_PROCS];
	_Atomic unsigned actions, errors, broken, timedout, waiting_done;
	_Atomic unsigned long tickets, total;
	unsigned action_round; /* written by the action, in whichever process */
};

static struct shm *shm_new(void)
{
	void *p = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void shm_free(struct shm *s) { munmap(s, sizeof *s); }

/* Forks n children running fn(i, s); returns how many exited non-zero. */
static unsigned run_children(unsigned n, void (*fn)(unsigned, struct shm *),
                             struct shm *s)
{
	pid_t pids[MAX_PROCS];
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			fn(i, s);
			_exit(0);
		}
	}
	unsigned bad = 0;
	for (unsigned i = 0; i < n; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	return bad;
}

static int shared_action(void *arg)
{
	atomic_fetch_add(&((struct shm *)arg)->actions, 1);
	return 0;
}

static void index_child(unsigned i, struct shm *s)
{
	for (unsigned r = 0; r < ROUNDS; r++) {
		int idx = rally_barrier_wait(&s->b);
		if (idx < 0 || (unsigned)idx >= s->n ||
		    s->action_round != r + 1)
			atomic_fetch_add(&s->errors, 1);
		else
			atomic_fetch_add(&s->seen[r][idx], 1);
		/* A second phase keeps the check above from racing the next
		 * round's action. */
		rally_barrier_wait(&s->b);
	}
}

/* Runs on both phases of a round; numbers the rounds (a plain variable in
 * the shared mapping, ordered across processes by the barrier alone). */
static int round_action(void *arg)
{
	struct shm *s = arg;
	atomic_fetch_add(&s->actions, 1);
	if (atomic_load(&s->actions) % 2 == 1)
		s->action_round++;
	return 0;
}

Test(shared, each_index_once_per_phase_across_processes, .timeout = 300)
{
	for (unsigned k = 0; k < N_PROC_COUNTS; k++) {
		unsigned n = proc_counts[k];
		struct shm *s = shm_new();
		s->n = n;
		rally_barrier_attr_t attr = {.action = round_action,
		                             .action_arg = s,
		                             .flags = RALLY_SHARED};
		cr_assert_eq(rally_barrier_init(&s->b, n, &attr), 0);
		cr_expect_eq(run_children(n, index_child, s), 0);
		cr_expect_eq(s->errors, 0, "%u processes", n);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < n; i++)
				cr_assert_eq(
				    s->seen[r][i], 1,
				    "%u processes, round %u, index %u: %u", n,
				    r, i, s->seen[r][i]);
		cr_expect_eq(s->actions, 2 * ROUNDS);
		cr_expect_eq(rally_barrier_destroy(&s->b), 0);
		shm_free(s);
	}
}

static void timeout_child(unsigned i, struct shm *s)
{
	int rc = i == 0 ? rally_barrier_timedwait(&s->b, 30000000)
	                : rally_barrier_wait(&s->b);
	if (rc == RALLY_TIMEDOUT)
		atomic_fetch_add(&s->timedout, 1);
	else if (rc == RALLY_BROKEN)
		atomic_fetch_add(&s->broken, 1);
	else
		atomic_fetch_add(&s->errors, 1);
}

Test(shared, timeout_breaks_for_every_process, .timeout = 300)
{
	for (unsigned k = 0; k < N_PROC_COUNTS; k++) {
		unsigned n = proc_counts[k];
		struct shm *s = shm_new();
		rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
		cr_assert_eq(rally_barrier_init(&s->b, n + 1, &attr), 0);
		cr_expect_eq(run_children(n, timeout_child, s), 0);
		cr_expect_eq(s->timedout, 1, "%u processes", n);
		cr_expect_eq(s->broken, n - 1, "%u processes", n);
		cr_expect_eq(s->errors, 0);
		cr_expect(rally_barrier_broken(&s->b));
		cr_expect_eq(rally_barrier_reset(&s->b), 0);
		cr_expect_eq(rally_barrier_destroy(&s->b), 0);
		shm_free(s);
	}
}

static void broken_child(unsigned i, struct shm *s)
{
	int rc = rally_barrier_wait(&s->b);
	if (rc == RALLY_BROKEN)
		atomic_fetch_add(&s->broken, 1);
	else
		atomic_fetch_add(&s->errors, 1);
}

/* The parent breaks the barrier (abort or reset) once all children wait. */
static void run_break_across(bool use_reset)
{
	for (unsigned k = 0; k < N_PROC_COUNTS; k++) {
		unsigned n = proc_counts[k];
		struct shm *s = shm_new();
		rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
		cr_assert_eq(rally_barrier_init(&s->b, n + 1, &attr), 0);
		pid_t pids[MAX_PROCS];
		for (unsigned i = 0; i < n; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				broken_child(i, s);
				_exit(0);
			}
		}
		while (rally_barrier_n_waiting(&s->b) < n)
			test_sleep_ms(1);
		cr_expect_eq(rally_barrier_destroy(&s->b), -EBUSY);
		cr_expect_eq(use_reset ? rally_barrier_reset(&s->b)
		                       : rally_barrier_abort(&s->b),
		             0);
		for (unsigned i = 0; i < n; i++)
			waitpid(pids[i], NULL, 0);
		cr_expect_eq(s->broken, n, "%u processes, reset %d", n,
		             use_reset);
		cr_expect_eq(s->errors, 0);
		cr_expect_eq(rally_barrier_broken(&s->b), !use_reset);
		cr_expect_eq(rally_barrier_reset(&s->b), 0);
		cr_expect_eq(rally_barrier_destroy(&s->b), 0);
		shm_free(s);
	}
}

Test(shared, abort_from_another_process, .timeout = 300)
{
	run_break_across(false);
}

Test(shared, reset_from_another_process, .timeout = 300)
{
	run_break_across(true);
}

static void ticket_child(unsigned i, struct shm *s)
{
	while (atomic_fetch_add(&s->tickets, 1) < s->total) {
		int idx = rally_barrier_wait(&s->b);
		if (idx < 0 || (unsigned)idx >= s->n)
			atomic_fetch_add(&s->errors, 1);
		else
			atomic_fetch_add(&s->seen[0][idx], 1);
	}
}

Test(shared, more_processes_than_parties, .timeout = 300)
{
	for (unsigned k = 1; k < N_PROC_COUNTS; k++) {
		unsigned n = proc_counts[k];
		unsigned parties = n == 2 ? 1 : n / 2;
		struct shm *s = shm_new();
		s->n = parties;
		s->total = (unsigned long)n * ROUNDS;
		rally_barrier_attr_t attr = {.action = shared_action,
		                             .action_arg = s,
		                             .flags = RALLY_SHARED};
		cr_assert_eq(rally_barrier_init(&s->b, parties, &attr), 0);
		cr_expect_eq(run_children(n, ticket_child, s), 0);
		unsigned long phases = s->total / parties;
		for (unsigned i = 0; i < parties; i++)
			cr_expect_eq(s->seen[0][i], phases, "%u processes", n);
		cr_expect_eq(s->actions, phases);
		cr_expect_eq(s->errors, 0);
		cr_expect_eq(rally_barrier_destroy(&s->b), 0);
		shm_free(s);
	}
}

static void *lockstep_thread(void *arg)
{
	struct shm *s = arg;
	for (unsigned r = 0; r < ROUNDS; r++) {
		int idx = rally_barrier_wait(&s->b);
		if (idx < 0 || (unsigned)idx >= s->n)
			atomic_fetch_add(&s->errors, 1);
		else
			atomic_fetch_add(&s->seen[r][idx], 1);
	}
	return NULL;
}

enum { THREADS_PER_PROC = 3 };

/* Each process brings threads: one barrier of processes x threads. */
static void threads_child(unsigned i, struct shm *s)
{
	pthread_t t[THREADS_PER_PROC];
	for (int j = 0; j < THREADS_PER_PROC; j++)
		pthread_create(&t[j], NULL, lockstep_thread, s);
	for (int j = 0; j < THREADS_PER_PROC; j++)
		pthread_join(t[j], NULL);
}

Test(shared, threads_in_several_processes, .timeout = 300)
{
	for (unsigned k = 0; k < N_PROC_COUNTS - 1; k++) {
		unsigned n = proc_counts[k];
		struct shm *s = shm_new();
		s->n = n * THREADS_PER_PROC;
		rally_barrier_attr_t attr = {.flags = RALLY_SHARED};
		cr_assert_eq(rally_barrier_init(&s->b, s->n, &attr), 0);
		cr_expect_eq(run_children(n, threads_child, s), 0);
		cr_expect_eq(s->errors, 0);
		for (unsigned r = 0; r < ROUNDS; r++)
			for (unsigned i = 0; i < s->n; i++)
				cr_assert_eq(s->seen[r][i], 1,
				             "%u processes, round %u, index %u",
				             n, r, i);
		cr_expect_eq(rally_barrier_destroy(&s->b), 0);
		shm_free(s);
	}
}
