"""rally.aio: asyncio.Barrier and asyncio.Event that span threads and
processes — rally.AsyncBarrier and rally.AsyncEvent.

Within one event loop they behave as asyncio's do, step by step (CPython's
own test_asyncio.test_locks cases are their judge). Underneath is a rally
barrier or event in shared memory, as under rally.Barrier and rally.Event:
pickle one to another process (multiprocessing, fork or spawn) and the
coroutines of every process, each process with its own loop, meet at it;
threads meet there too, through the rally.Barrier of the same object
(AsyncBarrier.barrier).

No thread per waiting coroutine: each event loop has one sleeper — a thread
of its own, plus one per 127 words beyond — that sleeps in futex_waitv(2)
on the futex words of every pending wait of the loop at once and wakes the
loop through an eventfd. A phase completed by a coroutine of the same loop
releases that loop's other waiters at once, without the kernel.

How it differs from asyncio's, on purpose:
- asyncio.Barrier's "draining" and "resetting" states are kept per
  process: a coroutine of this process arriving while this process's
  released waiters have not yet resumed waits for them, as asyncio's does,
  but other processes do not wait for ours (rally has no draining state
  across processes: a phase that completed is complete everywhere).
- A cancelled wait leaves the barrier as asyncio.Barrier's does: if its
  phase still fills, its arrival is taken back (the phase needs one more,
  and, as in asyncio, the next arrival gets the same index as the latest);
  if the phase had all its arrivals, it completes without the cancelled
  wait.
- rally's extras: an action, a timeout (a wait that times out breaks the
  barrier, as threading.Barrier's), robust=True, stats, the name.
"""

import asyncio
import collections
import functools
import os
import threading
import time
import weakref

from . import _rally

# os.getpid() without a system call (asked in every wait: fork guards).
_pid = _rally._pid
_get_running_loop = asyncio.get_running_loop

__all__ = ["Barrier", "Event", "BrokenBarrierError", "OwnerDeadError"]

BrokenBarrierError = asyncio.BrokenBarrierError


class OwnerDeadError(asyncio.BrokenBarrierError, _rally.OwnerDeadError):
    """A participant process of a robust barrier died: the barrier is
    broken until reset(). An asyncio.BrokenBarrierError (and a
    rally.OwnerDeadError)."""


def _asyncio_error(exc):
    """threading's broken-barrier errors, as asyncio's."""
    if isinstance(exc, _rally.OwnerDeadError):
        return OwnerDeadError(*exc.args)
    return BrokenBarrierError(*exc.args)


def _arrived_by(token, at):
    """Whether a pending wait arrived before the reset that took effect
    at `at` (Barrier._reset()); False if the wait ended."""
    try:
        return token.arrived_by(at)
    except ValueError:
        return False


def _broken_kind(exc):
    """How a wait ended, for RALLY_STATS and RALLY_TRACE."""
    return "ownerdead" if isinstance(exc, _rally.OwnerDeadError) \
        else "broken"


# ---- the sleeper of an event loop ---------------------------------------------

# How long a loop's sleeper outlives its last pending wait: a program that
# waits in phases keeps its thread; one that is done lets it go.
_IDLE_SECONDS = 1.0

# A loop's sleeper hangs on the loop itself (an attribute): the loop and
# its sleeper — whose waits' futures and idle timer refer to the loop —
# are one cycle that the collector takes once the loop is dropped (a table
# keyed weakly by the loop kept both for ever: review round 1).
_ATTR = "_rally_aio_sleeper"


