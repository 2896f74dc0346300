"""Conformance: journal, pause and resume (JR-1 .. JR-13, COM-6, COM-8).

The journal is a server: the tests play its publishers and subscribers
(harness.journal.Publisher / Subscriber) and look at its file. The journal
file is written by the test itself when a situation needs one (a long
replay, a torn or corrupt file).

Sizes: a loopback TCP socket may buffer a few MiB for sending (Linux grows
it up to net.ipv4.tcp_wmem's maximum even in front of a reader that does
not read). A replay that should last, or a subscriber that should fall
behind, therefore needs files and floods well above that size; the tests
size them from harness.journal.socket_buffer_max().
"""

import os
import re
import signal
import socket
import threading
import time

import pytest

from harness import journal as jr
from harness import peers, process, tcp_table, timing

CONTRACT = "journal"

MAX_LINE = 65536


def start(prog, path, *args, **kwargs):
    """The journal on 127.0.0.1:0 with --file path, ready (JR-1)."""
    return jr.Journal.start(prog.argv("--listen", "127.0.0.1:0", "--file",
                                      path, *args), **kwargs)


def stop(server, sig=signal.SIGTERM, what="stopped"):
    """Stops the server with sig; asserts it exits 0 (JR-11)."""
    result = server.stop(sig, timeout_s=10)
    assert result.rc == 0, result.report(
        f"{what}: on {signal.Signals(sig).name} the journal must flush, "
        f"close and exit 0 (JR-11)")
    return result


def check_file(path, count, expected, what):
    records, problem = jr.read_journal(path)
    assert records is not None, f"{what}: the journal file {path} does not " \
                                f"exist (JR-5)"
    assert problem is None, f"{what}: the journal file is not valid " \
                            f"(JR-5): {problem}"
    diff = jr.first_difference(records, expected, count)
    assert diff is None, (f"{what}: the file should hold records 1 .. "
                          f"{count}, each event once, in order: {diff}")


def reply_and_close(client, timeout_s=5):
    """What a peers.Client got until the journal closed it, and how it was
    closed ("eof", "reset", or "still open N s later")."""
    try:
        return client.read_until_closed(timeout_s=timeout_s)
    except AssertionError:
        return client.pending, f"still open {timeout_s} s later"


def alive(server, what):
    assert server.proc.running, (
        f"{what}: the journal must keep serving, but it "
        f"{process.describe_status(server.proc.returncode)}\nstderr: "
        f"{server.proc.stderr[-800:]!r}")


# ---------------------------------------------------------------------------
# COM-2: options


def _usage_cases():
    return {
        "no_options": [],
        "no_file": ["--listen", "127.0.0.1:0"],
        "no_listen": ["--file", "FILE"],
        "listen_without_value": ["--file", "FILE", "--listen"],
        "flush_ms_not_a_number": ["--listen", "127.0.0.1:0", "--file",
                                  "FILE", "--flush-ms", "abc"],
        "max_clients_not_a_number": ["--listen", "127.0.0.1:0", "--file",
                                     "FILE", "--max-clients", "many"],
        "max_backlog_without_value": ["--listen", "127.0.0.1:0", "--file",
                                      "FILE", "--max-backlog"],
        "unknown_option": ["--listen", "127.0.0.1:0", "--file", "FILE",
                           "--bogus"],
        "address_without_port": ["--listen", "127.0.0.1", "--file", "FILE"],
        "port_out_of_range": ["--listen", "127.0.0.1:99999", "--file",
                              "FILE"],
    }


@pytest.mark.parametrize("case", sorted(_usage_cases()))
def test_COM2_usage_error_exits_2(prog, case, tmp_path):
    path = str(tmp_path / "j.log")
    args = [path if a == "FILE" else a for a in _usage_cases()[case]]
    result = process.run(prog.argv(*args), timeout_s=5)
    why = (f"arguments {args}: expected one line '{prog.name}: usage: ...' "
           f"on stderr and exit status 2 (COM-2)")
    assert result.rc == 2, result.report(why)
    lines = result.stderr_lines
    assert len(lines) == 1 and prog.says(lines[0], "usage:"), \
        result.report(why)


def test_COM2_help_prints_usage_and_exits_0(prog):
    result = process.run(prog.argv("--help"), timeout_s=5)
    why = "--help must print the usage on stdout and exit 0 (COM-2)"
    assert result.rc == 0, result.report(why)
    for option in (b"--listen", b"--file", b"--flush-ms"):
        assert option in result.stdout, result.report(
            f"{why}; the usage should name {option.decode()}")


# ---------------------------------------------------------------------------
# JR-1, JR-2, JR-3: roles and numbering


def test_JR1_listening_line_names_the_real_port(prog, tmp_path):
    server = start(prog, tmp_path / "j.log")
    port = int(server.addr.rsplit(":", 1)[1])
    assert port != 0, ("the journal was given port 0: 'listening on' must "
                       "name the port the kernel chose (JR-1)")
    sub = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    pub.publish(b"hello")
    jr.wait_for_records(sub, 1, 5, "a subscriber of the address printed in "
                        "'listening on'")
    assert sub.records == [(1, b"hello")]


