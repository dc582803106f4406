"""Late submissions in the course's own gradebook: deadline, per-student extensions, penalty rule (nothing graded)."""

from __future__ import annotations

import datetime

import pytest

from vae_course import cli
from vae_course.grading.late import LatePolicy, apply_late
from vae_course.grading.options import GradingError
from vae_course.grading.protocol import ExerciseResult, Graded, RunReport, RunStatus, Status


def handed_in(tmp_path, student, when):
    folder = tmp_path / "submitted" / student / "02_elbo"
    folder.mkdir(parents=True)
    (folder / "02_elbo.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(f"{when}.000000 UTC")
    results = [ExerciseResult("2.1", "t", "gaussian_kl", 2, 2, Status.PASSED),
               ExerciseResult("2.2", "t", "bernoulli_log_likelihood", 0, 2, Status.FAILED)]
    return Graded(student, str(folder / "02_elbo.ipynb"), "02_elbo", "tags", RunReport(RunStatus.SKIPPED), results)


@pytest.mark.parametrize("rule, kept", [("none", 2), ("zero", 0), ("10%/day", 1.6), ("60%/day", 0)])
def test_the_penalty_rule_takes_points_per_started_day(tmp_path, rule, kept):
    (tmp_path / "ext.csv").write_text("student,deadline\ncarol,2026-12-05 18:00\n")
    policy = LatePolicy.read("2026-12-01 18:00", rule, str(tmp_path / "ext.csv"))
    on_time, late, extended = (handed_in(tmp_path, "alice", "2026-12-01 17:59:00"),
                               handed_in(tmp_path, "bob", "2026-12-03 09:00:00"),  # 1.6 days: 2 started days
                               handed_in(tmp_path, "carol", "2026-12-03 09:00:00"))
    apply_late([on_time, late, extended], policy)
    assert on_time.total == extended.total == 2 and not on_time.results[0].notes
    assert late.total == kept
    assert "handed in 39.0 hours late (due 2026-12-01 18:00 UTC; rule: " in late.results[0].notes[0]
    if kept < 2:
        assert late.results[0].checked_points == 2 and late.results[0].override.startswith("handed in")


def test_a_teachers_override_wins_over_the_rule(tmp_path):
    late = handed_in(tmp_path, "bob", "2026-12-03 09:00:00")
    late.results[0].override = "regraded by hand"
    apply_late([late], LatePolicy.read("2026-12-01 18:00", "zero"))
    assert late.total == 2


def test_bad_late_options_are_refused_before_grading(tmp_path, capsys):
    for args, message in ((["--late-penalty", "zero"], "need --deadline"),
                          (["--deadline", "yesterday-ish"], "not a date and time"),
                          (["--deadline", "2026-12-01", "--late-penalty", "half"], "none, zero or N%/day")):
        (tmp_path / "subs").mkdir(exist_ok=True)
        assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "g" / "g.csv"), *args]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(GradingError, match="line 2: give a student and a deadline"):
        (tmp_path / "ext.csv").write_text("student,deadline\nbob,\n")
        LatePolicy.read("2026-12-01", "zero", str(tmp_path / "ext.csv"))
    assert LatePolicy.read("2026-12-01 19:00 +01:00", "zero").deadline == datetime.datetime(
        2026, 12, 1, 18, tzinfo=datetime.timezone.utc)
    with pytest.raises(GradingError, match="time zone the grader does not know"):
        LatePolicy.read("2026-12-01 19:00 CET", "zero")
