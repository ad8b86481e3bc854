/* robust.c — participant processes of a RALLY_ROBUST barrier.
 *
 * A participant is a process (open() or attach() to close() or detach()),
 * recorded in a slot of the barrier's shared table with its pid and start
 * time (one word). A process that opens twice holds one slot twice
 * (refcounted); slots are handed out spread over the table's lines, so that
 * the first eight processes write their counts on lines of their own.
 *
 * Death. A scan reads /proc/PID/stat of each participant: gone, a zombie, or
 * another start time (the pid was reused) means dead. Scans cost a few
 * microseconds per participant; sleeping waiters run them every 50 ms and
 * completers before they publish, at most one per 25 ms per barrier. A dead
 * participant sets `dead`: every wait returns RALLY_OWNERDEAD until reset.
 * SIGSTOP is not death: timeouts stay the backstop.
 *
 * Inside. Each participant counts its callers inside the barrier (non-
 * participants share one count): up before arriving, down as their last
 * touch. A reset drains, and destroy waits for, every live process's count
 * to reach zero; a dead process's callers never leave and are not waited
 * for — nor is any live one ever given up on. */
#define _GNU_SOURCE
#include "robust.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "points.h"

#define INSIDE_MASK 0xffffu
#define REF_ONE     0x10000u
#define PID_BITS    22 /* Linux pids are below 2^22 (PID_MAX_LIMIT) */

enum proc { GONE, LIVE, UNKNOWN };

/* What /proc/PID/stat says of the process, and its start time (field 22)
 * when LIVE. GONE: no such process, X, or Z with one thread left (a zombie
 * with more is a thread-group leader that called pthread_exit() while its
 * other threads run on: the process lives). UNKNOWN: the file could not be
 * read for another reason (this process is out of descriptors, say): not
 * a death — taken for one, every participant looked dead. */
static enum proc proc_look(pid_t pid, uint64_t *start)
{
	if (pid <= 0)
		return GONE;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? GONE : UNKNOWN;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int err = errno;
	close(fd);
	if (n == 0 || (n < 0 && err == ESRCH))
		return GONE; /* reaped between the open and the read */
	if (n < 0)
		return UNKNOWN;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: the
	 * fields after it start after the last ')'. */
	char *p = strrchr(buf, ')');
	long threads = 0;
	unsigned long long st = 0;
	if (!p || p[1] != ' ' ||
	    sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
	           "%*d %*d %*d %*d %ld %*d %llu",
	           &threads, &st) != 2)
		return UNKNOWN;
	char state = p[2];
	if (state == 'X' || (state == 'Z' && threads <= 1))
		return GONE;
	*start = st;
	return LIVE;
}

bool rally__pid_alive(pid_t pid)
{
	uint64_t start;
	return proc_look(pid, &start) != GONE;
}

static uint64_t id_of(pid_t pid, uint64_t start)
{
	return (uint64_t)pid | (start + 1) << PID_BITS;
}

static pid_t pid_of(uint64_t id)
{
	return (pid_t)(id & ((1u << PID_BITS) - 1));
}

/* A slot pid is claiming: its start time not yet published. */
static bool claiming(uint64_t id) { return id && !(id >> PID_BITS); }

/* A slot being forgotten (forget_dead): no participant's, nobody's to
 * take yet. */
#define FORGETTING (~0ull)

/* A slot that names no participant. */
static bool vacant(uint64_t id) { return id == 0 || id == FORGETTING; }

/* Whether the process with this id lives (the same process: claiming
 * slots name the pid only). */
static bool id_alive(uint64_t id)
{
	uint64_t start;
	switch (proc_look(pid_of(id), &start)) {
	case GONE:
		return false;
	case UNKNOWN:
		return true;
	default:
		return claiming(id) || id == id_of(pid_of(id), start);
	}
}

static _Atomic pid_t self_pid;
static _Atomic uint64_t self_id_seen; /* id_of(self_pid, its start) */
/* Taken while this process registers: two of its threads opening one name
 * at once took two slots (neither saw the other's, not yet published). */
static atomic_flag registering = ATOMIC_FLAG_INIT;

