/* barrier_probe.c — where a program's threads spend their time in
 * pthread_barrier_wait, measured from outside it (LD_PRELOAD), for
 * tools/pthread_bench.py. Not installed.
 *
 *   LD_PRELOAD=rally-barrier-probe.so PROGRAM            (the C library's)
 *   LD_PRELOAD=rally-barrier-probe.so:librally-pthread.so PROGRAM
 *
 * It wraps pthread_barrier_init and _wait (the next in line: the C
 * library's, or the shim's when that follows it), stamps each wait's
 * arrival and return (CLOCK_MONOTONIC), and then writes one line to the
 * file RALLY_PROBE_OUT names (appended; stderr without it):
 *
 *   probe threads N waits W phases P unassigned U span_s S in_barrier_s B
 *         after_last_s A
 *
 *   span        the sum over the threads that waited of their first
 *               arrival .. last return
 *   in_barrier  the sum of the waits: B / S is the share of the threads'
 *               time inside pthread_barrier_wait (as bench/pthread_kernel.c
 *               measures its own)
 *   after_last  the part of each wait after the last party of its phase
 *               arrived: what the barrier itself costs (its release and
 *               wake-up); the rest of B is waiting for the last party —
 *               the program's imbalance, which no barrier can shorten
 *
 * The waits of a barrier are put into phases by their arrival order, a
 * phase being `count` arrivals (the count given at init); a phase whose
 * last arrival is stamped after one of its returns (a thread paused
 * between its stamp and its arrival) is left out of after_last and counted
 * in U. It writes at exit, or — for a program that never exits by itself
 * (glxgears, ended by timeout's signal) — RALLY_PROBE_SECONDS after the
 * first wait: waits that arrive later are not recorded, and the line is
 * written by the first wait that returns a second after that. A process
 * that never waited writes nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS (1u << 22) /* 4M waits; beyond: not recorded, said */
#define MAX_BARRIERS 256

struct event {
	const void *barrier;
	uint32_t thread;
	int64_t arrive, ret;
};

static int (*next_init)(pthread_barrier_t *, const pthread_barrierattr_t *,
                        unsigned);
static int (*next_wait)(pthread_barrier_t *);
static struct event *events;
static _Atomic uint32_t n_events, n_threads, dropped;
static _Atomic int64_t first_ns, stop_ns, write_ns; /* 0: not yet */
/* Waits record under the read lock; the report reads under the write lock,
 * so that no event is half written while it sorts them. */
static pthread_rwlock_t recording = PTHREAD_RWLOCK_INITIALIZER;
static bool written; /* under `recording` */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* counts, first */
static struct {
	const void *barrier;
	unsigned count;
} counts[MAX_BARRIERS];
static _Thread_local uint32_t thread_no; /* 1, 2, ...; 0: not yet */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((constructor)) static void probe_load(void)
{
	/* dlsym() answers an object pointer; POSIX makes it a function's */
	void *f = dlsym(RTLD_NEXT, "pthread_barrier_init");
	memcpy(&next_init, &f, sizeof f);
	f = dlsym(RTLD_NEXT, "pthread_barrier_wait");
	memcpy(&next_wait, &f, sizeof f);
	void *m = mmap(NULL, MAX_EVENTS * sizeof(struct event),
	               PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	events = m == MAP_FAILED ? NULL : m;
}

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a,
                         unsigned count)
{
	int rc = next_init(b, a, count);
	if (rc == 0) {
		pthread_mutex_lock(&lock);
		int i = 0;
		while (i < MAX_BARRIERS && counts[i].barrier &&
		       counts[i].barrier != b)
			i++;
		if (i < MAX_BARRIERS)
			counts[i].barrier = b, counts[i].count = count;
		pthread_mutex_unlock(&lock);
	}
	return rc;
}

/* Under `lock`. */
static unsigned count_of(const void *b)
{
	for (int i = 0; i < MAX_BARRIERS && counts[i].barrier; i++)
		if (counts[i].barrier == b)
			return counts[i].count;
	return 0;
}

/* By barrier, then arrival. */
static int by_barrier_arrival(const void *x, const void *y)
{
	const struct event *a = x, *b = y;
	if (a->barrier != b->barrier)
		return (uintptr_t)a->barrier < (uintptr_t)b->barrier ? -1 : 1;
	return (a->arrive > b->arrive) - (a->arrive < b->arrive);
}

struct totals {
	double span, in_barrier, after_last;
	unsigned long long phases, unassigned;
};

