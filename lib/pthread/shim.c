/* shim.c — librally-pthread.so: pthread_barrier_init, _wait and _destroy
 * on rally, for programs that are not recompiled:
 *
 *     LD_PRELOAD=librally-pthread.so ./program   (or: rally run ./program)
 *
 * The program's pthread_barrier_t (32 bytes on Linux) then holds a view:
 * a tag, a pointer to what init allocates (64-byte aligned: a rally
 * barrier and the pid of the process that made it) and destroy frees, the
 * pointer again, scrambled, and the address of the pthread_barrier_t
 * itself. A call on a barrier whose view does not check out is the C
 * library's (dlsym(RTLD_NEXT, ...)): one made before the preload (a
 * constructor of another library), or one that init handed to the C
 * library — PTHREAD_PROCESS_SHARED, whose memory other processes map at
 * other addresses, where a pointer means nothing, and counts beyond
 * RALLY_PARTIES_MAX. A copy of one of the shim's barriers (undefined in
 * POSIX) answers EINVAL: it is not the barrier, and the C library would
 * read the view as its own counters. In a child of fork(), every barrier
 * starts again empty (below: fork()). init and destroy allocate and free
 * (POSIX does not make them async-signal-safe; glibc's happen to be): not
 * from a signal handler.
 *
 * POSIX: PTHREAD_BARRIER_SERIAL_THREAD to the last caller of each phase
 * (as glibc), 0 to the others; EINVAL for a count of 0 or beyond rally's,
 * or an attr whose pshared is neither value; EBUSY from destroy while
 * callers wait (glibc waits for them instead); destroy right after a wait
 * returned is safe (rally's destroy waits for the callers still leaving).
 * errno is left as it was. RALLY_SPIN applies (rally.h).
 *
 * RALLY_PTHREAD_VERBOSE=1 prints a line to stderr for each barrier the
 * shim initialises, and for each it hands to the C library: whether the
 * preload took effect, at a glance (nothing is counted per wait). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rally.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

#define TAG_LIVE 0x72616c6c79707462ull      /* "rallyptb" */
#define TAG_DESTROYED 0x72616c6c79646561ull /* "rallydea": destroyed */
#define SCRAMBLE 0x5bd1e9955bd1e995ull

struct view {
	uint64_t tag;
	uint64_t barrier; /* rally_barrier_t *, 64-byte aligned */
	uint64_t check;   /* barrier ^ SCRAMBLE */
	uint64_t self;    /* the pthread_barrier_t's address */
};
_Static_assert(sizeof(struct view) <= sizeof(pthread_barrier_t),
               "pthread_barrier_t holds the view");

/* The program's marker: a test asks dlsym() for it to know the shim is
 * in place. */
SHIM_EXPORT const int rally_pthread_shim = 1;

/* ---- the C library's own functions -------------------------------------- */

typedef int (*init_fn)(pthread_barrier_t *, const pthread_barrierattr_t *,
                       unsigned);
typedef int (*wait_fn)(pthread_barrier_t *);

static _Atomic(void *) libc_fn[3];
static const char *const libc_name[3] = {
    "pthread_barrier_init", "pthread_barrier_wait", "pthread_barrier_destroy"};
enum { LIBC_INIT, LIBC_WAIT, LIBC_DESTROY };

/* The C library's function i, resolved at first use (relaxed: any
 * thread's answer is the same), or NULL. */
static void *libc(int i)
{
	void *f = atomic_load_explicit(&libc_fn[i], memory_order_relaxed);
	if (!f) {
		f = dlsym(RTLD_NEXT, libc_name[i]);
		atomic_store_explicit(&libc_fn[i], f, memory_order_relaxed);
	}
	return f;
}

/* dlsym() answers an object pointer; POSIX makes it a function's. */
static int libc_init(pthread_barrier_t *b, const pthread_barrierattr_t *attr,
                     unsigned count)
{
	void *p = libc(LIBC_INIT);
	init_fn f;
	memcpy(&f, &p, sizeof f);
	return f ? f(b, attr, count) : ENOSYS;
}

static int libc_call(int i, pthread_barrier_t *b)
{
	void *p = libc(i);
	wait_fn f;
	memcpy(&f, &p, sizeof f);
	return f ? f(b) : ENOSYS;
}

/* ---- views ---------------------------------------------------------------- */

/* What init allocates: the rally barrier, and the fork generation it
 * belongs to (below). */
struct shim_barrier {
	rally_barrier_t rb;
	_Atomic uint64_t gen;
	unsigned parties;
};