/* In a fork()ed child: another process, and no thread of it registers. */
static void forget_pid(void)
{
	atomic_store(&self_pid, 0);
	atomic_store(&self_id_seen, 0);
	atomic_flag_clear(&registering);
}

/* The pid again, in a page the kernel wipes at fork (MADV_WIPEONFORK,
 * Linux 4.14): a child of _Fork() or of a raw clone runs no fork handler,
 * and kept its parent's pid (review round 46: its own actions were taken
 * for its parent's, and a live action runner of it for a dead one). Where
 * the kernel cannot wipe, the handler alone tells a child. */
static _Atomic(_Atomic pid_t *) wiped_pid;

/* Once per process, before any thread learns the pid (review round 47: a
 * flag set first let another thread, or a child forked meanwhile, go on
 * without the page or the handler). */
static void learn_forks(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
	int saved = errno;
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && madvise(page, 4096, MADV_WIPEONFORK) == 0)
		atomic_store(&wiped_pid, (_Atomic pid_t *)page);
	else if (page != MAP_FAILED)
		munmap(page, 4096);
	errno = saved;
}

/* learn_forks() once, by the process that runs it: the pid that learns, and
 * LEARNING or LEARNED. A child forked while its parent learned finds the
 * parent's pid there and learns again itself — pthread_once() did that
 * after fork() only, and a child of _Fork() waited for ever (review round
 * 48). */
enum { LEARNING = 1, LEARNED = 2 };
static _Atomic uint64_t learned;

static void learn_forks_once(pid_t me)
{
	for (;;) {
		uint64_t l = atomic_load(&learned);
		if ((l & 3) == LEARNED)
			return;
		if (l == 0) {
			if (atomic_compare_exchange_strong(
			        &learned, &l, (uint64_t)me << 2 | LEARNING)) {
				learn_forks();
				atomic_store(&learned,
				             (uint64_t)me << 2 | LEARNED);
				return;
			}
		} else if ((pid_t)(l >> 2) != me) { /* a parent's */
			atomic_compare_exchange_strong(&learned, &l, 0);
		} else {
			sched_yield(); /* another thread of ours learns */
		}
	}
}

static pid_t self_pid_slow(void)
{
	pid_t me = getpid();
	learn_forks_once(me);
	_Atomic pid_t *w = atomic_load(&wiped_pid);
	/* A pid kept but its wiped copy gone: a fork that ran no handler.
	 * The copy is written before the pid (release; read here after it,
	 * acquire), so a thread of this process learning it meanwhile is
	 * never taken for one (round 47: that cleared `registering` under a
	 * registering thread). */
	pid_t kept = atomic_load_explicit(&self_pid, memory_order_acquire);
	if (w && kept != 0 && atomic_load(w) == 0)
		forget_pid();
	/* Written as this process's, and checked after: a signal handler
	 * that forks between the look and the stores leaves its child here
	 * with its parent's (review round 48). */
	if (w)
		atomic_store_explicit(w, me, memory_order_release);
	atomic_store_explicit(&self_pid, me, memory_order_release);
	pid_t now = getpid();
	return now == me ? me : self_pid_slow();
}

pid_t rally__self_pid(void)
{
	_Atomic pid_t *w = atomic_load_explicit(&wiped_pid,
	                                        memory_order_relaxed);
	pid_t p = w ? atomic_load_explicit(w, memory_order_relaxed)
	            : atomic_load_explicit(&self_pid, memory_order_relaxed);
	return p ? p : self_pid_slow();
}

/* 0 if this process cannot read its own start time (out of descriptors):
 * registered without it, it would look dead to everyone. */
static uint64_t self_id(void)
{
	pid_t me = rally__self_pid();
	uint64_t id = atomic_load_explicit(&self_id_seen, memory_order_relaxed);
	if (id != 0 && pid_of(id) == me)
		return id;
	uint64_t start = 0;
	if (proc_look(me, &start) != LIVE)
		return 0;
	id = id_of(me, start);
	atomic_store_explicit(&self_id_seen, id, memory_order_relaxed);
	return id;
}

