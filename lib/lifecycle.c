/* lifecycle.c — a barrier's life: init, the views calls work on, destroy,
 * the state accessors, robust attach/detach.
 *
 * destroy() may return only when no caller will touch the object again.
 * It refuses (-EBUSY) while callers wait in a phase that has not completed,
 * or while BUSY is held. Otherwise every caller still inside is on its way
 * out, and destroy waits for them: for gen to publish every phase whose
 * parties have all arrived, and for the callers inside the epoch (arrivals
 * minus completed phases minus `out`; robust: the live trackers) and the
 * awaits' pins to reach zero. A completer touches nothing after its
 * publishing CAS (one whose action failed leaves as the others do), a
 * leaver nothing after its count: then the memory may go. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "barrier_impl.h"
#include "export.h"
#include "hooks.h"
#include "points.h"
#include "spin.h"
#include "trace.h"

static bool parties_ok(uint32_t parties)
{
	return parties >= 1 && parties <= RALLY_PARTIES_MAX;
}

bool rally__view(const rally_barrier_t *pub, struct view *v)
{
	if (!pub)
		return false;
	struct rally__barrier *b = (struct rally__barrier *)pub;
	uint32_t magic = atomic_load_explicit(&b->magic, memory_order_acquire);
	if (magic == RALLY__PROXY_MAGIC) {
		const struct rally__barrier_proxy *px =
		    (const struct rally__barrier_proxy *)pub;
		/* A fork()ed child's copy of a handle takes no part. */
		int slot = px->pid == rally__self_pid() ? px->slot : -1;
		*v = (struct view){px->shared, state_word(px->shared, px->parties),
		                   px->parties, px->flags, px->spin,
		                   px->timeout_ns, px->tag, px->action,
		                   px->action_arg, slot,        NULL};
		return atomic_load_explicit(&px->shared->magic,
		                            memory_order_acquire) ==
		       RALLY__BARRIER_MAGIC;
	}
	if (magic != RALLY__BARRIER_MAGIC)
		return false;
	*v = (struct view){b,         NULL,          b->parties,
	                   b->flags,  b->spin,       b->timeout_ns,
	                   b->tag,    b->action,     b->action_arg, -1,
	                   NULL};
	/* In memory others can write (RALLY_SHARED): never divide by 0. */
	if (!parties_ok(v->parties))
		return false;
	v->state = state_word(b, v->parties);
	if (view_robust(v))
		v->slot = rally__attached_slot(v->tag);
	return true;
}

int rally__caller_view(const rally_barrier_t *pub, struct view *v)
{
	if (!rally__view(pub, v))
		return -EINVAL;
	/* A robust barrier counts its callers per participant: one of a
	 * process that takes no part would be counted where nobody could
	 * forget it, should it die inside. */
	return view_robust(v) && v->slot < 0 ? -EPERM : 0;
}

int rally__check_attr(const rally_barrier_attr_t *attr)
{
	if (!attr)
		return 0;
	if (attr->flags & ~(RALLY_SHARED | RALLY_ROBUST | RALLY_STATS))
		return -EINVAL;
	/* Robust participants and statistics share lines 7-15. */
	if ((attr->flags & RALLY_ROBUST) && (attr->flags & RALLY_STATS))
		return -EINVAL;
	if ((attr->flags & RALLY_ROBUST) && !(attr->flags & RALLY_SHARED))
		return -EINVAL;
	if (attr->timeout_ns < RALLY_FOREVER || attr->spin < RALLY_SPIN_NEVER)
		return -EINVAL;
	return 0;
}

/* Tells barriers apart, in a process and across them (a named barrier has
 * one tag in every process): random, with a fallback that is unique. */
static uint64_t new_tag(const void *where)
{
	uint64_t t = 0;
	/* The system call: glibc's getrandom() is a cancellation point, and
	 * init must not be one (a thread with a cancellation pending died in
	 * pthread_barrier_init through the drop-in: review 4 of the shim). */
	if (syscall(SYS_getrandom, &t, sizeof t, GRND_NONBLOCK) !=
	    (long)sizeof t) {
		static _Atomic uint64_t counter;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
		    (uint64_t)(uintptr_t)where ^ (uint64_t)getpid() << 40 ^
		    atomic_fetch_add(&counter, 0x9e3779b97f4a7c15ull);
	}
	return t ? t : 1;
}

