"""Partial credit for exercises with parts (1.3's three columns, 5.4's two terms) and the nbgrader export's
hidden tests (the same check under another seed), without the real tools (tests/test_nbgrader.py runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vae_course import checks, metrics, posteriors
from vae_course.checks import REGISTRY
from vae_course.exports.cells import HIDDEN_BEGIN, HIDDEN_END, check_source
from vae_course.grading.hidden_tests import first_inputs, hidden_seed
from vae_course.results import ExerciseOutcome, Status, exercise_key, points_earned


def _blur_with(column: int, wrong):
    def blur(candidates, prediction):
        out = metrics.blur_decomposition(candidates, prediction).clone()
        out[:, column] = wrong(out[:, column])
        return out
    return blur


def _surgery_with(info=lambda t: t, mismatch=lambda t: t):
    def terms(mu, logvar, z):
        i, m = posteriors.elbo_surgery_terms(mu, logvar, z)
        return info(i), mismatch(m)
    return terms


def test_only_exercises_whose_answer_computes_several_independent_things_have_parts():
    assert {e.id: e.parts for e in REGISTRY.values() if e.parts} == {
        "1.3": ("expected error", "variance", "squared bias"), "5.4": ("info term", "mismatch term")}


@pytest.mark.parametrize("column, credit, points", [(0, 2 / 3, 1.33), (1, 2 / 3, 1.33), (2, 2 / 3, 1.33)])
def test_a_wrong_column_of_the_blur_decomposition_costs_a_third(column, credit, points):
    result = checks.blur_decomposition(_blur_with(column, lambda c: c + 0.1), allow_reference_calls=True)
    assert result.status == Status.FAILED and result.credit == pytest.approx(credit) and result.points == points
    assert "Partial credit: 2 of 3 parts right: 1.33 of 2 points." in result.text()
    assert result.outcome().credit == result.credit  # what crosses to the grader


def test_one_right_term_of_elbo_surgery_earns_half_and_the_message_is_unchanged():
    result = checks.elbo_surgery_terms(_surgery_with(mismatch=lambda m: m + 1.0), allow_reference_calls=True)
    assert result.credit == 0.5 and result.points == 1.5
    assert result.message.startswith("the (info, mismatch) terms do not match the reference")
    assert "the info term is right" in result.checks and "the mismatch term is right" not in result.checks


def test_a_term_right_on_small_codes_but_not_where_densities_underflow_is_not_right():
    def naive_info(mu, logvar, z):
        i, m = posteriors.elbo_surgery_terms(mu, logvar, z)
        return (i if z.shape[-1] < 10 else i + 1.0), m
    result = checks.elbo_surgery_terms(naive_info, allow_reference_calls=True)
    assert result.credit == 0.5 and "60-dimensional" in result.message


@pytest.mark.parametrize("answer, why", [
    (_surgery_with(info=lambda i: i + 1, mismatch=lambda m: m + 1), "no part right"),
    (lambda mu, logvar, z: posteriors.elbo_surgery_terms(mu, logvar, z)[::-1], "both terms in the wrong place"),
    (lambda mu, logvar, z: 1 / 0, "it raised"),
    (lambda mu, logvar, z: torch.stack(posteriors.elbo_surgery_terms(mu, logvar, z)), "one tensor"),
])
def test_answers_with_no_part_right_or_failing_for_other_reasons_earn_nothing(answer, why):
    result = checks.elbo_surgery_terms(answer, allow_reference_calls=True)
    assert not result.passed and result.credit == 0 and result.points == 0, why


def test_calling_the_reference_earns_nothing_even_where_every_part_is_right():
    result = checks.blur_decomposition(metrics.blur_decomposition)
    assert result.code == "called-reference" and result.credit == 0 and result.points == 0


def test_exercises_without_parts_stay_all_or_nothing():
    assert checks.gaussian_kl(lambda mu, logvar: (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)).points == 0


def test_a_body_cannot_judge_a_part_its_exercise_does_not_declare():
    checker = checks.Checker(lambda: None, REGISTRY["2.1"])
    with pytest.raises(ValueError, match="declares no part"):
        checker.part("kl", torch.zeros(1), torch.zeros(1))


@pytest.mark.parametrize("sent, kept", [(0.5, 0.5), (1, 1.0), (1.5, 0.0), (-0.1, 0.0), ("0.5", 0.0), (True, 0.0),
                                        (float("nan"), 0.0), (None, 0.0)])
def test_the_grader_takes_a_credit_only_between_0_and_1(sent, kept):
    assert ExerciseOutcome.from_json({"status": "failed", "credit": sent}).credit == kept


def test_points_earned_is_all_for_a_pass_and_the_share_of_parts_otherwise():
    assert points_earned(3, Status.PASSED, 0.0) == 3.0
    assert points_earned(3, Status.FAILED, 0.5) == 1.5
    assert points_earned(2, Status.FAILED, 2 / 3) == 1.33
    assert points_earned(2, Status.ERROR, 0.0) == 0.0


def test_checks_that_draw_their_inputs_from_the_seed_test_other_inputs_under_another():
    assert first_inputs(REGISTRY["2.1"], 1234) != first_inputs(REGISTRY["2.1"], 99)
    assert first_inputs(REGISTRY["1.3"], 1234) == first_inputs(REGISTRY["1.3"], 99)  # seeds its own inputs
    seed = hidden_seed(REGISTRY["2.1"])
    assert isinstance(seed, int) and seed != 1234
    right = lambda mu, logvar: 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
    assert checks.gaussian_kl(right, seed=seed).passed
    assert hidden_seed(REGISTRY["1.3"]) is None and hidden_seed(REGISTRY["3.3"]) is None


def test_a_teachers_secret_makes_the_hidden_tests_reproducible_and_another_secret_changes_them():
    kept = hidden_seed(REGISTRY["2.1"], secret="autumn class")
    assert kept == hidden_seed(REGISTRY["2.1"], secret="autumn class")  # exporting again: the same hidden test
    assert kept != hidden_seed(REGISTRY["2.1"], secret="spring class")
    assert kept != hidden_seed(REGISTRY["2.2"], secret="autumn class")  # each exercise its own seed
    assert {hidden_seed(REGISTRY["2.1"]) for _ in range(3)} != {kept}  # without a secret: drawn at random


def test_the_export_command_passes_the_secret_to_every_test_cell(tmp_path):
    from vae_course.cli import main

    for out in ("a", "b"):
        assert main(["export", "nbgrader", str(Path(__file__).parents[1] / "solutions/02_elbo.ipynb"), "--out", str(tmp_path / out),
                     "--hidden-seed", "autumn class"]) == 0
    first, second = ((tmp_path / out / "source/02_elbo/02_elbo.ipynb").read_text() for out in ("a", "b"))
    assert first == second and HIDDEN_BEGIN in first


def test_the_test_cell_of_an_exercise_with_parts_shows_its_points_and_raises_only_when_none_is_right():
    source = check_source(REGISTRY["5.4"])
    assert "assert _result.points > 0, _result.text()" in source
    assert source.splitlines()[-1].startswith("float(_result.points)")
    assert HIDDEN_BEGIN not in source
    hidden = check_source(REGISTRY["2.1"], hidden_seed=4321)
    begin, end = hidden.index(HIDDEN_BEGIN), hidden.index(HIDDEN_END)
    assert "checks.gaussian_kl(gaussian_kl, seed=4321)" in hidden[begin:end]
    assert hidden.splitlines()[-1] == "_result"


@pytest.mark.slow  # runs the first steps of every check, and the references of those that take a seed
def test_the_exercises_with_hidden_tests_are_those_the_teachers_guide_names():
    from vae_course.grading.hidden_tests import reference

    seeded = [e.id for e in REGISTRY.values()
              if first_inputs(e, 1234) not in ("", first_inputs(e, 1235)) and reference(e) is not None]
    assert sorted(seeded, key=exercise_key) == ["0.1", "2.1", "2.2", "2.3", "6.1", "6.2", "6.3", "7.1", "7.2",
                                                "7.3", "8.1", "9.2"]
    guide = (Path(__file__).resolve().parents[1] / "docs" / "teaching.md").read_text()
    assert "(0.1, 2.1-2.3,\n6.1-6.3, 7.1-7.3, 8.1, 9.2)" in guide


def test_the_grader_keeps_the_lower_of_the_visible_and_the_hidden_result():
    from vae_course.grading.checker import _lower
    from vae_course.grading.protocol import CheckerTask

    passed, half = ExerciseOutcome(Status.PASSED), ExerciseOutcome(Status.FAILED, "the terms differ", credit=0.5)
    assert _lower(passed, ExerciseOutcome(Status.PASSED)) is passed
    kept = _lower(passed, half)
    assert kept.credit == 0.5 and kept.message == "on the hidden test's inputs (not those of your notebook's check), " \
                                                  "the terms differ"
    assert _lower(half, ExerciseOutcome(Status.PASSED)).message == "the terms differ"
    task = CheckerTask(nonce="n", timeout=1.0, memory=0, checks_files=[], exercises=[], hidden_seeds={"2.1": 77})
    assert CheckerTask.from_json(task.to_json()).hidden_seeds == {"2.1": 77}


SEEN_ONLY = ("def gaussian_kl(mu, logvar):\n"        # right only on the inputs the released check shows
             "    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)\n"
             "    return kl if torch.initial_seed() == 1234 else 2 * kl\n")


def test_grade_with_the_exports_secret_runs_its_hidden_tests(tmp_path):
    """`vae-course grade --hidden-seed S` checks 2.1 again under the seed `export nbgrader --hidden-seed S` writes.

    The command runs in a subprocess: the grader kills its own descendants when it ends (a submission's
    leftovers), which in this process would include what other tests started (e.g. the e2e tests' browser)."""
    import csv
    import subprocess
    import sys

    import nbformat

    from vae_course.grading.hidden_tests import hidden_seeds

    sys.path.insert(0, str(Path(__file__).parent))
    from _classroom import exercise_of, short_solution

    seeds = hidden_seeds("autumn class", ["02_elbo"])
    assert seeds["2.1"] == hidden_seed(REGISTRY["2.1"], secret="autumn class") and "2.4" not in seeds
    notebook = short_solution()
    for cell in notebook.cells:
        if exercise_of(cell.source) == "2.1":
            cell.source = SEEN_ONLY
    nbformat.write(notebook, tmp_path / "carol_02_elbo.ipynb")
    points, errors = {}, {}
    for name, extra in (("plain", []), ("hidden", ["--hidden-seed", "autumn class"])):
        out = tmp_path / f"{name}.csv"
        done = subprocess.run([sys.executable, "-m", "vae_course", "grade", str(tmp_path / "carol_02_elbo.ipynb"),
                               "--out", str(out), "--no-execute", "--notebook", "02_elbo", *extra],
                              capture_output=True, text=True, timeout=600)
        assert out.exists(), done.stderr[-2000:]
        rows = {row["exercise"]: row for row in csv.DictReader(out.open())}
        points[name] = {k: float(row["points"]) for k, row in rows.items()}
        errors[name] = done.stderr
    assert points["plain"] == {"2.1": 2, "2.2": 2, "2.3": 2, "2.4": 2}
    assert points["hidden"] == {"2.1": 0, "2.2": 2, "2.3": 2, "2.4": 2}
    assert "on the hidden test's inputs" in rows["2.1"]["message"]
    assert "hidden tests for 3 exercise(s): 2.1, 2.2, 2.3" in errors["hidden"]
    assert "hidden tests" not in errors["plain"]
