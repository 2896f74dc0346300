#!/usr/bin/python3
"""numbers: lesson 08's measured tables, from the committed measurement.

    /usr/bin/python3 -m lessons.numbers      (from the kit's top folder)

prints the tables lesson 08 quotes, made from lessons/data/bench.json, the
raw numbers of one `make bench` run (bench/bench.py --json). To measure
again: run `/usr/bin/python3 -m bench.bench --json lessons/data/bench.json`,
then paste this program's output into the lesson and adjust its words.
tests/lessons/test_numbers.py checks that the lesson quotes exactly these
tables and that file's date and core count, so a number in the lesson is
always one that was measured.
"""

import json
import sys

from harness import tracks

DATA = tracks.ROOT / "lessons" / "data" / "bench.json"


def load(path=DATA):
    return json.loads(path.read_text())


def idle_rows(data):
    rows = []
    for track, res in data["results"].items():
        for n, r in sorted(res["idle"].items(), key=lambda kv: int(kv[0])):
            rows.append(f"| {track} | {n} | {r['rss_kib']:.0f} | "
                        f"{r['threads']:.0f} | {r['rss_per_conn_kib']:.1f} | "
                        f"{r['cpu_ms_per_s']:.1f} |")
    return rows


def fanout_rows(data):
    return [f"| {track} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['total_ms']:.0f} | {r['lost']:.0f} |"
            for track, res in data["results"].items()
            for r in [res["fanout"]]]


def when(data):
    """The date of the run, as the lesson writes it (YYYY-MM-DD)."""
    return data["date"][:10]


def main():
    data = load()
    print(f"measured {when(data)}, nproc {data['nproc']}\n")
    print("| track | conns | RSS KiB | threads | KiB per extra conn | "
          "idle CPU ms/s |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(idle_rows(data)))
    print("\n| track | median ms | p99 ms | total ms | events lost |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(fanout_rows(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
