"""What the lessons say about the rest of the kit stays true: every mutant
is taught somewhere, the futures rules they cite are the ones fut.h states,
and every relative link points to a file that exists."""

import re
import tomllib

import pytest

from harness import tracks

ROOT = tracks.ROOT
LESSONS = ROOT / "lessons"
MARKDOWN = sorted(LESSONS.glob("*.md"))


def lessons_text():
    return "\n".join(md.read_text() for md in MARKDOWN)


def test_every_mutant_is_taught_by_a_lesson():
    with open(ROOT / "tests" / "mutants" / "mutants.toml", "rb") as f:
        mutants = tomllib.load(f)
    text = lessons_text()
    untaught = sorted(name for name in mutants if f"`{name}`" not in text)
    assert not untaught, (
        f"these mutants appear in no lesson: {untaught}; every known-wrong "
        f"design should be shown where its idea is taught")


def test_the_futures_rules_of_lesson_04_are_the_ones_fut_h_states():
    header = (ROOT / "async-futures" / "fut" / "fut.h").read_text()
    lesson = next(LESSONS.glob("04-*.md")).read_text()
    cited = set(re.findall(r"\*\*([PD]\d)\*\*", lesson))
    assert cited >= {f"P{i}" for i in range(1, 6)} | {f"D{i}" for i in
                                                       range(1, 5)}
    missing = sorted(r for r in cited if not re.search(rf"\b{r}\. ", header))
    assert not missing, (
        f"lesson 04 states rules {missing} that fut/fut.h does not define")


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@pytest.mark.parametrize("md", MARKDOWN, ids=[p.name for p in MARKDOWN])
def test_relative_links_point_to_files_that_exist(md):
    broken = [target for target, _ in LINK.findall(md.read_text())
              if "://" not in target and not (md.parent / target).exists()]
    assert not broken, f"{md.name}: broken links {broken}"


TIER = re.compile(r"^\| (\d) \| \*\*.*?\| ((?:[A-Z]+-\d+, )*[A-Z]+-\d+) \| "
                  r"([\d.]+) \| `-k \"([^\"]+)\"` \|$", re.M)


def test_the_journal_tiers_of_the_syllabus_match_the_rubric():
    """Each tier's points are the rubric's points for its rules; together
    the tiers cover every journal group once; each -k picks those rules."""
    with open(ROOT / "grader" / "rubric.toml", "rb") as f:
        groups = [g for g in tomllib.load(f)["group"]
                  if g["contract"] == "journal" and g["item"] != "*"]
    points = {g["item"]: g["points"] for g in groups}
    tiers = TIER.findall((LESSONS / "syllabus.md").read_text())
    assert len(tiers) == 4, "the syllabus should show the journal's 4 tiers"
    seen = []
    for number, items, shown, select in tiers:
        items = items.split(", ")
        seen += items
        assert float(shown) == sum(points[i] for i in items), (
            f"tier {number}: the syllabus says {shown} points, the rubric "
            f"gives {sum(points[i] for i in items)} for {items}")
        assert sorted(select.split(" or ")) == sorted(
            i.replace("-", "") + "_" for i in items), (
            f"tier {number}: -k \"{select}\" does not pick {items}")
    assert sorted(seen) == sorted(points), (
        f"the tiers cover {sorted(seen)}, the rubric has {sorted(points)}")
