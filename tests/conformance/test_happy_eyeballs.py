"""Conformance of happy-eyeballs: racing connects, cancelling the losers.

    happy-eyeballs --connect HOST:PORT [--connect HOST:PORT ...]
                   [--stagger-ms N] [--timeout-ms N] [--send TEXT] [--trace]

Each test names the item of the contract it checks (COM-2, HE-1 ...). The
addresses of a race are made on purpose by harness/race.py: a listener that
answers, one whose backlog is full (a connect there hangs, and completes
later if the listener starts accepting and the connect was not really
cancelled), and an address that refuses. When each attempt started is
measured from outside the program: when the listener accepted it, or when
the program's socket appeared in the kernel's TCP table (a connect that
hangs is visible only there).

The timing tests leave a wide gap between a right program and the usual
wrong ones: with a 300 ms stagger in front of a connect that hangs, a right
program starts attempt 2 at 300 ms, one that starts everything at once does
so at 0 ms, and one that tries the addresses strictly one after the other
never starts it before its deadline. Every bound has the spec's 100 ms and
NOISE_MS of slack on the late side only (harness/timing.py).
"""

import re

import pytest

from harness import timing
from harness.peers import (close_after, delay, expect_line, reset_after, send,
                           seq, stall, trickle)
from harness.process import run
from harness.race import Race, answering, hanging, not_reading, refused

CONTRACT = "happy-eyeballs"

# Upper bound on any single run: well above every deadline used here, so a
# program that hangs is killed and reported instead of hanging the suite.
RUN_LIMIT_S = 8

# The longest line the contract accepts (COM-6).
MAX_LINE = 65536

# The most --connect options the contract accepts (HE-1).
MAX_ADDRESSES = 16

# A line that takes (len - 1) * 100 ms = 1.7 s to trickle in.
SLOW_LINE = b"slow but steady..\n"
assert len(SLOW_LINE) == 18

# What the usual wrong designs look like, named once: the failure messages
# end with the question a student should ask about their program.
ALL_AT_ONCE = "are all attempts started at once?"
WAITS_OUT_STAGGER = ("is the next attempt started only when the stagger "
                     "timer fires, even after a failure?")
NOT_CANCELLED = "are the losers cancelled when one attempt wins?"
FALLBACK = "does it fall back to another address after the winner failed?"
AFTER_WIN = ("no attempt may start after a win: is the stagger timer "
             "stopped when an attempt wins?")


# ---------------------------------------------------------------------------
# Helpers: each check says in words what was expected and what happened.


def sequential(k):
    """The question for attempt k that never started."""
    return (f"is attempt {k} started only after attempt {k - 1} ended? "
            f"(strictly one after the other, no stagger)")


def race_run(prog, race, *args, timeout_s=RUN_LIMIT_S):
    """Runs the program against the race's addresses (in order) plus args;
    the race's times then count from the program's spawn."""
    result = run(prog.argv(*race.connect_args(), *args), timeout_s=timeout_s)
    race.clock = result
    return result


def report(result, race, expected):
    """A failure message: what was expected, what each address saw, and
    how the program ended."""
    return result.report(f"{expected}\n{race.timeline()}")


def assert_status(result, race, rc, what):
    assert result.rc == rc, report(
        result, race, f"expected exit status {rc} ({what}), but the program "
        f"{result.describe()}")


def assert_one_message(result, race, prog, regex, what):
    """stderr is exactly one line, "NAME: " + something matching regex."""
    lines = result.stderr_lines
    names = "|".join(re.escape(n) for n in prog.names)
    expected = f"{prog.name}: {what}"
    assert len(lines) == 1, report(
        result, race, f"expected exactly one line on stderr, like "
        f"{expected!r}, but got {len(lines)}: {lines[:5]!r}")
    assert re.search(rf"^(?:{names}): {regex}", lines[0]), report(
        result, race, f"expected the stderr line to read like {expected!r}, "
        f"but it was {lines[0]!r}")


