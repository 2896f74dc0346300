"""build: a submission laid over a fresh copy of the kit, and built.

    kit = copy_kit(workdir)                         # workdir/kit
    root = unpack(submission, workdir / "submission")
    notes = lay_over(kit, track, find_track(root, track))
    builds = build_track(kit, track, programs, sandbox, san=None)

The kit's Makefile builds the submission, exactly as a student builds it
(`make`), but only the graded track's programs, into a build folder of the
copy, as the sandbox user. Nothing is ever built in the kit itself.
"""

import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import starter

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


def _limit(total, count):
    if total > MAX_SUBMISSION_BYTES or count > MAX_SUBMISSION_FILES:
        raise SubmissionError(
            f"the submission is too big (more than "
            f"{MAX_SUBMISSION_BYTES // (1024 * 1024)} MiB or "
            f"{MAX_SUBMISSION_FILES} files)")


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


def _make(kit, sandbox, build_dir, target, san, warnings, timeout):
    argv = sandbox.exec_prefix(memory=False, cpu=timeout) + [
        shutil.which("make") or "make", "-C", str(kit), "--no-print-directory",
        "-j2", f"BUILD={build_dir}", f"WARNINGS={warnings}", target]
    if san:
        argv.append(f"SAN={san}")
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS", "LDFLAGS",
                "CC"):
        env.pop(var, None)
    try:
        run = subprocess.run(argv, capture_output=True, text=True,
                             errors="replace", timeout=timeout, env=env,
                             start_new_session=True)
        return run.returncode, (run.stdout + run.stderr)[-20000:]
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return -1, out[-20000:] + f"\n(the build took more than {timeout} s)"
    finally:
        sandbox.sweep()


def build_track(kit, track, programs, sandbox, san=None, lenient=False):
    """Builds each program of the track with the kit's Makefile into
    kit/build-grade[-SAN]. First with the kit's warnings as errors; a
    program that fails only that way is built again without -Werror (it
    then counts as built, with warnings). lenient: straight to the second
    way (for the sanitizer builds of a program that needed it).
    Returns {program: Build}."""
    import time
    kit = Path(kit)
    build_dir = "build-grade" + (f"-{san}" if san else "")
    (kit / build_dir).mkdir(exist_ok=True)
    if sandbox.uid is not None:
        os.chown(kit / build_dir, sandbox.uid, sandbox.uid)
    timeout = sandbox.limits["build_seconds"]
    builds = {}
    for program in programs:
        t0 = time.monotonic()
        b = Build(program)
        target = f"{build_dir}/{track}/{program}"
        if not (kit / track / f"{program}.c").exists():
            b.output = f"{track}/{program}.c is missing"
        else:
            flags = LENIENT if lenient else STRICT
            rc, out = _make(kit, sandbox, build_dir, target, san, flags,
                            timeout)
            b.output = out
            if rc != 0 and not lenient:
                rc2, out2 = _make(kit, sandbox, build_dir, target, san,
                                  LENIENT, timeout)
                if rc2 == 0:
                    b.warnings = True
                    b.output = out
                else:
                    b.output = out2 if "error" in out2 else out
                rc = rc2
            exe = kit / target
            b.ok = rc == 0 and exe.is_file()
            b.path = exe if b.ok else None
        b.seconds = time.monotonic() - t0
        builds[program] = b
    return builds
