"""End-to-end: the course website (``make book``) built from solutions/, opened in Chromium.

Built once for this module into a temporary folder and served on 127.0.0.1. Asserted: the landing page
links every notebook; on every page the math is typeset by MathJax, every figure loads and the pages
link to each other; Think! answers are folded; no line of any exercise's solution appears in the HTML.
A screenshot of a rendered page is saved under test-artifacts/e2e/. MathJax is part of the site (no CDN), so
the math is typeset offline too. At a laptop's width (1280 px) every display equation fits its text column.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from vae_course import book
from vae_course.notebooks import CODE_BEGIN, CODE_END, exercise_id, make_student_notebook

from .conftest import artifacts_dir

pytestmark = pytest.mark.e2e

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
NOTEBOOKS = sorted(p.stem for p in SOLUTIONS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site, served over HTTP: yields (base URL, html folder)."""
    index = book.build(out=tmp_path_factory.mktemp("book"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", index.parent
    server.shutdown()


def solution_lines() -> dict[str, list[str]]:
    """Every distinctive line inside an exercise's SOLUTION region, per notebook.

    Distinctive: at least 12 characters, not a comment, and written nowhere else in the notebook as
    readers see it (``z = encoder(x)`` may also stand in the prose or in a shown cell).
    """
    found = {}
    for path in SOLUTIONS.glob("*.ipynb"):
        solution = nbformat.read(path, as_version=4)
        reader = make_student_notebook(solution, path.name, keep_outputs=True)
        shown = " ".join(" ".join(cell.source.split()) for cell in reader.cells)
        for cell in solution.cells:
            if cell.cell_type != "code" or exercise_id(cell) is None:
                continue
            inside = False
            for line in cell.source.splitlines():
                if line.strip() == CODE_BEGIN:
                    inside = True
                elif line.strip() == CODE_END:
                    inside = False
                elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                    if " ".join(line.split()) not in shown:
                        found.setdefault(path.stem, []).append(" ".join(line.split()))
    return found


# TeX that MathJax did not replace: Sphinx's \( \) and \[ \] delimiters, $$, or $...$ holding a macro.
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")
OFFSITE = re.compile(r"^(?!http://127\.0\.0\.1[:/]|data:)")


def typeset_math(page) -> int:
    """Wait until MathJax (if the page loads it) has typeset the page; returns how many formulas it rendered."""
    sources = page.eval_on_selector_all("script[src*=mathjax]", "scripts => scripts.map(s => s.src)")
    if not sources:
        return 0
    offsite = [src for src in sources if OFFSITE.match(src)]
    assert not offsite, f"MathJax must be served by the site itself (offline readers, CI), not from {offsite}"
    page.wait_for_function("() => window.MathJax?.startup?.promise")
    page.evaluate("async () => { await window.MathJax?.startup?.promise; await document.fonts.ready; }")
    return page.locator("article mjx-container").count()


def prose_text(page) -> str:
    """The article's visible text without its code cells and outputs (code may contain $ and backslashes)."""
    return page.evaluate("""() => {
        const article = document.querySelector('article').cloneNode(true);
        article.querySelectorAll('pre, code, mjx-container, .cell_output').forEach(e => e.remove());
        return article.textContent;
    }""")


def test_no_solution_code_appears_on_any_page(site):
    _, html = site
    lines = solution_lines()
    assert sum(map(len, lines.values())) >= 20, "the detector must have solution lines to look for"
    for stem, expected_absent in lines.items():
        text = " ".join(BeautifulSoup((html / f"{stem}.html").read_text(encoding="utf-8"), "html.parser")
                        .get_text(" ").split())
        assert "NotImplementedError" in text, f"{stem}: the exercise stubs are shown"
        leaked = [line for line in expected_absent if line in text]
        assert not leaked, f"{stem}.html shows solution code: {leaked[:3]}"


def test_landing_page_links_every_notebook(site, browser):
    base, _ = site
    page = browser.new_page()
    try:
        page.goto(f"{base}/index.html")
        hrefs = page.eval_on_selector_all("article a[href$='.html']", "links => links.map(a => a.getAttribute('href'))")
        for stem in NOTEBOOKS:
            assert f"{stem}.html" in hrefs, f"the landing page's table links {stem}"
        assert page.locator("text=make lab").count() >= 1, "the landing page says how to start"
    finally:
        page.close()


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_each_page_typesets_math_loads_every_figure_and_links_on(site, browser, stem):
    base, _ = site
    page = browser.new_page()
    page.route(OFFSITE, lambda route: route.abort())  # as offline: everything must come from the site itself
    try:
        page.goto(f"{base}/{stem}.html")  # returns after the load event: every <img> has loaded or failed
        typeset = typeset_math(page)
        if stem != "00_welcome":
            assert typeset > 0, "the page's math is typeset by MathJax (served from the site itself)"
        assert page.locator("article mjx-merror").count() == 0, "MathJax reports no TeX errors"
        raw = RAW_TEX.findall(prose_text(page))
        assert not raw, f"math left as raw TeX: {raw[:3]}"
        images = page.eval_on_selector_all("article img", "imgs => imgs.map(i => [i.src, i.complete && i.naturalWidth])")
        broken = [src for src, width in images if not width]
        assert not broken, f"figures that did not load: {broken}"
        position = NOTEBOOKS.index(stem)
        if position + 1 < len(NOTEBOOKS):
            assert page.locator(f"a.right-next[href$='{NOTEBOOKS[position + 1]}.html']").count() == 1
        folded = page.eval_on_selector_all("details", "ds => ds.map(d => d.open)")
        assert not any(folded), "Think! answers start folded"
        if stem == "02_elbo":
            assert images and folded, "02 has figures and Think! answers"
            page.screenshot(path=str(artifacts_dir() / "book-02_elbo.png"), full_page=False)
            page.locator("article div.math").nth(2).scroll_into_view_if_needed()  # displayed equations
            page.screenshot(path=str(artifacts_dir() / "book-02_elbo-equations.png"), full_page=False)
    finally:
        page.close()


# A laptop's screen: the article column is 688 px wide. An equation wider than its column is cut off at its right
# edge (the theme lets it scroll, with a scrollbar that many systems hide), so every one must fit: long ones are
# split with `aligned`. Measured without scrolling: the typeset formula's own width against its column's.
LAPTOP = {"width": 1280, "height": 900}
JS_DISPLAY_EQUATIONS = """() => {
    const tex = new Map([...MathJax.startup.document.math].map(m => [m.typesetRoot, m.math]));
    return [...document.querySelectorAll('article mjx-container[display="true"]')].map(box => {
        const formula = box.querySelector('mjx-math').getBoundingClientRect();
        const column = box.getBoundingClientRect();
        const undefinedMacros = [...box.querySelectorAll('mjx-mtext')].filter(t => t.style.color === 'red');
        return {tex: (tex.get(box) || box.getAttribute('aria-label') || '').replace(/\\s+/g, ' ').trim(), width: formula.width, column: column.width,
                left: formula.left - column.left, right: formula.right - column.right,
                errors: box.querySelectorAll('mjx-merror').length + undefinedMacros.length,
                scrolls: getComputedStyle(box).overflowX === 'auto'};
    });
}"""


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_every_display_equation_fits_the_column_at_a_laptops_width(site, browser, stem):
    base, _ = site
    page = browser.new_page()
    page.set_viewport_size(LAPTOP)
    try:
        page.goto(f"{base}/{stem}.html")
        typeset_math(page)
        equations = page.evaluate(JS_DISPLAY_EQUATIONS)
        if stem != "00_welcome":
            assert equations, f"{stem}: its display equations are typeset and found"

        def named(i: int) -> str:
            return f"{stem} equation #{i} ({equations[i]['tex'][:70]}...)"

        errors = [named(i) for i, eq in enumerate(equations) if eq["errors"]]
        assert not errors, f"MathJax marks TeX errors (red text) in {errors}"
        too_wide = [f"{named(i)}: {eq['width']:.0f} px wide in a {eq['column']:.0f} px column"
                    for i, eq in enumerate(equations)
                    if eq["width"] > eq["column"] + 1 or eq["left"] < -1 or eq["right"] > 1]
        assert not too_wide, (f"{len(too_wide)} display equation(s) run past the text column at 1280 px and are cut "
                              "off; split them with \\begin{aligned} ... \\\\ ... \\end{aligned}:\n  "
                              + "\n  ".join(too_wide))
        assert all(eq["scrolls"] for eq in equations), \
            "on narrower screens a display equation scrolls sideways (the theme's overflow: auto), not cut off"
    finally:
        page.close()