/* ---- fork() ---------------------------------------------------------------
 *
 * A child of fork() has one thread, and copies of its parent's barriers
 * that may count the parent's callers — waiting, or still leaving — which
 * the child does not have: its destroy, or its init again, waited for them
 * for ever (review of the shim, 4). So each barrier starts again empty, with
 * its count, at the child's first call on it. How a process knows it is a
 * new one: a word in a page the kernel wipes at fork (MADV_WIPEONFORK,
 * Linux 4.14): 0 in a child, until its first call counts the fork. Not a
 * pthread_atfork() handler: the handlers of libraries loaded before the
 * shim run first, and a barrier they used there still counted the parent's
 * callers (review 5); not a list under a lock (a fork from a signal
 * handler, or from another library's handler, deadlocked: review 3); not
 * a pid kept per barrier (a child's own callers were taken for its
 * parent's: review 2). A call on a barrier of an earlier count starts it
 * again first; the first caller to see it does, one that comes meanwhile
 * waits for it (RESTARTING), and a RESTARTING mark of another count was
 * left by a thread that did not come across the fork: taken over (review
 * 4). Without MADV_WIPEONFORK (an older kernel) a child handler counts the
 * forks instead. */
static _Atomic uint64_t forks; /* in this process's line of descent */
#define RESTARTING (1ull << 63)
enum { FORK_COUNTED = 1, FORK_COUNTING = 2 };
static _Atomic(_Atomic uint32_t *) this_process; /* the wiped word */
static _Atomic uint32_t no_wipe = FORK_COUNTED; /* (never wiped) */

static void count_fork(void)
{
	atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
}

/* Before the first call in a process; a child's first caller counts its
 * fork, and one that comes meanwhile waits. */
static uint64_t fork_count(void)
{
	_Atomic uint32_t *w =
	    atomic_load_explicit(&this_process, memory_order_relaxed);
	uint32_t v = atomic_load_explicit(w, memory_order_acquire);
	if (v != FORK_COUNTED) {
		unsigned spins = 0;
		while (v != FORK_COUNTED) {
			if (v == 0 &&
			    atomic_compare_exchange_strong_explicit(
			        w, &v, FORK_COUNTING, memory_order_acquire,
			        memory_order_acquire)) {
				count_fork();
				atomic_store_explicit(w, FORK_COUNTED,
				                      memory_order_release);
				break;
			}
			if (++spins > 64)
				sched_yield();
			v = atomic_load_explicit(w, memory_order_acquire);
		}
	}
	return atomic_load_explicit(&forks, memory_order_relaxed);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void watch_forks(void)
{
	int saved = errno; /* run at load too: a program's errno starts 0
	                    * (review 6: a refused madvise left EINVAL) */
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED && madvise(page, 4096, MADV_WIPEONFORK) == 0) {
		_Atomic uint32_t *w = page;
		atomic_store(w, FORK_COUNTED);
		atomic_store(&this_process, w);
		errno = saved;
		return;
	}
	if (page != MAP_FAILED)
		munmap(page, 4096);
	/* A kernel before 4.14: a child handler counts the forks. It misses a
	 * fork that runs no handlers (_Fork(), clone()), and a barrier used
	 * in a child handler registered before the shim's (review 6): there,
	 * a child's barrier still counts its parent's callers, as glibc's. */
	atomic_store(&this_process, &no_wipe);
	pthread_atfork(NULL, NULL, count_fork);
	errno = saved;
}

/* When the library is loaded, before any barrier exists (and from the
 * first init, if a program calls into the shim before its constructors
 * ran). */
__attribute__((constructor)) static void at_load(void)
{
	pthread_once(&fork_once, watch_forks);
}

/* sb as this process's threads may use it: started again, empty, if a
 * fork came since it was made or last started. */
static void current(struct shim_barrier *sb)
{
	uint64_t now = fork_count();
	uint64_t g = atomic_load_explicit(&sb->gen, memory_order_acquire);
	if (g == now)
		return; /* the hot path: three loads */
	unsigned spins = 0;
	for (;;) {
		if (g == now)
			return;
		/* Restarting for another count than this process's: a thread
		 * that did not come across a fork() began it — nobody here
		 * will end it (review 4 of the shim: the child hung). */
		bool orphan = (g & RESTARTING) && (g & ~RESTARTING) != now;
		if ((!(g & RESTARTING) || orphan) &&
		    atomic_compare_exchange_weak_explicit(
		        &sb->gen, &g, now | RESTARTING, memory_order_acquire,
		        memory_order_acquire)) {
			/* The count kept at init: the barrier itself may be
			 * half rebuilt by that thread (review 5). */
			memset(&sb->rb, 0, sizeof sb->rb);
			rally_barrier_attr_t ra = {.spin = RALLY_SPIN_AUTO};
			(void)rally_barrier_init(&sb->rb, sb->parties, &ra);
			atomic_store_explicit(&sb->gen, now, memory_order_release);
			return;
		}
		if (++spins > 64)
			sched_yield();
		g = atomic_load_explicit(&sb->gen, memory_order_acquire);
	}
}

