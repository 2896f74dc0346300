"""Conformance: dashboard, a periodic activity while waiting (DB-1 .. DB-6).

The program connects to a scripted event source (harness.peers.Server) and
must print one JSON batch a tick, whatever the source does: stay silent,
flood it, close, reset. Each test sets up one of those situations and reads
the batches back from the program's stdout, stamped with the time (ms since
the spawn) the harness saw them.

The timing checks follow harness.timing: batch K is due at K*N ms; it may
not come before K*N - CLOCK_GRANULARITY_MS and must come by K*N + 100 +
NOISE_MS. The wrong designs these tests are built to catch miss by far more
than that: a tick that waits for an event never comes on a silent source,
a tick starved by a flood never comes while the flood lasts, a burst writes
several batches within a few ms.
"""

import json
import signal
import time

import pytest

from harness import peers, process, timing

CONTRACT = "dashboard"

SPEC_LATE_MS = timing.SPEC_LATE_MS
EARLY_MS = timing.CLOCK_GRANULARITY_MS
MAX_LINE = 65536


# ---------------------------------------------------------------------------
# Reading batches


class Batch:
    """One parsed stdout line: {"tick":K,"ms":M,"events":[...]} (+final).

    events are bytes: the JSON strings are decoded and each character
    turned back into the byte it stands for (the program copies bytes >=
    0x20 as they are, so a line is read as latin-1 to keep them)."""

    def __init__(self, t_ms, raw):
        self.t_ms = t_ms
        self.raw = raw
        try:
            obj = json.loads(raw.decode("latin-1"))
        except ValueError as exc:
            raise AssertionError(
                f"stdout line at {t_ms:.0f} ms is not a JSON object "
                f"({exc}): {_show(raw)}") from None
        if not isinstance(obj, dict):
            raise AssertionError(f"stdout line at {t_ms:.0f} ms is JSON but "
                                 f"not an object: {_show(raw)}")
        for key in ("tick", "ms", "events"):
            if key not in obj:
                raise AssertionError(f"batch at {t_ms:.0f} ms has no "
                                     f"{key!r} field: {_show(raw)}")
        if not isinstance(obj["tick"], int) or not isinstance(obj["ms"],
                                                              int):
            raise AssertionError(f"batch at {t_ms:.0f} ms: 'tick' and 'ms' "
                                 f"must be whole numbers: {_show(raw)}")
        if not isinstance(obj["events"], list) or not all(
                isinstance(e, str) for e in obj["events"]):
            raise AssertionError(f"batch at {t_ms:.0f} ms: 'events' must be "
                                 f"a list of strings: {_show(raw)}")
        self.tick = obj["tick"]
        self.ms = obj["ms"]
        self.final = obj.get("final", False)
        if self.final not in (True, False):
            raise AssertionError(f"batch at {t_ms:.0f} ms: 'final' must be "
                                 f"true or false: {_show(raw)}")
        try:
            self.events = [e.encode("latin-1") for e in obj["events"]]
        except UnicodeEncodeError:
            raise AssertionError(
                f"batch at {t_ms:.0f} ms holds a \\u escape of a character "
                f"above U+00FF: bytes >= 0x20 must be copied as they are, "
                f"not decoded or escaped (DB-5): {_show(raw)}") from None

    def __repr__(self):
        return (f"<tick {self.tick} at {self.t_ms:.0f} ms (ms={self.ms}) "
                f"{len(self.events)} events{' final' if self.final else ''}>")


def _show(data, limit=300):
    if len(data) > limit:
        return repr(data[:limit]) + f"... ({len(data)} bytes)"
    return repr(data)


def batches_of(lines):
    """Parses (t_ms, line) records into Batches (AssertionError if one is
    not a batch)."""
    return [Batch(t, line) for t, line in lines]


def timeline(batches, limit=14):
    """The batches as text for a failure message."""
    if not batches:
        return "    (no batch at all)"
    rows = [f"    tick {b.tick:3d} seen at {b.t_ms:7.0f} ms (ms field "
            f"{b.ms}), {len(b.events)} events{', final' if b.final else ''}"
            for b in batches[-limit:]]
    if len(batches) > limit:
        rows.insert(0, f"    ... {len(batches) - limit} earlier batches")
    return "\n".join(rows)