/* Whether a slot's id is this very process: the pid alone is not enough —
 * a dead participant's pid may have come back as ours, and that one must
 * still be found dead (and not waited for). */
static bool is_self(uint64_t id)
{
	return pid_of(id) == rally__self_pid() && id == self_id();
}

/* Slot i of the order in which slots are handed out: 0, 4, 8 .. 28, 1, 5
 * .. — four slots share a line, so spread the first eight. */
static int spread(int i) { return (i * 4) % RALLY__ROBUST_SLOTS + i / 8; }

static int register_locked(struct rally__robust *r, uint64_t me);

int rally__robust_register(struct rally__robust *r)
{
	uint64_t me = self_id();
	if (me == 0)
		return -EMFILE;
	while (atomic_flag_test_and_set(&registering))
		sched_yield();
	int slot = register_locked(r, me);
	atomic_flag_clear(&registering);
	return slot;
}

static int register_locked(struct rally__robust *r, uint64_t me)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		if (atomic_load(&r->p[i].id) != me)
			continue;
		/* Ours already: one more reference, unless the last one is
		 * being dropped (refs 0), in which case take another slot. */
		uint32_t c = atomic_load(&r->p[i].count);
		while (c >= REF_ONE)
			if (atomic_compare_exchange_weak(&r->p[i].count, &c,
			                                 c + REF_ONE))
				return i;
	}
	for (int j = 0; j < 2 * RALLY__ROBUST_SLOTS; j++) {
		int i = spread(j % RALLY__ROBUST_SLOTS);
		/* A free slot; on the second pass, also one whose claimant
		 * died before it published its id. */
		uint64_t id = atomic_load(&r->p[i].id);
		if (id != 0 &&
		    (j < RALLY__ROBUST_SLOTS || !claiming(id) || id_alive(id)))
			continue;
		if (!atomic_compare_exchange_strong(&r->p[i].id, &id,
		                                    (uint64_t)pid_of(me)))
			continue;
		RALLY_POINT(REGISTERING);
		/* Ours; its count and note fresh before anyone sees our id. */
		atomic_store(&r->p[i].arrived, 0);
		atomic_store(&r->p[i].count, REF_ONE);
		atomic_store_explicit(&r->p[i].id, me, memory_order_release);
		return i;
	}
	return -ENOSPC;
}

int rally__robust_plant(struct rally__robust *r, pid_t pid, uint64_t start,
                        unsigned inside)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		uint64_t id = 0;
		if (!atomic_compare_exchange_strong(&r->p[i].id, &id,
		                                    (uint64_t)pid))
			continue;
		atomic_store(&r->p[i].arrived, 0);
		atomic_store(&r->p[i].count, REF_ONE | (inside & INSIDE_MASK));
		atomic_store(&r->p[i].id, id_of(pid, start));
		return i;
	}
	return -ENOSPC;
}

uint64_t rally__robust_self_start(void)
{
	uint64_t id = self_id();
	return id ? (id >> PID_BITS) - 1 : 0;
}

int rally__robust_unregister(struct rally__robust *r, int slot)
{
	if (slot < 0 || slot >= RALLY__ROBUST_SLOTS)
		return 0;
	struct rally__participant *p = &r->p[slot];
	uint32_t c = atomic_load(&p->count);
	for (;;) {
		if (c < REF_ONE)
			return 0; /* not ours any more (forgotten as dead) */
		if (c < 2 * REF_ONE && (c & INSIDE_MASK))
			return -EBUSY; /* the last reference, callers inside */
		if (atomic_compare_exchange_weak(&p->count, &c, c - REF_ONE))
			break;
	}
	if (c < 2 * REF_ONE) {
		atomic_store(&p->arrived, 0);
		atomic_store(&p->id, 0);
	}
	return 0;
}

void rally__robust_enter(struct rally__robust *r, int slot)
{
	/* Relaxed: the caller's acq_rel fetch_add on arr follows, and a drain
	 * that could miss this count fails its CAS on arr and looks again. */
	atomic_fetch_add_explicit(&r->p[slot].count, 1, memory_order_relaxed);
}