enum view_state { VIEW_OURS, VIEW_DESTROYED, VIEW_COPY, VIEW_FOREIGN };

static struct view view_of(const pthread_barrier_t *b)
{
	struct view v;
	memcpy(&v, b, sizeof v);
	return v;
}

static void set_view(pthread_barrier_t *b, uint64_t tag,
                     struct shim_barrier *sb)
{
	struct view v = {tag, (uint64_t)(uintptr_t)sb,
	                 (uint64_t)(uintptr_t)sb ^ SCRAMBLE,
	                 (uint64_t)(uintptr_t)b};
	memcpy(b, &v, sizeof v);
}

/* What b holds: one of ours (*sb), one the shim destroyed, a copy of one
 * of ours (its own address differs), or anything else. */
static enum view_state view_state(const pthread_barrier_t *b,
                                  struct shim_barrier **sb)
{
	struct view v = view_of(b);
	*sb = NULL;
	if (v.check != (v.barrier ^ SCRAMBLE) ||
	    (v.tag != TAG_LIVE && v.tag != TAG_DESTROYED))
		return VIEW_FOREIGN;
	if (v.self != (uint64_t)(uintptr_t)b)
		return VIEW_COPY;
	if (v.tag == TAG_DESTROYED)
		return VIEW_DESTROYED;
	*sb = (struct shim_barrier *)(uintptr_t)v.barrier;
	return VIEW_OURS;
}

/* ---- RALLY_PTHREAD_VERBOSE --------------------------------------------------- */

static bool verbose(void)
{
	static _Atomic int on = -1; /* unknown */
	int v = atomic_load_explicit(&on, memory_order_relaxed);
	if (v < 0) {
		const char *s = getenv("RALLY_PTHREAD_VERBOSE");
		v = s && *s && strcmp(s, "0") != 0;
		atomic_store_explicit(&on, v, memory_order_relaxed);
	}
	return v;
}

/* One line, written whole (threads may init at once); no stdio, whose
 * locks and buffers a program may be in the middle of. */
static void say(const char *what, const void *b, unsigned count)
{
	char line[160];
	int n = snprintf(line, sizeof line,
	                 "librally-pthread: barrier %p of %u: %s\n", b, count,
	                 what);
	/* The system call: write() is a cancellation point (review 4). */
	if (n > 0)
		(void)syscall(SYS_write, 2, line,
		              (size_t)n < sizeof line ? (size_t)n
		                                      : sizeof line - 1);
}

/* ---- the three calls ------------------------------------------------------ */

/* 0, or EINVAL for an attr whose pshared is neither value; *pshared. */
static int read_attr(const pthread_barrierattr_t *attr, bool *pshared)
{
	*pshared = false;
	if (!attr)
		return 0;
	int v;
	if (pthread_barrierattr_getpshared(attr, &v) != 0)
		return EINVAL;
	if (v != PTHREAD_PROCESS_PRIVATE && v != PTHREAD_PROCESS_SHARED)
		return EINVAL;
	*pshared = v == PTHREAD_PROCESS_SHARED;
	return 0;
}

/* A copy of a barrier (undefined in POSIX) is not the barrier, and not
 * the C library's either: handed to it, glibc read the shim's view as its
 * counters and aborted (review of the shim, 8). EINVAL. */
static int copied(const pthread_barrier_t *b)
{
	if (verbose())
		say("a copy of one of rally's (undefined): EINVAL", b, 0);
	return EINVAL;
}

/* Destroys and frees a barrier of the shim: 0, or EBUSY (callers wait:
 * nothing done). */
static int release(struct shim_barrier *sb)
{
	current(sb);
	if (rally_barrier_destroy(&sb->rb) == -EBUSY)
		return EBUSY;
	free(sb);
	return 0;
}

