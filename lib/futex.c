/* futex.c — FUTEX_WAIT_BITSET / FUTEX_WAKE behind one small wrapper that
 * accepts only the errors a correct caller can see. */
#define _GNU_SOURCE
#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic uint64_t futex_calls;

static int futex_op(bool shared, int op)
{
	return shared ? op : op | FUTEX_PRIVATE_FLAG;
}

int rally__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                      const struct timespec *deadline, bool shared)
{
	atomic_fetch_add_explicit(&futex_calls, 1, memory_order_relaxed);
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a retry
	 * after EINTR or a spurious wake-up never extends the wait. */
	long r = syscall(SYS_futex, (uint32_t *)word,
	                 futex_op(shared, FUTEX_WAIT_BITSET), expected,
	                 deadline, NULL, FUTEX_BITSET_MATCH_ANY);
	if (r == 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case EINTR:
	case ETIMEDOUT:
		return -errno;
	default:
		/* EFAULT, EINVAL, ENOSYS: the object was not a live rally
		 * object in mapped memory. Continuing would spin or hang. */
		abort();
	}
}

void rally__futex_wake_all(_Atomic uint32_t *word, bool shared)
{
	atomic_fetch_add_explicit(&futex_calls, 1, memory_order_relaxed);
	syscall(SYS_futex, (uint32_t *)word, futex_op(shared, FUTEX_WAKE),
	        INT_MAX, NULL, NULL, 0);
}

uint64_t rally__futex_calls(void)
{
	return atomic_load_explicit(&futex_calls, memory_order_relaxed);
}