class _LoopSleeper:
    """The pending waits of one event loop, and the threads (C) that sleep
    on their futex words. A wait is an object with name, poll() (resolve
    its future if it is over; True then) and futex() ((address, value,
    shared, looks), or None once over; looks: look at it every 50 ms
    slice even if its word keeps its value)."""

    def __init__(self, loop):
        self._loop = weakref.ref(loop)
        self._id = id(loop)
        self._pid = _pid()
        self._efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._threads = _rally._Sleeper(self._efd)
        self._waits = {}  # wait -> None: an ordered set
        # The object's name -> its waits here, in the order they came
        # (a dict as an ordered set: released waiters resume first in,
        # first out, as asyncio's — review round 10: a set's order).
        self._by_name = {}
        self._arm_pending = False
        self._idle = None
        self._overflow = None  # the poll of words beyond the threads'
        self._transient = False  # in _by_id: closed when idle, at once
        self._closed = False
        loop.add_reader(self._efd, self._on_wake)
        # Closed loops take the sleeper with them (asyncio.run() closes
        # its loop within the idle second: the thread and the eventfd
        # waited for the collector — review round 2). A loop whose close
        # cannot be wrapped (no instance attributes) keeps the idle timer
        # and the collector.
        self._wrapped_close = None
        original = loop.close

        def close():
            original()  # refused while the loop runs: the sleeper stays
            self.close()
        try:
            loop.close = close
            self._wrapped_close = close
        except AttributeError:
            pass
        # A loop that is dropped before the idle timer ran: its sleeper
        # goes with it (nothing refers to the loop from here).
        self._finalizer = weakref.finalize(
            loop, _close_threads, self._threads, self._efd)

    def add(self, wait):
        self._waits[wait] = None
        self._by_name.setdefault(wait.name, {})[wait] = None
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._schedule_arm()

    def remove(self, wait):
        if self._waits.pop(wait, 1) is not None:
            return
        names = self._by_name.get(wait.name)
        if names is not None:
            names.pop(wait, None)
            if not names:
                del self._by_name[wait.name]
        # Its word may belong to a handle about to close: a fresh set
        # without it (once per loop iteration, however many went).
        self._schedule_arm()
        if not self._waits and self._transient:
            self.close()
            return
        if not self._waits and self._idle is None and not self._closed:
            loop = self._loop()
            if loop is not None and not loop.is_closed():
                self._idle = loop.call_later(_IDLE_SECONDS,
                                             self._close_if_idle)

    def poke(self, name):
        """Resolves now the waits of this loop on the object `name` that
        are over: a phase completed, a barrier broken, an event set by this
        loop — no round trip through the kernel."""
        for wait in list(self._by_name.get(name, ())):
            wait.poll()

    def _schedule_arm(self):
        if self._arm_pending or self._closed:
            return
        loop = self._loop()
        if loop is None or loop.is_closed():
            # A wait ended as its loop went (collected): nothing to arm.
            return
        self._arm_pending = True
        loop.call_soon(self._arm)

    def _arm(self):
        """Hands the threads the words of every pending wait (which also
        tells a thread that fired that the loop has looked)."""
        self._arm_pending = False
        if self._closed or self._pid != _pid():
            return
        words, moved = {}, False
        for wait in list(self._waits):
            word = wait.futex()  # (address, value, shared, looks)
            if word is None:
                wait.poll()
                continue
            seen = words.setdefault(word[0], word)
            if seen[:3] != word[:3]:
                # The word changed between two waits' reads: the older
                # one's change may be all there is to wake us. Look again.
                moved = True
            elif word[3] and not seen[3]:
                words[word[0]] = word  # one wait on it needs looks
        if self._closed:
            # A wait polled above was the last of a transient sleeper,
            # which closed with it (review round 16: watch() of the
            # closed threads raised into the loop's handler).
            return
        words = list(words.values())
        if len(words) > _rally._SLEEPER_WORDS_MAX:
            # More words than the threads take (64 x 127): the rest are
            # looked at every millisecond (review round 3: they hung).
            words = words[:_rally._SLEEPER_WORDS_MAX]
            if self._overflow is None:
                self._overflow = self._loop().call_later(
                    _OVERFLOW_POLL_SECONDS, self._poll_overflow)
        self._threads.watch(words)
        if moved:
            for wait in list(self._waits):
                wait.poll()
            self._schedule_arm()

    def _poll_overflow(self):
        self._overflow = None
        if not self._closed:
            self._on_wake()

    def _on_wake(self):
        if self._pid != _pid():
            return  # a fork()ed child's copy: the parent's sleeper
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            pass
        for wait in list(self._waits):
            wait.poll()
        self._arm()

    def _close_if_idle(self):
        self._idle = None
        if not self._waits:
            self.close()

    def close(self):
        if self._closed:
            return
        self._closed = True
        loop = self._loop()
        # In a fork()ed child the loop's epoll set is still the parent's:
        # removing the eventfd there would take it from the parent's
        # loop (review round 8: the parent's wait was never woken).
        if loop is not None and not loop.is_closed() and \
                self._pid == _pid():
            loop.remove_reader(self._efd)
        if loop is not None and getattr(loop, _ATTR, None) is self:
            delattr(loop, _ATTR)
        ref = _by_id.get(self._id)
        if ref is not None and ref() in (self, None):
            del _by_id[self._id]
        if loop is not None and self._wrapped_close is not None and \
                vars(loop).get("close") is self._wrapped_close:
            del loop.close
        self._wrapped_close = None
        self._finalizer()


def _close_threads(threads, efd):
    threads.close()
    os.close(efd)


# Loops that take no instance attributes (uvloop's): their sleepers, by
# the loop's id, each closed as soon as its last wait ends — so that
# nothing of the table refers to an idle loop (review round 5: such loops
# could not wait at all).
_by_id = {}


def _lookup(loop):
    s = getattr(loop, _ATTR, None)
    if s is None:
        ref = _by_id.get(id(loop))
        s = ref() if ref is not None else None
        if s is not None and s._loop() is not loop:
            s = None
    return s


