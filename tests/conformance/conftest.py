"""The conformance suites' common machinery: which programs each suite tests.

A suite is a module test_CONTRACT.py that says which contract it checks:

    CONTRACT = "fetch-line"

    def test_FL1_...(prog):
        result = run(prog.argv("--connect", addr))

Every test that takes the `prog` fixture runs once per program of
tracks.list with that contract (test ids like
"test_FL1_...[blocking-threads/fetch-line]"), or once against the
executable given with --exe when --contract names this suite's contract
(see tests/conftest.py for the options).

A listed program that is not built makes each of its tests FAIL, never skip:
a missing program must not look like a passing one.
"""

import os
from pathlib import Path

import pytest

from harness import tracks


class Prog:
    """A program under test.

    track, program, contract: as in tracks.list ("exe" and the file name
    for --exe).
    path: the executable.
    name: the program name its messages start with ("fetch-line: usage:
    ..."): the contract's name (the programs of one contract are
    interchangeable), or --name with --exe.
    names: every name accepted at the start of a message: name, and for a
    listed program also its own name (fetch-line-watchdog).
    id: "track/program", the test id.
    """

    def __init__(self, track, program, contract, path, name, names, source):
        self.track = track
        self.program = program
        self.contract = contract
        self.path = Path(path)
        self.name = name
        self.names = names
        self.source = source
        self.id = f"{track}/{program}"

    def argv(self, *args):
        """[path, *args], every argument as a str."""
        return [str(self.path)] + [str(a) for a in args]

    def missing(self):
        """Why this program cannot run, or None when it can."""
        if self.path.is_file() and os.access(self.path, os.X_OK):
            return None
        if self.track == "exe":
            return f"not an executable file: {self.path}"
        try:
            shown = self.path.relative_to(tracks.ROOT)
        except ValueError:
            shown = self.path
        return (f"program not built: {shown} (is {self.track}/"
                f"{self.program}.c there? run make)")

    def says(self, line, rest):
        """True when line (str) is "NAME: REST..." for one of the accepted
        names, e.g. prog.says(line, "usage:")."""
        return any(line.startswith(f"{n}: {rest}") for n in self.names)

    def __repr__(self):
        return f"<Prog {self.id} {self.path}>"


def _programs(config, contract):
    exe = config.getoption("--exe")
    if exe:
        if config.getoption("--contract") != contract:
            return []
        name = config.getoption("--name") or contract
        path = Path(exe).resolve()
        return [Prog("exe", path.name, contract, path, name, (name,),
                     None)]
    wanted_tracks = set(config.getoption("--track"))
    wanted_programs = set(config.getoption("--program"))
    progs = []
    for e in tracks.with_contract(contract):
        if wanted_tracks and e.track not in wanted_tracks:
            continue
        if wanted_programs and e.program not in wanted_programs:
            continue
        names = tuple(dict.fromkeys((contract, e.program)))
        progs.append(Prog(e.track, e.program, e.contract, e.path, contract,
                          names, e.source))
    return progs


def pytest_generate_tests(metafunc):
    if "prog" not in metafunc.fixturenames:
        return
    contract = getattr(metafunc.module, "CONTRACT", None)
    if contract is None:
        raise pytest.UsageError(
            f"{metafunc.module.__name__} uses the prog fixture but sets no "
            f"CONTRACT = \"...\"")
    progs = _programs(metafunc.config, contract)
    if not progs:
        # --track/--program/--exe chose no program for this suite: its
        # tests are deselected (see below), as -k would, never passed.
        metafunc.parametrize("prog", [None], ids=["none"])
        return
    metafunc.parametrize("prog", progs, ids=[p.id for p in progs])


def pytest_collection_modifyitems(config, items):
    """Deselects the tests of a suite for which no program was chosen."""
    unchosen = [item for item in items
                if getattr(item, "callspec", None) is not None
                and "prog" in item.callspec.params
                and item.callspec.params["prog"] is None]
    if unchosen:
        config.hook.pytest_deselected(items=unchosen)
        items[:] = [item for item in items if item not in unchosen]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A program that is not built fails the test (in its call phase, so it
    counts as a failure, not as an error of the setup)."""
    prog = pyfuncitem.funcargs.get("prog")
    if isinstance(prog, Prog):
        why = prog.missing()
        if why:
            pytest.fail(why, pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In the student kit, a test that fails on a program whose source still
    has the starter's TODO says so: what is missing is that code."""
    outcome = yield
    report = outcome.get_result()
    prog = getattr(item, "funcargs", {}).get("prog")
    if report.when != "call" or not report.failed or not isinstance(prog, Prog):
        return
    source = Path(prog.source) if prog.source else None
    if source is None or not source.is_file():
        return
    text = source.read_text(errors="replace")
    if "BEGIN SOLUTION" in text:
        return   # the full kit: the TODO is the stub's, inside a comment
    lines = [line.strip() for line in text.splitlines()]
    first = next((i for i, line in enumerate(lines)
                  if line.startswith("// TODO")), None)
    if first is not None:
        todo = []
        for line in lines[first:]:
            if not line.startswith("//"):
                break
            todo.append(line.lstrip("/ ").removeprefix("TODO:").strip())
        todo = [" ".join(todo)]
        shown = source.relative_to(tracks.ROOT) if source.is_relative_to(
            tracks.ROOT) else source
        report.sections.append((
            "what is missing",
            f"{shown} still has the starter's TODO, so this test cannot pass "
            f"yet. Write it: {todo[0]}"))