int rally__barrier_init(struct rally__barrier *b, unsigned parties,
                        const rally_barrier_attr_t *attr)
{
	static const rally_barrier_attr_t defaults;
	if (!b || !parties_ok(parties))
		return -EINVAL;
	if (!attr)
		attr = &defaults;
	int rc = rally__check_attr(attr);
	if (rc)
		return rc;
	memset(b, 0, sizeof *b);
	b->parties = parties;
	b->flags = attr->flags;
	b->spin = attr->spin;
	b->timeout_ns = attr->timeout_ns > 0 ? attr->timeout_ns : 0;
	b->action = attr->action;
	b->action_arg = attr->action_arg;
	b->tag = new_tag(b);
	/* No epoch has ended: each slot holds an id from before epoch 0. */
	for (uint32_t i = 0; i < RECORDS; i++)
		atomic_store_explicit(&b->rec[i], rec_make(i - RECORDS, 0),
		                      memory_order_relaxed);
	atomic_store_explicit(&b->magic, RALLY__BARRIER_MAGIC,
	                      memory_order_release);
	return 0;
}

RALLY_EXPORT int rally_barrier_init(rally_barrier_t *pub, unsigned parties,
                                    const rally_barrier_attr_t *attr)
{
	return rally__barrier_init((struct rally__barrier *)pub, parties, attr);
}

/* ---- destroy ---------------------------------------------------------------
 */

static bool pinned(struct rally__barrier *b)
{
	for (uint32_t i = 0; i < RECORDS; i++)
		if (atomic_load_explicit(&b->pins[i], memory_order_acquire))
			return true;
	return false;
}

/* ---- visitors ------------------------------------------------------------
 *
 * visitors++ and destroy's reads of it are seq_cst, as are its store of
 * DYING and a visitor's read of magic: either destroy sees the visitor, or
 * the visitor sees DYING and waits to learn whether destroy finished. */

static bool visit(const struct view *v, bool wait_out_destroy)
{
	struct rally__barrier *b = v->b;
	/* An action runs under BUSY, which destroy waits for: it may not wait
	 * for destroy. */
	if (rally__in_action(v->tag)) {
		atomic_fetch_add(&b->visitors, 1);
		return true;
	}
	for (unsigned i = 0;;) {
		atomic_fetch_add(&b->visitors, 1);
		uint32_t magic = atomic_load(&b->magic);
		if (magic == RALLY__BARRIER_MAGIC)
			return true;
		atomic_fetch_sub(&b->visitors, 1);
		if (magic != RALLY__DYING_MAGIC || !wait_out_destroy)
			return false;
		while (atomic_load(&b->magic) == RALLY__DYING_MAGIC)
			rally__backoff(&i);
	}
}

bool rally__visit(const struct view *v) { return visit(v, true); }

bool rally__visit_now(const struct view *v) { return visit(v, false); }

void rally__unvisit(const struct view *v)
{
	atomic_fetch_sub_explicit(&v->b->visitors, 1, memory_order_release);
}

/* No magic to check: the caller is inside, so destroy cannot finish. */
void rally__rearrival_begin(const struct view *v)
{
	atomic_fetch_add(&v->b->rearrivals, 1);
}

void rally__rearrival_end(const struct view *v)
{
	atomic_fetch_sub_explicit(&v->b->rearrivals, 1, memory_order_release);
}

/* ---- destroy ------------------------------------------------------------ */

enum quiet {
	QUIET,   /* nobody will touch the object again */
	LEAVING, /* callers are on their way out or back in: wait */
	REFUSE,  /* a visitor, or a caller that will wait for others */
};

/* Whether callers arrived into a phase that waits for more. The last
 * arrival of a phase moves arr on in a second step: a whole phase's count
 * is a completer between its steps, not a waiter. */
static bool arrivals_waiting(const struct view *v, uint64_t s, uint64_t a)
{
	uint32_t c = arr_count(a);
	if (c % v->parties == 0)
		return false;
	uint32_t p = (arr_phase(a) + c / v->parties) & SEQ_MASK;
	return rally__classify(s, p, arr_epoch(a) & 1) == PENDING;
}

