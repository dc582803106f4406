"""Generate the student notebooks from the solution notebooks (one source of truth).

Conventions in ``solutions/*.ipynb`` (nbgrader's markers; parsed by :mod:`vae_course.conventions`,
which the grader shares):

* An exercise is a code cell tagged ``exercise-<id>`` (e.g. ``exercise-2.1``)
  that defines the function named in the check registry. Its answer sits
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student version
  replaces that region with ``raise NotImplementedError("Exercise <id>: ...")``
  at the same indentation.
* A "Think!" or "Predict." answer in a Markdown cell sits between ``<!-- BEGIN SOLUTION -->``
  and ``<!-- END SOLUTION -->``; the student version splits the cell: the prompt, an empty cell
  for the student's own answer, and the answer folded in a cell of its own (or left out for a classroom).
* A cell tagged ``uses-exercise`` calls the student's function beyond its
  check (e.g. trains with the student's training step). In the student
  version it is tagged ``raises-exception`` so nbval accepts the
  NotImplementedError it raises until the exercise is done.

All outputs, execution counts and execution timings (cell metadata) are
stripped from the student version, so it changes only when a solution's content does.
"""

from __future__ import annotations

import ast
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

MD_PROMPT = "*Your answer (double-click this cell to write it):*"
ANSWERS = ("collapsed", "omitted")
"""What a student notebook does with a Think! answer: keep it folded after the student's answer cell
(self-study, the committed build) or leave it out (a classroom: ``vae-course make-student --classroom``)."""
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


def _answer_cells(cell: nbformat.NotebookNode, where: str, answers: str) -> list[nbformat.NotebookNode]:
    """A Markdown cell with Think!/Predict answers, as the student sees it: one cell per part.

    Each answer becomes: the prompt before it (the original cell, keeping its id and metadata), an
    empty cell for the student's own answer (:data:`MD_PROMPT`, tagged ``your-answer``), and - in
    the self-study build - the answer folded in a cell of its own; text after the last answer
    stays a cell of its own. The new cells' ids derive from the original's, so the build is stable.
    """
    source = cell.source
    if source.count(MD_BEGIN) != source.count(MD_END):
        raise NotebookFormatError(f"{where}: unbalanced {MD_BEGIN} / {MD_END}.")
    pieces = re.split(re.escape(MD_BEGIN) + r"(.*?)" + re.escape(MD_END), source, flags=re.DOTALL)
    texts, solutions = pieces[0::2], pieces[1::2]
    if any(MD_BEGIN in text or MD_END in text for text in texts):
        raise NotebookFormatError(f"{where}: {MD_END} comes before its {MD_BEGIN}.")
    ident = cell.get("id")

    def new_cell(text: str, suffix: str, tags: tuple = ()) -> nbformat.NotebookNode:
        made = nbformat.v4.new_markdown_cell(text)
        made.metadata = {"tags": list(tags)} if tags else {}
        if ident is None:
            made.pop("id", None)
        else:
            made.id = f"{ident}-{suffix}"[:64]
        return made

    cells = []
    for number, (prompt, answer) in enumerate(zip(texts, solutions), start=1):
        if prompt.strip():
            if not cells:
                first = nbformat.from_dict(cell)
                first.source = prompt.strip()
                cells.append(first)
            else:
                cells.append(new_cell(prompt.strip(), f"prompt{number}"))
        cells.append(new_cell(MD_PROMPT, f"yours{number}", ("your-answer",)))
        if answers == "collapsed":
            cells.append(new_cell(f"<details><summary>Show an answer (try first)</summary>\n\n{answer.strip()}\n\n"
                                  "</details>", f"answer{number}"))
    if texts[-1].strip():
        cells.append(new_cell(texts[-1].strip(), "after"))
    return cells


GUARD_TAG = "guard"
GUARD_HEADER = "# Guards: each line checks that a sentence of the text above holds for the numbers printed above."


