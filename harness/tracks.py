"""tracks: the list of the kit's programs, read from tracks.list.

Each line of tracks.list names one program: "TRACK PROGRAM CONTRACT", e.g.

    blocking-threads  fetch-line  fetch-line

TRACK is the folder of the source (TRACK/PROGRAM.c), CONTRACT the part of the
specification the program keeps (fetch-line, dashboard, journal ...). Blank
lines and lines starting with '#' (in the first column) are ignored.

This module is the kit's one reader of tracks.list: the tests, the grader,
the demos, the benchmarks and the lessons all ask it, and everything else
that depends on the list of programs (the contracts, their conformance
suites, the tracks' short names) is derived here too. The reading is strict:
a line that is not three names, or a program listed twice, is an error that
names the line. (The Makefile reads the same file with awk; a test checks
that both read the same programs.)

The built program is ROOT/KIT_BUILD/TRACK/PROGRAM, where KIT_BUILD is the
build folder named by the environment (default "build"; the Makefile sets it
to build-address after `make SAN=address`).
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

# The repository root: this file is ROOT/harness/tracks.py.
ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tracks.list"

# What a track, program or contract may be called: it becomes a folder, a
# file name and a make target.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

# The short names of the tracks, for column titles (demos, benchmarks). A
# track not named here is shown by its own name.
SHORT_NAMES = {
    "blocking-threads": "threads",
    "manual-statemachine": "statemachine",
    "async-futures": "futures",
}


class ListError(ValueError):
    """tracks.list has a malformed line; the message names it (file:line)."""


def build_dir():
    """The folder holding the built programs: ROOT/$KIT_BUILD (default build).

    An absolute KIT_BUILD is used as it is."""
    return ROOT / os.environ.get("KIT_BUILD", "build")


@dataclass(frozen=True)
class Entry:
    """One program of tracks.list.

    track, program, contract: the three words of its line.
    path: where the build puts it (ROOT/KIT_BUILD/track/program).
    source: where its main file is expected (ROOT/track/program.c).
    """

    track: str
    program: str
    contract: str
    path: Path
    source: Path

    @property
    def id(self):
        """'track/program', the name tests use for this entry."""
        return f"{self.track}/{self.program}"


def _parse_line(path, number, raw):
    """The (track, program, contract) of one line, None for a blank line or
    a comment; raises ListError naming the line otherwise."""
    if not raw.strip() or raw.startswith("#"):
        return None
    where = f"{path}:{number}"
    if raw.lstrip().startswith("#"):
        raise ListError(f"{where}: a comment starts with '#' in the first "
                        f"column, got {raw!r}")
    words = raw.split()
    if len(words) != 3:
        raise ListError(f"{where}: expected 'track program contract', got "
                        f"{raw!r}")
    for kind, word in zip(("track", "program", "contract"), words):
        if not NAME.match(word):
            raise ListError(f"{where}: {kind} {word!r} is not a name of "
                            f"lower-case letters, digits, '-' and '_'")
    return tuple(words)


def load(list_path=None, root=None):
    """Reads tracks.list (or list_path) and returns its entries in order.

    root: the kit the entries' paths are in (default ROOT).
    Raises ListError naming the line when a line is malformed or names a
    program already listed.
    """
    root = Path(root) if root else ROOT
    path = Path(list_path) if list_path else root / "tracks.list"
    build = root / os.environ.get("KIT_BUILD", "build")
    entries = []
    seen = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        words = _parse_line(path, number, raw)
        if words is None:
            continue
        track, program, contract = words
        if (track, program) in seen:
            raise ListError(f"{path}:{number}: {track}/{program} is listed "
                            f"already, on line {seen[track, program]}")
        seen[track, program] = number
        entries.append(Entry(track, program, contract,
                             build / track / program,
                             root / track / f"{program}.c"))
    return entries


def _entries(entries):
    return entries if entries is not None else load()


def with_contract(contract, entries=None):
    """The entries whose contract is `contract`."""
    return [e for e in _entries(entries) if e.contract == contract]


def in_track(track, program=None, entries=None):
    """The entries of one track (and only the program `program`, if given),
    in the order of tracks.list."""
    return [e for e in _entries(entries) if e.track == track
            and (program is None or e.program == program)]


def track_names(entries=None):
    """Every track, in the order of its first line."""
    return list(dict.fromkeys(e.track for e in _entries(entries)))


def contracts(entries=None):
    """Every contract, in the order of its first line."""
    return list(dict.fromkeys(e.contract for e in _entries(entries)))


def contract_of(name, entries=None):
    """The contract of a program name, or of a contract named itself; None
    when tracks.list knows neither."""
    for e in _entries(entries):
        if name in (e.program, e.contract):
            return e.contract
    return None


def short_name(track):
    """The track's name in column titles: 'threads' for blocking-threads."""
    return SHORT_NAMES.get(track, track)


def suite_name(contract):
    """The file name of a contract's conformance suite:
    test_fetch_line.py for fetch-line."""
    return "test_" + contract.replace("-", "_") + ".py"


def suite_file(contract, root=None):
    """The conformance suite of a contract, in the kit at root (default
    ROOT): ROOT/tests/conformance/test_CONTRACT.py."""
    return Path(root or ROOT) / "tests" / "conformance" / suite_name(contract)