@pytest.mark.parametrize("role", [b"HELLO", b"pub", b"", b"SUB extra"],
                         ids=["HELLO", "lowercase", "empty", "SUB_extra"])
def test_JR2_bad_role_gets_error_and_is_closed(prog, tmp_path, role):
    server = start(prog, tmp_path / "j.log")
    client = peers.Client(server.addr)
    client.send_line(role)
    data, how = reply_and_close(client)
    assert data == b"ERR expected PUB or SUB\n", (
        f"a first line {role!r} must get 'ERR expected PUB or SUB\\n' and "
        f"the connection closed (JR-2); got {data!r}, then {how}")
    sub = jr.Subscriber(server.addr)
    jr.Publisher(server.addr).publish(b"after")
    jr.wait_for_records(sub, 1, 5, "after a bad role, the journal serves "
                        "others (JR-2)")


def test_JR3_numbering_across_publishers_and_restart(prog, tmp_path):
    path = tmp_path / "j.log"
    server = start(prog, path)
    sub = jr.Subscriber(server.addr)
    pub1 = jr.Publisher(server.addr)
    pub2 = jr.Publisher(server.addr)
    order = [(pub1, b"a1"), (pub2, b"b1"), (pub1, b"a2"), (pub2, b"b2")]
    for seq, (pub, event) in enumerate(order, 1):
        pub.publish(event)
        jr.wait_for_records(sub, seq, 5, f"event {event!r}")
    want = [(i, e) for i, (_, e) in enumerate(order, 1)]
    assert sub.records == want, (
        f"the journal numbers events 1, 2, 3 ... in the order it reads "
        f"them, across publishers (JR-3): expected {want}, got "
        f"{sub.records}")
    stop(server)
    assert path.read_bytes() == b"1 a1\n2 b1\n3 a2\n4 b2\n", (
        f"the file must hold one 'SEQ EVENT' line per event (JR-5): "
        f"{path.read_bytes()!r}")

    server = start(prog, path)
    sub = jr.Subscriber(server.addr)
    jr.wait_for_records(sub, 4, 5, "the replay after a restart (JR-4)")
    pub = jr.Publisher(server.addr)
    pub.publish(b"c1")
    jr.wait_for_records(sub, 5, 5, "the first event after a restart")
    assert sub.records == want + [(5, b"c1")], (
        f"after a restart, numbering goes on from the file's last SEQ "
        f"(JR-3, JR-5): got {sub.records}")
    stop(server)
    assert path.read_bytes().endswith(b"4 b2\n5 c1\n")


# ---------------------------------------------------------------------------
# JR-4: replay then live, no gap, no duplicate


def _old(seq):
    return b"old event %07d ..................................." % seq


def _new(i):
    return b"new event %07d" % i


