/* pyrally.h — the Python binding's shared pieces (module.c). */
#ifndef PYRALLY_H
#define PYRALLY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rally.h"

/* Slices of a blocking wait: between two, the waiter takes the GIL and runs
 * the signal handlers (Ctrl-C). 50 ms keeps KeyboardInterrupt prompt and
 * costs a long wait 20 GIL round trips a second. */
#define PYRALLY_SLICE_NS 50000000LL

extern PyTypeObject PyRally_BarrierType;
extern PyTypeObject PyRally_EventType;

/* rally.OwnerDeadError (a subclass of threading.BrokenBarrierError) and
 * threading.BrokenBarrierError itself. */
extern PyObject *PyRally_OwnerDeadError;
extern PyObject *PyRally_BrokenBarrierError;

/* A timeout argument as threading takes it in a wait that blocks (barrier:
 * threading.Barrier.wait's, else threading.Event.wait's): None ->
 * RALLY_FOREVER, 0 or less -> 0 (do not block), else nanoseconds, with
 * threading's exceptions for the rest (OverflowError beyond
 * threading.TIMEOUT_MAX, TypeError for Decimal); NaN -> ValueError.
 * Returns 0 or -1 with an exception set. */
int pyrally_timeout(PyObject *obj, bool barrier, int64_t *ns);

/* The deadline of a wait of ns (RALLY_FOREVER or more), saturated:
 * INT64_MAX means none. */
int64_t pyrally_deadline(int64_t ns);

/* Raises the Python exception for a rally error code; returns NULL. */
PyObject *pyrally_raise(int code, const char *what);

/* A fresh shared-memory name, "py.<pid>.<n>.<random>". */
int pyrally_new_name(char *buf, size_t len);

/* Records a name obj's creation made this process own: removed at a
 * normal exit if obj is still alive then. In a fork()ed child, which may
 * end through os._exit (as multiprocessing's do), past every exit
 * handler, the name goes to the resource tracker at once
 * (rally._on_share). 0, or -1 with an exception set. */
int pyrally_own(PyObject *obj, char kind, const char *name);

/* Bumped in the child after every fork(): handles opened before the fork
 * re-register as participants of robust barriers in the child. */
unsigned pyrally_fork_generation(void);

/* A call in flight on an object's handle (enter() in barrier.c and
 * event.c): counted in the object's `calls`, and recorded in a list of this
 * process with the thread that makes it — both with the GIL held. A
 * fork()ed child inherits the counts, but of the threads that made the
 * calls only the forking one: rally._after_fork_in_child() (module.c)
 * takes the others' calls off the counts, which would otherwise never
 * return to 0 there (close() would never close the handle: a robust
 * barrier's child would stay a participant after it exits, and be
 * reported dead). */
struct pyrally_call;

/* Counts a call in *calls and records it: the record, or NULL with
 * MemoryError. */
struct pyrally_call *pyrally_call_enter(unsigned *calls);

/* The call is over: returns the calls still in flight on its object. */
unsigned pyrally_call_leave(struct pyrally_call *call);

/* The call is held by an object (a rally.aio token or watch), not by the
 * thread's stack: a fork()ed child ends it in _after_fork_in_child, and
 * the object's copy there must never end it again. */
void pyrally_call_detach(struct pyrally_call *call);

/* The GIL handoff (module.c): a mark taken as a wait begins (with the
 * GIL); a permit posted right after releasing the GIL to wait; and the
 * bounded poll for a permit before taking the GIL back. */
unsigned long pyrally_arrivals_mark(void);
void pyrally_gil_released(void);
void pyrally_gil_wait(unsigned long mark);

/* Calls the rally package's helper rally.<helper>(obj) (_on_share,
 * _on_participant); returns 0 or -1 with an exception set. */
int pyrally_call_helper(const char *helper, PyObject *obj);

/* The creator lets go of a name: removes it from the system, from the
 * names owned, and from the resource tracker if it was registered there
 * (rally._on_unlink: errors are reported as unraisable). */
void pyrally_remove_name(char kind, const char *name);

/* "<module.Class at 0x...: state>", as threading's reprs. */
PyObject *pyrally_repr(PyObject *self, const char *state);

/* For __reduce__: Type._open (a new reference), after telling the
 * resource tracker (rally._on_share) if this process created the object.
 * NULL with an exception set on failure. */
PyObject *pyrally_reducer(PyObject *self, pid_t creator);

int64_t pyrally_now_ns(void);

/* ---- rally.aio (aio.c) ---------------------------------------------------- */

extern PyTypeObject PyRally_TokenType, PyRally_WatchType, PyRally_SleeperType;

/* The words a loop's sleeper sleeps on at most: 64 threads of 127. */
#define PYRALLY_SLEEPER_WORDS_MAX (64 * 127)

/* A rally.aio wait's arrival at `barrier` (a rally.Barrier whose call
 * `call` keeps handle b open until the token is finished): the token, or
 * NULL with an exception set (the caller then ends the call). `last`: this
 * arrival completed its phase; `robust`: the barrier's dead are found by
 * looks (its sleepers look every slice). */
/* A futex word for rally.aio's sleeper: (address, value, shared, looks).
 * `looks`: the wait must be looked at every slice even if its word keeps
 * its value (a death changes no word). */
PyObject *pyrally_futex_word(const uint32_t *word, uint32_t value,
                             bool shared, bool looks);

PyObject *pyrally_token_new(PyObject *barrier, rally_barrier_t *b,
                            struct pyrally_call *call, rally_token_t tok,
                            int index, bool last, int64_t arrived_ns,
                            bool stats, bool robust);
/* Ends a token's call on its barrier (barrier.c's leave()). */
void pyrally_barrier_leave(PyObject *barrier, struct pyrally_call *call);

/* A rally.aio event wait: the watch over event e's word (its call `call`
 * keeps e open until the watch is finished); NULL with an exception. */
PyObject *pyrally_watch_new(PyObject *event, rally_event_t *e,
                            struct pyrally_call *call, const uint32_t *word,
                            uint32_t snapshot, bool shared);
void pyrally_event_leave(PyObject *event, struct pyrally_call *call);

#endif
