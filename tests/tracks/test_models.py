"""Each track is concurrent in its own way, and only in that way.

- blocking-threads: blocking calls and threads; never poll, select or epoll
  (a program that multiplexes with them belongs to another track).
- manual-statemachine, async-futures: one thread runs everything on libuv's
  loop; the programs create no thread of their own. libuv itself runs file
  requests on a pool of worker threads, so these tests set
  UV_THREADPOOL_SIZE=1: the journal may have that one worker, nothing more.

Both are seen from outside: each program runs an ordinary session
(harness/scenarios.py) under strace, which logs every thread created and
every multiplexing call.
"""

import re

import pytest

from harness import scenarios, tracks

MULTIPLEXING = ["poll", "ppoll", "select", "pselect6", "epoll_create",
                "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
                "epoll_pwait2"]
THREAD_CREATION = ["clone", "clone3", "fork", "vfork"]
THREAD_TRACKS = ("blocking-threads",)
EVENT_LOOP_TRACKS = ("manual-statemachine", "async-futures")

# Every listed program: each contract has its ordinary session in
# harness/scenarios.py (a contract without one fails here, never skips).
ENTRIES = tracks.load()


def test_every_track_has_its_model_checked():
    unchecked = [t for t in tracks.track_names()
                 if t not in THREAD_TRACKS + EVENT_LOOP_TRACKS]
    assert not unchecked, (
        f"tracks.list lists {unchecked}: say here which model each keeps "
        f"(THREAD_TRACKS or EVENT_LOOP_TRACKS), so its programs are checked")


def traced_session(entry, tmp_path):
    """Runs entry's scenario under strace; returns ({call: count}, result)."""
    assert entry.path.exists(), f"program not built: {entry.path} (run make)"
    log = tmp_path / "strace.log"
    wrapper = ["strace", "-f", "-qq", "-o", str(log),
               "-E", "UV_THREADPOOL_SIZE=1",
               "-E", "ASAN_OPTIONS=detect_leaks=0",
               "-e", "trace=" + ",".join(MULTIPLEXING + THREAD_CREATION),
               "--"]
    result, what = scenarios.exercise(entry.contract, [str(entry.path)],
                                      wrapper, tmp_path=tmp_path,
                                      traced=True)
    assert result.rc == 0, result.report(f"the session ({what}) under "
                                         f"strace should end with exit 0")
    counts = {}
    for line in log.read_text().splitlines():
        match = re.match(r"^\d+\s+(?:<\.\.\. )?(\w+)", line)
        if match and "resumed>" not in line:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts, what


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e.track in THREAD_TRACKS],
    ids=lambda e: e.id)
def test_threads_track_never_multiplexes(entry, tmp_path):
    counts, what = traced_session(entry, tmp_path)
    used = {c: n for c, n in counts.items() if c in MULTIPLEXING}
    assert not used, (
        f"{entry.id} called {used} during a session ({what}): the "
        f"blocking-threads track waits in blocking calls, one thread per "
        f"activity, and never multiplexes with poll/select/epoll")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e.track in EVENT_LOOP_TRACKS],
    ids=lambda e: e.id)
def test_event_loop_tracks_create_no_thread(entry, tmp_path):
    counts, what = traced_session(entry, tmp_path)
    created = sum(n for c, n in counts.items() if c in THREAD_CREATION)
    # libuv's file-request pool, limited to one worker here, is the only
    # thread allowed, and only the journal uses files.
    allowed = 1 if entry.contract == "journal" else 0
    assert created <= allowed, (
        f"{entry.id} created {created} threads or processes during a "
        f"session ({what}), with libuv's pool limited to one worker: "
        f"this track runs everything on the loop's one thread")
