/* shim.c — librally-pthread.so: pthread_barrier_init, _wait and _destroy
 * on rally, for programs that are not recompiled:
 *
 *     LD_PRELOAD=librally-pthread.so ./program   (or: rally run ./program)
 *
 * The program's pthread_barrier_t (32 bytes on Linux) then holds a view:
 * a tag, a pointer to a rally barrier that init allocates (64-byte aligned)
 * and destroy frees, the pointer again, scrambled, and the address of the
 * pthread_barrier_t itself. A call on a barrier whose view does not check
 * out is the C library's (dlsym(RTLD_NEXT, ...)): one made before the
 * preload (a constructor of another library), or one that init handed to
 * the C library — PTHREAD_PROCESS_SHARED, whose memory other processes map
 * at other addresses, where a pointer means nothing. A copy of a barrier
 * (undefined in POSIX) fails the address check and goes to the C library,
 * which sees garbage; that is the C library's undefined behaviour, as
 * before.
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
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
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

static struct view view_of(const pthread_barrier_t *b)
{
	struct view v;
	memcpy(&v, b, sizeof v);
	return v;
}

static void set_view(pthread_barrier_t *b, uint64_t tag, rally_barrier_t *rb)
{
	struct view v = {tag, (uint64_t)(uintptr_t)rb,
	                 (uint64_t)(uintptr_t)rb ^ SCRAMBLE,
	                 (uint64_t)(uintptr_t)b};
	memcpy(b, &v, sizeof v);
}

/* The rally barrier b's view names, or NULL; *destroyed when it is one the
 * shim destroyed. */
static rally_barrier_t *ours(const pthread_barrier_t *b, bool *destroyed)
{
	struct view v = view_of(b);
	*destroyed = false;
	if (v.self != (uint64_t)(uintptr_t)b ||
	    v.check != (v.barrier ^ SCRAMBLE))
		return NULL;
	if (v.tag == TAG_DESTROYED)
		*destroyed = true;
	return v.tag == TAG_LIVE ? (rally_barrier_t *)(uintptr_t)v.barrier
	                         : NULL;
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
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n
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

static int shim_init(pthread_barrier_t *b, const pthread_barrierattr_t *attr,
                     unsigned count)
{
	bool pshared, destroyed;
	int rc = read_attr(attr, &pshared);
	if (rc)
		return rc;
	if (pshared) {
		if (verbose())
			say("PTHREAD_PROCESS_SHARED: the C library's", b, count);
		return libc_init(b, attr, count);
	}
	if (count == 0)
		return EINVAL;
	/* Initialised again without a destroy (undefined in POSIX): the
	 * old one is destroyed first, or it leaks; in use, EBUSY (POSIX
	 * allows it). */
	rally_barrier_t *old = ours(b, &destroyed);
	if (old) {
		rc = rally_barrier_destroy(old);
		if (rc == -EBUSY)
			return EBUSY;
		free(old);
	}
	size_t size = (sizeof(rally_barrier_t) + 63) / 64 * 64;
	rally_barrier_t *rb = aligned_alloc(64, size);
	if (!rb)
		return ENOMEM;
	rally_barrier_attr_t ra = {.spin = RALLY_SPIN_AUTO};
	rc = rally_barrier_init(rb, count, &ra);
	if (rc < 0) {
		free(rb);
		return rc == -ENOMEM ? ENOMEM : EINVAL;
	}
	set_view(b, TAG_LIVE, rb);
	if (verbose())
		say("rally's", b, count);
	return 0;
}

static int shim_wait(pthread_barrier_t *b)
{
	bool destroyed;
	rally_barrier_t *rb = ours(b, &destroyed);
	if (!rb) {
		if (destroyed)
			return EINVAL;
		return libc_call(LIBC_WAIT, b);
	}
	int i = rally_barrier_wait(rb);
	if (i < 0) /* no timeout, abort or reset here: destroyed meanwhile */
		return EINVAL;
	return (unsigned)i == rally_barrier_parties(rb) - 1
	           ? PTHREAD_BARRIER_SERIAL_THREAD
	           : 0;
}

static int shim_destroy(pthread_barrier_t *b)
{
	bool destroyed;
	rally_barrier_t *rb = ours(b, &destroyed);
	if (!rb) {
		if (destroyed)
			return EINVAL;
		return libc_call(LIBC_DESTROY, b);
	}
	int rc = rally_barrier_destroy(rb);
	if (rc == -EBUSY)
		return EBUSY;
	if (rc < 0)
		return EINVAL;
	set_view(b, TAG_DESTROYED, rb);
	free(rb);
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
