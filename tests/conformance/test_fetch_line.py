"""Conformance of fetch-line: a timeout over a whole operation.

    fetch-line --connect HOST:PORT [--timeout-ms N] [--send TEXT] [--trace]

Each test names the item of the contract it checks (COM-2, FL-1 ...). Every
peer is a scripted server of harness/peers.py, so each situation (a
line that trickles in, a peer that never answers, a connect that hangs
because the listener's backlog is full) happens on purpose, and the tests
measure when the program exits and when the peer sees its connection close.

The timing tests leave a wide gap between a right program and a wrong one:
with a 300 ms deadline, a line trickling in at one byte every 100 ms takes
about 2 s, so a program that re-arms its timeout on every read exits
seconds late, while a right one has NOISE_MS of slack on a busy machine.
"""

import re
import signal

import pytest

from harness import timing
from harness.peers import (Server, backlog_full, close_after, delay,
                           expect_line, refused_addr, reset_after, send,
                           seq, slow_reader, stall, trickle)
from harness.process import run, start

CONTRACT = "fetch-line"

# Upper bound on any single run: well above every deadline used here, so a
# program that hangs is killed and reported instead of hanging the suite.
RUN_LIMIT_S = 8

# The longest line the contract accepts (COM-6).
MAX_LINE = 65536

# A line that takes (len - 1) * 100 ms = 1.9 s to trickle in, one byte
# every 100 ms: against a 300 ms deadline no single read waits long, but
# the whole operation does.
SLOW_LINE = b"slow but steady...\n"
assert len(SLOW_LINE) == 19

# A --send text too big to be sent to a slow_reader() peer (which takes
# about 30 kB), yet within Linux's limit on one argument (128 kB).
BIG_SEND = 128 * 1024 - 1


# ---------------------------------------------------------------------------
# Helpers: each check says in words what was expected and what happened.


def message_lines(result):
    """stderr's lines (str)."""
    return result.stderr_lines


def assert_status(result, rc, what):
    assert result.rc == rc, result.report(
        f"expected exit status {rc} ({what}), but the program "
        f"{result.describe()}")


def assert_no_stdout(result, why):
    assert result.stdout == b"", result.report(
        f"expected nothing on stdout ({why}), but it printed "
        f"{result.stdout[:200]!r}")


def assert_one_message(result, prog, regex, what):
    """stderr is exactly one line, "NAME: " + something matching regex."""
    lines = message_lines(result)
    names = "|".join(re.escape(n) for n in prog.names)
    pattern = re.compile(rf"^(?:{names}): {regex}")
    expected = f"{prog.name}: {what}"
    assert len(lines) == 1, result.report(
        f"expected exactly one line on stderr, like {expected!r}, but got "
        f"{len(lines)}: {lines[:5]!r}")
    assert pattern.search(lines[0]), result.report(
        f"expected the stderr line to read like {expected!r}, but it was "
        f"{lines[0]!r}")


def assert_error(result, prog, why, detail_regex=r".+"):
    """Exit 1 with one "NAME: error: ..." line and nothing on stdout."""
    assert_status(result, 1, why)
    assert_no_stdout(result, f"the operation failed: {why}")
    assert_one_message(result, prog, rf"error: {detail_regex}",
                       "error: WHAT")


def assert_timed_out(result, prog, deadline_ms, late_hint):
    """The FL-1 outcome: exit 124 within the deadline's window, nothing on
    stdout, "NAME: timed out after N ms" on stderr. The time is checked
    first: a program that keeps going long after its deadline has the
    wrong design, whatever it prints at the end."""
    if result.timed_out:
        raise AssertionError(result.report(
            f"expected the program to give up after {deadline_ms} ms "
            f"(--timeout-ms {deadline_ms}), but it was still running "
            f"{result.timeout_s:g} s after start ({late_hint})"))
    timing.check_deadline(result.elapsed_ms, deadline_ms, "exited",
                          late_hint=late_hint,
                          early_hint="a deadline must never fire early",
                          context=result.report())
    lines = message_lines(result)
    if len(lines) > 1 and "timed out after" in lines[0]:
        raise AssertionError(result.report(
            f"after {lines[0]!r} the program went on ({lines[1]!r}): once "
            f"the deadline has cancelled a step, nothing may act on it "
            f"(does a callback act without looking at the state?)"))
    assert_status(result, 124, f"the {deadline_ms} ms deadline passed")
    assert_no_stdout(result, "the operation timed out")
    assert_one_message(result, prog,
                       rf"timed out after {deadline_ms} ms$",
                       f"timed out after {deadline_ms} ms")


