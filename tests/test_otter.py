"""The otter-grader round trip, with the real otter: export, ``otter assign``, ``otter run``.

The student notebook otter writes holds no line of any answer, and otter's own grading of a
solved notebook gives full points (8 of 8 on the short notebook 02 of ``tests/_classroom.py``).
"""

from __future__ import annotations

import json

import nbformat
import pytest

pytest.importorskip("otter", reason="otter-grader is in the test extra")

from _classroom import KL_ANSWER, STEM, answers, exercise_of, run, short_solution  # noqa: E402


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    base = tmp_path_factory.mktemp("otter")
    solution = base / "solutions" / f"{STEM}.ipynb"
    solution.parent.mkdir()
    nbformat.write(short_solution(), solution)
    done = run("vae_course", "export", "otter", solution, "--out", base / "master")
    assert done.returncode == 0, done.stderr
    assigned = run("otter", "assign", base / "master" / f"{STEM}.ipynb", base / "dist")
    assert assigned.returncode == 0, assigned.stdout + assigned.stderr
    assert "no autograded tests" not in assigned.stdout + assigned.stderr
    return base / "dist"


def test_otter_student_notebook_holds_no_solution(dist):
    student = (dist / "student" / f"{STEM}.ipynb").read_text()
    for answer in answers().values():
        body = [line.strip() for line in answer.splitlines() if line.strip() and "SOLUTION" not in line]
        assert not [line for line in body[2:] if line in student], "a line of an answer reached students"
    assert KL_ANSWER not in student and "BEGIN SOLUTION" not in student and "**Answer.**" not in student
    assert 'raise NotImplementedError(\\"Exercise 2.1:' in student  # the course's stub: falls back to the reference


@pytest.mark.slow  # otter runs the notebook in a kernel
def test_otter_grades_a_solved_notebook_full(dist, tmp_path):
    nb = nbformat.read(dist / "student" / f"{STEM}.ipynb", as_version=4)
    stubs = [c for c in nb.cells if "otter_answer_cell" in c.metadata.get("tags", []) and "def " in c.source]
    assert len(stubs) == len(answers()) == 4
    for cell in stubs:
        cell.source = answers()[exercise_of(cell.source)]
    submission = tmp_path / f"{STEM}.ipynb"
    nbformat.write(nb, submission)
    autograder = next((dist / "autograder").glob("*.zip"))
    graded = run("otter", "run", "-a", autograder, "-o", tmp_path, submission)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    scores = {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if "max_score" in t}
    assert scores == {"q2_1": (2.0, 2.0), "q2_2": (2.0, 2.0), "q2_3": (2.0, 2.0), "q2_4": (2.0, 2.0)}, results
    assert sum(score for score, _ in scores.values()) == 8.0
