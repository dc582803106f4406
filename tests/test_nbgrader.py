"""The nbgrader round trip, with the real nbgrader: export, generate_assignment, autograde, export, gradebook.

Three submissions of a short notebook 02 (the real exercise, check and Think! cells of
``solutions/02_elbo.ipynb`` after a two-line import cell, so the kernels start fast):
solved but for 2.4 (6 of 8), half done (2.1 right, 2.2 wrong, 2.3 and 2.4 the stubs: 2 of 8) and hostile (every
exercise the stub, and a cell that replaces the checks of 2.1-2.3 with ones that always pass).
nbgrader's autograde grades in the student's kernel, so it gives the hostile one 6 of 8;
``vae-course nbgrader-sync`` puts the course grader's 0 into nbgrader's gradebook.

A fourth (carol) answers 2.1 right only on the inputs the released check shows: the hidden test, absent
from the released notebook, fails her at autograde and in ``nbgrader-sync`` (``vae-course grade``, which
knows no hidden tests, gives her 2). A short notebook 01 (its three exercises) graded
alone gives a half-done submission whose 1.3 has two of its three columns right 2/3 of 1.3's 2 points,
in nbgrader as in ``vae-course grade``.
"""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

nbgrader_api = pytest.importorskip("nbgrader.api", reason="nbgrader is in the test extra")

from _classroom import KL_ANSWER, STEM, WRONG_LOGLIK, answers, exercise_of, run, short_solution  # noqa: E402

FAKE_CHECKS = ("class _Passed:\n    passed = True\n    def text(self):\n        return '[passed]'\n\n"
               "for _name in ('gaussian_kl', 'bernoulli_log_likelihood', 'elbo'):\n"
               "    setattr(checks, _name, lambda fn, *args, **kwargs: _Passed())\n")
EXPECTED = {"alice": 6.0, "bob": 2.0, "mallory": 0.0}  # what the course's grader gives
# Right only under the check's usual seed, i.e. on the inputs the released notebook's check shows.
SEEN_ONLY = ("def gaussian_kl(mu, logvar):\n"
             "    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)\n"
             "    return kl if torch.initial_seed() == 1234 else 2 * kl\n")