def _is_guard(statement: ast.stmt) -> bool:
    """``claim(...)``, or a ``for`` loop of nothing but ``claim(...)`` lines."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        return getattr(statement.value.func, "id", None) == "claim"
    return isinstance(statement, ast.For) and all(_is_guard(inner) for inner in statement.body)


def _guard_cells(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """A code cell whose last statements are prose guards, as two cells: the teaching code, then the guards.

    The guards (:func:`vae_course.claims.claim`) are for the course's tests, not for the student's reading:
    they move into a following cell whose input JupyterLab shows collapsed (``source_hidden``), tagged
    ``guard``; it runs as before. Only the trailing guards move (one in the middle of a cell may check a
    value that later lines change). When the code left ends in an expression, a ``;`` keeps it from
    being displayed now that it is the cell's last line.
    """
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        return [cell]
    first_guard = len(body)
    while first_guard > 0 and _is_guard(body[first_guard - 1]):
        first_guard -= 1
    if first_guard == len(body) or first_guard == 0:
        return [cell]
    lines = cell.source.splitlines()
    cut = body[first_guard].lineno - 1
    while cut > 0 and lines[cut - 1].lstrip().startswith("#"):  # a comment right above the guards goes along
        cut -= 1
    code = "\n".join(lines[:cut]).rstrip()
    last = body[first_guard - 1]
    if isinstance(last, ast.Expr) and not code.endswith(";"):
        code += ";"
    guards = nbformat.v4.new_code_cell(GUARD_HEADER + "\n" + "\n".join(lines[cut:]).strip())
    guards.metadata = {"tags": [GUARD_TAG], "jupyter": {"source_hidden": True}}
    if cell.get("id") is None:
        guards.pop("id", None)
    else:
        guards.id = f"{cell.id}-guards"[:64]
    cell.source = code
    return [cell, guards]


def student_cells(cell: nbformat.NotebookNode, where: str, *, answers: str = "collapsed", keep_outputs: bool = False,
                  seen: set | None = None) -> list[nbformat.NotebookNode]:
    """The student version of one solution cell (a copy): usually one cell, several for Think! answers.

    where: how errors name the cell (``"02_elbo.ipynb, cell 7"``); seen: exercise ids met so far in
    this notebook (a repeated id is an error). See :func:`make_student_notebook`.
    """
    from .checks import REGISTRY

    cell = nbformat.from_dict(cell)
    seen = set() if seen is None else seen
    tags = list(cell.get("metadata", {}).get("tags", []))
    for key in RUN_METADATA:
        cell.get("metadata", {}).pop(key, None)
    cell.get("metadata", {}).pop("tolerance", None)  # compares stored outputs; student notebooks store none
    if cell.cell_type == "markdown":
        return _answer_cells(cell, where, answers) if MD_BEGIN in cell.source or MD_END in cell.source else [cell]
    if cell.cell_type != "code":
        return [cell]
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
    if ex_id is None and "claim(" in cell.source:
        return _guard_cells(cell)
    return [cell]


def make_student_notebook(solution: nbformat.NotebookNode, name: str = "notebook", *, answers: str = "collapsed",
                          keep_outputs: bool = False) -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (the input is not modified).

    answers: ``"collapsed"`` (each Think! answer folded in a cell after the student's own answer
    cell: self-study) or ``"omitted"`` (a classroom: only the prompt and the student's answer cell).
    keep_outputs: keep the stored outputs of every cell except exercises and their checks (whose
    outputs came from the solution) - the reader's version the course website shows.
    """
    if answers not in ANSWERS:
        raise ValueError(f"answers must be one of {ANSWERS}, got {answers!r}")
    nb = nbformat.from_dict(solution)  # deep copy
    nb.metadata.pop("widgets", None)  # widget state of the last run (random model ids): an output, not content
    seen: set = set()
    nb.cells = [made for index, cell in enumerate(nb.cells)
                for made in student_cells(cell, f"{name}, cell {index + 1}", answers=answers,
                                          keep_outputs=keep_outputs, seen=seen)]
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


WORDS_PER_MINUTE = 120      # careful reading of technical prose with formulas (typical rates: 100-150)
CODE_LINES_PER_MINUTE = 20  # reading a code cell and its output before running it
READING_TIME = re.compile(r"Reading time: about (\d+) minutes")


def reading_minutes(nb: nbformat.NotebookNode) -> int:
    """Minutes a first-timer needs to read a notebook (prose, math, code), rounded to 5; exercises not included.

    Words of the Markdown cells (display equations left out) at :data:`WORDS_PER_MINUTE`, lines of the code
    cells at :data:`CODE_LINES_PER_MINUTE`. Each notebook states it in its first cell ("Reading time: about
    N minutes"), and ``tests/test_reading_time.py`` keeps the statement within 15% of this estimate.
    """
    words = sum(len(re.sub(r"\$\$.*?\$\$", " ", cell.source, flags=re.S).split())
                for cell in nb.cells if cell.cell_type == "markdown")
    lines = sum(len(cell.source.splitlines()) for cell in nb.cells if cell.cell_type == "code")
    return max(5, 5 * round((words / WORDS_PER_MINUTE + lines / CODE_LINES_PER_MINUTE) / 5))
