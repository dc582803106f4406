"""``vae-course export nbgrader``: a solution notebook as an nbgrader *source* assignment.

nbgrader (https://nbgrader.readthedocs.io) reads what each cell is from its metadata
(``metadata.nbgrader``, schema 3). The course's notebooks already use nbgrader's
``### BEGIN SOLUTION`` markers; this adds the metadata, cell by cell
(:func:`vae_course.exports.cells.classify`):

========== =====================================================================================
exercise   an answer cell (``solution``), markers kept: ``nbgrader generate_assignment`` replaces
           the region with a stub that raises ``NotImplementedError("Exercise ...")``, so the
           notebook's ``solved_or_reference`` cells still fall back to the course's reference
check      an autograder test cell (``grade``, ``locked``, the exercise's points from
           ``checks.REGISTRY``): it runs the course's check and raises ``AssertionError`` with the
           check's own message unless it passes. Exercises with parts (``Exercise.parts``: 1.3's
           three columns, 5.4's two terms) raise only when no part is right and end with their
           points as a number: nbgrader's partial credit. Where the check can test other inputs
           (:mod:`vae_course.grading.hidden_tests`), a ``### BEGIN HIDDEN TESTS`` region runs it again under a fresh seed:
           ``generate_assignment`` removes it, ``autograde`` puts it back and runs it
Think!     a manually graded answer (``grade`` + ``solution``, ``think_points`` points): the
           answer region becomes nbgrader's "YOUR ANSWER HERE"
other      read-only (``locked``): nbgrader restores it if a student edits it
========== =====================================================================================

:func:`export` writes ``OUT/source/<stem>/<stem>.ipynb`` for each notebook, and
``OUT/nbgrader_config.py`` (the stub, the course id) unless one exists.

nbgrader's ``autograde`` runs the test cells *in the student's kernel*: code that replaces
``checks`` there passes them. ``vae-course nbgrader-sync`` (:mod:`vae_course.grading.nbgrader`)
writes the scores of the course's own out-of-process grader into the same gradebook instead.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from nbformat.v4 import new_markdown_cell

from ..conventions import grade_id
from ..notebooks import MD_BEGIN, MD_END, RUN_METADATA
from .cells import CHECK, EXERCISE, THINK, check_source, classify, read_solution
from ..grading.hidden_tests import hidden_seed

SCHEMA_VERSION = 3
STUB = 'raise NotImplementedError("Exercise not solved yet: replace this line with your answer")'
CONFIG = f'''\
"""nbgrader configuration of a course directory written by `vae-course export nbgrader`."""

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = "vae-course"
# The course's stub: `solved_or_reference` cells use the course's reference while an exercise raises it.
c.ClearSolutions.code_stub = {{"python": {("# YOUR CODE HERE" + chr(10) + STUB)!r}}}
c.ClearSolutions.text_stub = "*Write your answer here.*"
# Notebooks train small models and load MNIST: give each cell time (seconds).
c.ExecutePreprocessor.timeout = 600
'''


def _metadata(cell_id: str, *, solution=False, grade=False, locked=False, points=0) -> dict:
    meta = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def nbgrader_notebook(solution, name: str = "notebook", *, think_points: int = 1, hidden_tests: bool = True,
                      hidden_secret: str | None = None):
    """The nbgrader source version of a solution notebook (the input is not modified).

    think_points: points of each Think! answer, graded by hand in formgrader (0: an ungraded
    answer cell). hidden_tests: give each test cell whose check can test other inputs a hidden
    test (:func:`~vae_course.grading.hidden_tests.hidden_seed`; a fresh seed at each export, or one derived from
    ``hidden_secret`` so that exporting again gives the same hidden tests).
    """
    nb = nbformat.from_dict(solution)  # deep copy
    nb.metadata.pop("widgets", None)
    cells = []
    for part in classify(nb, name):
        cell = part.cell
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if part.kind == EXERCISE:
            cell.metadata["nbgrader"] = _metadata(grade_id("exercise", part.entry.id), solution=True)
        elif part.kind == CHECK:
            seed = hidden_seed(part.entry, secret=hidden_secret) if hidden_tests else None
            cell.source = check_source(part.entry, seed)
            cell.metadata["nbgrader"] = _metadata(grade_id("check", part.entry.id), grade=True, locked=True,
                                                  points=part.entry.points)
        elif part.kind == THINK:
            cells += _think_cells(cell, part.number, think_points)
            continue
        cells.append(cell)
    for index, cell in enumerate(cells):
        cell.metadata.setdefault("nbgrader", _metadata(f"cell-{index + 1}", locked=True))
    nb.cells = cells
    return nb


def _think_cells(cell, number: int, points: int) -> list:
    """A Think! cell as up to three: the text before the answer (locked), the answer, the text after (locked).

    The answer cell keeps its ``<!-- BEGIN SOLUTION -->`` markers: nbgrader replaces the region
    with its text stub, and only that cell is editable. The new cells' ids follow the Think! number, so that
    exporting twice gives the same file.
    """
    before, rest = cell.source.split(MD_BEGIN, 1)
    answer, after = rest.rsplit(MD_END, 1)
    out = [new_markdown_cell(before.rstrip(), id=f"think-{number}-prompt")] if before.strip() else []
    out.append(new_markdown_cell(f"{MD_BEGIN}\n{answer.strip()}\n{MD_END}", id=f"think-{number}-answer", metadata={
        "nbgrader": _metadata(grade_id("think", str(number)), solution=True, grade=points > 0, points=points)}))
    if after.strip():
        out.append(new_markdown_cell(after.strip(), id=f"think-{number}-after"))
    return out


def export(notebooks, out, *, think_points: int = 1, hidden_tests: bool = True,
           hidden_secret: str | None = None) -> list[Path]:
    """Write an nbgrader course directory ``out`` with one source assignment per solution notebook.

    Returns the written paths. Raises :class:`~vae_course.notebooks.NotebookFormatError` for a
    notebook that breaks the course's conventions (nothing is written then).
    """
    out = Path(out)
    converted = [(path.stem, nbgrader_notebook(read_solution(path), path.name, think_points=think_points,
                                               hidden_tests=hidden_tests, hidden_secret=hidden_secret))
                 for path in map(Path, notebooks)]
    written = []
    for stem, nb in converted:
        target = out / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(target)
    config = out / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
        written.append(config)
    return written
