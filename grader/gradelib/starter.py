"""starter: the student's version of a source file, without its solution.

In the kit's own sources, a solution region is marked like this:

    /* BEGIN SOLUTION */
    ... the code students write ...
    /* END SOLUTION */

and may carry a stub that takes its place in the student kit, written as a
comment just before the end marker (so the reference still compiles):

    /* BEGIN SOLUTION */
    ... the code students write ...
    /* STUB
        return -ENOSYS;
    END SOLUTION */

Each marker is on a line of its own. strip() keeps everything outside the
regions and puts each region's stub (or nothing) in its place.
"""

import re
from pathlib import Path

BEGIN = re.compile(r"^\s*/\*\s*BEGIN SOLUTION\s*\*/\s*$")
END = re.compile(r"^\s*/\*\s*END SOLUTION\s*\*/\s*$")
STUB = re.compile(r"^\s*/\*\s*STUB\s*$")
STUB_END = re.compile(r"^\s*END SOLUTION\s*\*/\s*$")
SUFFIXES = (".c", ".h")


class MarkerError(ValueError):
    """Unbalanced or misplaced markers; the message names file and line."""


def strip(text, name="<text>"):
    """Returns (text without its solution regions, number of regions)."""
    out, stub = [], None
    inside, regions, start = False, 0, 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if not inside:
            if BEGIN.match(line):
                inside, start, stub = True, number, None
                regions += 1
            elif END.match(line) or STUB_END.match(line):
                raise MarkerError(f"{name}:{number}: END SOLUTION without "
                                  f"BEGIN SOLUTION")
            else:
                out.append(line)
            continue
        if BEGIN.match(line):
            raise MarkerError(f"{name}:{number}: BEGIN SOLUTION inside the "
                              f"region opened on line {start}")
        if stub is None and STUB.match(line):
            stub = []
        elif stub is not None and STUB_END.match(line):
            out.extend(stub)
            inside = False
        elif stub is not None:
            stub.append(line)
        elif END.match(line):
            inside = False
    if inside:
        raise MarkerError(f"{name}:{start}: BEGIN SOLUTION is never closed")
    return "".join(out), regions


def strip_tree(folder):
    """Strips every .c and .h file under folder in place; returns the
    number of regions removed."""
    total = 0
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix in SUFFIXES and path.is_file():
            text = path.read_text(errors="surrogateescape")
            new, n = strip(text, str(path))
            if n:
                path.write_text(new, errors="surrogateescape")
                total += n
    return total


# Lessons: the answers to the concept questions are for the instructor
# edition only. In a lesson, an answer is marked like this:
#
#     <!-- answer -->
#     ...the answer...
#     <!-- end answer -->
#
# with each marker on a line of its own; the student kit keeps the question
# and loses the region, markers included.
ANSWER = re.compile(r"^\s*<!--\s*answer\s*-->\s*$")
ANSWER_END = re.compile(r"^\s*<!--\s*end answer\s*-->\s*$")


def strip_answers(text, name="<text>"):
    """Returns (text without its answer regions, number of regions)."""
    out, inside, regions, start = [], False, 0, 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if ANSWER.match(line):
            if inside:
                raise MarkerError(f"{name}:{number}: answer inside the "
                                  f"answer opened on line {start}")
            inside, start = True, number
            regions += 1
        elif ANSWER_END.match(line):
            if not inside:
                raise MarkerError(f"{name}:{number}: end answer without "
                                  f"answer")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{name}:{start}: answer is never closed")
    return "".join(out), regions


def strip_answers_tree(folder):
    """Strips the answers from every .md file under folder in place;
    returns the number of regions removed."""
    total = 0
    for path in sorted(Path(folder).rglob("*.md")):
        new, n = strip_answers(path.read_text(), str(path))
        if n:
            path.write_text(new)
            total += n
    return total
