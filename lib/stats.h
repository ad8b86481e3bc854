/* stats.h — the counts a RALLY_STATS barrier keeps in the object (SPEC §12),
 * on lines 7-15, where a robust barrier keeps its participants: the two
 * modes exclude each other (init says -EINVAL).
 *
 * Who writes what, and when — always before the writer's last touch of the
 * object (a waiter's `out`, a completer's publishing CAS, a visitor's
 * unvisit), so that destroy-after-wait never meets a late write:
 *   - every caller of a STATS barrier reads the clock as it arrives; the
 *     one of index 0 stamps the phase's first arrival (`first`);
 *   - the completer takes the BUSY path, as with an action, and under BUSY
 *     — one completer at a time, each acquiring the last one's publish —
 *     counts the phase, its skew (its own arrival less the first) and
 *     itself as the last; so the histogram and the table of the last need
 *     no RMW among writers, only atomic words for the readers;
 *   - a waiter adds its wait to its index's total and counts how deep it
 *     went (polled, yielded, slept) as it leaves;
 *   - breaks, timeouts, aborts and resets where they happen.
 * Relaxed throughout: counts, not synchronisation. A snapshot is not taken
 * at one instant: two fields may disagree by the phases in flight. */
#ifndef RALLY_STATS_H
#define RALLY_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rally.h"

#define STATS_FIRSTS 4 /* first arrivals kept: phases in flight at once */

struct rally__stats {
	/* Line 7: events. */
	_Atomic uint64_t phases, broken, timeouts, aborts, resets;
	_Atomic uint64_t skew_max_ns;
	_Atomic uint64_t skew_missed; /* phases whose first arrival had not
	                                 stamped its time yet */
	uint64_t pad7_;
	/* Line 8: how waits went; the first arrivals' stamps (below). */
	_Atomic uint64_t spun, yielded, slept, waits;
	_Atomic uint64_t first[STATS_FIRSTS];
	/* Lines 9-11: arrival skew, log2 buckets (rally.h). */
	_Atomic uint64_t skew[RALLY_STATS_BUCKETS];
	/* Lines 12-13: who arrived last, most often: the space-saving count
	 * (exact while at most RALLY_STATS_LAST callers were ever last). */
	struct {
		_Atomic uint64_t id;
		_Atomic uint64_t count;
	} last[RALLY_STATS_LAST];
	/* Lines 14-15: the total wait of each arrival index (the last takes
	 * the indices beyond). */
	_Atomic uint64_t wait_ns[RALLY_STATS_INDICES];
};

_Static_assert(sizeof(struct rally__stats) == 576, "nine lines");

/* A first arrival's stamp, in one word so that a reader never pairs one
 * phase's time with another's phase:
 *   bits 0-45   the clock mod 2^46 (skews below 19.5 hours come out right
 *               across its wrap)
 *   bits 46-58  the phase mod 2^13
 *   bits 59-62  the epoch (arr's field, the id mod 16): a reset starts the
 *               fresh epoch at phase numbers the broken one's arrivals
 *               stamped already (review round 2)
 *   bit 63      a stamp was made (a new barrier's zeroed slot is none: it
 *               passed for phase 0's, at time 0 — review round 1)
 * A stamp left in its slot passes for a later phase's only 2^13 phases
 * (or 16 resets with no arrival at all) later: the first arrivals of the
 * 2^11 phases between, which write the slot, all paused before their
 * stamps. */
#define FIRST_NS_MASK ((1ull << 46) - 1)
#define FIRST_MADE    (1ull << 63)

static inline uint64_t first_tag(uint32_t phase, uint32_t epoch)
{
	return FIRST_MADE | (uint64_t)(epoch & 0xf) << 59 |
	       (uint64_t)(phase & 0x1fff) << 46;
}

static inline uint64_t first_make(uint32_t phase, uint32_t epoch, int64_t now)
{
	return ((uint64_t)now & FIRST_NS_MASK) | first_tag(phase, epoch);
}

/* One call's part (wait/timedwait of a RALLY_STATS barrier, or any while
 * RALLY_TRACE records): on its stack, named by its view. */
struct rally__call {
	int64_t arrived_ns; /* its first arrival's clock */
	int64_t this_arrival_ns; /* its latest arrival's (a re-arrival's) */
	uint32_t phase, index;
	bool arrived; /* at least once (a trace tells a wait that never did) */
	uint8_t reached; /* RALLY__REACHED_* of its waiting (spin.h) */
	/* Sent back by a reset to arrive again: a wait is counted once, from
	 * its first arrival to its return, by the index it left with. */
	bool again;
};

struct view;
struct arrival;
enum rally__stat { STAT_BROKEN, STAT_TIMEOUT, STAT_ABORT, STAT_RESET };

/* An arrival (phase, index), just made, clocked at `now` just before it,
 * of a RALLY_STATS barrier or by a call that keeps a record (v->call):
 * index 0 of a RALLY_STATS barrier stamps the phase's first. */
void rally__stats_arrived(const struct view *v, uint32_t phase,
                          uint32_t index, uint32_t epoch, int64_t now);
/* A completer's publish breaks the next phase (an `ahead` reached it):
 * one break more (born), or that one taken back (!born, a retry). */
void rally__stats_born_broken(const struct view *v, bool born);
/* The completer of `phase` (of the epoch with arr's field `epoch`),
 * holding BUSY: the skew and the last caller. */
void rally__stats_completing(const struct view *v, uint32_t phase,
                             uint32_t epoch);
/* ... and, its action run, just before it publishes (its last touch): the
 * phase or the break, and its own wait, to its return. */
void rally__stats_completed(const struct view *v, bool broke);
/* A caller of wait/timedwait leaves (before its last touch). */
void rally__stats_left(const struct view *v);
/* An event, counted by whoever caused it, before its last touch. */
void rally__stats_event(const struct view *v, enum rally__stat what);

#endif
