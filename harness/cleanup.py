"""cleanup: nothing a test starts outlives it.

Every Proc (process.py) and every Server, Client and backlog listener
(peers.py) registers itself here when it is created. A test that forgets to
stop one, or that fails half-way, still leaves nothing behind: the `procs`
fixture of tests/conftest.py calls close_since(mark) after each test, and
close_all() runs at interpreter exit.

An object registered here only needs a close() method that is safe to call
more than once and from any thread.
"""

import atexit
import threading

_lock = threading.Lock()
_objects = []   # (sequence number, object), in creation order
_counter = 0


def register(obj):
    """Remembers obj so that close_since()/close_all() will close it."""
    global _counter
    with _lock:
        _counter += 1
        _objects.append((_counter, obj))
    return obj


def mark():
    """A point in time: close_since(mark()) closes what is created after."""
    with _lock:
        return _counter


def close_since(point):
    """Closes (newest first) every object registered after `point`.

    Errors from close() are collected and the first one is re-raised once
    everything has been closed, so one broken object cannot leak the rest.
    """
    with _lock:
        doomed = [o for n, o in _objects if n > point]
        _objects[:] = [(n, o) for n, o in _objects if n <= point]
    first_error = None
    for obj in reversed(doomed):
        try:
            obj.close()
        except Exception as exc:  # keep closing the others
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


def close_all():
    """Closes everything still registered."""
    close_since(0)


atexit.register(close_all)
