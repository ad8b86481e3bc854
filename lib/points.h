/* points.h — named delay points between the protocol's atomic steps.
 *
 * In the library that is installed they compile to nothing. In the test
 * variant (librally_test.a, built with RALLY_DELAY_POINTS, never installed)
 * each is a call through which a test pauses a thread at that step, runs
 * code there (kills its process, say), or has random short delays inserted:
 * the windows between two atomics become reachable on purpose rather than
 * by luck. hooks.h has the test side. */
#ifndef RALLY_POINTS_H
#define RALLY_POINTS_H

#include <stdint.h>

/* X(name): one entry per point; the comment says where it sits. */
#define RALLY__POINT_LIST(X)                                                   \
	X(ROBUST_ENTERED) /* a robust caller counted itself, not arrived */    \
	X(ARRIVED)        /* after the arrival's fetch_add on arr */           \
	X(ADVANCED)       /* the last arrival moved arr on, gen not yet */     \
	X(CLAIMED)        /* BUSY claimed (action, robust completion) */       \
	X(ACTION_RAN)     /* the action returned, phase not yet published */   \
	X(ACTION_FAILED)  /* it failed: the break not yet published */         \
	X(DECIDED)        /* a caller knows its outcome, has not left */       \
	X(DEADLINE)       /* a caller's deadline passed, before it breaks */   \
	X(BROKE)          /* a timeout broke its phase, before the wake */     \
	X(ABORTING)       /* abort read the state, before its CAS */           \
	X(RELEASED)    /* an RMW let waiters go: only the wake may follow */   \
	X(TAKING_OVER) /* the BUSY holder is dead, before taking over */       \
	X(RESET_CLAIMING) /* reset read the state, before its claim CAS */     \
	X(RESET_CLAIMED)  /* reset holds BUSY|BROKEN, record not written */    \
	X(RESET_RECORDED) /* the epoch's record written, not drained */        \
	X(RESET_DRAINED)  /* the epoch drained, arr not yet swapped */         \
	X(RESET_SWAPPED)  /* arr in the new epoch, gen not yet published */    \
	X(TOKEN_PINNED)   /* an await pinned its epoch, record not read */     \
	X(WITHDRAWING)    /* a withdraw counted itself in, arr not yet CAS */  \
	X(DESTROYING)     /* destroy marked the barrier, waits for leavers */  \
	X(REGISTERING)    /* a robust process claimed a slot, id not set */    \
	X(ATTACHING)      /* attach took a registry entry, pid not set */      \
	X(SPUN)           /* polling ended (or was skipped): no change yet */  \
	X(THROTTLED)      /* recent spins were in vain: this one is skipped */ \
	X(ALONE)          /* ... but a yield ran nobody else: it spins */      \
	X(YIELDING)       /* a waiter is about to sched_yield() */             \
	X(SLEEPING)       /* a waiter is about to futex-wait */                \
	X(SLICE_ENDED)    /* a shared waiter's sleep ended, before it looks */ \
	X(EVENT_SET)      /* an event's set CAS done, before the wake */       \
	X(OPEN_EXISTING)  /* a create found the name taken, before opening */

enum rally__point {
#define RALLY__POINT_ENUM(name) RALLY__POINT_##name,
	RALLY__POINT_LIST(RALLY__POINT_ENUM)
#undef RALLY__POINT_ENUM
	    RALLY__POINTS
};

/* Defined in the test variant only (points.c). */
void rally__point(enum rally__point p);
void rally__point_arrival(uint32_t epoch, uint32_t phase, uint32_t index);

#ifdef RALLY_DELAY_POINTS
#define RALLY_POINT(name) rally__point(RALLY__POINT_##name)
/* Notes this thread's arrival (epoch id, phase, index) for the tests: the
 * arguments are evaluated in the test variant only. */
#define RALLY_NOTE_ARRIVAL(epoch, phase, index)                                \
	rally__point_arrival(epoch, phase, index)
#else
#define RALLY_POINT(name)                       ((void)0)
#define RALLY_NOTE_ARRIVAL(epoch, phase, index) ((void)0)
#endif

#endif