def first_win(race):
    """(attempt number, ms) of the first connection a listener accepted,
    or None."""
    accepted = [(race.accepted_ms(i), i + 1)
                for i in range(len(race.targets))
                if race.accepted_ms(i) is not None]
    return min(accepted)[::-1] if accepted else None


def assert_no_wait_for_losers(result, race, what):
    """A program that reached its deadline although an attempt had won,
    in a test where the winner answers (or fails) at once, waited for the
    losers."""
    win = first_win(race)
    if result.rc == 124 and win is not None:
        raise AssertionError(report(
            result, race, f"expected {what}, but the program "
            f"{result.describe()}, although attempt {win[0]} had connected "
            f"{win[1]:.0f} ms after start and won: is it waiting for "
            f"the other attempts to end on their own? {NOT_CANCELLED}"))


def assert_printed(result, race, line):
    """Exit 0 with exactly line + '\\n' on stdout."""
    assert_no_wait_for_losers(result, race,
                              "exit status 0 with the winner's line")
    assert_status(result, race, 0, "an attempt won and its line arrived")
    want = line + b"\n"
    assert result.stdout == want, report(
        result, race, f"expected stdout to be exactly {want[:200]!r} (the "
        f"winner's first line and a newline), but it was "
        f"{result.stdout[:200]!r}")


def assert_error(result, race, prog, why, detail_regex=r".+"):
    """Exit 1 with one "NAME: error: ..." line and nothing on stdout."""
    assert_no_wait_for_losers(result, race, f"exit status 1 ({why})")
    assert_status(result, race, 1, why)
    assert result.stdout == b"", report(
        result, race, f"expected nothing on stdout ({why}), but it printed "
        f"{result.stdout[:200]!r}")
    assert_one_message(result, race, prog, rf"error: {detail_regex}",
                       "error: WHAT")


def assert_timed_out(result, race, prog, deadline_ms, late_hint):
    """The HE-5 outcome: exit 124 within the deadline's window, nothing on
    stdout, "NAME: timed out after N ms" on stderr. The time is checked
    first: a program that keeps going long after its deadline has the
    wrong design, whatever it prints at the end."""
    if result.timed_out:
        raise AssertionError(report(
            result, race, f"expected the program to give up after "
            f"{deadline_ms} ms (--timeout-ms {deadline_ms}), but it was "
            f"still running {result.timeout_s:g} s after start "
            f"({late_hint})"))
    timing.check_deadline(result.elapsed_ms, deadline_ms, "exited",
                          late_hint=late_hint,
                          early_hint="a deadline must never fire early",
                          context=report(result, race, ""))
    assert_status(result, race, 124, f"the {deadline_ms} ms deadline passed")
    assert result.stdout == b"", report(
        result, race, f"expected nothing on stdout (the run timed out), "
        f"but it printed {result.stdout[:200]!r}")
    assert_one_message(result, race, prog,
                       rf"timed out after {deadline_ms} ms$",
                       f"timed out after {deadline_ms} ms")


def assert_started(result, race, i, at_ms, early_hint, never_hint,
                   late_hint=None):
    """Attempt i (0-based) started no earlier than at_ms - 5 and no later
    than at_ms + 100 ms + NOISE_MS after the spawn."""
    started = race.started_ms(i)
    k = i + 1
    if never_hint is None:
        never_hint = sequential(k)
    assert started is not None, report(
        result, race, f"expected attempt {k} ({race.targets[i].kind}) to "
        f"start about {at_ms} ms after start, but it never started "
        f"({never_hint})")
    assert started >= timing.earliest(at_ms), report(
        result, race, f"attempt {k} started {started:.0f} ms after start; "
        f"it was due at {at_ms} ms, and must not start earlier "
        f"({early_hint})")
    limit = timing.latest(at_ms)
    assert started <= limit, report(
        result, race, f"attempt {k} started {started:.0f} ms after start; "
        f"it was due at {at_ms} ms, so it should have by "
        f"{at_ms + timing.SPEC_LATE_MS} ms"
        + (f" ({late_hint})" if late_hint else ""))


