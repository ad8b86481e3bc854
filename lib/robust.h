/* robust.h — participant processes of a RALLY_ROBUST barrier: who they are,
 * whether they live, how many of their callers are inside, who is late. */
#ifndef RALLY_ROBUST_H
#define RALLY_ROBUST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RALLY__ROBUST_SLOTS 32

struct rally__participant {
	/* pid (22 bits) | (start time + 1) << 22, against pid reuse; set and
	 * cleared in one store: a scan never pairs one process's pid with
	 * another's start time. 0: free; start field 0: being claimed by pid.
	 */
	_Atomic uint64_t id;
	_Atomic uint32_t arrived; /* 1 + phase of its latest noted arrival */
	/* Callers of this process inside the barrier (low 16 bits) and its
	 * handles and attaches on it (high 16). */
	_Atomic uint32_t count;
};

struct rally__robust {
	_Atomic uint32_t dead; /* a participant died: OWNERDEAD until reset */
	_Atomic int32_t dead_pid; /* the first one found dead */
	/* When a scan last ran (CLOCK_MONOTONIC ns): scans are rate limited,
	 * whatever the number of waiters and however short their slices. */
	_Atomic int64_t scanned_at;
	uint32_t pad_[12];
	struct rally__participant p[RALLY__ROBUST_SLOTS];
};

_Static_assert(sizeof(struct rally__robust) == 576, "nine lines");

/* This process's pid, cached (getpid() is a system call; reset at fork). */
pid_t rally__self_pid(void);
/* Whether pid names a process that is neither gone nor a zombie. */
bool rally__pid_alive(pid_t pid);

/* Registers the calling process: its slot (another reference to it if it
 * has one already), or -ENOSPC. */
int rally__robust_register(struct rally__robust *r);
/* Drops a reference; the last frees the slot: 0, or -EBUSY while this
 * process's callers are inside (the slot is kept). */
int rally__robust_unregister(struct rally__robust *r, int slot);

/* A caller of this process (its slot: only participants arrive or wait)
 * comes in or goes out; the going out is its last touch (release). */
void rally__robust_enter(struct rally__robust *r, int slot);
void rally__robust_leave(struct rally__robust *r, int slot);
/* Whether a caller of a live process is inside: a reset's drain and
 * destroy wait on it; the dead do not count. */
bool rally__robust_inside(struct rally__robust *r);

/* Notes that slot's process arrived in phase `phase`. A note that seems
 * ahead of it stays — another thread of the process arrived later —
 * unless taking_arrivals(ctx, phase) (may be NULL) says `phase` still takes
 * arrivals: then it is stale. */
void rally__robust_arrived(struct rally__robust *r, int slot, uint32_t phase,
                           bool (*taking_arrivals)(const void *, uint32_t),
                           const void *ctx);

/* An arrival in `phase` was taken back (rally__barrier_withdraw): the
 * note of it goes too, unless it names another phase by now. Whether
 * another caller of the process arrived in `phase` is not known here (one
 * inside may be leaving the phase before — review round 21): a waiter
 * that did notes again at the end of its next slice. */
void rally__robust_unarrived(struct rally__robust *r, int slot,
                             uint32_t phase);

/* Scans the participants — unless a scan ran less than
 * RALLY__ROBUST_SCAN_NS ago — and returns true (and records it) if one is
 * dead. */
#define RALLY__ROBUST_SCAN_NS 25000000
bool rally__robust_check(struct rally__robust *r);
/* The holder of BUSY died (holder.c): record it as the dead one. */
void rally__robust_holder_died(struct rally__robust *r, pid_t pid);
/* Frees the slots of dead participants and clears the dead flag. */
void rally__robust_forget_dead(struct rally__robust *r);
/* Clears every participant's arrival note (reset, with nobody inside). */
void rally__robust_forget_arrivals(struct rally__robust *r);

/* Live participants whose latest arrival is not in `phase` (exact: not
 * `phase` itself — while it takes arrivals, none is in a later one); dead
 * ones not yet forgotten. Each stores up to max pids and returns how many
 * there are. */
int rally__robust_late(struct rally__robust *r, uint32_t phase, bool exact,
                       pid_t *pids, unsigned max);
/* dead: holder (0 if none) is a BUSY holder found dead by the caller, not
 * yet taken over; listed unless it has a slot or was recorded. */
int rally__robust_dead(struct rally__robust *r, pid_t holder, pid_t *pids,
                       unsigned max);

/* attach()/detach() of a barrier in place, known by its tag: this process
 * takes part (registered once per attach) until the matching detach. The
 * process-local record of them is keyed by tag and pid, so that a fork()ed
 * child, which inherits it, neither uses nor ends its parent's part. */
/* Registers this process and records the barrier obj (its tag) as attached
 * here; gone(obj, tag) tells an entry whose barrier is no more, taken when
 * every entry is in use. */
int rally__attach(struct rally__robust *r, uint64_t tag, const void *obj,
                  bool (*gone)(const void *obj, uint64_t tag));
int rally__detach(struct rally__robust *r, uint64_t tag);
/* Tests: a slot as a participant (pid, start time) with `inside` callers
 * in would hold it — one long dead, whose pid may be ours. */
int rally__robust_plant(struct rally__robust *r, pid_t pid, uint64_t start,
                        unsigned inside);
/* This process's start time, as its slots record it. */
uint64_t rally__robust_self_start(void);
/* Destroy: this process's attachment to the barrier `tag` goes with it. */
void rally__attach_forget(uint64_t tag);
/* This process's slot in the barrier with that tag, or -1. */
int rally__attached_slot(uint64_t tag);

#endif
