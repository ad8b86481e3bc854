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
 *   probe threads N waits W phases P unassigned U untracked T
 *         in_progress I span_s S in_barrier_s B after_last_s A dropped D
 *
 *   span        the sum, over the threads that waited at a barrier, of
 *               their first arrival .. last return (threads that never
 *               wait — a program's main thread, say — are not in it, nor
 *               what a thread does before its first wait or after its
 *               last: a program whose threads meet only at its start or
 *               end reads near 100%; the programs of the bench wait
 *               throughout, and there it agrees with the kernel's own
 *               measure within 1%)
 *   in_barrier  the sum of the waits: B / S is the share of those threads'
 *               time inside pthread_barrier_wait (as bench/pthread_kernel.c
 *               measures its own). A wait still in progress when the line
 *               is written (a thread left waiting while another exits)
 *               counts up to then, or up to RALLY_PROBE_SECONDS's stop
 *               (I of them; only the first MAX_THREADS threads' are seen)
 *   after_last  the part of each wait after the last party of its phase
 *               arrived: the barrier's release and wake-up — and, with
 *               more threads than CPUs, the woken thread's wait for a
 *               CPU; the rest of B is waiting for the last party: the
 *               program's imbalance, but also a barrier's cost carried
 *               over — a waiter woken late arrives late at the next
 *               phase (so after_last understates what a barrier costs)
 *
 * The waits of a barrier are put into phases by their arrival order, a
 * phase being `count` arrivals (the count given at the init the wait came
 * after: a barrier initialised again at the same address starts anew); a
 * phase whose last arrival is stamped after one of its returns is left
 * out of after_last and counted in U — possible only where this process
 * has more (or, for a barrier shared with other processes, fewer) threads
 * than the count, where a thread paused between its stamp and its arrival
 * can also put a wait into the wrong phase unseen (the bench's programs
 * have as many threads as the count); with as many, such a pause of the
 * last party counts as time after the last arrival; the waits of a barrier not initialised through the probe
 * (before it was loaded), or beyond its table of MAX_BARRIERS, are in B
 * but in no phase (T). It writes at exit, or — for a program that never
 * exits by itself (glxgears, ended by timeout's signal) —
 * RALLY_PROBE_SECONDS after the first wait: waits that arrive later are
 * not recorded, and the line is written by the first wait that returns a
 * second after that. A process that never waited writes nothing; a
 * fork()ed child starts afresh (it writes its own waits only). A signal
 * handler that calls exit() while its thread records a wait hangs the
 * program at exit (exit() is not async-signal-safe), and so does one that
 * calls fork() there (async-signal-safe, but the probe's fork handler
 * takes the lock its thread holds). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
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

#define MAX_EVENTS   (1u << 22) /* 4M waits; beyond: not recorded, said */
#define MAX_BARRIERS 4096u      /* a power of 2: an open-addressed table */
#define MAX_THREADS  4096u      /* waits in progress are seen for these */

struct event {
	const void *barrier;
	uint32_t gen, count; /* the init it came after; 0: unknown */
	uint32_t thread;
	int64_t arrive, ret;
};

typedef int (*init_fn)(pthread_barrier_t *, const pthread_barrierattr_t *,
                       unsigned);
typedef int (*wait_fn)(pthread_barrier_t *);
static _Atomic(void *) next_init, next_wait; /* dlsym()'s answers */

static _Atomic(struct event *) event_memory; /* mapped at the first wait */
static _Atomic uint32_t n_events, n_threads, dropped;
static _Atomic int64_t first_ns, stop_ns, write_ns; /* 0: not yet */
/* Waits record under the read lock; the report reads under the write lock,
 * so that no event is half written while it sorts them (and fork takes it:
 * a child must not inherit it held). */
static pthread_rwlock_t recording = PTHREAD_RWLOCK_INITIALIZER;
static bool written; /* under `recording` */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* inits, first */
/* By address: the barrier's latest init (its count, and how many inits
 * the address has seen). Written under `lock`; read by waits without. */
static struct {
	_Atomic(const void *) barrier;
	_Atomic uint32_t gen, count;
} table[MAX_BARRIERS];
/* Each thread's wait in progress: its arrival, or 0. */
static _Atomic int64_t waiting_since[MAX_THREADS + 1];
static _Thread_local uint32_t thread_no; /* 1, 2, ...; 0: not yet */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The next definition of `name` in line, kept in *slot, looked up at
 * first use: a library's constructor may wait at a barrier before the
 * probe's has run. */
static void *next_fn(_Atomic(void *) *slot, const char *name)
{
	void *p = atomic_load(slot);
	if (!p) {
		p = dlsym(RTLD_NEXT, name);
		atomic_store(slot, p);
	}
	return p;
}

static init_fn the_next_init(void)
{
	init_fn f;
	void *p = next_fn(&next_init, "pthread_barrier_init");
	memcpy(&f, &p, sizeof f); /* POSIX: a function's pointer */
	return f;
}

static wait_fn the_next_wait(void)
{
	wait_fn f;
	void *p = next_fn(&next_wait, "pthread_barrier_wait");
	memcpy(&f, &p, sizeof f);
	return f;
}

static void prepare_fork(void) { pthread_rwlock_wrlock(&recording); }
static void parent_forked(void) { pthread_rwlock_unlock(&recording); }
/* The child starts afresh: its own waits only, its own line. */
static void child_forked(void)
{
	pthread_rwlock_init(&recording, NULL);
	pthread_mutex_init(&lock, NULL);
	written = false;
	atomic_store(&n_events, 0);
	atomic_store(&n_threads, 0);
	atomic_store(&dropped, 0);
	atomic_store(&first_ns, 0);
	atomic_store(&stop_ns, 0);
	atomic_store(&write_ns, 0);
	for (uint32_t i = 0; i <= MAX_THREADS; i++)
		atomic_store(&waiting_since[i], 0);
	thread_no = 0;
}

__attribute__((constructor)) static void probe_load(void)
{
	pthread_atfork(prepare_fork, parent_forked, child_forked);
	/* Looked up here and at init too: a first wait's dlsym() would take
	 * the loader's lock, which a thread inside dlopen() holds while a
	 * constructor waits for this one (review round 5). */
	the_next_init();
	the_next_wait();
}

/* The events' memory, mapped at the first wait (a library's constructor
 * may wait before the probe's has run); NULL if it cannot be. */
static struct event *the_events(void)
{
	static pthread_mutex_t mapping = PTHREAD_MUTEX_INITIALIZER;
	static bool tried;
	struct event *e = atomic_load(&event_memory);
	if (e)
		return e;
	pthread_mutex_lock(&mapping);
	if (!tried) {
		void *m = mmap(NULL, MAX_EVENTS * sizeof(struct event),
		               PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		               0);
		if (m != MAP_FAILED)
			atomic_store(&event_memory, (struct event *)m);
		tried = true;
	}
	pthread_mutex_unlock(&mapping);
	return atomic_load(&event_memory);
}

static uint32_t slot_of(const void *b)
{
	return (uint32_t)((uintptr_t)b >> 3) * 2654435761u % MAX_BARRIERS;
}

/* b's entry, or -1 (not initialised through the probe; table full). */
static int find(const void *b)
{
	for (uint32_t k = 0, i = slot_of(b); k < MAX_BARRIERS;
	     k++, i = (i + 1) % MAX_BARRIERS) {
		const void *x = atomic_load(&table[i].barrier);
		if (x == b)
			return (int)i;
		if (!x)
			return -1;
	}
	return -1;
}

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a,
                         unsigned count)
{
	init_fn f = the_next_init();
	the_next_wait();
	int rc = f ? f(b, a, count) : 38 /* ENOSYS */;
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&lock);
	int i = find(b);
	for (uint32_t k = 0, j = slot_of(b); i < 0 && k < MAX_BARRIERS;
	     k++, j = (j + 1) % MAX_BARRIERS)
		if (!atomic_load(&table[j].barrier)) {
			atomic_store(&table[j].barrier, (const void *)b);
			i = (int)j;
		}
	if (i >= 0) {
		atomic_store(&table[i].count, count);
		atomic_fetch_add(&table[i].gen, 1);
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* By barrier and init, then arrival. */
static int by_barrier_arrival(const void *x, const void *y)
{
	const struct event *a = x, *b = y;
	if (a->barrier != b->barrier)
		return (uintptr_t)a->barrier < (uintptr_t)b->barrier ? -1 : 1;
	if (a->gen != b->gen)
		return a->gen < b->gen ? -1 : 1;
	return (a->arrive > b->arrive) - (a->arrive < b->arrive);
}

struct totals {
	double span, in_barrier, after_last;
	unsigned long long phases, unassigned, untracked, in_progress;
};

/* The waits' sum, those still in progress (up to `now`), and each
 * thread's first arrival .. last return. */
static void add_spans(const struct event *events, uint32_t n,
                      uint32_t threads, int64_t now, struct totals *t)
{
	int64_t stop = atomic_load(&stop_ns);
	if (stop && stop < now) /* a wait in progress: counted to the stop */
		now = stop;
	int64_t *from = calloc(threads + 1, sizeof(int64_t)),
	        *to = calloc(threads + 1, sizeof(int64_t));
	if (!from || !to)
		threads = 0;
	for (uint32_t i = 0; i < n && threads; i++) {
		const struct event *e = &events[i];
		t->in_barrier += (double)(e->ret - e->arrive);
		if (!from[e->thread] || e->arrive < from[e->thread])
			from[e->thread] = e->arrive;
		if (e->ret > to[e->thread])
			to[e->thread] = e->ret;
	}
	for (uint32_t k = 1; k <= threads && k <= MAX_THREADS; k++) {
		int64_t since = atomic_load(&waiting_since[k]);
		if (!since || since >= now)
			continue;
		t->in_progress++;
		t->in_barrier += (double)(now - since);
		if (!from[k] || since < from[k])
			from[k] = since;
		to[k] = now;
	}
	for (uint32_t k = 1; k <= threads; k++)
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
	struct event *events = atomic_load(&event_memory);
	uint32_t n = atomic_load(&n_events), threads = atomic_load(&n_threads);
	if (n > MAX_EVENTS)
		n = MAX_EVENTS;
	struct totals t = {0};
	if (!events)
		n = 0;
	add_spans(events, n, threads, now_ns(), &t);
	qsort(events, n, sizeof *events, by_barrier_arrival);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		while (j < n && events[j].barrier == events[i].barrier &&
		       events[j].gen == events[i].gen)
			j++;
		unsigned count = events[i].count;
		if (!count)
			t.untracked += j - i;
		/* whole phases only */
		for (uint32_t p = i; count && p + count <= j; p += count)
			add_phase(&events[p], count, &t);
		i = j;
	}
	char line[320];
	int len = snprintf(
	    line, sizeof line,
	    "probe threads %u waits %u phases %llu unassigned %llu untracked "
	    "%llu in_progress %llu span_s %.6f in_barrier_s %.6f after_last_s "
	    "%.6f dropped %u\n",
	    threads, n, t.phases, t.unassigned, t.untracked, t.in_progress,
	    t.span / 1e9, t.in_barrier / 1e9, t.after_last / 1e9,
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

/* Not a cancellation point (open and write are): a thread cancelled
 * inside would keep the lock for good. errno is the program's. */
static void report(void)
{
	int state, saved = errno;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	pthread_rwlock_wrlock(&recording);
	/* A process that never waited (timeout(1) before the program, a
	 * helper it starts) writes nothing. */
	if (!written && atomic_load(&n_threads))
		write_report();
	written = true;
	pthread_rwlock_unlock(&recording);
	pthread_setcancelstate(state, NULL);
	errno = saved;
}

__attribute__((destructor)) static void probe_exit(void) { report(); }

/* The first wait fixes when recording stops (RALLY_PROBE_SECONDS). */
static void first_wait(int64_t arrive)
{
	pthread_mutex_lock(&lock);
	if (!atomic_load(&first_ns)) {
		const char *s = getenv("RALLY_PROBE_SECONDS");
		double sec = s ? atof(s) : 0;
		if (sec > 0 && sec < 1e6) {
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
	wait_fn next = the_next_wait();
	if (!next)
		return 38; /* ENOSYS */
	if (!thread_no)
		thread_no = atomic_fetch_add(&n_threads, 1) + 1;
	int i = find(b);
	uint32_t gen = i < 0 ? 0 : atomic_load(&table[i].gen),
	         count = i < 0 ? 0 : atomic_load(&table[i].count);
	int64_t arrive = now_ns(), stop = atomic_load(&stop_ns);
	if (!atomic_load(&first_ns))
		first_wait(arrive), stop = atomic_load(&stop_ns);
	bool recorded = !stop || arrive < stop;
	if (recorded && thread_no <= MAX_THREADS)
		atomic_store(&waiting_since[thread_no], arrive);
	int rc = next(b);
	int64_t ret = now_ns();
	if (recorded) {
		pthread_rwlock_rdlock(&recording);
		if (thread_no <= MAX_THREADS)
			atomic_store(&waiting_since[thread_no], 0);
		struct event *events = the_events();
		if (!written && !events) {
			atomic_fetch_add(&dropped, 1);
		} else if (!written) {
			uint32_t k = atomic_fetch_add(&n_events, 1);
			if (k < MAX_EVENTS)
				events[k] = (struct event){b,     gen,    count,
				                           thread_no, arrive,
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
