"""The chaos shim (chaos/README.md) and what it is for.

- It changes nothing but sockets: a file and a pipe pass through whole.
- It keeps the EINTR rule: no injected EINTR for a blocking call that no
  signal could interrupt; EINTR once a handler without SA_RESTART exists.
- It is reproducible: the same seed gives the same faults.
- The two classic mistakes (send's return value ignored, EINTR taken for
  a failure) pass the plain fetch-line suite and fail it under the shim;
  the correct program passes both, and the failure names the seed and the
  system call. The grader's chaos check does the same with points.
- A sanitizer build runs under the shim.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import chaos

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("KIT_BUILD", "build")
SHIM = BUILD / "chaos" / "libchaos.so"
SUITE = ROOT / "tests" / "conformance" / "test_fetch_line.py"
SEED = 11


def shim_env(tmp_path, **settings):
    env = dict(os.environ)
    env.update({"LD_PRELOAD": str(SHIM), "KIT_CHAOS_SEED": str(SEED),
                "KIT_CHAOS_LOG": str(tmp_path)})
    env.update({k: str(v) for k, v in settings.items()})
    return env


def faults(tmp_path):
    return chaos.last_faults(tmp_path, limit=100000)


@pytest.fixture(autouse=True)
def built():
    assert SHIM.is_file(), f"the shim is not built: {SHIM} (run make)"


def test_files_and_pipes_pass_through_whole(tmp_path):
    data = bytes(range(256)) * 4096          # 1 MiB
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    out = subprocess.run(f"cat {src} | cat", shell=True, capture_output=True,
                         env=shim_env(tmp_path, KIT_CHAOS_EINTR=100,
                                      KIT_CHAOS_EAGAIN=100))
    assert out.returncode == 0 and out.stdout == data
    assert faults(tmp_path) == [], "the shim touched a file or a pipe"


PY_SOCKETS = r"""
import signal, socket, sys
if sys.argv[1] == "handler":
    # CPython installs handlers without SA_RESTART (it retries EINTR
    # itself, PEP 475): EINTR becomes legal.
    signal.signal(signal.SIGUSR1, lambda *a: None)
else:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
# A few hundred bytes only: this one thread writes them all before reading,
# and every tiny write takes a whole buffer slot of the peer's.
a, b = socket.socketpair()
a.sendall(b"x" * 300)
got = b""
while len(got) < 300:
    got += b.recv(65536)
assert got == b"x" * 300
print(len(got))
"""


def run_py(tmp_path, mode):
    return subprocess.run([sys.executable, "-c", PY_SOCKETS, mode],
                          capture_output=True, text=True,
                          env=shim_env(tmp_path, KIT_CHAOS_EINTR=50))


def test_no_EINTR_where_no_signal_could_interrupt(tmp_path):
    out = run_py(tmp_path, "none")
    assert out.returncode == 0, out.stderr
    log = faults(tmp_path)
    assert any("short" in f for f in log), "the shim did not cap the calls"
    assert not any("EINTR" in f for f in log), (
        "no handler without SA_RESTART and no socket timeout: a blocking "
        f"call cannot fail with EINTR, yet the shim injected it: {log[:5]}")


def test_EINTR_once_a_handler_without_SA_RESTART_exists(tmp_path):
    out = run_py(tmp_path, "handler")
    assert out.returncode == 0, out.stderr
    assert any("EINTR" in f for f in faults(tmp_path))


def test_same_seed_same_faults(tmp_path):
    runs = []
    for n in range(2):
        folder = tmp_path / str(n)
        folder.mkdir()
        out = run_py(folder, "handler")
        assert out.returncode == 0, out.stderr
        runs.append([f.split(": ", 1)[1] for f in faults(folder)])
    assert runs[0] == runs[1]


def run_suite(exe, *extra):
    command = [sys.executable, "-m", "pytest", str(SUITE), "-p",
               "no:cacheprovider", "-q", "--exe", str(exe), "--contract",
               "fetch-line", *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          errors="replace", timeout=280)


@pytest.mark.timeout(300)
def test_correct_program_passes_with_and_without_the_shim():
    exe = BUILD / "chaos" / "fetch-line"
    for extra in ((), ("--chaos", "--chaos-seed", str(SEED))):
        out = run_suite(exe, *extra)
        assert out.returncode == 0, out.stdout[-3000:]


MUTANTS = {
    # name: the system call a failure must name
    "fetch-line-ignores-send": r"send\(fd \d+, \d+ bytes\) -> \d+ \(short",
    "fetch-line-eintr-fatal": r"-> EINTR \(injected",
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_passes_plain_suite_and_is_caught_by_the_shim(name):
    exe = BUILD / "chaos" / name
    plain = run_suite(exe)
    assert plain.returncode == 0, (
        f"{name} should pass the plain suite (loopback is kind):\n"
        f"{plain.stdout[-3000:]}")
    shaken = run_suite(exe, "--chaos", "--chaos-seed", str(SEED))
    assert shaken.returncode == 1, (
        f"{name} passed under the chaos shim:\n{shaken.stdout[-3000:]}")
    assert f"chaos seed {SEED}: rerun with" in shaken.stdout, \
        "a failure under the shim must show the seed"
    assert re.search(MUTANTS[name], shaken.stdout), (
        f"the failure must name the system call:\n{shaken.stdout[-3000:]}")


ASAN_PROGRAM = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
    const char *msg = "hello, sanitizer\n";
    int sv[2];
    char buf[64];
    size_t got = 0, sent = 0;

    signal(SIGPIPE, SIG_IGN);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;
    while (sent < 17) {
        ssize_t n = write(sv[0], msg + sent, 17 - sent);

        if (n < 0)
            return 1;
        sent += (size_t)n;
    }
    close(sv[0]);
    for (ssize_t n; (n = read(sv[1], buf + got, sizeof(buf) - got)) > 0;)
        got += (size_t)n;
    printf("%zu\n", got);
    return 0;
}
"""


