/* phase.c — a phase of the hierarchical barrier, level by level.
 *
 * Every level but the top one has two rally barriers: a gather, then a
 * release that only the level's driver completes, once the levels above
 * are through. The members that do not drive arrive at both at once and
 * wait for the release; so a member waits on one word, and is woken once.
 * Two barriers, not two phases of one: rally numbers arrivals in order, so
 * an early release arrival would count for the gather. A member arrives
 * at the next gather only after this release completed (a thread awaits
 * before it arrives again), so the two never mix phases either.
 *
 *   rank:  gather (threads arrive; the last one — under FUNNELED the
 *          creating thread — drives), release (the driver arrives last)
 *   node:  gather (the ranks' drivers), release (the leader arrives last,
 *          after MPI_Ibarrier among the leaders); with one node the
 *          gather is the whole of it
 *   nodes: MPI_Ibarrier on the leaders' communicator
 *
 * The driver walks struct drive's steps as far as it can without blocking
 * in arrive (so the computing between arrive and await overlaps them),
 * and to the end in its await (or test). One driver at a time per rank:
 * the next phase's gather completes only after this one's release, which
 * the driver makes last — so its MPI calls are serialised. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "export.h"
#include "mpi_impl.h"

/* The wait in a node-level step is cut into slices, between which the
 * driver looks whether the rank was aborted meanwhile. */
enum { SLICE_NS = 10000000 };

/* A 1-thread rank's tokens: {the barrier's solo_tag, phase number}. */

static uintptr_t self(void) { return (uintptr_t)pthread_self(); }

static int break_rank(struct rally_mpi_barrier *b, int rc)
{
	atomic_store(&b->broken, true);
	if (b->threads > 1) {
		rally_barrier_abort(&b->rank);
		rally_barrier_abort(&b->rank_release);
	}
	return rc;
}

/* Waits (block) or looks (not) for a token of a barrier the node shares:
 * 1 complete, 0 not yet (not blocking), RALLY_TIMEDOUT, RALLY_BROKEN
 * (aborted meanwhile), or a code. Never breaks the node's barrier: a
 * timeout acts within the rank. */
static int node_token(struct rally_mpi_barrier *b, rally_barrier_t *nb,
                      rally_token_t t, bool block, int64_t deadline)
{
	if (!block)
		return rally_barrier_test(nb, t);
	/* Oversubscribed, the node's barriers sleep at once: yield first
	 * (create.c: node_yields). */
	for (unsigned i = 0; i < b->node_yields; i++) {
		int rc = rally_barrier_test(nb, t);
		if (rc != 0)
			return rc;
		if (rally__mpi_left(deadline) == 0)
			break; /* the poll below answers */
		sched_yield();
	}
	for (;;) {
		int64_t left = rally__mpi_left(deadline);
		if (left == RALLY_FOREVER || left > SLICE_NS)
			left = SLICE_NS;
		int rc = rally_barrier_poll(nb, t, left);
		if (rc != 0)
			return rc;
		if (atomic_load(&b->broken))
			return RALLY_BROKEN;
		if (rally__mpi_left(deadline) == 0)
			return RALLY_TIMEDOUT;
	}
}

static int rank_gather(struct rally_mpi_barrier *b, bool block,
                       int64_t deadline)
{
	struct drive *d = &b->drive;
	if (!block)
		return rally_barrier_test(&b->rank, d->rank_gather);
	int rc = rally_barrier_await(&b->rank, d->rank_gather,
	                             rally__mpi_left(deadline));
	return rc == 0 ? 1 : rc;
}

static int node_arrive(struct rally_mpi_barrier *b)
{
	struct drive *d = &b->drive;
	if (!b->node) {
		d->step = b->nodes > 1 ? STEP_MPI : STEP_ACTION;
		return 1;
	}
	int rc = rally_barrier_arrive(b->node, &d->node_gather);
	if (rc < 0)
		return rc;
	if (b->nodes == 1) {
		d->node_release = d->node_gather;
		d->step = STEP_NODE_WAIT;
	} else if (b->leader) {
		d->step = STEP_NODE_GATHER;
	} else {
		rc = rally_barrier_arrive(b->node_release, &d->node_release);
		if (rc < 0)
			return rc;
		d->step = STEP_NODE_WAIT;
	}
	return 1;
}

