/* probe_ctorlib.c — a library whose constructor waits at a barrier (with
 * PROBE_CTOR=1), before main and perhaps before a preloaded probe's own
 * constructor has run (barrier_probe_test). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

void probe_ctorlib_linked(void);
void probe_ctorlib_linked(void) {}

__attribute__((constructor)) static void wait_before_main(void)
{
	const char *on = getenv("PROBE_CTOR");
	pthread_barrier_t b;
	if (on && *on == '1' && !pthread_barrier_init(&b, NULL, 1)) {
		pthread_barrier_wait(&b);
		pthread_barrier_destroy(&b);
	}
}
