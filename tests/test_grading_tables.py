"""The teacher's CSV files are read one way (vae_course.grading.tables): what spreadsheets really save."""

from __future__ import annotations

import pytest

from vae_course.checks import REGISTRY
from vae_course.grading.options import GradingError
from vae_course.grading.overrides import read_overrides
from vae_course.grading.roster import Roster, RosterError
from vae_course.grading.tables import read_rows


@pytest.mark.parametrize("text, ben_line", [
    ("student,exercise\nana,2.1\n\n,\nben,2.2\n", 5),              # commas, blank rows
    ("\ufeffstudent;exercise\r\nana;2.1\r\n\r\nben;2.2\r\n", 4),  # Excel in a European locale: BOM, semicolons, CRLF
    ("student\texercise\nana\t2.1\nben\t2.2\n\n", 3),              # tabs
])
def test_rows_keep_their_line_numbers_whatever_the_dialect(tmp_path, text, ben_line):
    path = tmp_path / "file.csv"
    path.write_bytes(text.encode("utf-8"))
    header, rows = read_rows(path, what="roster", error=RosterError)
    assert header == ["student", "exercise"]
    assert rows == [(2, ["ana", "2.1"]), (ben_line, ["ben", "2.2"])]


def test_problems_name_the_file_and_say_what_to_do(tmp_path):
    with pytest.raises(RosterError, match=r"roster .*missing.csv does not exist"):
        read_rows(tmp_path / "missing.csv", what="roster", error=RosterError)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("student\nJosé\n".encode("latin-1"))
    with pytest.raises(GradingError, match="save it as a UTF-8 CSV file"):
        read_rows(latin1, what="overrides file", error=GradingError)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    assert read_rows(empty, what="roster", error=RosterError) == ([], [])


def test_roster_and_overrides_both_read_semicolons(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student;name\nana;Ana Lima\n\nben;Ben Ode\n", encoding="utf-8-sig")
    assert [(s.student, s.name) for s in Roster.read(roster).students] == [("ana", "Ana Lima"), ("ben", "Ben Ode")]
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("student;exercise;points;reason\nana;2.1;1.5;regraded by hand\n", encoding="utf-8")
    [found] = read_overrides(overrides, REGISTRY, students={"ana", "ben"})
    assert (found.student, found.exercise, found.points, found.reason, found.line) == \
        ("ana", "2.1", 1.5, "regraded by hand", 2)
    overrides.write_text("student;exercise;points;reason\n\nben;2.1;9;too many\n", encoding="utf-8")
    with pytest.raises(GradingError, match=r"line 3: points must be a number from 0 to 2"):
        read_overrides(overrides, REGISTRY, students={"ana", "ben"})
