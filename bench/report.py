"""The bench's output: the table on the terminal and one SVG plot per
measure (matplotlib, when it is installed)."""

from .measure import CEILING


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e5:
        return f"{value / 1e6:.2f} M"
    return f"{value:,.{digits}f}"


def pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def table(title, head, rows, notes=()):
    print(f"\n{title}")
    if not rows:
        print("  (nothing measured)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows))
              for i, h in enumerate(head)]
    cells = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(r, widths)))
    print("  " + cells(head))
    print("  " + "-" * len(cells(head)))
    for r in rows:
        print("  " + cells(r))
    for note in notes:
        print("  " + note)


def print_tables(data):
    size = data["sizes"]
    res = data["results"]
    ticks = size["flood_ticks"]
    head = ["program"]
    for tick in ticks:
        head += [f"ev/s @{tick}", "of ceil", "late ms", "CPU s"]
    head += ["instr/ev", "complete"]
    rows = []
    for label, row in res["flood"].items():
        cells = [label]
        for tick in ticks:
            r = row[f"tick{tick}"]
            cells += [fmt(r["events_per_s"]), pct(r["of_ceiling"]),
                      fmt(r["worst_lateness_ms"]), fmt(r["cpu_s"], 2)]
        cells += [fmt(row["instructions_per_event"], 0),
                  fmt(all(row[f"tick{t}"]["complete"] for t in ticks))]
        rows.append(cells)
    table(f"Dashboard flood: {size['flood_events']:,} events of 13 bytes, "
          f"--tick-ms {' and '.join(map(str, ticks))}", head, rows,
          ["late = worst tick lateness (ms after K x tick); instr/ev: "
           f"{data['instructions_by']}, a {size['instr_events']:,}-event "
           "flood"])
    rows = [[label, fmt(r["deliveries_per_s"]), pct(r["of_ceiling"]),
             fmt(r["write_syscalls_per_delivery"], 4), fmt(r["cpu_s"], 2),
             fmt(r["lost"]), fmt(r.get("p50_ms"), 2), fmt(r.get("p99_ms"), 2)]
            for label, r in res["fanout"].items()]
    table(f"Journal fan-out: {size['burst_subs']} subscribers x "
          f"{size['burst_events']:,} events in a burst; latency: "
          f"{size['latency_subs']} subscribers, {size['latency_rate']} "
          f"events/s",
          ["program", "deliv/s", "of ceil", "writes/deliv", "CPU s",
           "lost", "p50 ms", "p99 ms"], rows,
          [f"writes: {data['writes_by']} (the journal's file writes "
           "included)"])
    low, high = size["idle_counts"]
    rows = [[label, fmt(r["rss_kib"][0]), fmt(r["rss_kib"][1]),
             fmt(r["threads"][0]), fmt(r["threads"][1]),
             fmt(r["kib_per_conn"]), fmt(r["threads_per_conn"], 2)]
            for label, r in res["idle"].items()]
    rows += [[label, fmt(r["rss_kib"]), "", fmt(r["threads"]), "", "", ""]
             for label, r in res["waiter"].items()]
    table(f"Idle: journals with {low} and {high} idle subscribers; "
          f"wait-client waiting",
          ["program", f"RSS KiB {low}", f"{high}", f"threads {low}",
           f"{high}", "KiB/conn", "threads/conn"], rows)
    rows = [[label, fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
             fmt(r["max_ms"], 2), fmt(r["bad"])]
            for label, r in res["deadline"].items()]
    table(f"Deadline lateness past --timeout-ms {size['deadline_ms']} "
          f"({size['deadline_runs']} runs)",
          ["program", "p50 ms", "p99 ms", "max ms", "wrong exit"], rows,
          ["spawn -> exit as seen from here; the ceiling row is a C "
           "program that only sleeps"])
    rows = [[label, fmt(r["accept_ms"], 2), fmt(r["over_ms"], 2)]
            for label, r in res["winner"].items()]
    table(f"Connect-to-winner: happy-eyeballs, --stagger-ms "
          f"{size['stagger_ms']}, hanging / refused / answering (median of "
          f"{size['runs']} runs)",
          ["program", "accept ms", "past schedule ms"], rows,
          ["accept = spawn -> the winner's listener accepts"])


def plot(data, folder):
    """One SVG per measure, one bar per program. Returns the files, or None
    without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    res = data["results"]
    top = data["sizes"]["flood_ticks"][0]
    charts = {
        "flood": ("dashboard flood, events/s (tick %d ms)" % top,
                  {k: r[f"tick{top}"]["events_per_s"]
                   for k, r in res["flood"].items()}),
        "instructions": ("dashboard, instructions per event",
                         {k: r["instructions_per_event"]
                          for k, r in res["flood"].items()}),
        "fanout": ("journal fan-out, deliveries/s",
                   {k: r["deliveries_per_s"]
                    for k, r in res["fanout"].items()}),
        "writes": ("journal, write syscalls per delivery",
                   {k: r["write_syscalls_per_delivery"]
                    for k, r in res["fanout"].items()}),
        "idle": ("journal, KiB per idle subscriber",
                 {k: r["kib_per_conn"] for k, r in res["idle"].items()}),
        "deadline": ("lateness past the deadline, p99 ms",
                     {k: r["p99_ms"] for k, r in res["deadline"].items()}),
    }
    written = []
    for name, (title, values) in charts.items():
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            continue
        fig, ax = plt.subplots(figsize=(8, 1.0 + 0.45 * len(values)))
        bars = ax.barh(list(values), list(values.values()),
                       color=["#999999" if k == CEILING else "#3b6ea5"
                              for k in values])
        ax.bar_label(bars, labels=[fmt(v, 4 if v < 1 else 1)
                                   for v in values.values()], padding=3)
        ax.margins(x=0.2)
        ax.invert_yaxis()
        ax.set_title(title)
        # Which run: the plots are compared within one run only.
        fig.text(0.01, 0.01, f"{data['date']}, kit {data['commit']}, "
                 f"nproc {data['machine']['nproc']}", fontsize=7,
                 color="#666666")
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        path = folder / f"{name}.svg"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
