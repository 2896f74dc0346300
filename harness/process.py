"""process: run a program under test and keep a timeline of what it prints.

    result = run([path, "--connect", addr], timeout_s=5)
    assert result.rc == 0, result.report("should exit 0")

    with start([path, "--listen", "127.0.0.1:0"]) as proc:
        t_ms, line = proc.wait_line(rb"^listening on ")
        ...
        proc.signal(signal.SIGTERM)
        result = proc.wait(timeout_s=5)

Every program runs in a process group of its own (start_new_session), and
that whole group is killed with SIGKILL when the program is waited for,
closed, or when the test ends (cleanup.py): nothing a test starts survives
it, not even a child the program forked.

Times: Proc.t0 is time.monotonic() taken just before the spawn; every time
the harness reports (a line's t_ms, elapsed_ms, exit_ms) is in milliseconds
since t0, as a float. The program's own clock starts a little later (the
spawn takes a few ms), so a program that keeps its deadline exactly is seen
to exit a few ms after it: the tolerances of timing.py cover that.

stdout and stderr are read by threads as soon as bytes arrive. A line is
stamped with the time its '\\n' was read. At most max_output bytes of each
stream are kept (default 16 MiB); the rest is read and dropped, so a program
that floods its output cannot exhaust the test's memory or block on a full
pipe (Result.truncated says it happened).
"""

import os
import re
import resource
import signal as _signal
import subprocess
import threading
import time

from . import chaos, cleanup

DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
_READ_SIZE = 65536


def _show(data, limit=400):
    """A readable, bounded repr of bytes for messages."""
    if len(data) > limit:
        return repr(data[:limit]) + f" ... ({len(data)} bytes in all)"
    return repr(data)


def _show_lines(lines, limit=12):
    """The last `limit` (t_ms, line) records, one per text line."""
    if not lines:
        return "    (nothing)"
    shown = lines[-limit:]
    text = []
    if len(lines) > limit:
        text.append(f"    ... {len(lines) - limit} earlier lines")
    for t_ms, line in shown:
        text.append(f"    {t_ms:9.1f} ms  {_show(line, 200)}")
    return "\n".join(text)


def describe_status(rc, timed_out=False, timeout_s=None):
    """Words for an exit status: 'exited with status 1', 'was killed by
    signal SIGPIPE (13)', 'did not exit within 10 s (the harness killed
    it)'."""
    if timed_out:
        within = f" within {timeout_s:g} s" if timeout_s is not None else ""
        return f"did not exit{within} (the harness killed it)"
    if rc is None:
        return "is still running"
    if rc < 0:
        try:
            name = _signal.Signals(-rc).name
        except ValueError:
            name = "signal"
        return f"was killed by signal {name} ({-rc})"
    return f"exited with status {rc}"


class _Stream:
    """One output pipe read by a thread into bytes and time-stamped lines."""

    def __init__(self, fd, t0, cond, max_output):
        self.fd = fd
        self.t0 = t0
        self.cond = cond          # notified on every new line and at EOF
        self.max_output = max_output
        self.data = bytearray()   # everything kept so far
        self.lines = []           # (t_ms, line without '\n')
        self.partial = b""        # bytes after the last '\n'
        self.eof = False
        self.truncated = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                try:
                    chunk = os.read(self.fd, _READ_SIZE)
                except OSError:
                    chunk = b""
                now = time.monotonic()
                with self.cond:
                    if not chunk:
                        if self.partial:
                            # A last line without '\n' still counts as a
                            # line; Result.stdout shows it had no newline.
                            self.lines.append(
                                ((now - self.t0) * 1000.0, self.partial))
                            self.partial = b""
                        self.eof = True
                        self.cond.notify_all()
                        return
                    self._take(chunk, now)
                    self.cond.notify_all()
        finally:
            os.close(self.fd)

    def _take(self, chunk, now):
        room = self.max_output - len(self.data)
        if room < len(chunk):
            self.truncated = True
            chunk = chunk[:max(room, 0)]
        self.data += chunk
        t_ms = (now - self.t0) * 1000.0
        pieces = (self.partial + chunk).split(b"\n")
        self.partial = pieces.pop()
        for line in pieces:
            self.lines.append((t_ms, line))


