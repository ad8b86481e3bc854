/* harness.h — the thin C harness the C++ benchmarks call: one interface over
 * every C barrier measured (rally and its C peers). */
#ifndef RALLY_BENCH_HARNESS_H
#define RALLY_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bench_peer {
	PEER_RALLY,          /* rally, RALLY_SPIN_AUTO */
	PEER_RALLY_NOSPIN,   /* rally, RALLY_SPIN_NEVER */
	PEER_PTHREAD,        /* pthread_barrier_t, private */
	PEER_PTHREAD_SHARED, /* pthread_barrier_t, PTHREAD_PROCESS_SHARED */
	PEER_FUTEX,          /* a plain futex barrier that sleeps at once */
	PEER_CK,             /* ConcurrencyKit centralized: pure spin */
	PEER_YIELD,          /* a bare sched_yield() loop: the oversubscribed
	                        floor (it never sleeps: not a usable barrier) */
	PEER_RALLY_STATS,    /* rally with RALLY_STATS (the "stats" family) */
	PEER_C_COUNT
};

/* Whether the peer was built in (ConcurrencyKit is optional). */
bool bench_peer_available(enum bench_peer p);
const char *bench_peer_name(enum bench_peer p);

struct bench_barrier;

/* A barrier for n parties. With `shared`, it lives in a MAP_SHARED mapping
 * and is initialised for use across fork()ed processes. NULL on failure. */
struct bench_barrier *bench_barrier_new(enum bench_peer p, unsigned n,
                                        bool shared);
/* `self`: the caller's party number, 0 .. n-1 (ConcurrencyKit keeps state
 * per party). Returns the barrier's own result (negative: an error). */
int bench_barrier_wait(struct bench_barrier *b, unsigned self);
void bench_barrier_free(struct bench_barrier *b);

/* The layout of a barrier: the bytes the harness reads on every call, the
 * peer's shared words, and each party's private state. */
#define BENCH_LINE 128
struct bench_region {
	const char *what;
	uintptr_t addr;
	size_t size;
};
/* Fills r (up to max) and returns how many regions there are. */
size_t bench_layout(const struct bench_barrier *b, struct bench_region *r,
                    size_t max);
/* 0 if no two of the k regions share a BENCH_LINE (a pair of 64-byte
 * lines); else -1 and why. */
int bench_regions_check(const struct bench_region *r, size_t k, char *why,
                        size_t len);
/* The same for a barrier's layout (bench_barrier_new refuses one that
 * fails). */
int bench_layout_check(const struct bench_barrier *b, char *why, size_t len);

/* Futex system calls rally made in this process. */
uint64_t bench_rally_futex_calls(void);

/* RALLY_TRACE for a benchmark's run (into a file of its own, removed at
 * the stop): 0, or a negative errno. */
int bench_trace_start(void);
void bench_trace_stop(void);

/* CPU time (user + system) and voluntary context switches of this process
 * (and, with children, of its waited-for children). */
struct bench_usage {
	double cpu_s;
	long vcsw; /* voluntary context switches (sleeps) */
	long csw;  /* all context switches (sleeps, yields, preemptions) */
};
struct bench_usage bench_usage_now(bool children);

#ifdef __cplusplus
}
#endif

#endif
