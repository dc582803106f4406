"""Every solution notebook exports for nbgrader and otter (no tools needed: tests/test_nbgrader.py and
tests/test_otter.py run the real ones on one notebook)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from vae_course.checks import exercises_for
from vae_course.exports.nbgrader import nbgrader_notebook
from vae_course.exports.otter import otter_notebook
from vae_course.notebooks import NotebookFormatError

SOLUTIONS = sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_exercise_becomes_an_answer_cell_and_a_graded_test_cell_with_its_points(path):
    nb = nbgrader_notebook(nbformat.read(path, as_version=4), path.name)
    meta = [c.metadata["nbgrader"] for c in nb.cells]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "nbgrader needs unique cell ids"
    tests = {m["grade_id"]: m["points"] for m in meta if m["grade"] and not m["solution"]}
    assert tests == {f"check-{e.id.replace('.', '_')}": e.points for e in exercises_for(path.stem)}
    answers = [c for c, m in zip(nb.cells, meta) if m["solution"] and c.cell_type == "code"]
    assert all("### BEGIN SOLUTION" in c.source for c in answers)
    assert all(m["locked"] for c, m in zip(nb.cells, meta) if not m["solution"]), "the rest is read-only"
    assert all("<!-- BEGIN SOLUTION -->" in c.source for c, m in zip(nb.cells, meta)
               if m["solution"] and c.cell_type == "markdown")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_exercise_becomes_an_otter_question(path):
    nb = otter_notebook(nbformat.read(path, as_version=4), path.name)
    questions = [c.source.splitlines()[1] for c in nb.cells if c.cell_type == "raw" and "# BEGIN QUESTION" in c.source]
    # in the notebook's order, which need not be the ids' order (a new exercise keeps the next free id wherever it sits)
    assert sorted(questions) == sorted(f"name: q{e.id.replace('.', '_')}" for e in exercises_for(path.stem))
    text = nbformat.writes(nb)
    assert "### BEGIN SOLUTION" not in text and "<!-- BEGIN SOLUTION -->" not in text


def test_an_exercise_without_its_check_cell_is_refused():
    nb = nbformat.read(SOLUTIONS[0], as_version=4)
    nb.cells = [c for c in nb.cells if not c.source.startswith("checks.")]
    with pytest.raises(NotebookFormatError, match="no check cell after exercise 0.1"):
        nbgrader_notebook(nb, "00_welcome.ipynb")
