"""Prose guards out of the student's way (issue 26): every guard of a solution's code cell is trailing.

A code cell's TRAILING guards (``claim(...)`` lines and ``for`` loops of them, ``_is_guard``) move into a
collapsed cell of their own in the student notebook (``vae_course.notebooks._guard_cells``); a guard
followed by teaching code would stay visible among it. ``scripts/trail_guards.py`` moves such guards to
the end of their cell when that is safe, and prints the ones it must leave; those are listed here with why.
A ``claim`` inside a statement of teaching code (a loop that also prints, an ``if``) is not a guard
statement and not checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from vae_course.notebooks import _is_guard

REPO = Path(__file__).resolve().parents[1]
SOLUTION_PATHS = sorted((REPO / "solutions").glob("*.ipynb"))

ALLOWED: dict[tuple[str, str], str] = {}
"""(notebook, cell id) -> why a guard stays in the middle of that cell (what scripts/trail_guards.py reports)."""


def mid_cell_guards(source: str) -> list[int]:
    """Line numbers of the top-level guards that some non-guard statement of the cell follows."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return []
    flags = [_is_guard(statement) for statement in body]
    last_code = max((index for index, flag in enumerate(flags) if not flag), default=-1)
    return [body[index].lineno for index in range(last_code) if flags[index]]


def test_detector_finds_a_guard_before_teaching_code():
    assert mid_cell_guards("x = 1\nclaim('x is one', x == 1)\nprint(x)\n") == [2]
    assert mid_cell_guards("x = 1\nprint(x)\n# why\nclaim('x is one', x == 1)\nfor v in (x,):\n"
                           "    claim('v', v == 1)\n") == []
    assert mid_cell_guards("for v in (1,):\n    claim('v', v == 1)\nplt.show()\n") == [1]


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda path: path.stem)
def test_guards_are_trailing(path):
    nb = nbformat.read(path, as_version=4)
    found, allowed = [], 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "claim(" not in cell.source:
            continue
        lines = mid_cell_guards(cell.source)
        if not lines:
            continue
        if (path.name, cell.get("id")) in ALLOWED:
            allowed += len(lines)
            continue
        first = cell.source.splitlines()[lines[0] - 1].strip()
        found.append(f"cell {index} ({cell.get('id')}), line {lines[0]}: {first[:60]!r} ({len(lines)} in this cell)")
    print(f"{path.name}: {allowed} guards left in the middle of their cell by the allow-list")
    assert not found, (f"{path.name}: guards followed by teaching code stay visible to students; run "
                       "`python scripts/trail_guards.py " + path.name[:2] + "` (it moves them when safe), or add "
                       "the cell to ALLOWED with why:\n  " + "\n  ".join(found))


def test_allow_list_is_current():
    """Every allowed cell still exists and still has a guard in its middle (refresh ALLOWED otherwise)."""
    stale = []
    for name, ident in ALLOWED:
        nb = nbformat.read(REPO / "solutions" / name, as_version=4)
        cells = [cell for cell in nb.cells if cell.get("id") == ident]
        if not cells or not mid_cell_guards(cells[0].source):
            stale.append(f"{name} {ident}")
    assert not stale, f"ALLOWED lists cells whose guards are all trailing now (remove them): {stale}"


def _trail(source: str, outputs: list | None = None, functions: str = ""):
    from tests._scripts import load_script

    script = load_script("trail_guards")
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs or []
    defined = script._functions(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(functions)]))
    new, moved, left = script.trail(cell, ("nb.ipynb", 0), defined)
    return new, moved, [entry.why for entry in left]


def test_script_moves_a_safe_guard_with_its_comment():
    source = "x = 1\n# x is one\nclaim('x is one', x == 1)\n\nprint(x)\nplt.show()\nclaim('end', True)\n"
    new, moved, left = _trail(source)
    assert (moved, left) == (1, [])
    assert new == "x = 1\n\nprint(x)\nplt.show()\n# x is one\nclaim('x is one', x == 1)\nclaim('end', True)\n"
    assert _trail(new) == (new, 0, [])  # idempotent


@pytest.mark.parametrize("later, why", [
    ("x = 2", "assigned"), ("x += 1", "assigned"), ("for x in y: pass", "for target"), ("del x", "deleted"),
    ("x[0] = 2", "assigned"), ("x.append(3)", "in place"), ("x.mul_(2)", "in place"), ("import x", "imported"),
    ("with open(f) as x: pass", "with-as"), ("fit(x)", "handed to fit()"),
])
def test_script_leaves_a_guard_whose_names_change_later(later, why):
    source = f"x = [1]\nclaim('x holds one', len(x) == 1)\n{later}\nplt.show()\n"
    new, moved, left = _trail(source)
    assert new == source and moved == 0 and len(left) == 1 and why in left[0], left


def test_script_leaves_guards_that_would_hide_a_display_or_shift_random_numbers():
    shown = "x = 1\nclaim('x', x == 1)\nx + 1\n"
    assert _trail(shown)[1] == 0 and "displays" in _trail(shown)[2][0]
    result = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    called = "x = 1\nclaim('x', x == 1)\nf(x)\n"
    assert _trail(called, [result])[1] == 0
    assert _trail("x = 1\nclaim('x', x == 1)\nprint(x);\n", [result])[1] == 1
    noisy = "x = 1\nclaim('x', torch.randn(3).sum() < 9)\nprint(x)\n"
    assert "random" in _trail(noisy)[2][0]
    helper = "def g(v):\n    return v + offset\n"
    assert _trail("x = 1\nclaim('x', g(x) > 0)\nprint(x)\n", functions=helper)[1] == 1
    assert "`offset`" in _trail("x = 1\nclaim('x', g(x) > 0)\noffset = 3\n", functions=helper)[2][0]
    assert "draws random" in _trail("x = 1\nclaim('x', h(x))\nprint(x)\n",
                                    functions="def h(v):\n    return torch.rand(1) < v\n")[2][0]
