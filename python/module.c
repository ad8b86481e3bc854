/* module.c — the rally._rally extension: exceptions, timeouts, names, and
 * the GIL handoff that makes Python threads cross a barrier fast. */
#include "pyrally.h"

#include "hooks.h" /* rally__self_pid */

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

PyObject *PyRally_OwnerDeadError;
PyObject *PyRally_BrokenBarrierError;

int64_t pyrally_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pyrally_deadline(int64_t ns)
{
	int64_t now = pyrally_now_ns();
	return ns == RALLY_FOREVER || ns > INT64_MAX - now ? INT64_MAX
	                                                   : now + ns;
}

static int too_large(void)
{
	PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
	return -1;
}

/* threading's steps, for the same outcome and exceptions: Barrier.wait
 * adds the timeout to time.monotonic() first; then both compare it with 0
 * and convert a positive one as lock.acquire(timeout=) does. */
int pyrally_timeout(PyObject *obj, bool barrier, int64_t *ns)
{
	if (obj == NULL || obj == Py_None) {
		*ns = RALLY_FOREVER;
		return 0;
	}
	if (barrier) {
		/* OverflowError for an int beyond a float's range, TypeError
		 * for a type a float cannot be added to (Decimal): whatever
		 * the sign. */
		PyObject *zero = PyFloat_FromDouble(0.0);
		PyObject *sum = zero ? PyNumber_Add(zero, obj) : NULL;
		Py_XDECREF(zero);
		if (!sum)
			return -1;
		Py_DECREF(sum);
	}
	if (PyFloat_Check(obj) && isnan(PyFloat_AS_DOUBLE(obj))) {
		/* Rejected on purpose: threading's Event takes NaN for 0,
		 * its Barrier for no timeout (and spins). */
		PyErr_SetString(PyExc_ValueError,
		                "Invalid value NaN (not a number)");
		return -1;
	}
	PyObject *zero = PyLong_FromLong(0);
	int positive = zero ? PyObject_RichCompareBool(obj, zero, Py_GT) : -1;
	Py_XDECREF(zero);
	if (positive < 0)
		return -1;
	if (!positive) {
		*ns = 0; /* 0 or less: do not block, as in threading */
		return 0;
	}
	if (PyFloat_Check(obj)) {
		double n = ceil(PyFloat_AS_DOUBLE(obj) * 1e9);
		if (!(n < 0x1p63))
			return too_large();
		*ns = (int64_t)n;
	} else {
		/* Integers only (TypeError for Fraction, Decimal). */
		PyObject *index = PyNumber_Index(obj);
		if (!index)
			return -1;
		long long s = PyLong_AsLongLong(index);
		Py_DECREF(index);
		if (s == -1 && PyErr_Occurred()) {
			if (!PyErr_ExceptionMatches(PyExc_OverflowError))
				return -1;
			PyErr_Clear();
			return too_large();
		}
		if (s > INT64_MAX / 1000000000)
			return too_large();
		*ns = (int64_t)s * 1000000000;
	}
	if (*ns / 1000 + (*ns % 1000 != 0) > PY_TIMEOUT_MAX)
		return too_large(); /* lock.acquire's own bound, in us */
	return 0;
}

PyObject *pyrally_raise(int code, const char *what)
{
	if (code == RALLY_BROKEN || code == RALLY_TIMEDOUT) {
		PyErr_SetNone(PyRally_BrokenBarrierError);
	} else if (code == RALLY_OWNERDEAD) {
		PyErr_SetString(PyRally_OwnerDeadError,
		                "a participant process died");
	} else if (code == -ENOENT || code == -EEXIST || code == -EACCES ||
	           code == -ENOMEM || code == -ENOSPC ||
	           code == -ENAMETOOLONG) {
		errno = -code;
		PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
	} else if (code == -EDEADLK) {
		PyErr_Format(PyExc_RuntimeError,
		             "%s: not allowed from the barrier's own action",
		             what);
	} else {
		PyErr_Format(PyExc_ValueError, "%s: %s", what,
		             rally_strerror(code));
	}
	return NULL;
}

int pyrally_new_name(char *buf, size_t len)
{
	static _Atomic unsigned counter;
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint32_t)pyrally_now_ns();
	snprintf(buf, len, "py.%ld.%u.%08x", (long)getpid(),
	         atomic_fetch_add(&counter, 1), r);
	return 0;
}

/* ---- fork ------------------------------------------------------------- */

static _Atomic unsigned fork_generation;

/* ---- names this process created ----------------------------------------
 *
 * The creator removes a name when its object goes, but Python does not
 * promise to free every object at exit (a traceback can hold them): the
 * names still owned are removed when the process exits normally. Changed
 * with the GIL held. */