/* Where destroy stands: see the top. */
static enum quiet quiescence(const struct view *v)
{
	struct rally__barrier *b = v->b;
	if (atomic_load(&b->visitors))
		return REFUSE;
	uint32_t back = atomic_load(&b->rearrivals);
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	uint64_t a = atomic_load_explicit(&b->arr, memory_order_acquire);
	if (arrivals_waiting(v, s, a))
		return REFUSE;
	if (s & ST_BUSY)
		return LEAVING;
	if (!(s & ST_BROKEN) &&
	    (st_seq(s) != arr_phase(a) || st_parity(s) != (arr_epoch(a) & 1)))
		return LEAVING; /* a completer has yet to publish */
	bool inside = rally__callers_inside(v, a, st_seq(s)) || pinned(b);
	/* Between the reads above a caller inside may have become a
	 * re-arrival and left (counted before its leaving, which we may have
	 * acquired), or a re-arrival arrived again: look twice. */
	if (atomic_load(&b->visitors))
		return REFUSE;
	if (back || atomic_load(&b->rearrivals) ||
	    atomic_load_explicit(&b->arr, memory_order_acquire) != a)
		return LEAVING;
	return inside ? LEAVING : QUIET;
}

/* On a shared barrier that is not robust a process killed inside never
 * leaves, and nothing tells it from a slow one: destroy gives up (-EBUSY,
 * the barrier stays usable) once none of the words it waits on has moved
 * for STUCK_NS. A private barrier's callers are threads of this process,
 * and a robust one's dead do not count: there destroy waits. */
#define STUCK_NS 1000000000

struct stuck {
	uint64_t words[3];
	int64_t since;
};

static bool stuck(const struct view *v, struct stuck *k)
{
	if (!view_shared(v) || view_robust(v))
		return false;
	struct rally__barrier *b = v->b;
	uint64_t w[3] = {atomic_load(v->state), atomic_load(&b->arr),
	                 (uint64_t)atomic_load(&b->out) << 32 |
	                     atomic_load(&b->rearrivals)};
	int64_t now = rally__now_ns();
	if (k->since == 0 || memcmp(w, k->words, sizeof w) != 0) {
		memcpy(k->words, w, sizeof w);
		k->since = now;
	}
	return now - k->since >= STUCK_NS;
}

/* While destroy waits, nobody else can find a dead holder (every call sees
 * the barrier dying): destroy looks itself, every ROBUST_CHECK_NS, and
 * takes over from a holder that died (a completer killed in its action,
 * robust or not), which counts it out. */
static void take_over_if_dead(const struct view *v, int64_t *looked_at)
{
	if (!view_shared(v))
		return;
	uint64_t s = atomic_load_explicit(v->state, memory_order_acquire);
	int64_t now = rally__now_ns();
	if (!(s & ST_BUSY) || now - *looked_at < ROBUST_CHECK_NS)
		return;
	*looked_at = now;
	rally__take_over(v, &s);
}

RALLY_EXPORT int rally_barrier_destroy(rally_barrier_t *pub)
{
	struct rally__barrier *b = (struct rally__barrier *)pub;
	struct view v;
	if (!b ||
	    atomic_load_explicit(&b->magic, memory_order_acquire) !=
	        RALLY__BARRIER_MAGIC ||
	    !rally__view(pub, &v))
		return -EINVAL; /* a handle is closed, not destroyed */
	if (rally__in_action(v.tag))
		return -EBUSY;
	uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
	uint64_t a = atomic_load_explicit(&b->arr, memory_order_acquire);
	if ((s & ST_BUSY) || (!(s & ST_BROKEN) && arr_count(a) != 0) ||
	    atomic_load(&b->visitors))
		return -EBUSY;
	uint32_t magic = RALLY__BARRIER_MAGIC;
	if (!atomic_compare_exchange_strong(&b->magic, &magic,
	                                    RALLY__DYING_MAGIC))
		return -EINVAL; /* destroyed concurrently */
	RALLY_POINT(DESTROYING);
	struct stuck k = {0};
	int64_t looked_at = 0;
	for (unsigned i = 0;;) {
		switch (quiescence(&v)) {
		case QUIET:
			if (view_robust(&v))
				rally__attach_forget(v.tag);
			atomic_store_explicit(&b->magic, 0,
			                      memory_order_release);
			/* The barrier's waits so far reach the file now. */
			if (atomic_load_explicit(&rally__trace_on,
			                         memory_order_relaxed))
				rally__trace_flush();
			return 0;
		case REFUSE:
			atomic_store(&b->magic, RALLY__BARRIER_MAGIC);
			return -EBUSY;
		default:
			if (stuck(&v, &k)) {
				atomic_store(&b->magic, RALLY__BARRIER_MAGIC);
				return -EBUSY;
			}
			take_over_if_dead(&v, &looked_at);
			rally__backoff(&i);
		}
	}
}