def start(prog, srv, *args):
    """Starts the dashboard against srv; the server's clock becomes the
    program's (its _ms records are then ms since the spawn)."""
    proc = process.start(prog.argv("--connect", srv.addr, *args))
    srv.clock = proc
    return proc


def sleep_until(proc, t_ms):
    """Sleeps until t_ms ms after the program's spawn."""
    left = t_ms - proc.now_ms()
    if left > 0:
        time.sleep(left / 1000.0)


def check_schedule(batches, n, ticks, hint, context=""):
    """Asserts that each tick of `ticks` was written once, on time.

    Batch K is due at K*n: its line must be seen by the harness no earlier
    than K*n - EARLY_MS and no later than timing.latest(K*n), and its `ms`
    field must lie in the same window and not after the harness saw it."""
    by_tick = {}
    for b in batches:
        by_tick.setdefault(b.tick, []).append(b)
    tail = f"\nbatches seen (ms since the spawn):\n{timeline(batches)}"
    tail += f"\n{context}" if context else ""
    for k in ticks:
        due = k * n
        got = by_tick.get(k, [])
        assert got, (
            f"tick {k} (due at {due} ms, at the latest "
            f"{timing.latest(due):.0f} ms) was never written: {hint}{tail}")
        assert len(got) == 1, f"tick {k} was written {len(got)} times{tail}"
        b = got[0]
        assert b.t_ms >= timing.earliest(due), (
            f"tick {k} was seen {b.t_ms:.0f} ms after the spawn, before its "
            f"due time {due} ms: batch K is due at start + K*N (DB-1){tail}")
        assert b.t_ms <= timing.latest(due), (
            f"tick {k} was seen {b.t_ms:.0f} ms after the spawn; it was due "
            f"at {due} ms and must be written within {SPEC_LATE_MS} ms: "
            f"{hint}{tail}")
        assert timing.earliest(due) <= b.ms <= timing.latest(due), (
            f"tick {k}: its 'ms' field is {b.ms}, but a batch due at {due} "
            f"ms must say when it was written, in ms since start, between "
            f"{due} and {due + SPEC_LATE_MS} (DB-1){tail}")
        assert b.ms <= b.t_ms + 1, (
            f"tick {k}: its 'ms' field is {b.ms}, later than the harness "
            f"saw the line ({b.t_ms:.0f} ms after the spawn): 'ms' must be "
            f"the time since the program started (DB-1){tail}")


def check_ticks_increase(batches, context=""):
    ticks = [b.tick for b in batches]
    assert ticks and ticks[0] >= 1 and all(
        a < b for a, b in zip(ticks, ticks[1:])), (
        f"tick numbers must count the schedule, 1, 2, 3 ..., always going "
        f"up (DB-1); got {ticks[:40]}\n{timeline(batches)}\n{context}")


def wait_for_batches(proc, n, ticks, context_what):
    """Waits until the last tick of `ticks` is overdue, then returns the
    batches seen so far (the program must still be running)."""
    sleep_until(proc, timing.latest(max(ticks) * n) + timing.SETTLE_MS)
    lines = list(proc.lines)
    assert proc.running, (
        f"the program should still be running ({context_what}), but it "
        f"{process.describe_status(proc.returncode)}\nstderr: "
        f"{_show(proc.stderr, 800)}")
    return batches_of(lines)


# ---------------------------------------------------------------------------
# COM-2: options


def _usage_cases():
    # ADDR is replaced by an address that refuses: a program that wrongly
    # accepts the options then exits 1 at once instead of hanging.
    return {
        "no_options": [],
        "connect_without_value": ["--connect"],
        "no_connect": ["--tick-ms", "100"],
        "tick_ms_9": ["--connect", "ADDR", "--tick-ms", "9"],
        "tick_ms_0": ["--connect", "ADDR", "--tick-ms", "0"],
        "tick_ms_not_a_number": ["--connect", "ADDR", "--tick-ms", "abc"],
        "tick_ms_without_value": ["--connect", "ADDR", "--tick-ms"],
        "unknown_option": ["--connect", "ADDR", "--bogus"],
        "short_option": ["-c", "ADDR"],
        "address_without_port": ["--connect", "127.0.0.1"],
        "port_out_of_range": ["--connect", "127.0.0.1:99999"],
    }