def _sleeper(loop):
    s = _lookup(loop)
    if s is None or s._closed or s._pid != _pid():
        s = _LoopSleeper(loop)
        try:
            setattr(loop, _ATTR, s)
        except AttributeError:
            s._transient = True
            # Weakly: the loop's reader keeps the sleeper while the loop
            # lives; a loop dropped with waits pending goes, and takes
            # them back (review round 7: the table kept it).
            key = id(loop)

            def gone(ref, key=key):
                if _by_id.get(key) is ref:
                    del _by_id[key]
            _by_id[key] = weakref.ref(s, gone)
    return s


def _existing_sleeper(loop):
    s = _lookup(loop)
    # (a fork()ed child's copy is the parent's: its waits are the parent's)
    return s if s is not None and not s._closed and s._pid == _pid() \
        else None


def _fork_guard(obj):
    """In a fork()ed child, obj's copy starts afresh: its loop and its
    waits were the parent's (review round 2)."""
    if obj._loop_pid is not None and obj._loop_pid != _pid():
        obj._forked()


def _loop_of(obj):
    """The running loop; RuntimeError if obj is bound to another. Binds
    nothing (asyncio's primitives bind when they first make a future:
    _bind; review round 5)."""
    loop = asyncio.get_running_loop()
    _fork_guard(obj)
    if obj._loop is not None and loop is not obj._loop():
        raise RuntimeError(f"{obj!r} is bound to a different event loop")
    return loop


def _running(obj):
    """The running loop, for calls that make no future unless they must
    (reset, abort): they check no binding, as asyncio's do not (review
    round 6)."""
    loop = asyncio.get_running_loop()
    _fork_guard(obj)
    return loop


def _bind(obj, loop):
    """The loop obj makes futures in from now on, as asyncio's
    primitives bind theirs. Weakly: an object that outlives its loop must
    not keep it — with the waits left pending in it, whose arrivals are
    taken back only once the loop and their coroutines are collected
    (review round 1). Looked at and made under a lock, as asyncio's
    _LoopBoundMixin does (review round 34: the first waits of two loops'
    threads, switched between the look and the binding, both bound)."""
    if obj._loop is None:
        with _bind_lock:
            if obj._loop is None:
                obj._loop = weakref.ref(loop)
                obj._loop_pid = _pid()
    if loop is not obj._loop():
        raise RuntimeError(f"{obj!r} is bound to a different event loop")


_bind_lock = threading.Lock()


def _fresh_bind_lock():
    # (a thread of the parent may have held it as it forked)
    global _bind_lock
    _bind_lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_bind_lock)


def _bound_loop(obj):
    return obj._loop() if obj._loop is not None else None


# ---- Barrier --------------------------------------------------------------------

# How long a wait may wait in place, the loop having nothing else to run
# (Barrier._spun): rally's own spin, yield and sleep, without the GIL.
_SPIN_NS = 50000
# ... and waits released so go back to the loop once this long has passed
# since one last did: the loop's timers, I/O and other tasks run at least
# this often.
_YIELD_SECONDS = 0.001
# How often the waits beyond the sleeper's words are looked at.
_OVERFLOW_POLL_SECONDS = 0.001

_FILLING, _DRAINING, _RESETTING, _BROKEN = (
    "filling", "draining", "resetting", "broken")


