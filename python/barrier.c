/* barrier.c — rally.Barrier: threading.Barrier's API over a named rally
 * barrier, so that the same object also works across processes.
 *
 * Every Barrier lives in POSIX shared memory under a fresh name; the creator
 * unlinks it when the object goes (or at close()). Pickling gives the name:
 * a child process opens it. Waits arrive with the GIL held — no action means
 * nothing in arrive can block, and the last arrival completes the phase and
 * goes on without giving the GIL up — then wait for the phase without the
 * GIL, in slices that break nothing (rally_barrier_poll), taking the GIL
 * between slices to run signal handlers (Ctrl-C). */
#include "pyrally.h"

#include "hooks.h" /* rally__barrier_timedarrive */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* What the action callback returns when the Python action raised: the
 * exception stays set in the thread that ran it. */
#define ACTION_RAISED (-ECANCELED)

typedef struct {
	PyObject_HEAD
	rally_barrier_t *b; /* a handle from rally_barrier_open(), or NULL */
	PyObject *action;   /* callable or NULL */
	PyObject *timeout;  /* the default, as given (None or seconds) */
	int64_t timeout_ns;
	unsigned parties;
	unsigned calls; /* calls in flight that use b (see enter()) */
	bool closed;    /* close() was called (b may still be open) */
	bool robust;
	bool stats;        /* RALLY_STATS (the object's, once opened) */
	pid_t creator;     /* the pid that unlinks the name, or 0 */
	pid_t handle_pid;  /* the process that opened b */
	unsigned fork_gen; /* pyrally_fork_generation() when b was opened */
	char name[64];
} BarrierObject;

/* The arrivals this thread is in (by barrier name), innermost first, and
 * the actions it runs inside them: signal handlers run inside an arrival
 * (arrival_go_on), where this thread is counted, so a reset of that
 * barrier from one would wait for the thread itself. A handler may wait
 * on another barrier, whose action runs inside it (review round 43: one
 * slot forgot the outer arrival, and such a reset hung). */
struct arrival_frame {
	const char *name;
	bool action; /* the barrier's action, not an arrival */
	pid_t pid; /* a fork()ed child is in none of its parent's (review
	              round 44: its reset was refused) */
	const struct arrival_frame *outer;
};
static _Thread_local const struct arrival_frame *arrivals;

/* Whether a reset of the barrier `name` from here would wait for this
 * thread's own arrival: its innermost frame of that barrier is an
 * arrival. In its action (inside its arrival too) the library answers
 * (review round 40: a reset from the action was told it came from a
 * signal handler). */
static bool inside_own_arrival(const char *name)
{
	for (const struct arrival_frame *f = arrivals; f; f = f->outer)
		if (f->pid == rally__self_pid() && strcmp(f->name, name) == 0)
			return !f->action;
	return false;
}

static int call_action(void *arg)
{
	BarrierObject *self = arg;
	struct arrival_frame frame = {self->name, true, rally__self_pid(),
	                              arrivals};
	arrivals = &frame;
	PyGILState_STATE st = PyGILState_Ensure();
	PyObject *r = PyObject_CallNoArgs(self->action);
	Py_XDECREF(r);
	PyGILState_Release(st);
	arrivals = frame.outer;
	return r ? 0 : ACTION_RAISED;
}

static int open_handle(BarrierObject *self, int oflag)
{
	rally_barrier_attr_t attr = {
	    .flags = RALLY_SHARED | (self->robust ? RALLY_ROBUST : 0) |
	             (self->stats ? RALLY_STATS : 0),
	    .action = self->action ? call_action : NULL,
	    .action_arg = self,
	};
	/* With the GIL held (a few system calls): a fork()ed child's
	 * threads must not reopen a robust barrier twice at once. */
	rally_barrier_t *b;
	int rc = rally_barrier_open(&b, self->name, self->parties, &attr, oflag,
	                            0600);
	if (rc < 0) {
		pyrally_raise(rc, self->name);
		return -1;
	}
	self->b = b;
	rally_stats_t st;
	self->stats = rally_barrier_stats(b, &st) == 0; /* the object's */
	self->handle_pid = rally__self_pid();
	self->fork_gen = pyrally_fork_generation();
	return 0;
}

static bool usable(BarrierObject *self) { return self->b && !self->closed; }

/* Why a barrier is not usable: closed, or its __init__ did not run (a
 * subclass's may skip it). */
static const char *unusable(BarrierObject *self)
{
	return self->closed ? "closed" : "not initialised";
}

/* The handle this process may use; NULL with ValueError once closed. In a
 * fork()ed child, a robust barrier's inherited handle is not a participant:
 * the child opens the name for a handle of its own. */