static int shim_init(pthread_barrier_t *b, const pthread_barrierattr_t *attr,
                     unsigned count)
{
	bool pshared;
	int rc = read_attr(attr, &pshared);
	if (rc)
		return rc;
	/* Shared, or more callers than rally counts (glibc takes up to
	 * about INT_MAX: review of the shim, 3): the C library's — once a
	 * barrier of the shim there is released (review 2: it leaked, and
	 * its waiters were stranded without EBUSY). */
	if (pshared || count > RALLY_PARTIES_MAX) {
		/* Into a copy first: if the C library refuses (a count of
		 * 2^31 or more), b stays as it was (review 3). Its barrier
		 * is position-free (counters, a futex word used where it
		 * is), so the copy moves. */
		pthread_barrier_t fresh;
		rc = libc_init(&fresh, attr, count);
		if (rc)
			return rc;
		struct shim_barrier *old;
		if (view_state(b, &old) == VIEW_OURS && release(old) == EBUSY) {
			libc_call(LIBC_DESTROY, &fresh);
			return EBUSY;
		}
		memcpy(b, &fresh, sizeof fresh);
		if (verbose())
			say(pshared ? "PTHREAD_PROCESS_SHARED: the C library's"
			            : "beyond rally's parties: the C library's",
			    b, count);
		return 0;
	}
	if (count == 0)
		return EINVAL;
	size_t size = (sizeof(struct shim_barrier) + 63) / 64 * 64;
	struct shim_barrier *sb = aligned_alloc(64, size);
	if (!sb)
		return ENOMEM;
	rally_barrier_attr_t ra = {.spin = RALLY_SPIN_AUTO};
	rc = rally_barrier_init(&sb->rb, count, &ra);
	if (rc < 0) {
		free(sb);
		return rc == -ENOMEM ? ENOMEM : EINVAL;
	}
	pthread_once(&fork_once, watch_forks);
	sb->parties = count;
	atomic_init(&sb->gen, fork_count());
	/* Initialised again without a destroy (undefined in POSIX): the
	 * old one is released once the new one stands (a failure leaves b
	 * as it was: review of the shim, 2); in use, EBUSY (POSIX allows
	 * it). */
	struct shim_barrier *old;
	if (view_state(b, &old) == VIEW_OURS && release(old) == EBUSY) {
		release(sb);
		return EBUSY;
	}
	set_view(b, TAG_LIVE, sb);
	if (verbose())
		say("rally's", b, count);
	return 0;
}

/* Wait and destroy on b: *sb and true if it is one of the shim's, else
 * false and *rc, the answer — the C library's call (libc_op) on a barrier
 * it made, EINVAL for a copy or one the shim destroyed. */
static bool ours_or_answer(pthread_barrier_t *b, int libc_op,
                           struct shim_barrier **sb, int *rc)
{
	switch (view_state(b, sb)) {
	case VIEW_FOREIGN:
		*rc = libc_call(libc_op, b);
		return false;
	case VIEW_COPY:
		*rc = copied(b);
		return false;
	case VIEW_DESTROYED:
		*rc = EINVAL;
		return false;
	case VIEW_OURS:
		break;
	}
	return true;
}

static int shim_wait(pthread_barrier_t *b)
{
	struct shim_barrier *sb;
	int rc;
	if (!ours_or_answer(b, LIBC_WAIT, &sb, &rc))
		return rc;
	current(sb);
	/* Read before the wait: once it returns, another caller may destroy
	 * and free the barrier (review of the shim, 1: read after, it found
	 * freed memory, and a phase had no serial thread). */
	unsigned last = sb->parties - 1;
	int i = rally_barrier_wait(&sb->rb);
	if (i < 0) /* no timeout, abort or reset here: destroyed meanwhile */
		return EINVAL;
	return (unsigned)i == last ? PTHREAD_BARRIER_SERIAL_THREAD : 0;
}

static int shim_destroy(pthread_barrier_t *b)
{
	struct shim_barrier *sb;
	int rc;
	if (!ours_or_answer(b, LIBC_DESTROY, &sb, &rc))
		return rc;
	if (release(sb) == EBUSY)
		return EBUSY;
	set_view(b, TAG_DESTROYED, NULL);
	return 0;
}

/* pthread.h declares b nonnull, and the compiler would drop a test of it:
 * the empty asm makes it a pointer the compiler knows nothing of, so that
 * NULL is EINVAL here rather than a crash. */
static bool null(pthread_barrier_t *b)
{
	__asm__("" : "+r"(b));
	return b == NULL;
}

/* The exported calls keep errno as it was (the allocator, dlsym and a
 * futex's EAGAIN may set it). */
SHIM_EXPORT int pthread_barrier_init(pthread_barrier_t *b,
                                     const pthread_barrierattr_t *attr,
                                     unsigned count)
{
	int saved = errno;
	int rc = null(b) ? EINVAL : shim_init(b, attr, count);
	errno = saved;
	return rc;
}

SHIM_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	int saved = errno;
	int rc = null(b) ? EINVAL : shim_wait(b);
	errno = saved;
	return rc;
}

SHIM_EXPORT int pthread_barrier_destroy(pthread_barrier_t *b)
{
	int saved = errno;
	int rc = null(b) ? EINVAL : shim_destroy(b);
	errno = saved;
	return rc;
}
