/* harness.c — rally and its C peers behind one interface. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_CK
#include <ck_barrier.h>
#endif

#include "hooks.h"
#include "rally.h"

/* The sleep-at-once futex barrier: what a careful first futex barrier looks
 * like. Arrivals count up; the last resets the count, bumps the generation
 * and wakes everyone with one FUTEX_WAKE; the others sleep on the
 * generation at once, without spinning. */
struct futex_barrier {
	_Atomic uint32_t count;
	_Atomic uint32_t gen;
	uint32_t parties;
	int private_flag;
};

static void futex_barrier_wait(struct futex_barrier *f)
{
	uint32_t g = atomic_load_explicit(&f->gen, memory_order_acquire);
	if (atomic_fetch_add_explicit(&f->count, 1, memory_order_acq_rel) + 1 ==
	    f->parties) {
		atomic_store_explicit(&f->count, 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&f->gen, 1, memory_order_release);
		syscall(SYS_futex, &f->gen, FUTEX_WAKE | f->private_flag,
		        INT_MAX, NULL, NULL, 0);
		return;
	}
	while (atomic_load_explicit(&f->gen, memory_order_acquire) == g)
		syscall(SYS_futex, &f->gen, FUTEX_WAIT | f->private_flag, g,
		        NULL, NULL, 0);
}

/* The yield floor: sense reversal, waiters sched_yield() until the sense
 * flips. One syscall per waiter turn and nothing else: the least any
 * barrier can pay per party and phase when threads outnumber CPUs. */
struct yield_barrier {
	_Atomic uint32_t count;
	_Atomic uint32_t sense;
	uint32_t parties;
};

static void yield_barrier_wait(struct yield_barrier *y)
{
	uint32_t s = atomic_load_explicit(&y->sense, memory_order_acquire);
	if (atomic_fetch_add_explicit(&y->count, 1, memory_order_acq_rel) + 1 ==
	    y->parties) {
		atomic_store_explicit(&y->count, 0, memory_order_relaxed);
		atomic_store_explicit(&y->sense, s + 1, memory_order_release);
		return;
	}
	while (atomic_load_explicit(&y->sense, memory_order_acquire) == s)
		sched_yield();
}

/* The layout every peer is given, as its authors intend (checked by
 * bench_layout_check): the harness's header (read on every call) on a
 * line of its own; the peer's shared words from BENCH_LINE on, off the
 * header's line; each party's private state (ConcurrencyKit's sense) on a
 * line of its own. BENCH_LINE is two 64-byte lines: the adjacent-line
 * prefetcher of x86 CPUs pulls lines in pairs. */
#ifdef HAVE_CK
typedef ck_barrier_centralized_state_t ck_state_t;
#else
typedef struct {
	unsigned sense;
} ck_state_t;
#endif
struct ck_slot {
	_Alignas(BENCH_LINE) ck_state_t state;
};
_Static_assert(sizeof(struct ck_slot) == BENCH_LINE, "a slot a line");

struct bench_barrier {
	enum bench_peer peer;
	bool shared;
	unsigned n;
	_Alignas(BENCH_LINE) union {
		rally_barrier_t rally;
		pthread_barrier_t pthread;
		struct futex_barrier futex;
		struct yield_barrier yield;
#ifdef HAVE_CK
		ck_barrier_centralized_t ck;
#endif
	} u;
	_Alignas(BENCH_LINE) struct ck_slot ck_state[];
};

/* The bytes of the peer's shared words: its object (rally's own layout
 * keeps its words apart inside its 1024 bytes). */
static size_t peer_words_size(enum bench_peer p)
{
	switch (p) {
	case PEER_RALLY:
	case PEER_RALLY_NOSPIN:
	case PEER_RALLY_STATS:
		return sizeof(rally_barrier_t);
	case PEER_PTHREAD:
	case PEER_PTHREAD_SHARED:
		return sizeof(pthread_barrier_t);
	case PEER_FUTEX:
		return sizeof(struct futex_barrier);
	case PEER_YIELD:
		return sizeof(struct yield_barrier);
#ifdef HAVE_CK
	case PEER_CK:
		return sizeof(ck_barrier_centralized_t);
#endif
	default:
		return 0;
	}
}

