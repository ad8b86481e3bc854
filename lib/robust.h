/* robust.h — participant processes of a RALLY_ROBUST barrier: who they are,
 * whether they still live, which of them are late. */
#ifndef RALLY_ROBUST_H
#define RALLY_ROBUST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RALLY__ROBUST_SLOTS 32

struct rally__participant {
	_Atomic int32_t pid;      /* 0: free */
	_Atomic uint32_t arrived; /* 1 + phase of its latest arrival, 0: none */
	_Atomic uint64_t start;   /* its start time (/proc/PID/stat), against
	                             pid reuse */
};

struct rally__robust {
	_Atomic uint32_t dead; /* a participant died: OWNERDEAD until reset */
	_Atomic int32_t dead_pid; /* the first one found dead */
	/* The process that holds GEN_BUSY (runs an action or a reset): taken
	 * before GEN_BUSY and given back after, so that when it dies holding
	 * it a survivor takes over instead of everyone waiting for ever. */
	_Atomic int32_t busy_pid;
	uint32_t pad0_;
	/* When a waiter last scanned (CLOCK_MONOTONIC ns): scans are rate
	 * limited, whatever the number of waiters and however short their
	 * slices (rally_barrier_poll). 0 in a fresh barrier. */
	_Atomic int64_t scanned_at;
	uint32_t pad_[10];
	struct rally__participant p[RALLY__ROBUST_SLOTS];
};

/* Registers the calling process; returns its slot, or -ENOSPC. A process
 * registered already gets its slot again. */
int rally__robust_register(struct rally__robust *r);
void rally__robust_unregister(struct rally__robust *r, int slot);

/* Notes that slot's process arrived in phase `phase`. */
void rally__robust_arrived(struct rally__robust *r, int slot, uint32_t phase);

/* Scans the participants — unless a scan ran less than
 * RALLY__ROBUST_SCAN_NS ago — and returns true (and records it) if one is
 * dead. */
#define RALLY__ROBUST_SCAN_NS 25000000
bool rally__robust_check(struct rally__robust *r);

/* This process's pid, cached (getpid() is a system call). */
pid_t rally__self_pid(void);

/* Takes busy_pid for this process: returns 0, or the pid that holds it. */
int32_t rally__robust_busy_try(struct rally__robust *r);
void rally__robust_busy_leave(struct rally__robust *r);

/* If busy_pid names a dead process, clears it and returns true: the caller
 * then owns the GEN_BUSY that process left behind. */
bool rally__robust_busy_orphaned(struct rally__robust *r);

/* Frees the slots of dead participants and clears the dead flag. */
void rally__robust_forget_dead(struct rally__robust *r);

/* Participants (pids) whose latest arrival is not in `phase`; stores up to
 * max of them and returns how many there are. */
int rally__robust_late(const struct rally__robust *r, uint32_t phase,
                       pid_t *pids, unsigned max);

/* The process-local registry of attach(): this process's slot in the
 * barrier whose robust table is r, or -1. */
int rally__attached_slot(const struct rally__robust *r);
int rally__attach_note(const struct rally__robust *r, int slot);
int rally__attach_forget(const struct rally__robust *r);

#endif
