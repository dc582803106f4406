"""What a student meets in notebooks/: no answer given away, and wrong answers never break the notebook.

* No line of a solution (12 characters or more) appears anywhere in the student notebook: not in a
  hint, a nearby code cell, or the prose.
* No Think!/Predict prompt shares its cell with its answer: the student writes in a cell of their own.
* A student notebook in which every exercise is answered wrongly runs top to bottom: each check gives
  its verdict, the later cells go on with the course's reference (vae_course.exercises), and no prose
  guard fails (the kernels run with VAE_COURSE_STRICT_CLAIMS=1: a guard that the reference does not
  satisfy is a course bug, and fails here).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vae_course.checks import REGISTRY
from vae_course.conventions import CODE_BEGIN, CODE_END
from vae_course.notebooks import MD_PROMPT, exercise_id

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
MIN_LENGTH = 12  # shorter lines ("return z", "x = x + 1") are not an answer given away


def solution_lines(path: Path) -> set[str]:
    """Every line of 12+ characters inside a ### BEGIN/END SOLUTION region of the solution notebook."""
    lines = set()
    for cell in nbformat.read(ROOT / "solutions" / path.name, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if text in (CODE_BEGIN, CODE_END):
                inside = text == CODE_BEGIN
            elif inside and len(text) >= MIN_LENGTH and not text.startswith("#"):
                lines.add(text)
    return lines


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_no_line_of_a_solution_appears_in_the_student_notebook(path):
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    given_away = sorted(line for line in solution_lines(path) if line in text)
    assert not given_away, f"{path.name} shows solution lines: {given_away}"


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_no_think_prompt_holds_its_own_answer(path):
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and cell.source.startswith(("**Think!**", "**Predict.**")):
            assert "**Answer.**" not in cell.source, f"{path.name}, cell {index + 1}: the answer sits under its prompt"
            following = cells[index + 1] if index + 1 < len(cells) else None
            assert following is not None and following.source == MD_PROMPT, \
                f"{path.name}, cell {index + 1}: no empty answer cell follows the prompt"


WITH_EXERCISES = [path for path in STUDENT if any(e.notebook == path.stem for e in REGISTRY.values())]


@pytest.mark.slow
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_a_notebook_with_every_exercise_answered_wrongly_runs_to_the_end(path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_STRICT_CLAIMS", "1")
    # the kernel imports this checkout's package and the catalogue of wrong answers
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(TESTS)]))
    nb = nbformat.read(path, as_version=4)
    answered = []
    for cell in nb.cells:
        ex_id = exercise_id(cell) if cell.cell_type == "code" else None
        if ex_id is not None:
            function = REGISTRY[ex_id].function
            cell.source = f"from _wrong_answers import wrong_answer\n{function} = wrong_answer({ex_id!r})"
            answered.append(ex_id)
    # Any error outside the checks' own verdicts stops here, naming the cell (cells tagged
    # raises-exception are the only ones allowed to raise).
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    verdicts = [output.get("data", {}).get("text/plain", "") for cell in nb.cells if cell.cell_type == "code"
                for output in cell.outputs if "[failed]" in output.get("data", {}).get("text/plain", "")
                or "[error]" in output.get("data", {}).get("text/plain", "")]
    assert len(verdicts) >= len(answered), f"each wrong answer gets a failing verdict: {answered}, got {verdicts}"
    assert not any("[passed]" in output.get("data", {}).get("text/plain", "")
                   for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs), \
        "a wrong answer passed its check"


FACTORIES = {"randn", "rand", "randint", "normal", "zeros", "ones", "full", "empty", "eye", "arange", "linspace",
             "logspace", "tensor", "as_tensor"}


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_every_solution_creates_its_tensors_on_the_device_of_its_inputs(path):
    """A tensor made without device= lands on the CPU: the solution then breaks when the model is on CUDA or MPS."""
    import ast

    made_on_the_cpu = []
    for cell in nbformat.read(ROOT / "solutions" / path.name, as_version=4).cells:
        if cell.cell_type != "code" or exercise_id(cell) is None:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                    and node.func.attr in FACTORIES and not any(k.arg == "device" for k in node.keywords)):
                made_on_the_cpu.append(f"{exercise_id(cell)}: {ast.get_source_segment(cell.source, node)}")
    assert not made_on_the_cpu, f"use device=<an input's>.device, or a *_like function: {made_on_the_cpu}"
