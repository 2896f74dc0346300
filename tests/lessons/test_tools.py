"""The lesson tools a student runs on their own work: lessons.sloc with a
path, and the exercise checks (lessons.check_waiting for lesson 02b,
lessons.check_banner for lesson 03) failing on a program that has not done
the exercise."""

from harness import tracks
from lessons import check_banner, check_waiting, sloc

ROOT = tracks.ROOT


def test_sloc_measures_a_path_without_comments_or_blank_lines(tmp_path,
                                                              capsys):
    mine = tmp_path / "mine.c"
    mine.write_text('/* a comment\n   on two lines */\nint x;\n\n'
                    '// another\nchar *s = "/* not a comment */";\n')
    assert sloc.main([str(mine)]) == 0
    out = capsys.readouterr().out
    assert f"| {mine} | 2 |" in out and "| total | 2 |" in out
    assert sloc.main([str(tmp_path / "nosuch.c")]) == 2


def test_check_waiting_fails_on_the_example_as_given():
    """The kit's poll example has no 'waiting' events yet: the check of
    the exercise must say so (a check that cannot fail proves nothing)."""
    exe = tracks.build_dir() / "lessons" / "examples" / "poll" / "fetch-line"
    problems = check_waiting.check(str(exe))
    assert any("'waiting' event every 100 ms" in p for p in problems), \
        problems
    # The deadline itself is kept by the example.
    assert not any("deadline must still" in p for p in problems), problems


def test_check_banner_fails_on_a_fetch_line_without_the_banner_state():
    exe = tracks.build_dir() / "manual-statemachine" / "fetch-line"
    problems = check_banner.check(str(exe))
    assert len(problems) == 3, problems
    assert "the banner is read, not printed" in problems[0]
