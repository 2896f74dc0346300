"""build: a submission laid over a fresh copy of the kit, and built.

    kit = copy_kit(workdir)                         # workdir/kit
    root = unpack(submission, workdir / "submission")
    notes = lay_over(kit, track, find_track(root, track))
    builds = build_track(kit, track, programs, sandbox, san=None)

The kit's Makefile builds the submission, exactly as a student builds it
(`make`), but only the graded track's programs, into a build folder of the
copy, as the sandbox user. Nothing is ever built in the kit itself.
"""

import atexit
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import starter
from . import stop

KIT = Path(__file__).resolve().parents[2]
# What a copy of the kit leaves out: build products, version control,
# caches, the distribution folder.
_IGNORE = shutil.ignore_patterns("build", "build-*", ".git", "dist",
                                 ".pytest_cache", "__pycache__", "*.pyc")
MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
MAX_SUBMISSION_FILES = 2000
STRICT = ("-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes "
          "-Wmissing-prototypes -Wformat=2")
LENIENT = STRICT.replace(" -Werror", "")


class SubmissionError(Exception):
    """The submission cannot be read (not a folder/zip/tar.gz, unsafe
    paths, too big); the message says why."""


def copy_kit(workdir, kit=KIT):
    """Copies the kit (sources, tests, Makefile) to workdir/kit."""
    dest = Path(workdir) / "kit"
    shutil.copytree(kit, dest, ignore=_IGNORE, symlinks=True)
    return dest


def _check_member(name):
    parts = Path(name).parts
    if name.startswith("/") or ".." in parts:
        raise SubmissionError(f"unsafe path in the archive: {name!r}")


def unpack(submission, dest):
    """Copies or extracts a submission (folder, .zip, .tar.gz/.tgz/.tar)
    into dest; only regular files and folders, no links, no paths that
    leave dest. Returns dest."""
    src = Path(submission)
    dest = Path(dest)
    if src.is_dir():
        total, count = 0, 0
        for path in src.rglob("*"):
            rel = path.relative_to(src)
            if path.is_symlink():
                continue
            if path.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
            elif path.is_file():
                total += path.stat().st_size
                count += 1
                _limit(total, count)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / rel)
        dest.mkdir(parents=True, exist_ok=True)
        return dest
    name = src.name.lower()
    if not src.is_file():
        raise SubmissionError(f"no such submission: {src}")
    dest.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(src) as z:
                total = 0
                for count, info in enumerate(z.infolist(), 1):
                    _check_member(info.filename)
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        continue
                    total += info.file_size
                    _limit(total, count)
                    target = dest / info.filename
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as r, open(target, "wb") as w:
                        shutil.copyfileobj(r, w)
        except zipfile.BadZipFile as exc:
            raise SubmissionError(f"{src}: not a valid zip: {exc}") from exc
        return dest
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(src) as t:
                total = 0
                for count, m in enumerate(t.getmembers(), 1):
                    _check_member(m.name)
                    if m.isdir():
                        (dest / m.name).mkdir(parents=True, exist_ok=True)
                    elif m.isfile():
                        total += m.size
                        _limit(total, count)
                        target = dest / m.name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with t.extractfile(m) as r, open(target, "wb") as w:
                            shutil.copyfileobj(r, w)
        except tarfile.TarError as exc:
            raise SubmissionError(f"{src}: not a valid tar: {exc}") from exc
        return dest
    raise SubmissionError(f"{src}: a submission is a folder, a .zip or a "
                          f".tar.gz")


def _limit(total, count, what="the submission"):
    if total > MAX_SUBMISSION_BYTES or count > MAX_SUBMISSION_FILES:
        raise SubmissionError(
            f"{what} is too big (more than "
            f"{MAX_SUBMISSION_BYTES // (1024 * 1024)} MiB or "
            f"{MAX_SUBMISSION_FILES} files)")


def check_program_folder(folder):
    """Raises SubmissionError when a program that is a folder (--exe DIR)
    is bigger than a submission may be; links are not followed."""
    total, count = 0, 0
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            count += 1
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
            _limit(total, count, f"the program's folder {folder}")


def _visible(folder):
    return [p for p in folder.iterdir()
            if not p.name.startswith(".") and p.name != "__MACOSX"]


def find_track(root, track):
    """The folder of a submission that holds the track's files: ROOT/TRACK
    when there is one, else ROOT itself, after going down through folders
    that hold nothing but one folder (an archive's wrapper folder)."""
    folder = Path(root)
    while True:
        if (folder / track).is_dir():
            return folder / track
        entries = _visible(folder)
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
            continue
        return folder


def lay_over(kit, track, source, programs):
    """Replaces the kit copy's TRACK folder with the student's version:
    the track's starter code (solution regions stripped), then every file
    of `source` over it. A program whose main file the submission lacks is
    removed, never graded from the kit's own solution. Returns notes
    (list of str) for the report."""
    notes = []
    dest = Path(kit) / track
    starter.strip_tree(dest)
    submitted = {p.relative_to(source).as_posix()
                 for p in Path(source).rglob("*") if p.is_file()
                 and not p.is_symlink()}
    for program in programs:
        main = f"{program}.c"
        if main not in submitted:
            (dest / main).unlink(missing_ok=True)
            notes.append(f"{track}/{main} is not in the submission: "
                         f"{program} cannot be built")
    for rel in sorted(submitted):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(source) / rel, target)
    if not submitted:
        notes.append("the submission holds no file")
    return notes


