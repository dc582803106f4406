"""Each notebook states its reading time in its first cell, close to what its length says, and the welcome
notebook's table of notebooks lists the same times (issue 26: a reading time on each notebook)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from vae_course.notebooks import READING_TIME, reading_minutes

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
NOTEBOOKS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def stated_minutes(nb) -> int:
    match = READING_TIME.search(nb.cells[0].source)
    assert match, "the first cell must say 'Reading time: about N minutes'"
    return int(match.group(1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_states_a_reading_time_that_fits_its_length(path):
    nb = nbformat.read(path, as_version=4)
    stated, estimate = stated_minutes(nb), reading_minutes(nb)
    assert abs(stated - estimate) <= max(5, 0.15 * estimate), (
        f"{path.name} says {stated} minutes; its prose and code now read in about {estimate}: update the first cell "
        "(and the table of 00_welcome)")


def test_the_welcome_table_lists_each_notebooks_stated_time_and_the_range_is_true():
    welcome = nbformat.read(SOLUTIONS / "00_welcome.ipynb", as_version=4)
    table = dict(re.findall(r"^\| (\d\d) \| .* \| (\d+) min \|$", welcome.cells[1].source, flags=re.M))
    stated = {p.name[:2]: stated_minutes(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert {k: int(v) for k, v in table.items()} == stated
    low, high = map(int, re.search(r"nine notebooks \((\d+) to (\d+) minutes", welcome.cells[0].source).groups())
    others = [v for k, v in stated.items() if k != "00"]
    assert (low, high) == (min(others), max(others))


def test_reading_minutes_counts_prose_and_code_but_not_display_math():
    prose = nbformat.v4.new_markdown_cell(" ".join(["word"] * 1200) + "\n$$\n" + "x + " * 500 + "\n$$")
    code = nbformat.v4.new_code_cell("\n".join(["x = 1"] * 200))
    assert reading_minutes(nbformat.v4.new_notebook(cells=[prose])) == 10
    assert reading_minutes(nbformat.v4.new_notebook(cells=[prose, code])) == 20
    assert reading_minutes(nbformat.v4.new_notebook(cells=[])) == 5
