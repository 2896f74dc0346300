"""Conformance of wait-client: a deadline on accept.

    wait-client --listen HOST:PORT [--timeout-ms N] [--trace]

Each test names the item of the contract it checks (COM-2, WC-1 ...). The
program is a server that waits for ONE client; the tests play that client
with peers.Client, or play nobody at all and watch the clock.

The timing tests leave a wide gap between a right program and a wrong one:
a program whose accept has no deadline never exits by itself, so it is
still running RUN_LIMIT_S seconds later, while a right one exits within
100 ms (plus NOISE_MS for a busy machine) of a 300 ms deadline.
"""

import re
import time

import pytest

from harness import timing
from harness.peers import Client, connect_refused
from harness.process import run, start

CONTRACT = "wait-client"

# Upper bound on any single run: well above every deadline used here, so a
# program that hangs is killed and reported instead of hanging the suite.
RUN_LIMIT_S = 8

LISTEN = "127.0.0.1:0"

LISTENING = re.compile(rb"^listening on (127\.0\.0\.1:(\d+))$")

UNBOUNDED = "is accept bounded by the deadline?"


# ---------------------------------------------------------------------------
# Helpers: each check says in words what was expected and what happened.


def start_waiting(prog, *extra):
    """Starts the program on port 0 and waits for its listening line.
    Returns (proc, "127.0.0.1:PORT")."""
    proc = start(prog.argv("--listen", LISTEN, *extra))
    _, line = proc.wait_line(LISTENING, timeout_s=5,
                             what="'listening on 127.0.0.1:PORT' (WC-1)")
    m = LISTENING.match(line)
    assert int(m.group(2)) != 0, (
        f"the program was given port 0, so 'listening on' must name the "
        f"port the kernel chose, not {line!r} (WC-1)")
    return proc, m.group(1).decode()


def assert_status(result, rc, what):
    assert result.rc == rc, result.report(
        f"expected exit status {rc} ({what}), but the program "
        f"{result.describe()}")


def assert_one_message(result, prog, regex, what):
    """stderr is exactly one line, "NAME: " + something matching regex."""
    lines = result.stderr_lines
    names = "|".join(re.escape(n) for n in prog.names)
    pattern = re.compile(rf"^(?:{names}): {regex}")
    expected = f"{prog.name}: {what}"
    assert len(lines) == 1, result.report(
        f"expected exactly one line on stderr, like {expected!r}, but got "
        f"{len(lines)}: {lines[:5]!r}")
    assert pattern.search(lines[0]), result.report(
        f"expected the stderr line to read like {expected!r}, but it was "
        f"{lines[0]!r}")


def assert_only_listening(result, addr, why):
    want = f"listening on {addr}\n".encode()
    assert result.stdout == want, result.report(
        f"expected stdout to hold only {want!r} ({why}), but it was "
        f"{result.stdout[:200]!r}")


def assert_served(client, result, addr):
    """The WC-2 outcome, from both sides: the client got exactly "hello\\n"
    and then an orderly close; the program printed its listening line and
    "client HOST:PORT" with the client's own address, and exited 0."""
    data, how = client.read_until_closed(timeout_s=RUN_LIMIT_S)
    assert (data, how) == (b"hello\n", "eof"), result.report(
        f"expected the client to receive exactly b'hello\\n' and then the "
        f"end of the connection (WC-2), but it received {data[:200]!r} and "
        f"then a {how}")
    assert_status(result, 0, "a client came before the deadline")
    want = f"listening on {addr}\nclient {client.local}\n".encode()
    assert result.stdout == want, result.report(
        f"expected stdout to be exactly {want!r} (the listening line, then "
        f"'client' and the client's own address), but it was "
        f"{result.stdout[:300]!r}")


def assert_timed_out(prog, result, addr, deadline_ms):
    """The WC-3 outcome: exit 124 within the deadline's window, nothing
    after the listening line on stdout, one timeout message. The time is
    checked first: a program that waits long after its deadline has the
    wrong design, whatever it prints at the end."""
    if result.timed_out:
        raise AssertionError(result.report(
            f"expected the program to give up waiting for a client after "
            f"{deadline_ms} ms (--timeout-ms {deadline_ms}), but it was "
            f"still running {result.timeout_s:g} s after start "
            f"({UNBOUNDED})"))
    timing.check_deadline(result.elapsed_ms, deadline_ms, "exited",
                          late_hint=UNBOUNDED,
                          early_hint="a deadline must never fire early",
                          context=result.report())
    assert_status(result, 124, f"the {deadline_ms} ms deadline passed")
    assert_only_listening(result, addr, "no client came")
    assert_one_message(result, prog, rf"timed out after {deadline_ms} ms$",
                       f"timed out after {deadline_ms} ms")


# ---------------------------------------------------------------------------
# COM-2: options


def test_COM2_help_prints_usage_on_stdout_and_exits_0(prog):
    result = run(prog.argv("--help"), timeout_s=RUN_LIMIT_S)
    assert_status(result, 0, "--help")
    for option in (b"--listen", b"--timeout-ms"):
        assert option in result.stdout, result.report(
            f"expected --help to print the usage on stdout, naming "
            f"{option.decode()}")