void rally__robust_leave(struct rally__robust *r, int slot)
{
	atomic_fetch_sub_explicit(&r->p[slot].count, 1, memory_order_release);
}

bool rally__robust_inside(struct rally__robust *r)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		uint32_t c =
		    atomic_load_explicit(&r->p[i].count, memory_order_acquire);
		if (!(c & INSIDE_MASK))
			continue;
		uint64_t id = atomic_load(&r->p[i].id);
		if (!vacant(id) && (is_self(id) || id_alive(id)))
			return true;
	}
	return false;
}

/* Phases mod 2^28 (barrier_impl.h). A note names the latest phase a
 * thread of the process arrived in; no thread arrives more than
 * NOTE_AHEAD_MAX phases ahead of the first incomplete phase (each phase
 * between holds a completer: barrier_impl.h's TOKEN_AHEAD_MAX), so a note
 * that far or farther "ahead" of a phase is in fact stale — left from a
 * wait 2^27 phases ago (review round 12). */
#define NOTE_PHASE_MASK ((1u << 28) - 1)
#define NOTE_AHEAD_MAX  (1u << 20)

/* Whether note n says the process arrived in `phase`: in it, or in a
 * later one — which it enters only once `phase` has all its arrivals. */
static bool noted_by(uint32_t n, uint32_t phase)
{
	return n != 0 && ((n - 1 - phase) & NOTE_PHASE_MASK) < NOTE_AHEAD_MAX;
}

void rally__robust_arrived(struct rally__robust *r, int slot, uint32_t phase,
                           bool (*taking_arrivals)(const void *, uint32_t),
                           const void *ctx)
{
	/* Only forward: the note is per process, and a thread of it that
	 * notes an older phase (a completer whose action starts late, a
	 * waiter slow to note) must not hide a later arrival another thread
	 * already noted — late() then listed a process that had arrived
	 * (review round 11). But while `phase` takes arrivals nobody is in
	 * a later one: a note that seems ahead is from 2^28 phases ago, and
	 * keeping it, late() listed a process that waited (review round 14).
	 * Looked at after reading the note: a later note made since fails
	 * the CAS. 0: none (reset forgets). */
	_Atomic uint32_t *note = &r->p[slot].arrived;
	uint32_t cur = atomic_load_explicit(note, memory_order_acquire);
	do {
		if (noted_by(cur, phase) &&
		    (cur == phase + 1 || !taking_arrivals ||
		     !taking_arrivals(ctx, phase)))
			return; /* already this phase or a later one */
	} while (!atomic_compare_exchange_weak_explicit(
	    note, &cur, phase + 1, memory_order_acq_rel,
	    memory_order_acquire)); /* a later note's arrival is seen with it */
}

void rally__robust_unarrived(struct rally__robust *r, int slot,
                             uint32_t phase)
{
	uint32_t mine = phase + 1;
	atomic_compare_exchange_strong_explicit(&r->p[slot].arrived, &mine, 0,
	                                        memory_order_acq_rel,
	                                        memory_order_relaxed);
}

static void record_dead(struct rally__robust *r, pid_t pid)
{
	int32_t none = 0;
	atomic_compare_exchange_strong(&r->dead_pid, &none, pid);
	atomic_store(&r->dead, 1);
}

void rally__robust_holder_died(struct rally__robust *r, pid_t pid)
{
	record_dead(r, pid);
}

bool rally__robust_check(struct rally__robust *r)
{
	if (atomic_load(&r->dead))
		return true;
	/* One scan per RALLY__ROBUST_SCAN_NS: the caller whose CAS moves
	 * scanned_at runs it. */
	int64_t now = rally__now_ns();
	int64_t last =
	    atomic_load_explicit(&r->scanned_at, memory_order_relaxed);
	if (now - last < RALLY__ROBUST_SCAN_NS ||
	    !atomic_compare_exchange_strong(&r->scanned_at, &last, now))
		return false;
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		uint64_t id = atomic_load(&r->p[i].id);
		/* A claimant that died is no participant: forget_dead frees
		 * its slot. */
		if (vacant(id) || claiming(id) || is_self(id) || id_alive(id))
			continue;
		/* Unless it left meanwhile (closed, then exited): a process
		 * dead in its slot cannot leave it any more. */
		if (atomic_load(&r->p[i].id) != id)
			continue;
		record_dead(r, pid_of(id));
		return true;
	}
	return false;
}