static int leaders_barrier(struct rally_mpi_barrier *b, bool block,
                           int64_t deadline)
{
	struct drive *d = &b->drive;
	if (!d->request_active) {
		if (MPI_Ibarrier(b->leaders, &d->request) != MPI_SUCCESS)
			return -EIO;
		d->request_active = true;
	}
	int rc = rally__mpi_progress(b, block ? deadline : 0);
	if (rc == RALLY_TIMEDOUT)
		return block ? rc : 0;
	if (rc < 0)
		return rc;
	d->step = b->node ? STEP_NODE_RELEASE : STEP_ACTION;
	return 1;
}

static int end_drive(struct rally_mpi_barrier *b, int rc);

/* The barriers whose actions this thread runs: their abort() breaks the
 * next phase, not this one, as rally_barrier_abort() from an action does
 * (with 2 threads the phase broke; with 1 it completed: review). */
enum { NESTED_ACTIONS_MAX = 16 };
static _Thread_local struct {
	const struct rally_mpi_barrier *b[NESTED_ACTIONS_MAX];
	int n;
} actions_running; /* in this thread, outermost first */

/* Whether this thread runs b's action now, also under another barrier's
 * action run from it (a single pointer let A's action -> wait(B) -> B's
 * action -> wait(A) through: review round 4 of rally-mpi). */
bool rally__mpi_in_action(const struct rally_mpi_barrier *b)
{
	for (int i = 0; i < actions_running.n; i++)
		if (actions_running.b[i] == b)
			return true;
	return false;
}

static int run_action(struct rally_mpi_barrier *b)
{
	struct drive *d = &b->drive;
	if (b->action) {
		if (actions_running.n == NESTED_ACTIONS_MAX)
			return end_drive(b, -EDEADLK); /* deeper than anyone means */
		actions_running.b[actions_running.n++] = b;
		int rc = b->action(b->action_arg);
		actions_running.n--;
		if (rc != 0) {
			d->rc = rc < 0 ? rc : RALLY_BROKEN;
			d->step = STEP_DONE;
			return break_rank(b, d->rc);
		}
	}
	d->step = b->threads > 1 ? STEP_RANK_RELEASE : STEP_DONE;
	return 1;
}

/* One step: 1 it moved on, 0 it would block (not blocking), or a code. */
static int step(struct rally_mpi_barrier *b, bool block, int64_t deadline)
{
	struct drive *d = &b->drive;
	int rc;
	switch (d->step) {
	case STEP_RANK_GATHER:
		rc = rank_gather(b, block, deadline);
		if (rc == 1)
			d->step = STEP_NODE_ARRIVE;
		return rc;
	case STEP_NODE_ARRIVE:
		return node_arrive(b);
	case STEP_NODE_GATHER:
		rc = node_token(b, b->node, d->node_gather, block, deadline);
		if (rc == 1)
			d->step = STEP_MPI;
		return rc;
	case STEP_MPI:
		return leaders_barrier(b, block, deadline);
	case STEP_NODE_RELEASE:
		rc = rally_barrier_arrive(b->node_release, &d->node_release);
		if (rc < 0)
			return rc;
		d->step = STEP_NODE_WAIT;
		return 1;
	case STEP_NODE_WAIT:
		rc = node_token(b, b->nodes == 1 ? b->node : b->node_release,
		                d->node_release, block, deadline);
		if (rc == 1)
			d->step = STEP_ACTION;
		return rc;
	case STEP_ACTION:
		return run_action(b);
	case STEP_RANK_RELEASE:
		rc = rally_barrier_arrive(&b->rank_release, &d->rank_release);
		if (rc < 0)
			return rc;
		d->step = STEP_RANK_WAIT;
		return 1;
	case STEP_RANK_WAIT:
		/* The driver leaves only once the release completed: a thread
		 * of the rank may still be between its two arrivals, and the
		 * driver's next arrival at the release would count for this
		 * phase in its place (a hang the benchmark found). Waited for
		 * without a deadline, also by test and a timeout of 0: that
		 * thread's second arrival follows its first at once, and the
		 * phase is complete everywhere — no time to run out. */
		rc = rally_barrier_await(&b->rank_release, d->rank_release,
		                         RALLY_FOREVER);
		if (rc < 0)
			return rc;
		d->step = STEP_DONE;
		return 1;
	case STEP_DONE:
		break;
	}
	return 1;
}

/* The phase ends for this rank with code rc, which breaks it. */
static int end_drive(struct rally_mpi_barrier *b, int rc)
{
	b->abort_after_phase = false; /* broken now anyway */
	b->drive.step = STEP_DONE;
	/* Asked again, a timeout is the break it made (as in the core). */
	b->drive.rc = rc == RALLY_TIMEDOUT ? RALLY_BROKEN : rc;
	return break_rank(b, rc);
}

