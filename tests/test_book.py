"""The course website (vae_course.book) shows teaching code only: no prose guard (``claim(...)``) in a code block."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vae_course.book import _without_guards, reader_notebook
from vae_course.notebooks import GUARD_TAG, render

REPO = Path(__file__).resolve().parents[1]
SOLUTION_PATHS = sorted((REPO / "solutions").glob("*.ipynb"))
HIDDEN = {"remove-cell", "remove-input"}  # myst-nb's tags that leave a cell's code off the page


def shown_code(nb: nbformat.NotebookNode) -> list[str]:
    """The sources of the code cells whose code the website shows."""
    return [cell.source for cell in nb.cells
            if cell.cell_type == "code" and not HIDDEN & set(cell.get("metadata", {}).get("tags", []))]


def test_without_guards_cuts_guards_at_any_depth_and_keeps_the_code():
    source = ("x = 1\n# why x\nclaim('x is one', x == 1)\nfor v in (1, 2):\n    print(v)\n    claim('v', v > 0)\n"
              "if x:\n    claim('only', True)\nprint(x)\n")
    shown = _without_guards(source)
    assert shown == "x = 1\nfor v in (1, 2):\n    print(v)\nif x:\n    claim('only', True)\nprint(x)"
    ast.parse(shown)  # still code


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda path: path.stem)
def test_pages_show_no_guards(path):
    reader = reader_notebook(nbformat.read(path, as_version=4), path.name)
    guards = [cell for cell in reader.cells if GUARD_TAG in cell.get("metadata", {}).get("tags", [])]
    assert all("remove-cell" in cell.metadata["tags"] and not cell.outputs for cell in guards)
    shown = [source.splitlines()[0] for source in shown_code(reader) if re.search(r"(?<![\w.])claim\(", source)]
    assert not shown, f"{path.name}: code cells the website shows with a guard in them (first lines): {shown}"


def test_rendered_page_has_no_claim(tmp_path):
    """One page through Sphinx and myst-nb as ``make book`` renders it: the guards are not in the HTML."""
    from sphinx.cmd.build import build_main

    plot = new_output("stream", name="stdout", text="3\n")
    code = new_code_cell("x = 3\nclaim('x is three', x == 3)\nprint(x)\nclaim('x is odd', x % 2 == 1)\n",
                         outputs=[plot])
    solution = new_notebook(cells=[new_markdown_cell("# A page"), code])
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text('extensions = ["myst_nb"]\nnb_execution_mode = "off"\n'
                                    'exclude_patterns = ["_build"]\n', encoding="utf-8")
    (source / "index.md").write_text("# Index\n\n```{toctree}\npage\n```\n", encoding="utf-8")
    (source / "page.ipynb").write_text(render(reader_notebook(solution, "page.ipynb")), encoding="utf-8")
    assert build_main(["-b", "html", "-q", str(source), str(tmp_path / "html")]) == 0
    page = (tmp_path / "html" / "page.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    assert "print(x)" in text and "x = 3" in text
    assert "claim(" not in text and "x is odd" not in text