/* ---- the state
 * --------------------------------------------------------------- */

RALLY_EXPORT unsigned rally_barrier_parties(const rally_barrier_t *pub)
{
	struct view v;
	return rally__view(pub, &v) ? v.parties : 0;
}

RALLY_EXPORT unsigned rally_barrier_n_waiting(const rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return 0;
	uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
	if (s & ST_BROKEN)
		return 0;
	uint64_t a = atomic_load_explicit(&v.b->arr, memory_order_acquire);
	/* Phase seq complete in arrivals (its action runs, or it is being
	 * published): all its parties wait, as in CPython's action. */
	if ((arr_epoch(a) & 1) == st_parity(s) &&
	    seq_diff(arr_phase(a), st_seq(s)) > 0)
		return v.parties;
	return arr_count(a) < v.parties ? arr_count(a) : v.parties;
}

RALLY_EXPORT bool rally_barrier_broken(const rally_barrier_t *pub)
{
	struct view v;
	return rally__view(pub, &v) &&
	       (atomic_load_explicit(v.state, memory_order_acquire) &
	        ST_BROKEN);
}

/* hooks.h */
int rally__barrier_broken_code(const rally_barrier_t *pub)
{
	struct view v;
	return rally__view(pub, &v) ? rally__broken_code(&v) : -EINVAL;
}

/* hooks.h */
bool rally__barrier_busy(const rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return false;
	uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
	/* A holder that died is taken over here, as a test() does (rate
	 * limited): whoever polls this would otherwise poll for ever. */
	if (rally__check_holder(&v, &s))
		s = atomic_load_explicit(v.state, memory_order_acquire);
	return s & ST_BUSY;
}

/* hooks.h */
int rally__barrier_busy_futex(const rally_barrier_t *pub,
                              const uint32_t **word, uint32_t *value,
                              bool *shared)
{
	struct view v;
	if (!rally__view(pub, &v) || !word || !value || !shared)
		return -EINVAL;
	uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
	for (;;) {
		if (!(s & ST_BUSY))
			return 1;
		if (rally__check_holder(&v, &s)) {
			s = atomic_load_explicit(v.state, memory_order_acquire);
			continue;
		}
		if (announce_sleeper(v.state, &s))
			break;
	}
	*word = (const uint32_t *)gen_of(v.state);
	*value = (uint32_t)(s | ST_SLEEPERS);
	*shared = view_shared(&v);
	return 0;
}

RALLY_EXPORT unsigned rally_barrier_phase(const rally_barrier_t *pub)
{
	struct view v;
	return rally__view(pub, &v) ? st_seq(atomic_load_explicit(
	                                  v.state, memory_order_acquire))
	                            : 0;
}

/* The test hooks' precondition: a barrier in place, whole, nobody inside,
 * no pin; its view, state and arr. NULL if not so. */
static struct rally__barrier *idle(rally_barrier_t *pub, struct view *v,
                                   uint64_t *s, uint64_t *a)
{
	struct rally__barrier *b = (struct rally__barrier *)pub;
	if (!b || atomic_load(&b->magic) != RALLY__BARRIER_MAGIC ||
	    !rally__view(pub, v))
		return NULL;
	*s = atomic_load(v->state);
	*a = atomic_load(&b->arr);
	bool whole = *s == st_make(st_seq(*s), arr_epoch(*a) & 1) &&
	             arr_count(*a) == 0 && arr_phase(*a) == st_seq(*s);
	return whole && !pinned(b) ? b : NULL;
}

