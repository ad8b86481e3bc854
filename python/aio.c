/* aio.c — what rally.aio (asyncio) needs from C: tokens of barrier waits,
 * watches of event waits, and the sleeper of an event loop.
 *
 * A coroutine's wait arrives (Barrier._arrive) and gets a token, or
 * snapshots an event (Event._watch) and gets a watch; the event loop asks
 * them whether they are done (test) and which futex word to sleep on
 * (futex). Each loop has one sleeper: threads of its own — one per 127
 * words — that sleep in futex_waitv(2) on every word the loop's pending
 * waits name, plus a generation word of the sleeper's, and write the
 * loop's eventfd when a word changes. The loop then tests its waits and
 * hands the sleeper a fresh set of words (which bumps the generation: the
 * threads start over with it). The threads never touch Python objects and
 * never take the GIL. */
#include "pyrally.h"

#include "hooks.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

PyObject *pyrally_futex_word(const uint32_t *word, uint32_t value,
                             bool shared, bool looks)
{
	return Py_BuildValue("(kIOO)", (unsigned long)(uintptr_t)word, value,
	                     shared ? Py_True : Py_False,
	                     looks ? Py_True : Py_False);
}

/* ---- _Token: a barrier wait's arrival ------------------------------------ */

typedef struct {
	PyObject_HEAD
	PyObject *barrier; /* the rally.Barrier whose call keeps b open */
	rally_barrier_t *b;
	struct pyrally_call *call; /* NULL once finished */
	rally_token_t tok;
	int index;
	bool last; /* this arrival completed its phase */
	bool stats;
	bool robust; /* a dead party changes no word: look every slice */
	int64_t arrived_ns;
	pid_t pid; /* the arriving process: a fork()ed child's copy is not */
} TokenObject;

PyObject *pyrally_token_new(PyObject *barrier, rally_barrier_t *b,
                            struct pyrally_call *call, rally_token_t tok,
                            int index, bool last, int64_t arrived_ns,
                            bool stats, bool robust)
{
	TokenObject *t = PyObject_New(TokenObject, &PyRally_TokenType);
	if (!t)
		return NULL;
	t->barrier = Py_NewRef(barrier);
	t->b = b;
	t->call = call;
	t->tok = tok;
	t->index = index;
	t->last = last;
	t->stats = stats;
	t->robust = robust;
	t->arrived_ns = arrived_ns;
	t->pid = rally__self_pid();
	pyrally_call_detach(call);
	return (PyObject *)t;
}

/* A fork()ed child's copy of a wait is the parent's: its call was ended
 * by the fork, and its handle may close in the child. */
static bool forked_copy(pid_t maker)
{
	if (maker == rally__self_pid())
		return false;
	PyErr_SetString(PyExc_ValueError,
	                "the wait is the parent's (a fork()ed copy)");
	return true;
}

static rally_barrier_t *token_handle(TokenObject *t)
{
	if (forked_copy(t->pid))
		return NULL;
	if (!t->call)
		PyErr_SetString(PyExc_ValueError, "the token is finished");
	return t->call ? t->b : NULL;
}

/* test() -> True once the phase completed, False while it is pending;
 * BrokenBarrierError (or OwnerDeadError) if it was broken. */
static PyObject *token_test(TokenObject *t, PyObject *unused)
{
	rally_barrier_t *b = token_handle(t);
	if (!b)
		return NULL;
	/* A robust barrier's dead are found by its waiters' looks. */
	rally__token_look(b, t->tok);
	int rc = rally_barrier_test(b, t->tok);
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	return PyBool_FromLong(rc);
}

/* futex() -> (address, value, shared, looks), or None once the phase is
 * no longer pending (then test() says how it ended). */
static PyObject *token_futex(TokenObject *t, PyObject *unused)
{
	rally_barrier_t *b = token_handle(t);
	if (!b)
		return NULL;
	const uint32_t *word;
	uint32_t value;
	bool shared;
	int rc = rally_barrier_futex(b, t->tok, &word, &value, &shared);
	if (rc != 0)
		Py_RETURN_NONE;
	/* A dead party of a robust barrier, or a dead action runner, changes
	 * no word: such a wait is looked at every slice all the same. */
	bool looks = shared && (t->robust || rally__barrier_busy(b));
	return pyrally_futex_word(word, value, shared, looks);
}