USAGE_ERRORS = {
    "no-options": [],
    "unknown-option": ["--listen", LISTEN, "--frobnicate"],
    "missing-listen": ["--timeout-ms", "300"],
    "listen-without-value": ["--listen"],
    "timeout-not-a-number": ["--listen", LISTEN, "--timeout-ms", "abc"],
    "timeout-zero": ["--listen", LISTEN, "--timeout-ms", "0"],
    "timeout-negative": ["--listen", LISTEN, "--timeout-ms", "-5"],
    "timeout-trailing-junk": ["--listen", LISTEN, "--timeout-ms", "30x"],
    "address-without-port": ["--listen", "127.0.0.1"],
    "address-port-too-big": ["--listen", "127.0.0.1:65536"],
    "address-bad-host": ["--listen", "300.1.2.3:80"],
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_COM2_bad_command_line_is_a_usage_error(prog, case):
    args = USAGE_ERRORS[case]
    # A short deadline: a program that wrongly goes on instead of stopping
    # at the usage error ends quickly anyway.
    result = run(prog.argv(*args, *(["--timeout-ms", "50"]
                                    if case == "unknown-option" else [])),
                 timeout_s=RUN_LIMIT_S)
    shown = " ".join(args)
    assert_status(result, 2, f"a usage error: {case} in '{shown}'")
    assert result.stdout == b"", result.report(
        f"expected nothing on stdout (a usage error), but it printed "
        f"{result.stdout[:200]!r}")
    assert_one_message(result, prog, r"usage: ", "usage: ...")


# ---------------------------------------------------------------------------
# WC-1: the listening line


def test_WC1_listening_line_names_the_real_port_and_comes_first(prog):
    proc, addr = start_waiting(prog, "--timeout-ms", "5000")
    with proc:
        # The line was read while the program waits, so it was flushed;
        # the address it names is where a client can connect.
        assert proc.lines[0][1] == f"listening on {addr}".encode(), (
            f"expected 'listening on {addr}' to be the first line on "
            f"stdout, but the lines were {proc.lines[:3]!r}")
        client = Client(addr)
        result = proc.wait(RUN_LIMIT_S)
    assert_served(client, result, addr)


# ---------------------------------------------------------------------------
# WC-2: a client in time


def test_WC2_a_client_gets_hello_and_is_reported(prog):
    proc, addr = start_waiting(prog, "--timeout-ms", "5000")
    with proc:
        client = Client(addr)
        connected_ms = (client.connected_at - proc.t0) * 1000.0
        result = proc.wait(RUN_LIMIT_S)
    # Served at once: nothing waits for the 5 s deadline. Checked first:
    # a program that lingers until the deadline has the wrong design,
    # whatever it prints at the end.
    timing.check_deadline(result.elapsed_ms - connected_ms, 0, "exited",
                          late_hint="a client that came must be served at "
                          "once, not when the deadline passes",
                          context=result.report())
    assert_served(client, result, addr)
    assert result.stderr == b"", result.report(
        "expected nothing on stderr when a client was served (no --trace)")


def test_WC2_a_client_late_but_before_the_deadline_is_served(prog):
    proc, addr = start_waiting(prog, "--timeout-ms", "1500")
    with proc:
        # 300 ms after start: well after the program started waiting, and
        # far enough before the deadline that a busy machine cannot make
        # the client late.
        time.sleep(max(0.300 - proc.now_ms() / 1000.0, 0))
        client = Client(addr)
        result = proc.wait(RUN_LIMIT_S)
    assert_served(client, result, addr)


# ---------------------------------------------------------------------------
# WC-3: nobody comes


def test_WC3_no_client_times_out_and_stops_listening(prog):
    proc, addr = start_waiting(prog, "--timeout-ms", "300")
    with proc:
        result = proc.wait(RUN_LIMIT_S)
    assert_timed_out(prog, result, addr, 300)
    assert connect_refused(addr), result.report(
        f"expected a connect to {addr} to be refused once the program "
        f"exited (the listening socket must be closed), but it was not")


def test_WC3_default_deadline_is_5000_ms(prog):
    proc, addr = start_waiting(prog)
    with proc:
        result = proc.wait(RUN_LIMIT_S + 5)
    assert_timed_out(prog, result, addr, 5000)


# ---------------------------------------------------------------------------
# COM-9: --trace


def test_COM9_trace_writes_timestamped_events_on_stderr(prog):
    proc, addr = start_waiting(prog, "--timeout-ms", "5000", "--trace")
    with proc:
        client = Client(addr)
        result = proc.wait(RUN_LIMIT_S)
    assert_served(client, result, addr)
    lines = result.stderr_lines
    assert lines, result.report(
        "expected --trace to print events on stderr, one a line like "
        "'  12.345 listening', but stderr was empty")
    bad = [ln for ln in lines if not re.match(r"^\s*\d+\.\d{3} \S+", ln)]
    assert not bad, result.report(
        f"expected every --trace line to read 'MS EVENT [DETAIL]' with MS "
        f"in ms since start with 3 decimals (e.g. '  12.345 listening'); "
        f"these do not: {bad[:3]!r}")