@pytest.mark.timeout(90)
def test_JR4_no_gap_or_duplicate_between_replay_and_live(prog, tmp_path):
    """At least 200 000 events in the file (11 MB or more, several times the
    socket buffers), so a replay takes over a second for a subscriber
    reading at 8 MB/s. Subscriber A arrives, then B during A's replay (B
    waits for its turn, JR-8). A publisher publishes an event every 2 ms
    from before A arrives until after B's replay. Each must see 1 .. N
    exactly, in order: the events published while it waited, while it was
    replayed and after, each once."""
    path = tmp_path / "j.log"
    stored = max(200_000, 3 * jr.socket_buffer_max() // len(_old(1)))
    jr.prefill(path, stored, _old)
    server = start(prog, path, "--replay-timeout-ms", 60000, timeout_s=20)
    steady = jr.Steady(jr.Publisher(server.addr), _new, every_ms=2)
    time.sleep(0.2)
    subs = {}
    readers = {}
    for name in ("A", "B"):
        subs[name] = jr.Subscriber(server.addr, rcvbuf=65536)
        readers[name] = subs[name].reader(stored, timeout_s=30,
                                          rate_bps=8e6)
        time.sleep(0.3)
    for name in ("A", "B"):
        readers[name].join(40)
    time.sleep(0.3)
    published = steady.stop()
    total = stored + published
    for name in ("A", "B"):
        sub = subs[name]
        if readers[name].error:
            raise readers[name].error
        assert readers[name].result, (
            f"subscriber {name} did not get its replay (records 1 .. "
            f"{stored}) within 30 s; it has {len(sub.records)} records, "
            f"closed: {sub.closed_how}")
        sub.read_until_seq(total, timeout_s=10)

    def expected(seq):
        return _old(seq) if seq <= stored else _new(seq - stored)
    for name, role in (("A", "arrived first"),
                       ("B", "arrived during A's replay")):
        diff = jr.first_difference(subs[name].records, expected, total)
        assert diff is None, (
            f"a subscriber gets every stored event (the replay), then every "
            f"new one, with no gap, no duplicate and no reordering across "
            f"the switch from replay to live (JR-4). {stored} events were "
            f"in the file and {published} were published meanwhile, one "
            f"every 2 ms. Subscriber {name} ({role}): {diff}")
    alive(server, "after the replays")


# ---------------------------------------------------------------------------
# JR-5: the file


def test_JR5_file_created_if_missing(prog, tmp_path):
    path = tmp_path / "j.log"
    server = start(prog, path)
    stop(server)
    assert path.exists(), "the journal file must be created if missing (JR-5)"
    assert path.read_bytes() == b"", (
        f"no event was published: the file should be empty, not "
        f"{path.read_bytes()[:100]!r}")


def test_JR5_file_holds_one_SEQ_EVENT_line_per_event(prog, tmp_path):
    path = tmp_path / "j.log"
    server = start(prog, path)
    sub = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    events = [b"first event", b"nul\x00 cr\r tab\t high\xff\xfe", b"",
              b"  spaces  "]
    for event in events:
        pub.publish(event)
    jr.wait_for_records(sub, len(events), 5, "the events just published")
    stop(server)
    want = b"".join(jr.record(i, e) for i, e in enumerate(events, 1))
    assert path.read_bytes() == want, (
        f"the file must hold 'SEQ EVENT\\n' per event, the event's bytes "
        f"as they were (JR-5): expected {want!r}, got "
        f"{path.read_bytes()!r}")
    assert sub.records == list(enumerate(events, 1)), (
        f"subscribers get 'SEQ EVENT\\n' lines with the event's bytes "
        f"(JR-4): got {sub.records}")


def test_JR5_torn_last_line_is_cut_and_logged(prog, tmp_path):
    path = tmp_path / "j.log"
    path.write_bytes(b"1 a\n2 b\n3 torn by a cra")
    server = start(prog, path)
    sub = jr.Subscriber(server.addr)
    jr.wait_for_records(sub, 2, 5, "the replay of the two complete lines")
    pub = jr.Publisher(server.addr)
    pub.publish(b"x")
    jr.wait_for_records(sub, 3, 5, "the first event after the torn line")
    assert sub.records == [(1, b"a"), (2, b"b"), (3, b"x")], (
        f"a torn last line (no '\\n') is cut off and numbering goes on after "
        f"the last complete line (JR-5): the subscriber got {sub.records}")
    result = stop(server)
    assert path.read_bytes() == b"1 a\n2 b\n3 x\n", (
        f"the torn line must be cut off the file (JR-5): "
        f"{path.read_bytes()!r}")
    assert result.stderr.strip(), result.report(
        "cutting a torn line must be logged on stderr (JR-5)")


# ---------------------------------------------------------------------------
# JR-6: periodic flush


def test_JR6_event_reaches_file_within_flush_period(prog, tmp_path):
    path = tmp_path / "j.log"
    server = start(prog, path, "--flush-ms", 200)
    pub = jr.Publisher(server.addr)
    time.sleep(0.1)
    limit_ms = timing.latest(200)
    done = b""
    for i, pause in enumerate((0.0, 0.6, 0.15, 0.6), 1):
        time.sleep(pause)
        event = b"event %d" % i
        done += jr.record(i, event)
        sent = time.monotonic()
        pub.publish(event)
        seen = jr.wait_for_file(path, lambda d, want=done: d == want,
                                timeout_s=limit_ms / 1000.0 + 2)
        took = None if seen is None else (seen - sent) * 1000.0
        assert took is not None and took <= limit_ms, (
            f"event {i} was published and "
            + ("never reached the file" if took is None else
               f"reached the file only {took:.0f} ms later")
            + f": with --flush-ms 200 an event read at t is in the file by "
              f"t + 200 + 100 ms (JR-6); file: {path.read_bytes()[-200:]!r}")


def test_JR6_pending_events_flushed_before_replay(prog, tmp_path):
    """--flush-ms 60000: the only reason to write before shutdown is a
    replay, which must start with a flush."""
    path = tmp_path / "j.log"
    server = start(prog, path, "--flush-ms", 60000)
    live = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    for event in (b"p1", b"p2", b"p3"):
        pub.publish(event)
    jr.wait_for_records(live, 3, 5, "three live events")
    late = jr.Subscriber(server.addr)
    jr.wait_for_records(late, 3, 5, "a replay of three events")
    data = path.read_bytes()
    assert data == b"1 p1\n2 p2\n3 p3\n", (
        f"pending events are written to the file before a replay (JR-6): "
        f"when a new subscriber got its replay, the file held {data!r}")


# ---------------------------------------------------------------------------
# JR-7: no write during a replay (seen with strace)


def _sized_event(size):
    pad = b"." * max(size - 20, 0)

    def make(seq):
        return b"stored %07d %s" % (seq, pad)
    return make


@pytest.mark.timeout(90)
def test_JR7_no_write_to_file_during_replay(prog, tmp_path):
    """The journal runs under strace. A subscriber reads a replay of a
    file several times the socket buffers at 6 MB/s while a publisher
    publishes every 10 ms with --flush-ms 50. From the replay's first read
    of the file to its last, the file must not be written."""
    path = tmp_path / "j.log"
    log = tmp_path / "strace.log"
    size = max(12 << 20, 3 * jr.socket_buffer_max())
    make_old = _sized_event(80)
    stored = size // 95
    jr.prefill(path, stored, make_old)
    argv = jr.strace_argv(log, prog.argv(
        "--listen", "127.0.0.1:0", "--file", path, "--flush-ms", 50,
        "--replay-timeout-ms", 60000))
    server = jr.Journal.start(argv, timeout_s=30)
    steady = jr.Steady(jr.Publisher(server.addr), _new, every_ms=10)
    time.sleep(0.4)
    sub = jr.Subscriber(server.addr, rcvbuf=65536)
    replayed = sub.read_until_seq(stored, timeout_s=30, rate_bps=6e6)
    time.sleep(0.4)
    published = steady.stop()
    assert replayed, (f"the subscriber did not get its replay within 30 s: "
                      f"{len(sub.records)} records, closed: "
                      f"{sub.closed_how}")
    total = stored + published
    sub.read_until_seq(total, timeout_s=10)
    os.kill(jr.traced_child(server.proc.pid), signal.SIGTERM)
    result = server.proc.wait(timeout_s=20)
    assert result.rc == 0, result.report(
        "on SIGTERM the journal must flush, close and exit 0 (JR-11)")

    def expected(seq):
        return make_old(seq) if seq <= stored else _new(seq - stored)
    calls = jr.parse_strace(log.read_text(errors="replace"))
    ready = next((c.start for c in calls if c.name.startswith("write")
                  and "listening on" in c.text), None)
    assert ready is not None, result.report(
        "strace's log shows no write of the 'listening on' line")
    reads, writes = jr.file_calls([c for c in calls if c.start >= ready],
                                  path)
    assert reads, (
        f"strace saw no read of {path} after 'listening on', although a "
        f"subscriber got a replay: a replay reads the file (JR-4, JR-7); "
        f"the test traces read, pread64, readv, preadv, sendfile, splice")
    first, last = reads[0].start, max(r.end for r in reads)
    during = [w for w in writes if w.end >= first and w.start <= last]
    published_during = sum(1 for t in steady.times if first <= t <= last)
    assert not during, (
        f"the journal file was written {len(during)} times during a replay: "
        f"the replay read the file from 0 to {(last - first) * 1000:.0f} ms "
        f"(strace's clock), and {during[0].name}() wrote it at "
        f"{(during[0].start - first) * 1000:.0f} ms. From a replay's first "
        f"read of the file to its last, nothing is written to it: events "
        f"published meanwhile wait in memory (JR-7)")
    assert published_during >= 5, (
        f"test setup: the replay read the file for "
        f"{(last - first) * 1000:.0f} ms and only {published_during} events "
        f"were published meanwhile, too few to tell")
    diff = jr.first_difference(sub.records, expected, total)
    assert diff is None, (f"the subscriber's records (replay, then live) "
                          f"are wrong (JR-4, JR-7): {diff}")
    check_file(path, total, expected, "after the replay and a SIGTERM")


# ---------------------------------------------------------------------------
# JR-8: a replay that does not finish


def test_JR8_stuck_replay_abandoned_and_writing_resumes(prog, tmp_path):
    """A 20 MB file, --replay-timeout-ms 500, a subscriber that never reads
    (4 KiB receive buffer): the journal must close it 500 ms into its
    replay (seen in the kernel's TCP table, since the subscriber itself
    cannot see the FIN behind megabytes of unsent data). 150 ms into the
    replay an event is published: it can only reach the file once the
    replay is abandoned, so it must be there by 500 + 50 + 200 ms +
    noise."""
    path = tmp_path / "j.log"
    size = max(20 << 20, 4 * jr.socket_buffer_max())
    make_old = _sized_event(1000)
    stored = size // 1010
    jr.prefill(path, stored, make_old)
    server = start(prog, path, "--replay-timeout-ms", 500, "--flush-ms", 50,
                   timeout_s=20)
    pub = jr.Publisher(server.addr)
    time.sleep(0.1)
    stuck = jr.Subscriber(server.addr, rcvbuf=4096)
    began = stuck.sent_role_at
    time.sleep(0.15)
    pub.publish(b"during the replay")
    closed = tcp_table.wait_server_close(stuck.sock, timeout_s=3)
    closed_ms = None if closed is None else (closed - began) * 1000.0
    assert closed_ms is not None and closed_ms <= timing.latest(500), (
        "the subscriber whose replay could not finish within "
        "--replay-timeout-ms 500 must be closed then (JR-8); it was "
        + ("still open 3 s later" if closed_ms is None else
           f"closed {closed_ms:.0f} ms after it subscribed"))
    assert closed_ms >= timing.earliest(500), (
        f"the subscriber was closed {closed_ms:.0f} ms after it subscribed, "
        f"before its replay's timeout (--replay-timeout-ms 500) (JR-8)")
    want = jr.record(stored + 1, b"during the replay")
    limit_s = timing.latest(500 + 50, 2 * timing.SPEC_LATE_MS) / 1000.0
    seen = jr.wait_for_file(path, lambda d: d.endswith(want),
                            timeout_s=max(limit_s + 3 - (time.monotonic()
                                                         - began), 0.1))
    took = None if seen is None else (seen - began) * 1000.0
    assert took is not None and took <= limit_s * 1000, (
        "an event published 150 ms into a replay whose subscriber does not "
        "read "
        + ("never reached the file" if took is None else
           f"reached the file only {took:.0f} ms after the replay began")
        + ": with --replay-timeout-ms 500 the replay must be abandoned "
          "(its subscriber closed) and writing resume (JR-8)")
    pub.publish(b"after")
    seen = jr.wait_for_file(path, lambda d: d.endswith(
        jr.record(stored + 2, b"after")), timeout_s=3)
    assert seen is not None, "after an abandoned replay, events are written " \
                             "again (JR-8)"
    alive(server, "after abandoning a replay")


# ---------------------------------------------------------------------------
# JR-9: slow subscribers


def _pub_event(i):
    return b"published %07d ......................................." \
           b"..........................." % i


@pytest.mark.timeout(60)
def test_JR9_stuck_subscriber_never_blocks_publisher_or_others(prog,
                                                                tmp_path):
    """--max-backlog 1 MB; a subscriber that never reads (4 KiB receive
    buffer) and one that reads everything. A publisher publishes well over
    the socket buffers plus the backlog (8 MB or more) at 3 MB/s: its
    sends must never block for long, the reading subscriber gets every
    event, and the stuck one is closed.

    Why not a smaller backlog: the spec closes any subscriber whose unsent
    output passes --max-backlog, a slow one as well as a stuck one. On a
    busy machine the journal's writes to the reading subscriber may lag a
    few hundred ms behind; 1 MB at 3 MB/s leaves it 300 ms."""
    path = tmp_path / "j.log"
    backlog = 1_000_000
    server = start(prog, path, "--max-backlog", backlog)
    stuck = jr.Subscriber(server.addr, rcvbuf=4096)
    time.sleep(0.2)
    normal = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr, sndbuf=65536)
    pub.publish(_pub_event(1))
    jr.wait_for_records(normal, 1, 5, "the first event")
    line_size = len(_pub_event(1)) + 1
    total = max(8 << 20, jr.socket_buffer_max() + backlog + (3 << 20)) \
        // line_size
    per_chunk = 100
    rate = 3e6
    outcome = {"worst_ms": 0.0, "blocked": None, "error": None}

    def publish():
        start_t = time.monotonic()
        try:
            for first in range(2, total + 1, per_chunk):
                last = min(first + per_chunk, total + 1)
                data = b"".join(_pub_event(i) + b"\n"
                                for i in range(first, last))
                took = pub.send_timed(data, limit_s=5)
                if took is None:
                    outcome["blocked"] = first
                    return
                outcome["worst_ms"] = max(outcome["worst_ms"], took)
                due = start_t + (last - 1) * line_size / rate
                time.sleep(max(0.0, due - time.monotonic()))
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    # Read until everything came, the publisher is blocked, or nothing
    # came for 5 s after the publisher finished.
    got_all = False
    deadline = time.monotonic() + 40
    progress = (normal.received, time.monotonic())
    while time.monotonic() < deadline and not outcome["blocked"]:
        got_all = normal.read_until_seq(total, timeout_s=0.5)
        if got_all or normal.closed_how:
            break
        if normal.received != progress[0]:
            progress = (normal.received, time.monotonic())
        elif not thread.is_alive() and time.monotonic() - progress[1] > 5:
            break
    thread.join(10)
    assert outcome["error"] is None, f"publishing failed: {outcome['error']}"
    assert outcome["blocked"] is None, (
        f"the publisher could not send for 5 s (at event "
        f"{outcome['blocked']} of {total}): a stuck subscriber must never "
        f"block publishers (JR-9)")
    assert outcome["worst_ms"] <= timing.GENEROUS_MS + timing.NOISE_MS, (
        f"one of the publisher's sends blocked for {outcome['worst_ms']:.0f} "
        f"ms: a stuck subscriber must never block publishers (JR-9)")
    assert got_all, (
        f"the subscriber that reads got only {len(normal.records)} of "
        f"{total} events (closed: {normal.closed_how}): a stuck subscriber "
        f"must never block other subscribers (JR-9)")
    diff = jr.first_difference(normal.records, _pub_event, total)
    assert diff is None, f"the reading subscriber's events (JR-4): {diff}"
    assert stuck.read_until_closed(timeout_s=15), (
        f"the subscriber that never reads was not closed, although its "
        f"unsent output exceeded --max-backlog {backlog} (JR-9)")
    assert stuck.max_seq < total, (
        "test setup: the stuck subscriber could take every event")
    alive(server, "after closing a stuck subscriber")