void rally__robust_forget_dead(struct rally__robust *r)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		uint64_t id = atomic_load(&r->p[i].id);
		/* FORGETTING: a reset died forgetting it (resets take turns
		 * under BUSY): finish its work. */
		if (id == 0 || (id != FORGETTING && id_alive(id)))
			continue;
		/* Marked first: once the dead one's id is gone a new process
		 * may take the slot, and the stores below must not land on
		 * its count (a reset wiped a newcomer's references). */
		if (id != FORGETTING &&
		    !atomic_compare_exchange_strong(&r->p[i].id, &id,
		                                    FORGETTING))
			continue;
		atomic_store(&r->p[i].count, 0);
		atomic_store(&r->p[i].arrived, 0);
		atomic_store_explicit(&r->p[i].id, 0, memory_order_release);
	}
	atomic_store(&r->dead_pid, 0);
	atomic_store(&r->dead, 0);
}

void rally__robust_forget_arrivals(struct rally__robust *r)
{
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++)
		atomic_store_explicit(&r->p[i].arrived, 0,
		                      memory_order_relaxed);
}

/* The pids a dead() call has listed (or counted) so far, to list each
 * once whatever a reset frees meanwhile. */
struct listed {
	pid_t pid[RALLY__ROBUST_SLOTS + 2];
	int n;
};

static bool was_listed(const struct listed *l, pid_t pid)
{
	for (int i = 0; i < l->n; i++)
		if (l->pid[i] == pid)
			return true;
	return false;
}

static int list(struct rally__robust *r, bool dead, uint32_t phase,
                bool exact, pid_t *pids, unsigned max, struct listed *seen)
{
	int n = 0;
	for (int i = 0; i < RALLY__ROBUST_SLOTS; i++) {
		uint64_t id = atomic_load(&r->p[i].id);
		if (vacant(id) || claiming(id) || id_alive(id) == dead ||
		    atomic_load(&r->p[i].id) != id)
			continue;
		uint32_t note = atomic_load(&r->p[i].arrived);
		if (!dead && (exact ? note == phase + 1 : noted_by(note, phase)))
			continue;
		/* Two dead slots of one pid (a pid reused, a slot taken again
		 * while its last caller left): listed once (review round 20). */
		if (seen && was_listed(seen, pid_of(id)))
			continue;
		if ((unsigned)n < max && pids)
			pids[n] = pid_of(id);
		if (seen)
			seen->pid[seen->n++] = pid_of(id);
		n++;
	}
	return n;
}

int rally__robust_late(struct rally__robust *r, uint32_t phase, bool exact,
                       pid_t *pids, unsigned max)
{
	return list(r, false, phase, exact, pids, max, NULL);
}

/* Adds pid to the list unless it is 0 or listed already — by its dead
 * slot, also one a reset freed since (review round 19: a participant
 * holding BUSY was listed twice). Not skipped for a live slot of the same
 * pid: that is a process that reused it, and the death was left out
 * (review round 21). */
static int add_slotless(pid_t pid, pid_t *pids, unsigned max, int n,
                        struct listed *seen)
{
	if (!pid || was_listed(seen, pid))
		return n;
	if ((unsigned)n < max && pids)
		pids[n] = pid;
	seen->pid[seen->n++] = pid;
	return n + 1;
}

int rally__robust_dead(struct rally__robust *r, pid_t holder, pid_t *pids,
                       unsigned max)
{
	struct listed seen = {.n = 0};
	int n = list(r, true, 0, false, pids, max, &seen);
	/* A dead BUSY holder that took no part (a monitor killed inside a
	 * reset) has no slot: the first death recorded names it — or, not
	 * yet taken over, the caller's look at the holder (dead_pid read
	 * once: a take-over between two reads left it out: review round
	 * 18). */
	pid_t first = atomic_load(&r->dead) ? atomic_load(&r->dead_pid) : 0;
	n = add_slotless(first, pids, max, n, &seen);
	return add_slotless(holder, pids, max, n, &seen);
}

