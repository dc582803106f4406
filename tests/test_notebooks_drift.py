"""Student notebooks vs. solutions: the drift test, the generator's rules, the registry and the template.

``notebooks/`` is generated from ``solutions/`` by :mod:`vae_course.notebooks`;
it must never be edited by hand, and must be regenerated whenever a solution
changes. These tests say exactly how to fix a failure.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vae_course.checks import REGISTRY, Exercise
from vae_course.notebooks import (MD_PROMPT, NotebookFormatError, exercise_id, make_student,
                                  make_student_notebook, render)

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
STUDENTS = REPO / "notebooks"
SOLUTION_PATHS = sorted(SOLUTIONS.glob("*.ipynb"))
HOW_TO_FIX = "run `vae-course make-student` (or `make student-notebooks`) and commit notebooks/"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# --------------------------------------------------------------------------- drift

def test_there_are_solution_notebooks():
    assert SOLUTION_PATHS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_student_notebook_matches_generator_output(solution):
    student = STUDENTS / solution.name
    assert student.exists(), f"notebooks/{solution.name} is missing: {HOW_TO_FIX}."
    expected = render(make_student_notebook(read(solution), solution.name))
    actual = student.read_text(encoding="utf-8")
    assert actual == expected, (
        f"notebooks/{solution.name} differs from what the generator makes of solutions/{solution.name} "
        f"(was it edited by hand, or the solution changed since?): {HOW_TO_FIX}.")


def test_every_solution_has_a_student_twin_and_vice_versa():
    solutions = {p.name for p in SOLUTION_PATHS}
    students = {p.name for p in STUDENTS.glob("*.ipynb")}
    assert not solutions - students, f"no student version of {sorted(solutions - students)}: {HOW_TO_FIX}."
    assert not students - solutions, (f"notebooks/ has {sorted(students - solutions)} with no solution: "
                                      "delete them (notebooks/ holds only generated files).")


def test_make_student_regenerates_every_notebook_identically(tmp_path):
    written = make_student(SOLUTIONS, tmp_path)
    assert sorted(p.name for p in written) == [p.name for p in SOLUTION_PATHS]
    for path in written:
        assert path.read_bytes() == (STUDENTS / path.name).read_bytes(), f"{path.name}: {HOW_TO_FIX}."


# --------------------------------------------------------------------------- the generator, on small notebooks

@pytest.fixture
def toy_exercise(monkeypatch) -> Exercise:
    """Exercise 99.1 (`toy_mean`) registered only for the duration of a test."""
    entry = Exercise(id="99.1", notebook="99_toy", function="toy_mean", title='the "toy" mean',
                     contract="toy_mean(x: (B, D)) -> (D,)", points=1, body=lambda fn, t: None)
    monkeypatch.setitem(REGISTRY, "99.1", entry)
    return entry


EXERCISE_SOURCE = '''import torch


def toy_mean(x):
    """Mean over the batch: x (B, D) -> (D,)."""
    if x.dim() == 2:
        ### BEGIN SOLUTION
        total = x.sum(dim=0)
        return total / len(x)
        ### END SOLUTION
    raise ValueError("expected a 2-D tensor")'''


def toy_notebook(*extra_cells, exercise_source: str = EXERCISE_SOURCE, tags=("exercise-99.1",)):
    exercise = new_code_cell(exercise_source, metadata={"tags": list(tags)}, execution_count=3,
                             outputs=[new_output("stream", name="stdout", text="hi\n")])
    exercise.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    cells = [
        new_markdown_cell("# 99 · Toy\n\n**In this notebook you will** test the generator."),
        exercise,
        new_code_cell("checks.toy_mean(toy_mean)", execution_count=4,
                      outputs=[new_output("execute_result", data={"text/plain": "ok"}, execution_count=4)]),
        *extra_cells,
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_solution_region_is_replaced_by_the_stub_at_its_indentation(toy_exercise):
    student = make_student_notebook(toy_notebook(), "99_toy.ipynb")
    source = student.cells[1].source
    assert "total" not in source and "BEGIN SOLUTION" not in source and "END SOLUTION" not in source
    assert '        raise NotImplementedError("Exercise 99.1: the \\"toy\\" mean")' in source.splitlines()
    # everything outside the markers is kept, in order
    assert source.startswith('import torch\n\n\ndef toy_mean(x):\n    """Mean over the batch')
    assert source.endswith('    raise ValueError("expected a 2-D tensor")')
    # the stub is valid Python and raises with the exercise's id and title
    namespace = {}
    exec(compile(source, "student", "exec"), namespace)
    import torch

    with pytest.raises(NotImplementedError, match='Exercise 99.1: the "toy" mean'):
        namespace["toy_mean"](torch.ones(2, 3))


