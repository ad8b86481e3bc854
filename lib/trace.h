/* trace.h — RALLY_TRACE=FILE: every wait of every barrier of the process,
 * recorded into per-thread buffers with no lock and written as Chrome Trace
 * Event JSON (SPEC §12; trace.c says how, README "Where the time goes" what
 * a user sees). */
#ifndef RALLY_TRACE_H
#define RALLY_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Set at load from the environment, cleared at exit: read by every wait
 * (a relaxed load of a line nobody else writes). */
extern _Atomic bool rally__trace_on __attribute__((visibility("hidden")));

/* One wait of the calling thread on the barrier `tag` (shared: of
 * several processes; else a fork()ed child's copy is another barrier with
 * the same tag): its phase and index (index -1: it never arrived), from t0
 * to t1 (rally__now_ns()), and what it returned. Thread-local memory only:
 * safe after the release. */
void rally__trace_wait(uint64_t tag, bool shared, uint32_t phase,
                       int32_t index, int64_t t0, int64_t t1, int rc);

/* Writes every thread's recorded waits out (destroy does: the file then
 * holds the barrier's waits even if the process is killed later). */
void rally__trace_flush(void);

#endif