class _FastReader(threading.Thread):
    """Reads a socket as fast as Python can: large recv()s into one
    buffer, no parsing (harness.journal.Subscriber parses every chunk,
    which would make it slower than the journal). Stops after `lines`
    newlines, at EOF or a reset, or after timeout_s; data and how (None,
    "eof", "reset", "timed out") tell what came."""

    def __init__(self, sock, lines, timeout_s):
        super().__init__(daemon=True)
        self.sock, self.lines, self.timeout_s = sock, lines, timeout_s
        self.data = bytearray()
        self.how = None

    def run(self):
        deadline = time.monotonic() + self.timeout_s
        seen = 0
        while seen < self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                self.how = "timed out"
                return
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                self.how = "reset"
                return
            if not chunk:
                self.how = "eof"
                return
            seen += chunk.count(b"\n")
            self.data += chunk


@pytest.mark.timeout(90)
def test_JR9_reading_subscriber_survives_a_burst_of_50_backlogs(prog,
                                                                  tmp_path):
    """--max-backlog 64 KiB; one subscriber that never reads (4 KiB receive
    buffer) and one that reads as fast as it can. A publisher sends, in
    one burst, at least 50 times the backlog and more than the stuck
    subscriber's socket buffers can absorb.

    Slow is the subscriber's doing, never the journal's (JR-9 as
    clarified): output counts as unsent only once the kernel refused it.
    So the reading subscriber gets every event, however fast the burst,
    and only the stuck one is closed.

    The reading subscriber's receive buffer holds the whole burst (as
    root; anyone else gets the kernel's autotuning, harness.client's
    set_rcvbuf). Then the kernel never refuses the journal what it
    offers, whenever the reader gets the CPU, and the test is as sure on a
    saturated machine as on an idle one. (With a smaller buffer, a reader
    that is not scheduled for a few ms while the burst pours in lets the
    kernel refuse more than 64 KiB: then the journal is right to close
    it, and the test would fail for the machine's sake.)"""
    path = tmp_path / "j.log"
    backlog = 65536
    server = start(prog, path, "--max-backlog", backlog)
    stuck = jr.Subscriber(server.addr, rcvbuf=4096)
    pub = jr.Publisher(server.addr)
    pub.publish(_pub_event(1))
    line_size = len(_pub_event(1)) + 1
    total_bytes = max(50 * backlog,
                      jr.socket_buffer_max() + 2 * backlog + (1 << 20))
    normal = jr.Subscriber(server.addr, rcvbuf=4 * total_bytes)
    jr.wait_for_records(normal, 1, 5, "the first event")
    total = 1 + total_bytes // line_size
    reader = _FastReader(normal.sock, total - 1, timeout_s=60)
    reader.start()
    burst = b"".join(_pub_event(i) + b"\n" for i in range(2, total + 1))
    took = pub.send_timed(burst, limit_s=20)
    assert took is not None, (
        "the publisher could not send its burst for 20 s: a stuck "
        "subscriber must never block publishers (JR-9)")
    reader.join(65)
    records, problem = jr.parse_journal(
        jr.record(1, _pub_event(1)) + bytes(reader.data))
    assert reader.how is None, (
        f"the subscriber that reads as fast as it can got only "
        f"{len(records)} of {total} events ({reader.how}): does the "
        f"journal count as unsent bytes it had not offered to the kernel "
        f"yet? Only what the kernel refused makes a subscriber slow (JR-9)")
    assert problem is None, f"the reading subscriber's events: {problem}"
    diff = jr.first_difference(records, _pub_event, total)
    assert diff is None, f"the reading subscriber's events (JR-4): {diff}"
    assert stuck.read_until_closed(timeout_s=15), (
        f"the subscriber that never reads was not closed, although its "
        f"unsent output exceeded --max-backlog {backlog} (JR-9)")
    alive(server, "after a burst with a stuck subscriber")


