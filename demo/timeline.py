"""timeline: turn the --trace output of several runs into side-by-side
timelines, in the terminal (text, with or without colour) and as SVG.

A Run is one version of a program in one scene: its column titles, the
trace events it printed on stderr ("MS EVENT [DETAIL]"), how it ended. A
Scene says how to label those events (which ones are key moments, in which
words), how to fill the time between them, and which instants deserve a rule
across all columns (a deadline). Time flows down; a row is a time bucket.

Standard library only.
"""

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# A trace time up to EARLY ms before a bucket's start is drawn in that
# bucket: a tick due at 200 ms and written at 199.6 ms belongs to "200 ms"
# (the program's clock starts a little after the harness's, and timers may
# round).
EARLY = 5

TRACE = re.compile(r"^\s*(\d+(?:\.\d+)?) (\S+)(?: (.*))?$")

# ANSI styles. A label's style is one of these names.
STYLES = {
    "ok": "32",          # green: connected, a tick on time
    "io": "2",           # dim: reads, published events
    "tick": "36",        # cyan
    "bad": "1;31",       # bold red: timed out, a write during a replay
    "late": "31",        # red: still running past its deadline
    "cancel": "33",      # yellow: cancelled, joined, closed
    "pause": "1;34",     # bold blue: paused, replay start/end, resumed
    "span": "34",        # blue: the time a replay lasts
    "flush": "35",       # magenta
    "exit": "1",         # bold
    "rule": "33",
    "head": "1",
    "note": "2",
}


def parse_trace(err_lines):
    """[(t_ms, bytes line)] from the harness -> [(ms, event, detail)], the
    program's own clock. Lines that are not trace lines are skipped."""
    events = []
    for _, raw in err_lines:
        m = TRACE.match(raw.decode("utf-8", "replace"))
        if m:
            events.append((float(m.group(1)), m.group(2), m.group(3) or ""))
    return events


@dataclass
class Run:
    """One version's run in a scene."""
    title: str                 # first header line, e.g. "threads"
    subtitle: str              # second header line, e.g. "fetch-line"
    mutant: bool = False
    built: bool = True
    events: list = field(default_factory=list)   # (ms, event, detail)
    rc: object = None          # exit status, None if it never ended
    exit_ms: object = None     # when it exited, ms since its spawn
    verdict: str = ""          # a word under the column: "on time", "LATE"
    verdict_style: str = "ok"
    check: str = ""            # a line printed under the footer

    def status(self):
        if not self.built:
            return "not built"
        if self.rc is None:
            return "killed"
        if self.rc < 0:
            return f"signal {-self.rc}"
        return f"exit {self.rc}"


@dataclass
class Mark:
    """A key moment: a short label and its style. Marks with the same label
    in one bucket are shown once, with a count ("read×3")."""
    label: str
    style: str
    rank: int = 5              # lower first when a cell is crowded
    svg: bool = True           # draw it in the SVG


class Scene:
    """What a scene shows; subclasses override mark() and fill()."""
    name = "scene"
    title = ""
    bucket_ms = 50
    takeaway = ()              # 2-4 short lines

    def __init__(self):
        self.rules = []        # (ms, label): a rule across all columns

    def mark(self, run, ms, event, detail):
        """The Mark for one trace event, or None to leave it out."""
        return None

    def fill(self, run, t0, t1):
        """Text and style for a cell with no mark, covering [t0, t1)."""
        return None


# ---------------------------------------------------------------------------
# Text


def _paint(text, style, colour):
    if not colour or not style or not text.strip():
        return text
    return f"\x1b[{STYLES[style]}m{text}\x1b[0m"


def _fit(text, width):
    return text if len(text) <= width else text[:width - 1] + "…"


def _cell(marks, width):
    """A bucket's marks as lines of at most `width` characters: most
    important first, counts for repeats ("read×3"), wrapped onto as many
    lines as they need. Returns (lines, style of the first mark)."""
    counts = {}
    order = []
    for mk in marks:
        if mk.label not in counts:
            counts[mk.label] = 0
            order.append(mk)
        counts[mk.label] += 1
    order.sort(key=lambda mk: mk.rank)
    lines = [""]
    for mk in order:
        word = mk.label + (f"×{counts[mk.label]}" if counts[mk.label] > 1
                           else "")
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append("")
        lines[-1] = _fit(f"{lines[-1]} {word}".strip(), width)
    return lines, order[0].style


def end_ms(runs):
    ends = [r.exit_ms for r in runs if r.exit_ms is not None]
    ends += [ev[0] for r in runs for ev in r.events[-1:]]
    return max(ends) if ends else 0.0


