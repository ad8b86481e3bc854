/* robust.c — participant processes of a RALLY_ROBUST barrier.
 *
 * A participant is a process (open() or attach() to close() or detach()),
 * recorded in a slot of the barrier's shared table with its pid and start
 * time. A waiter that has slept for a while scans the table: a pid whose
 * /proc/PID/stat is gone, a zombie, or a process with another start time
 * (the pid was reused) means the participant died. The scan costs a few
 * microseconds per participant and runs only on waiters that sleep, every
 * 50 ms, and at most once per 25 ms whatever the number of waiters (or the
 * length of their rally_barrier_poll slices). SIGSTOP is not death: the timeout stays the
 * backstop for a stopped participant. */
#define _GNU_SOURCE
#include "robust.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

/* The state letter and start time (field 22) of /proc/PID/stat; false if
 * the process does not exist. */
static bool proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: the
	 * fields after it start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	*state = p[2];
	unsigned long long st = 0;
	/* field 3 is the state; the start time is field 22 */
	if (sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
	           "%*d %*d %*d %*d %*d %*d %llu",
	           &st) != 1)
		return false;
	*start = st;
	return true;
}

static bool alive(pid_t pid, uint64_t start)
{
	char state;
	uint64_t st;
	if (!proc_stat(pid, &state, &st))
		return false;
	return state != 'Z' && state != 'X' && st == start;
}

int rally__robust_register(struct rally__robust *r)
{
	pid_t me = rally__self_pid();
	char state;
	uint64_t start = 0;
	proc_stat(me, &state, &start);
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++)
		if (atomic_load(&r->p[i].pid) == me)
			return i;
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		int32_t zero = 0;
		if (atomic_compare_exchange_strong(&r->p[i].pid, &zero, me)) {
			atomic_store(&r->p[i].arrived, 0);
			atomic_store(&r->p[i].start, start);
			return i;
		}
	}
	return -ENOSPC;
}

void rally__robust_unregister(struct rally__robust *r, int slot)
{
	if (slot < 0 || slot >= RALLY__ROBUST_SLOTS)
		return;
	atomic_store(&r->p[slot].arrived, 0);
	atomic_store(&r->p[slot].pid, 0);
}

void rally__robust_arrived(struct rally__robust *r, int slot, uint32_t phase)
{
	atomic_store_explicit(&r->p[slot].arrived, phase + 1,
	                      memory_order_relaxed);
}

/* A pid without a start time to compare: exists and is not a zombie. */
static bool pid_alive(pid_t pid)
{
	char state;
	uint64_t st;
	return proc_stat(pid, &state, &st) && state != 'Z' && state != 'X';
}

static _Atomic pid_t self_pid;

static void forget_pid(void) { atomic_store(&self_pid, 0); }

pid_t rally__self_pid(void)
{
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);
	if (p == 0) {
		static _Atomic int registered;
		if (!atomic_exchange(&registered, 1))
			pthread_atfork(NULL, NULL, forget_pid);
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
}

int32_t rally__robust_busy_try(struct rally__robust *r)
{
	int32_t me = rally__self_pid(), holder = 0;
	if (atomic_compare_exchange_strong(&r->busy_pid, &holder, me) ||
	    holder == me)
		return 0; /* another thread of ours holds it: GEN_BUSY decides
		           */
	return holder;
}

void rally__robust_busy_leave(struct rally__robust *r)
{
	int32_t me = rally__self_pid();
	atomic_compare_exchange_strong(&r->busy_pid, &me, 0);
}

bool rally__robust_busy_orphaned(struct rally__robust *r)
{
	int32_t holder = atomic_load(&r->busy_pid);
	return holder != 0 && !pid_alive(holder) &&
	       atomic_compare_exchange_strong(&r->busy_pid, &holder, 0);
}

