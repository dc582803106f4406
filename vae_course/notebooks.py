"""Generate the student notebooks from the solution notebooks (one source of truth).

Conventions in ``solutions/*.ipynb`` (nbgrader's markers; parsed by :mod:`vae_course.conventions`,
which the grader shares):

* An exercise is a code cell tagged ``exercise-<id>`` (e.g. ``exercise-2.1``)
  that defines the function named in the check registry. Its answer sits
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student version
  replaces that region with ``raise NotImplementedError("Exercise <id>: ...")``
  at the same indentation.
* A "Think!" answer in a Markdown cell sits between ``<!-- BEGIN SOLUTION -->``
  and ``<!-- END SOLUTION -->``; the student version shows a prompt instead.
* A cell tagged ``uses-exercise`` calls the student's function beyond its
  check (e.g. trains with the student's training step). In the student
  version it is tagged ``raises-exception`` so nbval accepts the
  NotImplementedError it raises until the exercise is done.

All outputs, execution counts and execution timings (cell metadata) are
stripped from the student version, so it changes only when a solution's content does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from .conventions import (  # noqa: F401 - exercise_id, defined_functions and the markers: re-exported
    CODE_BEGIN,
    CODE_END,
    EXERCISE_TAG,
    MD_BEGIN,
    MD_END,
    defined_functions,
    exercise_id,
    replace_solution_regions,
)

MD_PROMPT = "*Write your answer here before you read on.*"
ANSWERS = ("collapsed", "omitted")
"""What a student notebook does with a Think! answer: keep it folded under the prompt (self-study, the
committed build) or leave only the prompt (a classroom: ``vae-course make-student --classroom``)."""
CHECK_CALL = re.compile(r"^\s*checks\.\w+\(", re.MULTILINE)
# Cell metadata written when a notebook is executed (nbclient's timings, JupyterLab's ExecuteTime):
# dropped from student notebooks so they change only when the solutions' content changes.
RUN_METADATA = ("execution", "ExecuteTime")


class NotebookFormatError(ValueError):
    """A solution notebook breaks the conventions above; the message names the cell."""


def _strip_code(source: str, ex_id: str, title: str, where: str) -> str:
    message = json.dumps(f"Exercise {ex_id}: {title}", ensure_ascii=False)  # a valid, quoted literal
    return replace_solution_regions(source, lambda indent: f"{indent}raise NotImplementedError({message})", where,
                                    NotebookFormatError)


def _strip_markdown(source: str, where: str, answers: str = "collapsed") -> str:
    pattern = re.compile(re.escape(MD_BEGIN) + r"(.*?)" + re.escape(MD_END), re.DOTALL)
    if source.count(MD_BEGIN) != source.count(MD_END):
        raise NotebookFormatError(f"{where}: unbalanced {MD_BEGIN} / {MD_END}.")

    def replace(match: re.Match) -> str:
        if answers == "omitted":
            return MD_PROMPT
        return f"{MD_PROMPT}\n\n<details><summary>Show an answer (try first)</summary>\n\n{match.group(1).strip()}\n\n</details>"

    stripped = pattern.sub(replace, source)
    if MD_BEGIN in stripped or MD_END in stripped:
        raise NotebookFormatError(f"{where}: {MD_END} comes before its {MD_BEGIN}.")
    return stripped


def make_student_notebook(solution: nbformat.NotebookNode, name: str = "notebook", *, answers: str = "collapsed",
                          keep_outputs: bool = False) -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (the input is not modified).

    answers: ``"collapsed"`` (Think! answers folded under their prompt) or ``"omitted"`` (a classroom).
    keep_outputs: keep the stored outputs of every cell except exercises and their checks (whose
    outputs came from the solution) - the reader's version the course website shows.
    """
    from .checks import REGISTRY

    if answers not in ANSWERS:
        raise ValueError(f"answers must be one of {ANSWERS}, got {answers!r}")
    nb = nbformat.from_dict(solution)  # deep copy
    nb.metadata.pop("widgets", None)  # widget state of the last run (random model ids): an output, not content
    seen = set()
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index + 1}"
        tags = list(cell.get("metadata", {}).get("tags", []))
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
        cell.get("metadata", {}).pop("tolerance", None)  # compares stored outputs; student notebooks store none
        if cell.cell_type == "markdown":
            cell.source = _strip_markdown(cell.source, where, answers)
            continue
        if cell.cell_type != "code":
            continue
        ex_id = exercise_id(cell)
        if not keep_outputs or ex_id is not None or CHECK_CALL.search(cell.source):
            cell.outputs = []
            cell.execution_count = None
        if ex_id is not None:
            if ex_id not in REGISTRY:
                raise NotebookFormatError(f"{where}: tag exercise-{ex_id} has no check in vae_course.checks.REGISTRY.")
            if ex_id in seen:
                raise NotebookFormatError(f"{where}: exercise {ex_id} appears twice.")
            seen.add(ex_id)
            entry = REGISTRY[ex_id]
            if entry.function not in defined_functions(cell.source):
                raise NotebookFormatError(f"{where}: exercise {ex_id} must define `{entry.function}`.")
            if CODE_BEGIN not in cell.source:
                raise NotebookFormatError(f"{where}: exercise {ex_id} has no {CODE_BEGIN} marker.")
            cell.source = _strip_code(cell.source, ex_id, entry.title, where)
        elif CODE_BEGIN in cell.source:
            raise NotebookFormatError(f"{where}: {CODE_BEGIN} outside a cell tagged exercise-<id>.")
        if "uses-exercise" in tags and "raises-exception" not in tags:
            cell.metadata["tags"] = tags + ["raises-exception"]
    return nb


def make_student(src: str | Path = "solutions", dst: str | Path = "notebooks", *, answers: str = "collapsed",
                 keep_outputs: bool = False) -> list[Path]:
    """Write the student version of every ``src/*.ipynb`` into ``dst``; returns the written paths.

    ``answers`` and ``keep_outputs`` as in :func:`make_student_notebook`.
    """
    src, dst = Path(src), Path(dst)
    paths = sorted(src.glob("*.ipynb"))
    if not paths:
        raise NotebookFormatError(f"{src} has no solution notebooks (*.ipynb).")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        try:
            solution = nbformat.read(path, as_version=4)
        except Exception as err:  # not JSON, or not a notebook
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise NotebookFormatError(f"{path.name} is not a readable notebook ({first_line}).") from None
        student = make_student_notebook(solution, path.name, answers=answers, keep_outputs=keep_outputs)
        target = dst / path.name
        target.write_text(render(student), encoding="utf-8")
        written.append(target)
    return written


def render(nb: nbformat.NotebookNode) -> str:
    """Serialise a notebook exactly as the generator writes it (used by the drift test)."""
    return nbformat.writes(nb) + "\n"
