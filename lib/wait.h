/* wait.h — wait for a futex word to change: spin, yield, then sleep. */
#ifndef RALLY_WAIT_H
#define RALLY_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "spin.h"

/* Waits until *word differs from `seen` in a bit other than `sleep_bit`, or
 * until the deadline. Spins and yields as `plan` says; a change of
 * *progress (may be NULL) counts as progress and renews the patience.
 * Before sleeping it sets `sleep_bit` in *word, which tells whoever changes
 * the word next to wake the sleepers. Stores the last value read in *now
 * and returns 0 when the word changed, RALLY_TIMEDOUT when the deadline
 * passed first. */
int rally__wait_change(_Atomic uint32_t *word, uint32_t seen,
                       uint32_t sleep_bit, const struct rally__deadline *dl,
                       const struct rally__spin_plan *plan,
                       _Atomic uint64_t *progress, bool shared, uint32_t *now);

#endif