size_t bench_layout(const struct bench_barrier *b, struct bench_region *r,
                    size_t max)
{
	size_t k = 0;
	if (k < max)
		r[k] = (struct bench_region){"harness header", (uintptr_t)b,
		                             offsetof(struct bench_barrier, n) +
		                                 sizeof b->n};
	k++;
	if (k < max)
		r[k] = (struct bench_region){"shared words", (uintptr_t)&b->u,
		                             peer_words_size(b->peer)};
	k++;
#ifdef HAVE_CK
	if (b->peer == PEER_CK)
		for (unsigned i = 0; i < b->n; i++, k++)
			if (k < max)
				r[k] = (struct bench_region){
				    "private state", (uintptr_t)&b->ck_state[i].state,
				    sizeof b->ck_state[i].state};
#endif
	return k;
}

/* Lines in pairs (BENCH_LINE): the adjacent-line prefetcher moves both. */
static uintptr_t first_line(const struct bench_region *r)
{
	return r->addr / BENCH_LINE;
}
static uintptr_t last_line(const struct bench_region *r)
{
	return (r->addr + (r->size ? r->size : 1) - 1) / BENCH_LINE;
}

int bench_regions_check(const struct bench_region *r, size_t k, char *why,
                        size_t len)
{
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++)
			if (first_line(&r[i]) <= last_line(&r[j]) &&
			    first_line(&r[j]) <= last_line(&r[i])) {
				snprintf(why, len,
				         "%s %zu and %s %zu share a %d-byte "
				         "pair of lines",
				         r[i].what, i, r[j].what, j, BENCH_LINE);
				return -1;
			}
	return 0;
}

int bench_layout_check(const struct bench_barrier *b, char *why, size_t len)
{
	size_t k = bench_layout(b, NULL, 0);
	struct bench_region *r = calloc(k, sizeof *r);
	if (!r) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	bench_layout(b, r, k);
	int rc = bench_regions_check(r, k, why, len);
	free(r);
	return rc;
}

bool bench_peer_available(enum bench_peer p)
{
#ifndef HAVE_CK
	if (p == PEER_CK)
		return false;
#endif
	return p < PEER_C_COUNT;
}

const char *bench_peer_name(enum bench_peer p)
{
	static const char *const names[] = {
	    [PEER_RALLY] = "rally",
	    [PEER_RALLY_NOSPIN] = "rally_nospin",
	    [PEER_PTHREAD] = "pthread",
	    [PEER_PTHREAD_SHARED] = "pthread_pshared",
	    [PEER_FUTEX] = "futex_sleep",
	    [PEER_CK] = "ck_centralized",
	    [PEER_YIELD] = "yield_floor",
	    [PEER_RALLY_STATS] = "rally_stats",
	};
	return p < PEER_C_COUNT ? names[p] : "?";
}

static size_t barrier_size(enum bench_peer p, unsigned n)
{
	size_t size = sizeof(struct bench_barrier);
	if (p == PEER_CK)
		size += n * sizeof(struct ck_slot);
	return size;
}

static int init_peer(struct bench_barrier *b)
{
	switch (b->peer) {
	case PEER_RALLY:
	case PEER_RALLY_NOSPIN:
	case PEER_RALLY_STATS: {
		rally_barrier_attr_t attr = {
		    .flags = (b->shared ? RALLY_SHARED : 0) |
		             (b->peer == PEER_RALLY_STATS ? RALLY_STATS : 0),
		    .spin = b->peer == PEER_RALLY_NOSPIN ? RALLY_SPIN_NEVER
		                                         : RALLY_SPIN_AUTO};
		return rally_barrier_init(&b->u.rally, b->n, &attr);
	}
	case PEER_PTHREAD:
	case PEER_PTHREAD_SHARED: {
		pthread_barrierattr_t attr;
		pthread_barrierattr_init(&attr);
		if (b->shared || b->peer == PEER_PTHREAD_SHARED)
			pthread_barrierattr_setpshared(&attr,
			                               PTHREAD_PROCESS_SHARED);
		int rc = pthread_barrier_init(&b->u.pthread, &attr, b->n);
		pthread_barrierattr_destroy(&attr);
		return -rc;
	}
	case PEER_FUTEX:
		b->u.futex.parties = b->n;
		b->u.futex.private_flag = b->shared ? 0 : FUTEX_PRIVATE_FLAG;
		return 0;
	case PEER_YIELD:
		b->u.yield.parties = b->n;
		return 0;
	case PEER_CK:
#ifdef HAVE_CK
		for (unsigned i = 0; i < b->n; i++)
			b->ck_state[i].state.sense = 0;
		return 0;
#endif
	default:
		return -EINVAL;
	}
}

