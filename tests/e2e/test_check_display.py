"""End-to-end: how a check result looks in JupyterLab (light theme, see docs/e2e.md).

A scratch notebook runs one failing and one passing check of Exercise 2.1. The results
are displayed through ``Result._repr_html_``; the test takes a screenshot of each (in a
narrow window, where long messages must wrap) and asserts the layout: the coloured
status word is visible and readable (white on a coloured badge), and no output scrolls
sideways. Run alone: ``.venv/bin/python -m pytest tests/e2e/test_check_display.py -m e2e -s``.
"""

from __future__ import annotations

import nbformat
import pytest

from .conftest import artifacts_dir
from .test_jupyterlab import assert_no_errors, open_notebook, run_all_cells

pytestmark = pytest.mark.e2e

NARROW = {"width": 900, "height": 1000}  # a laptop with the file browser open: messages must wrap

CELLS = [
    "import torch\nfrom vae_course import checks",
    # a named mistake: message, hint and the folded "already fine" list
    "def gaussian_kl(mu, logvar):\n"
    "    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(dim=-1)\n\n"
    "checks.gaussian_kl(gaussian_kl)",
    "def gaussian_kl(mu, logvar):\n"
    "    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=-1)\n\n"
    "checks.gaussian_kl(gaussian_kl)",
]

# Layout facts of one cell's check display, measured in the page.
JS_LAYOUT = """(cell) => {
  const box = cell.querySelector('.vae-check');
  if (!box) return null;
  const status = box.querySelector('.vae-check-status');
  const area = cell.querySelector('.jp-OutputArea-output');
  const style = getComputedStyle(status);
  const rect = status.getBoundingClientRect();
  const boxRect = box.getBoundingClientRect();
  return {
    text: status.innerText.trim(),
    color: style.color, background: style.backgroundColor,
    statusVisible: rect.width > 0 && rect.height > 0 && style.visibility === 'visible'
                   && rect.left >= boxRect.left && rect.right <= boxRect.right,
    boxOverflow: box.scrollWidth - box.clientWidth,
    areaOverflow: area.scrollWidth - area.clientWidth,
    boxRight: boxRect.right, areaRight: area.getBoundingClientRect().right,
    wordBreak: getComputedStyle(box).wordBreak,
    hasDetails: !!box.querySelector('details'), code: box.querySelectorAll('code').length,
  };
}"""


def test_failed_and_passed_checks_are_readable_without_overflow(page, lab_server):
    scratch = lab_server.root / lab_server.notebook_dir / "_e2e_check_display.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nb, scratch)
    rel = f"{lab_server.notebook_dir}/{scratch.name}"
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    try:
        open_notebook(page, lab_server, rel)
        report = run_all_cells(page, lab_server, rel)
        assert_no_errors(report, rel)
        cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
        layouts = {}
        for name, index in (("failed", 1), ("passed", 2)):
            cell = cells.nth(index)
            cell.locator(".vae-check").wait_for(state="visible", timeout=30_000)
            cell.scroll_into_view_if_needed()
            shot = artifacts_dir() / f"check-display-after-run-{name}.png"
            cell.locator(".jp-Cell-outputWrapper").screenshot(path=str(shot))
            print(f"[e2e] screenshot: {shot}", flush=True)
            layouts[name] = cell.evaluate(JS_LAYOUT)
    finally:
        page.set_viewport_size(size)
        scratch.unlink(missing_ok=True)

    failed, passed = layouts["failed"], layouts["passed"]
    assert failed and passed, "no .vae-check element: the check result was not displayed as HTML"
    assert (failed["text"], passed["text"]) == ("FAILED", "PASSED")
    for name, layout in layouts.items():
        assert layout["statusVisible"], f"{name}: the status word is not visible: {layout}"
        assert layout["color"] == "rgb(255, 255, 255)", f"{name}: status word colour {layout['color']}"
        assert layout["background"] not in ("rgba(0, 0, 0, 0)", "transparent", layout["color"]), \
            f"{name}: the status badge has no colour of its own (inline styles stripped?): {layout}"
        assert layout["boxOverflow"] <= 1 and layout["areaOverflow"] <= 1, f"{name}: scrolls sideways: {layout}"
        assert layout["boxRight"] <= layout["areaRight"] + 1, f"{name}: wider than its output area: {layout}"
        assert layout["wordBreak"] == "normal", f"{name}: words may be cut: {layout}"
    assert failed["background"] != passed["background"], "failed and passed look the same"
    assert failed["hasDetails"] and not passed["hasDetails"], "the 'already fine' list must fold (failed only)"
    assert failed["code"] >= 1, "code in the message is not set in monospace"
