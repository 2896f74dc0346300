#!/usr/bin/python3
"""sizes: what a pending operation costs in memory, by sizeof (lesson 08).

    /usr/bin/python3 -m lessons.sizes      (from the kit's top folder)

Each struct is private to its .c file, so for each one a tiny translation
unit #includes that file and declares `char kit_size[sizeof(struct X)]`;
the compiler (cc, the kit's flags) writes the object, and `nm -S` reads the
array's size back: no linking, nothing run. Prints lesson 08's table rows.
The lesson quotes lessons/data/sizes.md, this program's output when the
lesson was written (tests/lessons/test_numbers.py compares the two); run
it again after changing a struct, and update both.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from harness import tracks

ROOT = tracks.ROOT

# (what the lesson calls it, the file, the struct)
STRUCTS = [
    ("`sleep_fut` (holds a `uv_timer_t`)", "async-futures/fut/timer.c",
     "sleep_fut"),
    ("`deadline_fut` (timeout around any future)", "async-futures/fut/comb.c",
     "deadline_fut"),
    ("`select_fut`", "async-futures/fut/comb.c", "select_fut"),
    ("`connect_fut`", "async-futures/fut/tcp.c", "connect_fut"),
    ("`read_fut` (read a line)", "async-futures/fut/tcp.c", "read_fut"),
    ("`write_fut`", "async-futures/fut/tcp.c", "write_fut"),
    ("`fut_tcp` (a connection: `uv_tcp_t`, framer)",
     "async-futures/fut/tcp.c", "fut_tcp"),
    ("`fut_task` (an executor task)", "async-futures/fut/exec.c", "fut_task"),
    ("async-futures `struct fetch` (the coroutine)", "async-futures/fetch-line.c",
     "fetch"),
    ("manual-statemachine `struct fetch` (whole operation)",
     "manual-statemachine/fetch-line.c", "fetch"),
]


def size_of(source, struct, tmp):
    unit = Path(tmp) / "size.c"
    unit.write_text(f'#include "{ROOT / source}"\n'
                    f"char kit_size[sizeof(struct {struct})];\n")
    obj = Path(tmp) / "size.o"
    uv = subprocess.run(["pkg-config", "--cflags", "libuv"],
                        capture_output=True, text=True).stdout.split()
    track = source.split("/")[0]
    subprocess.run(["cc", "-std=gnu11", "-O1", "-c", "-w", f"-I{ROOT}/common",
                    f"-I{ROOT / track}", *uv, str(unit), "-o", str(obj)],
                   check=True)
    nm = subprocess.run(["nm", "-S", str(obj)], capture_output=True,
                        text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if parts and parts[-1] == "kit_size":
            return int(parts[1], 16)
    raise RuntimeError(f"no kit_size in {obj}")


def rows():
    with tempfile.TemporaryDirectory() as tmp:
        return [f"| {label} | {size_of(src, st, tmp)} |"
                for label, src, st in STRUCTS]


def main():
    print("| what is pending | bytes |")
    print("|---|---:|")
    print("\n".join(rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
