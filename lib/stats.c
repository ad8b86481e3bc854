/* stats.c — a RALLY_STATS barrier's counts: where they are written (the
 * rules in stats.h) and rally_barrier_stats(), which reads them. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "barrier_impl.h"
#include "export.h"
#include "hooks.h"
#include "stats.h"

static inline void add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

static inline void put(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, n, memory_order_relaxed);
}

/* This thread's latest arrival's clock: a split-phase completer (no
 * v->call) measures the skew to it, not to the moment it got BUSY (an
 * earlier phase's action in between: review round 3). */
static _Thread_local int64_t latest_arrival_ns;

void rally__stats_arrived(const struct view *v, uint32_t phase,
                          uint32_t index, uint32_t epoch, int64_t now)
{
	latest_arrival_ns = now;
	if (view_stats(v) && index == 0)
		put(&v->b->stats.first[phase % STATS_FIRSTS],
		    first_make(phase, epoch, now));
	if (v->call) {
		v->call->this_arrival_ns = now;
		if (!v->call->again) {
			v->call->arrived_ns = now;
			v->call->reached = 0;
		}
		v->call->again = false;
		v->call->arrived = true;
		v->call->phase = phase;
		v->call->index = index;
	}
}

/* The bucket of a skew (rally.h: RALLY_STATS_BUCKETS). */
static unsigned bucket_of(uint64_t ns)
{
	if (ns < 128)
		return 0;
	unsigned b = 63u - (unsigned)__builtin_clzll(ns) - 6u;
	return b < RALLY_STATS_BUCKETS ? b : RALLY_STATS_BUCKETS - 1;
}

/* The caller as "last": its thread, or on a shared barrier its process. */
static uint64_t caller_id(const struct view *v)
{
	/* A system call once per thread — and again in a fork()ed child,
	 * whose thread the cache would name by its parent's (review round 1):
	 * the cache holds the pid it was made in (rally__self_pid(), itself
	 * cached and renewed at fork). */
	static _Thread_local pid_t tid, tid_pid;
	pid_t pid = rally__self_pid();
	if (view_shared(v))
		return (uint64_t)pid;
	if (tid_pid != pid) {
		tid = (pid_t)syscall(SYS_gettid);
		tid_pid = pid;
	}
	return (uint64_t)tid;
}

/* Space saving over RALLY_STATS_LAST counters. Only a BUSY holder writes:
 * a load and a store, no RMW. */
static void count_last(struct rally__stats *st, uint64_t id)
{
	unsigned least = 0;
	for (unsigned i = 0; i < RALLY_STATS_LAST; i++) {
		uint64_t n = get(&st->last[i].count);
		if (n && get(&st->last[i].id) == id) {
			put(&st->last[i].count, n + 1);
			return;
		}
		if (n < get(&st->last[least].count))
			least = i;
	}
	uint64_t n = get(&st->last[least].count);
	put(&st->last[least].id, id);
	put(&st->last[least].count, n + 1);
}

/* The phase's skew from the first arrival's stamp, if it is there. */
static void count_skew(struct rally__stats *st, uint32_t phase,
                       uint32_t epoch, int64_t now)
{
	uint64_t f = get(&st->first[phase % STATS_FIRSTS]);
	if ((f & ~FIRST_NS_MASK) != first_tag(phase, epoch)) {
		add(&st->skew_missed, 1);
		return;
	}
	uint64_t ns = ((uint64_t)now - f) & FIRST_NS_MASK;
	/* Each caller is clocked just before it arrives: a last caller held
	 * between its clock read and its arrival while the first read and
	 * arrived reads a clock a little "before" the first's — a skew below
	 * 0 by that hold, which is 0. Up to 2^36 ns (69 s) below; anything
	 * else is a skew, up to 2^46 - 2^36 ns (19.5 hours: review round 3,
	 * 2^45 and more read as 0). */
	if (ns > FIRST_NS_MASK - (1ull << 36))
		ns = 0;
	_Atomic uint64_t *b = &st->skew[bucket_of(ns)];
	put(b, get(b) + 1);
	if (ns > get(&st->skew_max_ns))
		put(&st->skew_max_ns, ns);
}

static void count_wait(struct rally__stats *st, const struct rally__call *c,
                       int64_t now)
{
	uint32_t i = c->index < RALLY_STATS_INDICES ? c->index
	                                             : RALLY_STATS_INDICES - 1;
	add(&st->wait_ns[i], (uint64_t)(now - c->arrived_ns));
	add(&st->waits, 1);
	if (c->reached & RALLY__REACHED_SLEEP)
		add(&st->slept, 1);
	else if (c->reached & RALLY__REACHED_YIELD)
		add(&st->yielded, 1);
	else if (c->reached & RALLY__REACHED_POLL)
		add(&st->spun, 1);
}

