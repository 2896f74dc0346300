"""score: test records -> points, group by group.

A Submission's result is a list of Items, each one line of the gradebook's
detail and one test of Gradescope's results.json: a rubric group for one
program ("blocking-threads/fetch-line FL-1"), or a check (a sanitizer run,
the concurrency model, warnings).
"""

from dataclasses import dataclass, field

from .rubric import show_item, test_ids

MAX_MESSAGE_LINES = 14


@dataclass
class Item:
    program: str          # "track/program", or "exe/NAME"
    item: str             # "FL-1", "*", or a check's name
    title: str
    points: float
    max_points: float
    visibility: str
    output: str = ""
    passed: int = 0
    total: int = 0
    failures: list = field(default_factory=list)   # (test, message)

    @property
    def name(self):
        label = self.item if self.item != "*" else "other tests"
        text = f"{self.program} {label}"
        return text + (f": {self.title}" if self.title else "")

    @property
    def status(self):
        return "passed" if self.points >= self.max_points - 1e-9 \
            else "failed"


def shorten(message, lines=MAX_MESSAGE_LINES):
    text = (message or "").strip()
    parts = text.splitlines()
    if len(parts) > lines:
        parts = parts[:lines] + [f"... ({len(parts) - lines} more lines)"]
    return "\n".join(parts)


def _label(record):
    """'test_FL1_deadline...[case]' without the program's id."""
    nodeid = record["nodeid"].split("::", 1)[-1]
    prog = f"{record.get('track')}/{record.get('program')}"
    return nodeid.replace(f"[{prog}]", "").replace(f"{prog}-", "") \
        .replace(f"-{prog}", "")


def score_program(rubric, program_id, contract, records, weight=1.0):
    """Items for one program's test records (dicts from the plugin)."""
    items = {}
    order = []
    for g in rubric.contract_groups(contract):
        items[g.key] = Item(program_id, g.item, g.title,
                            0.0, g.points * weight, g.visibility)
        order.append(g.key)
    unmatched = []
    for rec in records:
        group = rubric.group_of(contract, rec.get("test") or "")
        if group is None:
            unmatched.append(rec)
            continue
        it = items[group.key]
        if rec["outcome"] == "skipped":
            continue
        it.total += 1
        if rec["outcome"] == "passed":
            it.passed += 1
        else:
            it.failures.append((_label(rec), rec.get("message", "")))
    result = []
    for key in order:
        it = items[key]
        group = next(g for g in rubric.contract_groups(contract)
                     if g.key == key)
        if it.total == 0:
            continue            # no test of this group ran: not counted
        if group.partial:
            it.points = round(it.max_points * it.passed / it.total, 2)
        else:
            it.points = it.max_points if it.passed == it.total else 0.0
        it.output = feedback(it)
        result.append(it)
    return result, unmatched


def feedback(it):
    """The text a student reads for one group: what passed, and for each
    lost point the spec item and what the test observed."""
    head = f"{it.passed} of {it.total} tests passed"
    if not it.failures:
        return head + "."
    lines = [head + ". Failed:"]
    for test, message in it.failures:
        ids = [show_item(i) for i in test_ids(test.split("[")[0])]
        where = f" ({', '.join(ids)})" if ids else ""
        lines.append(f"- {test}{where}:")
        lines.extend("    " + line for line in
                     shorten(message).splitlines())
    return "\n".join(lines)


def unbuilt_program(rubric, program_id, contract, build_output, weight=1.0):
    """Items for a program that did not build: every group 0 points, with
    the compiler's output as the feedback."""
    text = ("This program did not build, so none of its tests could run.\n"
            "The build said:\n" + tail(build_output, 60))
    return [Item(program_id, g.item, g.title, 0.0, g.points * weight,
                 g.visibility, text) for g in rubric.contract_groups(contract)
            if g.points > 0]


def tail(text, lines):
    parts = (text or "").rstrip().splitlines()
    if len(parts) > lines:
        parts = [f"... ({len(parts) - lines} earlier lines)"] + \
            parts[-lines:]
    return "\n".join(parts) or "(no output)"


def totals(items):
    score = round(sum(i.points for i in items), 2)
    top = round(sum(i.max_points for i in items), 2)
    return score, top