int rally__barrier_set_phase(rally_barrier_t *pub, uint32_t phase)
{
	struct view v;
	uint64_t s, a;
	struct rally__barrier *b = idle(pub, &v, &s, &a);
	if (!b || phase > SEQ_MASK)
		return -EINVAL; /* not idle, or not a phase number */
	uint32_t parity = arr_epoch(a) & 1;
	/* The epoch now begins at `phase`, with nobody inside. */
	atomic_store(&b->base[parity], base_make(phase, atomic_load(&b->out)));
	atomic_store(&b->arr, arr_make(phase, arr_epoch(a)));
	atomic_store(v.state, st_make(phase, parity));
	return 0;
}

int rally__barrier_skip_phases(rally_barrier_t *pub, uint32_t n)
{
	struct view v;
	uint64_t s, a;
	struct rally__barrier *b = idle(pub, &v, &s, &a);
	if (!b || n > SEQ_MASK)
		return -EINVAL;
	uint32_t parity = arr_epoch(a) & 1, seq = st_seq(s);
	/* n phases completed, every non-completer of them left (robust:
	 * per-process counts, back at zero); the baseline stays where it
	 * was. */
	if (!view_robust(&v))
		atomic_fetch_add(&b->out, n * (v.parties - 1));
	atomic_store(&b->arr, arr_make(seq + n, arr_epoch(a)));
	atomic_store(v.state, st_make(seq + n, parity));
	return 0;
}

int rally__barrier_plant_pid_twin(rally_barrier_t *pub, uint64_t earlier,
                                  unsigned inside)
{
	struct view v;
	if (!rally__view(pub, &v) || !view_robust(&v))
		return -EINVAL;
	uint64_t start = rally__robust_self_start();
	if (start < earlier)
		return -EINVAL;
	return rally__robust_plant(&v.b->robust, rally__self_pid(),
	                           start - earlier, inside);
}

int rally__barrier_guarded(rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return -EINVAL;
	return atomic_load(&v.b->guarded) != 0;
}

int rally__barrier_arrive_broken(rally_barrier_t *pub, uint32_t n)
{
	struct rally__barrier *b = (struct rally__barrier *)pub;
	struct view v;
	if (!b || atomic_load(&b->magic) != RALLY__BARRIER_MAGIC ||
	    !rally__view(pub, &v) || view_robust(&v))
		return -EINVAL;
	uint64_t s = atomic_load(v.state), a = atomic_load(&b->arr);
	if (rally__classify(s, arr_phase(a), arr_epoch(a) & 1) != BROKEN ||
	    arr_count(a) != 0 || n > SEQ_MASK)
		return -EINVAL;
	/* Every caller of those phases left. */
	atomic_fetch_add(&b->out, n * v.parties);
	atomic_store(&b->arr, arr_make(arr_phase(a) + n, arr_epoch(a)));
	return 0;
}

/* ---- robust participants --------------------------------------------------
 */

/* Whether the barrier in place at obj, attached here with `tag`, is gone:
 * destroyed (by another process: destroy drops this process's own), its
 * memory unmapped or reused. Read through the kernel, which answers EFAULT
 * for memory no longer mapped instead of a fault. */
static bool attached_gone(const void *obj, uint64_t tag)
{
	const struct rally__barrier *b = obj;
	uint32_t magic;
	uint64_t now_tag;
	struct iovec mine[2] = {{&magic, sizeof magic},
	                        {&now_tag, sizeof now_tag}};
	struct iovec theirs[2] = {{(void *)&b->magic, sizeof magic},
	                          {(void *)&b->tag, sizeof now_tag}};
	ssize_t n = process_vm_readv(getpid(), mine, 2, theirs, 2, 0);
	if (n < 0)
		return errno == EFAULT;
	/* Being destroyed is not gone: destroy may yet answer -EBUSY. */
	return n != (ssize_t)(sizeof magic + sizeof now_tag) ||
	       (magic != RALLY__BARRIER_MAGIC && magic != RALLY__DYING_MAGIC) ||
	       now_tag != tag;
}

