"""End-to-end: how a check result looks in JupyterLab, light and dark theme (see docs/e2e.md).

A scratch notebook runs one failing and one passing check of Exercise 2.1. The results
are displayed through ``Result._repr_html_``; the test takes a screenshot of each (in a
narrow window, where long messages must wrap), in the light theme and again in JupyterLab
Dark, and asserts the layout: the coloured status word is visible and readable (white on a
coloured badge), the message contrasts with the page behind it, and no output scrolls
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
    textColor: getComputedStyle(box.querySelector('.vae-check-headline')).color,
    pageColor: (() => {  // the first background behind the message that is not transparent
      for (let el = box; el; el = el.parentElement) {
        const bg = getComputedStyle(el).backgroundColor;
        if (bg && bg !== 'transparent' && !bg.startsWith('rgba(0, 0, 0, 0)')) return bg;
      }
      return 'rgb(255, 255, 255)';
    })(),
  };
}"""

JS_THEME = """async (theme) => {
  await window.jupyterapp.commands.execute('apputils:change-theme', {theme});
}"""
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def _luminance(css: str) -> float:
    """Relative luminance (WCAG 2) of a CSS ``rgb(...)``/``rgba(...)`` colour."""
    r, g, b = (float(v) / 255 for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS colours (1 to 21; body text wants at least 4.5)."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def set_theme(page, name: str) -> None:
    page.evaluate(JS_THEME, THEMES[name])
    light = "true" if name == "light" else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's CSS variables apply


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
        for theme in ("light", "dark"):
            set_theme(page, theme)
            for name, index in (("failed", 1), ("passed", 2)):
                cell = cells.nth(index)
                cell.locator(".vae-check").wait_for(state="visible", timeout=30_000)
                cell.scroll_into_view_if_needed()
                suffix = "" if theme == "light" else "-dark"
                shot = artifacts_dir() / f"check-display-after-run-{name}{suffix}.png"
                cell.locator(".jp-Cell-outputWrapper").screenshot(path=str(shot))
                print(f"[e2e] screenshot: {shot}", flush=True)
                layouts[name if theme == "light" else f"{name} (dark)"] = cell.evaluate(JS_LAYOUT)
    finally:
        set_theme(page, "light")  # the theme is a saved setting: the next tests expect the default
        page.set_viewport_size(size)
        scratch.unlink(missing_ok=True)

    assert all(layouts.values()), f"no .vae-check element: the check result was not displayed as HTML: {layouts}"
    failed, passed = layouts["failed"], layouts["passed"]
    assert (failed["text"], passed["text"]) == ("FAILED", "PASSED")
    assert (layouts["failed (dark)"]["text"], layouts["passed (dark)"]["text"]) == ("FAILED", "PASSED")
    assert _luminance(layouts["passed (dark)"]["pageColor"]) < 0.2 < _luminance(passed["pageColor"]), \
        f"the dark theme did not apply: {layouts}"
    for name, layout in layouts.items():
        assert contrast(layout["textColor"], layout["pageColor"]) >= 4.5, f"{name}: message hard to read: {layout}"
        assert contrast(layout["color"], layout["background"]) >= 3, f"{name}: status word hard to read: {layout}"
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