# ---------------------------------------------------------------------------
# JR-10: limits


def test_JR10_max_clients_busy(prog, tmp_path):
    server = start(prog, tmp_path / "j.log", "--max-clients", 3)
    sub1 = jr.Subscriber(server.addr)
    sub2 = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    pub.publish(b"one")
    jr.wait_for_records(sub1, 1, 5, "an event, with 3 clients connected")
    jr.wait_for_records(sub2, 1, 5, "an event, with 3 clients connected")
    fourth = peers.Client(server.addr)
    data, how = reply_and_close(fourth)
    assert data == b"ERR busy\n", (
        f"with --max-clients 3 and 3 clients connected, the next one must "
        f"get 'ERR busy\\n' and be closed (JR-10); got {data!r}, then {how}")
    # A journal that does not read its subscribers learns that one left
    # when writing to it fails: two more events make sure it has. The
    # first write reaches the closed socket, whose RST comes back before
    # the second (or the journal has closed it already).
    gone = tcp_table.ServerEnd(sub2.sock, server.proc)
    sub2.close()
    for n, event in ((2, b"two"), (3, b"three")):
        pub.publish(event)
        jr.wait_for_records(sub1, n, 5, "two more events")
        gone.wait(lambda end: end.state() is None or end.released(),
                  timing.react_s())
    assert gone.wait_released(timing.react_s()), (
        "a subscriber left and two events were published after: the "
        "journal should have closed its connection and freed its place "
        "(JR-10)")
    sub3 = jr.Subscriber(server.addr)
    jr.wait_for_records(sub3, 3, 5, "a replay once a client left "
                        "(--max-clients 3)")
    pub.publish(b"four")
    jr.wait_for_records(sub3, 4, 5, "a live event once a client left")
    jr.wait_for_records(sub1, 4, 5, "a live event")