RALLY_EXPORT int rally_barrier_attach(rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return -EINVAL;
	if (!view_robust(&v))
		return 0; /* nothing to track */
	struct rally__barrier_proxy *px = (struct rally__barrier_proxy *)pub;
	if (atomic_load(&px->magic) != RALLY__PROXY_MAGIC)
		return rally__attach(&v.b->robust, v.tag, v.b, attached_gone);
	/* A handle takes part from open(), unless this process detached it,
	 * opened it to watch, or is a fork()ed child of its opener. */
	if (v.slot >= 0)
		return 0;
	int slot = rally__robust_register(&px->shared->robust);
	if (slot < 0)
		return slot;
	px->pid = rally__self_pid();
	px->slot = slot;
	return 0;
}

RALLY_EXPORT int rally_barrier_detach(rally_barrier_t *pub)
{
	struct view v;
	if (!rally__view(pub, &v))
		return -EINVAL;
	struct rally__barrier_proxy *px = (struct rally__barrier_proxy *)pub;
	if (atomic_load(&px->magic) == RALLY__PROXY_MAGIC) {
		/* A handle from open(): this process stops taking part (a
		 * fork()ed child's copy of it never took part). */
		int rc = 0;
		if (px->slot >= 0 && px->pid == rally__self_pid())
			rc = rally__robust_unregister(&px->shared->robust,
			                              px->slot);
		if (rc == 0)
			px->slot = -1;
		return rc;
	}
	return view_robust(&v) ? rally__detach(&v.b->robust, v.tag) : 0;
}

/* The view of a robust barrier for late() and dead(): 0, or the code. */
static int robust_list_view(const rally_barrier_t *pub, const pid_t *pids,
                            unsigned max, struct view *v)
{
	if (!rally__view(pub, v) || (max && !pids))
		return -EINVAL;
	return view_robust(v) ? 0 : -ENOTSUP;
}

RALLY_EXPORT int rally_barrier_late(const rally_barrier_t *pub, pid_t *pids,
                                    unsigned max)
{
	struct view v;
	int rc = robust_list_view(pub, pids, max, &v);
	if (rc)
		return rc;
	/* seq is the phase not yet complete — also while its action runs,
	 * when arr has moved on already. While it still takes arrivals, no
	 * process can have arrived in a later one: only a note of this very
	 * phase says "arrived" (one that seems ahead is from 2^28 phases ago:
	 * review round 13) — if it took arrivals all through the look: one
	 * that completed meanwhile let a process note the next (round 14).
	 * A phase that keeps moving is judged as it was before. */
	for (int tries = 0;; tries++) {
		uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
		uint32_t seq = st_seq(s);
		bool open = tries < 3 && rally__takes_arrivals(&v, seq);
		rc = rally__robust_late(&v.b->robust, seq, open, pids, max);
		if (!open ||
		    (st_seq(atomic_load_explicit(v.state, memory_order_acquire)) ==
		         seq &&
		     rally__takes_arrivals(&v, seq)))
			return rc;
	}
}

RALLY_EXPORT int rally_barrier_dead(const rally_barrier_t *pub, pid_t *pids,
                                    unsigned max)
{
	struct view v;
	int rc = robust_list_view(pub, pids, max, &v);
	if (rc)
		return rc;
	/* A holder of BUSY that died (a monitor killed inside a reset: robust
	 * callers do not wait out a reset, so no slice of theirs looks) is
	 * listed too (review round 11). Only looked at: a take-over from
	 * here, a visitor a reset does not drain, recorded the death after
	 * another monitor's reset had completed and forgotten the dead
	 * (review round 17). The state read again after the look: a holder
	 * that published and then exited is no death (round 18). */
	uint64_t s = atomic_load_explicit(v.state, memory_order_acquire);
	pid_t holder = 0;
	if (rally__holder_dead(&v, s) &&
	    atomic_load_explicit(v.state, memory_order_acquire) == s)
		holder = (pid_t)st_holder(s);
	return rally__robust_dead(&v.b->robust, holder, pids, max);
}