static rally_barrier_t *handle(BarrierObject *self)
{
	if (usable(self) && self->robust &&
	    self->fork_gen != pyrally_fork_generation() &&
	    self->handle_pid != rally__self_pid()) {
		rally_barrier_t *inherited = self->b;
		if (open_handle(self, 0) < 0)
			return NULL;
		/* A call still counted in flight here is the forking
		 * thread's own (it forked from the action; the parent's
		 * other threads' calls are not counted in the child, see
		 * struct pyrally_call): it may still use the inherited
		 * handle, which then stays mapped until exit. */
		if (self->calls == 0)
			rally_barrier_close(inherited);
		self->creator = 0;
		if (pyrally_call_helper("_on_participant", (PyObject *)self) <
		    0)
			return NULL;
	}
	if (!usable(self)) {
		PyErr_Format(PyExc_ValueError, "the barrier is %s",
		             unusable(self));
		return NULL;
	}
	return self->b;
}

/* close() may come while calls use the handle without the GIL — another
 * thread's wait or reset, or the wait that runs the action that closes:
 * unmapped under them, they would crash. Such calls enter and leave
 * (counted with the GIL held, and recorded with their thread for fork():
 * see struct pyrally_call); close() marks the barrier closed, so that no
 * call enters again, and the last call to leave closes the handle. */
static rally_barrier_t *enter(BarrierObject *self, struct pyrally_call **call)
{
	rally_barrier_t *b = handle(self);
	if (b && !(*call = pyrally_call_enter(&self->calls)))
		return NULL;
	return b;
}

static void leave(BarrierObject *self, struct pyrally_call *call)
{
	if (pyrally_call_leave(call) == 0 && self->closed) {
		rally_barrier_close(self->b);
		self->b = NULL;
	}
}

/* Checks the constructor's arguments, then stores them all (none if one
 * is wrong). */
static int configure(BarrierObject *self, PyObject *parties, PyObject *action,
                     PyObject *timeout, int robust)
{
	long n = PyLong_AsLong(parties);
	if (n == -1 && PyErr_Occurred())
		return -1;
	if (n < 1 || n > (long)RALLY_PARTIES_MAX) {
		PyErr_Format(PyExc_ValueError,
		             "parties must be between 1 and %u",
		             RALLY_PARTIES_MAX);
		return -1;
	}
	if (action != Py_None && !PyCallable_Check(action)) {
		PyErr_SetString(PyExc_TypeError,
		                "action must be callable or None");
		return -1;
	}
	int64_t timeout_ns;
	if (pyrally_timeout(timeout, true, &timeout_ns) < 0)
		return -1;
	self->parties = (unsigned)n;
	self->robust = robust;
	self->timeout_ns = timeout_ns;
	Py_XSETREF(self->action, action == Py_None ? NULL : Py_NewRef(action));
	Py_XSETREF(self->timeout, Py_NewRef(timeout));
	return 0;
}

/* The arguments are parsed here, not in tp_new, as threading.Barrier
 * parses them in __init__: a subclass's __init__ may take others. */
static int barrier_init(BarrierObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"parties", "action", "timeout", "robust",
	                         "stats",   NULL};
	PyObject *parties, *action = Py_None, *timeout = Py_None;
	int robust = 0, stats = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO$pp:Barrier", kwlist,
	                                 &parties, &action, &timeout, &robust,
	                                 &stats))
		return -1;
	if (robust && stats) {
		PyErr_SetString(PyExc_ValueError,
		                "robust and stats exclude each other (the "
		                "participants and the counts share the object's "
		                "room)");
		return -1;
	}
	if (self->name[0]) {
		/* Other threads and processes may be using this barrier:
		 * __init__ again would pull it from under them. */
		PyErr_SetString(PyExc_RuntimeError,
		                "the barrier is initialised already");
		return -1;
	}
	if (configure(self, parties, action, timeout, robust) < 0)
		return -1;
	self->stats = stats;
	pyrally_new_name(self->name, sizeof self->name);
	if (open_handle(self, O_CREAT | O_EXCL) < 0) {
		self->name[0] = '\0';
		return -1;
	}
	self->creator = rally__self_pid();
	return pyrally_own((PyObject *)self, 'b', self->name);
}