def assert_nothing_left_behind(result, race):
    """HE-6: no process of the program's group outlived it, and every
    socket it opened to any address is closed by the time it exited (the
    kernel closes them when the process ends; the peers see it at once)."""
    assert not result.leftovers, report(
        result, race, f"when the program exited, processes of its group "
        f"were still running (pids {result.leftovers}): nothing it started "
        f"may outlive it (HE-6)")
    for i, target in enumerate(race.targets):
        for conn in target.conns:
            if conn.stopping and not conn.closed:
                continue   # the peer reset it itself: nothing to see
            closed = conn.wait_closed(timeout_s=timing.NOISE_MS / 1000.0)
            assert closed, report(
                result, race, f"attempt {i + 1}'s connection was still open "
                f"{timing.NOISE_MS} ms after the program exited "
                f"({result.elapsed_ms:.0f} ms after start): every socket "
                f"must be closed when it exits (HE-6)")


# ---------------------------------------------------------------------------
# COM-2: options


def test_COM2_help_prints_usage_on_stdout_and_exits_0(prog):
    result = run(prog.argv("--help"), timeout_s=RUN_LIMIT_S)
    assert result.rc == 0, result.report(
        f"expected --help to exit 0, but the program {result.describe()}")
    for option in (b"--connect", b"--stagger-ms"):
        assert option in result.stdout, result.report(
            f"expected --help to print the usage, naming {option.decode()}, "
            f"on stdout")


