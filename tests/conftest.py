"""What every Python test of the kit shares.

Options (they choose which programs the conformance suites test):

    --track T         only the programs of track T (tracks.list)
    --program P       only the programs named P
    --exe PATH        test this executable instead of the listed programs
    --contract C      with --exe: the contract it keeps (fetch-line,
                      dashboard, journal ...); only that suite runs it
    --name NAME       with --exe: the program name its messages start with
                      ("NAME: usage: ..."); default: the contract

The `procs` fixture is used by every test automatically: when a test ends,
however it ends, every process it started is killed (with its whole process
group) and every scripted peer is closed.
"""

import pytest

# The harness is the kit's top-level package harness/; pytest.ini puts the
# kit's top folder on the path (and `python3 -m pytest`, run from there,
# does too).
from harness import chaos, cleanup, process


def pytest_addoption(parser):
    group = parser.getgroup("kit", "the course kit's programs")
    group.addoption("--track", action="append", default=[],
                    help="test only the programs of this track "
                         "(repeatable)")
    group.addoption("--program", action="append", default=[],
                    help="test only the programs with this name "
                         "(repeatable)")
    group.addoption("--exe", default=None,
                    help="test this executable instead of tracks.list's "
                         "programs (needs --contract)")
    group.addoption("--contract", default=None,
                    help="with --exe: the contract the executable keeps")
    group.addoption("--name", default=None,
                    help="with --exe: the program name in its messages "
                         "(default: the contract)")
    chaos.add_options(group)


def pytest_configure(config):
    exe = config.getoption("--exe")
    contract = config.getoption("--contract")
    if exe and not contract:
        raise pytest.UsageError("--exe needs --contract (fetch-line, "
                                "dashboard, journal ...)")
    if contract and not exe:
        raise pytest.UsageError("--contract is only for --exe")
    chaos.configure(config)


class Procs:
    """What the `procs` fixture gives a test: start() and run() of
    harness.process (a test may also call those directly; cleanup is the
    same)."""

    start = staticmethod(process.start)
    run = staticmethod(process.run)


@pytest.fixture(autouse=True)
def procs():
    """Kills every process and closes every peer a test started."""
    point = cleanup.mark()
    yield Procs()
    cleanup.close_since(point)
