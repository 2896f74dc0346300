"""tracks.list is read one way: harness.tracks is the kit's one reader, it
is strict, and it reads the same programs as the Makefile's awk.

Everything that lists programs, contracts or suites derives them from it,
so these tests also check that each contract it names has what every tool
expects: a conformance suite, an ordinary session for the track tests, a
rubric group and a section of docs/programs.md.
"""

import subprocess
import tomllib

import pytest

from harness import scenarios, tracks

ROOT = tracks.ROOT

# Asks the kit's Makefile what it builds, without building anything: an
# extra makefile read after the kit's prints LISTED, the programs its awk
# took from tracks.list.
PRINT_LISTED = "kit-print-listed:\n\t@echo $(LISTED)\n"


def make_listed(root=ROOT, list_name="tracks.list"):
    run = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-",
         "kit-print-listed"], cwd=root, input=PRINT_LISTED,
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"make failed:\n{run.stderr}"
    return run.stdout.split()


def test_the_makefile_and_harness_tracks_read_the_same_programs():
    assert make_listed() == [e.id for e in tracks.load()]


def test_a_malformed_line_is_an_error_naming_it(tmp_path):
    good = "# a comment\n\nblocking-threads fetch-line fetch-line\n"
    bad_lines = {
        "blocking-threads fetch-line\n": "expected 'track program contract'",
        "blocking-threads fetch-line fetch-line extra\n":
            "expected 'track program contract'",
        "  # an indented comment\n": "first column",
        "blocking-threads Fetch-Line fetch-line\n": "program 'Fetch-Line'",
        "blocking-threads fetch-line fetch-line\n":
            "listed already, on line 3",
    }
    listing = tmp_path / "tracks.list"
    listing.write_text(good)
    assert [e.id for e in tracks.load(listing)] == [
        "blocking-threads/fetch-line"]
    for bad, says in bad_lines.items():
        listing.write_text(good + bad)
        with pytest.raises(tracks.ListError) as info:
            tracks.load(listing)
        assert f"{listing}:4:" in str(info.value), str(info.value)
        assert says in str(info.value), str(info.value)


def test_derived_lists_follow_the_list():
    entries = tracks.load()
    assert tracks.contracts() == list(dict.fromkeys(
        e.contract for e in entries))
    assert tracks.track_names() == list(dict.fromkeys(
        e.track for e in entries))
    for e in entries:
        assert tracks.contract_of(e.program) == e.contract
        assert e in tracks.in_track(e.track)
        assert tracks.in_track(e.track, e.program) == [e]
    assert tracks.contract_of("no-such-program") is None
    assert tracks.suite_name("wait-client") == "test_wait_client.py"
    assert tracks.short_name("blocking-threads") == "threads"
    assert tracks.short_name("a-new-track") == "a-new-track"


@pytest.mark.parametrize("contract", tracks.contracts())
def test_every_contract_has_its_suite_session_rubric_and_docs(contract):
    suite = tracks.suite_file(contract)
    assert suite.is_file(), f"{contract}: no conformance suite {suite}"
    assert f'CONTRACT = "{contract}"' in suite.read_text(), (
        f"{suite} does not say CONTRACT = \"{contract}\"")
    assert contract in scenarios.SESSIONS, (
        f"{contract}: no @session({contract!r}) in harness/scenarios.py")
    rubric = tomllib.loads((ROOT / "grader" / "rubric.toml").read_text())
    assert any(g["contract"] == contract for g in rubric["group"]), (
        f"{contract}: no [[group]] in grader/rubric.toml")
    docs = (ROOT / "docs" / "programs.md").read_text()
    assert f"\n## {contract}:" in docs, (
        f"{contract}: no '## {contract}: ...' section in docs/programs.md")