USAGE_ERRORS = {
    "unknown-option": ["--connect", "{addr}", "--frobnicate"],
    "missing-connect": ["--stagger-ms", "300"],
    "connect-without-value": ["--connect"],
    "stagger-not-a-number": ["--connect", "{addr}", "--stagger-ms", "abc"],
    "stagger-zero": ["--connect", "{addr}", "--stagger-ms", "0"],
    "stagger-negative": ["--connect", "{addr}", "--stagger-ms", "-5"],
    "stagger-trailing-junk": ["--connect", "{addr}", "--stagger-ms", "30x"],
    "timeout-zero": ["--connect", "{addr}", "--timeout-ms", "0"],
    "timeout-not-a-number": ["--connect", "{addr}", "--timeout-ms", "abc"],
    "address-without-port": ["--connect", "{addr}", "--connect",
                             "127.0.0.1"],
    "address-bad-host": ["--connect", "300.1.2.3:80"],
    "seventeen-addresses": ["--connect", "{addr}"] * (MAX_ADDRESSES + 1),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_COM2_bad_command_line_is_a_usage_error(prog, case):
    # Addresses that refuse at once: a program that wrongly goes on
    # instead of stopping at the usage error ends quickly anyway.
    addr = refused().addr
    args = [a.replace("{addr}", addr) for a in USAGE_ERRORS[case]]
    result = run(prog.argv(*args), timeout_s=RUN_LIMIT_S)
    shown = " ".join(args) if len(args) < 10 else f"{len(args) // 2} " \
        f"--connect options"
    assert result.rc == 2, result.report(
        f"expected exit status 2 (a usage error: {case} in '{shown}'), but "
        f"the program {result.describe()}")
    assert result.stdout == b"", result.report(
        "expected nothing on stdout after a usage error")
    lines = result.stderr_lines
    assert len(lines) == 1 and prog.says(lines[0], "usage: "), \
        result.report(f"expected exactly one line on stderr, like "
                      f"'{prog.name}: usage: ...', but got {lines[:5]!r}")


# ---------------------------------------------------------------------------
# COM-9: --trace


def test_COM9_trace_writes_timestamped_events_on_stderr(prog):
    with Race([hanging(), answering(b"traced\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "100",
                          "--timeout-ms", "3000", "--trace")
        assert_printed(result, race, b"traced")
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
# HE-1: staggered starts, in order, each address once


def test_HE1_first_attempt_starts_at_once(prog):
    with Race([answering(b"first\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "1000",
                          "--timeout-ms", "3000")
        assert_started(result, race, 0, 0, "", "is --connect used?",
                       "attempt 1 starts at once")
        assert_printed(result, race, b"first")


def test_HE1_next_attempt_starts_after_the_stagger(prog):
    # Attempt 1 hangs (full backlog); attempt 2 answers. Right: attempt 2
    # starts 300 ms in. All at once: at 0 ms. Strictly one after the
    # other: never, attempt 1 holds the program until its deadline.
    with Race([hanging(), answering(b"second\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "300",
                          "--timeout-ms", "2000")
        assert_started(result, race, 1, 300, ALL_AT_ONCE, None,
                       "is the stagger counted from attempt 1's start?")
        assert_started(result, race, 0, 0, "", "is --connect used?")
        assert_printed(result, race, b"second")


def test_HE1_stagger_counts_from_each_attempts_start(prog):
    # Two hanging attempts, then one that answers: attempt k+1 starts
    # 300 ms after attempt k, so attempt 3 at 600 ms.
    with Race([hanging(), hanging(), answering(b"third\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "300",
                          "--timeout-ms", "3000")
        assert_started(result, race, 1, 300, ALL_AT_ONCE, None)
        assert_started(result, race, 2, 600, ALL_AT_ONCE, None,
                       "is the stagger counted from the previous start?")
        assert_printed(result, race, b"third")


def test_HE1_default_stagger_is_250_ms(prog):
    with Race([hanging(), answering(b"second\n")]) as race:
        result = race_run(prog, race, "--timeout-ms", "2000")
        assert_started(result, race, 1, 250, ALL_AT_ONCE, None,
                       "without --stagger-ms the stagger is 250 ms")
        assert_printed(result, race, b"second")


def test_HE1_a_refused_attempt_starts_the_next_at_once(prog):
    # A 1000 ms stagger that a right program never waits for: attempt 1
    # is refused at once, so attempt 2 starts at once.
    with Race([refused(), answering(b"second\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "1000",
                          "--timeout-ms", "4000")
        assert_started(result, race, 1, 0, "", WAITS_OUT_STAGGER,
                       WAITS_OUT_STAGGER)
        assert_printed(result, race, b"second")


def test_HE1_a_failure_after_the_stagger_starts_the_next_at_once(prog):
    # Attempt 1 hangs; attempt 2 starts after the 800 ms stagger and is
    # refused at once; attempt 3 must start then, at 800 ms, not 800 ms
    # later.
    with Race([hanging(), refused(), answering(b"third\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "800",
                          "--timeout-ms", "4000")
        assert_started(result, race, 2, 800, ALL_AT_ONCE, None,
                       WAITS_OUT_STAGGER)
        assert_printed(result, race, b"third")


def test_HE1_attempts_start_in_the_order_given(prog):
    with Race([hanging(), hanging(), hanging(),
               answering(b"fourth\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "150",
                          "--timeout-ms", "3000")
        starts = [race.started_ms(i) for i in range(4)]
        missing = [i + 1 for i, s in enumerate(starts) if s is None]
        assert not missing, report(
            result, race, f"expected the four attempts to start one after "
            f"the other, 150 ms apart, but attempts {missing} never started "
            f"({sequential(missing[0])})")
        order = sorted(range(4), key=lambda i: starts[i])
        assert order == [0, 1, 2, 3], report(
            result, race, f"expected the attempts to start in the order of "
            f"the --connect options (1, 2, 3, 4), but they started in the "
            f"order {[i + 1 for i in order]}")
        for i in range(1, 4):
            assert_started(result, race, i, 150 * i, ALL_AT_ONCE, None)
        assert_printed(result, race, b"fourth")


def test_HE1_each_address_is_tried_once(prog):
    # Two connects that hang until the deadline: each address gets one
    # socket, not a new connect every time one seems slow.
    with Race([hanging(), hanging()]) as race:
        result = race_run(prog, race, "--stagger-ms", "100",
                          "--timeout-ms", "900")
        assert_started(result, race, 1, 100, ALL_AT_ONCE, None)
        for i in range(2):
            n = race.attempts(i)
            assert n == 1, report(
                result, race, f"expected exactly one connect to address "
                f"{i + 1} during the whole run, but the program opened {n} "
                f"sockets to it (each address is tried at most once; is a "
                f"slow connect retried?)")
        assert_timed_out(result, race, prog, 900, "is every attempt "
                         "bounded by the one deadline?")


def test_HE1_an_address_given_twice_is_tried_once(prog):
    # --connect A --connect B --connect A: the repeat of A is not a third
    # attempt (the kit drops it; see docs/programs.md).
    with Race([hanging(), hanging()]) as race:
        again = race.targets[0].addr
        result = race_run(prog, race, "--connect", again, "--stagger-ms",
                          "200", "--timeout-ms", "1000")
        n = race.attempts(0)
        assert n == 1, report(
            result, race, f"address 1 was given twice, yet the program "
            f"opened {n} sockets to it: each address is tried at most once")
        assert_timed_out(result, race, prog, 1000, "is every attempt "
                         "bounded by the one deadline?")


def test_HE1_up_to_16_addresses_are_tried_in_turn(prog):
    # Fifteen refusals, then an answer: all sixteen addresses are used.
    targets = [refused() for _ in range(MAX_ADDRESSES - 1)]
    targets.append(answering(b"sixteenth\n"))
    with Race(targets) as race:
        result = race_run(prog, race, "--stagger-ms", "1000",
                          "--timeout-ms", "4000")
        assert result.rc != 2, report(
            result, race, "16 --connect options are allowed, but the "
            "program called it a usage error")
        assert_started(result, race, MAX_ADDRESSES - 1, 0, "",
                       WAITS_OUT_STAGGER, WAITS_OUT_STAGGER)
        assert_printed(result, race, b"sixteenth")


# ---------------------------------------------------------------------------
# HE-2: the first connection wins, every other attempt is cancelled


def test_HE2_a_pending_loser_is_closed_and_never_connects_later(prog):
    # Attempt 1 hangs in a full backlog that drains at 500 ms; attempt 2
    # wins at 200 ms and answers only at 1800 ms, so the program is still
    # running when attempt 1's SYN is retried (about 1 s after it was
    # sent). A connect that was really cancelled at the win is gone by
    # then; one that was left pending completes, and its listener sees it.
    with Race([hanging(drain_after_ms=500),
               answering(b"winner\n", after_ms=1600)]) as race:
        result = race_run(prog, race, "--stagger-ms", "200",
                          "--timeout-ms", "5000")
        assert_started(result, race, 1, 200, ALL_AT_ONCE, None)
        won = race.accepted_ms(1)
        late = race.targets[0].conns
        assert not late, report(
            result, race, f"attempt 1's listener accepted a connection from "
            f"the program {race.accepted_ms(0):.0f} ms after start, long "
            f"after attempt 2 had won at {won:.0f} ms: its connect was left "
            f"pending and completed later; {NOT_CANCELLED} (a connect still "
            f"pending must be closed at the win, HE-2)")
        pending = race.pending_until_ms(0)
        limit = won + timing.SPEC_LATE_MS + timing.NOISE_MS
        assert pending is None or pending <= limit, report(
            result, race, f"attempt 1's connect was still pending "
            f"{pending:.0f} ms after start, although attempt 2 had won at "
            f"{won:.0f} ms; {NOT_CANCELLED}")
        assert_printed(result, race, b"winner")


def test_HE2_a_loser_that_connects_anyway_is_closed_without_a_byte(prog):
    # Three listeners that answer only once they have the request line,
    # and slowly, with a 1 ms stagger: the program may well connect to
    # more than one before it sees its first connection. Exactly one
    # gets the request; any other connection is closed at once, without a
    # byte.
    script = seq(expect_line(timeout_s=4), delay(800), send(b"ok\n"),
                 stall())
    targets = [answering(script=script) for _ in range(3)]
    with Race(targets) as race:
        result = race_run(prog, race, "--stagger-ms", "1", "--timeout-ms",
                          "4000", "--send", "request")
        talked = [i for i, t in enumerate(targets)
                  if any(c.received for c in t.conns)]
        assert len(talked) == 1, report(
            result, race, f"expected exactly one attempt, the winner, to "
            f"receive the request, but {len(talked)} did (attempts "
            f"{[i + 1 for i in talked]}): only the winner talks")
        for i, t in enumerate(targets):
            for conn in t.conns:
                if i in talked:
                    continue
                closed = conn.wait_closed(timeout_s=0)
                assert closed and conn.closed_at_ms - conn.accepted_at_ms \
                    <= timing.SPEC_LATE_MS + timing.NOISE_MS, report(
                        result, race, f"attempt {i + 1} connected too, after "
                        f"the win or at the same time, but its connection "
                        f"was not closed at once ({NOT_CANCELLED} a loser "
                        f"that connects anyway must be closed, without a "
                        f"byte, HE-2)")
        assert_printed(result, race, b"ok")


def test_HE2_no_attempt_starts_after_the_win(prog):
    # Attempt 1 wins at once and answers at 800 ms; the stagger timer
    # would start attempts 2 and 3 at 150 and 300 ms if nothing stopped it.
    with Race([answering(b"first\n", after_ms=800), answering(b"2\n"),
               answering(b"3\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "150",
                          "--timeout-ms", "3000")
        won = race.accepted_ms(0)
        for i in (1, 2):
            started = race.started_ms(i)
            assert started is None, report(
                result, race, f"attempt {i + 1} started {started:.0f} ms "
                f"after start, although attempt 1 had connected at "
                f"{won:.0f} ms and won; {AFTER_WIN}"
                + (f" Or {ALL_AT_ONCE}" if started < 100 else ""))
        assert_printed(result, race, b"first")


# ---------------------------------------------------------------------------
# HE-3: only the winner talks; no falling back after a win


def test_HE3_only_the_winner_gets_the_text_and_its_line_is_printed(prog):
    with Race([hanging(),
               answering(script=seq(expect_line(timeout_s=4),
                                    send(b"hello to you\n"), stall())),
               answering(b"never\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "200",
                          "--timeout-ms", "4000", "--send", "hello there")
        assert_started(result, race, 1, 200, ALL_AT_ONCE, None)
        assert_printed(result, race, b"hello to you")
        winner = race.targets[1].conns
        assert winner and winner[0].received == b"hello there\n", report(
            result, race, f"expected attempt 2, the winner, to receive "
            f"exactly b'hello there\\n', but it received "
            f"{winner[0].received[:100] if winner else 'no connection'!r}")
        assert not race.targets[0].conns, report(
            result, race, f"attempt 1's listener got a connection from the "
            f"program after attempt 2 had won; {NOT_CANCELLED}")
        assert not race.targets[2].conns, report(
            result, race, f"attempt 3 was started after attempt 2 had won; "
            f"{AFTER_WIN}")


def test_HE3_after_refusals_the_first_to_connect_wins(prog):
    with Race([refused(), refused(), answering(b"third\n"),
               answering(b"fourth\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "300",
                          "--timeout-ms", "3000")
        assert not race.targets[3].conns, report(
            result, race, "attempt 4 was started although attempt 3 had "
            "connected at once and won (attempts go in order, and none "
            "starts after a win)")
        assert_printed(result, race, b"third")


# Each winner first waits for the --send line, so the program's error can
# only come from the winner's failure: a program that exits 1 without
# racing at all never wins, never sends, and fails the test.
WINNER_FAILURES = {
    "closes-before-newline": (seq(expect_line(timeout_s=3),
                                  close_after(b"half a li")),
                              "the winner closed before a newline", r".+"),
    "resets": (seq(expect_line(timeout_s=3),
                   reset_after(b"half a li", delay_ms=50)),
               "the winner reset the connection", r".+"),
    "line-too-long": (seq(expect_line(timeout_s=3),
                          send(b"x" * (MAX_LINE + 1)), stall()),
                      "the winner sent a line over 65536 bytes",
                      r".*line too long"),
}


@pytest.mark.parametrize("case", WINNER_FAILURES)
def test_HE3_the_winner_failing_is_an_error_with_no_fallback(prog, case):
    # Attempt 1 wins at once, gets the text, then fails; attempt 2 would
    # answer, and a 300 ms stagger is far longer than the failure takes. A
    # program that falls back connects to attempt 2 and prints its line.
    script, why, detail = WINNER_FAILURES[case]
    with Race([answering(script=script),
               answering(b"fallback line\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "300",
                          "--timeout-ms", "4000", "--send", "who wins")
        winner = race.targets[0].conns
        assert winner and winner[0].received == b"who wins\n", report(
            result, race, f"expected attempt 1 to connect at once, win and "
            f"receive exactly b'who wins\\n' before it failed, but it "
            f"{'received ' + repr(winner[0].received[:100]) if winner else 'never got a connection'}"
            f" (the error must come from the winner's failure)")
        fell_back = race.started_ms(1)
        assert fell_back is None, report(
            result, race, f"{why} at about "
            f"{race.accepted_ms(0) or 0:.0f} ms; the program then "
            f"connected to attempt 2's address at {fell_back:.0f} ms: after "
            f"a win there is no falling back to another address (HE-3); "
            f"{FALLBACK}")
        assert_error(result, race, prog, why, detail)
        assert_nothing_left_behind(result, race)


# ---------------------------------------------------------------------------
# HE-4: every attempt failed

# The last error of a race whose addresses all refused, in the words of any
# language's error text ("Connection refused", "ECONNREFUSED" ...).
REFUSED = r"(?i:.*refused.*)"


def test_HE4_all_refused_is_an_error_at_once(prog):
    # A 1000 ms stagger that a right program never waits for: each
    # refusal starts the next attempt at once, and the last one ends it.
    with Race([refused(), refused(), refused()]) as race:
        result = race_run(prog, race, "--stagger-ms", "1000",
                          "--timeout-ms", "5000")
        limit = timing.latest(0)
        exited = result.elapsed_ms
        on_time = exited is not None and exited <= limit
        assert on_time, report(
            result, race, f"expected the program to give up at once when "
            f"all three addresses refused (by {timing.SPEC_LATE_MS} ms), "
            f"but it {result.describe()} ({WAITS_OUT_STAGGER})")
        assert_error(result, race, prog, "every attempt was refused",
                     rf"all 3 attempts failed \({REFUSED}\)$")
        assert_nothing_left_behind(result, race)


def test_HE4_a_single_refused_address_is_an_error(prog):
    with Race([refused()]) as race:
        result = race_run(prog, race, "--timeout-ms", "3000")
        assert_error(result, race, prog, "the only attempt was refused",
                     rf"all 1 attempts? failed \({REFUSED}\)$")


# ---------------------------------------------------------------------------
# HE-5: one deadline over the race, the send and the read


def test_HE5_deadline_while_every_attempt_hangs(prog):
    with Race([hanging(), hanging()]) as race:
        result = race_run(prog, race, "--stagger-ms", "200",
                          "--timeout-ms", "600")
        assert_timed_out(result, race, prog, 600,
                         "does every connect get the time that is left? "
                         "a connect to a full backlog hangs for minutes")
        assert_nothing_left_behind(result, race)


def test_HE5_deadline_while_the_winner_never_answers(prog):
    with Race([answering(None)]) as race:
        result = race_run(prog, race, "--timeout-ms", "500")
        assert_timed_out(result, race, prog, 500,
                         "does the read on the winner get the deadline?")
        assert_nothing_left_behind(result, race)


def test_HE5_one_deadline_for_the_race_and_the_read(prog):
    # Attempt 2 wins at 600 ms, then its line trickles in for 1.7 s. The
    # 1000 ms deadline passes during the trickle; a program that gives the
    # read a fresh deadline after the win exits at 1600 ms, one that
    # re-arms it on every byte prints the line at 2300 ms.
    with Race([hanging(),
               answering(script=seq(trickle(SLOW_LINE, every_ms=100),
                                    stall()))]) as race:
        result = race_run(prog, race, "--stagger-ms", "600",
                          "--timeout-ms", "1000")
        assert_timed_out(result, race, prog, 1000,
                         "is the deadline computed once, at start, for the "
                         "race and the read together?")
        assert_nothing_left_behind(result, race)


def test_HE5_deadline_covers_a_send_the_winner_does_not_read(prog):
    # 128 kB to a winner that never reads: the send blocks and only the
    # deadline can end it.
    text = "y" * (128 * 1024 - 1)
    with Race([not_reading()]) as race:
        result = race_run(prog, race, "--timeout-ms", "500",
                          "--send", text)
        assert_timed_out(result, race, prog, 500,
                         "does the send get the time that is left?")


@pytest.mark.timeout(40)
def test_HE5_default_deadline_is_5000_ms(prog):
    with Race([hanging()]) as race:
        result = race_run(prog, race, timeout_s=RUN_LIMIT_S + 2)
        assert_timed_out(result, race, prog, 5000,
                         "without --timeout-ms the deadline is 5000 ms")


# ---------------------------------------------------------------------------
# HE-6: nothing left behind


def test_HE6_exits_at_once_after_the_win_with_a_loser_pending(prog):
    # Attempt 1 hangs until long after the run; attempt 2 wins at 200 ms
    # and answers at once. The program must not wait for attempt 1:
    # it is cancelled, not waited for. A right program exits within a few
    # ms of the win; one that waits for attempt 1 exits at its deadline,
    # 4 s later. The exit is timed from the win, as the winner's listener
    # saw it.
    with Race([hanging(), answering(b"quick\n")]) as race:
        result = race_run(prog, race, "--stagger-ms", "200",
                          "--timeout-ms", "4000")
        assert_started(result, race, 1, 200, ALL_AT_ONCE, None)
        won = race.accepted_ms(1)
        limit = won + timing.SPEC_LATE_MS + timing.NOISE_MS
        if result.timed_out or result.elapsed_ms > limit:
            printed = (f"printed its line {result.lines[0][0]:.0f} ms after "
                       f"start but " if result.lines else "")
            raise AssertionError(report(
                result, race, f"expected the program to exit right after "
                f"attempt 2 won at {won:.0f} ms and answered (by "
                f"{won + timing.SPEC_LATE_MS:.0f} ms), but it {printed}"
                f"{result.describe()}: is a loser still blocked in "
                f"connect() waited for (joined) instead of cancelled? "
                f"{NOT_CANCELLED}"))
        assert_printed(result, race, b"quick")
        assert_nothing_left_behind(result, race)


def test_HE6_after_an_error_every_socket_is_closed(prog):
    with Race([hanging(), answering(script=close_after(b"no newline"))]) \
            as race:
        result = race_run(prog, race, "--stagger-ms", "200",
                          "--timeout-ms", "4000")
        assert_started(result, race, 1, 200, ALL_AT_ONCE, None)
        assert_error(result, race, prog,
                     "the winner closed before a newline")
        assert_nothing_left_behind(result, race)