def test_outputs_counts_and_run_metadata_are_stripped_and_the_input_is_untouched(toy_exercise):
    solution = toy_notebook()
    before = render(solution)
    student = make_student_notebook(solution, "99_toy.ipynb")
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "execution" not in cell.metadata
    assert render(solution) == before, "the solution notebook passed in must not be modified"
    assert student.metadata == solution.metadata
    nbformat.validate(student)


THINK = new_markdown_cell("**Think!** Why?\n\n<!-- BEGIN SOLUTION -->\nBecause **reasons**.\n"
                          "<!-- END SOLUTION -->\n\nAnd a second question?\n<!-- BEGIN SOLUTION -->"
                          "Secret two.<!-- END SOLUTION -->")


def _think_cells(student):
    """The cells made from THINK (the toy notebook's fourth cell onwards, up to its end)."""
    return [cell for cell in student.cells[3:] if cell.cell_type == "markdown"]


def test_classroom_notebooks_give_each_think_prompt_an_empty_answer_cell_of_its_own(toy_exercise):
    student = make_student_notebook(toy_notebook(THINK), "99_toy.ipynb", answers="omitted")
    cells = _think_cells(student)
    assert [cell.source for cell in cells] == ["**Think!** Why?", MD_PROMPT, "And a second question?", MD_PROMPT]
    assert [cell.metadata.get("tags") for cell in cells] == [None, ["your-answer"], None, ["your-answer"]]
    assert cells[0].id == THINK.id, "the prompt keeps the solution cell's id"
    assert len({cell.id for cell in student.cells}) == len(student.cells), "cell ids stay unique"
    nbformat.validate(student)


def test_self_study_notebooks_fold_each_answer_in_a_cell_after_the_students_own(toy_exercise):
    solution = toy_notebook(THINK)
    student = make_student_notebook(solution, "99_toy.ipynb")  # the committed build
    cells = _think_cells(student)
    assert [cell.source.split("\n")[0] for cell in cells] == [
        "**Think!** Why?", MD_PROMPT, "<details><summary>Show an answer (try first)</summary>",
        "And a second question?", MD_PROMPT, "<details><summary>Show an answer (try first)</summary>"]
    assert "Because **reasons**." in cells[2].source and "Secret two." in cells[5].source
    assert not any("SOLUTION" in cell.source for cell in cells)
    assert not any("reasons" in cell.source for cell in cells[:2]), "no prompt cell holds its own answer"
    assert "solutions notebook" not in "".join(cell.source for cell in cells), \
        "teachers withhold the solutions: the prompt must not point there"
    again = make_student_notebook(solution, "99_toy.ipynb")
    assert [cell.id for cell in again.cells] == [cell.id for cell in student.cells], "ids are stable"
    nbformat.validate(student)


def test_the_readers_version_keeps_outputs_but_not_those_of_exercises_and_checks(toy_exercise):
    solution = toy_notebook(new_code_cell("print(2)", execution_count=5,
                                          outputs=[new_output("stream", name="stdout", text="2\n")]))
    reader = make_student_notebook(solution, "99_toy.ipynb", keep_outputs=True)
    exercise, check, other = [cell for cell in reader.cells if cell.cell_type == "code"]
    assert exercise.outputs == [] and "NotImplementedError" in exercise.source
    assert check.outputs == [], "the check's output came from the solution, not from the stub shown"
    assert other.outputs[0]["text"] == "2\n" and other.execution_count == 5


def test_an_unknown_answers_style_is_refused(toy_exercise):
    with pytest.raises(ValueError, match="collapsed"):
        make_student_notebook(toy_notebook(), "99_toy.ipynb", answers="hidden")


def test_uses_exercise_cells_get_raises_exception(toy_exercise):
    uses = new_code_cell("toy_mean(data)", metadata={"tags": ["uses-exercise", "nbval-ignore-output"]})
    already = new_code_cell("toy_mean(data)", metadata={"tags": ["uses-exercise", "raises-exception"]})
    plain = new_code_cell("print(1)")
    student = make_student_notebook(toy_notebook(uses, already, plain), "99_toy.ipynb")
    assert student.cells[3].metadata.tags == ["uses-exercise", "nbval-ignore-output", "raises-exception"]
    assert student.cells[4].metadata.tags == ["uses-exercise", "raises-exception"]
    assert "tags" not in student.cells[5].metadata
    assert "raises-exception" not in student.cells[1].metadata.tags, "the exercise cell itself runs fine"