def assert_printed(result, line):
    """Exit 0 with exactly line + '\\n' on stdout."""
    assert_status(result, 0, "the line arrived in time" + (
        "; the program timed out all the same: does something block until "
        "the deadline instead of waiting for the bytes?"
        if result.rc == 124 else ""))
    want = line + b"\n"
    sizes = (f" ({len(result.stdout)} bytes, {len(want)} expected)"
             if len(result.stdout) != len(want) else "")
    assert result.stdout == want, result.report(
        f"expected stdout to be exactly {want[:200]!r} (the first line, "
        f"byte for byte, then a newline), but it was "
        f"{result.stdout[:200]!r}{sizes}")


# ---------------------------------------------------------------------------
# COM-2: options


def test_COM2_help_prints_usage_on_stdout_and_exits_0(prog):
    result = run(prog.argv("--help"), timeout_s=RUN_LIMIT_S)
    assert_status(result, 0, "--help")
    assert b"--connect" in result.stdout, result.report(
        "expected --help to print the usage, naming --connect, on stdout")


USAGE_ERRORS = {
    "unknown-option": ["--connect", "{addr}", "--frobnicate"],
    "missing-connect": ["--timeout-ms", "300"],
    "connect-without-value": ["--connect"],
    "timeout-not-a-number": ["--connect", "{addr}", "--timeout-ms", "abc"],
    "timeout-zero": ["--connect", "{addr}", "--timeout-ms", "0"],
    "timeout-negative": ["--connect", "{addr}", "--timeout-ms", "-5"],
    "timeout-trailing-junk": ["--connect", "{addr}", "--timeout-ms", "30x"],
    "address-without-port": ["--connect", "127.0.0.1"],
    "address-port-too-big": ["--connect", "127.0.0.1:65536"],
    "address-bad-host": ["--connect", "300.1.2.3:80"],
    "address-port-not-a-number": ["--connect", "127.0.0.1:http"],
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_COM2_bad_command_line_is_a_usage_error(prog, case):
    # A correct address that refuses at once: a program that wrongly goes
    # on instead of stopping at the usage error ends quickly anyway.
    addr = refused_addr()
    args = [a.replace("{addr}", addr) for a in USAGE_ERRORS[case]]
    result = run(prog.argv(*args), timeout_s=RUN_LIMIT_S)
    shown = " ".join(args)
    assert_status(result, 2, f"a usage error: {case} in '{shown}'")
    assert_no_stdout(result, "a usage error")
    assert_one_message(result, prog, r"usage: ", "usage: ...")


# ---------------------------------------------------------------------------
# COM-3, COM-4: the plain success


def test_COM4_prints_the_first_line_and_exits_0(prog):
    with Server(close_after(b"hello, world\nsecond line\n")) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"hello, world")


def test_COM3_localhost_is_accepted_as_host(prog):
    with Server(close_after(b"from localhost\n")) as server:
        addr = f"localhost:{server.port}"
        result = run(prog.argv("--connect", addr, "--timeout-ms", "3000"),
                     timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"from localhost")


# ---------------------------------------------------------------------------
# COM-6: lines are bytes


