"""Adding a program takes one line in tracks.list plus the program's own
files, and nothing else.

In a copy of the kit, this test adds a small but real program, echo-line
(send a line to a peer, print the line it answers), with what any new
program brings along: its source, its conformance suite, its ordinary
session for the track tests, its rubric groups and its section of
docs/programs.md. Then ONE line goes into tracks.list, and every tool that
lists programs must take it in without another edit:

- `make` builds it;
- the conformance suite collects and runs its tests against it;
- the track tests (strace) run its session;
- the grader grades it, both as a track's program and as an executable;
- the demos list it as a version of its contract, under its track's short
  name.
"""

import os
import shutil
import subprocess
import textwrap

import pytest

from harness import tracks

ROOT = tracks.ROOT
TRACK = "blocking-threads"
NAME = "echo-line"

# What a copy leaves out: build products, version control, caches.
IGNORE = shutil.ignore_patterns("build", "build-*", ".git", "dist",
                                ".pytest_cache", "__pycache__", "*.pyc")

SOURCE = r"""/* echo-line: sends one line to a peer and prints the line it
 * answers.
 *
 * A program small enough to show what adding one to the kit takes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define USAGE "echo-line --connect IP:PORT --send TEXT"

static int usage(const char *why)
{
    fprintf(stderr, "echo-line: usage: %s; try --help\n", why);
    return 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "echo-line: error: %s\n", what);
    return 1;
}

/* Fills *sa from "IP:PORT"; returns 0, or -1 when text is not that. */
static int parse_addr(const char *text, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof host)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Connects, sends TEXT\n, prints the answer up to its '\n'. */
static int echo_line(const struct sockaddr_in *sa, const char *text)
{
    char line[4096];
    size_t used = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fail(strerror(errno));
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 ||
        send(fd, text, strlen(text), MSG_NOSIGNAL) < 0 ||
        send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
        int err = errno;
        close(fd);
        return fail(strerror(err));
    }
    while (used < sizeof line) {
        ssize_t n = recv(fd, line + used, 1, 0);
        if (n <= 0) {
            close(fd);
            return fail(n == 0 ? "the peer closed first" : strerror(errno));
        }
        if (line[used] == '\n') {
            close(fd);
            fwrite(line, 1, used + 1, stdout);
            return 0;
        }
        used++;
    }
    close(fd);
    return fail("line too long");
}

int main(int argc, char **argv)
{
    const char *peer = NULL;
    const char *text = NULL;
    struct sockaddr_in sa;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: %s\n", USAGE);
            return 0;
        } else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            peer = argv[++i];
        } else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc) {
            text = argv[++i];
        } else {
            return usage("unknown option or missing value");
        }
    }
    if (peer == NULL || text == NULL)
        return usage("--connect and --send are needed");
    if (parse_addr(peer, &sa) < 0)
        return usage("--connect needs IP:PORT");
    return echo_line(&sa, text);
}
"""

SUITE = '''"""echo-line: send a line, print the answer (docs/programs.md)."""

from harness import peers
from harness.process import run

CONTRACT = "echo-line"


def test_EL1_prints_the_line_the_peer_answers(prog):
    with peers.Server(peers.echo()) as server:
        result = run(prog.argv("--connect", server.addr, "--send", "ping"))
    assert (result.rc, result.stdout) == (0, b"ping\\n"), result.report(
        "echo-line should print the echoed line and exit 0")


def test_COM2_unknown_option_is_a_usage_error(prog):
    result = run(prog.argv("--bogus"))
    assert result.rc == 2 and prog.says(result.stderr_text, "usage:"), \\
        result.report("an unknown option is a usage error (exit 2)")
'''

SESSION = '''

@session("echo-line")
def _echo_line(argv, wrapper, env, tmp_path, traced):
    with peers.Server(peers.echo()) as server:
        result = process.run(wrapper + argv + ["--connect", server.addr,
                                               "--send", "ping"],
                             timeout_s=60, env=env)
    return result, "send a line to a peer that echoes it"
'''

