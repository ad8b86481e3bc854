/* event.c — rally.Event: threading.Event's API over a named rally event,
 * usable across processes as multiprocessing.Event is. Waits release the
 * GIL and sleep on the event's futex word in slices (an event's timeout
 * breaks nothing), taking the GIL between slices to run signal handlers
 * (Ctrl-C); see wait_on(). */
#include "pyrally.h"

#include "hooks.h" /* rally__self_pid */

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	PyObject_HEAD
	rally_event_t *e; /* a handle from rally_event_open(), or NULL */
	unsigned calls;   /* waits in flight (see enter()) */
	bool closed;      /* close() was called (e may still be open) */
	pid_t creator;    /* the pid that unlinks the name, or 0 */
	char name[64];
} EventObject;

static int open_handle(EventObject *self, int oflag)
{
	int rc =
	    rally_event_open(&self->e, self->name, RALLY_SHARED, oflag, 0600);
	if (rc < 0) {
		self->e = NULL;
		pyrally_raise(rc, self->name);
		return -1;
	}
	return 0;
}

static bool usable(EventObject *self) { return self->e && !self->closed; }

/* Why an event is not usable: closed, or its __init__ did not run (a
 * subclass's may skip it). */
static const char *unusable(EventObject *self)
{
	return self->closed ? "closed" : "not initialised";
}

static rally_event_t *handle(EventObject *self)
{
	if (!usable(self)) {
		PyErr_Format(PyExc_ValueError, "the event is %s",
		             unusable(self));
		return NULL;
	}
	return self->e;
}

/* close() may come while other threads wait without the GIL: unmapped
 * under them, they would crash. A wait enters and leaves (counted with the
 * GIL held, and recorded with its thread for fork(): see struct
 * pyrally_call); close() marks the event closed, so that no call enters
 * again, and the last wait to leave closes the handle. */
static rally_event_t *enter(EventObject *self, struct pyrally_call **call)
{
	rally_event_t *e = handle(self);
	if (e && !(*call = pyrally_call_enter(&self->calls)))
		return NULL;
	return e;
}

static void leave(EventObject *self, struct pyrally_call *call)
{
	if (pyrally_call_leave(call) == 0 && self->closed) {
		rally_event_close(self->e);
		self->e = NULL;
	}
}

/* Parsed in __init__, as threading.Event's: a subclass's __init__ may take
 * arguments. */
static int event_init(EventObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, ":Event", kwlist))
		return -1;
	if (self->name[0]) {
		/* Other threads and processes may be using this event:
		 * __init__ again would pull it from under them. */
		PyErr_SetString(PyExc_RuntimeError,
		                "the event is initialised already");
		return -1;
	}
	pyrally_new_name(self->name, sizeof self->name);
	if (open_handle(self, O_CREAT | O_EXCL) < 0) {
		self->name[0] = '\0';
		return -1;
	}
	self->creator = rally__self_pid();
	return pyrally_own((PyObject *)self, 'e', self->name);
}

