"""The conventions of the course's notebooks and check files, read the same way by everyone.

A foundation of the package (it imports nothing of it): the student-notebook generator
(:mod:`vae_course.notebooks`), the student copy of a teacher's check file
(:func:`vae_course.checks.student_copy`) and the grader (:mod:`vae_course.grading.submissions`)
all parse these markers with the functions below, so they cannot drift apart.

* An exercise is a code cell tagged ``exercise-<id>`` (e.g. ``exercise-2.1``) that defines
  the exercise's function (:func:`exercise_ids`, :func:`defined_functions`).
* Its answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
  markers); :func:`replace_solution_regions` replaces each such region by one line.
* A "Think!" answer in a Markdown cell sits between ``<!-- BEGIN SOLUTION -->`` and
  ``<!-- END SOLUTION -->``.
* Exported for nbgrader (:mod:`vae_course.exports.nbgrader`), a graded cell's id is
  :func:`grade_id` (``check-2_1``); ``vae-course nbgrader-sync`` (:mod:`vae_course.grading.nbgrader`)
  finds the cell by the same id.
"""

from __future__ import annotations

import ast
import re
from typing import Callable

CODE_BEGIN = "### BEGIN SOLUTION"
CODE_END = "### END SOLUTION"
MD_BEGIN = "<!-- BEGIN SOLUTION -->"
MD_END = "<!-- END SOLUTION -->"
EXERCISE_TAG = re.compile(r"^exercise-(\d+(?:\.\d+)*)$")


def exercise_ids(cell) -> list[str]:
    """The exercise ids of a cell's ``exercise-<id>`` tags, in tag order (tolerates malformed metadata)."""
    tags = cell.get("metadata", {}).get("tags", [])
    matches = (EXERCISE_TAG.match(str(tag)) for tag in (tags if isinstance(tags, list) else []))
    return [match.group(1) for match in matches if match]


def exercise_id(cell) -> str | None:
    """The exercise id from a cell's first ``exercise-<id>`` tag, or None."""
    return next(iter(exercise_ids(cell)), None)


def defined_functions(code: str | ast.Module | None) -> list[str]:
    """Names of the top-level functions (and classes) that a cell's source, or its parsed tree, defines.

    Empty for source that does not parse (or ``None``: a cell the grader could not parse).
    """
    if isinstance(code, str):
        try:
            code = ast.parse(code)
        except SyntaxError:
            return []
    if code is None:
        return []
    return [node.name for node in code.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def replace_solution_regions(source: str, replacement: Callable[[str], str], where: str,
                             error: type[ValueError] = ValueError) -> str:
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by one line.

    ``replacement(indent)`` gives that line for the region's indentation (``""`` at the top level). The
    one scanner for exercise cells (:func:`vae_course.notebooks.make_student_notebook`) and teachers'
    check files (:func:`vae_course.checks.student_copy`); unbalanced or nested markers raise ``error``
    naming the line.
    """
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == CODE_BEGIN:
            if inside:
                raise error(f"{where}, line {number}: nested {CODE_BEGIN}.")
            inside = True
            out.append(replacement(line[: len(line) - len(line.lstrip())]))
        elif stripped == CODE_END:
            if not inside:
                raise error(f"{where}, line {number}: {CODE_END} without {CODE_BEGIN}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise error(f"{where}: {CODE_BEGIN} is never closed by {CODE_END}.")
    return "\n".join(out)


def safe_id(ex_id: str) -> str:
    """An exercise id as nbgrader and otter accept it in names: ``"2.1"`` -> ``"2_1"``."""
    return ex_id.replace(".", "_")


def grade_id(kind: str, key: str) -> str:
    """The nbgrader cell id of an exercise's answer (``exercise-2_1``), its test (``check-2_1``), a Think! (``think-1``)."""
    return f"{kind}-{safe_id(key)}"
