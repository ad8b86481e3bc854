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
                       struct rally__spin_plan *plan,
                       _Atomic uint64_t *progress, bool shared, uint64_t *now);

/* What this thread's recent waits achieved by spinning, for each of the
 * last RALLY__RECENT_WORDS words it waited on (wait.c: a spin that cannot
 * pay off stops being tried). */
#define RALLY__THROTTLE_AFTER 4
#define RALLY__RECENT_WORDS   8 /* a thread that waits on more in turn
                                 forgets each before it meets it again:
                                 it spins as if new (rally.h says so) */
struct rally__recent {
	uint64_t key;       /* the barrier these counts are about: its tag —
	                       the same through every handle (review round 5),
	                       another for a new barrier in the same memory
	                       (round 4) —, or the word's address if none */
	uint32_t fruitless; /* waits in a row whose spin was in vain */
	uint32_t skipped;   /* throttled waits since the last probe */
	uint32_t interval;  /* throttled waits between probes */
	uint32_t alone_misses; /* spins in a row, in vain, of throttled waits
	                          whose yield found them alone on a CPU */
	uint64_t used;      /* when it was last looked up (a clock per thread:
	                       64 bits never wrap) */
};
struct rally__recent_words {
	struct rally__recent words[RALLY__RECENT_WORDS];
	uint64_t clock;
};
/* Initial-exec: a load, not a call, on the hot path. */
extern _Thread_local struct rally__recent_words rally__recent
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline uint64_t rally__recent_key(const void *word, uint64_t tag)
{
	return tag ? tag : (uint64_t)(uintptr_t)word;
}

/* This thread's record of `word` (of the barrier `tag`), or NULL. */
static inline struct rally__recent *rally__recent_of(const void *word,
                                                     uint64_t tag)
{
	uint64_t key = rally__recent_key(word, tag);
	for (int i = 0; i < RALLY__RECENT_WORDS; i++)
		if (rally__recent.words[i].key == key)
			return &rally__recent.words[i];
	return NULL;
}

/* Whether a wait on `word` may spin before rally__wait_change decides (the
 * plain wait's first polls, phase.c). */
static inline bool rally__spin_allowed(const void *word, uint64_t tag)
{
	struct rally__recent *r = rally__recent_of(word, tag);
	return !r || r->fruitless < RALLY__THROTTLE_AFTER;
}
/* Such a spin paid off: the waits in vain are no longer in a row. */
static inline void rally__spin_paid_off(const void *word, uint64_t tag)
{
	struct rally__recent *r = rally__recent_of(word, tag);
	if (r)
		r->fruitless = 0;
}

#endif
