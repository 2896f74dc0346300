"""Every program releases everything it took: valgrind finds no leak and no
memory error in an ordinary session of each (harness/scenarios.py), which
ends with the program's own clean exit (for the journal, SIGTERM).

Sanitizer builds (make SAN=address) cannot run under valgrind: run these
tests on a plain build (`make test` does).
"""

import re

import pytest

from harness import scenarios, tracks

VALGRIND = ["valgrind", "--quiet", "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--child-silent-after-fork=yes"]

# Every listed program: each contract has its ordinary session in
# harness/scenarios.py (a contract without one fails here, never skips).
ENTRIES = tracks.load()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_no_leak_and_no_memory_error(entry, tmp_path):
    assert entry.path.exists(), f"program not built: {entry.path} (run make)"
    result, what = scenarios.exercise(entry.contract, [str(entry.path)],
                                      VALGRIND, tmp_path=tmp_path)
    errors = result.stderr.decode(errors="replace")
    assert result.rc != 99 and not re.search(r"==\d+==", errors), (
        f"valgrind found a problem in {entry.id} during a session "
        f"({what}):\n{errors[-3000:]}")
    assert result.rc == 0, result.report(f"the session ({what}) under "
                                         f"valgrind should end with exit 0")
