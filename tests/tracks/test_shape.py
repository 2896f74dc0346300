"""The shape every track keeps, so the three can be read side by side:
no C function over MAX_FUNCTION_LINES lines, and each journal.c at most
MAX_JOURNAL_SLOC lines of code (lessons/sloc.py counts them, as lesson 08
does).

The folders in SHAPED are held to it: common/ and every track (the
futures library in async-futures/fut/ included).
"""

import re
from pathlib import Path

import pytest

from harness import tracks
from lessons.sloc import sloc

ROOT = tracks.ROOT

# The folders whose C code is held to these limits (common/ and tracks).
SHAPED = ["common", "blocking-threads", "manual-statemachine", "async-futures"]

MAX_FUNCTION_LINES = 50
MAX_JOURNAL_SLOC = 500

# Comments, strings and character literals, which may hold braces: each is
# replaced by blanks of the same shape, so line numbers stay true.
NOISE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|'
                   r'/\*.*?\*/|//[^\n]*', re.S)
# A function definition's first line: a name and '(' at the line's start
# (after its return type), not a statement or a declaration.
SIGNATURE = re.compile(r"^(?:[A-Za-z_][\w\s\*]*?\b)?(\w+)\s*\(")


def blank_noise(text):
    return NOISE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def functions(path):
    """Yields (name, first line, lines) for every function defined in path:
    from the first line of its signature to its closing brace. The kit's
    style puts a function's opening brace alone at the start of a line."""
    lines = blank_noise(path.read_text()).splitlines()
    i = 0
    while i < len(lines):
        if lines[i].rstrip() != "{":
            i += 1
            continue
        start = i - 1
        while start > 0 and not SIGNATURE.match(lines[start]):
            start -= 1
        match = SIGNATURE.match(lines[start])
        depth, end = 0, i
        while True:
            depth += lines[end].count("{") - lines[end].count("}")
            if depth == 0:
                break
            end += 1
        yield (match.group(1) if match else "?"), start + 1, end - start + 1
        i = end + 1


def c_files():
    return [p for folder in SHAPED
            for p in sorted((ROOT / folder).glob("*.c")) +
            sorted((ROOT / folder).glob("*/*.c"))]


def test_counter_sees_every_function_and_its_length(tmp_path):
    sample = tmp_path / "sample.c"
    sample.write_text('static int short_one(int a)\n{\n    return a; /* } */\n'
                      '}\n\nvoid two(const char *s,\n         int n)\n{\n'
                      '    if (n) {\n        puts("{");\n    }\n}\n')
    assert list(functions(sample)) == [("short_one", 1, 4), ("two", 6, 7)]


@pytest.mark.parametrize("path", c_files(),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_longer_than_a_screen(path):
    long = [f"{name} (line {line}): {count} lines"
            for name, line, count in functions(path)
            if count > MAX_FUNCTION_LINES]
    assert not long, (f"{path.relative_to(ROOT)}: functions over "
                      f"{MAX_FUNCTION_LINES} lines, split them: "
                      + "; ".join(long))


@pytest.mark.parametrize("folder", [f for f in SHAPED
                                    if (ROOT / f / "journal.c").is_file()])
def test_each_journal_is_at_most_500_lines_of_code(folder):
    count = sloc(ROOT / folder / "journal.c")
    assert count <= MAX_JOURNAL_SLOC, (
        f"{folder}/journal.c has {count} lines of code (lessons/sloc.py), "
        f"more than {MAX_JOURNAL_SLOC}: the server plumbing belongs in the "
        f"track's server module, what is not concurrency in common/")