@pytest.mark.parametrize("case", sorted(_usage_cases()))
def test_COM2_usage_error_exits_2(prog, case):
    addr = peers.refused_addr()
    args = [addr if a == "ADDR" else a for a in _usage_cases()[case]]
    result = process.run(prog.argv(*args), timeout_s=5)
    why = f"arguments {args}: expected one line '{prog.name}: usage: ...' " \
          f"on stderr and exit status 2 (COM-2)"
    assert result.rc == 2, result.report(why)
    lines = result.stderr_lines
    assert len(lines) == 1 and prog.says(lines[0], "usage:"), \
        result.report(why)
    assert result.stdout == b"", result.report(why + "; nothing on stdout")


def test_COM2_help_prints_usage_and_exits_0(prog):
    result = process.run(prog.argv("--help"), timeout_s=5)
    why = "--help must print the usage on stdout and exit 0 (COM-2)"
    assert result.rc == 0, result.report(why)
    assert b"--connect" in result.stdout and b"--tick-ms" in result.stdout, \
        result.report(why + "; the usage should name --connect and --tick-ms")


def test_COM2_tick_ms_10_is_accepted(prog):
    with peers.Server(peers.stall()) as srv:
        proc = start(prog, srv, "--tick-ms", "10")
        batches = wait_for_batches(proc, 10, [5], "--tick-ms 10 is valid")
        assert len(batches) >= 5, (
            f"with --tick-ms 10 (the smallest valid value) expected a batch "
            f"every 10 ms\n{timeline(batches)}")


def test_DB6_refused_connection_exits_1(prog):
    addr = peers.refused_addr()
    result = process.run(prog.argv("--connect", addr), timeout_s=5)
    why = (f"a refused connection is an error: one line "
           f"'{prog.name}: error: ...' on stderr, exit status 1 (COM-4, "
           f"COM-5)")
    assert result.rc == 1, result.report(why)
    lines = result.stderr_lines
    assert lines and prog.says(lines[-1], "error:"), result.report(why)


# ---------------------------------------------------------------------------
# DB-1, DB-2: the schedule


def test_DB1_batches_follow_the_absolute_schedule(prog):
    """Tick 200 ms, an event every 150 ms: ticks 1..8 each on time, with
    tick numbers 1, 2, 3 ... and the events spread over them in order."""
    n = 200
    events = [(150 * i, b"event %d\n" % i) for i in range(1, 11)]
    with peers.Server(peers.send_at(events)) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        batches = wait_for_batches(proc, n, [8], "the source stays open")
        check_ticks_increase(batches)
        check_schedule(batches, n, range(1, 9),
                       "batch K is due at start + K*N ms, whatever the "
                       "source does (DB-1)")
        got = [e for b in batches for e in b.events]
        want = [d.rstrip(b"\n") for _, d in events]
        assert got == want[:len(got)] and len(got) >= 8, (
            f"events must appear once each, in order (DB-4): sent "
            f"{want}, got {got}")


def test_DB1_default_tick_is_500_ms(prog):
    with peers.Server(peers.stall()) as srv:
        proc = start(prog, srv)
        batches = wait_for_batches(proc, 500, [2], "the source stays open")
        check_ticks_increase(batches)
        check_schedule(batches, 500, [1, 2],
                       "without --tick-ms a batch is due every 500 ms "
                       "(DB-1)")
        assert len(batches) == 2, (
            f"expected exactly ticks 1 and 2 by now\n{timeline(batches)}")


