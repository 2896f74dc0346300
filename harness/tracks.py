"""tracks: the list of the kit's programs, read from tracks.list.

Each line of tracks.list names one program: "TRACK PROGRAM CONTRACT", e.g.

    blocking-threads  fetch-line  fetch-line

TRACK is the folder of the source (TRACK/PROGRAM.c), CONTRACT the part of the
specification the program keeps (fetch-line, dashboard, journal ...). Blank
lines and lines starting with '#' are ignored.

The built program is ROOT/KIT_BUILD/TRACK/PROGRAM, where KIT_BUILD is the
build folder named by the environment (default "build"; the Makefile sets it
to build-address after `make SAN=address`).
"""

import os
from dataclasses import dataclass
from pathlib import Path

# The repository root: this file is ROOT/harness/tracks.py.
ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tracks.list"


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


def load(list_path=None):
    """Reads tracks.list (or list_path) and returns its entries in order.

    Raises ValueError naming the line when a line does not have three words.
    """
    path = Path(list_path) if list_path else LIST
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) != 3:
            raise ValueError(f"{path}:{number}: expected 'track program "
                             f"contract', got {raw!r}")
        track, program, contract = words
        entries.append(Entry(track, program, contract,
                             build_dir() / track / program,
                             ROOT / track / f"{program}.c"))
    return entries


def with_contract(contract, entries=None):
    """The entries whose contract is `contract`."""
    return [e for e in (entries if entries is not None else load())
            if e.contract == contract]
