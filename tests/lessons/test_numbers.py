"""Lesson 08's measured numbers are the committed measurement's
(lessons/data/bench.json, printed by lessons/numbers.py), never typed in."""

from harness import tracks
from lessons import numbers

LESSON = next((tracks.ROOT / "lessons").glob("08-*.md"))


def test_lesson_08_quotes_the_committed_bench_run_exactly():
    data = numbers.load()
    text = LESSON.read_text()
    rows = numbers.idle_rows(data) + numbers.fanout_rows(data)
    missing = [r for r in rows if r not in text.splitlines()]
    assert not missing, (
        f"lesson 08 does not quote these rows of lessons/data/bench.json "
        f"(run /usr/bin/python3 -m lessons.numbers and paste): {missing}")
    assert f"on {numbers.when(data)}," in text
    assert f"(`nproc` {data['nproc']})" in text


def test_no_other_bench_row_is_in_lesson_08():
    """A row in the lesson's tables that the file does not hold was typed
    in, or is left from an older run."""
    data = numbers.load()
    rows = set(numbers.idle_rows(data) + numbers.fanout_rows(data))
    names = set(data["results"])
    quoted = [line for line in LESSON.read_text().splitlines()
              if line.startswith("| ") and line.split(" | ")[0][2:] in names
              and line.count("|") in (6, 7)]
    stray = [line for line in quoted if line not in rows]
    assert not stray, f"rows not in lessons/data/bench.json: {stray}"


def test_the_measurement_covers_every_journal():
    data = numbers.load()
    journals = {e.track for e in tracks.with_contract("journal")}
    assert journals <= set(data["results"]), (
        f"lessons/data/bench.json lacks {journals - set(data['results'])}: "
        f"measure again with bench.bench --json")