/* Walks the driver's steps: 1 done (its outcome in d->rc), 0 a step would
 * block (not blocking), or a code — a timeout or an abort breaks the rank,
 * and the levels above are left where they are. */
static int drive(struct rally_mpi_barrier *b, bool block, int64_t deadline)
{
	struct drive *d = &b->drive;
	while (d->step != STEP_DONE) {
		/* Broken meanwhile (a timeout of another thread, an abort):
		 * the phase ends here, whatever the levels above did (a
		 * broken rank answered 0 for its next await: review). */
		int rc = atomic_load(&b->broken) ? RALLY_BROKEN
		                                 : step(b, block, deadline);
		if (rc == 0)
			return 0;
		if (rc < 0)
			return end_drive(b, rc);
	}
	if (b->abort_after_phase) { /* abort() from the action */
		b->abort_after_phase = false;
		break_rank(b, 0);
	}
	return d->rc < 0 ? d->rc : 1;
}

static void start_drive(struct rally_mpi_barrier *b, rally_token_t token,
                        enum drive_step first)
{
	struct drive *d = &b->drive;
	d->token = token;
	d->rank_gather = token;
	d->step = first;
	d->rc = 0;
	d->phase++;
	atomic_store_explicit(&b->driver, self(), memory_order_relaxed);
}

/* Whether t is the token of this rank's driver, which is this thread:
 * only the driver reads drive (the next phase's driver may be writing it
 * meanwhile); it stops being one when its await or test saw its phase
 * done (before it arrives again). */
static bool is_driver(struct rally_mpi_barrier *b, rally_token_t t)
{
	return atomic_load_explicit(&b->driver, memory_order_relaxed) ==
	           self() &&
	       memcmp(&t, &b->drive.token, sizeof t) == 0;
}

/* The last phase this thread drove to its end: asked again about its
 * token, it answers as the first time (the other threads' tokens are the
 * core's, which does so itself). */
static _Thread_local struct {
	const struct rally_mpi_barrier *b;
	rally_token_t token;
	int rc;
} driven;

/* The driver's await or test saw its phase end (rc: 1 or a code): it no
 * longer drives, and keeps the answer. */
static int stop_driving(struct rally_mpi_barrier *b, int rc)
{
	driven.b = b;
	driven.token = b->drive.token;
	driven.rc = rc == RALLY_TIMEDOUT ? RALLY_BROKEN : rc;
	atomic_store_explicit(&b->driver, 0, memory_order_relaxed);
	return rc;
}

static bool driven_before(const struct rally_mpi_barrier *b, rally_token_t t)
{
	return driven.b == b && memcmp(&t, &driven.token, sizeof t) == 0;
}

/* A thread that does not drive waits for its rank's release, its
 * timeout running until then — also while the levels above and the action
 * complete: a timeout that runs out there breaks the rank (unlike rally's
 * core; rally-mpi.h says so). A flag for "every rank arrived" that spared
 * such phases outlived its phase and made timeouts wait for ever (review
 * round 4 of rally-mpi). */
static int await_release(struct rally_mpi_barrier *b, rally_token_t t,
                         int64_t timeout_ns)
{
	return rally_barrier_await(&b->rank_release, t, timeout_ns);
}

/* A token of a phase this thread drove before its latest (here or on
 * another barrier): its arrival at the rank's gather, which the core still
 * judges — 1 if that phase completed there, or the core's code (the
 * driver's own outcome beyond the gather is no longer kept: review round
 * 2 of rally-mpi found -EINVAL here). */
static int driven_earlier(struct rally_mpi_barrier *b, rally_token_t t)
{
	return rally_barrier_test(&b->rank, t);
}

/* A rank of one thread: every token is the driver's; a finished phase's
 * is answered again (1 for test). */
static int solo(struct rally_mpi_barrier *b, rally_token_t t, bool block,
                int64_t timeout_ns)
{
	struct drive *d = &b->drive;
	if (d->phase == 0) /* no arrival yet: no token is one of ours (a
	                    * zeroed one matched the empty drive: review
	                    * round 10) */
		return -EINVAL;
	if (memcmp(&t, &d->token, sizeof t) != 0) {
		/* An earlier phase's: it completed, or the rank broke since. */
		if (t.opaque_[0] != b->solo_tag || t.opaque_[1] == 0 ||
		    t.opaque_[1] >= d->phase)
			return -EINVAL;
		/* A later phase started: this one completed (a break ends
		 * the rank's phases: review round 3). */
		return 1;
	}
	if (d->step == STEP_DONE)
		return d->rc < 0 ? d->rc : 1;
	return drive(b, block, rally__mpi_deadline(timeout_ns));
}

