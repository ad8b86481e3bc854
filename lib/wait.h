/* wait.h — wait for a word to change: spin, yield, then sleep. */
#ifndef RALLY_WAIT_H
#define RALLY_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "spin.h"

/* The 32-bit futex word inside a 64-bit atomic: its low half. */
static inline _Atomic uint32_t *rally__low_half(_Atomic uint64_t *word)
{
	return (_Atomic uint32_t *)word +
	       (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
}

/* Waits until the low half of *word differs from that of `seen` in a bit
 * other than `sleep_bit`, or until the deadline. Spins and yields as `plan`
 * says; a change of *progress (may be NULL) counts as progress and renews
 * the patience. Before sleeping it sets `sleep_bit` in *word (by CAS on the
 * exact value seen), which tells whoever changes the word next to wake the
 * sleepers; the futex sleeps on the low half. Stores the last value read in
 * *now and returns 0 when the word changed, RALLY_TIMEDOUT when the deadline
 * passed first. */
int rally__wait_change(_Atomic uint64_t *word, uint64_t seen,
                       uint32_t sleep_bit, const struct rally__deadline *dl,
                       const struct rally__spin_plan *plan,
                       _Atomic uint64_t *progress, bool shared, uint64_t *now);

#endif