/* Barrier._open(name, parties, action, timeout, robust): the unpickler. */
static PyObject *barrier_open(PyTypeObject *type, PyObject *args)
{
	const char *name;
	PyObject *parties, *action, *timeout;
	int robust;
	if (!PyArg_ParseTuple(args, "sOOOp:_open", &name, &parties, &action,
	                      &timeout, &robust))
		return NULL;
	if (strlen(name) >= sizeof((BarrierObject *)0)->name)
		return pyrally_raise(-ENAMETOOLONG, name);
	BarrierObject *self = (BarrierObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	snprintf(self->name, sizeof self->name, "%s", name);
	if (configure(self, parties, action, timeout, robust) < 0 ||
	    open_handle(self, 0) < 0)
		goto fail;
	/* The object's kind, not the caller's word for it. */
	robust = self->robust =
	    rally_barrier_dead(self->b, NULL, 0) != -ENOTSUP;
	if (robust &&
	    pyrally_call_helper("_on_participant", (PyObject *)self) < 0)
		goto fail;
	return (PyObject *)self;
fail:
	Py_DECREF(self);
	return NULL;
}

/* The name goes at once (processes that have the barrier open keep it);
 * the handle once no call is in flight. The caller of a call holds a
 * reference, so dealloc never finds one in flight. */
static void close_handle(BarrierObject *self)
{
	if (!usable(self))
		return;
	self->closed = true;
	if (self->creator == rally__self_pid())
		pyrally_remove_name('b', self->name);
	if (self->calls == 0) {
		rally_barrier_close(self->b);
		self->b = NULL;
	}
}

/* The action may refer to its barrier (b = Barrier(2, action=lambda:
 * b.abort())): without these, such a cycle and its shared name would live
 * until exit. */
static int barrier_traverse(BarrierObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->action);
	Py_VISIT(self->timeout);
	return 0;
}

static int barrier_clear(BarrierObject *self)
{
	Py_CLEAR(self->action);
	Py_CLEAR(self->timeout);
	return 0;
}