/* The waits' sum, and each thread's first arrival .. last return. */
static void add_spans(uint32_t n, uint32_t threads, struct totals *t)
{
	int64_t *from = calloc(threads + 1, sizeof(int64_t)),
	        *to = calloc(threads + 1, sizeof(int64_t));
	for (uint32_t i = 0; from && to && i < n; i++) {
		struct event *e = &events[i];
		t->in_barrier += (double)(e->ret - e->arrive);
		if (!from[e->thread] || e->arrive < from[e->thread])
			from[e->thread] = e->arrive;
		if (e->ret > to[e->thread])
			to[e->thread] = e->ret;
	}
	for (uint32_t k = 1; from && to && k <= threads; k++)
		t->span += (double)(to[k] - from[k]);
	free(from);
	free(to);
}

/* One phase, events p .. p + count - 1 in arrival order. */
static void add_phase(const struct event *p, unsigned count, struct totals *t)
{
	int64_t last = p[count - 1].arrive, first_ret = INT64_MAX;
	for (unsigned k = 0; k < count; k++)
		if (p[k].ret < first_ret)
			first_ret = p[k].ret;
	if (first_ret < last) { /* stamps out of order: not judged */
		t->unassigned++;
		return;
	}
	t->phases++;
	for (unsigned k = 0; k < count; k++)
		t->after_last += (double)(p[k].ret - last);
}

/* Under the write lock: nobody records. */
static void write_report(void)
{
	uint32_t n = atomic_load(&n_events), threads = atomic_load(&n_threads);
	if (n > MAX_EVENTS || !events)
		n = events ? MAX_EVENTS : 0;
	struct totals t = {0};
	add_spans(n, threads, &t);
	qsort(events, n, sizeof *events, by_barrier_arrival);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		while (j < n && events[j].barrier == events[i].barrier)
			j++;
		pthread_mutex_lock(&lock);
		unsigned count = count_of(events[i].barrier);
		pthread_mutex_unlock(&lock);
		/* whole phases only; a barrier of unknown count is left out */
		for (uint32_t p = i; count && p + count <= j; p += count)
			add_phase(&events[p], count, &t);
		i = j;
	}
	char line[256];
	int len = snprintf(line, sizeof line,
	                   "probe threads %u waits %u phases %llu unassigned "
	                   "%llu span_s %.6f in_barrier_s %.6f after_last_s "
	                   "%.6f dropped %u\n",
	                   threads, n, t.phases, t.unassigned, t.span / 1e9,
	                   t.in_barrier / 1e9, t.after_last / 1e9,
	                   atomic_load(&dropped));
	const char *path = getenv("RALLY_PROBE_OUT");
	int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	                     0644)
	              : 2;
	if (fd >= 0) {
		/* a line not written: the bench finds none and says so */
		ssize_t w = write(fd, line, (size_t)len);
		(void)w;
		if (path)
			close(fd);
	}
}

static void report(void)
{
	pthread_rwlock_wrlock(&recording);
	/* A process that never waited (timeout(1) before the program, a
	 * helper it starts) writes nothing. */
	if (!written && atomic_load(&n_threads))
		write_report();
	written = true;
	pthread_rwlock_unlock(&recording);
}

__attribute__((destructor)) static void probe_exit(void) { report(); }

/* The first wait fixes when recording stops (RALLY_PROBE_SECONDS). */
static void first_wait(int64_t arrive)
{
	pthread_mutex_lock(&lock);
	if (!atomic_load(&first_ns)) {
		const char *s = getenv("RALLY_PROBE_SECONDS");
		double sec = s ? atof(s) : 0;
		if (sec > 0) {
			int64_t stop = arrive + (int64_t)(sec * 1e9);
			atomic_store(&stop_ns, stop);
			atomic_store(&write_ns, stop + 1000000000);
		}
		atomic_store(&first_ns, arrive);
	}
	pthread_mutex_unlock(&lock);
}

int pthread_barrier_wait(pthread_barrier_t *b)
{
	if (!thread_no)
		thread_no = atomic_fetch_add(&n_threads, 1) + 1;
	int64_t arrive = now_ns();
	if (!atomic_load(&first_ns))
		first_wait(arrive);
	int rc = next_wait(b);
	int64_t ret = now_ns(), stop = atomic_load(&stop_ns);
	if (!stop || arrive < stop) {
		pthread_rwlock_rdlock(&recording);
		if (!written) {
			uint32_t i = atomic_fetch_add(&n_events, 1);
			if (events && i < MAX_EVENTS)
				events[i] = (struct event){b, thread_no, arrive,
				                           ret};
			else
				atomic_fetch_add(&dropped, 1);
		}
		pthread_rwlock_unlock(&recording);
	}
	int64_t write_at = atomic_load(&write_ns);
	if (write_at && ret >= write_at)
		report();
	return rc;
}
