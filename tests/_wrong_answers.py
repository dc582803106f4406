"""A wrong answer for every exercise, to put into a student notebook (tests/test_student_notebooks.py).

Imported inside the notebook's kernel: ``gaussian_kl = wrong_answer("2.1")``. The first wrong answer of
the exercise's catalogue (tests/test_checks_catalogue.py: realistic mistakes, each named by its check);
for an exercise without one, an answer that raises as a half-written function does.
"""

from __future__ import annotations

from test_checks_catalogue import CATALOGUE


def wrong_answer(ex_id: str):
    """A wrong answer to Exercise ``ex_id`` (a function or class, as the student would define it)."""
    wrong = CATALOGUE.get(ex_id, {}).get("wrong")
    if wrong:
        fn, _ = next(iter(wrong.values()))
        return fn

    def half_written(*args, **kwargs):
        raise ValueError(f"a student's half-written answer to Exercise {ex_id}: shapes do not match")

    return half_written