def test_COM6_line_bytes_are_printed_exactly(prog):
    # NUL, control bytes, a byte that is not UTF-8, a tab and a CR: all
    # are part of the line. What follows the first newline is not.
    line = b"a\x00b\x01c\xffd\te\r"
    with Server(seq(send(line + b"\nnot this\n"), stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, line)


def test_COM6_nothing_after_the_first_newline_is_printed(prog):
    # The rest arrives in the same segment as the line: a program that
    # prints whole reads prints too much.
    with Server(seq(send(b"only this\nand not this, nor\nthis\n"),
                    stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"only this")


def _long_line(n):
    """n bytes of every value but '\\n', NUL included."""
    pattern = bytes(b for b in range(256) if b != 10)
    return (pattern * (n // len(pattern) + 1))[:n]


def test_COM6_a_line_of_exactly_65536_bytes_is_accepted(prog):
    line = _long_line(MAX_LINE)
    with Server(seq(send(line + b"\n"), stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "5000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, line)


def test_COM6_FL3_a_line_of_65537_bytes_is_too_long(prog):
    line = _long_line(MAX_LINE + 1)
    with Server(seq(send(line + b"\n"), stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "5000"), timeout_s=RUN_LIMIT_S)
    assert_error(result, prog, "a line over 65536 bytes",
                 r".*line too long")


def test_COM6_FL3_too_long_is_seen_before_the_newline_arrives(prog):
    # 65537 bytes and no newline yet: the line is already too long, and the
    # program must say so instead of buffering on until its deadline.
    with Server(seq(send(_long_line(MAX_LINE + 1)), stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "4000"), timeout_s=RUN_LIMIT_S)
    assert result.rc != 124, result.report(
        "expected 'line too long' (exit 1) as soon as 65537 bytes without a "
        "newline had arrived, but the program waited for the newline until "
        "its deadline (does it only check the length once it finds '\\n'?)")
    assert_error(result, prog, "a line over 65536 bytes",
                 r".*line too long")


# ---------------------------------------------------------------------------
# COM-8: SIGPIPE


def test_COM8_a_reset_during_a_large_send_does_not_kill_with_SIGPIPE(prog):
    # The peer reads nothing, so the program's send blocks; the peer sends
    # a FIN, then a RST while the program is still writing its --send
    # text: the program's next write fails with EPIPE, which raises SIGPIPE
    # unless it is ignored. (After a FIN then a RST, Linux reports EPIPE;
    # after a RST alone, ECONNRESET first, without the signal.)
    text = "x" * BIG_SEND
    script = seq(close_after(b""), delay(100), reset_after(b"", 0))
    with slow_reader(script) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "4000", "--send", text),
                     timeout_s=RUN_LIMIT_S)
    assert result.rc != -signal.SIGPIPE, result.report(
        "the program was killed by SIGPIPE when the peer went away during "
        "its send: ignore SIGPIPE (COM-8) so that the write returns EPIPE")
    assert_error(result, prog, "the peer reset the connection")


# ---------------------------------------------------------------------------
# COM-9: --trace


def test_COM9_trace_writes_timestamped_events_on_stderr(prog):
    with Server(seq(trickle(b"traced\n", every_ms=10), stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000", "--trace"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"traced")
    lines = result.stderr_lines
    assert lines, result.report(
        "expected --trace to print events on stderr, one a line like "
        "'  12.345 connected', but stderr was empty")
    bad = [ln for ln in lines if not re.match(r"^\s*\d+\.\d{3} \S+", ln)]
    assert not bad, result.report(
        f"expected every --trace line to read 'MS EVENT [DETAIL]' with MS "
        f"in ms since start with 3 decimals (e.g. '  12.345 connected'); "
        f"these do not: {bad[:3]!r}")


# ---------------------------------------------------------------------------
# FL-1: one deadline for the whole operation

REARMED = "is the timeout re-armed on every read?"


def test_FL1_deadline_covers_whole_operation_against_trickle(prog):
    with Server(trickle(SLOW_LINE, every_ms=100)) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "300"), timeout_s=RUN_LIMIT_S)
    assert_timed_out(result, prog, 300, REARMED)


def test_FL1_deadline_against_a_peer_that_accepts_and_never_sends(prog):
    with Server(stall()) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "300"), timeout_s=RUN_LIMIT_S)
    assert_timed_out(result, prog, 300,
                     "does the read get the deadline, and does the "
                     "deadline's timer wake the program?")


def test_FL1_deadline_covers_a_connect_that_hangs(prog):
    with backlog_full() as addr:
        result = run(prog.argv("--connect", addr, "--timeout-ms", "300"),
                     timeout_s=RUN_LIMIT_S)
    assert_timed_out(result, prog, 300,
                     "does connect() get the time that is left? a connect "
                     "to a full backlog hangs for minutes")


def test_FL1_deadline_covers_a_send_the_peer_does_not_read(prog):
    # 128 kB to a peer that never reads: the send blocks after about 30 kB
    # and only the deadline can end it.
    text = "y" * BIG_SEND
    with slow_reader(stall()) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "300", "--send", text),
                     timeout_s=RUN_LIMIT_S)
    assert_timed_out(result, prog, 300,
                     "does the send get the time that is left?")


def test_FL1_one_deadline_for_connect_and_read_together(prog):
    # The connect takes about 1 s (the first SYN is dropped by a full
    # backlog; the server starts accepting after 500 ms and the kernel's
    # retry, after 1 s, gets through), then the line trickles in for 1.4 s
    # more. A 1500 ms deadline passes during the trickle; a program that
    # gives the read a fresh deadline after the connect finishes at about
    # 2.4 s with the line.
    line = b"fifteen bytes!\n"
    server = Server(trickle(line, every_ms=100), fill_backlog=True,
                    accept_after_ms=500)
    with server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "1500"), timeout_s=RUN_LIMIT_S)
    assert_timed_out(result, prog, 1500,
                     "is the deadline computed once, before the connect, "
                     "or once per step?")


@pytest.mark.timeout(40)
def test_FL1_default_deadline_is_5000_ms(prog):
    with Server(stall()) as server:
        result = run(prog.argv("--connect", server.addr),
                     timeout_s=RUN_LIMIT_S + 2)
    assert_timed_out(result, prog, 5000,
                     "without --timeout-ms the deadline is 5000 ms")


# ---------------------------------------------------------------------------
# FL-2: the connection is closed when the program is done