class _BarrierWait:
    """A coroutine's pending barrier wait: its token and future."""

    __slots__ = ("pid", "owner", "name", "token", "fut", "sleeper", "timer",
                 "released")

    def __init__(self, owner, token, fut, sleeper):
        self.pid = _pid()
        self.owner = owner
        self.name = owner._name
        self.token = token
        self.fut = fut
        self.sleeper = sleeper
        self.timer = None
        self.released = False  # counted among this process's draining

    def poll(self):
        if self.fut.done():
            if self.fut.cancelled() and not self.released:
                self._cancelled_poll()
            return True
        try:
            done = self.token.test()
        except threading.BrokenBarrierError as e:
            self._end(_asyncio_error(e), _broken_kind(e))
            return True
        if done:
            self._end(None, "released")
        return done

    def _cancelled_poll(self):
        """Cancelled, not yet unwound: if its phase completed meanwhile
        (with its arrival), it is among the released that drain until it
        leaves, as asyncio counts such a waiter until it has left (review
        round 8)."""
        try:
            done = self.token.test()
        except threading.BrokenBarrierError:
            return
        if done:
            self.released = True
            self.owner._released()
            self.sleeper.remove(self)

    def futex(self):
        return None if self.fut.done() else self.token.futex()

    def expire(self):
        """The wait's timeout: it breaks the phase if it still fills."""
        self.timer = None
        if self.fut.done() or self.pid != _pid():
            return  # (a fork()ed child's copy: the parent's wait)
        try:
            outcome = self.token.expire()
        except threading.BrokenBarrierError as e:
            self._end(_asyncio_error(e), _broken_kind(e))
            return
        if outcome > 0:
            self._end(None, "released")
        elif outcome < 0:
            # This deadline broke the phase, as threading's timeouts do.
            self._end(BrokenBarrierError("the wait timed out"), "timeout")
            # This process's other waits know now.
            self.sleeper.poke(self.name)
        # else every party arrived and the action runs: wait on.

    def _end(self, exc, kind):
        self.sleeper.remove(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.token.finish(kind)
        if exc is not None:
            self.fut.set_exception(exc)
            return
        self.released = True
        self.owner._released(self.token)
        self.fut.set_result(True)

    def cancel(self):
        """The coroutine was cancelled (or its wait failed before it was
        registered): its arrival is taken back if its phase still
        fills."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.sleeper is not None:
            self.sleeper.remove(self)
        if self.fut is not None and self.fut.done() and \
                not self.fut.cancelled():
            return  # released (counted) or broken: nothing to take back
        if self.pid != _pid():
            # A fork()ed child's copy of the parent's wait, cancelled by
            # the child's loop as it ends: the arrival is the parent's
            # (review round 7: the child took it back).
            return
        if self.released:
            # Its phase completed while it was cancelled (counted).
            self.token.finish("released")
            return
        kind = "withdrawn"
        try:
            if not self.token.withdraw():
                # Too late: the phase had all its arrivals, ours too; it
                # completes without this coroutine.
                self.owner._released_cancelled()
                kind = "released"
        except threading.BrokenBarrierError as e:
            kind = _broken_kind(e)
        self.token.finish(kind)


class _BusyWait:
    """A coroutine waiting, before it arrives or resets, for another
    party's action, completion or reset to end."""

    __slots__ = ("name", "barrier", "fut", "sleeper")

    def __init__(self, barrier, fut, sleeper):
        self.name = barrier.name
        self.barrier = barrier
        self.fut = fut
        self.sleeper = sleeper

    def poll(self):
        if self.fut.done():
            return True
        if self.barrier._busy():
            return False
        self.give_up()
        return True

    def futex(self):
        return None if self.fut.done() else self.barrier._busy_futex()

    def give_up(self):
        """Over (free, or out of time): the coroutine looks itself."""
        if not self.fut.done():
            self.fut.set_result(None)
        self.end()

    def end(self):
        self.sleeper.remove(self)


class Barrier:
    """asyncio.Barrier's API across threads and processes.

    Barrier(parties, action=None, timeout=None, *, robust=False,
    stats=False): `parties` coroutines (and threads, through .barrier)
    of any processes meet; `action` runs in the last to arrive before any
    is released; a wait that lasts longer than `timeout` seconds breaks
    the barrier (BrokenBarrierError, as threading.Barrier's)."""

    def __init__(self, parties, action=None, timeout=None, *, robust=False,
                 stats=False):
        self._init(_rally.Barrier(parties, action, timeout, robust=robust,
                                  stats=stats), timeout)

    def _init(self, barrier, timeout):
        self._b = barrier
        self._timeout = timeout
        # Fixed for the object's life: looked up once, not in every wait.
        self._limit = _rally._timeout_s(timeout, True)
        self._name = barrier.name
        self._forked()

    def _forked(self):
        """The state of this object's own loop (all of it, in a fork()ed
        child, was the parent's)."""
        self._loop = None
        self._loop_pid = None
        self._mode = _FILLING  # this object's: filling, draining, resetting
        # Its coroutines inside wait(), by their arrivals' tokens (an
        # ordered set), and those of them the last reset, or an abort
        # through this object since they entered, broke.
        self._inside = {}
        self._broken_by_reset = frozenset()
        self._broken_by_abort = frozenset()
        # What abort() and reset() from another loop left for this one.
        self._follow_ups = collections.deque()
        self._draining = 0  # ... released and not yet resumed
        self._blocked = []  # futures of coroutines waiting for a mode change
        self._spin_skip = self._spin_misses = 0  # see _spun()
        self._suspended_at = 0.0  # loop.time() its waits last let go

    @classmethod
    def from_barrier(cls, barrier):
        """An AsyncBarrier on the rally.Barrier `barrier`: its coroutines
        meet the threads that wait on `barrier` itself."""
        if not isinstance(barrier, _rally.Barrier):
            raise TypeError("from_barrier() takes a rally.Barrier")
        self = cls.__new__(cls)
        self._init(barrier, barrier._timeout)
        return self

    @property
    def barrier(self):
        """The rally.Barrier underneath: threads wait on it."""
        return self._b

    def __reduce__(self):
        return (_rebuild_barrier, (type(self), self._b))

    def __repr__(self):
        res = super().__repr__()
        extra = self._state
        if not self.broken:
            extra += f", waiters:{self.n_waiting}/{self.parties}"
        return f"<{res[1:-1]} [{extra}]>"

    async def __aenter__(self):
        return await self.wait()

    async def __aexit__(self, *args):
        pass

    @property
    def _count(self):
        """Its coroutines inside wait() (asyncio.Barrier's _count, which
        CPython's own tests read)."""
        _fork_guard(self)  # (review round 32: a child read the parent's)
        return len(self._inside)

    @property
    def _state(self):
        _fork_guard(self)
        return _BROKEN if self._b.broken else self._mode

    async def wait(self, timeout=None):
        """Waits until `parties` callers have arrived in this phase (the
        phase it arrives in) and returns the arrival index, 0 to parties
        - 1. BrokenBarrierError if the barrier is broken, or breaks while
        waiting (abort, a reset, a timeout, an action that raised)."""
        # No binding yet: a wait that never suspends (a last arrival)
        # runs from any loop, as asyncio's (review round 11); one that
        # waits binds, or raises if bound to another loop.
        # The steps of _running (_fork_guard), _bind and _spun's first
        # looks are written out here: this is the hot path of a wait
        # across processes, where each µs of Python a wait costs makes a
        # phase of 4 processes on 2 CPUs about 2.5 µs longer.
        loop = _get_running_loop()
        if self._loop_pid is not None and self._loop_pid != _pid():
            self._forked()
        if timeout is None and self._limit is None:
            deadline = None
        else:
            limit = self._limit if timeout is None else \
                _rally._timeout_s(timeout, True)
            deadline = None if limit is None else loop.time() + limit
        b = self._b
        # The arrival, made at once if nothing is in its way (a drain,
        # reset, break, action or completion); else _arrive looks.
        if self._mode is _FILLING and not b.broken and not b._busy():
            token = self._arrival(loop, None if deadline is None else
                                  max(deadline - loop.time(), 0))
        else:
            token = await self._arrive(loop, deadline)
        if token.last:
            return self._completed(loop, token)
        ref = self._loop
        if ref is None or ref() is not loop:
            self._bind_or_take_back(loop, token)
        released = False
        try:
            if self._spin_skip:
                self._spin_skip -= 1
            elif not getattr(loop, "_ready", True):
                released = self._spun(loop, token, deadline)
            if not released:
                wait = await self._wait(loop, token, deadline)
                released = wait.released
                self._suspended_at = loop.time()
            elif loop.time() - self._suspended_at >= _YIELD_SECONDS:
                # Released in place: the loop has not run anything
                # else for a while — timers, I/O, other tasks (review
                # round 2: a partner that kept pace starved them).
                await asyncio.sleep(0)
                self._suspended_at = loop.time()
            if self._follow_ups:
                self._follow_up()
            # Released, it raises if an abort or a reset through this
            # object came before it resumed, as asyncio's; anything else
            # that broke the barrier since — a timeout in the next phase,
            # another party's abort — leaves its phase complete, as a
            # thread's (review round 23: it raised for a timeout).
            # A reset's mark stands if the barrier broke since (review
            # round 35: a later break undid it).
            if token in self._broken_by_abort or \
                    (self._mode is _RESETTING and
                     token in self._broken_by_reset):
                raise BrokenBarrierError("Abort or reset of barrier")
            return token.index
        finally:
            # (absent in a fork()ed child that started the object afresh)
            self._inside.pop(token, None)
            self._exit(released)

    def _completed(self, loop, token):
        """The last arrival, which completed its phase: it never suspends.
        The object's draining state is its loop's, kept in that loop's
        thread: only a last arrival made in that loop drains (and
        releases that loop's waiters of the phase at once). From another
        loop, or with none bound (no coroutine of the object waits
        anywhere), it touches nothing of the object's — the bound loop's
        waiters are released through their sleeper (review round 15:
        written from another loop's thread, the state raced that loop's,
        whose blocked coroutine was never woken). The waits of this
        loop on the barrier go at once all the same, made through
        another object on it (from_barrier twice, a copy; review rounds
        19 and 21): _poke."""
        token.finish("released")
        ref = self._loop
        here = ref is not None and ref() is loop  # _bound_loop(self) is loop
        if here:
            self._released()
        self._poke(loop)
        if here:
            self._exit(True)
        return token.index

    def _bind_or_take_back(self, loop, token):
        """A wait that will wait (in place or suspended) binds the object
        to its loop before it does — its release drains the object's
        state in this thread — or, bound to another loop, raises
        RuntimeError as asyncio's, its arrival taken back."""
        try:
            _bind(self, loop)
        except BaseException:
            self._inside.pop(token, None)
            _BarrierWait(self, token, None, None).cancel()
            raise

    def _arrival(self, loop, left):
        """The arrival itself; a waiter's token is inside (_inside) as it
        returns — put there by the arrival, before another thread can
        look (review round 34). One that breaks its phase as it arrives —
        the last, whose action raised or whose timeout was 0 — lets this
        loop's waiters of the phase go at once, as a completing last
        arrival does, not through the sleeper (review round 19)."""
        try:
            return self._b._arrive(left, self._inside)
        except BaseException as e:
            self._poke(loop)
            if isinstance(e, threading.BrokenBarrierError):
                raise _asyncio_error(e) from None
            raise

    async def _arrive(self, loop, deadline):
        """The arrival, in the loop, once it would not wait for another
        party's running action, completion or reset: until then the
        coroutine waits for that in the loop, on the barrier's word,
        through the sleeper (review rounds 2-4: in the loop it stalled
        the loop; in the executor it ran the action off the loop, held a
        thread per wait and ignored timeouts and cancellation). At the
        deadline it arrives all the same, with a timeout of 0: as a timed
        arrival of threading's, the last breaks its phase. A reset that
        runs leaves the barrier broken until it ends: busy is looked at
        first (review round 14: such an arrival raised, where a thread's
        waits for the reset and arrives after it)."""
        while True:
            # Block while this object's released waiters drain, or a
            # reset made here is not yet over (asyncio.Barrier's _block)
            # — looked at again after each wait below (review round 5).
            while self._state in (_DRAINING, _RESETTING):
                await self._changed(loop)
            if not self._b._busy():
                if self._state is _BROKEN:
                    try:  # OwnerDeadError if a robust participant died
                        self._b._raise_broken()
                    except threading.BrokenBarrierError as e:
                        raise _asyncio_error(e) from None
                break
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            await self._until_free(loop, left)
        left = None if deadline is None else max(deadline - loop.time(), 0)
        return self._arrival(loop, left)

    async def _until_free(self, loop, left, bind=True):
        """Until no action, completion or reset runs (or `left` seconds
        pass): cancellable, and holding nothing. A wait's binds the
        object to the loop; a reset's does not (review round 7)."""
        if bind:
            _bind(self, loop)
        fut = loop.create_future()
        sleeper = _sleeper(loop)
        wait = _BusyWait(self._b, fut, sleeper)
        sleeper.add(wait)
        timer = None
        if left is not None:
            timer = loop.call_later(left, wait.give_up)
        try:
            await fut
        finally:
            if timer is not None:
                timer.cancel()
            wait.end()

    def _spun(self, loop, token, deadline):
        """A short wait right here, without a trip through the loop and
        its sleeper — only when the loop has nothing else to run now (its
        ready queue is empty: it would go to sleep next; wait() looks): the
        other parties are elsewhere, and a phase that completes within
        _SPIN_NS costs no wake-up. Waits that found nothing in that time
        make the next ones skip it (1, 3, 7 ... up to 255 of them: wait()
        counts them down), so a barrier whose parties come late costs
        little. Never past the wait's deadline (review round 12: a
        wait(timeout=0) was released in place, where threading's breaks
        the barrier). True if released."""
        ns = _SPIN_NS
        if deadline is not None:
            ns = min(ns, int((deadline - loop.time()) * 1e9))
            if ns <= 0:
                return False
        try:
            done = token.poll(ns)
        except threading.BrokenBarrierError as e:
            token.finish(_broken_kind(e))
            raise _asyncio_error(e) from None
        if not done:
            self._spin_misses = min(self._spin_misses * 2 + 1, 255)
            self._spin_skip = self._spin_misses
            return False
        self._spin_misses = 0
        token.finish("released")
        self._released(token)
        self._poke(loop)
        return True

    async def _wait(self, loop, token, deadline):
        """Waits for the token's phase. Everything from the arrival on is
        inside the try: a failure (no eventfd, say) takes the arrival
        back (review round 5); and the loop's sleeper is looked up here,
        after the arrival's own waits, during which the one there was may
        have closed (review round 6: a wait registered with a closed
        sleeper was never woken)."""
        wait = _BarrierWait(self, token, None, None)
        try:
            _bind(self, loop)
            wait.fut = loop.create_future()
            wait.sleeper = _sleeper(loop)
            wait.sleeper.add(wait)
            if deadline is not None and deadline <= loop.time():
                # Out of time already (a timeout of 0): it breaks the
                # phase now, as threading's does, before anyone else
                # arrives (review round 12).
                wait.expire()
            elif deadline is not None:
                wait.timer = loop.call_at(deadline, wait.expire)
            await wait.fut
        except asyncio.CancelledError:
            wait.cancel()
            if wait.released:
                self._exit_released_cancelled()
            raise
        except BaseException:
            wait.cancel()
            raise
        return wait

    def _exit_released_cancelled(self):
        # wait() counts its own exit; a cancelled released wait raises
        # out of _wait before wait() learns of it: uncount it there.
        self._draining -= 1
        self._draining_done()

    def _released(self, token=None):
        """A phase released a coroutine of this process (the wait of
        `token`, if inside): draining (once the waits a reset broke have
        left, if it is resetting)."""
        if token in self._inside:
            self._inside[token] = True  # released: an abort makes it raise
        self._draining += 1
        if self._mode is _FILLING:
            self._mode = _DRAINING

    def _released_cancelled(self):
        """A cancelled coroutine's phase completed with its arrival (too
        late to take back): nothing to drain, it never resumes as
        released."""

    def _draining_done(self):
        if self._mode is _DRAINING and self._draining == 0:
            self._mode = _FILLING
            self._notify_all()

    def _exit(self, released):
        if released:
            self._draining -= 1
        if self._mode is _RESETTING and not self._any_reset_broke():
            # Released waits of a phase since the reset still drain.
            self._mode = self._filling_or_draining()
            self._broken_by_reset = frozenset()
        if self._mode is _DRAINING and self._draining <= 0:
            self._draining = 0
            self._mode = _FILLING
        if not self._inside and self._broken_by_abort:
            self._broken_by_abort = frozenset()
        if self._blocked and (not self._inside or self._mode is _FILLING):
            self._notify_all()

    async def _changed(self, loop):
        _bind(self, loop)
        fut = loop.create_future()
        self._blocked.append(fut)
        try:
            await fut
        finally:
            self._blocked.remove(fut)

    def _notify_all(self):
        for fut in self._blocked:
            # A closed loop's futures take no results (a wait ended as
            # its loop was collected).
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_result(None)

    def _in_own_loop(self, loop, fn):
        """fn() now if the call is made in the object's own loop (or it
        has none), else in that loop's thread (review rounds 6 and 7) —
        from the loop's next callback, or sooner, from a wait of that loop
        that resumes first (_follow_up). In its own loop, what earlier
        calls from other loops left runs first (review round 32: left
        for later, an older reset's overwrote a newer one's state)."""
        bound = _bound_loop(self)
        if bound is None or bound is loop:
            self._follow_up()
            fn()
        elif not bound.is_closed():
            self._follow_ups.append(fn)
            try:
                bound.call_soon_threadsafe(self._follow_up)
            except RuntimeError:
                # Closed since it looked (review round 33): the call took
                # effect, and that loop has no wait left to follow up.
                pass

    def _follow_up(self):
        """Runs, in the object's loop, what abort() and reset() made from
        another loop left for it. A released wait runs it before it looks
        whether to raise: the call returned before it resumed (review
        round 28: its resume came first in the loop's queue, and it
        returned its index)."""
        while self._follow_ups:
            try:
                fn = self._follow_ups.popleft()
            except IndexError:
                return
            fn()

    def _poke(self, loop):
        """Resolves now the waits on the barrier that `loop` (running,
        in this thread) holds — this object's if it is bound there, and
        any other object's on the same barrier (review round 21: one bound
        to another loop left them to the kernel). Another loop's waits
        are its sleeper's to find."""
        s = getattr(loop, _ATTR, None)  # _existing_sleeper(), quicker
        if s is None and _by_id:
            s = _lookup(loop)
        if s is not None and s._by_name and not s._closed and \
                s._pid == _pid():
            s.poke(self._name)

    async def reset(self):
        """Returns the barrier to its empty, unbroken state; waiting
        coroutines (and threads, and other processes' waiters) raise
        BrokenBarrierError."""
        loop = _running(self)
        # It would wait for a running action, completion or reset: that
        # wait is made in the loop first (a cancelled reset resets
        # nothing, as asyncio's).
        while self._b._busy():
            await self._until_free(loop, None, bind=False)
        # The waits inside now are those this reset breaks (or, released,
        # makes raise as they resume). Taken with the GIL, just before:
        # from another loop's thread too, as a whole.
        broken = frozenset(self._inside)
        at = self._b._reset()
        # ... and those that arrived after that look and before the reset
        # took effect, released or broken by it: a thread switch can come
        # between (review round 34).
        broken |= frozenset(t for t in list(self._inside)
                            if _arrived_by(t, at))
        self._poke(loop)
        # This object's state belongs to its loop's thread (review round
        # 7: written from another loop's, it raced that loop's own).
        self._in_own_loop(loop, functools.partial(self._after_reset, broken))

    def _after_reset(self, broken):
        """Resetting while the waits the reset broke have not left. Those
        waits, not a count: made from another loop, this runs in the
        object's own loop later, and waits of that loop may have arrived
        in the fresh phase meanwhile (review round 13: counted, they kept
        the object resetting until they left — which needed the very
        arrivals the resetting state held back). Added to those of resets
        before it that are still inside: one made from another loop may
        come after a later one made here (review round 34: its thread
        switched before it left this; it overwrote the later reset's)."""
        self._broken_by_reset = frozenset(
            (self._broken_by_reset | broken) & self._inside.keys())
        if self._any_reset_broke():
            self._mode = _RESETTING
        else:
            # A phase of this loop may have completed since the reset:
            # its released waits drain (review round 14: overwritten).
            self._mode = self._filling_or_draining()
        self._notify_all()

    def _filling_or_draining(self):
        return _DRAINING if self._draining > 0 else _FILLING

    def _any_reset_broke(self):
        return any(t in self._inside for t in self._broken_by_reset)

    async def abort(self):
        """Breaks the barrier: waits raise BrokenBarrierError until
        reset()."""
        loop = _running(self)
        # The waits released before the abort took effect it makes raise
        # as they resume, as asyncio's: those whose phase had completed,
        # whether or not the loop saw it yet (review round 26). The abort
        # tells where it took effect, and each wait's token whether it
        # came before (review round 35: looks at the waits before and
        # after the abort, with a thread switch between, missed a wait
        # released before a deferred abort and took one released after a
        # reset that followed it). Left for the next phase (an action
        # ran), the running phase completes after it, and its waits are
        # released (review round 24). Taken at once (from another loop's
        # thread too), as reset's.
        at = self._b._abort()
        broken = frozenset(t for t in list(self._inside)
                           if _arrived_by(t, at))
        self._poke(loop)
        self._in_own_loop(loop, functools.partial(self._after_abort, broken))

    def _after_abort(self, broken):
        """In the object's own loop (made from another, later): those
        still inside join the ones earlier aborts broke."""
        self._broken_by_abort = frozenset(
            (self._broken_by_abort | broken) & self._inside.keys())
        self._notify_all()

    @property
    def parties(self):
        return self._b.parties

    @property
    def n_waiting(self):
        """Callers (of every process) waiting in the current phase; 0
        while this process's released waiters drain, as in asyncio."""
        return self._b.n_waiting if self._state is _FILLING else 0

    @property
    def broken(self):
        return self._b.broken

    @property
    def name(self):
        return self._b.name

    def close(self):
        """Lets go of the shared barrier early (it goes when the object
        does); waits in flight keep it open until they end."""
        self._b.close()


def _rebuild_barrier(cls, barrier):
    return cls.from_barrier(barrier)


# ---- Event ----------------------------------------------------------------------


class _EventWait:
    __slots__ = ("name", "watch", "fut", "sleeper")

    def __init__(self, name, watch, fut, sleeper):
        self.name = name
        self.watch = watch
        self.fut = fut
        self.sleeper = sleeper

    def poll(self):
        if self.fut.done():
            return True
        if not self.watch.done():
            return False
        self.fut.set_result(True)
        self.end()
        return True

    def futex(self):
        return None if self.fut.done() else self.watch.futex()

    def end(self):
        self.sleeper.remove(self)
        self.watch.finish()


class Event:
    """asyncio.Event's API across threads and processes: set() in any
    process (or thread, through .event) wakes every coroutine waiting in
    any process."""

    def __init__(self):
        self._init(_rally.Event())

    def _init(self, event):
        self._e = event
        self._forked()

    def _forked(self):
        self._waiters = collections.deque()
        self._loop = None
        self._loop_pid = None

    @classmethod
    def from_event(cls, event):
        """An AsyncEvent on the rally.Event `event`."""
        if not isinstance(event, _rally.Event):
            raise TypeError("from_event() takes a rally.Event")
        self = cls.__new__(cls)
        self._init(event)
        return self

    @property
    def event(self):
        """The rally.Event underneath: threads wait on it."""
        return self._e

    def __reduce__(self):
        return (_rebuild_event, (type(self), self._e))

    def __repr__(self):
        res = super().__repr__()
        extra = "set" if self.is_set() else "unset"
        _fork_guard(self)  # (a child's copy has none of the parent's)
        if self._waiters:
            extra = f"{extra}, waiters:{len(self._waiters)}"
        return f"<{res[1:-1]} [{extra}]>"

    def is_set(self):
        return self._e.is_set()

    def set(self):
        """Sets the flag: every waiter, of every process, returns True."""
        self._e.set()
        # In a running loop its waits on the event are released now, as
        # asyncio's are, in the order they came — this object's and any
        # other's on it (from_event, a copy): its sleeper's poke (review
        # rounds 21 and 22). From another thread, the sleeper wakes the
        # loop.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        s = _existing_sleeper(running)
        if s is not None:
            s.poke(self._e.name)

    def clear(self):
        """Clears the flag. A waiter blocked when set() came still
        returns True."""
        self._e.clear()

    async def wait(self):
        """Returns True once the flag is set (at once if it is)."""
        if self._e.is_set():
            return True
        loop = _loop_of(self)
        watch = self._e._watch()
        if watch is None:
            return True
        fut = wait = None
        try:
            _bind(self, loop)
            fut = loop.create_future()
            self._waiters.append(fut)
            sleeper = _sleeper(loop)
            wait = _EventWait(self._e.name, watch, fut, sleeper)
            sleeper.add(wait)
            await fut
            return True
        finally:
            # Whatever failed, nothing is left (review round 6).
            if fut is not None and fut in self._waiters:
                # (not there in a fork()ed child that started afresh)
                self._waiters.remove(fut)
            if wait is not None:
                wait.end()
            else:
                watch.finish()

    @property
    def name(self):
        return self._e.name

    def close(self):
        self._e.close()


def _rebuild_event(cls, event):
    return cls.from_event(event)
