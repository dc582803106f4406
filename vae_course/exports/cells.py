"""What each cell of a solution notebook is, as the exports to other graders see it.

The conventions are those of :mod:`vae_course.notebooks` (the student-notebook generator):

* an **exercise** cell is tagged ``exercise-<id>`` and holds its answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
* its **check** cell is the first code cell after it that calls ``checks.<function>(...)``;
* a **Think!** cell is a Markdown cell whose answer sits between ``<!-- BEGIN SOLUTION -->``
  and ``<!-- END SOLUTION -->``;
* everything else is **context**: text, imports, figures - read-only in a graded copy.

:func:`classify` reads a notebook once into that list; each exporter (nbgrader, otter) then
only decides what to write for each kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..checks import REGISTRY, Exercise
from ..notebooks import CODE_BEGIN, MD_BEGIN, MD_END, NotebookFormatError, exercise_id

EXERCISE, CHECK, THINK, CONTEXT = "exercise", "check", "think", "context"
CHECK_OF = re.compile(r"^\s*checks\.(\w+)\(", re.MULTILINE)


@dataclass
class Part:
    """One cell of a solution notebook and what it is (``entry``: the exercise of an exercise or check cell)."""

    kind: str
    cell: dict
    entry: Exercise | None = None
    number: int = 0  # the n-th Think! cell of the notebook (1, 2, ...), for its id


def classify(nb, name: str = "notebook") -> list[Part]:
    """Every cell of solution notebook ``nb`` with its kind; raises :class:`NotebookFormatError` naming the cell."""
    parts, open_exercises, thinks = [], {}, 0
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index + 1}"
        if cell.cell_type == "markdown" and MD_BEGIN in cell.source:
            if cell.source.count(MD_BEGIN) != cell.source.count(MD_END):
                raise NotebookFormatError(f"{where}: unbalanced {MD_BEGIN} / {MD_END}.")
            thinks += 1
            parts.append(Part(THINK, cell, number=thinks))
            continue
        if cell.cell_type != "code":
            parts.append(Part(CONTEXT, cell))
            continue
        ex_id = exercise_id(cell)
        if ex_id is not None:
            entry = REGISTRY.get(ex_id)
            if entry is None:
                raise NotebookFormatError(f"{where}: tag exercise-{ex_id} has no check in vae_course.checks.REGISTRY.")
            if CODE_BEGIN not in cell.source:
                raise NotebookFormatError(f"{where}: exercise {ex_id} has no {CODE_BEGIN} marker.")
            open_exercises[entry.function] = entry
            parts.append(Part(EXERCISE, cell, entry))
            continue
        if CODE_BEGIN in cell.source:
            raise NotebookFormatError(f"{where}: {CODE_BEGIN} outside a cell tagged exercise-<id>.")
        called = [m.group(1) for m in CHECK_OF.finditer(cell.source)]
        checked = next((open_exercises.pop(f) for f in called if f in open_exercises), None)
        parts.append(Part(CHECK, cell, checked) if checked else Part(CONTEXT, cell))
    if open_exercises:
        missing = ", ".join(f"{e.id} (`checks.{e.function}({e.function})`)" for e in open_exercises.values())
        raise NotebookFormatError(f"{name}: no check cell after exercise {missing}.")
    return parts


def read_solution(path: Path):
    """The solution notebook at ``path``; raises :class:`NotebookFormatError` for a file that is not one."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, or not a notebook
        raise NotebookFormatError(f"{path} is not a readable notebook ({type(err).__name__}).") from None


def check_source(entry: Exercise, hidden_seed: int | None = None) -> str:
    """An autograder test cell that *raises* (AssertionError with the check's own text) when the answer earns nothing.

    An exercise without parts raises unless its check passes, and shows the result as the notebook's own
    check cell does. An exercise with parts (``Exercise.parts``) raises only when no part is right; it shows
    the result, then its points as a number - nbgrader's score of a test cell whose output is a number
    (partial credit). ``hidden_seed``: the same check again under that seed, on inputs the released notebook
    never shows (:mod:`.hidden`), in nbgrader's hidden-tests region; the cell earns the lower of the two.
    """
    call = f"checks.{entry.function}({entry.function}"
    lines = [f"# Exercise {entry.id} ({entry.points} point{'s' if entry.points != 1 else ''}): "
             + ("the course's check; this cell raises unless it passes." if not entry.parts else
                f"the course's check; {len(entry.parts)} parts ({', '.join(entry.parts)}), each worth "
                "its share of the points; this cell raises unless one is right."),
             f"_result = {call})"]
    if entry.parts:
        lines += ["display(_result)", "assert _result.points > 0, _result.text()"]
    else:
        lines += ["assert _result.passed, _result.text()"]
    if hidden_seed is not None:
        lines += [HIDDEN_BEGIN,
                  "# Removed from the students' notebook: the same check on inputs they never see.",
                  f"_hidden = {call}, seed={hidden_seed})",
                  f"assert _hidden.{'points > 0' if entry.parts else 'passed'}, "
                  "'On the hidden test inputs: ' + _hidden.text()"]
        if entry.parts:
            lines.append("_result = min(_result, _hidden, key=lambda r: r.points)")
        lines.append(HIDDEN_END)
    lines.append("float(_result.points)  # nbgrader scores a test cell that shows a number with that number"
                 if entry.parts else "_result")
    return "\n".join(lines)


HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