/* poll(ns) -> True once the phase completed, False if it is still
 * pending after ns (nothing broken): a bounded wait without the GIL, by
 * rally's spin policy (spin, yield, sleep), for a loop that has nothing
 * else to run; BrokenBarrierError if it was broken. */
static PyObject *token_poll(TokenObject *t, PyObject *arg)
{
	long long ns = PyLong_AsLongLong(arg);
	if (ns == -1 && PyErr_Occurred())
		return NULL;
	rally_barrier_t *b = token_handle(t);
	if (!b)
		return NULL;
	if (ns < 0)
		ns = 0;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = rally_barrier_poll(b, t->tok, ns);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	return PyBool_FromLong(rc);
}

/* expire() — the wait's deadline: 1 if the phase completed after all, 0
 * if every party arrived and the action runs (the deadline can no longer
 * break the phase: wait on), -1 if the deadline broke the phase (as
 * threading's timeouts do); BrokenBarrierError if it was broken. */
static PyObject *token_expire(TokenObject *t, PyObject *unused)
{
	rally_barrier_t *b = token_handle(t);
	if (!b)
		return NULL;
	int rc = rally_barrier_await(b, t->tok, 0);
	if (rc == -EAGAIN)
		return PyLong_FromLong(0);
	if (rc == RALLY_TIMEDOUT)
		return PyLong_FromLong(-1);
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	return PyLong_FromLong(1);
}

/* withdraw() — a cancelled wait: True if its arrival was taken back (the
 * phase still filled: it needs one arrival more), False if the phase had
 * all its arrivals (it completes without this wait); BrokenBarrierError if
 * it was broken. */
static PyObject *token_withdraw(TokenObject *t, PyObject *unused)
{
	rally_barrier_t *b = token_handle(t);
	if (!b)
		return NULL;
	int rc = rally__barrier_withdraw(b, t->tok);
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	return PyBool_FromLong(rc == 0);
}

/* Counts (RALLY_STATS) and traces (RALLY_TRACE) the wait as wait() does
 * its own — every wait that arrived, however it ended; one whose arrival
 * was taken back (withdrawn) is not a wait: traced as never arrived — and
 * ends its call: the handle may close from now on. Once. rc: the index,
 * or the code it ended with. */
static void finish(TokenObject *t, int rc, bool withdrawn)
{
	if (!t->call)
		return;
	/* A fork()ed child's copy of the parent's wait is neither counted
	 * nor traced there: the wait is the parent's (review round 9). Its
	 * call was ended by the fork (pyrally_call_detach). */
	if (t->pid != rally__self_pid()) {
		t->call = NULL;
		return;
	}
	if (t->stats && !withdrawn)
		rally__barrier_count_wait(t->b, (unsigned)t->index,
		                          t->arrived_ns);
	rally__trace_token(t->b, t->tok, withdrawn ? -1 : t->index,
	                   t->arrived_ns, rc);
	struct pyrally_call *call = t->call;
	t->call = NULL;
	pyrally_barrier_leave(t->barrier, call);
}

/* finish(how): "released", "broken", "ownerdead", "timeout" or
 * "withdrawn" (a cancelled wait whose arrival was taken back). */
static PyObject *token_finish(TokenObject *t, PyObject *arg)
{
	static const struct {
		const char *how;
		int rc;
	} kinds[] = {{"broken", RALLY_BROKEN},
	             {"ownerdead", RALLY_OWNERDEAD},
	             {"timeout", RALLY_TIMEDOUT},
	             {"withdrawn", -ECANCELED}};
	const char *how = PyUnicode_AsUTF8(arg);
	if (!how)
		return NULL;
	if (strcmp(how, "released") == 0) {
		finish(t, t->index, false);
		Py_RETURN_NONE;
	}
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(how, kinds[i].how) == 0) {
			finish(t, kinds[i].rc,
			       kinds[i].rc == -ECANCELED);
			Py_RETURN_NONE;
		}
	PyErr_Format(PyExc_ValueError, "finish: unknown outcome %R", arg);
	return NULL;
}

