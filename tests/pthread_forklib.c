/* pthread_forklib.c — a library, as a thread pool might be, whose
 * constructor (run before a preloaded library's) registers a fork child
 * handler that destroys and initialises again the pool's barrier; used by
 * pthread_conformance.c (review 5 of the shim: in such a handler the
 * barrier still counted the parent's waiting thread — EBUSY). */
#define _GNU_SOURCE
#include <pthread.h>

/* (no header of its own: pthread_conformance.c declares what it uses) */
extern pthread_barrier_t forklib_barrier;
extern int forklib_armed, forklib_destroy, forklib_init;

pthread_barrier_t forklib_barrier;
int forklib_armed;                /* set by the program */
int forklib_destroy = -1, forklib_init = -1;

static void child(void)
{
	if (!forklib_armed)
		return;
	forklib_destroy = pthread_barrier_destroy(&forklib_barrier);
	forklib_init = pthread_barrier_init(&forklib_barrier, NULL, 1);
}

__attribute__((constructor)) static void forklib_load(void)
{
	pthread_atfork(NULL, NULL, child);
}
