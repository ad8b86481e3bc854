/* hooks.h — internal entry points for tests and benchmarks, which link the
 * static library. Not part of the API. */
#ifndef RALLY_HOOKS_H
#define RALLY_HOOKS_H

#include <stdint.h>

#include "rally.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts an idle, freshly initialised barrier at sequence number `phase`,
 * so that tests cross the wrap-around of the generation quickly. */
int rally__barrier_set_phase(rally_barrier_t *b, uint32_t phase);

/* Whether a split-phase token's epoch record was reused (8 resets since its
 * arrival): its outcome is then unknown and reported as RALLY_BROKEN. */
bool rally__token_stale(rally_barrier_t *b, rally_token_t token);

/* Futex system calls (wait + wake) this process has made. */
uint64_t rally__futex_calls(void);

#ifdef __cplusplus
}
#endif

#endif
