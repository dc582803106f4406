"""The registry is the one list of the course's exercises: ids, notebooks, references and dependencies agree.

The rules are those of docs/authoring-exercises.md ("A new exercise of the course itself").
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from vae_course import checks
from vae_course.conventions import exercise_ids
from vae_course.results import exercise_key

ROOT = Path(__file__).resolve().parents[1]
COURSE = {ex_id: entry for ex_id, entry in checks.REGISTRY.items()
          if entry.body.__module__.startswith("vae_course.checks.")}  # not a teacher's --checks file


def test_the_course_has_exercises():
    assert COURSE and all(entry.points > 0 for entry in COURSE.values())


@pytest.mark.parametrize("ex_id", sorted(COURSE, key=exercise_key))
def test_an_id_is_its_notebooks_number_and_a_place(ex_id):
    number, place = ex_id.split(".")
    assert int(number) == int(COURSE[ex_id].notebook.split("_")[0]) and int(place) >= 1


def test_every_exercise_has_its_tagged_cell_in_its_solution_notebook_and_every_tag_a_check():
    tagged = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for ex_id in exercise_ids(cell):
                tagged[ex_id] = path.stem
    assert tagged == {ex_id: entry.notebook for ex_id, entry in COURSE.items()}


@pytest.mark.parametrize("ex_id", sorted((i for i, e in COURSE.items() if e.uses), key=exercise_key))
def test_an_exercise_uses_only_earlier_exercises_that_have_a_reference(ex_id):
    for used in COURSE[ex_id].uses:
        assert exercise_key(used) < exercise_key(ex_id) and checks.REGISTRY[used].reference_function() is not None


@pytest.mark.parametrize("ex_id", sorted((i for i, e in COURSE.items() if e.reference_function()), key=exercise_key))
def test_a_registered_reference_passes_its_own_check(ex_id):
    entry = COURSE[ex_id]
    result = checks.run_check(entry, entry.reference_function(), allow_reference_calls=True)
    assert result.passed, result.text()


def test_delegates_must_be_marked_references():
    with pytest.raises(TypeError, match="delegates= takes functions marked"):
        checks.exercise("98.1", "98_nowhere", "f", "t", "c", delegates=["vae_course.losses.mse"])(lambda fn, check: None)
    assert "98.1" not in checks.REGISTRY
