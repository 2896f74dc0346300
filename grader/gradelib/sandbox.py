"""sandbox: what student code runs under.

Every student program, and the build of a submission, runs through
sandbox-exec (sandbox-exec.c, compiled here once per grading run) with:

- resource limits: CPU seconds, address space, processes, open files, file
  size, no core files (only lowered: a test's own tighter limit stays);
- when the grader runs as root: an unprivileged uid of its own, with no
  passwd entry and no supplementary group (one uid per parallel job, so
  jobs never kill or count each other's processes);
- a working folder of its own (what it deletes there harms nothing);
- as root, a file system of its own (sandbox-exec --root): the system's
  programs and libraries read-only, an empty /tmp of its own, and of the
  grader's files only its executable, its working folder and the test's
  temporary files. The kit, its tests, the rubric, the results and every
  other submission do not exist for it. The wrapper script, started by
  the test harness, enters that view: the harness (pytest) runs outside
  it, with the tests, and starts the program inside it.

The whole pytest run (test harness + programs) goes into a network
namespace of its own with only the loopback interface up (`unshare --net`),
when the machine allows it; otherwise the grader warns and goes on.
Each program runs in its own process group (the harness does that) and is
killed whole at the end of its test; afterwards plugin.sweep() kills every
process of the sandbox uid, so nothing escapes by leaving its group.
"""

import fcntl
import os
import pwd
import random
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SOURCE = HERE / "sandbox-exec.c"

LOCKS = Path("/tmp/kit-grade-uids")   # one lock file per uid in use
UID_COUNT = 1000        # sandbox uids of one machine: BASE .. BASE + 999
UID_RANGE = (100000, 2 ** 31 - 1 - UID_COUNT)   # where BASE is drawn


def is_root():
    return os.geteuid() == 0


def _uid_base():
    """The first sandbox uid of this machine (of this /tmp): drawn at
    random once, and kept in LOCKS/base. Graders that do not share a /tmp
    (two containers on one kernel) thus use different uids: a sweep kills
    every process of its uid, whoever started it."""
    path = LOCKS / "base"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        pass
    base = random.SystemRandom().randrange(*UID_RANGE)
    draft = LOCKS / f"base.{os.getpid()}"
    draft.write_text(f"{base}\n")
    os.replace(draft, path)
    return int(path.read_text())