bool rally__robust_check(struct rally__robust *r)
{
	if (atomic_load(&r->dead))
		return true;
	/* One scan per RALLY__ROBUST_SCAN_NS: the waiter whose CAS moves
	 * scanned_at runs it. */
	int64_t now = rally__now_ns();
	int64_t last = atomic_load_explicit(&r->scanned_at, memory_order_relaxed);
	if (now - last < RALLY__ROBUST_SCAN_NS ||
	    !atomic_compare_exchange_strong(&r->scanned_at, &last, now))
		return false;
	pid_t me = rally__self_pid();
	bool dead = false;
	for (int i = 0; i < RALLY__ROBUST_SLOTS && !dead; i++) {
		pid_t pid = atomic_load(&r->p[i].pid);
		if (pid == 0 || pid == me)
			continue;
		/* A slot being registered has no start time yet. */
		uint64_t start = atomic_load(&r->p[i].start);
		if (start == 0 || alive(pid, start))
			continue;
		int32_t none = 0;
		atomic_compare_exchange_strong(&r->dead_pid, &none, pid);
		atomic_store(&r->dead, 1);
		dead = true;
	}
	return dead;
}

void rally__robust_forget_dead(struct rally__robust *r)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		pid_t pid = atomic_load(&r->p[i].pid);
		uint64_t start = atomic_load(&r->p[i].start);
		if (pid != 0 && start != 0 && !alive(pid, start))
			rally__robust_unregister(r, i);
	}
	atomic_store(&r->dead_pid, 0);
	atomic_store(&r->dead, 0);
}

int rally__robust_late(const struct rally__robust *r, uint32_t phase,
                       pid_t *pids, unsigned max)
{
	int n = 0;
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		pid_t pid = atomic_load(&r->p[i].pid);
		if (pid == 0 || atomic_load(&r->p[i].arrived) == phase + 1)
			continue;
		if ((unsigned)n < max && pids)
			pids[n] = pid;
		n++;
	}
	return n;
}

/* ---- attach registry ------------------------------------------------------
 */

/* Which robust barriers this process attached, and its slot in each: a few
 * entries, looked up by waits on attached barriers only. slot1 is the slot
 * + 1, 0 until written, so a lookup racing a claim finds no slot. */
#define ATTACH_MAX 64

static struct {
	_Atomic(const struct rally__robust *) r;
	_Atomic int slot1;
} attached[ATTACH_MAX];

/* Bumped by every attach and detach: a thread's cached lookup is good while
 * it has not moved. */
static _Atomic uint32_t attach_generation;
static _Thread_local struct {
	const struct rally__robust *r;
	uint32_t generation;
	int slot;
} cached;

static int lookup(const struct rally__robust *r)
{
	for (int i = 0; i < ATTACH_MAX; i++)
		if (atomic_load_explicit(&attached[i].r,
		                         memory_order_acquire) == r)
			return atomic_load_explicit(&attached[i].slot1,
			                            memory_order_acquire) -
			       1;
	return -1;
}

int rally__attached_slot(const struct rally__robust *r)
{
	uint32_t gen =
	    atomic_load_explicit(&attach_generation, memory_order_acquire);
	if (cached.r != r || cached.generation != gen) {
		cached.slot = lookup(r);
		cached.r = r;
		cached.generation = gen;
	}
	return cached.slot;
}

int rally__attach_note(const struct rally__robust *r, int slot)
{
	for (int i = 0; i < ATTACH_MAX; i++) {
		const struct rally__robust *none = NULL;
		if (atomic_load(&attached[i].r) == r ||
		    atomic_compare_exchange_strong(&attached[i].r, &none, r)) {
			atomic_store_explicit(&attached[i].slot1, slot + 1,
			                      memory_order_release);
			atomic_fetch_add_explicit(&attach_generation, 1,
			                          memory_order_release);
			return 0;
		}
	}
	return -ENOSPC;
}

int rally__attach_forget(const struct rally__robust *r)
{
	for (int i = 0; i < ATTACH_MAX; i++) {
		if (atomic_load(&attached[i].r) != r)
			continue;
		int slot = atomic_exchange(&attached[i].slot1, 0) - 1;
		atomic_store(&attached[i].r, NULL);
		atomic_fetch_add_explicit(&attach_generation, 1,
		                          memory_order_release);
		return slot;
	}
	return -1;
}
