/* barrier_impl.h — the private layout of rally_barrier_t, shared by the
 * files that implement the barrier. The protocol is described at the top of
 * barrier.c. */
#ifndef RALLY_BARRIER_IMPL_H
#define RALLY_BARRIER_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rally.h"
#include "robust.h"

#define RALLY__BARRIER_MAGIC 0x72616c62u /* "ralb" */

/* The futex word `gen`: the phase sequence number above three state bits. */
#define GEN_SLEEPERS  0x1u /* someone sleeps on gen: wake on change */
#define GEN_BROKEN    0x2u /* the phase `seq` (and all later) is broken */
#define GEN_BUSY      0x4u /* an action or a reset runs: wait, do not break */
#define GEN_SEQ_SHIFT 3
#define SEQ_BITS      (32 - GEN_SEQ_SHIFT)
#define SEQ_MASK      ((1u << SEQ_BITS) - 1)
#define SEQ_HALF      (1u << (SEQ_BITS - 1))

/* `arrivals`: phase (29 bits) | epoch (3) | count (32). An epoch is the span
 * between two resets; EPOCHS of them are tracked at once. */
#define EPOCH_BITS      3
#define EPOCHS          (1u << EPOCH_BITS)
#define ARR_EPOCH_SHIFT 32
#define ARR_PHASE_SHIFT (32 + EPOCH_BITS)

/* epoch_end[e] while epoch e is the current one. */
#define EPOCH_OPEN 0xffffffffu

struct rally__barrier {
	/* Line 0 (bytes 0-63): configuration, read by every call. */
	_Atomic uint32_t magic;
	uint32_t parties;
	uint32_t flags;
	int32_t spin;
	int64_t timeout_ns;
	int (*action)(void *);
	void *action_arg;
	uint64_t pad0_[3];

	/* Line 1 (64-127): where each epoch ended: its phases before
	 * epoch_end[e] completed, the rest were cancelled by the reset that
	 * closed it. Written by reset only, read by every wait. */
	_Atomic uint32_t epoch_end[EPOCHS];
	/* Bumped each time a reset opens slot e for a new epoch: a token
	 * (split-phase) names its epoch by slot and serial, and holds no pin
	 * on it (see barrier.c, Tokens). */
	_Atomic uint32_t epoch_serial[EPOCHS];

	/* Line 2: padding, so that with 8-byte alignment the arrivals' cache
	 * line never reaches into lines 0-1. */
	uint64_t pad2_[8];

	/* Line 3 (192-255): arrivals. */
	_Atomic uint64_t arrivals;
	/* Per epoch: callers released (or cancelled) but not yet out of the
	 * call, minus callers of broken phases that already left. An epoch's
	 * slot is reused only once its count is zero. See "Epochs". */
	_Atomic int32_t leaving[EPOCHS];
	uint64_t pad3_[3];

	/* Line 4: padding. Line 5 (320-383): the futex word, alone. */
	uint64_t pad4_[8];
	_Atomic uint32_t gen;
	uint32_t pad5_[15];

	/* Lines 6-14: robust mode's participants; line 15: reserved. */
	struct rally__robust robust;
	uint64_t reserved_[8];
};

_Static_assert(sizeof(struct rally__barrier) == sizeof(rally_barrier_t),
               "rally_barrier_t is 1024 bytes");
_Static_assert(offsetof(struct rally__barrier, arrivals) == 192,
               "arrivals on their own line");
_Static_assert(offsetof(struct rally__barrier, gen) == 320,
               "gen on its own line");

/* rally_barrier_init() on the object itself (named.c initialises one in a
 * mapping). */
int rally__barrier_init(struct rally__barrier *b, unsigned parties,
                        const rally_barrier_attr_t *attr);

/* What rally_barrier_open() returns: a per-process handle on a barrier in a
 * shared mapping, with this process's own action (the shared object holds
 * none: each opener's runs if that process arrives last). */
#define RALLY__PROXY_MAGIC 0x72616c70u /* "ralp" */

struct rally__barrier_proxy {
	_Atomic uint32_t magic;
	int32_t slot; /* robust participant slot, or -1 */
	pid_t pid;    /* the opener: a fork()ed child's copy owns no slot */
	struct rally__barrier *shared;
	void *map;
	size_t map_len;
	int (*action)(void *);
	void *action_arg;
};

_Static_assert(sizeof(struct rally__barrier_proxy) <= sizeof(rally_barrier_t),
               "a proxy fits in a rally_barrier_t");

#endif
