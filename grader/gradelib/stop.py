"""stop: the grader stops cleanly when it is told to.

SIGINT (Ctrl-C), SIGTERM (a CI timeout, a batch script) and SIGHUP (a
closed terminal) make the grader stop everything it started, in every
sandbox, before it exits:

    stop.install()                  # once, in the main thread
    with stop.watching(popen.pid):  # a process group the grader started
        popen.wait()
    stop.check()                    # raises Stopped once a signal came

On a signal the handler kills, at once and from the main thread:
- every process group registered with watching() (the pytest runs and the
  builds, each started in a session of its own);
- every process of every sandbox uid in use (as root), which catches a
  program that left its group;
- every process descended from the grader, found through /proc while the
  tree is intact; the grader first becomes a "child subreaper", so a
  process whose parent is killed meanwhile is re-parented to the grader
  instead of to init, and is found in the next round (this is what works
  without root).
The grading threads then find their runs dead, raise Stopped at their next
check(), and release their work folders; the command line writes what was
graded and names what was not.
"""

import ctypes
import os
import signal
import threading
import time
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_CHILD_SUBREAPER = 36

_lock = threading.Lock()
_groups = set()         # process group ids being waited for
_uids = set()           # sandbox uids in use
_received = []          # the signal numbers received


class Stopped(Exception):
    """The grader was told to stop (str: which signal)."""


def install():
    """Handles SIGINT, SIGTERM and SIGHUP. Main thread only."""
    for sig in SIGNALS:
        signal.signal(sig, _handler)


def _become_subreaper():
    """Orphans below this process are re-parented to it from now on. Only
    done when stopping: while grading, the grader would have to reap them,
    and could steal the exit status of a child it waits for."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass            # not Linux: the other two ways still apply


def requested():
    """The name of the signal that asked to stop, or None."""
    return signal.Signals(_received[0]).name if _received else None


def check():
    """Raises Stopped when a stop was requested."""
    if _received:
        raise Stopped(requested())


@contextmanager
def watching(pgid):
    """Registers a process group (a pid started with start_new_session)
    for the time of the block; a stop kills it."""
    with _lock:
        _groups.add(pgid)
    try:
        if _received:
            _kill_group(pgid)
        yield
    finally:
        with _lock:
            _groups.discard(pgid)


def add_uid(uid):
    with _lock:
        _uids.add(uid)


def remove_uid(uid):
    with _lock:
        _uids.discard(uid)


def _handler(signum, frame):
    first = not _received
    _received.append(signum)
    if first:
        kill_everything()


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_everything():
    """Kills every registered group, every sandbox uid's processes and
    every descendant of this process, until none is left (a fork bomb
    races the first rounds)."""
    from . import plugin
    _become_subreaper()
    with _lock:
        groups, uids = list(_groups), list(_uids)
    for pgid in groups:
        _kill_group(pgid)
    for uid in uids:
        plugin.sweep(uid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = descendants()
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap()
        time.sleep(0.02)


def _reap():
    """Collects the exit status of dead children (the orphans re-parented
    to this subreaper), so they do not stay zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def descendants(root=None):
    """The pids of the live (not zombie) processes below `root` (default:
    this process), from /proc."""
    root = root or os.getpid()
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found