struct bench_barrier *bench_barrier_new(enum bench_peer p, unsigned n,
                                        bool shared)
{
	if (!bench_peer_available(p) || n == 0)
		return NULL;
	size_t size = barrier_size(p, n);
	struct bench_barrier *b =
	    mmap(NULL, size, PROT_READ | PROT_WRITE,
	         (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	b->peer = p;
	b->shared = shared;
	b->n = n;
	char why[160];
	if (bench_layout_check(b, why, sizeof why) != 0) {
		/* A peer laid out to lose is worse than no number. */
		fprintf(stderr, "rally-bench: unfair layout of %s: %s\n",
		        bench_peer_name(p), why);
		munmap(b, size);
		return NULL;
	}
	if (init_peer(b) != 0) {
		munmap(b, size);
		return NULL;
	}
	return b;
}

int bench_barrier_wait(struct bench_barrier *b, unsigned self)
{
	switch (b->peer) {
	case PEER_RALLY:
	case PEER_RALLY_NOSPIN:
	case PEER_RALLY_STATS:
		return rally_barrier_wait(&b->u.rally);
	case PEER_PTHREAD:
	case PEER_PTHREAD_SHARED: {
		int rc = pthread_barrier_wait(&b->u.pthread);
		return rc == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : -rc;
	}
	case PEER_FUTEX:
		futex_barrier_wait(&b->u.futex);
		return 0;
	case PEER_YIELD:
		yield_barrier_wait(&b->u.yield);
		return 0;
	case PEER_CK:
#ifdef HAVE_CK
		ck_barrier_centralized(&b->u.ck, &b->ck_state[self].state, b->n);
		return 0;
#endif
	default:
		return -EINVAL;
	}
}

void bench_barrier_free(struct bench_barrier *b)
{
	if (!b)
		return;
	if (b->peer == PEER_RALLY || b->peer == PEER_RALLY_NOSPIN ||
	    b->peer == PEER_RALLY_STATS)
		rally_barrier_destroy(&b->u.rally);
	else if (b->peer == PEER_PTHREAD || b->peer == PEER_PTHREAD_SHARED)
		pthread_barrier_destroy(&b->u.pthread);
	munmap(b, barrier_size(b->peer, b->n));
}

uint64_t bench_rally_futex_calls(void) { return rally__futex_calls(); }

static char trace_path[64];

int bench_trace_start(void)
{
	snprintf(trace_path, sizeof trace_path, "/tmp/rally-bench-trace.%d.json",
	         (int)getpid());
	return rally__trace_start(trace_path);
}

void bench_trace_stop(void)
{
	rally__trace_stop();
	unlink(trace_path);
}

struct bench_usage bench_usage_now(bool children)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	struct bench_usage u = {r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 +
	                            r.ru_stime.tv_sec +
	                            r.ru_stime.tv_usec / 1e6,
	                        r.ru_nvcsw, r.ru_nvcsw + r.ru_nivcsw};
	if (children) {
		getrusage(RUSAGE_CHILDREN, &r);
		u.cpu_s += r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 +
		           r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
		u.vcsw += r.ru_nvcsw;
		u.csw += r.ru_nvcsw + r.ru_nivcsw;
	}
	return u;
}
