#!/usr/bin/python3
"""sloc: lines of C per track and program, without comments or blank lines
(the table of lesson 08).

    /usr/bin/python3 -m lessons.sloc     (from the kit's top folder)
    /usr/bin/python3 -m lessons.sloc PATH...

With paths (files, or folders whose .c and .h files count, one folder deep),
it measures those instead: your own version of a program, say, to put
beside the table (`lessons.sloc manual-statemachine/fetch-line.c`).

A program's own file, then the track's modules (every other .c and .h of
the track, one folder deep: async-futures/fut/ is the futures library).
common/ is shared by every track and counted once, apart.
"""

import re
import sys
from pathlib import Path

from harness import tracks

ROOT = tracks.ROOT

# Comments and string/char literals in one pass: strings are kept (a "/*"
# inside a string is not a comment), comments are dropped.
TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|'
                    r'/\*.*?\*/|//[^\n]*', re.S)


def sloc(path):
    text = TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'"
                      else "\n" * m.group(0).count("\n"), path.read_text())
    return sum(1 for line in text.splitlines() if line.strip())


def measure(paths):
    """Prints the lines of each file of paths (folders: their .c and .h
    files, one folder deep) and their total. Returns the exit status."""
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(path.glob("*.[ch]")) + sorted(path.glob("*/*.[ch]"))
        elif path.is_file():
            files.append(path)
        else:
            print(f"sloc: no file or folder {name}", file=sys.stderr)
            return 2
    print("| file | lines |")
    print("|---|---:|")
    total = 0
    for path in files:
        n = sloc(path)
        total += n
        print(f"| {path} | {n} |")
    print(f"| total | {total} |")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        if argv[0] in ("-h", "--help"):
            print(__doc__)
            return 0
        return measure(argv)
    entries = tracks.load()
    programs = {e.source for e in entries}
    rows = []
    for track in dict.fromkeys(e.track for e in entries):
        for e in (e for e in entries if e.track == track):
            if e.source.is_file():
                rows.append((track, e.program, sloc(e.source)))
        folder = ROOT / track
        modules = [p for p in sorted(folder.glob("*.[ch]")) +
                   sorted(folder.glob("*/*.[ch]"))
                   if p not in programs and p.stem not in
                   {x.program for x in entries}]
        rows.append((track, "modules: " + " ".join(
            str(p.relative_to(folder)) for p in modules
            if p.suffix == ".c"), sum(sloc(p) for p in modules)))
    common = sorted((ROOT / "common").glob("*.[ch]"))
    rows.append(("common", "every track", sum(sloc(p) for p in common)))
    print("| track | program or part | lines |")
    print("|---|---|---:|")
    for track, what, n in rows:
        print(f"| {track} | {what} | {n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