static PyObject *event_open(PyTypeObject *type, PyObject *args)
{
	const char *name;
	if (!PyArg_ParseTuple(args, "s:_open", &name))
		return NULL;
	if (strlen(name) >= sizeof((EventObject *)0)->name)
		return pyrally_raise(-ENAMETOOLONG, name);
	EventObject *self = (EventObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	snprintf(self->name, sizeof self->name, "%s", name);
	if (open_handle(self, 0) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

/* The name goes at once (processes that have the event open keep it); the
 * handle once no wait is in flight. A caller holds a reference, so dealloc
 * never finds one in flight. */
static void close_handle(EventObject *self)
{
	if (!usable(self))
		return;
	self->closed = true;
	if (self->creator == rally__self_pid())
		pyrally_remove_name('e', self->name);
	if (self->calls == 0) {
		rally_event_close(self->e);
		self->e = NULL;
	}
}

static void event_dealloc(EventObject *self)
{
	close_handle(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *event_is_set(EventObject *self, PyObject *unused)
{
	rally_event_t *e = handle(self);
	return e ? PyBool_FromLong(rally_event_is_set(e)) : NULL;
}

static PyObject *event_set(EventObject *self, PyObject *unused)
{
	rally_event_t *e = handle(self);
	if (!e)
		return NULL;
	rally_event_set(e);
	Py_RETURN_NONE;
}

static PyObject *event_clear(EventObject *self, PyObject *unused)
{
	rally_event_t *e = handle(self);
	if (!e)
		return NULL;
	rally_event_clear(e);
	Py_RETURN_NONE;
}

/* A wait takes a snapshot of the event's futex word as it begins
 * (rally_event_futex(): the value the word holds while the event is clear,
 * with the sleeper bit raised so that set() wakes the word) and sleeps on
 * the word itself. Every set() adds a generation to the word, which a
 * clear() that follows does not undo: a word that differs from the
 * snapshot in any bit but the sleepers' (0x1) says that a set came since
 * the wait began — also one made and cleared while this waiter was between
 * two slices, waiting for the GIL (a fresh rally_event_wait() per slice
 * would miss it). */
#define EVENT_SLEEPERS 0x1u

static bool set_since(const uint32_t *word, uint32_t snapshot)
{
	/* Acquire: the setter's writes before set() are seen, as with
	 * rally_event_wait(). */
	return (__atomic_load_n(word, __ATOMIC_ACQUIRE) ^ snapshot) &
	       ~EVENT_SLEEPERS;
}

/* Sleeps for up to ns while the word holds the snapshot; may return early
 * (a set, a signal, a spurious wake-up): the caller looks at the word. */
static void sleep_on(const uint32_t *word, uint32_t snapshot, bool shared,
                     int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
	                      .tv_nsec = ns % 1000000000};
	syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE,
	        snapshot, &ts, NULL, 0);
}

static PyObject *wait_on(rally_event_t *e, PyObject *timeout)
{
	/* As threading.Event.wait: a set event returns True whatever the
	 * timeout. */
	if (rally_event_is_set(e))
		Py_RETURN_TRUE;
	int64_t ns;
	if (pyrally_timeout(timeout, false, &ns) < 0)
		return NULL;
	if (ns == 0)
		Py_RETURN_FALSE;
	const uint32_t *word;
	uint32_t snapshot;
	bool shared;
	int rc = rally_event_futex(e, &word, &snapshot, &shared);
	if (rc == 1)
		Py_RETURN_TRUE;
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	int64_t deadline = pyrally_deadline(ns);
	for (;;) {
		int64_t left = PYRALLY_SLICE_NS;
		if (deadline != INT64_MAX && deadline - pyrally_now_ns() < left)
			left = deadline - pyrally_now_ns();
		if (left > 0 && !set_since(word, snapshot)) {
			Py_BEGIN_ALLOW_THREADS
			sleep_on(word, snapshot, shared, left);
			Py_END_ALLOW_THREADS
		}
		if (set_since(word, snapshot))
			Py_RETURN_TRUE;
		if (deadline != INT64_MAX && pyrally_now_ns() >= deadline)
			Py_RETURN_FALSE;
		if (PyErr_CheckSignals() < 0)
			return NULL;
	}
}

/* Event._watch() -> rally._rally._Watch, or None if the event is set: a
 * rally.aio wait, which sleeps on the word in its event loop's sleeper
 * (aio.c) and keeps the handle open until the watch is finished. */
static PyObject *event_watch(EventObject *self, PyObject *unused)
{
	struct pyrally_call *call;
	rally_event_t *e = enter(self, &call);
	if (!e)
		return NULL;
	const uint32_t *word;
	uint32_t snapshot;
	bool shared;
	int rc = rally_event_futex(e, &word, &snapshot, &shared);
	if (rc != 0) {
		leave(self, call);
		if (rc == 1)
			Py_RETURN_NONE;
		return pyrally_raise(rc, "wait");
	}
	PyObject *w = pyrally_watch_new((PyObject *)self, e, call, word,
	                                snapshot, shared);
	if (!w)
		leave(self, call);
	return w;
}

void pyrally_event_leave(PyObject *self, struct pyrally_call *call)
{
	leave((EventObject *)self, call);
}

static PyObject *event_wait(EventObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:wait", kwlist,
	                                 &timeout))
		return NULL;
	struct pyrally_call *call;
	rally_event_t *e = enter(self, &call);
	if (!e)
		return NULL;
	PyObject *r = wait_on(e, timeout);
	leave(self, call);
	return r;
}

static PyObject *event_close(EventObject *self, PyObject *unused)
{
	close_handle(self);
	Py_RETURN_NONE;
}

static PyObject *event_reduce(EventObject *self, PyObject *unused)
{
	if (!handle(self))
		return NULL;
	PyObject *open = pyrally_reducer((PyObject *)self, self->creator);
	return open ? Py_BuildValue("N(s)", open, self->name) : NULL;
}

static PyObject *event_repr(EventObject *self)
{
	const char *state = !usable(self)                 ? unusable(self)
	                    : rally_event_is_set(self->e) ? "set"
	                                                  : "unset";
	return pyrally_repr((PyObject *)self, state);
}

static PyObject *get_name(EventObject *self, void *c)
{
	return PyUnicode_FromString(self->name);
}

static PyObject *get_closed(EventObject *self, void *c)
{
	return PyBool_FromLong(!usable(self));
}

static PyMethodDef event_methods[] = {
    {"is_set", (PyCFunction)event_is_set, METH_NOARGS,
     "is_set() -> bool\n\nTrue if the flag is set."},
    {"set", (PyCFunction)event_set, METH_NOARGS,
     "set()\n\nSets the flag and wakes every waiter (no system call when\n"
     "nobody sleeps)."},
    {"clear", (PyCFunction)event_clear, METH_NOARGS,
     "clear()\n\nClears the flag. A waiter that was blocked when the flag\n"
     "was set still returns True, however soon the clear follows."},
    {"wait", (PyCFunction)(void (*)(void))event_wait,
     METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool\n\n"
     "Returns True once the flag is set (at once if it is), False if\n"
     "`timeout` seconds pass first. None: no timeout; 0 or less: do not\n"
     "block (as in threading). The GIL is released while waiting; a signal\n"
     "handler that raises (Ctrl-C) ends the wait within 50 ms with its\n"
     "exception, and the event is left as it is."},
    {"_watch", (PyCFunction)event_watch, METH_NOARGS,
     "_watch() -> watch or None: a rally.aio wait's snapshot."},
    {"close", (PyCFunction)event_close, METH_NOARGS,
     "close()\n\nLets go of the shared memory now; in the creating process\n"
     "the name is removed. Any later call raises ValueError. Waits in\n"
     "progress in other threads go on until the event is set or they time\n"
     "out; the memory goes when the last returns."},
    {"__reduce__", (PyCFunction)event_reduce, METH_NOARGS,
     "Pickles to the shared name: the process that unpickles opens the\n"
     "same event."},
    {"_open", (PyCFunction)event_open, METH_VARARGS | METH_CLASS,
     "_open(name): opens a shared event by name (the unpickler)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef event_getset[] = {
    {"name", (getter)get_name, NULL,
     "The event's name in shared memory (/dev/shm/rally.e.NAME).", NULL},
    {"closed", (getter)get_closed, NULL, "True after close().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
    event_doc,
    "Event()\n"
    "\n"
    "threading.Event's API on rally's event: a flag that callers wait for.\n"
    "set() wakes every waiter; a waiter blocked when the flag was set returns\n"
    "True even if clear() follows at once.\n"
    "\n"
    "One object works for threads and for processes: it lives in POSIX\n"
    "shared memory, and passing it to a multiprocessing.Process (fork or\n"
    "spawn) or pickling it gives the other process the same event. The\n"
    "creating process removes the name when the object goes, at close(), or,\n"
    "if it dies once the event was shared (pickled, or inherited through\n"
    "fork), through multiprocessing's resource tracker.");

PyTypeObject PyRally_EventType = {
    /* The macro brings its own comma: */
    /* clang-format off */
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rally.Event",
    /* clang-format on */
    .tp_basicsize = sizeof(EventObject),
    .tp_dealloc = (destructor)event_dealloc,
    .tp_repr = (reprfunc)event_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = event_doc,
    .tp_methods = event_methods,
    .tp_getset = event_getset,
    .tp_init = (initproc)event_init,
    .tp_new = PyType_GenericNew,
};
