"""The grader's pytest plugin: loaded into the conformance run with
`-p gradelib.plugin`; the grader reads what it writes.

It records, for every test, one JSON line in $GRADER_RECORD: the test's
name, the program it ran against, its outcome and the assertion message a
student needs ("exited 3010 ms after start; the deadline was 300 ms").

It also keeps the sandbox working while the tests run as root and the
programs as an unprivileged uid ($GRADER_SANDBOX_UID):
- files the tests create are readable and writable by that uid (umask 0;
  each test's tmp_path opened up before the test body runs);
- after each test, every process left running under that uid is killed
  (a program that left its process group is caught here);
- with $GRADER_SAN_LOGS, each test's sanitizer reports go to a folder of
  their own, so a finding can be pinned on the test that caused it;
- with $GRADER_SHARD=K/N, only every N-th test from the K-th (counting
  from 0) runs: N pytest processes side by side share one suite.

And it stops paying for a program that hangs: when each of a program's
first tests (at least GIVE_UP_AFTER, in at least two test functions) hit
a limit (the harness had to kill the program, it never printed the line a
test waited for, a test ran out of time, its output was cut, it left
processes behind), its remaining tests fail at once, without running,
with a message that says what the program did. A program that behaves in
even one of its first tests is tested in full. So a program that hangs in
every test costs a few tests' time limits, not all of them.
"""

import json
import os
import resource
import signal
import time

import pytest

GIVE_UP_AFTER = 3

_RECORD = os.environ.get("GRADER_RECORD")
_SHARD = os.environ.get("GRADER_SHARD")
_UID = os.environ.get("GRADER_SANDBOX_UID")
_SAN_LOGS = os.environ.get("GRADER_SAN_LOGS")
_SAN_BASE = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
    "TSAN_OPTIONS": "second_deadlock_stack=1",
}
_counter = [0]


def uid_processes(uid):
    """The pids of live processes whose real uid is `uid` (a zombie is
    dead already: it only waits for its parent to collect it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f
                              if line[:4] in ("Stat", "Uid:"))
        except (OSError, ValueError):
            continue
        try:
            if int(fields["Uid"].split()[0]) == uid and \
                    not fields["State"].strip().startswith("Z"):
                pids.append(int(entry))
        except (KeyError, ValueError, IndexError):
            continue
    return pids


def sweep(uid, rounds=50):
    """Kills every process of `uid`: a child takes that uid and sends
    SIGKILL to -1, i.e. to everything it may signal, which is exactly that
    uid's processes. Repeated while any remain (a fork bomb races it).
    Returns how many processes were found on the first look."""
    found = len(uid_processes(uid))
    for _ in range(rounds):
        if not uid_processes(uid):
            break
        pid = os.fork()
        if pid == 0:  # the child: nothing but these calls, then _exit
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02)
    return found


def pytest_configure(config):
    if _UID:
        # Files and folders the tests create must be usable by the
        # program, which runs as another user.
        os.umask(0)
        _become_subreaper()


# The harness waits for the programs it starts; any other child of this
# process is an orphan re-parented to it (a daemon, a fork bomb's
# children), which nobody else would ever collect: on a machine whose init
# does not collect orphans (a container's first process often does not),
# their zombies would count against the sandbox uid's process limit.
_started = set()


def _become_subreaper():
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)    # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap_orphans():
    """Collects the zombies among this process's children that the
    harness did not start."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in _started:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(entry), os.WNOHANG)
            except ChildProcessError:
                pass


def _children_cpu():
    """CPU seconds used so far by this process's finished children (the
    programs under test, which the harness starts and waits for)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


class _Watch:
    """What the program under test did during the current test, as the
    harness saw it (harness.process: Result and Proc.wait_line)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.killed = self.silent = self.truncated = False
        self.leftovers = 0
        self.t0 = time.monotonic()
        self.cpu0 = _children_cpu()


_watch = _Watch()
_limited = {}     # program id -> [what it did in each test], while all hit
_given_up = {}    # program id -> why its remaining tests do not run


def _observe_harness():
    """Wraps harness.process so that every Result and every wait_line that
    runs out of time is noted in _watch. Without that module (another
    harness), only pytest-timeout's failures are seen."""
    try:
        from harness import process
    except ImportError:
        return
    if getattr(process, "_grader_watched", False):
        return
    process._grader_watched = True
    result_init = process.Result.__init__
    wait_line = process.Proc.wait_line
    proc_init = process.Proc.__init__

    def started(self, *args, **kwargs):
        proc_init(self, *args, **kwargs)
        _started.add(self.pid)

    def init(self, *args, **kwargs):
        result_init(self, *args, **kwargs)
        _watch.killed |= bool(getattr(self, "timed_out", False))
        _watch.truncated |= bool(getattr(self, "truncated", False))
        # What the program left when it exited: its group's members, and
        # (as root) every other process of the sandbox uid, which catches
        # those that left the group.
        left = len(getattr(self, "leftovers", ()) or ())
        if _UID:
            left = max(left, len(uid_processes(int(_UID))))
        _watch.leftovers += left

    def waiting(self, *args, **kwargs):
        try:
            return wait_line(self, *args, **kwargs)
        except AssertionError:
            if self.running:
                _watch.silent = True
            raise

    process.Result.__init__ = init
    process.Proc.wait_line = waiting
    process.Proc.__init__ = started