def test_exercise_id_reads_the_tag():
    assert exercise_id(new_code_cell("", metadata={"tags": ["x", "exercise-2.10"]})) == "2.10"
    assert exercise_id(new_code_cell("", metadata={"tags": ["exercise-two"]})) is None
    assert exercise_id(new_markdown_cell("")) is None


def broken(source=None, tags=("exercise-99.1",), extra=()):
    return toy_notebook(*extra, exercise_source=source if source is not None else EXERCISE_SOURCE, tags=tags)


MALFORMED = {
    "begin without end": (broken(EXERCISE_SOURCE.replace("        ### END SOLUTION\n", "")), "never closed"),
    "end without begin": (broken(EXERCISE_SOURCE.replace("        ### BEGIN SOLUTION\n",
                                                         "        ### END SOLUTION\n        ### BEGIN SOLUTION\n")),
                          "### END SOLUTION without ### BEGIN SOLUTION"),
    "nested begin": (broken(EXERCISE_SOURCE.replace("total = x.sum(dim=0)",
                                                    "### BEGIN SOLUTION\n        total = x.sum(dim=0)")), "nested"),
    "no markers": (broken("def toy_mean(x):\n    return x.mean(0)"), "no ### BEGIN SOLUTION"),
    "unknown exercise id": (broken(tags=("exercise-98.7",)), "exercise-98.7 has no check"),
    "wrong function name": (broken(EXERCISE_SOURCE.replace("def toy_mean", "def toy_average")), "must define `toy_mean`"),
    "function only nested": (broken("def outer():\n    def toy_mean(x):\n        ### BEGIN SOLUTION\n"
                                    "        return x\n        ### END SOLUTION\n    return toy_mean"),
                             "must define `toy_mean`"),
    "exercise twice": (broken(extra=[new_code_cell(EXERCISE_SOURCE, metadata={"tags": ["exercise-99.1"]})]),
                       "appears twice"),
    "solution outside an exercise": (broken(extra=[new_code_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION")]),
                                     "outside a cell tagged"),
    "markdown unbalanced": (broken(extra=[new_markdown_cell("<!-- BEGIN SOLUTION -->\nanswer")]), "unbalanced"),
    "markdown end before begin": (broken(extra=[new_markdown_cell("<!-- END SOLUTION -->a<!-- BEGIN SOLUTION -->")]),
                                  "comes before"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_solutions_are_reported_with_their_cell(toy_exercise, case):
    notebook, words = MALFORMED[case]
    with pytest.raises(NotebookFormatError) as info:
        make_student_notebook(notebook, "99_toy.ipynb")
    message = str(info.value)
    assert words in message
    assert re.search(r"99_toy\.ipynb, cell \d+", message), message


def test_make_student_writes_rendered_notebooks_and_rejects_bad_folders(toy_exercise, tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    nbformat.write(toy_notebook(), src / "99_toy.ipynb")
    (written,) = make_student(src, dst)
    assert written == dst / "99_toy.ipynb"
    assert written.read_text(encoding="utf-8") == render(make_student_notebook(read(src / "99_toy.ipynb"), "x"))
    assert written.read_text(encoding="utf-8").endswith("}\n")

    with pytest.raises(NotebookFormatError, match="has no solution notebooks"):
        make_student(tmp_path / "nothing-here", dst)
    (src / "98_broken.ipynb").write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(NotebookFormatError, match="98_broken.ipynb is not a readable notebook"):
        make_student(src, dst)


# --------------------------------------------------------------------------- registry <-> solutions

def exercise_cells() -> dict[str, list[tuple[str, int]]]:
    """exercise id -> [(notebook stem, cell index), ...] over all solution notebooks."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in SOLUTION_PATHS:
        for index, cell in enumerate(read(path).cells):
            ex_id = exercise_id(cell) if cell.cell_type == "code" else None
            if ex_id is not None:
                found.setdefault(ex_id, []).append((path.stem, index))
    return found


@pytest.mark.parametrize("ex_id", sorted(REGISTRY, key=lambda i: [int(p) for p in i.split(".")]))
def test_every_registered_exercise_is_in_exactly_one_solution_notebook(ex_id):
    entry = REGISTRY[ex_id]
    places = exercise_cells().get(ex_id, [])
    assert places, (f"Exercise {ex_id} ({entry.function}) is registered in vae_course.checks but no cell of "
                    f"solutions/{entry.notebook}.ipynb is tagged exercise-{ex_id}.")
    assert len(places) == 1, f"Exercise {ex_id} is tagged in several cells: {places}"
    assert places[0][0] == entry.notebook, (f"Exercise {ex_id} is registered for notebook {entry.notebook!r} "
                                            f"but tagged in {places[0][0]!r}.")
    assert ex_id.split(".")[0] == str(int(entry.notebook[:2])), f"Exercise {ex_id} should belong to notebook " \
                                                                 f"{int(ex_id.split('.')[0]):02d}"


def test_every_tagged_exercise_cell_is_registered():
    unknown = {ex_id: places for ex_id, places in exercise_cells().items() if ex_id not in REGISTRY}
    assert not unknown, f"tagged exercise cells with no check in vae_course.checks: {unknown}"


# --------------------------------------------------------------------------- the notebook template

TITLE = re.compile(r"^# (\d\d) · \S.*$")


def markdown_headings(nb) -> list[str]:
    return [line.strip() for cell in nb.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("#")]


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_solution_notebook_follows_the_template(solution):
    nb = read(solution)
    first = nb.cells[0]
    title_line = first.source.splitlines()[0] if first.source else ""
    assert first.cell_type == "markdown" and TITLE.match(title_line), \
        f"the first cell must start with '# NN · Title', got {title_line!r}"
    assert TITLE.match(title_line).group(1) == solution.name[:2], "the title's number must match the file name"
    assert "In this notebook you will" in first.source, "the first cell lists the learning objectives"

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and "set_seed(" in code_cells[0].source and "get_device(" in code_cells[0].source, \
        "the first code cell is the setup cell: set_seed(0) and device = get_device()"

    headings = markdown_headings(nb)
    assert "## Recap" in headings, "the notebook needs a '## Recap' section"
    assert "## References" in headings, "the notebook needs a '## References' section"
    assert headings.index("## Recap") < headings.index("## References")


@pytest.mark.parametrize("solution", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_each_exercise_is_followed_by_its_check(solution):
    cells = read(solution).cells
    for index, cell in enumerate(cells):
        ex_id = exercise_id(cell) if cell.cell_type == "code" else None
        if ex_id is None or ex_id not in REGISTRY:
            continue
        function = REGISTRY[ex_id].function
        following = cells[index + 1] if index + 1 < len(cells) else None
        assert following is not None and following.cell_type == "code" and \
            f"checks.{function}(" in following.source, \
            f"{solution.name}, cell {index + 1}: exercise {ex_id} must be followed by a cell calling checks.{function}(...)"
        markdown_before = [c.source for c in cells[:index] if c.cell_type == "markdown"]
        assert markdown_before and f"Exercise {ex_id}" in markdown_before[-1], \
            f"{solution.name}: the Markdown cell above exercise {ex_id} should be titled '### Exercise {ex_id} — ...'"


GUARDED = new_code_cell('x = 2\nclaim("x is small", x < 5)  # a guard in the middle stays\nx = x + 1\nplot(x)\n'
                        '# the guards of this cell\nclaim("x is three", x == 3)\n'
                        'for value in (1, 2):\n    claim("positive", value > 0)\n')


def test_trailing_guards_move_to_a_collapsed_cell_of_their_own(toy_exercise):
    student = make_student_notebook(toy_notebook(GUARDED), "99_toy.ipynb")
    code, guards = student.cells[3], student.cells[4]
    assert code.source == 'x = 2\nclaim("x is small", x < 5)  # a guard in the middle stays\nx = x + 1\nplot(x);', \
        "the teaching code stays; its last expression is silenced now that it ends the cell"
    assert guards.source.splitlines()[1:] == ["# the guards of this cell", 'claim("x is three", x == 3)',
                                              "for value in (1, 2):", '    claim("positive", value > 0)']
    assert guards.metadata == {"tags": ["guard"], "jupyter": {"source_hidden": True}}
    assert guards.id == f"{GUARDED.id}-guards"
    namespace = {"plot": lambda x: x, "claim": lambda statement, ok: None}
    exec(code.source + "\n" + guards.source, namespace)  # still one program, in the same order
    assert namespace["x"] == 3


def test_a_cell_of_guards_only_stays_as_it_is(toy_exercise):
    only = new_code_cell('claim("one", True)')
    student = make_student_notebook(toy_notebook(only), "99_toy.ipynb")
    assert student.cells[3].source == 'claim("one", True)' and len(student.cells) == 4