static void barrier_dealloc(BarrierObject *self)
{
	PyObject_GC_UnTrack(self);
	close_handle(self);
	barrier_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- wait ---------------------------------------------------------------- */

/* One slice of a wait, without the GIL: 1 done, a code, or 0 (the slice
 * ended: look for signals). At the deadline, await with 0 ends the wait as
 * a timeout does (breaking the barrier if the phase still waits for
 * parties) — unless every party has arrived and the action runs
 * (-EAGAIN): then, as in threading.Barrier, the timeout can no longer
 * break the phase, and the wait goes on for its outcome. */
static int wait_slice(rally_barrier_t *b, rally_token_t tok, int64_t *deadline)
{
	int64_t left = PYRALLY_SLICE_NS;
	if (*deadline != INT64_MAX) {
		left = *deadline - pyrally_now_ns();
		if (left > PYRALLY_SLICE_NS)
			left = PYRALLY_SLICE_NS;
	}
	int rc = left > 0 ? rally_barrier_poll(b, tok, left) : 0;
	if (rc == 0 && *deadline != INT64_MAX &&
	    pyrally_now_ns() >= *deadline) {
		rc = rally_barrier_await(b, tok, 0);
		if (rc == -EAGAIN) {
			*deadline = INT64_MAX;
			return 0;
		}
		return rc == 0 ? 1 : rc;
	}
	return rc;
}

/* Waits for the token's phase until the wait's deadline (INT64_MAX: none):
 * 1, a rally code, or -EINTR with the exception a signal handler raised. */
static int block(rally_barrier_t *b, rally_token_t tok, int64_t deadline,
                 unsigned long mark)
{
	for (;;) {
		int rc;
		Py_BEGIN_ALLOW_THREADS
		pyrally_gil_released();
		rc = wait_slice(b, tok, &deadline);
		if (rc != 0)
			pyrally_gil_wait(mark);
		Py_END_ALLOW_THREADS
		if (rc != 0)
			return rc;
		if (PyErr_CheckSignals() < 0) {
			/* The caller leaves at once: await with 0 does not
			 * block. It breaks the phase if it still waits for
			 * parties, as a timeout does; if every party has
			 * arrived and the action runs (-EAGAIN), nothing is
			 * broken and the phase completes without this caller.
			 * Without the GIL all the same: a library whose await
			 * waited for the action (which may need the GIL)
			 * would deadlock with it. */
			Py_BEGIN_ALLOW_THREADS
			rally_barrier_await(b, tok, 0);
			Py_END_ALLOW_THREADS
			return -EINTR;
		}
	}
}

/* The arrival's look for signals: rally__barrier_timedarrive() asks it
 * every 50 ms while the arrival blocks — the last arrival of a phase
 * waiting for an earlier phase's action, a caller waiting for a reset to
 * end. It takes the GIL to run the handlers and gives it up again: an
 * arrival made with the GIL (the quick kind) that blocks after all lets go
 * of it from its first look on. An exception a handler raised waits aside
 * until the arrival returns: stopped, the arrival still completes its
 * phase if the phase became its own to complete meanwhile (running the
 * action, which must not start with an exception set). */
struct arrival_check {
	PyThreadState *ts;           /* while the GIL is released, else NULL */
	PyObject *type, *value, *tb; /* the handler's exception */
};

static bool arrival_go_on(void *arg)
{
	struct arrival_check *c = arg;
	if (c->ts)
		PyEval_RestoreThread(c->ts);
	bool stop = PyErr_CheckSignals() < 0;
	if (stop)
		PyErr_Fetch(&c->type, &c->value, &c->tb);
	c->ts = PyEval_SaveThread();
	return !stop;
}

/* After a stopped arrival, the handler's exception is raised; an exception
 * the action raised meanwhile becomes its context. */
static PyObject *arrival_stopped(struct arrival_check *c)
{
	if (PyErr_Occurred()) {
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		PyErr_NormalizeException(&t, &v, &tb);
		if (tb)
			PyException_SetTraceback(v, tb);
		PyErr_NormalizeException(&c->type, &c->value, &c->tb);
		PyException_SetContext(c->value, v);
		Py_XDECREF(t);
		Py_XDECREF(tb);
	}
	PyErr_Restore(c->type, c->value, c->tb);
	return NULL;
}

/* The arrival of a wait (blocking or not): its index, or -1 with the
 * exception set (a stopped arrival, an error, the action's exception). */
static int arrive_on(BarrierObject *self, rally_barrier_t *b, int64_t ns,
                           rally_token_t *tok, int64_t *arrived_ns)
{
	struct arrival_check c = {0};
	/* An arrival may wait: for an earlier phase's action, which takes
	 * the GIL itself, or for a reset to end (the barrier is broken while
	 * one runs), which waits for callers of other processes. Without the
	 * GIL then; otherwise the arrival is quick, and keeping the GIL spares
	 * a hand-over per phase (should it block after all — a reset that
	 * began after the look, a completer of another process that is slow
	 * to publish — it gives the GIL up at its first look for signals). */
	if (self->action || rally_barrier_broken(b))
		c.ts = PyEval_SaveThread();
	struct arrival_frame frame = {self->name, false, rally__self_pid(),
	                              arrivals};
	arrivals = &frame;
	*arrived_ns = rally__now_ns();
	int idx = rally__barrier_timedarrive(b, tok, ns, arrival_go_on, &c);
	arrivals = frame.outer;
	if (c.ts)
		PyEval_RestoreThread(c.ts);
	if (c.type) {
		/* Stopped, its arrival may still have completed its phase
		 * (then idx is its index): counted and traced all the same
		 * (review round 3). */
		if (idx >= 0 && self->stats)
			rally__barrier_count_wait(b, (unsigned)idx, *arrived_ns);
		rally__trace_token(b, *tok, idx >= 0 ? idx : -1, *arrived_ns,
		                   idx >= 0 ? idx : -EINTR);
		arrival_stopped(&c);
		return -1;
	}
	if (idx < 0) {
		rally__trace_token(b, *tok, -1, *arrived_ns, idx);
		if (!(idx == ACTION_RAISED && PyErr_Occurred()))
			pyrally_raise(idx, "wait");
		return -1;
	}
	return idx;
}

static PyObject *wait_on(BarrierObject *self, rally_barrier_t *b, int64_t ns)
{
	unsigned long mark = pyrally_arrivals_mark();
	/* One deadline for the arrival and the wait after it. */
	int64_t deadline = pyrally_deadline(ns);
	rally_token_t tok = {0};
	int64_t arrived_ns;
	int idx = arrive_on(self, b, ns, &tok, &arrived_ns);
	if (idx < 0)
		return NULL;
	int rc = 1;
	if ((unsigned)idx != self->parties - 1) {
		rc = rally_barrier_test(b, tok);
		if (rc == 0)
			rc = block(b, tok, deadline, mark);
	}
	/* The handle stays mapped while the call is in: counted after the
	 * release. */
	if (self->stats)
		rally__barrier_count_wait(b, (unsigned)idx, arrived_ns);
	rally__trace_token(b, tok, idx, arrived_ns, rc == 1 ? idx : rc);
	if (rc == 1)
		return PyLong_FromLong(idx);
	if (rc == -EINTR)
		return NULL;
	return pyrally_raise(rc, "wait");
}

/* A wait's timeout: the barrier's default for None, else as given (0 or
 * -1 with an exception set, as pyrally_timeout()). */
static int wait_timeout(BarrierObject *self, PyObject *timeout, int64_t *ns)
{
	*ns = self->timeout_ns;
	return timeout == Py_None ? 0 : pyrally_timeout(timeout, true, ns);
}

/* Barrier._arrive(timeout=None, inside=None) -> rally._rally._Token: the
 * arrival of a rally.aio wait, which awaits its token in the event loop
 * (aio.c). The token keeps the handle open (a call in flight) until it is
 * finished. A waiter's token (not the last arrival's) goes into the dict
 * `inside` before the GIL can pass to another thread — at once if the
 * arrival kept it (no action, not broken: arrive_on) — so that an abort()
 * or reset() from another thread that looks there sees every arrival made
 * before it (review round 34: one made in the bytecodes between, missed,
 * returned its index where asyncio's raises). */
static PyObject *barrier_arrive(BarrierObject *self, PyObject *args)
{
	PyObject *timeout = Py_None, *inside = Py_None;
	if (!PyArg_ParseTuple(args, "|OO:_arrive", &timeout, &inside))
		return NULL;
	if (inside != Py_None && !PyDict_Check(inside)) {
		PyErr_SetString(PyExc_TypeError, "_arrive: inside must be a dict");
		return NULL;
	}
	int64_t ns;
	if (wait_timeout(self, timeout, &ns) < 0)
		return NULL;
	struct pyrally_call *call;
	rally_barrier_t *b = enter(self, &call);
	if (!b)
		return NULL;
	rally_token_t tok = {0};
	int64_t arrived_ns;
	int idx = arrive_on(self, b, ns, &tok, &arrived_ns);
	if (idx < 0) {
		leave(self, call);
		return NULL;
	}
	bool last = idx == (int)self->parties - 1;
	PyObject *t = pyrally_token_new((PyObject *)self, b, call, tok, idx,
	                                last, arrived_ns, self->stats,
	                                self->robust);
	if (!t) {
		leave(self, call);
		return NULL;
	}
	if (!last && inside != Py_None &&
	    PyDict_SetItem(inside, t, Py_None) < 0) {
		Py_DECREF(t); /* (ends it as broken off) */
		return NULL;
	}
	return t;
}

/* Barrier._busy(): an action, a completion or a reset runs (rally.aio's
 * look before it arrives or resets in its loop). */
static PyObject *barrier_busy(BarrierObject *self, PyObject *unused)
{
	return PyBool_FromLong(usable(self) && rally__barrier_busy(self->b));
}

/* Barrier._busy_futex() -> (address, value, shared, looks) to sleep on while an
 * action, completion or reset runs, or None if none does (rally.aio). */
static PyObject *barrier_busy_futex(BarrierObject *self, PyObject *unused)
{
	if (!usable(self))
		Py_RETURN_NONE;
	const uint32_t *word;
	uint32_t value;
	bool shared;
	if (rally__barrier_busy_futex(self->b, &word, &value, &shared) != 0)
		Py_RETURN_NONE;
	/* Its runner may die without changing the word: looked at. */
	return pyrally_futex_word(word, value, shared, shared);
}

/* Barrier._raise_broken(): the error a wait gets from this broken
 * barrier — OwnerDeadError if it recorded a participant's death, as a
 * thread's arrival hears (review round 26: a /proc read of its own told
 * coroutines of deaths the threads were not told of). */
static PyObject *barrier_raise_broken(BarrierObject *self, PyObject *unused)
{
	int code = usable(self) ? rally__barrier_broken_code(self->b)
	                        : RALLY_BROKEN;
	return pyrally_raise(code == RALLY_OWNERDEAD ? code : RALLY_BROKEN,
	                     "wait");
}

/* A token's call is over (aio.c). */
void pyrally_barrier_leave(PyObject *self, struct pyrally_call *call)
{
	leave((BarrierObject *)self, call);
}

static PyObject *barrier_wait(BarrierObject *self, PyObject *args,
                              PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *timeout = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:wait", kwlist,
	                                 &timeout))
		return NULL;
	int64_t ns;
	if (wait_timeout(self, timeout, &ns) < 0)
		return NULL;
	struct pyrally_call *call;
	rally_barrier_t *b = enter(self, &call);
	if (!b)
		return NULL;
	PyObject *r = wait_on(self, b, ns);
	leave(self, call);
	return r;
}