def _prog_id(item):
    spec = getattr(item, "callspec", None)
    prog = spec.params.get("prog") if spec else None
    return getattr(prog, "id", None)


def _what_it_did(rec):
    """Words for what a program did in a test that hit a limit, or None
    when the test ended without hitting one."""
    timeout = "Timeout" in rec.get("message", "")
    if rec["outcome"] != "failed" or not (
            _watch.killed or _watch.silent or _watch.truncated or timeout
            or _watch.leftovers):
        return None
    words = []
    if _watch.killed:
        words.append("did not exit in time (the harness killed it)")
    if _watch.silent:
        words.append("did not print what the test waited for in time")
    if timeout:
        words.append("ran past the test's time limit")
    if _watch.truncated:
        words.append("flooded its output (more was cut than kept)")
    wall = time.monotonic() - _watch.t0
    cpu = _children_cpu() - _watch.cpu0
    if cpu > 1 and cpu > 0.2 * wall:
        words.append("kept the CPU busy")
    if _watch.leftovers:
        words.append("left processes running when it exited (it forks)")
    return ", ".join(words)


def _account(prog, rec):
    """Counts a finished test against its program; gives up on the program
    when its first GIVE_UP_AFTER tests all hit a limit, in at least two
    test functions (a program that ignores bad options and keeps running
    hits a limit in every case of the usage test; that alone is not enough
    to stop testing it)."""
    if prog is None or prog in _given_up or _limited.get(prog, []) is None:
        return
    did = _what_it_did(rec)
    if did is None:
        _limited[prog] = None          # it behaved once: test it in full
        return
    _limited.setdefault(prog, []).append((rec.get("test"), did))
    seen = _limited[prog]
    if len(seen) >= GIVE_UP_AFTER and len({t for t, _ in seen}) >= 2:
        what = "; ".join(dict.fromkeys(d for _, d in seen))
        _given_up[prog] = (
            f"not run: in each of its first {len(seen)} tests the program "
            f"hit a limit ({what}), so its remaining tests score 0 without "
            f"running")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if not _SHARD:
        return
    k, n = (int(x) for x in _SHARD.split("/"))
    # Every N-th test: a suite's long tests are spread over the shards
    # rather than bunched in one of them.
    others = [item for i, item in enumerate(items) if i % n != k]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for i, item in enumerate(items) if i % n == k]


def pytest_sessionstart(session):
    _observe_harness()


def pytest_runtest_setup(item):
    _counter[0] += 1
    _watch.reset()
    why = _given_up.get(_prog_id(item))
    if why:
        pytest.fail(why, pytrace=False)
    if _SAN_LOGS:
        folder = os.path.join(_SAN_LOGS, f"{_counter[0]:04d}")
        os.makedirs(folder, mode=0o777, exist_ok=True)
        os.chmod(folder, 0o777)
        with open(os.path.join(folder, "TEST"), "w") as f:
            f.write(item.nodeid)
        for var, base in _SAN_BASE.items():
            os.environ[var] = f"{base}:log_path={folder}/san"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if not _UID:
        return
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if tmp is None:
        return
    # pytest makes its temporary folders 0700; open the test's own one
    # and let the program through its parents.
    os.chmod(tmp, 0o777)
    base = item.config._tmp_path_factory.getbasetemp()
    parent = tmp.parent
    while True:
        os.chmod(parent, 0o711)
        if parent == base or parent == parent.parent:
            break
        parent = parent.parent


def pytest_runtest_teardown(item):
    if _UID:
        left = sweep(int(_UID))
        _reap_orphans()
        if left:
            item.user_properties.append(("leftover_processes", left))


def _message(report):
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])          # a skip: (file, line, reason)
    return str(longrepr)


_results = {}


def pytest_runtest_logreport(report):
    rec = _results.setdefault(report.nodeid, {
        "nodeid": report.nodeid, "outcome": "passed", "message": "",
        "details": "", "duration": 0.0, "phase": ""})
    rec["duration"] += report.duration
    if report.passed:
        return
    if rec["outcome"] != "passed" and report.when == "teardown":
        return          # keep the first problem
    if report.skipped:
        rec["outcome"] = "skipped"
    else:
        rec["outcome"] = "failed"
    rec["phase"] = report.when
    rec["message"] = _message(report)
    rec["details"] = str(report.longrepr)[-6000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "setup":
        return
    rec = _results.setdefault(report.nodeid, {
        "nodeid": report.nodeid, "outcome": "passed", "message": "",
        "details": "", "duration": 0.0, "phase": ""})
    name = getattr(item, "originalname", None) or item.name
    rec["test"] = name
    prog = getattr(item, "callspec", None)
    prog = prog.params.get("prog") if prog else None
    rec["track"] = getattr(prog, "track", None)
    rec["program"] = getattr(prog, "program", None)
    rec["contract"] = getattr(prog, "contract", None)
    rec["prog_id"] = getattr(prog, "id", None)
    rec["file"] = item.nodeid.split("::")[0]


def pytest_runtest_logfinish(nodeid, location):
    rec = _results.pop(nodeid, None)
    if rec is None:
        return
    _account(rec.get("prog_id"), rec)
    if not _RECORD:
        return
    with open(_RECORD, "a") as f:
        f.write(json.dumps(rec) + "\n")