def test_JR10_out_of_file_descriptors_logged_and_serving_goes_on(prog,
                                                                  tmp_path):
    """RLIMIT_NOFILE 32 and 40 idle connections: accept fails with EMFILE.
    The journal logs it, serves the clients it has, and accepts again once
    connections close."""
    server = start(prog, tmp_path / "j.log",
                   limits={"RLIMIT_NOFILE": 32})
    sub = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    pub.publish(b"before")
    jr.wait_for_records(sub, 1, 5, "the first event")
    serving = server.proc.sockets()
    extra = [peers.Client(server.addr) for _ in range(40)]
    logged = peers.wait_until(lambda: server.proc.stderr.strip(), 5,
                              "a message on stderr about running out of "
                              "file descriptors (JR-10)")
    assert logged
    pub.publish(b"during")
    jr.wait_for_records(sub, 2, 5, "a live event while out of file "
                        "descriptors (JR-10: the server keeps serving)")
    for c in extra:
        c.close()
    # The journal lets go of them: it closes those it had and accepts (or
    # turns away) those still queued. Then it must be the same server.
    port = int(server.addr.rsplit(":", 1)[1])

    def let_go():
        return not server.proc.running or (
            server.proc.sockets() <= serving and
            tcp_table.accept_queue(port) == 0)
    peers.poll_until(let_go, timing.react_s())
    alive(server, "after running out of file descriptors")
    late = jr.Subscriber(server.addr)
    jr.wait_for_records(late, 2, 5, "a replay for a new subscriber after "
                        "file descriptors were freed (JR-10)")
    pub2 = jr.Publisher(server.addr)
    pub2.publish(b"after")
    jr.wait_for_records(late, 3, 5, "an event from a new publisher after "
                        "file descriptors were freed (JR-10)")
    jr.wait_for_records(sub, 3, 5, "an event from a new publisher")
    assert sub.records == [(1, b"before"), (2, b"during"), (3, b"after")]


