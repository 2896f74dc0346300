"""chaos: run the programs under test with the chaos shim (chaos/README.md).

    python3 -m pytest tests/conformance --chaos [--chaos-seed N]

With --chaos, every program the harness starts (process.start / run) gets
build/chaos/libchaos.so preloaded: socket reads and writes capped at a few
bytes, EINTR where the kernel could return it, EAGAIN on non-blocking
sockets, small delays on connect and accept. The same seed gives the same
faults again (exactly so for a single-threaded program making the same
calls); it is printed in the session header and in every failure.

Tests whose outcome depends on how many bytes move per system call (they
measure throughput, not correctness) are deselected under --chaos: they are
named, with the reason, in THROUGHPUT_BOUND below and nowhere else.

The faults each program got go to a log (one file per process, the newest
faults last); a failing test shows the last of them, so the message names
the system call that was cut short or interrupted.
"""

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# name: why the test cannot keep its meaning when every socket call moves
# at most a few bytes. Matched against the test function's name.
THROUGHPUT_BOUND = {
    "test_DB3_flood_never_holds_a_tick_back":
        "needs the program to read a flood faster than a peer writes it; "
        "at 7 bytes a read no program can",
    "test_JR9_stuck_subscriber_never_blocks_publisher_or_others":
        "a subscriber that reads as fast as it can must keep up with a "
        "burst; 7-byte writes count as the kernel refusing the rest (JR-9), "
        "so the backlog limit decides, not the program",
    "test_JR9_reading_subscriber_survives_a_burst_of_50_backlogs":
        "the same: a burst of 50 x --max-backlog to a subscriber that must "
        "keep up; with 7-byte writes the kernel refuses most of every "
        "offer, which JR-9 counts against the subscriber",
    "test_JR4_no_gap_or_duplicate_between_replay_and_live":
        "replays 11 MB or more (several times the socket buffers) within "
        "30 s: over a million 7-byte writes",
    "test_JR7_no_write_to_file_during_replay":
        "replays a file several times the socket buffers within 30 s",
    "test_COM8_subscriber_leaving_mid_transfer_does_not_kill_server":
        "reads a 12 MB replay in full before its last step; at 7 bytes a "
        "write the replay timeout (5 s) abandons it first",
}

# What the shim does under `make chaos` (chaos/README.md lists them all).
SETTINGS = {
    "KIT_CHAOS_MAX_IO": "7",        # every socket read/write: 1..7 bytes
    "KIT_CHAOS_EINTR": "10",        # % of eligible blocking calls
    "KIT_CHAOS_EAGAIN": "10",       # % of non-blocking calls
    "KIT_CHAOS_EAGAIN_RUN": "3",    # injected EAGAINs in a row, at most
    "KIT_CHAOS_EINTR_RUN": "3",     # injected EINTRs in a row, at most
    "KIT_CHAOS_DELAY_MS": "10",     # connect/accept delayed 0..10 ms
}

# How many of a program's last faults a failure shows.
SHOWN_FAULTS = 8


class _State:
    on = False
    seed = None
    shim = None
    logs = None          # folder of per-test folders
    test_dir = None      # the running test's folder
    count = 0
    own_logs = False


STATE = _State()


def add_options(group):
    """Adds --chaos and --chaos-seed to the kit's option group."""
    group.addoption("--chaos", action="store_true", default=False,
                    help="run the programs under the chaos shim (short "
                         "reads/writes, EINTR, EAGAIN)")
    group.addoption("--chaos-seed", type=int, default=None,
                    help="with --chaos: the seed (default: a random one, "
                         "printed)")


def shim_path():
    """The shim: $KIT_CHAOS_SHIM, or $KIT_BUILD/chaos/libchaos.so."""
    given = os.environ.get("KIT_CHAOS_SHIM")
    if given:
        return Path(given)
    return ROOT / os.environ.get("KIT_BUILD", "build") / "chaos" / \
        "libchaos.so"