RALLY_EXPORT int rally_mpi_barrier_arrive(rally_mpi_barrier_t *b,
                                          rally_token_t *token)
{
	if (!b || !token)
		return -EINVAL;
	/* From its own action: the phase would wait for itself (the action
	 * runs before the rank's release; review round 2 of rally-mpi). */
	if (rally__mpi_in_action(b))
		return -EDEADLK;
	if (atomic_load(&b->broken))
		return RALLY_BROKEN;
	if (b->threads == 1) {
		uint64_t next = b->drive.phase + 1;
		start_drive(b, (rally_token_t){{b->solo_tag, next}},
		            STEP_NODE_ARRIVE);
		int rc = drive(b, false, 0);
		*token = b->drive.token;
		return rc < 0 ? rc : 0;
	}
	rally_token_t g;
	int i = rally_barrier_arrive(&b->rank, &g);
	if (i < 0)
		return break_rank(b, i);
	bool last = (unsigned)i == b->threads - 1;
	bool drives = b->funneled
	                  ? pthread_equal(pthread_self(), b->creator) != 0
	                  : last;
	if (!drives) {
		int rc = rally_barrier_arrive(&b->rank_release, token);
		return rc < 0 ? break_rank(b, rc) : i;
	}
	start_drive(b, g, last ? STEP_NODE_ARRIVE : STEP_RANK_GATHER);
	int rc = drive(b, false, 0);
	*token = g;
	return rc < 0 ? rc : i;
}

RALLY_EXPORT int rally_mpi_barrier_await(rally_mpi_barrier_t *b,
                                         rally_token_t token,
                                         int64_t timeout_ns)
{
	if (!b || (timeout_ns < 0 && timeout_ns != RALLY_FOREVER))
		return -EINVAL;
	if (rally__mpi_in_action(b)) /* the driver would run it again */
		return -EDEADLK;
	int rc;
	if (b->threads == 1) {
		rc = solo(b, token, timeout_ns != 0, timeout_ns);
		if (rc == 0) /* a timeout of 0 found it pending */
			rc = end_drive(b, RALLY_TIMEDOUT);
	} else if (is_driver(b, token)) {
		rc = drive(b, timeout_ns != 0, rally__mpi_deadline(timeout_ns));
		if (rc == 0)
			rc = end_drive(b, RALLY_TIMEDOUT);
		stop_driving(b, rc);
	} else if (driven_before(b, token)) {
		rc = driven.rc;
	} else {
		rc = await_release(b, token, timeout_ns);
		if (rc == -EINVAL)
			rc = driven_earlier(b, token);
		else if (rc == RALLY_TIMEDOUT || rc == RALLY_BROKEN)
			break_rank(b, rc);
	}
	return rc < 0 ? rc : 0;
}

RALLY_EXPORT int rally_mpi_barrier_test(rally_mpi_barrier_t *b,
                                        rally_token_t token)
{
	if (!b)
		return -EINVAL;
	if (rally__mpi_in_action(b)) /* the driver would run it again */
		return -EDEADLK;
	if (b->threads == 1)
		return solo(b, token, false, 0);
	if (is_driver(b, token)) {
		int rc = drive(b, false, 0);
		return rc == 0 ? 0 : stop_driving(b, rc);
	}
	if (driven_before(b, token))
		return driven.rc;
	int rc = rally_barrier_test(&b->rank_release, token);
	if (rc == -EINVAL)
		return driven_earlier(b, token);
	return rc == RALLY_BROKEN ? break_rank(b, rc) : rc;
}

RALLY_EXPORT int rally_mpi_barrier_timedwait(rally_mpi_barrier_t *b,
                                             int64_t timeout_ns)
{
	if (!b || (timeout_ns < 0 && timeout_ns != RALLY_FOREVER))
		return -EINVAL;
	rally_token_t t;
	int i = rally_mpi_barrier_arrive(b, &t);
	if (i < 0)
		return i;
	int rc = rally_mpi_barrier_await(b, t, timeout_ns);
	return rc < 0 ? rc : i;
}

RALLY_EXPORT int rally_mpi_barrier_wait(rally_mpi_barrier_t *b)
{
	if (!b)
		return -EINVAL;
	return rally_mpi_barrier_timedwait(b, b->timeout_ns);
}

RALLY_EXPORT int rally_mpi_barrier_abort(rally_mpi_barrier_t *b)
{
	if (!b)
		return -EINVAL;
	if (rally__mpi_in_action(b))
		b->abort_after_phase = true; /* the driver, in this thread */
	else
		break_rank(b, 0);
	return 0;
}