class Result:
    """How a finished program ended and what it printed.

    rc          exit status; negative -N when killed by signal N
    stdout      every byte written to stdout (bytes)
    lines       stdout as (t_ms, line) records, line without its '\\n'
    stderr      every byte written to stderr (bytes)
    err_lines   stderr as (t_ms, line) records
    elapsed_ms  ms from the spawn to the exit, as seen by the harness
    timed_out   True when the harness had to kill it (it did not exit in time)
    truncated   True when an output exceeded max_output bytes
    leftovers   pids of the program's process group still running when it
                exited (children or daemons it left behind; the harness
                killed them)
    argv, pid, t0
    """

    def __init__(self, proc, timed_out, timeout_s, leftovers=()):
        self.argv = proc.argv
        self.pid = proc.pid
        self.t0 = proc.t0
        self.rc = proc.returncode
        self.elapsed_ms = proc.exit_ms
        self.timed_out = timed_out
        self.timeout_s = timeout_s
        self.stdout = bytes(proc._out.data)
        self.lines = list(proc._out.lines)
        self.stderr = bytes(proc._err.data)
        self.err_lines = list(proc._err.lines)
        self.truncated = proc._out.truncated or proc._err.truncated
        self.leftovers = list(leftovers)

    @property
    def stderr_text(self):
        """stderr decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stderr.decode("utf-8", "replace")

    @property
    def stderr_lines(self):
        """stderr as a list of str, one per line, without the newlines."""
        return self.stderr_text.splitlines()

    @property
    def stdout_text(self):
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    def describe(self):
        """'exited with status 1 after 302 ms', 'was killed by signal
        SIGPIPE (13) after 40 ms', ..."""
        text = describe_status(self.rc, self.timed_out, self.timeout_s)
        if self.elapsed_ms is not None and not self.timed_out:
            text += f" after {self.elapsed_ms:.0f} ms"
        return text

    def report(self, expected=None):
        """A message for an assertion: what was expected (if given), then
        the command, how it ended, and the start of its stdout and stderr.
        """
        parts = []
        if expected:
            parts.append(expected)
        parts.append(f"command: {_command(self.argv)}")
        parts.append(f"the program {self.describe()}")
        parts.append(f"stdout: {_show(self.stdout)}")
        parts.append(f"stderr: {_show(self.stderr, 800)}")
        return "\n".join(parts)

    def __repr__(self):
        return (f"<Result rc={self.rc} elapsed_ms={self.elapsed_ms} "
                f"stdout={_show(self.stdout, 80)} "
                f"stderr={_show(self.stderr, 80)}>")


def group_members(pgid):
    """The pids of the live processes in process group pgid (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state,
        # ppid, pgrp ...
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            pids.append(int(entry))
    return pids


def socket_inodes(pids):
    """The inodes of the sockets the processes pids hold open (from the
    'socket:[INODE]' links of /proc/PID/fd)."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def _command(argv):
    words = []
    for a in argv:
        a = str(a)
        words.append(a if a and all(c.isalnum() or c in "-_./:=@[]"
                                    for c in a) else repr(a))
    return " ".join(words)


def _preexec(limits):
    """Returns the function the child runs before exec to set its limits.

    It runs between fork and exec, so it does as little as possible: the
    resource module and the numbers are looked up now, in the parent."""
    pairs = []
    for name, value in limits.items():
        which = getattr(resource, name) if isinstance(name, str) else name
        if isinstance(value, tuple):
            soft, hard = value
        else:
            soft = hard = value
        pairs.append((which, (soft, hard)))
    setrlimit = resource.setrlimit

    def apply():
        for which, pair in pairs:
            setrlimit(which, pair)
    return apply


