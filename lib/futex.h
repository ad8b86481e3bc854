/* futex.h — the only place rally talks to the kernel's futex. */
#ifndef RALLY_FUTEX_H
#define RALLY_FUTEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Sleeps while *word == expected, until woken or until the absolute
 * CLOCK_MONOTONIC time *deadline (NULL: no deadline). Returns 0 (woken, or
 * spuriously), -EAGAIN (*word != expected), -EINTR (a signal), or
 * -ETIMEDOUT. Wake-ups can be spurious: the caller re-checks the word. */
int rally__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                      const struct timespec *deadline, bool shared);

/* Wakes every sleeper on word. A word in unmapped memory is harmless
 * (EFAULT is ignored): a waker may touch a barrier already freed. */
void rally__futex_wake_all(_Atomic uint32_t *word, bool shared);

/* The number of futex system calls this process made (wait and wake), for
 * the benchmarks' syscalls-per-phase counter. */
uint64_t rally__futex_calls(void);

#endif
