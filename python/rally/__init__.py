"""rally: fast, dependable barriers and events for threads and processes.

rally.Barrier and rally.Event have the API of threading.Barrier and
threading.Event (CPython's own test.lock_tests is their judge) and work
across processes as multiprocessing's do: pass one to a
multiprocessing.Process, with the fork or the spawn start method, and the
child uses the same object. Underneath is librally, a C library built on
atomics and futexes: crossing a barrier costs a few atomic operations while
nobody has to sleep, and waits release the GIL.

    import rally, threading
    b = rally.Barrier(4, action=lambda: print("phase done"), timeout=5.0)
    def worker():
        for _ in range(1000):
            b.wait()
    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()

rally.AsyncBarrier and rally.AsyncEvent (module rally.aio) are the same
for asyncio: the API of asyncio.Barrier and asyncio.Event, across
processes and threads, one sleeping thread per event loop.

Errors: threading.BrokenBarrierError (re-exported as
rally.BrokenBarrierError) where threading raises it, and
rally.OwnerDeadError, a subclass, when a participant process of a robust
barrier died.
"""

import atexit
import os

from ._rally import Barrier, BrokenBarrierError, Event, OwnerDeadError
from ._rally import _after_fork_in_child, _owned, _unlink

__all__ = ["Barrier", "Event", "BrokenBarrierError", "OwnerDeadError",
           "AsyncBarrier", "AsyncEvent"]


def __getattr__(name):
    """rally.AsyncBarrier and rally.AsyncEvent (rally.aio's Barrier and
    Event): imported on first use, so that `import rally` does not import
    asyncio."""
    if name in ("AsyncBarrier", "AsyncEvent"):
        from . import aio
        return aio.Barrier if name == "AsyncBarrier" else aio.Event
    raise AttributeError(f"module 'rally' has no attribute {name!r}")
__version__ = "0.1.0"


def _shm_path(obj):
    kind = "b" if isinstance(obj, Barrier) else "e"
    return f"/rally.{kind}.{obj.name}"


def _track(path):
    """From now on multiprocessing's resource tracker removes the name
    should this process end before it does (killed, or through os._exit).
    Only once a name can be reached from another process: a program of
    threads alone starts no tracker."""
    if _tracked.get(path) != os.getpid():
        from multiprocessing import resource_tracker
        resource_tracker.register(path, "shared_memory")
        _tracked[path] = os.getpid()


def _on_share(obj):
    """Called (from C) when the creator pickles obj for another process,
    and when a fork()ed child creates obj (it may end through os._exit)."""
    _track(_shm_path(obj))


def _before_fork():
    """A fork (multiprocessing's fork start method too, which pickles
    nothing) gives the child every object of this process: the names it
    owns become reachable from another process."""
    for kind, name in _owned():
        _track(f"/rally.{kind}.{name}")


# In the child: the calls in flight of the parent's other threads, which
# the child does not have, must not keep its handles open (a robust
# barrier's participant slot with them).
os.register_at_fork(before=_before_fork,
                    after_in_child=_after_fork_in_child)


def _on_unlink(path):
    """Called (from C) when the creator removed a name."""
    if _tracked.get(path) == os.getpid():
        del _tracked[path]
        from multiprocessing import resource_tracker
        resource_tracker.unregister(path, "shared_memory")


@atexit.register
def _unlink_tracked_at_exit():
    """Objects may outlive the interpreter's exit handlers: remove the
    tracked names while the resource tracker can still be told (a fork()ed
    child's copy of the table is not its own)."""
    for path, pid in list(_tracked.items()):
        if pid == os.getpid():
            _unlink(path[7], path[9:])  # "/rally.b.NAME"
            _on_unlink(path)


def _on_participant(obj):
    """Called (from C) when this process became a participant of a robust
    barrier it did not create (unpickled, or inherited through fork): a
    multiprocessing child ends its participation as it exits normally (it
    leaves through os._exit, after multiprocessing's exit finalizers)."""
    from multiprocessing import util
    util.Finalize(None, obj.close, exitpriority=10)


_tracked = {}  # shm path -> the pid that registered it with the tracker
