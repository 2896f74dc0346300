"""rubric: the grading rubric, read from a TOML file (grader/rubric.toml).

Tests are grouped by the spec item ID their names carry
(test_FL1_..., test_COM6_FL3_...): a test counts in the group of the first
ID in its name that the rubric has a group for, for the test's contract;
otherwise in that contract's item = "*" group, if any.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / "rubric.toml"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
LIMIT_DEFAULTS = {
    "cpu_seconds": 60, "test_seconds": 30, "suite_seconds": 900,
    "memory_mb": 1024, "processes": 128, "open_files": 1024,
    "file_size_mb": 64, "build_seconds": 300,
}
CHECKS = ("warnings", "sanitizers", "tsan", "model", "chaos")
_IDS = re.compile(r"^test_((?:[A-Z]+[0-9]+_)+)")


class RubricError(ValueError):
    """The rubric file is wrong; the message names what and where."""


@dataclass
class Group:
    contract: str
    item: str              # "FL-1" or "*"
    points: float
    partial: bool = True
    visibility: str = "visible"
    title: str = ""

    @property
    def key(self):
        return self.item.replace("-", "").upper()


@dataclass
class Check:
    name: str
    enabled: bool = True
    points: float = 0.0
    visibility: str = "visible"
    select: str = ""


@dataclass
class Rubric:
    path: Path
    groups: list = field(default_factory=list)
    limits: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    def group_of(self, contract, test_name):
        """The Group a test (its function name) counts in, or None."""
        for test_id in test_ids(test_name):
            for g in self.groups:
                if g.contract == contract and g.key == test_id:
                    return g
        for g in self.groups:
            if g.contract == contract and g.item == "*":
                return g
        return None

    def contract_groups(self, contract):
        return [g for g in self.groups if g.contract == contract]

    def weight(self, program_id):
        return float(self.weights.get(program_id, 1.0))


def test_ids(test_name):
    """['COM6', 'FL3'] for 'test_COM6_FL3_a_line_of_65537_bytes...'."""
    match = _IDS.match(test_name)
    if not match:
        return []
    return [w for w in match.group(1).split("_") if w]


def show_item(test_id):
    """'FL-1' for 'FL1'."""
    match = re.match(r"^([A-Z]+)([0-9]+)$", test_id)
    return f"{match.group(1)}-{match.group(2)}" if match else test_id


def _visibility(value, where):
    if value not in VISIBILITIES:
        raise RubricError(f"{where}: visibility must be one of "
                          f"{', '.join(VISIBILITIES)}, not {value!r}")
    return value


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value < 0:
        raise RubricError(f"{where}: points must be a number >= 0, "
                          f"not {value!r}")
    return float(value)


def load(path=None):
    """Reads and checks a rubric; raises RubricError naming the problem."""
    path = Path(path) if path else DEFAULT
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise RubricError(f"cannot read the rubric {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}") from exc
    rubric = Rubric(path=path)
    rubric.limits = dict(LIMIT_DEFAULTS)
    for key, value in data.get("limits", {}).items():
        if key not in LIMIT_DEFAULTS:
            raise RubricError(f"{path}: [limits] has no setting {key!r} "
                              f"(known: {', '.join(LIMIT_DEFAULTS)})")
        if not isinstance(value, int) or value <= 0:
            raise RubricError(f"{path}: [limits] {key} must be a whole "
                              f"number > 0")
        rubric.limits[key] = value
    rubric.weights = dict(data.get("weights", {}))
    for name in CHECKS:
        table = data.get("checks", {}).get(name, {})
        where = f"{path}: [checks.{name}]"
        rubric.checks[name] = Check(
            name, bool(table.get("enabled", True)),
            _number(table.get("points", 0), where),
            _visibility(table.get("visibility", "visible"), where),
            str(table.get("select", "")))
    unknown = set(data.get("checks", {})) - set(CHECKS)
    if unknown:
        raise RubricError(f"{path}: unknown checks {sorted(unknown)} "
                          f"(known: {', '.join(CHECKS)})")
    seen = set()
    for n, g in enumerate(data.get("group", []), 1):
        where = f"{path}: group {n}"
        for key in ("contract", "item", "points"):
            if key not in g:
                raise RubricError(f"{where}: '{key}' is missing")
        extra = set(g) - {"contract", "item", "points", "partial",
                          "visibility", "title"}
        if extra:
            raise RubricError(f"{where}: unknown keys {sorted(extra)}")
        group = Group(str(g["contract"]), str(g["item"]),
                      _number(g["points"], where),
                      bool(g.get("partial", True)),
                      _visibility(g.get("visibility", "visible"), where),
                      str(g.get("title", "")))
        if (group.contract, group.key) in seen:
            raise RubricError(f"{where}: {group.contract} {group.item} "
                              f"has two groups")
        seen.add((group.contract, group.key))
        rubric.groups.append(group)
    return rubric