def render_text(scene, runs, colour=False, width=120):
    """The scene as lines of text, at most `width` columns wide."""
    n = max(len(runs), 1)
    tcol = 9                                  # "  1250 ms" + separator
    cw = min(26, (width - tcol) // n - 1)     # a column, without its bar
    bar = "│"
    out = []
    out.append(_paint(f"== {scene.name}: {scene.title}", "head", colour))
    out.append("")

    def row(label, cells):
        line = f"{label:>{tcol - 1}} "
        for text, style in cells:
            pad = text + " " * (cw - len(text))
            line += bar + _paint(pad, style, colour)
        return line.rstrip()

    out.append(row("", [(_fit(r.title, cw), "bad" if r.mutant else "head")
                        for r in runs]))
    out.append(row("", [(_fit(r.subtitle, cw), "head") for r in runs]))
    out.append(" " * (tcol - 1) + " " + ("┼" + "─" * cw) * n)

    marks = [[(ms, scene.mark(r, ms, ev, detail))
              for ms, ev, detail in r.events] for r in runs]
    total = end_ms(runs)
    rows = int(total // scene.bucket_ms) + 1
    rules = sorted(scene.rules)
    for k in range(rows):
        t0, t1 = k * scene.bucket_ms, (k + 1) * scene.bucket_ms
        while rules and rules[0][0] <= t0:
            _, text = rules.pop(0)
            line = " " * tcol + f"╌╌ {text} "
            line += "╌" * max(0, tcol + n * (cw + 1) - len(line))
            out.append(_paint(line, "rule", colour))
        cells = []
        for r, rmarks in zip(runs, marks):
            here = [mk for ms, mk in rmarks if mk and t0 <= ms + EARLY < t1]
            if r.exit_ms is not None and t0 <= r.exit_ms < t1:
                here.append(Mark(r.status(), "exit", 3))
            if here:
                cells.append(_cell(here, cw))
            else:
                f = scene.fill(r, t0, t1)
                cells.append(([_fit(f[0], cw)], f[1]) if f else ([""], None))
        height = max(len(lines) for lines, _ in cells)
        for i in range(height):
            out.append(row(f"{t0:.0f} ms" if i == 0 else "",
                           [(lines[i] if i < len(lines) else "", style)
                            for lines, style in cells]))
    out.append(" " * (tcol - 1) + " " + ("┴" + "─" * cw) * n)
    out.append(row("ended", [(r.status(), "exit") for r in runs]))
    out.append(row("at", [(f"{r.exit_ms:.0f} ms" if r.exit_ms is not None
                           else "-", None) for r in runs]))
    if any(r.verdict for r in runs):
        out.append(row("", [(_fit(r.verdict, cw), r.verdict_style)
                            for r in runs]))
    for r in runs:
        if r.check:
            # A check that found several problems may be long: cut it to
            # the width like every other line.
            out.append(_fit(r.check, width))
    out.append("")
    for line in scene.takeaway:
        out.append(_paint("  » " + line, "head", colour))
    out.append("")
    return out


# ---------------------------------------------------------------------------
# SVG (hand-written: a lane per version, time flowing down)

SVG_COLOURS = {
    "ok": "#2a8a2a", "io": "#999999", "tick": "#1a8a9a", "bad": "#d02020",
    "late": "#d02020", "cancel": "#c08000", "pause": "#2050c0",
    "span": "#6080e0", "flush": "#a030a0", "exit": "#000000",
}


def render_svg(scene, runs):
    """The scene as an SVG document (a str)."""
    lane, left, top, px = 190, 70, 90, 0.5     # px per ms
    total = end_ms(runs) + scene.bucket_ms
    width = left + lane * len(runs) + 20
    body = top + total * px
    height = body + 40 + 18 * (len(scene.takeaway) + 2)
    s = []
    s.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
             f'height="{height:.0f}" font-family="monospace" '
             f'font-size="11">')
    s.append(f'<rect width="100%" height="100%" fill="white"/>')
    s.append(f'<text x="10" y="22" font-size="15" font-weight="bold">'
             f'{escape(scene.name)}: {escape(scene.title)}</text>')
    for ms in range(0, int(total) + 1, 100):
        y = top + ms * px
        s.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{width - 20}" '
                 f'y2="{y:.1f}" stroke="#eeeeee"/>')
        s.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" '
                 f'fill="#666666">{ms} ms</text>')
    for ms, text in scene.rules:
        y = top + ms * px
        s.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{width - 20}" '
                 f'y2="{y:.1f}" stroke="#c08000" stroke-dasharray="6,4"/>')
        s.append(f'<text x="{width - 22}" y="{y - 3:.1f}" text-anchor="end" '
                 f'fill="#c08000">{escape(text)}</text>')
    for i, r in enumerate(runs):
        x = left + i * lane + 10
        head = "#d02020" if r.mutant else "#000000"
        s.append(f'<text x="{x}" y="{top - 32}" font-weight="bold" '
                 f'fill="{head}">{escape(r.title)}</text>')
        s.append(f'<text x="{x}" y="{top - 18}">{escape(r.subtitle)}</text>')
        end = r.exit_ms if r.exit_ms is not None else total
        s.append(f'<line x1="{x}" y1="{top}" x2="{x}" '
                 f'y2="{top + end * px:.1f}" stroke="#444444" '
                 f'stroke-width="2"/>')
        last_y = -100.0
        for ms, ev, detail in r.events:
            mk = scene.mark(r, ms, ev, detail)
            if not mk or not mk.svg:
                continue
            y = top + ms * px
            colour = SVG_COLOURS.get(mk.style, "#000000")
            s.append(f'<circle cx="{x}" cy="{y:.1f}" r="3" '
                     f'fill="{colour}"/>')
            if mk.style != "io" and y - last_y >= 11:
                s.append(f'<text x="{x + 7}" y="{y + 4:.1f}" '
                         f'fill="{colour}">{escape(mk.label)}</text>')
                last_y = y
        if r.exit_ms is not None:
            y = top + r.exit_ms * px
            s.append(f'<rect x="{x - 5}" y="{y - 5:.1f}" width="10" '
                     f'height="10" fill="black"/>')
        s.append(f'<text x="{x}" y="{body + 20:.1f}" font-weight="bold">'
                 f'{escape(r.status())}'
                 + (f' at {r.exit_ms:.0f} ms' if r.exit_ms is not None
                    else '') + '</text>')
        if r.verdict:
            s.append(f'<text x="{x}" y="{body + 34:.1f}" fill="'
                     f'{SVG_COLOURS.get(r.verdict_style, "#000000")}">'
                     f'{escape(r.verdict)}</text>')
    y = body + 62
    for line in scene.takeaway:
        s.append(f'<text x="10" y="{y:.1f}" font-size="12">'
                 f'{escape(line)}</text>')
        y += 18
    s.append('</svg>')
    return "\n".join(s) + "\n"