RUBRIC = '''
# ----------------------------------------------------------------- echo-line
[[group]]
contract = "echo-line"
item = "COM-2"
points = 1

[[group]]
contract = "echo-line"
item = "EL-1"
title = "prints the answer"
points = 2
'''

DOCS = '''## echo-line: one line there and back

```
echo-line --connect IP:PORT --send TEXT
```

- **EL-1** Connect, send `TEXT\\n`, print the line the peer answers, exit 0.

'''


def add_program(kit):
    """Writes echo-line's own files into the copy at kit, then its one
    line in tracks.list."""
    (kit / TRACK / f"{NAME}.c").write_text(SOURCE)
    tracks.suite_file(NAME, root=kit).write_text(SUITE)
    with open(kit / "harness" / "scenarios.py", "a") as f:
        f.write(SESSION)
    with open(kit / "grader" / "rubric.toml", "a") as f:
        f.write(RUBRIC)
    docs = kit / "docs" / "programs.md"
    text = docs.read_text()
    assert "## Choices the kit made" in text
    docs.write_text(text.replace("## Choices the kit made",
                                 DOCS + "## Choices the kit made", 1))
    with open(kit / "tracks.list", "a") as f:
        f.write(f"{TRACK:<21} {NAME:<21} {NAME}\n")


def run_in(kit, argv, timeout_s=120, **env):
    """Runs argv in the copy (its own build folder), and returns stdout;
    a failure shows what the command printed."""
    environment = dict(os.environ, KIT_BUILD="build", **env)
    environment.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(argv, cwd=kit, env=environment, capture_output=True,
                         text=True, errors="replace", timeout=timeout_s)
    assert run.returncode == 0, (
        f"{' '.join(argv)} in the copy exited {run.returncode}:\n"
        f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run.stdout


@pytest.mark.timeout(300)
def test_a_new_program_is_one_line_in_tracks_list(tmp_path):
    kit = tmp_path / "kit"
    shutil.copytree(ROOT, kit, ignore=IGNORE, symlinks=True)
    before = (kit / "tracks.list").read_text()
    add_program(kit)
    after = (kit / "tracks.list").read_text()
    assert after.startswith(before) and after.count("\n") == \
        before.count("\n") + 1, "exactly one line is added to tracks.list"
    python = "/usr/bin/python3"

    # make builds it (and every other program, as before).
    run_in(kit, ["make", "-j2"], timeout_s=240)
    exe = kit / "build" / TRACK / NAME
    assert exe.is_file() and os.access(exe, os.X_OK), "make did not build it"

    # The conformance suite collects its tests and runs them.
    out = run_in(kit, [python, "-m", "pytest", "tests/conformance",
                       "--program", NAME, "-q", "-p", "no:cacheprovider"])
    assert "2 passed" in out, out

    # The track tests run its ordinary session under strace, and the kit's
    # own checks find its suite, session, rubric groups and docs.
    out = run_in(kit, [python, "-m", "pytest", "tests/tracks/test_models.py",
                       "tests/kit/test_tracks_list.py", "-k",
                       f"{NAME} or same_programs", "-q",
                       "-p", "no:cacheprovider"])
    assert "3 passed" in out, out

    # The grader grades it: as a program of its track, and as any
    # executable keeping its contract.
    out = run_in(kit, ["grader/grade", "--track", TRACK, "--program",
                       NAME, "--no-checks", "--out", str(tmp_path / "g1"),
                       str(kit / TRACK)], timeout_s=240, PYTHON=python)
    assert f"{TRACK}/{NAME}" in out and "3 / 3 points" in out, out
    out = run_in(kit, ["grader/grade", "--exe", str(exe),
                       "--program", NAME, "--out", str(tmp_path / "g2")],
                 timeout_s=240, PYTHON=python)
    assert "3 / 3 points" in out, out

    # The demos list it among the versions of its contract.
    out = run_in(kit, [python, "-c", textwrap.dedent(f"""
        from demo.demo import versions
        for run, path in versions({NAME!r}, []):
            print(run.title, run.subtitle, run.built, path)
        """)])
    assert out.split() == ["threads", NAME, "True", str(exe)], out