PARTIAL_STEM = "01_autoencoders"


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    result = run("nbgrader", *args, cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def submission(release: nbformat.NotebookNode, answers: dict[str, str], before: str = "") -> nbformat.NotebookNode:
    """The released notebook with the exercise cells of ``answers`` (grade id -> source) filled in."""
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    if before:
        nb.cells.insert(1, new_code_cell(before))
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An exported, generated, submitted and autograded nbgrader course directory."""
    base = tmp_path_factory.mktemp("nbgrader")
    solution = base / "solutions" / f"{STEM}.ipynb"
    solution.parent.mkdir()
    nbformat.write(short_solution(), solution)
    course = base / "course"
    done = run("vae_course", "export", "nbgrader", solution, "--out", course)
    assert done.returncode == 0, done.stderr
    nbgrader(course, "generate_assignment", STEM)
    release = nbformat.read(course / "release" / STEM / f"{STEM}.ipynb", as_version=4)
    ids = {exercise_of(c.source): c.metadata["nbgrader"]["grade_id"] for c in release.cells
           if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    solved = {ids[ex]: source for ex, source in answers().items() if ex in ("2.1", "2.2", "2.3")}  # 2.4 left a stub
    cases = {
        "alice": submission(release, solved),
        "bob": submission(release, {ids["2.1"]: solved[ids["2.1"]], ids["2.2"]: WRONG_LOGLIK}),
        "mallory": submission(release, {}, before=FAKE_CHECKS),
        "carol": submission(release, {ids["2.1"]: SEEN_ONLY}),
    }
    for student, nb in cases.items():
        folder = course / "submitted" / student / STEM
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{STEM}.ipynb")
        late = student == "bob"  # a day after the deadline: nbgrader's "zero" penalty applies
        (folder / "timestamp.txt").write_text(f"2026-12-0{2 if late else 1} 12:00:00.000000 UTC")
    nbgrader(course, "db", "assignment", "add", STEM, "--duedate=2026-12-01 18:00:00 UTC")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
    nbgrader(course, "autograde", STEM)
    return course


def code_scores(course: Path) -> dict[str, float]:
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission_notebook(STEM, STEM, s).code_score for s in EXPECTED}


@pytest.mark.slow  # starts kernels and checker processes
def test_generated_student_notebook_holds_no_solution(course):
    release = (course / "release" / STEM / f"{STEM}.ipynb").read_text()
    solution = short_solution()
    assert "BEGIN SOLUTION" not in release
    assert KL_ANSWER not in release
    assert "Exercise not solved yet" in release  # the course's stub: solved_or_reference still falls back
    think = next(c.source for c in solution.cells if "<!-- BEGIN SOLUTION -->" in c.source)
    answer = think.split("<!-- BEGIN SOLUTION -->")[1].split("<!-- END SOLUTION -->")[0].strip()
    assert answer[:60] not in release


@pytest.mark.slow
def test_nbgrader_autograde_matches_the_course_grader_except_where_the_kernel_was_tampered_with(course, tmp_path):
    graded = run("vae_course", "grade", course / "submitted", "--out", tmp_path / "gradebook.csv", "--no-execute")
    assert graded.returncode == 0, graded.stderr
    with open(tmp_path / "gradebook_totals.csv", newline="") as f:
        ours = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    assert {s: ours[s] for s in EXPECTED} == EXPECTED and ours["carol"] == 2.0
    theirs = code_scores(course)
    assert {s: theirs[s] for s in ("alice", "bob")} == {s: ours[s] for s in ("alice", "bob")}
    assert theirs["mallory"] == 6.0  # nbgrader ran the replaced checks in mallory's own kernel


@pytest.mark.slow
def test_hidden_tests_are_not_released_but_run_at_autograde(course):
    source = (course / "source" / STEM / f"{STEM}.ipynb").read_text()
    release = (course / "release" / STEM / f"{STEM}.ipynb").read_text()
    seeds = re.findall(r"seed=(\d+)", source)
    assert source.count("### BEGIN HIDDEN TESTS") == len(seeds) == 3  # 2.1-2.3; 2.4's check seeds its own inputs
    assert "HIDDEN TESTS" not in release and not any(seed in release for seed in seeds)
    graded = nbformat.read(course / "autograded" / "carol" / STEM / f"{STEM}.ipynb", as_version=4)
    test = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check-2_1")
    assert "BEGIN HIDDEN TESTS" in test.source  # autograde put the hidden region back, and ran it:
    assert "On the hidden test inputs" in "".join(o.get("evalue", "") for o in test.outputs)
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(STEM, STEM, "carol").code_score == 0.0  # the visible check passed her


@pytest.mark.slow
def test_nbgrader_sync_writes_the_course_graders_scores_into_the_gradebook(course, tmp_path):
    # zoe's copy of alice's notebook was collected after autograde: nbgrader does not know her yet
    zoe = course / "submitted" / "zoe" / STEM
    zoe.mkdir(parents=True)
    (zoe / f"{STEM}.ipynb").write_bytes((course / "submitted" / "alice" / STEM / f"{STEM}.ipynb").read_bytes())
    (zoe / "timestamp.txt").write_text("2026-12-01 09:30:00.000000 UTC")
    synced = run("vae_course", "nbgrader-sync", course, "--assignment", STEM, "--no-execute")
    assert synced.returncode == 0, synced.stderr
    assert "zoe  02_elbo/02_elbo  6 / 8" in synced.stdout
    assert code_scores(course) == EXPECTED
    # the course grader runs the hidden tests too (the seeds of the test cells nbgrader saved): carol keeps 0
    assert "carol  02_elbo/02_elbo  0 / 8" in synced.stdout
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission_notebook(STEM, STEM, "zoe").code_score == 6.0
        assert str(gb.find_submission(STEM, "zoe").timestamp) == "2026-12-01 09:30:00"
    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    # raw_score adds the Think! answer (graded by hand: 0 until a teacher grades it) to the tests' points
    assert {s: float(rows[s]["raw_score"]) for s in EXPECTED} == EXPECTED
    assert {float(rows[s]["max_score"]) for s in EXPECTED} == {9.0}
    # bob was late: nbgrader's own late handling ("zero") takes the course grader's 2 points away again
    assert {s: float(rows[s]["late_submission_penalty"]) for s in EXPECTED} == {"alice": 0.0, "bob": 2.0,
                                                                                "mallory": 0.0}
    assert {s: float(rows[s]["score"]) for s in EXPECTED} == {"alice": 6.0, "bob": 0.0, "mallory": 0.0}


@pytest.fixture(scope="module")
def partial(tmp_path_factory) -> Path:
    """A short notebook 01 exported and autograded for one student whose 1.3 has its third column wrong."""
    base = tmp_path_factory.mktemp("nbgrader01")
    solution = base / "solutions" / f"{PARTIAL_STEM}.ipynb"
    solution.parent.mkdir()
    nbformat.write(short_solution(PARTIAL_STEM), solution)
    course = base / "course"
    done = run("vae_course", "export", "nbgrader", solution, "--out", course)
    assert done.returncode == 0, done.stderr
    nbgrader(course, "generate_assignment", PARTIAL_STEM)
    release = nbformat.read(course / "release" / PARTIAL_STEM / f"{PARTIAL_STEM}.ipynb", as_version=4)
    right = answers(PARTIAL_STEM)["1.3"]
    wrong = right.replace("bias_sq = ((prediction - m[:, 0]) ** 2)", "bias_sq = (prediction - m[:, 0]).abs()")
    assert wrong != right
    folder = course / "submitted" / "dave" / PARTIAL_STEM
    folder.mkdir(parents=True)
    nbformat.write(submission(release, {"exercise-1_3": wrong}), folder / f"{PARTIAL_STEM}.ipynb")
    nbgrader(course, "autograde", PARTIAL_STEM)
    return course


@pytest.mark.slow
def test_a_partly_right_multi_part_exercise_gets_partial_credit_from_nbgrader_as_from_the_course_grader(partial,
                                                                                                         tmp_path):
    with nbgrader_api.Gradebook(f"sqlite:///{partial / 'gradebook.db'}") as gb:
        graded = gb.find_submission_notebook(PARTIAL_STEM, PARTIAL_STEM, "dave")
        assert graded.code_score == 1.33  # 1.1 and 1.2 the stubs; 1.3: two of three columns, of 2 points
        assert {g.name: g.auto_score for g in graded.grades if g.name.startswith("check-")} == {
            "check-1_1": 0.0, "check-1_2": 0.0, "check-1_3": 1.33}
    ours = run("vae_course", "grade", partial / "submitted", "--out", tmp_path / "gradebook.csv", "--no-execute")
    assert ours.returncode == 0, ours.stderr
    with open(tmp_path / "gradebook.csv", newline="") as f:
        rows = {row["exercise"]: row for row in csv.DictReader(f)}
    assert {ex: float(row["points"]) for ex, row in rows.items()} == {"1.1": 0.0, "1.2": 0.0, "1.3": 1.33}
    assert rows["1.3"]["status"] == "failed" and "absolute bias" in rows["1.3"]["message"]
