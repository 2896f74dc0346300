"""timing: the tolerances of every timing check, named, and their messages.

A timing test is built so that a right program and a typically wrong one
differ by far more than these tolerances (a 300 ms deadline against a line
that takes 2 s to trickle in), so a busy machine never makes a right
program fail and a wrong one never passes by luck.

All values are milliseconds. KIT_NOISE_MS in the environment overrides
NOISE_MS (e.g. on a very slow grading machine).
"""

import os

# The specification lets a deadline fire up to 5 ms early: clocks tick in
# steps, and a timer may round.
CLOCK_GRANULARITY_MS = 5

# The specification's own allowance on the late side: what a deadline
# triggers (exit, close, a batch) happens no later than 100 ms after it.
SPEC_LATE_MS = 100

# What the harness adds on the late side for a busy machine: starting a
# process, scheduling delays under load, Python's threads waking up. Only
# ever added on the side where a right program cannot be early.
NOISE_MS = int(os.environ.get("KIT_NOISE_MS", "150"))

# DB-6: the final batch comes within this many ms of the source's close.
FINAL_BATCH_MS = 50

# Where the specification only says "at once" or "soon" and the wrong
# designs take a whole period, a timeout or forever, a test allows this
# much: far from both a right program on a busy machine and a wrong one.
GENEROUS_MS = 1000

# A test that looks for what may happen up to a latest moment looks this
# much after it, so that a line written right at that moment is read.
SETTLE_MS = 20

# How soon a server acts on what it has just seen happen (a client gone, a
# failed write) when the specification names no time: a test waits for the
# outcome at most this long (plus NOISE_MS) before it calls it missing.
REACT_MS = 300


def react_s():
    """REACT_MS plus the machine's noise, in seconds: how long a test waits
    for a server to act on what it has seen."""
    return (REACT_MS + NOISE_MS) / 1000.0


def earliest(deadline_ms):
    """The earliest time a deadline of deadline_ms may fire."""
    return deadline_ms - CLOCK_GRANULARITY_MS


def latest(deadline_ms, allowance_ms=SPEC_LATE_MS):
    """The latest accepted time for what a deadline triggers: the spec's
    allowance plus the machine's noise."""
    return deadline_ms + allowance_ms + NOISE_MS


def when(t_ms, event="exited", since="start"):
    """'exited 3010 ms after start'."""
    return f"{event} {t_ms:.0f} ms after {since}"


def late_message(t_ms, deadline_ms, event="exited", hint=None,
                 allowance_ms=SPEC_LATE_MS):
    """'exited 3010 ms after start; the deadline was 300 ms, so it should
    have by 400 ms (HINT)'."""
    text = (f"{when(t_ms, event)}; the deadline was {deadline_ms:.0f} ms, so "
            f"it should have by {deadline_ms + allowance_ms:.0f} ms")
    return text + (f" ({hint})" if hint else "")


def early_message(t_ms, deadline_ms, event="exited", hint=None):
    """'exited 120 ms after start; the deadline was 300 ms, which must not
    fire early (HINT)'."""
    text = (f"{when(t_ms, event)}; the deadline was {deadline_ms:.0f} ms, "
            f"which must never fire early")
    return text + (f" ({hint})" if hint else "")


def check_deadline(t_ms, deadline_ms, event="exited", late_hint=None,
                   early_hint=None, allowance_ms=SPEC_LATE_MS, context=""):
    """Asserts earliest(deadline) <= t_ms <= latest(deadline), with a message
    a student can act on; `context` (e.g. a Result.report()) is appended."""
    tail = f"\n{context}" if context else ""
    assert t_ms is not None, f"the program never {event}{tail}"
    assert t_ms >= earliest(deadline_ms), \
        early_message(t_ms, deadline_ms, event, early_hint) + tail
    assert t_ms <= latest(deadline_ms, allowance_ms), \
        late_message(t_ms, deadline_ms, event, late_hint, allowance_ms) + tail
