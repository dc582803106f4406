"""The course as a website: ``make book`` (``python -m vae_course.book``) builds static HTML from solutions/.

Read-before-you-install, like d2l or the UvA DL tutorials: one page per notebook with its stored
outputs (math typeset by MathJax, figures shown), a landing page with the notebook table. Readers see
what students see - the exercise stubs and the check cells, never a solution's code (each notebook
goes through the student-notebook generator first, keeping the outputs of every other cell) - and
each Think! answer folded under its prompt. The prose guards (``claim(...)``, see :mod:`vae_course.claims`) are
for the tests, not the reader: the generator's guard cells are left out of the pages, and a guard still inside
teaching code is cut from the code shown (nothing runs here). MathJax ships with the site (``book/conf.py``), so the
math is typeset offline too.

Built by Sphinx with myst-nb (notebooks as they are: nothing is executed) and sphinx-book-theme; the
site's own files are ``book/`` (``conf.py``, ``index.md``). Output: ``build/book/html/index.html``.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

import nbformat

from .notebooks import GUARD_TAG, _is_guard, make_student_notebook, render

REPO = Path(__file__).resolve().parents[1]


def _without_guards(source: str) -> str:
    """The code as the website shows it: every guard statement (at any depth) cut, with the comments right above."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines()
    cut: set[int] = set()
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            guards = [statement for statement in block if _is_guard(statement)]
            if len(guards) == len(block) and node is not tree:
                continue  # a block of nothing but guards (inside teaching code) stays: it would be empty
            for statement in guards:
                first = statement.lineno
                while first > 1 and lines[first - 2].lstrip().startswith("#"):
                    first -= 1
                cut.update(range(first, statement.end_lineno + 1))
    if not cut:
        return source
    kept = [line for number, line in enumerate(lines, start=1) if number not in cut]
    return "\n".join(kept).strip("\n")


def reader_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The notebook as the website shows it: the student version with stored outputs, the guards out of sight.

    The generator's guard cells (tag ``guard``: no output) are removed from the page (myst-nb's ``remove-cell``);
    guards it leaves inside teaching code are cut from the displayed source."""
    reader = make_student_notebook(solution, name, keep_outputs=True)
    for cell in reader.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if GUARD_TAG in tags:
            tags.append("remove-cell")
        elif "claim(" in cell.source:
            cell.source = _without_guards(cell.source)
        if not tags:
            del cell.metadata["tags"]
    return reader


def stage(solutions: Path, site: Path, staging: Path) -> list[Path]:
    """Copy the site's own files and the reader's version of every solution notebook into ``staging``."""
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(site, staging)
    written = []
    for path in sorted(solutions.glob("*.ipynb")):
        reader = reader_notebook(nbformat.read(path, as_version=4), path.name)
        target = staging / path.name
        target.write_text(render(reader), encoding="utf-8")
        written.append(target)
    return written


def build(solutions: Path = REPO / "solutions", out: Path = REPO / "build" / "book", *, quiet: bool = True) -> Path:
    """Build the site into ``out/html``; returns the path of its landing page. Warnings fail the build."""
    from sphinx.cmd.build import build_main

    staged = stage(Path(solutions), REPO / "book", Path(out) / "source")
    if not staged:
        raise SystemExit(f"{solutions} holds no notebooks to publish")
    html = Path(out) / "html"
    args = ["-b", "html", "-W", "--keep-going", "-j", "auto", str(Path(out) / "source"), str(html)]
    if build_main(args + (["-q"] if quiet else [])) != 0:
        raise SystemExit("the book did not build without warnings (see above)")
    return html / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_course.book", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book", help="build folder (default build/book)")
    args = parser.parse_args(argv)
    index = build(out=args.out)
    print(f"the course website: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
