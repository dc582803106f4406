"""Optional "Going deeper" sections can be skipped (issue 26; the convention is in docs/authoring-exercises.md).

A Markdown cell whose FIRST line is a heading whose text (after the ``#``s and an optional section number
such as ``3.1``) starts with "Going deeper" opens an optional section; it ends at the next heading (in any
Markdown cell, first line or not) of the same or a higher level (as many ``#``s or fewer). A reader who skips
it must lose nothing the rest of the notebook needs:

(a) no code cell after the section reads a name bound only by code cells inside it;
(b) the section's first cell says that the rest does not need it ("optional" in the heading is enough);
(c) no exercise (a cell tagged ``exercise-*``) sits inside it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
SOLUTION_PATHS = sorted((REPO / "solutions").glob("*.ipynb"))

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
OPENS = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+)?going deeper\b", re.IGNORECASE)
SAYS_OPTIONAL = re.compile(r"optional|can (?:safely )?(?:be )?skip|skip (?:it|this)|(?:not|never) needed|"
                           r"(?:does|do|will) not (?:need|use|rely)|nothing (?:later|after|below|that follows)",
                           re.IGNORECASE)


@dataclass
class Section:
    """An optional section: its cells are ``start`` (the opening Markdown cell) to ``stop`` (excluded)."""

    title: str
    start: int
    stop: int


def _headings(source: str) -> list[tuple[int, int, str]]:
    """(line index, level, text) of each Markdown heading of a cell, outside fenced code blocks."""
    found, fenced = [], False
    for number, line in enumerate(source.splitlines()):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            found.append((number, len(match.group(1)), match.group(2)))
    return found


def going_deeper_sections(nb: nbformat.NotebookNode) -> list[Section]:
    """The notebook's optional sections (see the module's docstring)."""
    sections = []
    for start, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        heads = _headings(cell.source)
        if not heads or heads[0][0] != 0 or not OPENS.match(heads[0][2]):
            continue
        level, stop = heads[0][1], len(nb.cells)
        if any(other <= level for _, other, _ in heads[1:]):
            stop = start + 1  # closed within its own cell
        else:
            for index in range(start + 1, len(nb.cells)):
                later = nb.cells[index]
                if later.cell_type == "markdown" and any(other <= level for _, other, _ in _headings(later.source)):
                    stop = index
                    break
        sections.append(Section(heads[0][2], start, stop))
    return sections


def _tree(source: str) -> ast.Module:
    """A code cell's source as Python (IPython's ``%magic`` and ``!shell`` lines left out)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def bound(source: str) -> set[str]:
    """Names a code cell binds: assignments, ``for``/``with``/``except`` targets, imports, ``def``/``class``, parameters."""
    names = set()
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names


def read(source: str) -> set[str]:
    return {node.id for node in ast.walk(_tree(source)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What breaks the convention, one line each (empty when the notebook's optional sections can be skipped)."""
    found = []
    sections = going_deeper_sections(nb)
    inside = {index for section in sections for index in range(section.start, section.stop)}
    for section in sections:
        cells = range(section.start, section.stop)
        opening = nb.cells[section.start].source
        if not SAYS_OPTIONAL.search(opening):
            found.append(f"'{section.title}': its first cell does not say the rest of the notebook does not need it "
                         "(e.g. 'optional' in the heading)")
        for index in cells:
            tags = nb.cells[index].get("metadata", {}).get("tags", [])
            if any(tag.startswith("exercise-") for tag in tags):
                found.append(f"'{section.title}': cell {index} is an exercise inside an optional section")
        only_inside = set().union(*(bound(nb.cells[i].source) for i in cells if nb.cells[i].cell_type == "code"))
        outside_so_far = set()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or index in inside:
                continue
            if index >= section.stop:
                leaked = sorted((read(cell.source) & only_inside) - outside_so_far - bound(cell.source))
                if leaked:
                    found.append(f"'{section.title}': cell {index} after it reads {', '.join(leaked)}, bound only "
                                 "inside the optional section")
            outside_so_far |= bound(cell.source)
    return found


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda path: path.stem)
def test_going_deeper_sections_can_be_skipped(path):
    nb = nbformat.read(path, as_version=4)
    print(f"{path.name}: {len(going_deeper_sections(nb))} optional sections")
    assert not problems(nb), f"{path.name}:\n  " + "\n  ".join(problems(nb))


def _notebook(*cells) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_markdown_cell(c[3:]) if c.startswith("md:") else new_code_cell(c) for c in cells])


def test_sections_are_found_and_end_at_a_heading_of_their_level():
    nb = _notebook("md:## 2 The model", "x = 1", "md:## 2.1 Going deeper: the exact posterior (optional)",
                   "md:### A detail inside", "y = x", "md:Some text.\n\n## 3 Training", "print(x)",
                   "md:# Going deeper, optional", "z = 2")
    sections = going_deeper_sections(nb)
    assert [(s.start, s.stop) for s in sections] == [(2, 5), (7, 9)]
    assert going_deeper_sections(_notebook("md:Intro\n## Going deeper", "x = 1")) == []  # not the first line


def test_a_name_that_leaks_out_of_a_section_is_flagged():
    leaky = _notebook("md:## Setup", "model = 1", "md:## Going deeper (optional): a finer estimate",
                      "estimate = model * 2\ndef helper(v):\n    return v", "md:## Next", "print(estimate, helper(model))")
    found = problems(leaky)
    assert len(found) == 1 and "estimate, helper" in found[0], found


def test_a_section_whose_names_stay_inside_passes():
    fine = _notebook("md:## Setup", "model = 1\nestimate = 0", "md:## 4.2 Going deeper (optional)",
                     "estimate = model * 2\nprint(estimate)", "md:## Next", "print(estimate, model)",
                     "for k in range(2):\n    print(k)")
    assert problems(fine) == []


def test_a_section_must_say_it_is_optional_and_hold_no_exercise():
    nb = _notebook("md:## Going deeper: ELBO surgery", "x = 1", "md:## Next")
    nb.cells[1].metadata["tags"] = ["exercise-5.4"]
    found = problems(nb)
    assert len(found) == 2 and "does not say" in found[0] and "exercise" in found[1], found
    nb.cells[0].source = "## Going deeper: ELBO surgery\n\nNothing later in this notebook needs this section."
    nb.cells[1].metadata["tags"] = []
    assert problems(nb) == []
