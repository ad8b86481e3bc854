/* trace_dlclose.c — a program that loads librally.so with dlopen(), has a
 * thread wait (traced: RALLY_TRACE) and destroy its barrier, unloads the
 * library, and only then lets the thread end: the trace's per-thread
 * destructor must not run into the unloaded library (it did: review
 * round 1 of the trace, a crash at the thread's end).
 *
 * Usage: trace_dlclose LIBRALLY.SO. Exit 0 when all went well. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "rally.h"

static int (*init_fn)(rally_barrier_t *, unsigned, const rally_barrier_attr_t *);
static int (*wait_fn)(rally_barrier_t *);
static int (*destroy_fn)(rally_barrier_t *);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread waited; 2: the library is gone */
static int failed;

static void *worker(void *arg)
{
	(void)arg;
	rally_barrier_t b;
	if (init_fn(&b, 1, NULL) != 0)
		failed = 1;
	for (int i = 0; i < 3 && !failed; i++)
		if (wait_fn(&b) != 0)
			failed = 1;
	if (!failed && destroy_fn(&b) != 0)
		failed = 1;
	pthread_mutex_lock(&lock);
	stage = 1;
	pthread_cond_broadcast(&cond);
	while (stage < 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL; /* thread-specific data destructors run now */
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: trace_dlclose LIBRALLY.SO\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "trace_dlclose: %s\n", dlerror());
		return 2;
	}
	*(void **)&init_fn = dlsym(h, "rally_barrier_init");
	*(void **)&wait_fn = dlsym(h, "rally_barrier_wait");
	*(void **)&destroy_fn = dlsym(h, "rally_barrier_destroy");
	if (!init_fn || !wait_fn || !destroy_fn)
		return 2;
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	pthread_mutex_lock(&lock);
	while (stage < 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	if (dlclose(h) != 0)
		return 2;
	pthread_mutex_lock(&lock);
	stage = 2;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(t, NULL);
	puts(failed ? "failed" : "ok");
	return failed;
}
