"""The lecture demo (demo/demo.py) draws what it should.

Runs every scene once with plain output (no colour) against the programs of
$KIT_BUILD (`make` and `make mutants` first) and checks the structure of
what it prints: a column per version, the key moments marked, the footer,
the takeaway, lines that fit 120 columns, and SVG files that are XML.
"""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from demo.demo import RaceScene, mutants_of
from harness import tracks

ROOT = tracks.ROOT

# What each scene must show: its versions (column titles), and marks.
SCENES = {
    "timeout": {
        "contract": "fetch-line",
        "mutants": ["rearmed-timeout", "join-no-cancel"],
        "marks": ["connected", "read", "timed-out", "cancelled", "exit 124",
                  "deadline 300 ms", "still running", "on time", "late by"],
    },
    "select": {
        "contract": "dashboard",
        "mutants": ["tick-on-event", "starves-in-flood"],
        "marks": ["connected", "tick 1: 0 ev", "final:", "flood starts",
                  "skipped", "all on time", "late/missed"],
    },
    "pause": {
        "contract": "journal",
        "mutants": ["writes-in-replay"],
        "marks": ["paused", "replay-start", "replay-end", "resumed", "flush",
                  "FLUSH!", "0 flushes in replay", "all there, once, in order"],
    },
    "race": {
        "contract": "happy-eyeballs",
        # Every happy-eyeballs mutant of tests/mutants/mutants.toml.
        "mutants": [short for _, short in
                    mutants_of("happy-eyeballs", RaceScene.short)],
        "marks": ["attempt 2 due (200 ms)", "start 1", "start 3", "conn 3",
                  "WON 3", "cancel 1", "error", "exit 1", "started (ms) 1@",
                  # the verdicts: the reference versions', then the mutants'
                  "on schedule", "1 not closed", "all at once", "sequential",
                  "stagger wait", "fell back"],
    },
}


@pytest.fixture(scope="module")
def output():
    """The whole demo's plain output, split by scene."""
    result = subprocess.run(
        [sys.executable, "-m", "demo.demo", "--plain"], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
        env=dict(os.environ, KIT_BUILD=os.environ.get("KIT_BUILD", "build")))
    text = result.stdout.decode()
    assert result.returncode == 0, (
        f"demo.py exited {result.returncode} (are `make` and `make mutants` "
        f"done for this KIT_BUILD?)\nstdout:\n{text}\n"
        f"stderr:\n{result.stderr.decode()}")
    parts = re.split(r"^== ", text, flags=re.M)
    scenes = {}
    for part in parts[1:]:
        name = part.split(":", 1)[0]
        scenes[name] = part
    return text, scenes


pytestmark = pytest.mark.timeout(150)


def test_plain_output_has_no_colour_and_fits_120_columns(output):
    text, _ = output
    assert "\x1b[" not in text
    wide = [line for line in text.splitlines() if len(line) > 120]
    assert not wide, f"lines wider than 120 columns: {wide[:3]}"


@pytest.mark.parametrize("scene", SCENES)
def test_scene_has_a_column_per_version(output, scene):
    _, scenes = output
    assert scene in scenes, f"no scene {scene!r} in the output"
    lines = scenes[scene].splitlines()
    want = SCENES[scene]
    heads = [line for line in lines if line.lstrip().startswith("│")]
    titles = [c.strip() for c in heads[0].split("│")[1:]]
    subtitles = [c.strip() for c in heads[1].split("│")[1:]]
    entries = tracks.with_contract(want["contract"])
    assert len(titles) == len(entries) + len(want["mutants"])
    assert titles.count("MUTANT") == len(want["mutants"])
    for mutant in want["mutants"]:
        assert mutant in subtitles
    ended = next(line for line in lines if line.lstrip().startswith("ended"))
    statuses = [c.strip() for c in ended.split("│")[1:]]
    assert len(statuses) == len(titles)
    assert all(re.fullmatch(r"exit \d+", s) for s in statuses), statuses


@pytest.mark.parametrize("scene", SCENES)
def test_scene_marks_key_moments_and_ends_with_a_takeaway(output, scene):
    _, scenes = output
    text = scenes[scene]
    missing = [m for m in SCENES[scene]["marks"] if m not in text]
    assert not missing, f"{scene}: marks missing: {missing}\n{text}"
    rows = re.findall(r"^\s*\d+ ms │", text, flags=re.M)
    assert len(rows) >= 5, "time should flow down in rows"
    takeaway = [line for line in text.splitlines() if line.startswith("  » ")]
    assert 2 <= len(takeaway) <= 4


@pytest.mark.parametrize("scene", SCENES)
def test_svg_of_each_scene_is_xml(output, scene):
    path = tracks.build_dir() / "demo" / f"{scene}.svg"
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in root.iter(
        "{http://www.w3.org/2000/svg}text"))
    assert scene in texts and "MUTANT" in texts


def test_an_unknown_scene_is_a_usage_error():
    bad = subprocess.run([sys.executable, "-m", "demo.demo", "nosuch"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert bad.returncode == 2 and b"no scene nosuch" in bad.stderr
