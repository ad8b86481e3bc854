/* event_impl.h — the private layout of rally_event_t, and the handle that
 * rally_event_open() returns. */
#ifndef RALLY_EVENT_IMPL_H
#define RALLY_EVENT_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rally.h"

#define RALLY__EVENT_MAGIC       0x72616c65u /* "rale" */
#define RALLY__EVENT_PROXY_MAGIC 0x72616c71u /* "ralq" */

struct rally__event {
	_Atomic uint32_t magic;
	uint32_t flags;
	/* The futex word is its low half (wait.c); the high half is unused. */
	_Atomic uint64_t word;
	_Atomic uint32_t waiters;
	uint32_t pad_;
	uint64_t reserved_[5];
};

_Static_assert(sizeof(struct rally__event) == sizeof(rally_event_t),
               "rally_event_t is 64 bytes");

struct rally__event_proxy {
	_Atomic uint32_t magic;
	uint32_t flags; /* the object's, checked at open */
	struct rally__event *shared;
	void *map;
	size_t map_len;
};

_Static_assert(sizeof(struct rally__event_proxy) <= sizeof(rally_event_t),
               "a proxy fits in a rally_event_t");

#endif
