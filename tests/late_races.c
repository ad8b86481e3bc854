/* late_races — rally_barrier_late() on a phase that moves while it looks.
 *
 * late() decides from the state and arr that the current phase P takes
 * arrivals (only a note of P itself then says "arrived"), then reads the
 * notes slot by slot, each after a /proc read. If P completes in between
 * and a participant notes its arrival in P + 1, it must not be listed: its
 * note is ahead because it is, not because it is 2^28 phases old. Three
 * processes: A arrives at once, B 1 ms later, C 5 ms later, every phase; a
 * list with A and without B matches no instant (review round 14: 20 of 20
 * calls gave one). open64("/proc/<A>/stat") is wrapped (-Wl,--wrap=open64)
 * to hold late() there until A's phase ended and A noted the next. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rally.h"

enum { PHASES = 40, CALLS = 10 };

struct shm {
	rally_barrier_t b;
	_Atomic unsigned done[3]; /* waits returned, per process A B C */
};
static struct shm *sh;
static pid_t pid_a;
static _Atomic int armed;

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* A's phase ends: A re-arrives at once and notes P + 1 after 0.1 ms. */
static void await_next_phase_of_a(void)
{
	unsigned d = atomic_load(&sh->done[0]);
	while (atomic_load(&sh->done[0]) == d)
		sleep_us(20);
}

int __real_open64(const char *p, int f, ...);
int __wrap_open64(const char *p, int f, ...);
int __wrap_open64(const char *p, int f, ...)
{
	char a_stat[64];
	snprintf(a_stat, sizeof a_stat, "/proc/%d/stat", (int)pid_a);
	if (strcmp(p, a_stat) == 0 && atomic_exchange(&armed, 0)) {
		await_next_phase_of_a();
		sleep_us(400); /* A noted P + 1 */
	}
	return __real_open64(p, f);
}

static void party(int who, long delay_us)
{
	rally_barrier_attach(&sh->b);
	for (int i = 0; i < PHASES; i++) {
		if (delay_us)
			sleep_us(delay_us);
		int rc = rally_barrier_wait(&sh->b);
		if (rc < 0) {
			fprintf(stderr, "party %d: %s\n", who, rally_strerror(rc));
			_exit(1);
		}
		atomic_fetch_add(&sh->done[who], 1);
	}
	_exit(0);
}

int main(void)
{
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rally_barrier_attr_t attr = {.flags = RALLY_SHARED | RALLY_ROBUST};
	if (sh == MAP_FAILED || rally_barrier_init(&sh->b, 3, &attr) != 0) {
		fprintf(stderr, "set-up failed\n");
		return 1;
	}
	pid_t pids[3];
	long delays[3] = {0, 1000, 5000};
	for (int i = 0; i < 3; i++)
		if ((pids[i] = fork()) == 0)
			party(i, delays[i]);
	pid_a = pids[0];
	int passed = 0, failed = 0;
	sleep_us(20000);
	for (int k = 0; k < CALLS; k++) {
		/* 2.5 ms into a phase: A and B have arrived and noted it. */
		await_next_phase_of_a();
		sleep_us(2500);
		atomic_store(&armed, 1);
		pid_t p[8];
		int n = rally_barrier_late(&sh->b, p, 8);
		atomic_store(&armed, 0);
		bool a = false, b = false;
		for (int i = 0; i < n && i < 8; i++) {
			a |= p[i] == pids[0];
			b |= p[i] == pids[1];
		}
		if (a && !b) {
			printf("call %d: late() lists A, which arrives first, and "
			       "not B: no instant had that\n", k);
			failed++;
		} else {
			passed++;
		}
	}
	int status, bad = 0;
	for (int i = 0; i < 3; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	if (bad) {
		printf("%d parties failed\n", bad);
		failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
