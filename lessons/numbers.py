#!/usr/bin/python3
"""numbers: lesson 08's measured tables, made from the committed bench run.

    /usr/bin/python3 -m lessons.numbers            print the tables
    /usr/bin/python3 -m lessons.numbers --update   write them into lesson 08
    make bench-lesson                              measure again, then --update

lessons/data/bench.json is one full `make bench` run (bench/bench.py
--json), with its date, machine and kit commit. Lesson 08 holds each table
between `<!-- bench: NAME -->` and `<!-- end bench -->`; --update replaces
what is between them with this program's output, and
tests/lessons/test_numbers.py checks that the lesson holds exactly that, so
every measured number the lesson prints is one of that file's. The words
around the tables must not quote a measured number (the test looks for
decimals there): they point at the tables instead.
"""

import json
import re
import sys

from harness import tracks

DATA = tracks.ROOT / "lessons" / "data" / "bench.json"
LESSON = next((tracks.ROOT / "lessons").glob("08-*.md"))
BLOCK = re.compile(r"^<!-- bench: ([a-z]+) -->\n(.*?)^<!-- end bench -->$",
                   re.S | re.M)


def load(path=DATA):
    return json.loads(path.read_text())


def when(data):
    """The date of the run, as the lesson writes it (YYYY-MM-DD)."""
    return data["date"][:10]


def num(value, digits=1):
    """A number as the tables show it: rates in millions, '-' for none."""
    if value is None:
        return "-"
    if abs(value) >= 1e5:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.{digits}f}"


def pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def row(*cells):
    return "| " + " | ".join(cells) + " |"


def run_block(data):
    m = data["machine"]
    return [
        f"Measured by `make bench-lesson` on {when(data)}, on a shared "
        f"machine ({m['cpu_model']}, `nproc` {m['nproc']}, Linux "
        f"{m['kernel']}) while other jobs ran on it, kit commit "
        f"`{data['commit']}`, the programs built by plain `make` "
        f"(`-O1 -g`), everything in one run of {data['seconds']:.0f} s. "
        f"Instructions were counted by {data['instructions_by']}; write "
        f"syscalls by {data['writes_by']}."]


def flood_block(data):
    size = data["sizes"]
    ticks = size["flood_ticks"]
    head = ["program"]
    for tick in ticks:
        head += [f"events/s, tick {tick}", "of ceiling", "worst late ms",
                 "CPU s"]
    head.append("instructions/event")
    lines = [f"A source sends {size['flood_events']:,} events of 13 bytes "
             f"as fast as it can, then closes; events/s from its first byte "
             f"to the program's exit. Instructions per event from a "
             f"{size['instr_events']:,}-event flood at tick {ticks[0]} ms.",
             "", row(*head), row(*(["---"] + ["---:"] * (len(head) - 1)))]
    for label, r in data["results"]["flood"].items():
        cells = [label]
        for tick in ticks:
            t = r[f"tick{tick}"]
            cells += [num(t["events_per_s"]), pct(t["of_ceiling"]),
                      num(t["worst_lateness_ms"], 0), num(t["cpu_s"], 2)]
        cells.append(num(r["instructions_per_event"], 0))
        lines.append(row(*cells))
    return lines


def fanout_block(data):
    size = data["sizes"]
    lines = [f"{size['burst_subs']} subscribers, one publisher sends "
             f"{size['burst_events']:,} events in one burst. Latency: "
             f"{size['latency_subs']} subscribers, "
             f"{size['latency_rate']:,} events a second, from the "
             f"publisher's send to a subscriber's receive.", "",
             row("program", "deliveries/s", "of ceiling",
                 "writes per delivery", "CPU s", "p50 ms", "p99 ms"),
             row("---", *["---:"] * 6)]
    for label, r in data["results"]["fanout"].items():
        lines.append(row(label, num(r["deliveries_per_s"]),
                         pct(r["of_ceiling"]),
                         num(r["write_syscalls_per_delivery"], 4),
                         num(r["cpu_s"], 2), num(r["p50_ms"], 2),
                         num(r["p99_ms"], 2)))
    return lines


def idle_block(data):
    low, high = data["sizes"]["idle_counts"]
    lines = [f"Each journal with {low}, then {high} subscribers connected, "
             f"past their replay and idle; each wait-client waiting for its "
             f"client (the ceiling: a C program asleep in `poll`).", "",
             row("program", f"RSS KiB, {low}", f"RSS KiB, {high}",
                 f"threads, {low}", f"threads, {high}", "KiB per extra conn",
                 "threads per extra conn"),
             row("---", *["---:"] * 6)]
    for label, r in data["results"]["idle"].items():
        lines.append(row(label, num(r["rss_kib"][0], 0),
                         num(r["rss_kib"][1], 0), num(r["threads"][0], 0),
                         num(r["threads"][1], 0), num(r["kib_per_conn"]),
                         num(r["threads_per_conn"], 2)))
    for label, r in data["results"]["waiter"].items():
        lines.append(row(label, num(r["rss_kib"], 0), "", num(r["threads"], 0),
                         "", "", ""))
    return lines


def deadline_block(data):
    size = data["sizes"]
    lines = [f"How long after `--timeout-ms {size['deadline_ms']}` each "
             f"program exits, over {size['deadline_runs']} runs (from the "
             f"spawn to the exit, start-up included: the ceiling row is a C "
             f"program that only sleeps {size['deadline_ms']} ms).", "",
             row("program", "p50 ms", "p99 ms", "max ms"),
             row("---", "---:", "---:", "---:")]
    for label, r in data["results"]["deadline"].items():
        lines.append(row(label, num(r["p50_ms"], 2), num(r["p99_ms"], 2),
                         num(r["max_ms"], 2)))
    lines += ["", f"happy-eyeballs racing a hanging, a refusing and an "
              f"answering address, `--stagger-ms {size['stagger_ms']}` "
              f"(median of {size['runs']} runs): from the spawn to the "
              f"winner's accept, and what that adds to the "
              f"{size['stagger_ms']} ms the schedule itself takes.", "",
              row("program", "connect-to-winner ms", "past the schedule ms"),
              row("---", "---:", "---:")]
    for label, r in data["results"]["winner"].items():
        lines.append(row(label, num(r["accept_ms"], 2),
                         num(r["over_ms"], 2)))
    return lines


def blocks(data):
    """Every generated block of lesson 08: name -> its lines."""
    return {"run": run_block(data), "flood": flood_block(data),
            "fanout": fanout_block(data), "idle": idle_block(data),
            "deadline": deadline_block(data)}


def quoted(text):
    """The blocks lesson 08 holds now: name -> its lines."""
    return {m.group(1): m.group(2).rstrip("\n").split("\n")
            for m in BLOCK.finditer(text)}


def update(text, made):
    """text with each block's lines replaced by made[name]."""
    def fill(m):
        return (f"<!-- bench: {m.group(1)} -->\n" +
                "\n".join(made[m.group(1)]) + "\n<!-- end bench -->")
    return BLOCK.sub(fill, text)


def main(argv):
    made = blocks(load())
    if argv[1:] == ["--update"]:
        text = LESSON.read_text()
        missing = set(made) - set(quoted(text))
        if missing:
            print(f"{LESSON.name} has no block for {sorted(missing)}",
                  file=sys.stderr)
            return 1
        LESSON.write_text(update(text, made))
        print(f"{LESSON.name}: tables written from {DATA.name}")
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    for name, lines in made.items():
        print(f"<!-- bench: {name} -->")
        print("\n".join(lines))
        print("<!-- end bench -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
