"""File names, rosters and assignments as classrooms hand them in (issue 24's pitfalls); nothing is graded here."""

from __future__ import annotations

import datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vae_course import cli
from vae_course.grading.batch import complete, prepare
from vae_course.grading.lms import parse_name
from vae_course.grading.naming import without_notebook
from vae_course.grading.nbgrader import submission_time
from vae_course.grading.options import GradingError, Options
from vae_course.grading.protocol import ExerciseResult, Graded, RunReport, RunStatus, Status
from vae_course.grading.report import feedback_markdown
from vae_course.grading.roster import Roster

STEMS = {"02_elbo", "03_reparameterization"}


def write(path, ex_id="2.1", function="gaussian_kl"):
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = new_code_cell(f"def {function}(mu, logvar):\n    return mu", metadata={"tags": [f"exercise-{ex_id}"]})
    nbformat.write(new_notebook(cells=[cell]), path)
    return path


@pytest.mark.parametrize("name, student", [
    ("alice_02_elbo.ipynb", "alice"), ("02_elbo-alice.ipynb", "alice"), ("alice 02_elbo (1).ipynb", "alice"),
    ("alice.ipynb", "alice"), ("02_elbo.ipynb", "02_elbo"), ("alice_03_reparameterization.ipynb", "alice"),
])
def test_a_notebook_stem_in_the_file_name_is_not_part_of_the_student_id(name, student):
    assert without_notebook(parse_name(Path(name)), STEMS).student == student


def test_files_named_after_student_and_notebook_match_the_roster(tmp_path):
    for student in ("alice", "bob"):
        write(tmp_path / "subs" / f"{student}_02_elbo.ipynb")
    (tmp_path / "roster.csv").write_text("student\nalice\nbob\n")
    prepared = prepare([tmp_path / "subs"], Options(), roster=Roster.read(tmp_path / "roster.csv"))
    assert sorted(s.student for s in prepared.subs) == ["alice", "bob"] and not prepared.skipped


def test_a_run_whose_files_match_no_roster_student_fails_naming_the_schemes(tmp_path, capsys):
    for name in ("s1.ipynb", "s2.ipynb", "alice.ipynb"):
        write(tmp_path / "subs" / name)
    (tmp_path / "roster.csv").write_text("student\nalice\nbob\n")
    with pytest.raises(GradingError, match=r"2 of 3 notebooks belong to no roster student.*alice_02_elbo\.ipynb"):
        prepare([tmp_path / "subs"], Options(), roster=Roster.read(tmp_path / "roster.csv"))
    code = cli.main(["grade", str(tmp_path / "subs"), "--roster", str(tmp_path / "roster.csv"),
                     "--out", str(tmp_path / "grades" / "g.csv")])
    assert code == 2 and "Canvas" in capsys.readouterr().err


def test_one_assignment_is_graded_without_rows_for_the_other_notebooks(tmp_path):
    write(tmp_path / "subs" / "alice" / "02_elbo.ipynb")
    write(tmp_path / "subs" / "alice" / "03_reparameterization.ipynb", "3.1", "reparameterize")
    write(tmp_path / "subs" / "alice" / "02_elbo.py")  # neither does a stray file of 02 count for 03 ...
    (tmp_path / "roster.csv").write_text("student\nalice\nbob\n")
    prepared = prepare([tmp_path / "subs"], Options(assignments=("03_reparameterization",)),
                       roster=Roster.read(tmp_path / "roster.csv"))
    assert [s.notebook for s in prepared.subs] == ["03_reparameterization"]
    assert any("not assigned in this run" in s.reason for s in prepared.skipped)
    rows = complete([], prepared)  # ... nor does anyone get `missing` rows for 02
    assert {g.notebook for g in rows} == {"03_reparameterization"}
    with pytest.raises(GradingError, match="unknown notebook '99_nothing'"):
        prepare([tmp_path / "subs"], Options(assignments=("99_nothing",)))


def test_nbgraders_timestamp_is_the_submission_time_and_no_skipped_file(tmp_path):
    notebook = write(tmp_path / "submitted" / "alice" / "02_elbo" / "02_elbo.ipynb")
    (notebook.parent / "timestamp.txt").write_text("2026-12-01 12:00:00.000000 UTC")
    prepared = prepare([tmp_path / "submitted"], Options())
    assert [s.student for s in prepared.subs] == ["alice"] and prepared.skipped == []
    assert submission_time(notebook) == datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)
    assert prepared.subs[0].order()[2] == int(submission_time(notebook).timestamp() * 1e9)


def test_feedback_never_adds_notebooks_into_one_total():
    def graded(notebook, points):
        result = ExerciseResult("1", "t", "f", points, 2, Status.PASSED if points else Status.FAILED)
        return Graded("alice", f"{notebook}.ipynb", notebook, "tags", RunReport(RunStatus.SKIPPED), [result])

    text = feedback_markdown("alice", [graded("02_elbo", 2), graded("03_reparameterization", 0)])
    assert "Total" not in text and "02_elbo" in text and "03_reparameterization" in text