def configure(config):
    """Turns chaos on for this session when --chaos was given."""
    if not config.getoption("--chaos"):
        return
    shim = shim_path()
    if not shim.is_file():
        raise pytest.UsageError(f"--chaos: no shim at {shim} (run make)")
    seed = config.getoption("--chaos-seed")
    if seed is None:
        seed = int(os.environ.get("KIT_CHAOS_SEED") or
                   random.SystemRandom().randrange(1, 1 << 31))
    STATE.on, STATE.seed, STATE.shim = True, seed, shim.resolve()
    given = os.environ.get("KIT_CHAOS_LOGS")
    if given:
        STATE.logs = Path(given)
    else:
        STATE.logs = Path(tempfile.mkdtemp(prefix="kit-chaos-"))
        STATE.own_logs = True
    os.chmod(STATE.logs, 0o777)
    config.pluginmanager.register(_Plugin(), "kit-chaos")


def _sanitizer_runtimes(exe):
    """The sanitizer runtimes exe links (libasan, libtsan ...), by name:
    they must come before any other preloaded library, or the sanitizer
    refuses to start. Read from the ELF's NEEDED entries with readelf
    (never ldd, which may run the program); a bare name in LD_PRELOAD is
    looked up like a NEEDED one."""
    try:
        out = subprocess.run(["readelf", "-d", str(exe)],
                             capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found = []
    for line in out.splitlines():
        if "(NEEDED)" in line and "[" in line:
            name = line[line.index("[") + 1:line.rindex("]")]
            if name.startswith(("libasan", "libtsan", "libubsan")):
                found.append(name)
    return found


_runtimes = {}


def environment(argv, env):
    """The env for process.start: env itself when chaos is off, else env
    plus the shim and its settings."""
    if not STATE.on:
        return env
    exe = shutil.which(str(argv[0])) or str(argv[0])
    if exe not in _runtimes:
        _runtimes[exe] = _sanitizer_runtimes(exe)
    env = dict(env or {})
    preload = _runtimes[exe] + [str(STATE.shim)]
    env.update(SETTINGS)
    env.update({"LD_PRELOAD": ":".join(preload),
                "KIT_CHAOS_SEED": str(STATE.seed),
                "KIT_CHAOS_LOG": str(STATE.test_dir or STATE.logs)})
    return env


def rerun_hint(nodeid):
    """How to get the same faults again, for a failure message."""
    return (f"chaos seed {STATE.seed}: rerun with --chaos --chaos-seed "
            f"{STATE.seed} (make chaos CHAOS_SEED={STATE.seed}), "
            f"test {nodeid}")


def last_faults(folder, limit=SHOWN_FAULTS):
    """The last `limit` faults of each process that logged into folder, as
    text lines ("pid 12 seed 5: send(fd 4, 20 bytes) -> 3 (short
    write)")."""
    lines = []
    for log in sorted(Path(folder).glob("chaos-*.log")):
        try:
            text = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        lines += [t for t in text[-limit:] if t]
    return lines


class _Plugin:
    """pytest hooks active only under --chaos."""

    def pytest_report_header(self, config):
        return [rerun_hint("...").split(", test")[0],
                f"chaos shim: {STATE.shim}"]

    def pytest_collection_modifyitems(self, config, items):
        out = [i for i in items
               if getattr(i, "originalname", i.name) in THROUGHPUT_BOUND]
        if out:
            config.hook.pytest_deselected(items=out)
            items[:] = [i for i in items if i not in out]

    def pytest_runtest_setup(self, item):
        STATE.count += 1
        folder = STATE.logs / f"{STATE.count:04d}"
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o777)
        (folder / "TEST").write_text(item.nodeid)
        STATE.test_dir = folder

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed:
            text = [rerun_hint(item.nodeid)]
            faults = last_faults(STATE.test_dir) if STATE.test_dir else []
            if faults:
                text.append("the last faults the shim injected:")
                text += [f"    {f}" for f in faults]
            report.sections.append(("chaos", "\n".join(text)))

    def pytest_unconfigure(self, config):
        if STATE.own_logs:
            shutil.rmtree(STATE.logs, ignore_errors=True)