def test_DB2_empty_batch_every_tick_on_silent_source(prog):
    """The source accepts and never sends: a batch still comes every tick,
    with no events. A program that waits for an event before it ticks
    writes nothing at all."""
    n = 100
    with peers.Server(peers.stall()) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        batches = wait_for_batches(proc, n, [10], "the source stays open")
        check_schedule(batches, n, range(1, 11),
                       "waiting for an event must never hold a tick back: "
                       "on a silent source a batch is still due every tick "
                       "(DB-2)")
        check_ticks_increase(batches)
        for b in batches:
            assert b.events == [] and not b.final, (
                f"the source sent nothing, so every batch must be "
                f"\"events\":[] and not final; got {_show(b.raw)}")


# ---------------------------------------------------------------------------
# DB-3, DB-4: events


def _flood_line(i):
    return b"flood %09d ........" % i


def test_DB3_flood_never_holds_a_tick_back(prog):
    """2 MB/s of short lines for 1.5 s (about 80 000 events), then the
    source closes. Every tick during the flood is on time, and every event
    comes out exactly once, in order."""
    n = 100
    flood_ms = 1500
    script = peers.seq(peers.flood(_flood_line, 2_000_000, flood_ms),
                       peers.close_after())
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        conn = srv.wait_conn()
        result = proc.wait(timeout_s=15)
        # The ticks whose whole window lies inside the flood.
        flood_end = conn.accepted_at_ms + flood_ms
        last = int((flood_end - SPEC_LATE_MS - timing.NOISE_MS) // n)
        batches = batches_of(result.lines)
        check_ticks_increase(batches, result.report())
        check_schedule(batches, n, range(1, last + 1),
                       "a flood of events must never hold a tick back: "
                       "read in bounded slices between ticks (DB-3)",
                       result.report())
        assert result.rc == 0, result.report(
            "the source closed after the flood: expected exit status 0 "
            "(DB-6)")
        sent = b"".join(d for _, d in conn.sent).split(b"\n")
        assert sent[-1] == b""
        sent.pop()
        got = [e for b in batches for e in b.events]
        assert len(sent) > 20000, (
            f"the harness sent only {len(sent)} events; the flood was too "
            f"weak to test anything")
        if got != sent:
            i = next((i for i, (a, b) in enumerate(zip(got, sent)) if a != b),
                     min(len(got), len(sent)))
            pytest.fail(
                f"every event must appear exactly once, in the order it "
                f"arrived (DB-4): sent {len(sent)} events, the batches hold "
                f"{len(got)}; first difference at event #{i}: sent "
                f"{sent[i] if i < len(sent) else None!r}, got "
                f"{got[i] if i < len(got) else None!r}", pytrace=False)


def test_DB4_event_lands_in_first_batch_after_it_arrived(prog):
    """Tick 400 ms; one event 150 ms after the connection, one 600 ms
    after: they belong to ticks 1 and 2, far from any tick boundary."""
    n = 400
    schedule = [(150, b"early\n"), (600, b"late\n")]
    with peers.Server(peers.send_at(schedule)) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        batches = wait_for_batches(proc, n, [3], "the source stays open")
        check_schedule(batches, n, [1, 2, 3], "(DB-1)")
        where = {}
        for b in batches:
            for e in b.events:
                where.setdefault(e, []).append(b.tick)
        for (t, data), tick in zip(schedule, (1, 2)):
            ev = data.rstrip(b"\n")
            assert where.get(ev) == [tick], (
                f"the event {ev!r}, sent {t} ms after the connection, must "
                f"appear once, in the first batch written after it arrived "
                f"(tick {tick}, due at {tick * n} ms) (DB-4); it is in "
                f"ticks {where.get(ev, [])}\n{timeline(batches)}")


# ---------------------------------------------------------------------------
# DB-5: JSON strings, byte by byte


# Each byte of the tricky event and the encodings a JSON string may use for
# it. '"' and '\' have one encoding; a control byte may be written short
# (\t) or as \u00XX with either case of hex digits; every byte >= 0x20 other
# than '"' and '\' is copied as it is (0x7f, 0xff and UTF-8 included).
_SHORT = {0x08: b"\\b", 0x09: b"\\t", 0x0a: b"\\n", 0x0c: b"\\f",
          0x0d: b"\\r"}


def _encodings(byte):
    if byte == 0x22:
        return [b'\\"']
    if byte == 0x5c:
        return [b"\\\\"]
    if byte < 0x20:
        forms = [b"\\u%04x" % byte, b"\\u%04X" % byte]
        if byte in _SHORT:
            forms.append(_SHORT[byte])
        return forms
    return [bytes([byte])]


def _matches(raw, event):
    """True when raw (a JSON string token without its quotes) encodes the
    bytes of event, as DB-5 says."""
    pos = 0
    for byte in event:
        for form in _encodings(byte):
            if raw.startswith(form, pos):
                pos += len(form)
                break
        else:
            return False
    return pos == len(raw)


def _raw_strings(line):
    """The raw tokens (quotes stripped, escapes kept) of the strings in the
    "events" array of a batch line."""
    i = line.index(b'"events"') + len(b'"events"')
    i = line.index(b"[", i) + 1
    tokens = []
    while True:
        while line[i:i + 1] in (b" ", b"\t", b",", b"\r"):
            i += 1
        if line[i:i + 1] == b"]":
            return tokens
        assert line[i:i + 1] == b'"', f"not a string at byte {i}: " \
                                      f"{_show(line)}"
        j = i + 1
        while line[j:j + 1] != b'"':
            j += 2 if line[j:j + 1] == b"\\" else 1
            assert j < len(line), f"unterminated string: {_show(line)}"
        tokens.append(line[i + 1:j])
        i = j + 1


TRICKY = (b'quote" backslash\\ tab\t nul\x00 soh\x01 us\x1f cr\r del\x7f '
          b'ff\xff utf8\xc3\xa9 end')


def test_DB5_strings_are_escaped_byte_exactly(prog):
    script = peers.seq(peers.send(b"plain\n" + TRICKY + b"\n"),
                       peers.delay(100), peers.close_after())
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", 1000)
        result = proc.wait(timeout_s=5)
        assert result.rc == 0, result.report(
            "the source closed: expected a final batch and exit status 0 "
            "(DB-6)")
        raws = [tok for _, line in result.lines if b'"events"' in line
                for tok in _raw_strings(line)]
        assert len(raws) == 2 and raws[0] == b"plain", result.report(
            f"expected the events 'plain' and the tricky one, got the JSON "
            f"strings {raws!r}")
        expected = b"".join(_encodings(b)[0] for b in TRICKY)
        assert _matches(raws[1], TRICKY), (
            f"the event {TRICKY!r} must be written as a JSON string with "
            f"'\"' and '\\' escaped, bytes below 0x20 escaped (\\t, "
            f"\\u0000 ...) and every other byte (0x7f, 0xff, UTF-8) copied "
            f"as it is (DB-5)\nexpected (between the quotes): {expected!r}"
            f"\ngot: {raws[1]!r}")


# ---------------------------------------------------------------------------
# DB-6: the end of the source


def _close_noting(record):
    """A script step: notes the time (time.monotonic()), then sends FIN.
    The program cannot see the close before the noted time."""
    def run(conn):
        record.append(time.monotonic())
        conn.shutdown_write()
    return run


def _final_checks(batches, result, close_ms):
    tail = f"\nbatches seen:\n{timeline(batches)}\n{result.report()}"
    assert batches and batches[-1].final is True, (
        f"when the source closes, the last line must be a batch with "
        f"\"final\":true (DB-6){tail}")
    assert not any(b.final for b in batches[:-1]), (
        f"only the last batch may say \"final\":true{tail}")
    last = batches[-1]
    assert last.t_ms <= timing.latest(close_ms, timing.FINAL_BATCH_MS), (
        f"the source closed {close_ms:.0f} ms after the spawn and the final "
        f"batch came at {last.t_ms:.0f} ms: it must be written within "
        f"{timing.FINAL_BATCH_MS} ms of the close, not at the next tick "
        f"(DB-6){tail}")
    # The spec does not fix the final batch's tick number: any number above
    # the last regular tick is accepted (the next due tick, or the current
    # one).
    if len(batches) > 1:
        assert last.tick > batches[-2].tick, (
            f"the final batch's tick must be above the previous one{tail}")


def test_DB6_source_close_gives_final_batch_and_exit_0(prog):
    """Tick 1000 ms; 'a' at 100 ms, then 'b' and 'c' and a close at
    1300 ms: the final batch (with b and c) is due by 1350 ms, long before
    the next tick at 2000 ms."""
    n = 1000
    closed = []
    script = peers.seq(peers.send_at([(100, b"a\n"), (1300, b"b\nc\n")]),
                       _close_noting(closed))
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        result = proc.wait(timeout_s=6)
        batches = batches_of(result.lines)
        assert closed, result.report("the program never connected")
        close_ms = (closed[0] - proc.t0) * 1000.0
        _final_checks(batches, result, close_ms)
        assert result.rc == 0, result.report(
            "when the source closes: the final batch, then exit status 0 "
            "(DB-6)")
        assert result.elapsed_ms <= timing.latest(
                close_ms, timing.FINAL_BATCH_MS + timing.SPEC_LATE_MS), \
            result.report(f"the source closed at {close_ms:.0f} ms: the "
                          f"program should exit right after its final "
                          f"batch (DB-6)")
        check_schedule(batches[:-1], n, [1], "(DB-1)", result.report())
        assert batches[0].events == [b"a"], (
            f"tick 1 should hold the event 'a'\n{timeline(batches)}")
        assert batches[-1].events == [b"b", b"c"], (
            f"the final batch must hold what was pending when the source "
            f"closed: ['b', 'c'] (DB-6)\n{timeline(batches)}")


def test_DB6_silent_source_close_gives_empty_final_batch(prog):
    n = 1000
    closed = []
    script = peers.seq(peers.delay(1300), _close_noting(closed))
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        result = proc.wait(timeout_s=6)
        batches = batches_of(result.lines)
        assert closed, result.report("the program never connected")
        close_ms = (closed[0] - proc.t0) * 1000.0
        _final_checks(batches, result, close_ms)
        assert result.rc == 0, result.report("expected exit status 0 (DB-6)")
        assert batches[-1].events == [], (
            f"nothing was pending: the final batch has \"events\":[]\n"
            f"{timeline(batches)}")


def _error_end(prog, result, batches, what):
    tail = f"\nbatches seen:\n{timeline(batches)}\n{result.report()}"
    assert result.rc == 1, (
        f"{what}: expected the last batch, then '{prog.name}: error: ...' "
        f"on stderr and exit status 1 (DB-6){tail}")
    lines = result.stderr_lines
    assert lines and prog.says(lines[-1], "error:"), (
        f"{what}: the last stderr line must be '{prog.name}: error: WHAT' "
        f"(COM-5){tail}")
    assert result.stdout.endswith(b"\n"), f"stdout ends mid-line{tail}"


def test_DB6_reset_gives_last_batch_then_error_exit_1(prog):
    """Tick 1000 ms: 'a' at 100 ms (tick 1), 'b' at 1200 ms, a RST at
    1300 ms: 'b' must still be printed, in the last batch, then the
    error."""
    n = 1000
    script = peers.seq(peers.send_at([(100, b"a\n"), (1200, b"b\n")]),
                       peers.reset_after(b"", 100))
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        srv.wait_conn()
        result = proc.wait(timeout_s=6)
        batches = batches_of(result.lines)
        _error_end(prog, result, batches, "the source reset the connection")
        assert result.elapsed_ms <= 1300 + n + timing.GENEROUS_MS, \
            result.report(
            "the program should stop soon after the reset")
        events = [e for b in batches for e in b.events]
        assert events == [b"a", b"b"], (
            f"every event read before the reset must be printed once, in "
            f"order, the last ones in the last batch (DB-6): got {events}"
            f"\n{timeline(batches)}")
        assert batches[-1].events == [b"b"], (
            f"the last batch must hold what was pending at the reset (DB-6)"
            f"\n{timeline(batches)}")


def test_DB6_line_over_limit_gives_error_exit_1(prog):
    """A line of exactly 65536 bytes is an event; the next, 65537 bytes,
    is too long: last batch, 'line too long', exit 1."""
    longest = b"x" * MAX_LINE
    script = peers.seq(peers.send(b"a\n" + longest + b"\n"),
                       peers.delay(50),
                       peers.send(b"y" * (MAX_LINE + 1) + b"\n"),
                       peers.stall())
    with peers.Server(script) as srv:
        proc = start(prog, srv, "--tick-ms", 1000)
        result = proc.wait(timeout_s=6)
        batches = batches_of(result.lines)
        _error_end(prog, result, batches, "a line over 65536 bytes")
        assert "line too long" in result.stderr_lines[-1], result.report(
            "the error should say 'line too long' (COM-6)")
        events = [e for b in batches for e in b.events]
        assert events == [b"a", longest], (
            f"the events before the long line ('a' and a line of exactly "
            f"65536 bytes, which is allowed) must be printed, and nothing "
            f"of the long line (COM-6, DB-6): got "
            f"{[e[:20] + b'...' if len(e) > 20 else e for e in events]}"
            f" (lengths {[len(e) for e in events]})")


# ---------------------------------------------------------------------------
# DB-1: falling behind


def test_DB1_stall_skips_missed_ticks_without_burst(prog):
    """Tick 500 ms. After tick 2 the program is stopped (SIGSTOP) until
    2.6 s, so ticks 3, 4 and 5 pass while it cannot run. Once resumed
    (SIGCONT) it may write one late batch at once; then it must be back on
    the absolute schedule (tick 6 at 3000 ms ...), and the missed ticks
    must be skipped, never written in a burst."""
    n = 500
    resume_at = 5.2 * n
    with peers.Server(peers.stall()) as srv:
        proc = start(prog, srv, "--tick-ms", n)
        proc.wait_line(lambda line: b'"tick"' in line and
                       Batch(0, line).tick >= 2, timeout_s=5,
                       what="the batch of tick 2")
        proc.signal(signal.SIGSTOP)
        stopped_ms = proc.now_ms()
        try:
            sleep_until(proc, resume_at)
        finally:
            proc.signal(signal.SIGCONT)
        resumed_ms = proc.now_ms()
        batches = wait_for_batches(proc, n, [9], "the source stays open")
    assert stopped_ms < 3 * n - 50 and resumed_ms < resume_at + 200, (
        f"test setup: the program was stopped at {stopped_ms:.0f} ms and "
        f"resumed at {resumed_ms:.0f} ms, too late for this test (a very "
        f"busy machine?)")
    tail = (f"\nthe program was stopped (SIGSTOP) at {stopped_ms:.0f} ms and "
            f"resumed (SIGCONT) at {resumed_ms:.0f} ms\nbatches seen:\n"
            f"{timeline(batches)}")
    check_ticks_increase(batches, tail)
    before = [b for b in batches if b.t_ms <= stopped_ms]
    after = [b for b in batches if b.t_ms > stopped_ms]
    assert after, f"no batch after the program was resumed{tail}"
    check_schedule(before, n, [1, 2], "(DB-1)", tail)
    # No burst: the missed ticks (3, 4, 5) are not all written at once.
    gaps = [(a, b) for a, b in zip(after, after[1:])
            if b.t_ms - a.t_ms < n / 4]
    assert not gaps, (
        f"after being resumed the program wrote tick {gaps[0][0].tick} and "
        f"tick {gaps[0][1].tick} {gaps[0][1].t_ms - gaps[0][0].t_ms:.0f} ms "
        f"apart: ticks missed while it could not run must be skipped, never "
        f"written in a burst (DB-1){tail}")
    ticks = [b.tick for b in before[-1:] + after]
    assert any(b - a > 1 for a, b in zip(ticks, ticks[1:])), (
        f"tick numbers after the stall go {ticks}: the ticks missed while "
        f"the program could not run must be skipped (DB-1){tail}")
    # The first batch after the resume may be late (it was due while the
    # program was stopped); every later one is back on the absolute
    # schedule.
    check_schedule(after, n, range(6, 10),
                   "after falling behind, the schedule stays absolute: "
                   "batch K is still due at start + K*N (DB-1)", tail)
