"""Lesson 08's measured numbers are the committed measurement's
(lessons/data/bench.json, one full `make bench-lesson` run; lessons/numbers.py
makes the lesson's tables from it), never typed in."""

import re

from harness import tracks
from lessons import numbers

LESSON = next((tracks.ROOT / "lessons").glob("08-*.md"))


def test_lesson_08_quotes_the_committed_bench_run_exactly():
    made = numbers.blocks(numbers.load())
    shown = numbers.quoted(LESSON.read_text())
    assert set(shown) == set(made), (
        f"lesson 08's <!-- bench: NAME --> blocks are {sorted(shown)}, "
        f"lessons/numbers.py makes {sorted(made)}")
    stale = [name for name in made if shown[name] != made[name]]
    assert not stale, (
        f"lesson 08's {stale} tables are not lessons/data/bench.json's: run "
        f"/usr/bin/python3 -m lessons.numbers --update")


def time_section_prose():
    """Lesson 08's Time section without its generated blocks."""
    text = LESSON.read_text()
    start = text.index("\n## Time\n")
    end = text.index("\n## ", start + 1)
    return numbers.BLOCK.sub("", text[start:end])


def test_the_words_around_the_tables_quote_no_measured_number():
    """A measured number typed into the prose would go stale at the next
    run: the prose points at the tables instead. Measured numbers have
    decimals or are rates and sizes; the bench's settings (100 ms, 64 KiB)
    are whole numbers and may be named."""
    prose = time_section_prose()
    typed = re.findall(r"\b\d+\.\d+\b|\b\d+(?:\.\d+)? ?(?:M|%)(?=\W)",
                       prose)
    assert not typed, f"measured numbers typed into lesson 08: {typed}"


def test_the_tables_are_remade_from_the_file():
    """--update puts the file's tables in place of stale ones."""
    made = numbers.blocks(numbers.load())
    stale = "\n".join(f"<!-- bench: {name} -->\n| old | 1.0 |\n"
                      f"<!-- end bench -->" for name in made)
    assert numbers.quoted(numbers.update(stale, made)) == made


def test_the_committed_run_measured_every_program_and_the_ceiling():
    data = numbers.load()
    assert data["quick"] is False, "lesson 08 quotes a full run, not --quick"
    for key in ("date", "commit", "machine"):
        assert data[key], key
    assert data["machine"]["nproc"] >= 1 and data["machine"]["cpu_model"]
    res = data["results"]
    where = {"dashboard": ["flood"], "journal": ["fanout", "idle"],
             "wait-client": ["waiter", "deadline"], "fetch-line": ["deadline"],
             "happy-eyeballs": ["winner"]}
    missing = [(e.id, measure) for e in tracks.load()
               for measure in where[e.contract] if e.id not in res[measure]]
    assert not missing, (f"lessons/data/bench.json lacks {missing}: run "
                         f"make bench-lesson")
    for measure in ("flood", "fanout", "waiter", "deadline"):
        assert "ceiling" in res[measure], measure


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
