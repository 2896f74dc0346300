"""Lesson 08's measured numbers are the committed measurement's
(lessons/data/bench.json, printed by lessons/numbers.py), never typed in."""

import re

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


def table_rows(text, first):
    """The rows of the Markdown table whose header starts with `first`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_lesson_08_line_counts_are_the_committed_count():
    committed = (tracks.ROOT / "lessons" / "data" / "sloc.md").read_text()
    assert table_rows(LESSON.read_text(), "| track | program or part") == \
        table_rows(committed, "| track | program or part"), (
        "lesson 08's line counts differ from lessons/data/sloc.md")


def test_lesson_08_sizes_are_the_committed_measurement():
    committed = (tracks.ROOT / "lessons" / "data" / "sizes.md").read_text()
    shown = table_rows(LESSON.read_text(), "| what is pending")
    want = table_rows(committed, "| what is pending")
    assert shown[:len(want)] == want, (
        "lesson 08's sizes differ from lessons/data/sizes.md")
    # The one row that is not a struct: the framer's buffer, whose size is
    # the line limit plus the '\n' (common/line.h, common/line.c).
    limit = int(re.search(r"#define LINE_MAX_BYTES (\d+)", (
        tracks.ROOT / "common" / "line.h").read_text()).group(1))
    size = f"{limit + 1:,}".replace(",", " ")
    assert shown[len(want):] == [
        f"| the line framer's buffer (`common/line.c`, every track) | "
        f"{size} |"]
