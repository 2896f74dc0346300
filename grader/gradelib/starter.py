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


# ---------------------------------------------------------------------------
# The whole student kit: what may not appear in it, and the lessons' boxes.
#
# Every line of every solution region is secret, unless the same line also
# appears outside the regions in the kit's C sources (a `return 0;`, a
# `trace_event("connected");` that given code writes too): those say
# nothing. Short lines (braces, `break;`) say nothing either.

MIN_SECRET = 24


def region_spans(text):
    """[(first, last, stub)] of a text's solution regions: 1-based line
    numbers of the BEGIN and END markers, and the stub's lines (a list,
    empty without a stub)."""
    spans, start, stub = [], None, None
    for number, line in enumerate(text.splitlines(), 1):
        if start is None:
            if BEGIN.match(line):
                start, stub = number, None
            continue
        if stub is None and STUB.match(line):
            stub = []
        elif stub is not None and STUB_END.match(line):
            spans.append((start, number, stub))
            start = None
        elif stub is not None:
            stub.append(line)
        elif END.match(line):
            spans.append((start, number, []))
            start = None
    return spans


def _sources(root):
    """The kit's C sources, build folders and dist/ left out."""
    root = Path(root)
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p in ("dist", ".git") or p == "build" or p.startswith("build-")
               for p in parts):
            continue
        if path.suffix in SUFFIXES and path.is_file():
            yield path


def secret_lines(root):
    """The set of stripped solution lines of the kit at root that appear
    nowhere else in its C sources and are at least MIN_SECRET long."""
    inside, outside = set(), set()
    for path in _sources(root):
        lines = path.read_text(errors="replace").splitlines()
        spans = region_spans("\n".join(lines))
        marked = set()
        for first, last, stub in spans:
            marked.update(range(first, last + 1))
            # A stub is the student's text: its lines are public.
            outside.update(line.strip() for line in stub)
        for number, line in enumerate(lines, 1):
            (inside if number in marked else outside).add(line.strip())
    return {line for line in inside - outside if len(line) >= MIN_SECRET
            and not BEGIN.match(line) and not END.match(line)
            and not STUB_END.match(line) and not STUB.match(line)
            and not LESSON_MARKER.match(line)}


LESSON_MARKER = re.compile(r"^/\*\s*(lesson:\S+|end)\s*\*/$")
COMMENT_CODE = re.compile(r"^(\s*(?:\*|//)\s*)(\S.*)$")


def redact_comments(folder, secret):
    """In every .c and .h under folder, a comment line that quotes a
    solution line (a header's worked example, say) keeps its comment
    prefix and loses the code: `*     ...`. Returns the number of lines
    changed."""
    total = 0
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        lines = path.read_text(errors="surrogateescape").splitlines(
            keepends=True)
        changed = False
        for i, line in enumerate(lines):
            m = COMMENT_CODE.match(line.rstrip("\n"))
            if m and m.group(2).strip() in secret:
                lines[i] = f"{m.group(1)}...\n"
                changed = True
                total += 1
        if changed:
            path.write_text("".join(lines), errors="surrogateescape")
    return total


def find_leaks(tree, secret):
    """[(relative path, line number, line)] of every line of a text file
    under tree whose stripped form is a secret line."""
    leaks = []
    tree = Path(tree)
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() in secret:
                leaks.append((str(path.relative_to(tree)), number, line))
            elif line.lstrip().startswith((">", "*", "//", "#")) and \
                    line.lstrip(" >*/#").strip() in secret:
                # Quoted in Markdown, a comment or a script.
                leaks.append((str(path.relative_to(tree)), number, line))
    return leaks


# Lessons quote the sources (lessons/excerpts.py). In the student kit an
# excerpt of code that lies in a solution region becomes a box that says
# what to write instead of showing it:
#
#     <!-- you write this: PATH lesson:NAME -->
#     > **You write this** ...
#
# (not an excerpt comment, so the student kit's excerpt check skips it).

SPEC_ID = re.compile(r"\b(?:COM|FL|DB|JR|WC|HE)-\d+\b")
EXCERPT_LINE = re.compile(r"^<!-- excerpt: (\S+) lesson:(\S+) -->\s*$")


def _excerpt_span(lines, name):
    """1-based (marker line, end line) of /* lesson:NAME */, or None."""
    start = f"/* lesson:{name} */"
    for i, line in enumerate(lines):
        if line.strip() == start:
            for j in range(i + 1, len(lines)):
                if lines[j].strip() == "/* end */":
                    return i + 1, j + 1
    return None


def _todo(stub):
    """The stub's TODO comment, as one sentence."""
    words = []
    for line in stub:
        text = line.strip()
        if not text.startswith("//"):
            if words:
                break
            continue
        words.append(text.lstrip("/ ").removeprefix("TODO:").strip())
    return " ".join(w for w in words if w)


def solution_excerpt(root, path, name):
    """The enclosing region's stub, if the excerpt NAME of root/path lies
    (even partly) in a solution region; None for given code."""
    file = Path(root) / path
    if not file.is_file():
        return None
    text = file.read_text(errors="replace")
    span = _excerpt_span(text.splitlines(), name)
    if span is None:
        return None
    for first, last, stub in region_spans(text):
        if span[0] <= last and span[1] >= first:
            return stub
    return None


def box(path, name, stub, excerpt_text, about):
    """The Markdown box that stands for a solution excerpt. about is the
    excerpt's entry of lessons/hints.toml (does, spec, hint), or {}."""
    items = about.get("spec") or ", ".join(sorted(
        set(SPEC_ID.findall(excerpt_text)),
        key=lambda s: (s.split("-")[0], int(s.split("-")[1]))))
    todo = _todo(stub) or "the part of the program the lesson describes."
    lines = [f"<!-- you write this: {path} lesson:{name} -->\n",
             f"> **You write this** in `{path}`, where its `TODO` is. "
             f"(The instructor's kit shows the reference code here.)\n",
             ">\n"]
    if about.get("does"):
        lines.append(f"> - **What it must do:** {about['does']}.\n")
        lines.append(f"> - **Part of the TODO:** {todo}\n")
    else:
        lines.append(f"> - **What it must do:** {todo}\n")
    lines += [f"> - **Spec items:** {items or 'see docs/programs.md'}\n",
              f"> - **Hint:** {about.get('hint') or DEFAULT_HINT}\n"]
    return lines


DEFAULT_HINT = ("read the given code around the `TODO` first (the struct, "
                "the states, the helpers), then the lesson's text above; "
                "check each step with the conformance tests of that "
                "program.")


def box_lessons(lessons, root, hints=None):
    """Replaces, in every .md under lessons, each excerpt of solution code
    (read from the instructor kit at root) by a box. hints maps NAME to its
    entry of lessons/hints.toml. Returns the number of boxes written."""
    hints = hints or {}
    total = 0
    for md in sorted(Path(lessons).glob("*.md")):
        lines = md.read_text().splitlines(keepends=True)
        out, i, changed = [], 0, False
        while i < len(lines):
            m = EXCERPT_LINE.match(lines[i])
            stub = m and solution_excerpt(root, m.group(1), m.group(2))
            if stub is None:
                out.append(lines[i])
                i += 1
                continue
            j = i + 1
            block = ""
            if j < len(lines) and lines[j].strip() == "```c":
                k = j + 1
                while k < len(lines) and lines[k].strip() != "```":
                    k += 1
                block = "".join(lines[j + 1:k])
                j = k + 1
            out += box(m.group(1), m.group(2), stub, block,
                       hints.get(m.group(2), {}))
            total += 1
            changed = True
            i = j
        if changed:
            md.write_text("".join(out))
    return total