struct owned {
	struct owned *next;
	char kind;
	char name[64];
};

static struct owned *owned_list;

int pyrally_own(PyObject *obj, char kind, const char *name)
{
	struct owned *o = calloc(1, sizeof *o);
	if (o) { /* else only the object's end removes the name */
		o->kind = kind;
		snprintf(o->name, sizeof o->name, "%s", name);
		o->next = owned_list;
		owned_list = o;
	}
	if (pyrally_fork_generation() != 0)
		return pyrally_call_helper("_on_share", obj);
	return 0;
}

static void disown(char kind, const char *name)
{
	for (struct owned **p = &owned_list; *p; p = &(*p)->next) {
		if ((*p)->kind == kind && strcmp((*p)->name, name) == 0) {
			struct owned *o = *p;
			*p = o->next;
			free(o);
			return;
		}
	}
}

static void unlink_owned_at_exit(void)
{
	for (struct owned *o = owned_list; o; o = o->next) {
		if (o->kind == 'b')
			rally_barrier_unlink(o->name);
		else
			rally_event_unlink(o->name);
	}
}

static void after_fork_in_child(void)
{
	atomic_fetch_add(&fork_generation, 1);
	owned_list = NULL; /* the parent's names: not the child's to remove */
}

unsigned pyrally_fork_generation(void)
{
	return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

/* ---- calls in flight (see struct pyrally_call) -------------------------
 *
 * The records are on the heap, not on the callers' stacks: a daemon thread
 * ends inside its call (pthread_exit) when it wakes during the
 * interpreter's finalization, and its record stays listed; on its stack,
 * freed, the next call to enter or leave would write into it. Records are
 * reused (`spare`): a call costs no malloc. */

struct pyrally_call {
	struct pyrally_call *prev, *next;
	unsigned *calls; /* the object's count */
	pthread_t thread;
	bool detached; /* held by an object (pyrally_call_detach) */
};

static struct pyrally_call *calls_in_flight, *spare;

static void unlist(struct pyrally_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		calls_in_flight = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->next = spare;
	spare = call;
}

struct pyrally_call *pyrally_call_enter(unsigned *calls)
{
	struct pyrally_call *call = spare;
	if (call)
		spare = call->next;
	else if (!(call = malloc(sizeof *call)))
		return (struct pyrally_call *)PyErr_NoMemory();
	call->calls = calls;
	call->thread = pthread_self();
	call->detached = false;
	call->prev = NULL;
	call->next = calls_in_flight;
	if (call->next)
		call->next->prev = call;
	calls_in_flight = call;
	++*calls;
	return call;
}

unsigned pyrally_call_leave(struct pyrally_call *call)
{
	unsigned *calls = call->calls;
	unlist(call);
	return --*calls;
}

void pyrally_call_detach(struct pyrally_call *call)
{
	call->detached = true;
}

/* rally._after_fork_in_child(), run by os.fork() in the child (registered
 * by the package with os.register_at_fork), with the GIL — which the
 * forking thread held, so the list is whole. Ends the calls of the
 * threads the fork left behind, and every call an object holds (a
 * rally.aio wait's: the parent's, whichever thread made it — review round
 * 12: the loop thread's stayed counted, and a multiprocessing child, which
 * ends by os._exit, never closed its handle; a robust barrier took it for
 * dead). The objects those calls count in are alive: the calls' threads
 * and objects hold references to them. The objects themselves, the
 * child's copies, never end their calls again (their pid says whose). */
static PyObject *after_fork_in_child_py(PyObject *self, PyObject *unused)
{
	pthread_t me = pthread_self();
	for (struct pyrally_call *c = calls_in_flight, *next; c; c = next) {
		next = c->next;
		if (c->detached || !pthread_equal(c->thread, me))
			pyrally_call_leave(c);
	}
	Py_RETURN_NONE;
}

/* ---- GIL handoff -------------------------------------------------------
 *
 * Python threads on one barrier run one at a time (the GIL), so every phase
 * hands the GIL from thread to thread. Taken the plain way — the released
 * waiter calls PyEval_RestoreThread() while the completer still runs —
 * the waiter sleeps on the GIL's condition variable and the handoff costs
 * a futex wake-up (~6 us here), more than the barrier. So a waiter whose
 * phase completed, if another thread of this process arrived after it (and
 * may hold the GIL), first polls for a "GIL dropped" permit that a thread
 * posts right after releasing the GIL in a rally wait, claims it, and only
 * then takes the GIL: usually free, no sleep. The poll is bounded (50 us,
 * yielding the CPU); a stale or stolen permit only means the plain, slower
 * path. Correctness never depends on it. */

enum { HANDOFF_POLL_NS = 50000, HANDOFF_SPINS = 200 };

static _Atomic unsigned gil_permit;    /* 1: a rally waiter dropped the GIL */
static _Atomic unsigned long arrivals; /* rally waits begun in the process */

unsigned long pyrally_arrivals_mark(void)
{
	return atomic_fetch_add_explicit(&arrivals, 1, memory_order_relaxed) +
	       1;
}

void pyrally_gil_released(void)
{
	atomic_store_explicit(&gil_permit, 1, memory_order_release);
}

static bool claim_permit(void)
{
	unsigned one = 1;
	return atomic_load_explicit(&gil_permit, memory_order_relaxed) &&
	       atomic_compare_exchange_strong_explicit(&gil_permit, &one, 0,
	                                               memory_order_acquire,
	                                               memory_order_relaxed);
}

void pyrally_gil_wait(unsigned long mark)
{
	if (atomic_load_explicit(&arrivals, memory_order_relaxed) == mark)
		return; /* nobody here arrived after us: the GIL is likely free
		         */
	int64_t start = 0;
	for (unsigned i = 1;; i++) {
		if (claim_permit())
			return;
		if (i < HANDOFF_SPINS) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		sched_yield();
		int64_t now = pyrally_now_ns();
		if (start == 0)
			start = now;
		else if (now - start > HANDOFF_POLL_NS)
			return;
	}
}

/* ---- module ------------------------------------------------------------ */

int pyrally_call_helper(const char *helper, PyObject *obj)
{
	PyObject *mod = PyImport_ImportModule("rally");
	if (!mod)
		return -1;
	PyObject *r = PyObject_CallMethod(mod, helper, "O", obj);
	Py_DECREF(mod);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

/* rally._on_unlink(path): the resource tracker forgets the name if this
 * process registered it. Not while the interpreter finalizes: the names
 * registered were removed by an exit handler before (and the package may
 * be gone). */
static void untrack(char kind, const char *name)
{
	if (_Py_IsFinalizing())
		return;
	PyObject *exc_type, *exc, *tb;
	PyErr_Fetch(&exc_type, &exc, &tb); /* dealloc may run mid-exception */
	PyObject *path = PyUnicode_FromFormat("/rally.%c.%s", kind, name);
	if (!path || pyrally_call_helper("_on_unlink", path) < 0)
		PyErr_WriteUnraisable(NULL);
	Py_XDECREF(path);
	PyErr_Restore(exc_type, exc, tb);
}

PyObject *pyrally_reducer(PyObject *self, pid_t creator)
{
	if (creator == getpid() && pyrally_call_helper("_on_share", self) < 0)
		return NULL;
	return PyObject_GetAttrString((PyObject *)Py_TYPE(self), "_open");
}

void pyrally_remove_name(char kind, const char *name)
{
	if (kind == 'b')
		rally_barrier_unlink(name);
	else
		rally_event_unlink(name);
	disown(kind, name);
	untrack(kind, name);
}

PyObject *pyrally_repr(PyObject *self, const char *state)
{
	PyObject *mod =
	    PyObject_GetAttrString((PyObject *)Py_TYPE(self), "__module__");
	if (!mod)
		return NULL;
	/* %S: a class may set __module__ to anything, and threading's repr
	 * formats it with str(). */
	PyObject *r = PyUnicode_FromFormat(
	    "<%S.%s at %p: %s>", mod, _PyType_Name(Py_TYPE(self)), self, state);
	Py_DECREF(mod);
	return r;
}

static PyObject *strerror_py(PyObject *self, PyObject *arg)
{
	long code = PyLong_AsLong(arg);
	if (code == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(rally_strerror((int)code));
}

static PyObject *unlink_py(PyObject *self, PyObject *args)
{
	const char *kind, *name;
	if (!PyArg_ParseTuple(args, "ss", &kind, &name))
		return NULL;
	int rc = kind[0] == 'b' ? rally_barrier_unlink(name)
	                        : rally_event_unlink(name);
	if (rc < 0 && rc != -ENOENT)
		return pyrally_raise(rc, name);
	return PyBool_FromLong(rc == 0);
}

static PyObject *owned_py(PyObject *self, PyObject *unused)
{
	PyObject *list = PyList_New(0);
	for (struct owned *o = owned_list; list && o; o = o->next) {
		PyObject *item = Py_BuildValue("(Cs)", o->kind, o->name);
		if (!item || PyList_Append(list, item) < 0)
			Py_CLEAR(list);
		Py_XDECREF(item);
	}
	return list;
}

/* _timeout_s(timeout, barrier) -> seconds or None (no timeout): a
 * timeout as rally.Barrier.wait (barrier true) or rally.Event.wait takes
 * it, with their exceptions (rally.aio computes its deadlines with it). */
static PyObject *timeout_s_py(PyObject *self, PyObject *args)
{
	PyObject *timeout;
	int barrier;
	if (!PyArg_ParseTuple(args, "Op:_timeout_s", &timeout, &barrier))
		return NULL;
	int64_t ns;
	if (pyrally_timeout(timeout, barrier, &ns) < 0)
		return NULL;
	if (ns == RALLY_FOREVER)
		Py_RETURN_NONE;
	return PyFloat_FromDouble((double)ns / 1e9);
}

/* _pid(): os.getpid() without its system call (rally.aio's fork guards
 * ask in every wait); fork()'s child handler makes it ask again. */
static PyObject *pid_py(PyObject *m, PyObject *unused)
{
	return PyLong_FromLong((long)rally__self_pid());
}

static PyMethodDef module_methods[] = {
    {"_pid", pid_py, METH_NOARGS,
     "_pid() -> os.getpid(), kept between calls (forgotten by fork())."},
    {"_timeout_s", timeout_s_py, METH_VARARGS,
     "_timeout_s(timeout, barrier) -> seconds or None."},
    {"strerror", strerror_py, METH_O,
     "strerror(code) -> str\n\nThe text rally_strerror() gives a code."},
    {"_unlink", unlink_py, METH_VARARGS,
     "_unlink(kind, name): removes a shared name ('b' barrier, 'e' "
     "event); False if it was gone."},
    {"_after_fork_in_child", after_fork_in_child_py, METH_NOARGS,
     "_after_fork_in_child(): forgets the calls in flight of the threads\n"
     "that a fork() left behind (registered with os.register_at_fork)."},
    {"_owned", owned_py, METH_NOARGS,
     "_owned() -> [(kind, name)]: the names this process created and has "
     "not removed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef rally_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rally._rally",
    .m_doc = "The C extension under the rally package (see help(rally)).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__rally(void)
{
	PyObject *m = PyModule_Create(&rally_module);
	if (!m)
		return NULL;
	PyObject *threading = PyImport_ImportModule("threading");
	if (!threading)
		goto fail;
	PyRally_BrokenBarrierError =
	    PyObject_GetAttrString(threading, "BrokenBarrierError");
	Py_DECREF(threading);
	if (!PyRally_BrokenBarrierError)
		goto fail;
	PyRally_OwnerDeadError = PyErr_NewExceptionWithDoc(
	    "rally.OwnerDeadError",
	    "A participant process of a robust barrier died: the barrier is "
	    "broken until reset().\nA subclass of "
	    "threading.BrokenBarrierError.",
	    PyRally_BrokenBarrierError, NULL);
	if (!PyRally_OwnerDeadError)
		goto fail;
	if (PyType_Ready(&PyRally_BarrierType) < 0 ||
	    PyType_Ready(&PyRally_EventType) < 0 ||
	    PyType_Ready(&PyRally_TokenType) < 0 ||
	    PyType_Ready(&PyRally_WatchType) < 0 ||
	    PyType_Ready(&PyRally_SleeperType) < 0)
		goto fail;
	Py_INCREF(&PyRally_SleeperType);
	if (PyModule_AddObject(m, "_Sleeper",
	                       (PyObject *)&PyRally_SleeperType) ||
	    PyModule_AddIntConstant(m, "_SLEEPER_WORDS_MAX",
	                            PYRALLY_SLEEPER_WORDS_MAX))
		goto fail;
	Py_INCREF(&PyRally_BarrierType);
	Py_INCREF(&PyRally_EventType);
	Py_INCREF(PyRally_OwnerDeadError);
	Py_INCREF(PyRally_BrokenBarrierError);
	if (PyModule_AddObject(m, "Barrier",
	                       (PyObject *)&PyRally_BarrierType) ||
	    PyModule_AddObject(m, "Event", (PyObject *)&PyRally_EventType) ||
	    PyModule_AddObject(m, "OwnerDeadError", PyRally_OwnerDeadError) ||
	    PyModule_AddObject(m, "BrokenBarrierError",
	                       PyRally_BrokenBarrierError) ||
	    PyModule_AddIntConstant(m, "PARTIES_MAX", RALLY_PARTIES_MAX))
		goto fail;
	static bool atfork_done;
	if (!atfork_done) {
		pthread_atfork(NULL, NULL, after_fork_in_child);
		atexit(unlink_owned_at_exit);
		atfork_done = true;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