/* ---- attach registry ------------------------------------------------------
 *
 * Which barriers in place this process attached, by tag, with its slot in
 * each and the pid that attached: a few entries, read by waits on attached
 * barriers only. An entry's fields are written before its tag (release),
 * so a lookup that finds the tag finds the rest. */
#define ATTACH_MAX 64

static struct {
	_Atomic uint64_t tag; /* ~0: being claimed */
	_Atomic pid_t pid;
	_Atomic int slot;
	_Atomic unsigned count; /* attaches not yet detached */
	const void *_Atomic obj; /* the barrier, to tell when it is gone */
} attached[ATTACH_MAX];

#define CLAIMING_TAG (~0ull)

static int find(uint64_t tag, pid_t me)
{
	for (int i = 0; i < ATTACH_MAX; i++)
		if (atomic_load_explicit(&attached[i].tag,
		                         memory_order_acquire) == tag &&
		    atomic_load(&attached[i].pid) == me)
			return i;
	return -1;
}

int rally__attached_slot(uint64_t tag)
{
	int i = find(tag, rally__self_pid());
	return i < 0 ? -1 : atomic_load(&attached[i].slot);
}

/* Takes entry i, whose tag was t, for (tag, slot, obj): false if another
 * thread took it first. */
static bool claim_entry(int i, uint64_t t, uint64_t tag, int slot,
                        const void *obj)
{
	if (!atomic_compare_exchange_strong(&attached[i].tag, &t, CLAIMING_TAG))
		return false;
	RALLY_POINT(ATTACHING);
	atomic_store(&attached[i].pid, rally__self_pid());
	atomic_store(&attached[i].slot, slot);
	atomic_store(&attached[i].count, 1);
	atomic_store(&attached[i].obj, obj);
	atomic_store_explicit(&attached[i].tag, tag, memory_order_release);
	return true;
}

int rally__attach(struct rally__robust *r, uint64_t tag, const void *obj,
                  bool (*gone)(const void *obj, uint64_t tag))
{
	pid_t me = rally__self_pid();
	int slot = rally__robust_register(r);
	if (slot < 0)
		return slot;
	int i = find(tag, me);
	if (i >= 0) {
		atomic_fetch_add(&attached[i].count, 1);
		return 0;
	}
	/* A free entry, or one inherited from a parent process; not one
	 * another thread is claiming (its pid is not written yet). */
	for (i = 0; i < ATTACH_MAX; i++) {
		uint64_t t = atomic_load(&attached[i].tag);
		if (t == CLAIMING_TAG || (t != 0 && atomic_load(&attached[i].pid) == me))
			continue;
		if (claim_entry(i, t, tag, slot, obj))
			return 0;
	}
	/* All ours: take one whose barrier is gone — destroyed by another
	 * process (or its memory reused) without our detach. */
	for (i = 0; i < ATTACH_MAX; i++) {
		uint64_t t = atomic_load(&attached[i].tag);
		if (t != CLAIMING_TAG && t != 0 &&
		    gone(atomic_load(&attached[i].obj), t) &&
		    claim_entry(i, t, tag, slot, obj))
			return 0;
	}
	rally__robust_unregister(r, slot);
	return -ENOSPC;
}

void rally__attach_forget(uint64_t tag)
{
	int i = find(tag, rally__self_pid());
	if (i >= 0)
		atomic_store(&attached[i].tag, 0);
}

int rally__detach(struct rally__robust *r, uint64_t tag)
{
	int i = find(tag, rally__self_pid());
	if (i < 0)
		return 0; /* not attached here (or only in a parent) */
	int rc = rally__robust_unregister(r, atomic_load(&attached[i].slot));
	if (rc)
		return rc;
	if (atomic_fetch_sub(&attached[i].count, 1) == 1)
		atomic_store(&attached[i].tag, 0);
	return 0;
}
