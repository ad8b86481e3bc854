/* holder.c — BUSY and who holds it.
 *
 * BUSY is taken by an action's runner (and on a robust barrier by every
 * completer) and by a reset, with the holder's pid in the same CAS; it is
 * given back by the CAS that publishes, which clears both. So at any moment
 * BUSY is either free or held by a named process, and nothing is written
 * after the release.
 *
 * If the holder's process dies (SIGKILL inside an action, a monitor killed
 * inside reset), nobody will publish. On a shared barrier every wait that
 * lasts sleeps in slices and, finding BUSY at the end of one, asks whether
 * the holder still lives (/proc/PID/stat: gone, a zombie, or dead); if not,
 * it takes over: one CAS from the exact state it saw leaves the barrier
 * broken and not BUSY, and wakes everyone. A dead completer had arrived and
 * never left: the taker counts it out, so that destroy and reset do not wait
 * for it. A dead reset leaves its work to the next reset (reset.c).
 *
 * test(), await(token, 0) and futex() never wait, so no slice of theirs
 * ends: they look for a dead holder themselves when they find BUSY, at most
 * once per ROBUST_CHECK_NS / 2 among all callers (a /proc read each).
 *
 * A private barrier's holder is a thread of this very process: it cannot
 * die alone. Pid reuse: a holder's pid reused by a new process before the
 * check keeps BUSY "alive"; robust barriers check participants' start times
 * too (robust.c), holders are checked by pid only. */
#define _GNU_SOURCE
#include "barrier_impl.h"

#include "hooks.h"
#include "points.h"

uint32_t rally__holder_self(void)
{
	return (uint32_t)rally__self_pid() & HOLDER_MASK;
}

bool rally__holder_dead(const struct view *v, uint64_t s)
{
	if (!(s & ST_BUSY) || !view_shared(v))
		return false;
	uint32_t h = st_holder(s);
	if (h == rally__holder_self())
		return false;
	/* 0 with BUSY never comes from rally: a corrupt object, ownerless. */
	return h == 0 || !rally__pid_alive((pid_t)h);
}

/* Takes BUSY over from the holder of *s; false if the CAS failed. */
static bool seize(const struct view *v, uint64_t *s)
{
	struct rally__barrier *b = v->b;
	uint64_t old = *s;
	/* BROKEN with BUSY was a reset: nothing arrived for it. */
	bool completer = !(old & ST_BROKEN);
	uint64_t next = st_make(st_seq(old), st_parity(old)) | ST_BROKEN;
	if (!atomic_compare_exchange_strong_explicit(
	        v->state, s, next, memory_order_acq_rel, memory_order_acquire))
		return false;
	/* The taker is inside the barrier, resetting it, or a visitor
	 * (rally__check_holder): the object cannot go away under these
	 * writes. */
	stats_count(v, STAT_BROKEN);
	if (view_robust(v))
		rally__robust_holder_died(&b->robust, (pid_t)st_holder(old));
	else if (completer)
		atomic_fetch_add_explicit(&b->out, 1, memory_order_release);
	rally__wake_if(v, old);
	*s = next;
	return true;
}

bool rally__take_over(const struct view *v, uint64_t *s)
{
	if (!rally__holder_dead(v, *s))
		return false;
	RALLY_POINT(TAKING_OVER);
	seize(v, s);
	return true;
}

int rally__barrier_seize_busy(rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return -EINVAL;
	uint64_t s = atomic_load(v.state);
	return (s & ST_BUSY) && seize(&v, &s) ? 0 : -EINVAL;
}

bool rally__check_holder(const struct view *v, uint64_t *s)
{
	struct rally__barrier *b = v->b;
	if (!(*s & ST_BUSY) || !view_shared(v))
		return false;
	int64_t now = rally__now_ns();
	int64_t last =
	    atomic_load_explicit(&b->holder_checked_at, memory_order_relaxed);
	if (now - last < ROBUST_CHECK_NS / 2 ||
	    !atomic_compare_exchange_strong_explicit(
	        &b->holder_checked_at, &last, now, memory_order_relaxed,
	        memory_order_relaxed) ||
	    !rally__visit_now(v)) /* destroy may be waiting for our caller */
		return false;
	bool changed = rally__take_over(v, s);
	rally__unvisit(v);
	return changed;
}