void rally__stats_completing(const struct view *v, uint32_t phase,
                             uint32_t epoch)
{
	struct rally__stats *st = &v->b->stats;
	/* A wait's completer was clocked as it arrived (a split-phase one
	 * was not): its arrival is the phase's last. */
	int64_t now = v->call ? v->call->this_arrival_ns : latest_arrival_ns;
	count_skew(st, phase, epoch, now);
	count_last(st, caller_id(v));
}

void rally__stats_born_broken(const struct view *v, bool born)
{
	if (born)
		add(&v->b->stats.broken, 1);
	else
		atomic_fetch_sub_explicit(&v->b->stats.broken, 1,
		                          memory_order_relaxed);
}

void rally__stats_completed(const struct view *v, bool broke)
{
	struct rally__stats *st = &v->b->stats;
	add(broke ? &st->broken : &st->phases, 1);
	/* Its wait runs to its return, which follows: the earlier phase it
	 * waited for, its action — not only to its arrival (round 2). */
	if (v->call)
		count_wait(st, v->call, rally__now_ns());
}

void rally__stats_left(const struct view *v)
{
	if (!view_stats(v) || v->call->again)
		return;
	count_wait(&v->b->stats, v->call, rally__now_ns());
}

void rally__stats_event(const struct view *v, enum rally__stat what)
{
	struct rally__stats *st = &v->b->stats;
	_Atomic uint64_t *count[] = {[STAT_BROKEN] = &st->broken,
	                             [STAT_TIMEOUT] = &st->timeouts,
	                             [STAT_ABORT] = &st->aborts,
	                             [STAT_RESET] = &st->resets};
	add(count[what], 1);
}

void rally__barrier_count_wait(const rally_barrier_t *pub, unsigned index,
                               int64_t arrived_ns)
{
	struct view v;
	if (!rally__view(pub, &v) || !view_stats(&v))
		return;
	struct rally__call c = {.arrived_ns = arrived_ns, .index = index};
	count_wait(&v.b->stats, &c, rally__now_ns());
}

/* ---- reading -------------------------------------------------------------- */

/* The upper bound of the bucket holding the q-th skew (q from 1). */
static uint64_t percentile(const rally_stats_t *out, uint64_t total,
                           unsigned pct)
{
	if (!total)
		return 0;
	uint64_t rank = (total * pct + 99) / 100, seen = 0;
	for (unsigned b = 0; b < RALLY_STATS_BUCKETS; b++) {
		seen += out->skew_hist[b];
		if (seen >= rank) {
			uint64_t upper = b + 1 < RALLY_STATS_BUCKETS
			                     ? 1ull << (b + 7)
			                     : out->skew_max_ns;
			return upper < out->skew_max_ns ? upper
			                                : out->skew_max_ns;
		}
	}
	return out->skew_max_ns;
}

static void read_last(const struct rally__stats *st, rally_stats_t *out)
{
	for (unsigned i = 0; i < RALLY_STATS_LAST; i++) {
		uint64_t n = get(&st->last[i].count);
		if (n > out->last_count) {
			out->last_count = n;
			out->last_id = get(&st->last[i].id);
		}
	}
}

RALLY_EXPORT int rally_barrier_stats(const rally_barrier_t *pub,
                                     rally_stats_t *out)
{
	struct view v;
	if (!out || !rally__view(pub, &v) || !(v.flags & RALLY_STATS))
		return -EINVAL;
	const struct rally__stats *st = &v.b->stats;
	memset(out, 0, sizeof *out);
	out->phases = get(&st->phases);
	out->broken = get(&st->broken);
	out->timeouts = get(&st->timeouts);
	out->aborts = get(&st->aborts);
	out->resets = get(&st->resets);
	out->waits = get(&st->waits);
	out->spun = get(&st->spun);
	out->yielded = get(&st->yielded);
	out->slept = get(&st->slept);
	out->skew_max_ns = get(&st->skew_max_ns);
	out->skew_missed = get(&st->skew_missed);
	uint64_t total = 0;
	for (unsigned b = 0; b < RALLY_STATS_BUCKETS; b++)
		total += out->skew_hist[b] = get(&st->skew[b]);
	out->skew_phases = total; /* the histogram's own count: consistent */
	out->skew_p50_ns = percentile(out, total, 50);
	out->skew_p99_ns = percentile(out, total, 99);
	read_last(st, out);
	for (unsigned i = 0; i < RALLY_STATS_INDICES; i++)
		out->wait_ns[i] = get(&st->wait_ns[i]);
	return 0;
}