/* ---- the rest of the API ------------------------------------------------ */

/* reset(), telling where it took effect (rally__barrier_reset_at): 0, or
 * -1 with the exception set. */
static int reset_at(BarrierObject *self, uint32_t *epoch, uint32_t *last)
{
	struct pyrally_call *call;
	rally_barrier_t *b = enter(self, &call);
	if (!b)
		return -1;
	/* From a signal handler that interrupted this thread's own arrival
	 * at this barrier: the reset would wait for the thread, for ever. */
	if (inside_own_arrival(self->name)) {
		leave(self, call);
		PyErr_SetString(PyExc_RuntimeError,
		                "reset: not allowed from a signal handler that "
		                "interrupted this thread's wait on the barrier "
		                "(the reset would wait for that wait)");
		return -1;
	}
	int rc;
	/* reset waits for a running action, which needs the GIL. */
	Py_BEGIN_ALLOW_THREADS
	rc = rally__barrier_reset_at(b, epoch, last);
	Py_END_ALLOW_THREADS
	leave(self, call);
	if (rc < 0) {
		pyrally_raise(rc, "reset");
		return -1;
	}
	return 0;
}

static PyObject *barrier_reset(BarrierObject *self, PyObject *unused)
{
	uint32_t epoch, last;
	if (reset_at(self, &epoch, &last) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* Barrier._reset() -> (epoch, last): reset(), and where it took effect —
 * rally.aio's reset() tells by it (Token.arrived_by) which of its waits
 * came before it (review round 34). */
static PyObject *barrier_reset_where(BarrierObject *self, PyObject *unused)
{
	uint32_t epoch, last;
	if (reset_at(self, &epoch, &last) < 0)
		return NULL;
	return Py_BuildValue("(II)", (unsigned int)epoch, (unsigned int)last);
}

/* Barrier._abort() -> (epoch, last): abort(), and where it took effect
 * (rally__barrier_abort_at) — rally.aio's abort tells by it
 * (Token.arrived_by) which of its released waits it makes raise. */
static PyObject *barrier_abort_where(BarrierObject *self, PyObject *unused)
{
	rally_barrier_t *b = handle(self);
	if (!b)
		return NULL;
	uint32_t epoch, last;
	int rc = rally__barrier_abort_at(b, &epoch, &last);
	if (rc < 0)
		return pyrally_raise(rc, "abort");
	return Py_BuildValue("(II)", (unsigned int)epoch, (unsigned int)last);
}

static PyObject *barrier_abort(BarrierObject *self, PyObject *unused)
{
	PyObject *at = barrier_abort_where(self, unused);
	if (!at)
		return NULL;
	Py_DECREF(at);
	Py_RETURN_NONE;
}

/* Barrier.stats(): rally_stats_t as a dict (rally.h says what each is). */
static PyObject *barrier_stats(BarrierObject *self, PyObject *unused)
{
	rally_barrier_t *b = handle(self);
	if (!b)
		return NULL;
	rally_stats_t st;
	if (rally_barrier_stats(b, &st) < 0) {
		PyErr_SetString(PyExc_ValueError,
		                "the barrier keeps no statistics (create it with "
		                "stats=True)");
		return NULL;
	}
	PyObject *hist = PyList_New(RALLY_STATS_BUCKETS);
	PyObject *waits = PyList_New(RALLY_STATS_INDICES);
	if (!hist || !waits)
		goto fail;
	for (int i = 0; i < RALLY_STATS_BUCKETS; i++) {
		PyObject *n = PyLong_FromUnsignedLongLong(st.skew_hist[i]);
		if (!n)
			goto fail;
		PyList_SET_ITEM(hist, i, n);
	}
	for (int i = 0; i < RALLY_STATS_INDICES; i++) {
		PyObject *n = PyLong_FromUnsignedLongLong(st.wait_ns[i]);
		if (!n)
			goto fail;
		PyList_SET_ITEM(waits, i, n);
	}
	return Py_BuildValue(
	    "{sKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsNsN}", "phases", st.phases,
	    "broken", st.broken, "timeouts", st.timeouts, "aborts", st.aborts,
	    "resets", st.resets, "waits", st.waits, "spun", st.spun,
	    "yielded", st.yielded, "slept", st.slept, "skew_p50_ns",
	    st.skew_p50_ns, "skew_p99_ns", st.skew_p99_ns, "skew_max_ns",
	    st.skew_max_ns, "skew_phases", st.skew_phases, "skew_missed",
	    st.skew_missed, "last_id", st.last_id, "last_count", st.last_count,
	    "skew_hist", hist, "wait_ns", waits);
fail:
	Py_XDECREF(hist);
	Py_XDECREF(waits);
	return NULL;
}

static PyObject *barrier_close(BarrierObject *self, PyObject *unused)
{
	close_handle(self);
	Py_RETURN_NONE;
}

static PyObject *barrier_reduce(BarrierObject *self, PyObject *unused)
{
	if (!handle(self))
		return NULL;
	PyObject *open = pyrally_reducer((PyObject *)self, self->creator);
	if (!open)
		return NULL;
	return Py_BuildValue("N(sIOOO)", open, self->name, self->parties,
	                     self->action ? self->action : Py_None,
	                     self->timeout, self->robust ? Py_True : Py_False);
}

static PyObject *barrier_repr(BarrierObject *self)
{
	char state[64];
	if (!usable(self))
		snprintf(state, sizeof state, "%s", unusable(self));
	else if (rally_barrier_broken(self->b))
		snprintf(state, sizeof state, "broken");
	else
		snprintf(state, sizeof state, "waiters=%u/%u",
		         rally_barrier_n_waiting(self->b), self->parties);
	return pyrally_repr((PyObject *)self, state);
}

static PyObject *get_parties(BarrierObject *self, void *c)
{
	return PyLong_FromUnsignedLong(self->parties);
}

static PyObject *get_n_waiting(BarrierObject *self, void *c)
{
	return PyLong_FromUnsignedLong(
	    usable(self) ? rally_barrier_n_waiting(self->b) : 0);
}

static PyObject *get_broken(BarrierObject *self, void *c)
{
	return PyBool_FromLong(usable(self) && rally_barrier_broken(self->b));
}

static PyObject *get_name(BarrierObject *self, void *c)
{
	return PyUnicode_FromString(self->name);
}

static PyObject *get_robust(BarrierObject *self, void *c)
{
	return PyBool_FromLong(self->robust);
}

static PyObject *get_stats(BarrierObject *self, void *c)
{
	return PyBool_FromLong(self->stats);
}

static PyObject *get_timeout(BarrierObject *self, void *c)
{
	return Py_NewRef(self->timeout ? self->timeout : Py_None);
}

static PyObject *get_closed(BarrierObject *self, void *c)
{
	return PyBool_FromLong(!usable(self));
}

static PyMethodDef barrier_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))barrier_wait,
     METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> int\n\n"
     "Waits until `parties` callers have called wait() in this phase and\n"
     "returns this caller's arrival index: 0 for the first, parties - 1 for\n"
     "the last, which runs the action before anyone is released.\n\n"
     "timeout: seconds (a float), or None for the barrier's default. A\n"
     "timeout of 0 or less does not block (as in threading); one that\n"
     "threading rejects raises its exception (OverflowError, TypeError)\n"
     "before this caller arrives. When the timeout passes before the phase\n"
     "completes the barrier breaks: this caller and every other waiter get\n"
     "threading.BrokenBarrierError, and so does every wait until reset().\n"
     "Once every party has arrived (the action runs), the timeout can no\n"
     "longer break the phase: every caller of it returns its index,\n"
     "whatever its own timeout.\n\n"
     "Raises threading.BrokenBarrierError if the barrier is or becomes\n"
     "broken (timeout, abort(), reset() during the wait, or an action that\n"
     "raised; the caller that ran the action gets the action's exception);\n"
     "rally.OwnerDeadError (a BrokenBarrierError) if a participant process\n"
     "of a robust barrier died; ValueError if the barrier is closed.\n\n"
     "The GIL is released while waiting. A signal handler that raises\n"
     "(Ctrl-C: KeyboardInterrupt) ends the wait within 50 ms with its\n"
     "exception, even while another thread or process runs the action. If\n"
     "the phase still waited for parties the barrier is then broken, as by\n"
     "a timeout (threading.Barrier instead withdraws the caller); if all had\n"
     "arrived, nothing is broken and the phase completes without this\n"
     "caller."},
    {"reset", (PyCFunction)barrier_reset, METH_NOARGS,
     "reset()\n\n"
     "Returns the barrier to its empty, unbroken state. Callers waiting in\n"
     "the phase it ends get threading.BrokenBarrierError; callers that\n"
     "arrive after it returns belong to the fresh phase. Waits for a running\n"
     "action to end. RuntimeError when called from the barrier's action."},
    {"abort", (PyCFunction)barrier_abort, METH_NOARGS,
     "abort()\n\n"
     "Breaks the barrier: current waiters get threading.BrokenBarrierError,\n"
     "and so does every wait until reset(). Called from the action, the\n"
     "phase of that action still completes and the next one is broken."},
    {"stats", (PyCFunction)barrier_stats, METH_NOARGS,
     "stats() -> dict\n\n"
     "The counts of a barrier created with stats=True, kept in the shared\n"
     "object (every process's calls): phases, broken, timeouts, aborts,\n"
     "resets; waits (the callers that left a wait) and, of C callers'\n"
     "waits, how many spun, yielded or slept; arrival skew per phase\n"
     "(first to last arrival): skew_p50_ns, skew_p99_ns (upper bounds of\n"
     "log2 buckets), skew_max_ns, skew_phases, skew_missed, skew_hist (24\n"
     "buckets: below 128 ns, then [2**(b+6), 2**(b+7)) ns); last_id and\n"
     "last_count: the pid that arrived last most often, and how often;\n"
     "wait_ns: the total wait of each arrival index (16, the last takes\n"
     "the rest). ValueError without stats=True."},
    {"close", (PyCFunction)barrier_close, METH_NOARGS,
     "close()\n\n"
     "Lets go of the shared memory now rather than when the object goes:\n"
     "this process stops taking part (robust barriers), and in the process\n"
     "that created the barrier its name is removed (processes that have it\n"
     "open keep it). Any later call raises ValueError; close() again does\n"
     "nothing. Calls in progress (other threads' waits, the wait that\n"
     "runs the action that closes) go on on the barrier, and the memory\n"
     "goes when the last returns."},
    {"__reduce__", (PyCFunction)barrier_reduce, METH_NOARGS,
     "Pickles to the shared name: the process that unpickles opens the\n"
     "same barrier (multiprocessing, fork and spawn)."},
    {"_busy_futex", (PyCFunction)barrier_busy_futex, METH_NOARGS,
     "_busy_futex() -> (address, value, shared) or None."},
    {"_raise_broken", (PyCFunction)barrier_raise_broken, METH_NOARGS,
     "_raise_broken(): raises the broken barrier's error."},
    {"_reset", (PyCFunction)barrier_reset_where, METH_NOARGS,
     "_reset() -> (epoch, last): reset(); where it took effect."},
    {"_abort", (PyCFunction)barrier_abort_where, METH_NOARGS,
     "_abort() -> (epoch, last): abort(); where it took effect."},
    {"_busy", (PyCFunction)barrier_busy, METH_NOARGS,
     "_busy() -> bool: an action, completion or reset runs."},
    {"_arrive", (PyCFunction)barrier_arrive, METH_VARARGS,
     "_arrive(timeout=None, inside=None) -> token: a rally.aio wait's "
     "arrival."},
    {"_open", (PyCFunction)barrier_open, METH_VARARGS | METH_CLASS,
     "_open(name, parties, action, timeout, robust): opens a shared\n"
     "barrier by name (the unpickler)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef barrier_getset[] = {
    {"parties", (getter)get_parties, NULL,
     "The number of callers needed to complete a phase.", NULL},
    {"n_waiting", (getter)get_n_waiting, NULL,
     "The number of callers waiting in the current phase (0 while broken).\n"
     "A snapshot.",
     NULL},
    {"broken", (getter)get_broken, NULL,
     "True if the barrier is broken (until reset()).", NULL},
    {"name", (getter)get_name, NULL,
     "The barrier's name in shared memory (/dev/shm/rally.b.NAME); the\n"
     "rally command line tool can wait on it, show or abort it.",
     NULL},
    {"robust", (getter)get_robust, NULL,
     "True if a participant process that dies breaks the barrier.", NULL},
    {"stats_kept", (getter)get_stats, NULL,
     "True if the barrier keeps statistics (stats=True): see stats().",
     NULL},
    {"closed", (getter)get_closed, NULL, "True after close().", NULL},
    {"_timeout", (getter)get_timeout, NULL,
     "The default timeout, as given (rally.aio).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
    barrier_doc,
    "Barrier(parties, action=None, timeout=None, *, robust=False, "
    "stats=False)\n"
    "\n"
    "threading.Barrier's API on rally's barrier: a phase completes when\n"
    "`parties` callers have called wait(); the last to arrive runs `action`\n"
    "(any callable, no arguments) before anyone is released; timeouts,\n"
    "abort(), reset() and the broken state behave as in threading.Barrier,\n"
    "and the same exception, threading.BrokenBarrierError, is raised.\n"
    "\n"
    "parties: 1 .. 2**30. action: a callable or None; if it raises, the\n"
    "barrier breaks, the others get BrokenBarrierError and the caller that\n"
    "ran it gets its exception. timeout: the default for wait(), in seconds,\n"
    "or None (no timeout).\n"
    "\n"
    "One object works for threads and for processes: it lives in POSIX\n"
    "shared memory, and passing it to a multiprocessing.Process (fork or\n"
    "spawn) or pickling it gives the other process the same barrier; the\n"
    "action is pickled with it and runs in whichever process arrives last.\n"
    "The creating process owns the name and removes it when the object goes,\n"
    "at close(), or, if it dies once the barrier was shared (pickled, or\n"
    "inherited through fork), through multiprocessing's resource tracker.\n"
    "\n"
    "robust=True: a participant process (the creator, and every process that\n"
    "unpickles the barrier or inherits it through fork) that dies before\n"
    "close() breaks the barrier within 100 ms: waits raise\n"
    "rally.OwnerDeadError until reset(). A multiprocessing child stops taking\n"
    "part as it exits normally. Up to 32 participant processes.\n"
    "\n"
    "stats=True: the barrier counts what its phases did, in the shared\n"
    "object (see stats()); not with robust=True, whose participants use the\n"
    "same room (ValueError).\n"
    "\n"
    "Waits release the GIL; crossing a barrier costs a few atomic operations\n"
    "while nobody has to sleep.");

PyTypeObject PyRally_BarrierType = {
    /* The macro brings its own comma: */
    /* clang-format off */
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rally.Barrier",
    /* clang-format on */
    .tp_basicsize = sizeof(BarrierObject),
    .tp_dealloc = (destructor)barrier_dealloc,
    .tp_repr = (reprfunc)barrier_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = barrier_doc,
    .tp_traverse = (traverseproc)barrier_traverse,
    .tp_clear = (inquiry)barrier_clear,
    .tp_methods = barrier_methods,
    .tp_getset = barrier_getset,
    .tp_init = (initproc)barrier_init,
    .tp_new = PyType_GenericNew,
    .tp_free = PyObject_GC_Del,
};