static void token_dealloc(TokenObject *t)
{
	/* Dropped unfinished (a wait whose coroutine never resumed): ended
	 * as it stands, counted and traced as broken off. */
	finish(t, -ECANCELED, false);
	Py_XDECREF(t->barrier);
	PyObject_Free(t);
}

static PyObject *token_get_index(TokenObject *t, void *c)
{
	return PyLong_FromLong(t->index);
}

static PyObject *token_get_last(TokenObject *t, void *c)
{
	return PyBool_FromLong(t->last);
}

/* arrived_by(at) -> whether the arrival came before the reset or abort
 * that took effect at `at` (Barrier._reset()'s or _abort()'s answer) —
 * finished too: it reads only the token (review round 35). */
static PyObject *token_arrived_by(TokenObject *t, PyObject *at)
{
	unsigned int epoch, last;
	if (!PyArg_ParseTuple(at, "II:arrived_by", &epoch, &last))
		return NULL;
	int rc = rally__token_arrived_by(t->tok, epoch, last);
	if (rc < 0)
		return pyrally_raise(rc, "wait");
	return PyBool_FromLong(rc);
}

static PyMethodDef token_methods[] = {
    {"test", (PyCFunction)token_test, METH_NOARGS, NULL},
    {"futex", (PyCFunction)token_futex, METH_NOARGS, NULL},
    {"poll", (PyCFunction)token_poll, METH_O, NULL},
    {"expire", (PyCFunction)token_expire, METH_NOARGS, NULL},
    {"withdraw", (PyCFunction)token_withdraw, METH_NOARGS, NULL},
    {"finish", (PyCFunction)token_finish, METH_O, NULL},
    {"arrived_by", (PyCFunction)token_arrived_by, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef token_getset[] = {
    {"index", (getter)token_get_index, NULL, "the arrival index", NULL},
    {"last", (getter)token_get_last, NULL,
     "whether this arrival completed its phase", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject PyRally_TokenType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rally._rally._Token",
    .tp_basicsize = sizeof(TokenObject),
    .tp_dealloc = (destructor)token_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A rally.aio barrier wait's arrival (Barrier._arrive).",
    .tp_methods = token_methods,
    .tp_getset = token_getset,
};

/* ---- _Watch: an event wait's snapshot ------------------------------------ */

typedef struct {
	PyObject_HEAD
	PyObject *event;
	rally_event_t *e;
	struct pyrally_call *call; /* NULL once finished */
	const uint32_t *word;
	uint32_t snapshot;
	bool shared;
	pid_t pid; /* the watching process: a fork()ed child's copy is not */
} WatchObject;

PyObject *pyrally_watch_new(PyObject *event, rally_event_t *e,
                            struct pyrally_call *call, const uint32_t *word,
                            uint32_t snapshot, bool shared)
{
	WatchObject *w = PyObject_New(WatchObject, &PyRally_WatchType);
	if (!w)
		return NULL;
	w->event = Py_NewRef(event);
	w->e = e;
	w->call = call;
	w->word = word;
	w->snapshot = snapshot;
	w->shared = shared;
	w->pid = rally__self_pid();
	pyrally_call_detach(call);
	return (PyObject *)w;
}

/* Every set() adds a generation to the word, which a clear() does not
 * undo: the word differs from the snapshot in a bit other than the
 * sleepers' (0x1) once a set came since the wait began (event.c). */
#define EVENT_SLEEPERS 0x1u

static bool set_since(const WatchObject *w)
{
	return (__atomic_load_n(w->word, __ATOMIC_ACQUIRE) ^ w->snapshot) &
	       ~EVENT_SLEEPERS;
}

static PyObject *watch_done(WatchObject *w, PyObject *unused)
{
	if (forked_copy(w->pid))
		return NULL;
	if (!w->call)
		Py_RETURN_TRUE;
	return PyBool_FromLong(set_since(w));
}

/* futex() -> (address, value, shared, looks), or None once a set came. The
 * sleepers' bit is raised again if a wake-up cleared it: a sleeper on a
 * word without it would not be woken. */
static PyObject *watch_futex(WatchObject *w, PyObject *unused)
{
	if (forked_copy(w->pid))
		return NULL;
	if (!w->call || set_since(w))
		Py_RETURN_NONE;
	const uint32_t *word;
	uint32_t value;
	bool shared;
	int rc = rally_event_futex(w->e, &word, &value, &shared);
	if (rc != 0 || ((value ^ w->snapshot) & ~EVENT_SLEEPERS))
		Py_RETURN_NONE;
	/* A setter that dies after its change, before its wake, leaves the
	 * word changed: the slice's look at the value finds it. */
	return pyrally_futex_word(word, value, shared, false);
}

static void watch_end(WatchObject *w)
{
	if (!w->call)
		return;
	if (w->pid != rally__self_pid()) {
		w->call = NULL; /* the parent's: ended by the fork */
		return;
	}
	struct pyrally_call *call = w->call;
	w->call = NULL;
	pyrally_event_leave(w->event, call);
}

static PyObject *watch_finish(WatchObject *w, PyObject *unused)
{
	watch_end(w);
	Py_RETURN_NONE;
}

static void watch_dealloc(WatchObject *w)
{
	watch_end(w);
	Py_XDECREF(w->event);
	PyObject_Free(w);
}

static PyMethodDef watch_methods[] = {
    {"done", (PyCFunction)watch_done, METH_NOARGS, NULL},
    {"futex", (PyCFunction)watch_futex, METH_NOARGS, NULL},
    {"finish", (PyCFunction)watch_finish, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject PyRally_WatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rally._rally._Watch",
    .tp_basicsize = sizeof(WatchObject),
    .tp_dealloc = (destructor)watch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A rally.aio event wait's snapshot (Event._watch).",
    .tp_methods = watch_methods,
};

/* ---- _Sleeper: an event loop's sleeping threads -------------------------- */

/* futex_waitv takes 128 words: the generation and 127 of the loop's. */
#define CHUNK       127
#define MAX_THREADS 64
_Static_assert(CHUNK * MAX_THREADS == PYRALLY_SLEEPER_WORDS_MAX,
               "pyrally.h's limit");
/* A shared word's waker may die between its change and its wake: its
 * sleepers look again this often (as rally's own shared waits do) — at
 * the words (the next sleep's compare: changed, the loop is woken), and
 * for waits whose end no word shows (a robust barrier's dead party, a
 * dead action runner) the loop itself. An idle loop whose words keep
 * their values is not woken. */
#define SHARED_SLICE_NS 50000000L

struct sleeper {
	pthread_mutex_t mu;
	_Atomic uint32_t gen; /* bumped by every new set of words, and close */
	struct futex_waitv *words;
	bool *looks; /* words[i]'s wait is looked at every slice */
	size_t n;
	bool any_shared;
	bool closing;
	int efd;
	pid_t pid; /* the threads live in this process only */
	unsigned threads;
	pthread_t thread[MAX_THREADS];
	_Atomic uint64_t fired; /* eventfd writes, for the tests */
};

struct sleeper_arg {
	struct sleeper *s;
	unsigned chunk;
};

static void gen_wait(struct sleeper *s, uint32_t g)
{
	while (atomic_load(&s->gen) == g)
		syscall(SYS_futex, &s->gen, FUTEX_WAIT_PRIVATE, g, NULL, NULL,
		        0);
}

static void gen_bump(struct sleeper *s)
{
	atomic_fetch_add(&s->gen, 1);
	syscall(SYS_futex, &s->gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* One sleep on this chunk's words and the generation: true if a word of
 * the loop's changed (or a shared slice ended that needs a look), false
 * to start over. */
static bool sleep_once(struct sleeper *s, unsigned chunk, uint32_t *g)
{
	struct futex_waitv w[CHUNK + 1];
	bool looks = false;
	pthread_mutex_lock(&s->mu);
	bool closing = s->closing;
	*g = atomic_load(&s->gen);
	size_t lo = (size_t)chunk * CHUNK, hi = lo + CHUNK;
	if (hi > s->n)
		hi = s->n;
	size_t n = hi > lo ? hi - lo : 0;
	if (n)
		memcpy(&w[1], &s->words[lo], n * sizeof w[0]);
	for (size_t i = lo; i < lo + n; i++)
		looks |= s->looks[i];
	bool timed = s->any_shared;
	pthread_mutex_unlock(&s->mu);
	if (closing)
		return false;
	if (n == 0) {
		gen_wait(s, *g);
		return false;
	}
	w[0] = (struct futex_waitv){.val = *g,
	                            .uaddr = (uintptr_t)&s->gen,
	                            .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
	struct timespec ts;
	if (timed) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SHARED_SLICE_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	long r = syscall(SYS_futex_waitv, w, n + 1, 0, timed ? &ts : NULL,
	                 CLOCK_MONOTONIC);
	if (r < 0 && errno == ENOSYS) {
		/* Before Linux 5.16: the first word, and the others every
		 * millisecond (documented in the README). */
		struct timespec ms = {0, 1000000};
		syscall(SYS_futex, (uint32_t *)(uintptr_t)w[1].uaddr,
		        (w[1].flags & FUTEX_PRIVATE_FLAG) ? FUTEX_WAIT_PRIVATE
		                                          : FUTEX_WAIT,
		        w[1].val, &ms, NULL, 0);
		return atomic_load(&s->gen) == *g;
	}
	if (r == 0 || (r < 0 && errno == EINTR))
		return false;
	/* A slice ended. Without a wait that needs looks, sleep again: the
	 * next futex_waitv compares every word with its value first (EAGAIN
	 * if one changed — its waker may have died before its wake; EFAULT,
	 * not a fault, if its handle closed since), so the loop is woken
	 * only for a change. */
	if (r < 0 && errno == ETIMEDOUT && !looks)
		return false;
	/* EAGAIN: a word already differs (the generation too, perhaps). */
	return atomic_load(&s->gen) == *g;
}

static void *sleeper_main(void *p)
{
	struct sleeper_arg a = *(struct sleeper_arg *)p;
	free(p);
	struct sleeper *s = a.s;
	for (;;) {
		uint32_t g;
		bool fired = sleep_once(s, a.chunk, &g);
		pthread_mutex_lock(&s->mu);
		bool closing = s->closing;
		pthread_mutex_unlock(&s->mu);
		if (closing)
			return NULL;
		if (!fired)
			continue;
		uint64_t one = 1;
		if (write(s->efd, &one, sizeof one) == sizeof one)
			atomic_fetch_add(&s->fired, 1);
		/* The loop answers with a fresh set of words. */
		gen_wait(s, g);
	}
}

typedef struct {
	PyObject_HEAD
	struct sleeper *s;
} SleeperObject;

static int sleeper_init(SleeperObject *self, PyObject *args, PyObject *kwds)
{
	int efd;
	if (!PyArg_ParseTuple(args, "i:_Sleeper", &efd))
		return -1;
	if (self->s) {
		PyErr_SetString(PyExc_RuntimeError, "initialised already");
		return -1;
	}
	struct sleeper *s = calloc(1, sizeof *s);
	if (!s) {
		PyErr_NoMemory();
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->efd = efd;
	s->pid = rally__self_pid();
	self->s = s;
	return 0;
}

static int start_threads(struct sleeper *s, size_t n)
{
	size_t want = (n + CHUNK - 1) / CHUNK;
	while (s->threads < want) {
		if (s->threads == MAX_THREADS) {
			PyErr_Format(PyExc_OverflowError,
			             "more than %d futex words pending in one "
			             "event loop",
			             MAX_THREADS * CHUNK);
			return -1;
		}
		struct sleeper_arg *a = malloc(sizeof *a);
		if (!a) {
			PyErr_NoMemory();
			return -1;
		}
		*a = (struct sleeper_arg){s, s->threads};
		int rc = pthread_create(&s->thread[s->threads], NULL,
		                        sleeper_main, a);
		if (rc) {
			free(a);
			errno = rc;
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		s->threads++;
	}
	return 0;
}

/* watch([(address, value, shared, looks), ...]): the words to sleep on
 * from now on (every word of the loop's pending waits), replacing the last
 * set. */
static PyObject *sleeper_watch(SleeperObject *self, PyObject *seq)
{
	struct sleeper *s = self->s;
	if (!s || s->closing || s->pid != rally__self_pid()) {
		PyErr_SetString(PyExc_ValueError, "the sleeper is closed");
		return NULL;
	}
	PyObject *fast = PySequence_Fast(seq, "watch() takes a sequence");
	if (!fast)
		return NULL;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	struct futex_waitv *w = calloc(n ? (size_t)n : 1, sizeof *w);
	bool *looks = calloc(n ? (size_t)n : 1, sizeof *looks);
	bool any_shared = false;
	if (!w || !looks) {
		free(w);
		free(looks);
		Py_DECREF(fast);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned long addr;
		unsigned int val;
		int shared, look;
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i),
		                      "kIpp:watch", &addr, &val, &shared,
		                      &look)) {
			free(w);
			free(looks);
			Py_DECREF(fast);
			return NULL;
		}
		looks[i] = look;
		w[i] = (struct futex_waitv){
		    .val = val,
		    .uaddr = addr,
		    .flags = FUTEX_32 | (shared ? 0 : FUTEX_PRIVATE_FLAG)};
		any_shared |= shared;
	}
	Py_DECREF(fast);
	if (start_threads(s, (size_t)n) < 0) {
		free(w);
		free(looks);
		return NULL;
	}
	pthread_mutex_lock(&s->mu);
	free(s->words);
	free(s->looks);
	s->words = w;
	s->looks = looks;
	s->n = (size_t)n;
	s->any_shared = any_shared;
	pthread_mutex_unlock(&s->mu);
	gen_bump(s);
	Py_RETURN_NONE;
}

static void sleeper_stop(struct sleeper *s)
{
	if (s->pid == rally__self_pid()) {
		pthread_mutex_lock(&s->mu);
		s->closing = true;
		pthread_mutex_unlock(&s->mu);
		gen_bump(s);
		for (unsigned i = 0; i < s->threads; i++)
			pthread_join(s->thread[i], NULL);
		pthread_mutex_destroy(&s->mu);
	}
	/* A fork()ed child has none of the threads: it frees the memory. */
	free(s->words);
	free(s->looks);
	free(s);
}

/* close(): stops and joins the threads (the eventfd is the caller's). */
static PyObject *sleeper_close(SleeperObject *self, PyObject *unused)
{
	struct sleeper *s = self->s;
	self->s = NULL;
	if (s) {
		Py_BEGIN_ALLOW_THREADS
		sleeper_stop(s);
		Py_END_ALLOW_THREADS
	}
	Py_RETURN_NONE;
}

static void sleeper_dealloc(SleeperObject *self)
{
	if (self->s)
		sleeper_stop(self->s);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *sleeper_get_threads(SleeperObject *self, void *c)
{
	return PyLong_FromUnsignedLong(self->s ? self->s->threads : 0);
}

static PyObject *sleeper_get_fired(SleeperObject *self, void *c)
{
	return PyLong_FromUnsignedLongLong(
	    self->s ? atomic_load(&self->s->fired) : 0);
}

static PyMethodDef sleeper_methods[] = {
    {"watch", (PyCFunction)sleeper_watch, METH_O,
     "watch([(address, value, shared), ...]): the words to sleep on."},
    {"close", (PyCFunction)sleeper_close, METH_NOARGS,
     "close(): stops and joins the threads."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sleeper_getset[] = {
    {"threads", (getter)sleeper_get_threads, NULL,
     "threads started (one per 127 words)", NULL},
    {"fired", (getter)sleeper_get_fired, NULL,
     "wake-ups handed to the loop", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject PyRally_SleeperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rally._rally._Sleeper",
    .tp_basicsize = sizeof(SleeperObject),
    .tp_dealloc = (destructor)sleeper_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "_Sleeper(eventfd): an event loop's futex_waitv sleepers.",
    .tp_methods = sleeper_methods,
    .tp_getset = sleeper_getset,
    .tp_init = (initproc)sleeper_init,
    .tp_new = PyType_GenericNew,
};