@dataclass
class Build:
    """How one program built.

    ok: an executable exists; warnings: it built only without -Werror
    (output holds the compiler's warnings); output: what make printed.
    """
    program: str
    ok: bool = False
    warnings: bool = False
    output: str = ""
    path: Path = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _make(kit, sandbox, build_dir, targets, san, warnings, timeout,
          nice=0):
    """make TARGETS in the kit copy as the sandbox user (-k: as many as
    build). Returns (exit status, the last 20 kB of its output)."""
    argv = sandbox.exec_prefix(memory=False, cpu=timeout, private=False) + [
        shutil.which("make") or "make", "-C", str(kit), "--no-print-directory",
        "-k", "-j2", f"BUILD={build_dir}", f"WARNINGS={warnings}", *targets]
    if san:
        argv.append(f"SAN={san}")
    if nice:
        argv = ["nice", "-n", str(nice)] + argv
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS", "LDFLAGS",
                "CC"):
        env.pop(var, None)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        with stop.watching(proc.pid):
            try:
                rc = proc.wait(timeout=timeout)
                late = ""
            except subprocess.TimeoutExpired:
                rc, late = -1, f"\n(the build took more than {timeout} s)"
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        sandbox.sweep()
        stop.check()
        out.seek(0)
        text = out.read()[-20000:].decode("utf-8", "replace")
    return rc, text + late


# Objects of the kit's common/ folder, which no submission changes: built
# once per flavour (plain, address, thread) by a grader process, and copied
# into the build folder of every later submission (a batch's share).
_COMMON = {}
_COMMON_LOCK = threading.Lock()


def _reuse_common(kit, build_dir, uid):
    with _COMMON_LOCK:
        cached = _COMMON.get(build_dir)
    if cached is None:
        return
    dest = Path(kit) / build_dir / "obj" / "common"
    shutil.copytree(cached, dest, dirs_exist_ok=True)
    if uid is not None:
        for path in [dest.parent, dest, *dest.iterdir()]:
            os.chown(path, uid, uid)


def _keep_common(kit, build_dir):
    """Keeps the common objects of a build that made all of them."""
    built = Path(kit) / build_dir / "obj" / "common"
    sources = list((Path(kit) / "common").glob("*.c"))
    with _COMMON_LOCK:
        if build_dir in _COMMON or not sources or not all(
                (built / f"{c.stem}.o").exists() for c in sources):
            return
        keep = Path(tempfile.mkdtemp(prefix="kit-grade-common-"))
        atexit.register(shutil.rmtree, keep, True)
        shutil.copytree(built, keep, dirs_exist_ok=True)
        _COMMON[build_dir] = keep


def build_track(kit, track, programs, sandbox, san=None, lenient=False,
                nice=0):
    """Builds the track's programs with the kit's Makefile into
    kit/build-grade[-SAN], all in one make. First with the kit's warnings
    as errors; a program that fails only that way is built again without
    -Werror (it then counts as built, with warnings). lenient: straight to
    the second way (for the sanitizer builds of a program that needed it).
    Returns {program: Build}."""
    kit = Path(kit)
    build_dir = "build-grade" + (f"-{san}" if san else "")
    (kit / build_dir).mkdir(exist_ok=True)
    if sandbox.uid is not None:
        os.chown(kit / build_dir, sandbox.uid, sandbox.uid)
    _reuse_common(kit, build_dir, sandbox.uid)
    timeout = sandbox.limits["build_seconds"]
    flags = LENIENT if lenient else STRICT
    builds = {p: Build(p) for p in programs}
    present = [p for p in programs if (kit / track / f"{p}.c").exists()]
    for p in programs:
        if p not in present:
            builds[p].output = f"{track}/{p}.c is missing"
    t0 = time.monotonic()
    _, out = _make(kit, sandbox, build_dir,
                   [f"{build_dir}/{track}/{p}" for p in present], san, flags,
                   timeout, nice)
    _keep_common(kit, build_dir)
    for p in present:
        b = builds[p]
        b.output = out
        exe = kit / build_dir / track / p
        if not exe.is_file() and not lenient:
            _rebuild_alone(kit, sandbox, build_dir, track, b, san, timeout,
                           nice)
        b.ok = exe.is_file()
        b.path = exe if b.ok else None
        b.seconds = time.monotonic() - t0
    return builds


def _rebuild_alone(kit, sandbox, build_dir, track, b, san, timeout, nice):
    """A program that failed in the common make, made alone: strict again
    for its own compiler output, then without -Werror."""
    target = [f"{build_dir}/{track}/{b.program}"]
    rc, out = _make(kit, sandbox, build_dir, target, san, STRICT, timeout,
                    nice)
    if rc == 0:
        b.output = out
        return
    rc2, out2 = _make(kit, sandbox, build_dir, target, san, LENIENT, timeout,
                      nice)
    b.warnings = rc2 == 0
    b.output = out if rc2 == 0 or "error" not in out2 else out2