def test_FL2_after_a_timeout_the_peer_sees_the_connection_closed(prog):
    with Server(stall()) as server:
        with start(prog.argv("--connect", server.addr, "--timeout-ms",
                             "300")) as proc:
            server.clock = proc
            conn = server.wait_conn(timeout_s=5)
            closed = conn.wait_closed(timeout_s=RUN_LIMIT_S)
            result = proc.wait(timeout_s=RUN_LIMIT_S)
    assert closed, result.report(
        "expected the peer to see the connection closed once the 300 ms "
        "deadline passed, but it stayed open (is the operation abandoned "
        "instead of cancelled?)")
    limit = timing.latest(300)
    assert conn.closed_at_ms <= limit, result.report(
        f"the peer saw the connection closed {conn.closed_at_ms:.0f} ms "
        f"after start; the deadline was 300 ms, so it should have by "
        f"{300 + timing.SPEC_LATE_MS} ms (is the socket closed only after "
        f"a blocked call returns on its own?)")
    assert not result.leftovers, result.report(
        f"when the program exited, processes of its group were still "
        f"running (pids {result.leftovers}): nothing may keep running "
        f"after a timeout")


def test_FL2_after_success_the_peer_sees_the_connection_closed(prog):
    # The peer keeps its side open: the program must close its own.
    with Server(seq(send(b"done\n"), stall())) as server:
        with start(prog.argv("--connect", server.addr, "--timeout-ms",
                             "3000")) as proc:
            server.clock = proc
            result = proc.wait(timeout_s=RUN_LIMIT_S)
            conn = server.wait_conn(timeout_s=1)
            closed = conn.wait_closed(timeout_s=timing.NOISE_MS / 1000.0)
    assert_printed(result, b"done")
    assert closed, result.report(
        f"expected the peer to see the connection closed by the time the "
        f"program exited ({result.elapsed_ms:.0f} ms after start), but it "
        f"was still open {timing.NOISE_MS} ms later")


# ---------------------------------------------------------------------------
# FL-3: errors


@pytest.mark.parametrize("sent", [b"", b"half a li"],
                         ids=["nothing", "part-of-a-line"])
def test_FL3_peer_closing_before_the_newline_is_an_error(prog, sent):
    with Server(close_after(sent)) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert result.rc != 124, result.report(
        "expected an error (exit 1) as soon as the peer closed before a "
        "newline, but the program waited for its deadline (does it treat "
        "a read of 0 bytes as end of file?)")
    assert_error(result, prog, f"the peer closed after {sent!r}, before "
                 f"any newline")


def test_FL3_a_refused_connection_is_an_error(prog):
    result = run(prog.argv("--connect", refused_addr(), "--timeout-ms",
                           "3000"), timeout_s=RUN_LIMIT_S)
    assert_error(result, prog, "the connection was refused")


def test_FL3_a_reset_in_the_middle_of_a_line_is_an_error(prog):
    with Server(reset_after(b"half a li", delay_ms=50)) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_error(result, prog, "the peer reset the connection mid-line")


# ---------------------------------------------------------------------------
# FL-4: slow peers are normal


def test_FL4_a_line_trickling_in_within_the_deadline_succeeds(prog):
    # 10 bytes, one every 20 ms: slow, but done long before 3000 ms.
    with Server(seq(trickle(b"byte-wise\n", every_ms=20), stall())) as srv:
        result = run(prog.argv("--connect", srv.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"byte-wise")


def test_FL4_a_peer_that_waits_before_answering_is_fine(prog):
    with Server(seq(delay(700), send(b"late but in time\n"),
                    stall())) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "3000"), timeout_s=RUN_LIMIT_S)
    assert_printed(result, b"late but in time")


def test_FL4_a_connect_waits_for_a_backlog_that_frees_up(prog):
    # The first SYN is dropped (backlog full); the server starts accepting
    # after 300 ms and the kernel's retry (after about 1 s) gets through.
    server = Server(seq(send(b"finally\n"), stall()), fill_backlog=True,
                    accept_after_ms=300)
    with server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "4000"), timeout_s=RUN_LIMIT_S)
    assert result.rc != 1, result.report(
        "expected the connect to wait for the full backlog to free up, but "
        "the program gave up with an error (does it treat a slow connect "
        "as a failure?)")
    assert_printed(result, b"finally")


# ---------------------------------------------------------------------------
# --send


def test_send_text_reaches_the_peer_before_the_reply(prog):
    # The peer answers only once it has the whole request line.
    text = "GET /status with \x01 bytes"
    want = text.encode() + b"\n"
    script = seq(expect_line(timeout_s=4), send(b"ok: status\n"), stall())
    with Server(script) as server:
        result = run(prog.argv("--connect", server.addr, "--timeout-ms",
                               "4000", "--send", text),
                     timeout_s=RUN_LIMIT_S)
        conn = server.wait_conn(timeout_s=1)
    received = conn.received
    assert received == want, result.report(
        f"expected the peer to receive exactly the --send text and a "
        f"newline, {want!r}, but it received {received[:200]!r}")
    assert_printed(result, b"ok: status")