# ---------------------------------------------------------------------------
# JR-11: shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_JR11_signal_flushes_every_event(prog, tmp_path, sig):
    path = tmp_path / "j.log"
    server = start(prog, path, "--flush-ms", 60000)
    sub = jr.Subscriber(server.addr)
    pub = jr.Publisher(server.addr)
    count = 1000
    # One event first, and only once the subscriber has it live is its
    # replay surely over: a replay flushes what is pending, and one that
    # started after the 1000 events would save them to the file by itself.
    pub.send(_new(1) + b"\n")
    jr.wait_for_records(sub, 1, 10, "the first event, live")
    pub.send(b"".join(_new(i) + b"\n" for i in range(2, count + 1)))
    jr.wait_for_records(sub, count, 10, "every published event, live")
    stop(server, sig, f"{count} events pending (--flush-ms 60000)")
    records, problem = jr.read_journal(path)
    assert records, (
        f"after {signal.Signals(sig).name} the file holds no event (it "
        f"{problem or 'is empty'}): a shutdown must flush every pending "
        f"event (JR-11)")
    check_file(path, count, _new, f"after {signal.Signals(sig).name}, "
               f"where a shutdown must flush every pending event (JR-11: "
               f"every event the journal read, exactly once, in order)")


# ---------------------------------------------------------------------------
# JR-12: a failed write


def test_JR12_write_failure_exits_1_leaving_valid_file(prog, tmp_path):
    """RLIMIT_FSIZE 20000 bytes: the write that would pass it fails
    (EFBIG; SIGXFSZ must not kill the server). The journal reports it and
    exits 1, and the file holds only complete records 1 .. k."""
    path = tmp_path / "j.log"
    limit = 20000
    server = start(prog, path, "--flush-ms", 20,
                   limits={"RLIMIT_FSIZE": limit})
    pub = jr.Publisher(server.addr)
    event = b"x" * 57      # records of 60 to 63 bytes: none ends at 20000
    try:
        for i in range(60):
            pub.send(b"".join(event + b"\n" for _ in range(10)))
            time.sleep(0.01)
            if not server.proc.running:
                break
    except OSError:
        pass            # the server exited meanwhile
    result = server.proc.wait(timeout_s=10)
    why = (f"a write to the file failed (RLIMIT_FSIZE {limit} bytes): the "
           f"journal must report it on stderr and exit 1 (JR-12)")
    assert result.rc == 1, result.report(why)
    assert any(prog.says(line, "error:") for line in result.stderr_lines), \
        result.report(why)
    data = path.read_bytes()
    records, problem = jr.parse_journal(data)
    assert problem is None, (
        f"after a failed write the file must stay a valid journal, with no "
        f"partial line (JR-12): {problem}")
    assert len(data) <= limit and records, (
        f"the file holds {len(records)} records in {len(data)} bytes")
    assert all(e == event for _, e in records)


# ---------------------------------------------------------------------------
# JR-13: a corrupt file