def test_a_sanitizer_build_runs_under_the_shim(tmp_path):
    """ASan insists on being the first library loaded, and starts by
    installing signal handlers through the shim's sigaction(): the harness
    preloads the runtime first, and the shim works before its own
    constructor has run."""
    src = tmp_path / "asan.c"
    src.write_text(ASAN_PROGRAM)
    exe = tmp_path / "asan"
    subprocess.run(["cc", "-fsanitize=address,undefined", "-o", str(exe),
                    str(src)], check=True)
    chaos.STATE.on, chaos.STATE.seed, chaos.STATE.shim = True, SEED, SHIM
    try:
        env = chaos.environment([str(exe)], {"KIT_CHAOS_LOG": None})
    finally:
        chaos.STATE.on = False
    env["KIT_CHAOS_LOG"] = str(tmp_path)
    assert "libasan" in env["LD_PRELOAD"].split(":")[0]
    out = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={**os.environ, **env})
    assert out.returncode == 0 and out.stdout == "17\n", out.stderr
    assert any("short write" in f for f in faults(tmp_path)), \
        "the shim did nothing in the sanitizer build"


def test_datagram_sockets_pass_through_whole(tmp_path):
    """A datagram cut short would be another datagram: no kernel does it."""
    script = ("import socket\n"
              "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
              "for n in range(50):\n"
              "    a.send(bytes(range(200)))\n"
              "    assert b.recv(4096) == bytes(range(200))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, env=shim_env(tmp_path, KIT_CHAOS_EINTR=100))
    assert out.returncode == 0, out.stderr
    assert faults(tmp_path) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["fetch-line", *sorted(MUTANTS)])
def test_grader_chaos_check_costs_a_mutant_only_its_points(tmp_path, name):
    """grade --exe with the chaos check on (a rubric with exe = true): the
    correct program keeps every point; a mutant keeps every point of the
    plain suite and loses the check's, with feedback naming the seed and
    the system call."""
    rubric = tmp_path / "rubric.toml"
    text = (ROOT / "grader" / "rubric.toml").read_text()
    assert "\nexe = false\n" in text
    rubric.write_text(text.replace("\nexe = false\n", "\nexe = true\n"))
    out = tmp_path / "out"
    run = subprocess.run(
        [str(ROOT / "grader" / "grade"), "--exe",
         str(BUILD / "chaos" / name), "--program", "fetch-line",
         "--rubric", str(rubric), "--out", str(out)],
        capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    chaos_items = [t for t in results["tests"] if " chaos:" in t["name"]]
    others = [t for t in results["tests"] if " chaos:" not in t["name"]]
    assert len(chaos_items) == 1 and others
    lost = [t["name"] for t in others if t["score"] < t["max_score"]]
    assert not lost, f"{name} lost points of the plain suite: {lost}"
    item = chaos_items[0]
    if name == "fetch-line":
        assert item["score"] == item["max_score"] > 0, item["output"]
        return
    assert item["score"] == 0, f"{name} kept the chaos points"
    assert "seed 1" in item["output"], item["output"]
    assert re.search(MUTANTS[name], item["output"]), item["output"]


def test_lesson_01_shows_the_code_as_it_is():
    """The chaos section of lesson 01 quotes chaos/fetch-line.c: each of
    its C blocks is in the source, word for word."""
    lesson = (ROOT / "lessons" / "01-blocking-io-and-threads.md").read_text()
    section = lesson[lesson.index("## Short reads, short writes and EINTR"):]
    blocks = re.findall(r"```c\n(.*?)```", section, re.DOTALL)
    source = (ROOT / "chaos" / "fetch-line.c").read_text()
    assert len(blocks) == 2
    for block in blocks:
        assert block in source, f"lesson 01 quotes code that is not in " \
                                f"chaos/fetch-line.c:\n{block}"


def test_grader_chaos_selection_covers_every_contract():
    """The rubric's chaos check runs the tests its select expression picks:
    every contract of tracks.list needs some, or its programs would score
    nothing ("no test ran under the chaos shim")."""
    import tomllib
    rubric = tomllib.loads((ROOT / "grader" / "rubric.toml").read_text())
    select = rubric["checks"]["chaos"]["select"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/conformance", "-p",
         "no:cacheprovider", "--collect-only", "-q", "-k", select],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    contracts = {line.split()[2] for line in
                 (ROOT / "tracks.list").read_text().splitlines()
                 if line.strip() and not line.startswith("#")}
    for contract in sorted(contracts):
        suite = "test_" + contract.replace("-", "_") + ".py::"
        assert suite in out.stdout, (
            f"the chaos check's select picks no test of {contract}: "
            f"{select!r}")