def take_uid():
    """A uid with no passwd entry that no other sandbox (of this or any
    other grader process) is using: (uid, open lock file). The lock is an
    flock, so it goes away with the process that held it. Root only."""
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    base = _uid_base()
    for uid in range(base, base + UID_COUNT):
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        f = open(LOCKS / str(uid), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return uid, f
    raise RuntimeError(f"no free sandbox uid in {base}..{base + UID_COUNT}")


def compile_helper(folder):
    """Compiles sandbox-exec into folder; returns its path."""
    out = Path(folder) / "sandbox-exec"
    cc = shutil.which("cc") or shutil.which("gcc") or "cc"
    subprocess.run([cc, "-O1", "-std=gnu11", "-Wall", "-Wextra", "-o",
                    str(out), str(SOURCE)], check=True,
                   capture_output=True, text=True)
    os.chmod(out, 0o755)
    return out


_NET = {}


def network_prefix():
    """The command prefix that gives a run its own network namespace with
    only loopback up, and a warning (None when it works)."""
    if "prefix" in _NET:
        return _NET["prefix"], _NET["warning"]
    inner = ["sh", "-c", 'ip link set lo up && exec "$@"', "sandbox-net"]
    candidates = [["unshare", "--net", "--"]] if is_root() else []
    prefix, warning = [], ("no network namespace (needs root and "
                           "unshare): student code could reach the network")
    for c in candidates:
        try:
            ok = subprocess.run(c + inner + ["true"], capture_output=True,
                                timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            prefix, warning = c + inner, None
            break
    _NET["prefix"], _NET["warning"] = prefix, warning
    return prefix, warning


_ROOT = {}


def private_root_works(helper):
    """True when sandbox-exec --root works here (as root, on Linux with
    mount namespaces); asked once per grader process."""
    if "ok" not in _ROOT:
        ok = False
        if is_root():
            import tempfile
            with tempfile.TemporaryDirectory(prefix="kit-grade-probe-") as d:
                try:
                    ok = subprocess.run(
                        [str(helper), "--root", d, "--", "/bin/true"],
                        capture_output=True, timeout=10).returncode == 0
                except (OSError, subprocess.TimeoutExpired):
                    ok = False
        _ROOT["ok"] = ok
    return _ROOT["ok"]


class Sandbox:
    """The limits, identity and file system of one run of student code.

    limits: the rubric's [limits] table (rubric.LIMIT_DEFAULTS).
    label: names the run's working folder (workdir/scratch-LABEL); runs
    side by side each have their own Sandbox (variant()), so that each
    run's sweep kills only its own processes.
    """

    def __init__(self, workdir, limits, helper=None, label="main"):
        from . import stop
        self.workdir = Path(workdir)
        self.limits = limits
        self.uid, self._lock = take_uid() if is_root() else (None, None)
        if self.uid is not None:
            stop.add_uid(self.uid)
        self.helper = Path(helper) if helper else compile_helper(workdir)
        self.scratch = self.workdir / f"scratch-{label}"
        self.scratch.mkdir(exist_ok=True)
        if self.uid is not None:
            os.chown(self.scratch, self.uid, self.uid)
        os.chmod(self.scratch, 0o755 if self.uid is not None else 0o700)
        self.private = private_root_works(self.helper)
        self.root = self.workdir / "newroot"   # the mount point, empty
        if self.private:
            self.root.mkdir(mode=0o755, exist_ok=True)

    def variant(self, label):
        """The same sandbox with a uid and a working folder of its own, for
        a run beside this one."""
        return Sandbox(self.workdir, self.limits, self.helper, label)

    def close(self):
        """Kills what is left under the uid and gives the uid back."""
        from . import stop
        self.sweep()
        if self._lock:
            stop.remove_uid(self.uid)
            self._lock.close()
            self._lock = None

    def warnings(self):
        out = []
        if self.uid is None:
            out.append("not running as root: student code runs as the "
                       "grader's own user (limits still apply) and sees "
                       "every file that user sees, the kit's tests "
                       "included")
        elif not self.private:
            out.append("no private file system (mount namespaces do not "
                       "work here): student code sees the machine's "
                       "files, the kit's tests are only closed by their "
                       "permissions, and /tmp is shared")
        warning = network_prefix()[1]
        if warning:
            out.append(warning)
        return out

    def exec_prefix(self, memory=True, cpu=None, show_ro=(), show_rw=(),
                    private=True):
        """sandbox-exec and its options, ending with '--'. show_ro and
        show_rw: the grader's paths the program sees (read-only,
        writable) when it has a private file system; its working folder is
        always one of them. private=False: the machine's file system (the
        build, which needs the kit's Makefile and the installed packages'
        database)."""
        mb = 1024 * 1024
        lim = self.limits
        argv = [str(self.helper),
                "--cpu", str(cpu or lim["cpu_seconds"]),
                "--nproc", str(lim["processes"]),
                "--nofile", str(lim["open_files"]),
                "--fsize", str(lim["file_size_mb"] * mb),
                "--core", "0", "--chdir", str(self.scratch)]
        if memory:
            # Sanitizers reserve terabytes of address space: no --as then.
            argv += ["--as", str(lim["memory_mb"] * mb)]
        if self.uid is not None:
            argv += ["--uid", str(self.uid), "--gid", str(self.uid)]
        if self.private and private:
            argv += ["--root", str(self.root)]
            for path in show_ro:
                argv += ["--ro", str(path)]
            for path in [self.scratch, *show_rw]:
                argv += ["--rw", str(path)]
        return argv + ["--"]

    def wrap(self, real, wrapper, memory=True, show_ro=(), show_rw=()):
        """Writes an executable shell script `wrapper` that execs `real`
        in the sandbox with the arguments it was given (see exec_prefix
        for show_ro and show_rw)."""
        wrapper = Path(wrapper)
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        prefix = self.exec_prefix(memory, show_ro=show_ro, show_rw=show_rw)
        words = " ".join(_quote(w) for w in prefix + [str(real)])
        wrapper.write_text(f'#!/bin/sh\nexec {words} "$@"\n')
        os.chmod(wrapper, 0o755)
        return wrapper

    def sweep(self):
        """Kills every process left under the sandbox uid."""
        if self.uid is not None:
            from . import plugin
            plugin.sweep(self.uid)


def _quote(word):
    if word and all(c.isalnum() or c in "-_./=:," for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