_CORRUPT = {
    "not_a_record": (b"1 a\n2 b\nhello\n4 d\n", 3),
    "seq_gap": (b"1 a\n2 b\n4 c\n", 3),
    "seq_repeated": (b"1 a\n2 b\n2 c\n", 3),
    "does_not_start_at_1": (b"2 a\n3 b\n", 1),
    "no_space": (b"1 a\n2\n", 2),
}


@pytest.mark.parametrize("case", sorted(_CORRUPT))
def test_JR13_corrupt_file_refused_and_untouched(prog, tmp_path, case):
    data, line = _CORRUPT[case]
    path = tmp_path / "j.log"
    path.write_bytes(data)
    result = process.run(prog.argv("--listen", "127.0.0.1:0", "--file",
                                   path), timeout_s=5)
    why = (f"a file that is not a journal ({data!r}: line {line} is wrong) "
           f"must be refused on start: exit 1 with an error naming line "
           f"{line} (JR-13)")
    assert result.rc == 1, result.report(why)
    errors = [x for x in result.stderr_lines if prog.says(x, "error:")]
    assert errors and re.search(rf"\b{line}\b", errors[-1]), \
        result.report(why)
    assert path.read_bytes() == data, (
        f"a refused file must be left untouched (JR-13): it was {data!r}, "
        f"it is now {path.read_bytes()!r}")


# ---------------------------------------------------------------------------
# COM-6: a publisher's line over the limit


def test_COM6_too_long_line_closes_that_publisher_only(prog, tmp_path):
    path = tmp_path / "j.log"
    server = start(prog, path)
    sub = jr.Subscriber(server.addr)
    good = jr.Publisher(server.addr)
    bad = peers.Client(server.addr)
    bad.send(b"PUB\n" + b"y" * (MAX_LINE + 1))
    data, how = reply_and_close(bad)
    assert data == b"ERR line too long\n", (
        f"a publisher whose line passes 65536 bytes must get 'ERR line too "
        f"long\\n' and be closed (COM-6); got {data[:100]!r}, then {how}")
    longest = b"z" * MAX_LINE
    good.publish(longest)
    good.publish(b"short")
    jr.wait_for_records(sub, 2, 5, "the other publisher's events (COM-6: "
                        "the server serves the others on)")
    assert sub.records == [(1, longest), (2, b"short")], (
        f"a line of exactly 65536 bytes is an event, the too-long line is "
        f"not (COM-6): got {[(s, e[:20]) for s, e in sub.records]}")
    stop(server)
    check_file(path, 2, {1: longest, 2: b"short"}.get,
               "after a too-long line")


# ---------------------------------------------------------------------------
# COM-8: SIGPIPE


@pytest.mark.timeout(90)
def test_COM8_subscriber_leaving_mid_transfer_does_not_kill_server(prog,
                                                                    tmp_path):
    """A file several times the socket buffers. Subscribers take a part of
    their replay and leave: with a RST, after a FIN then a RST, with a
    plain close; then one leaves (FIN then RST) while live events flood
    in. The journal's next writes to them fail (EPIPE, ECONNRESET):
    SIGPIPE must not kill it."""
    path = tmp_path / "j.log"
    size = max(12 << 20, 3 * jr.socket_buffer_max())
    make_old = _sized_event(200)
    stored = size // 212
    jr.prefill(path, stored, make_old)
    server = start(prog, path, timeout_s=20)

    def leave(sub, how):
        # Waits for what the journal sees (the FIN reached its socket) and
        # for what it does (closes its end after a failed write) instead
        # of sleeping; a journal killed by SIGPIPE has released it too.
        end = tcp_table.ServerEnd(sub.sock, server.proc)
        if how.startswith("fin"):
            sub.sock.shutdown(socket.SHUT_WR)
            end.wait(lambda e: e.state() != "ESTABLISHED", timing.react_s())
        if how == "close":
            sub.close()
        else:
            sub.reset()
        end.wait_released(timing.react_s())

    for how in ("reset", "fin then reset", "close"):
        sub = jr.Subscriber(server.addr)
        while sub.received < 200_000 and sub.read_some(5):
            pass
        leave(sub, how)
        alive(server, f"a subscriber left mid-replay ({how}) (COM-8: SIGPIPE "
                      f"never kills a program)")
    sub = jr.Subscriber(server.addr)
    jr.wait_for_records(sub, stored, 30, "a full replay")
    pub = jr.Publisher(server.addr)
    flood = 40_000
    sender = threading.Thread(target=pub.send, daemon=True, args=(
        b"".join(_pub_event(i) + b"\n" for i in range(1, flood + 1)),))
    sender.start()
    target = sub.received + 200_000
    while sub.received < target and sub.read_some(5):
        pass
    leave(sub, "fin then reset")
    alive(server, "a live subscriber left while events flooded in (COM-8: "
                  "SIGPIPE never kills a program)")
    sender.join(30)
    last = jr.Subscriber(server.addr)
    jr.wait_for_records(last, stored + flood, 30, "a full replay and the "
                        "flood of events, after subscribers left")
    alive(server, "after subscribers left mid-transfer (COM-8)")
