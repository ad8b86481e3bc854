/* probe_slow_release.c — preloaded after the probe (barrier_probe_test):
 * every pthread_barrier_wait returns 5 ms after the C library's does, a
 * barrier whose release is slow: the probe must see it after the last
 * arrival. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

int pthread_barrier_wait(pthread_barrier_t *b)
{
	int (*next)(pthread_barrier_t *);
	void *p = dlsym(RTLD_NEXT, "pthread_barrier_wait");
	memcpy(&next, &p, sizeof next);
	int rc = next(b);
	nanosleep(&(struct timespec){0, 5000000}, NULL);
	return rc;
}
