"""``vae-course export otter``: a solution notebook in otter-grader's assign format.

otter-grader (https://otter-grader.readthedocs.io) reads a *master* notebook in which raw
cells mark the blocks: ``# ASSIGNMENT CONFIG`` first, then per question ``# BEGIN QUESTION``
(its name and points), ``# BEGIN PROMPT`` (what students get), ``# BEGIN SOLUTION``,
``# BEGIN TESTS``, each closed by its ``# END ...`` cell. ``otter assign`` writes the student
notebook and the autograder from it. The course's ``### BEGIN SOLUTION`` markers are not
otter's, so each exercise (:func:`vae_course.exports.cells.classify`) becomes a question:

========== =====================================================================================
prompt     the course's student cell (:func:`vae_course.notebooks.make_student_notebook`): the
           answer replaced by ``raise NotImplementedError("Exercise <id>: ...")``, so the
           notebook's ``solved_or_reference`` cells still fall back to the course's reference
solution   the answer cell, all of it inside otter's ``# BEGIN SOLUTION NO PROMPT`` /
           ``# END SOLUTION``: the student notebook keeps nothing of it (an empty cell)
tests      one test: the course's check, which raises ``AssertionError`` with the check's own
           message unless it passes; points from ``checks.REGISTRY``
========== =====================================================================================

The notebook's own check cell is replaced by otter's ``grader.check("q<id>")``. Every other
cell is taken from the student version, so a Think! answer is left out (its prompt and an empty
answer cell stay): otter grades no free-text answers without Gradescope.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_raw_cell

from ..conventions import safe_id
from ..notebooks import CODE_BEGIN, CODE_END, make_student_notebook, student_cells
from .cells import CHECK, EXERCISE, classify, read_solution


def question_name(ex_id: str) -> str:
    """The otter question of an exercise: ``"2.1"`` -> ``"q2_1"``."""
    return f"q{safe_id(ex_id)}"


def _config(name: str) -> str:
    return "\n".join(["# ASSIGNMENT CONFIG", f"name: {name}", "init_cell: true", "check_all_cell: false",
                      "export_cell: false", "run_tests: false", "solutions_pdf: false", "generate: true"])


def _solution_source(source: str) -> str:
    """The whole answer cell inside otter's solution block, without the course's own markers."""
    lines = [line for line in source.splitlines() if line.strip() not in (CODE_BEGIN, CODE_END)]
    return "\n".join(["# BEGIN SOLUTION NO PROMPT", *lines, "# END SOLUTION"])


def _test_source(entry) -> str:
    return (f"_result = checks.{entry.function}({entry.function})\n"
            "assert _result.passed, _result.text()")


def _question(entry, prompt_cell, solution_cell) -> list:
    prompt = nbformat.from_dict(prompt_cell)
    prompt.metadata.pop("tags", None)
    return [
        new_raw_cell(f"# BEGIN QUESTION\nname: {question_name(entry.id)}\npoints: {entry.points}"),
        new_raw_cell("# BEGIN PROMPT"), prompt, new_raw_cell("# END PROMPT"),
        new_raw_cell("# BEGIN SOLUTION"), new_code_cell(_solution_source(solution_cell.source)),
        new_raw_cell("# END SOLUTION"),
        new_raw_cell("# BEGIN TESTS"), new_code_cell(_test_source(entry)), new_raw_cell("# END TESTS"),
        new_raw_cell("# END QUESTION"),
    ]


def otter_notebook(solution, name: str = "notebook"):
    """The otter master notebook of a solution notebook (the input is not modified)."""
    stem = Path(name).stem
    student = make_student_notebook(solution, name, answers="omitted")
    cells = [new_raw_cell(_config(stem))]
    seen: set = set()
    for index, part in enumerate(classify(nbformat.from_dict(solution), name)):
        made = student_cells(part.cell, f"{name}, cell {index + 1}", answers="omitted", seen=seen)
        if part.kind == EXERCISE:
            cells += _question(part.entry, made[0], part.cell)
        elif part.kind != CHECK:  # otter's init cell and grader.check(...) take the check cell's place
            cells += made
    nb = nbformat.from_dict(student)
    nb.cells = cells
    return nb


def export(notebooks, out) -> list[Path]:
    """Write ``out/<stem>.ipynb`` (otter's master notebook) for each solution notebook; returns the paths.

    Then ``otter assign out/<stem>.ipynb DIST`` writes ``DIST/student`` and ``DIST/autograder``.
    """
    out = Path(out)
    converted = [(path.stem, otter_notebook(read_solution(path), path.name)) for path in map(Path, notebooks)]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, nb in converted:
        target = out / f"{stem}.ipynb"
        target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(target)
    return written