def _environment(env):
    if env is None:
        return None
    merged = dict(os.environ)
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class Proc:
    """A running program. Use start() to make one.

    pid, argv, t0 (time.monotonic() just before the spawn).
    lines / err_lines: live lists of (t_ms, line) for stdout / stderr.
    returncode: None while running; exit_ms: when it exited (ms since t0).
    A context manager: leaving the block kills the process group.
    """

    def __init__(self, argv, env=None, limits=None, cwd=None,
                 stdin=subprocess.DEVNULL, max_output=DEFAULT_MAX_OUTPUT):
        self.argv = [str(a) for a in argv]
        env = chaos.environment(self.argv, env)   # --chaos: preload the shim
        self._cond = threading.Condition()
        self._cursor = 0          # wait_line searches from here
        self._exited = threading.Event()
        self.exit_ms = None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.t0 = time.monotonic()
            self._popen = subprocess.Popen(
                self.argv, stdin=stdin, stdout=out_w, stderr=err_w,
                env=_environment(env), cwd=cwd, start_new_session=True,
                preexec_fn=_preexec(limits) if limits else None,
                close_fds=True)
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        os.close(out_w)
        os.close(err_w)
        self.pid = self._popen.pid
        self._out = _Stream(out_r, self.t0, self._cond, max_output)
        self._err = _Stream(err_r, self.t0, self._cond, max_output)
        self._waiter = threading.Thread(target=self._wait_exit, daemon=True)
        self._waiter.start()
        self._closed = False
        cleanup.register(self)

    # -- the exit -------------------------------------------------------

    def _wait_exit(self):
        self._popen.wait()
        now = time.monotonic()
        with self._cond:
            self.exit_ms = (now - self.t0) * 1000.0
            self._exited.set()
            self._cond.notify_all()

    @property
    def returncode(self):
        """The exit status (negative: killed by that signal), or None."""
        return self._popen.returncode if self._exited.is_set() else None

    @property
    def running(self):
        """True until the program has exited."""
        return not self._exited.is_set()

    def sockets(self):
        """The inodes of the sockets the processes of the program's group
        (the program, or a wrapper around it) hold open."""
        return socket_inodes(group_members(self.pid))

    def holds_socket(self, inode):
        """True while the program's group has the socket `inode` open."""
        return inode in self.sockets()

    def now_ms(self):
        """Milliseconds since t0, now."""
        return (time.monotonic() - self.t0) * 1000.0

    # -- output ---------------------------------------------------------

    @property
    def lines(self):
        """stdout so far, as (t_ms, line) records (a live list: do not
        modify it)."""
        return self._out.lines

    @property
    def err_lines(self):
        """stderr so far, as (t_ms, line) records."""
        return self._err.lines

    @property
    def stdout(self):
        """Every stdout byte so far."""
        with self._cond:
            return bytes(self._out.data)

    @property
    def stderr(self):
        """Every stderr byte so far."""
        with self._cond:
            return bytes(self._err.data)

    def wait_line(self, pattern, timeout_s=5.0, what=None):
        """Waits for a stdout line matching pattern and returns (t_ms, line).

        pattern: a regular expression (bytes or str, searched with
        re.search in the line without its '\\n'), or a function
        line_bytes -> bool.

        The search starts after the line that the previous wait_line
        returned (at the first line the first time), so successive calls
        walk forward through the output.

        Raises AssertionError, saying what was awaited and what the program
        printed, when no such line comes within timeout_s or when the
        program exits (or closes stdout) without printing one. `what` names
        the line in that message (e.g. "the 'listening on' line").
        """
        match, label = _matcher(pattern)
        label = what or label
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                lines = self._out.lines
                while self._cursor < len(lines):
                    t_ms, line = lines[self._cursor]
                    self._cursor += 1
                    if match(line):
                        return t_ms, line
                if self._out.eof:
                    why = ("closed its stdout" if self.running else
                           describe_status(self._popen.returncode))
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f"printed no such line within {timeout_s:g} s"
                    break
                self._cond.wait(left)
            lines_copy = list(self._out.lines)
            err = bytes(self._err.data)
        raise AssertionError(
            f"expected the program to print {label} on stdout, but it "
            f"{why}.\ncommand: {_command(self.argv)}\n"
            f"its stdout lines (ms since start):\n{_show_lines(lines_copy)}"
            f"\nits stderr: {_show(err, 800)}")

    # -- control --------------------------------------------------------

    def signal(self, sig):
        """Sends sig to the program (only the program, not its group)."""
        if self.running:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL to the whole process group (safe to call again)."""
        try:
            os.killpg(self.pid, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout_s=10.0):
        """Waits for the exit and returns its Result.

        If the program has not exited within timeout_s, the harness kills
        it and the Result says timed_out=True. Either way the rest of the
        process group is killed and both outputs are read to their end.
        """
        timed_out = not self._exited.wait(timeout_s)
        if timed_out:
            self.kill()
            self._exited.wait(5.0)
        leftovers = [] if timed_out else group_members(self.pid)
        self.kill()
        # The pipes reach EOF once every process holding them is gone; a
        # process that left the group could hold them longer, so do not
        # wait for ever.
        self._out.thread.join(2.0)
        self._err.thread.join(2.0)
        return Result(self, timed_out, timeout_s, leftovers)

    def close(self):
        """Kills the process group and reaps the program (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.kill()
        self._exited.wait(5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<Proc pid={self.pid} {_command(self.argv)}>"


def _matcher(pattern):
    if callable(pattern):
        name = getattr(pattern, "__name__", "a predicate")
        return pattern, f"a line accepted by {name}"
    if isinstance(pattern, str):
        rx = re.compile(pattern.encode())
    else:
        rx = re.compile(pattern)
    return (lambda line: rx.search(line) is not None), \
        f"a line matching {rx.pattern!r}"


def start(argv, env=None, limits=None, cwd=None, stdin=subprocess.DEVNULL,
          max_output=DEFAULT_MAX_OUTPUT):
    """Starts argv in its own process group and returns a Proc at once.

    env: variables added to the current environment (a value of None
    removes that variable); None keeps the environment as it is.
    limits: resource limits set in the child before exec, e.g.
    {"RLIMIT_NOFILE": 40, "RLIMIT_FSIZE": 4096}; a value is one number
    (soft = hard) or a (soft, hard) tuple.
    cwd: working directory. stdin: DEVNULL unless given.
    """
    return Proc(argv, env=env, limits=limits, cwd=cwd, stdin=stdin,
                max_output=max_output)


def run(argv, timeout_s=10.0, env=None, limits=None, cwd=None,
        stdin=subprocess.DEVNULL, max_output=DEFAULT_MAX_OUTPUT):
    """Runs argv to its end (at most timeout_s seconds) and returns a Result.

    Same arguments as start(). A program still running after timeout_s is
    killed and its Result has timed_out=True.
    """
    with start(argv, env=env, limits=limits, cwd=cwd, stdin=stdin,
               max_output=max_output) as proc:
        return proc.wait(timeout_s)
