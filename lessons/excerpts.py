#!/usr/bin/python3
"""excerpts: the code shown in the lessons is the code in the sources.

A lesson shows code like this:

    <!-- excerpt: blocking-threads/fetch-line.c lesson:fetch-line-deadline -->
    ```c
    ...exactly the lines between the markers...
    ```

and the source marks the same lines:

    /* lesson:fetch-line-deadline */
    ...
    /* end */

(the marker lines themselves are not part of the excerpt; a marker may be
indented).

    /usr/bin/python3 lessons/excerpts.py --check    # exit 1, listing every
                                                    # drifted or missing one
    /usr/bin/python3 lessons/excerpts.py --update   # rewrite the blocks from
                                                    # the sources
    --lessons DIR   the Markdown files to read (default: this folder)
    --root DIR      where source paths start (default: the repository)

Standard library only.
"""

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

EXCERPT = re.compile(r"^<!-- excerpt: (\S+) lesson:(\S+) -->\s*$")
START = "/* lesson:{name} */"
END = "/* end */"


class Missing(Exception):
    """A source, a marker or its end that is not there."""


def source_excerpt(root, path, name):
    """The lines between `/* lesson:NAME */` and the next `/* end */` in
    root/path, as one string ending in a newline. Raises Missing."""
    file = Path(root) / path
    if not file.is_file():
        raise Missing(f"no source file {path}")
    lines = file.read_text().splitlines(keepends=True)
    start = START.format(name=name)
    found = [i for i, line in enumerate(lines) if line.strip() == start]
    if not found:
        raise Missing(f"no marker {start} in {path}")
    if len(found) > 1:
        raise Missing(f"marker {start} appears {len(found)} times in {path}")
    for j in range(found[0] + 1, len(lines)):
        if lines[j].strip() == END:
            text = "".join(lines[found[0] + 1:j])
            return text if text.endswith("\n") or not text else text + "\n"
    raise Missing(f"marker {start} in {path} has no {END} after it")


def blocks(lines):
    """Yields (index of the excerpt comment, path, name, fence start, fence
    end) for each excerpt in a lesson's lines; fence start/end are None when
    no ```c block follows the comment."""
    for i, line in enumerate(lines):
        m = EXCERPT.match(line)
        if not m:
            continue
        first = i + 1
        if first < len(lines) and lines[first].strip() == "```c":
            for j in range(first + 1, len(lines)):
                if lines[j].strip() == "```":
                    yield i, m.group(1), m.group(2), first, j
                    break
            else:
                yield i, m.group(1), m.group(2), None, None
        else:
            yield i, m.group(1), m.group(2), None, None


def _first_difference(shown, real):
    a, b = shown.splitlines(), real.splitlines()
    for k, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {k} of the block: lesson has {x!r}, source has {y!r}"
    return (f"the block has {len(a)} lines, the source {len(b)}")


def check(lessons, root):
    """Returns a list of problems, one sentence each (empty: all good)."""
    problems = []
    for md in sorted(Path(lessons).glob("*.md")):
        lines = md.read_text().splitlines(keepends=True)
        for i, path, name, a, b in blocks(lines):
            where = f"{md.name}:{i + 1}: {path} lesson:{name}"
            try:
                real = source_excerpt(root, path, name)
            except Missing as exc:
                problems.append(f"{where}: missing: {exc}")
                continue
            if a is None:
                problems.append(f"{where}: missing: no ```c block right "
                                f"after the excerpt comment")
                continue
            shown = "".join(lines[a + 1:b])
            if shown != real:
                problems.append(f"{where}: drifted: "
                                f"{_first_difference(shown, real)}")
    return problems


def update(lessons, root):
    """Rewrites every excerpt block from its source. Returns (files
    changed, problems that could not be fixed)."""
    changed, problems = [], []
    for md in sorted(Path(lessons).glob("*.md")):
        lines = md.read_text().splitlines(keepends=True)
        out = []
        pos = 0
        for i, path, name, a, b in blocks(lines):
            try:
                real = source_excerpt(root, path, name)
            except Missing as exc:
                problems.append(f"{md.name}:{i + 1}: {exc}")
                continue
            out += lines[pos:i + 1]
            out += ["```c\n", real, "```\n"]
            pos = b + 1 if a is not None else i + 1
        out += lines[pos:]
        text = "".join(out)
        if text != "".join(lines):
            md.write_text(text)
            changed.append(md.name)
    return changed, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check or update the code "
                                 "excerpts of the lessons.")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--check", action="store_true")
    what.add_argument("--update", action="store_true")
    ap.add_argument("--lessons", default=str(HERE))
    ap.add_argument("--root", default=str(ROOT))
    args = ap.parse_args(argv)
    if args.update:
        changed, problems = update(args.lessons, args.root)
        for name in changed:
            print(f"updated {name}")
        for p in problems:
            print(f"excerpts: {p}", file=sys.stderr)
        return 1 if problems else 0
    problems = check(args.lessons, args.root)
    for p in problems:
        print(f"excerpts: {p}", file=sys.stderr)
    if problems:
        print(f"excerpts: {len(problems)} excerpt(s) do not match their "
              f"source; fix the marker or run `{Path(sys.argv[0]).name} "
              f"--update`", file=sys.stderr)
        return 1
    count = sum(1 for md in Path(args.lessons).glob("*.md")
                for _ in blocks(md.read_text().splitlines(keepends=True)))
    print(f"excerpts: all {count} excerpts match their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
