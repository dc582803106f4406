"""End-to-end: the course notebooks run in a real JupyterLab + Chromium.

What a student does, automated (see docs/e2e.md):

1. open ``00_welcome.ipynb``, Run -> Run All Cells, no cell may end in an error;
2. open ``05_latent_space.ipynb``, run all cells, then move a slider of the
   ``latent_explorer`` widget and check the decoded image changes -- this
   proves the ipywidgets front-end extension is installed and that
   browser <-> kernel widget syncing works, which headless nbval cannot test.

A third test runs a scratch notebook with a deliberate ``1/0`` to prove the
error detector is not vacuous (a JupyterLab upgrade changing the DOM must make
this suite fail, not silently pass).

Run alone:  .venv/bin/python -m pytest tests/e2e -m e2e -s
"""

from __future__ import annotations

import re
import time

import nbformat
import pytest

from .conftest import LabServer, artifacts_dir

pytestmark = pytest.mark.e2e

WELCOME = "00_welcome.ipynb"
LATENT = "05_latent_space.ipynb"
RUN_TIMEOUT_MS = 120_000  # per notebook, from Run All to idle
KERNEL_TIMEOUT_MS = 90_000  # notebook opened -> kernel idle

# Error outputs are rendered like stderr streams in JupyterLab 4 (both are
# `.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]`, no
# distinguishing class), so we detect errors two ways:
#  * exactly, from the cell models (output_type == "error") via window.jupyterapp;
#  * visually, stderr outputs whose text looks like a traceback.
STDERR_SELECTOR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
TRACEBACK_RE = r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b"  # JS, flag m

JS_NOTEBOOK_READY = """(path) => {
  const app = window.jupyterapp;
  const nb = app && app.shell && app.shell.currentWidget;
  if (!nb || !nb.context || nb.context.path !== path || !nb.sessionContext) return false;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return nb.context.isReady && nb.sessionContext.isReady && !!kernel
         && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""

# True once Run All has finished: kernel idle, nothing queued ([*]), and either
# every non-empty code cell has an execution count or some cell errored
# (JupyterLab stops Run All at the first error).
JS_RUN_FINISHED = """(path) => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || nb.context.path !== path) return false;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  if ([...nb.node.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*')))
    return false;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code'
                                          && c.model.sharedModel.getSource().trim() !== '');
  const errored = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return errored || cells.every(c => c.model.executionCount !== null);
}"""

JS_CELL_REPORT = """([stderrSelector, tracebackRe]) => {
  const nb = window.jupyterapp.shell.currentWidget;
  const re = new RegExp(tracebackRe, 'm');
  return nb.content.widgets.map((cell, index) => {
    const model = cell.model;
    const code = model.type === 'code';
    const outputs = code ? model.outputs.toJSON() : [];
    return {
      index,
      type: model.type,
      source: model.sharedModel.getSource().slice(0, 200),
      empty: model.sharedModel.getSource().trim() === '',
      tags: (model.getMetadata('tags') || []),
      executionCount: code ? model.executionCount : null,
      modelErrors: outputs.filter(o => o.output_type === 'error')
                          .map(o => `${o.ename}: ${o.evalue}`),
      domTracebacks: [...cell.node.querySelectorAll(stderrSelector)]
                       .map(e => e.textContent).filter(t => re.test(t))
                       .map(t => t.slice(0, 1500)),
      widgetErrors: [...cell.node.querySelectorAll('.jp-OutputArea-output')]
                       .map(e => e.textContent)
                       .filter(t => /Error displaying widget|Error rendering output/.test(t)),
    };
  });
}"""


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
# JupyterLab never scrolls the page itself (the notebook panel scrolls
# inside), so a "full page" screenshot would only show the viewport.  We grow
# the viewport by the notebook's hidden scroll height (capped) while taking it.
JS_NOTEBOOK_SCROLLER = """(
  document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
  || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook'))"""
JS_HIDDEN_NOTEBOOK_HEIGHT = f"""() => {{
  const el = {JS_NOTEBOOK_SCROLLER};
  return el ? Math.max(0, el.scrollHeight - el.clientHeight) : 0;
}}"""
JS_SCROLL_NOTEBOOK_TO_TOP = f"""() => {{ const el = {JS_NOTEBOOK_SCROLLER}; if (el) el.scrollTop = 0; }}"""
MAX_SCREENSHOT_HEIGHT = 8000


def screenshot(page, name: str) -> str:
    """Full-page PNG in the artefact folder, tall enough to show the whole notebook."""
    path = artifacts_dir() / f"{name}.png"
    size = page.viewport_size
    extra = page.evaluate(JS_HIDDEN_NOTEBOOK_HEIGHT) if size else 0
    try:
        if extra:
            page.set_viewport_size(
                {"width": size["width"], "height": min(size["height"] + extra, MAX_SCREENSHOT_HEIGHT)}
            )
            page.wait_for_timeout(500)
            page.evaluate(JS_SCROLL_NOTEBOOK_TO_TOP)
            page.wait_for_timeout(200)
        page.screenshot(path=str(path), full_page=True)
    finally:
        if extra:
            page.set_viewport_size(size)
            page.wait_for_timeout(200)
    print(f"[e2e] screenshot: {path}", flush=True)
    return str(path)


def notebook_path(lab: LabServer, name: str) -> str:
    """Path of a notebook relative to the lab root; fail clearly if it is missing."""
    rel = f"{lab.notebook_dir}/{name}"
    if not (lab.root / rel).is_file():
        pytest.fail(
            f"{lab.notebook_dir}/{name} is missing. The e2e test needs the course notebook "
            f"{lab.notebook_dir}/{name} (copied from the repo into {lab.root}); write it, or "
            "set E2E_NOTEBOOK_DIR to a folder that contains it.",
            pytrace=False,
        )
    return rel


def open_notebook(page, lab: LabServer, rel: str) -> None:
    """Open a notebook in the running JupyterLab and wait until its kernel is idle."""
    # What a double-click in the file browser does, without navigating folders.
    page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", rel)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
    deadline = time.monotonic() + KERNEL_TIMEOUT_MS / 1000
    while not page.evaluate(JS_NOTEBOOK_READY, rel):
        # Notebooks without kernelspec metadata ask which kernel to use: accept the default.
        accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        if accept.count() and accept.first.is_visible():
            accept.first.click()
        if time.monotonic() > deadline:
            screenshot(page, f"{rel.rsplit('/', 1)[-1]}-kernel-timeout")
            pytest.fail(
                f"Kernel for {rel} was not idle within {KERNEL_TIMEOUT_MS // 1000}s.\n"
                f"Server log tail:\n{lab.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.5)


def run_all_cells(page, lab: LabServer, rel: str) -> list:
    """Run -> Run All Cells through the menu bar; wait until done; return the cell report."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    try:
        page.wait_for_function(JS_RUN_FINISHED, arg=rel, timeout=RUN_TIMEOUT_MS, polling=500)
    except Exception as exc:
        screenshot(page, f"{rel.rsplit('/', 1)[-1]}-run-timeout")
        pytest.fail(
            f"Run All Cells on {rel} did not finish within {RUN_TIMEOUT_MS // 1000}s ({exc}).\n"
            f"Server log tail:\n{lab.log_tail()}",
            pytrace=False,
        )
    page.wait_for_timeout(500)  # let late display messages (widgets, images) render
    return page.evaluate(JS_CELL_REPORT, [STDERR_SELECTOR, TRACEBACK_RE])


def cell_problems(report: list) -> list:
    """Human-readable problems: errors, tracebacks, broken widgets, cells not run."""
    problems = []
    for cell in report:
        if cell["type"] != "code" or cell["empty"]:
            continue
        where = f"cell #{cell['index']} ({cell['source'][:80]!r})"
        if "raises-exception" in cell["tags"]:
            continue  # nbval's tag for cells that are meant to fail
        for error in cell["modelErrors"]:
            problems.append(f"{where}: error output {error}")
        if cell["domTracebacks"] and not cell["modelErrors"]:
            problems.append(f"{where}: traceback shown in stderr:\n{cell['domTracebacks'][0]}")
        for text in cell["widgetErrors"]:
            problems.append(f"{where}: {text[:300]}")
        if cell["executionCount"] is None:
            problems.append(f"{where}: was not executed (Run All stopped before it)")
    return problems


def assert_no_errors(report: list, rel: str) -> None:
    problems = cell_problems(report)
    assert not problems, f"{rel} has problems after Run All Cells:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #
def test_error_detection_catches_a_deliberate_error(page, lab_server):
    """Guard: a scratch notebook with 1/0 must be reported (and its warning must not)."""
    scratch = lab_server.root / lab_server.notebook_dir / "_e2e_scratch_error.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import sys, warnings\nwarnings.warn('only a warning')\n"
                                  "print('to stderr', file=sys.stderr)"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('never reached')"),
    ]
    nbformat.write(nb, scratch)
    rel = f"{lab_server.notebook_dir}/{scratch.name}"
    try:
        open_notebook(page, lab_server, rel)
        report = run_all_cells(page, lab_server, rel)
    finally:
        scratch.unlink(missing_ok=True)
    warning_cell, error_cell, skipped_cell = (c for c in report if c["type"] == "code")
    assert warning_cell["executionCount"] is not None
    assert not warning_cell["modelErrors"] and not warning_cell["domTracebacks"], warning_cell
    assert error_cell["modelErrors"] == ["ZeroDivisionError: division by zero"], error_cell
    assert error_cell["domTracebacks"] and "ZeroDivisionError" in error_cell["domTracebacks"][0]
    assert skipped_cell["executionCount"] is None
    problems = cell_problems(report)
    assert len(problems) == 2, problems
    assert "ZeroDivisionError" in problems[0] and "not executed" in problems[1]


def test_welcome_notebook_runs_without_errors(page, lab_server):
    rel = notebook_path(lab_server, WELCOME)
    open_notebook(page, lab_server, rel)
    report = run_all_cells(page, lab_server, rel)
    screenshot(page, "00_welcome-after-run-all")
    assert any(c["type"] == "code" and not c["empty"] for c in report), f"{rel} has no code cells"
    assert_no_errors(report, rel)


def test_latent_explorer_slider_updates_image(page, lab_server):
    rel = notebook_path(lab_server, LATENT)
    open_notebook(page, lab_server, rel)
    report = run_all_cells(page, lab_server, rel)
    explorer = page.locator(".vae-latent-explorer").first
    try:
        explorer.wait_for(state="visible", timeout=30_000)
    except Exception:
        screenshot(page, "05_latent_space-after-run-all")
        assert_no_errors(report, rel)
        pytest.fail(
            f"No .vae-latent-explorer widget rendered in {rel}. The notebook must display "
            "vae_course.widgets.latent_explorer(...); if it did, the ipywidgets JupyterLab "
            "extension (jupyterlab_widgets) is probably missing.",
            pytrace=False,
        )
    explorer.scroll_into_view_if_needed()
    screenshot(page, "05_latent_space-after-run-all")
    assert_no_errors(report, rel)

    # The Image widget's element is the <img> itself; accept a wrapper too.
    image = explorer.locator("img.vae-decoded-image, .vae-decoded-image img").first
    image.wait_for(state="visible")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    before = image.get_attribute("src")
    assert before, "decoded image has no src"
    handle = explorer.locator(".noUi-handle").first
    readout = explorer.locator(".widget-readout").first
    readout_before = readout.text_content() if readout.count() else None
    caption = explorer.locator(".vae-decoded-caption").first
    caption.wait_for(state="visible")
    caption_before = caption.text_content()
    assert caption_before.startswith("decoded image of z = ("), caption_before
    label = explorer.locator(".widget-label").first.text_content()
    assert "horizontal axis" in label, f"the first slider's label does not say what it moves: {label!r}"
    # The 2-D code's map with a red ring where the sliders are (vae_course.widgets.latent_map).
    latent_map = explorer.locator("img.vae-latent-map, .vae-latent-map img").first
    latent_map.wait_for(state="visible")
    map_before = latent_map.get_attribute("src")
    map_caption = explorer.locator(".vae-latent-map-caption").first
    map_caption_before = map_caption.text_content()
    assert map_caption_before.endswith("z = (+0.00, +0.00)"), map_caption_before

    # ipywidgets 8 sliders are noUiSlider: focus the handle and use the keyboard.
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")
    changed = _wait_for_src_change(page, image, before, timeout_ms=20_000)
    if not changed:  # fall back to dragging the handle with the mouse
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        changed = _wait_for_src_change(page, image, before, timeout_ms=20_000)
    page.wait_for_timeout(300)
    screenshot(page, "05_latent_space-after-slider-move")
    explorer.scroll_into_view_if_needed()
    shot = artifacts_dir() / "05_latent_explorer-after-slider-move.png"  # the widget alone, at full size
    explorer.screenshot(path=str(shot))
    print(f"[e2e] screenshot: {shot}", flush=True)

    assert changed, (
        "Moving the first latent slider did not change the decoded image's src. "
        "Check that latent_explorer re-renders on slider changes and that the kernel is alive."
    )
    after = image.get_attribute("src")
    assert after != before
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    if readout_before is not None:
        assert readout.text_content() != readout_before, "slider readout did not change"
    page.wait_for_function("([el, before]) => el.textContent !== before",
                           arg=[caption.element_handle(), caption_before], timeout=10_000)
    assert caption.text_content() != caption_before, "the caption under the image did not follow the slider"
    page.wait_for_function("([el, before]) => el.textContent !== before",
                           arg=[map_caption.element_handle(), map_caption_before], timeout=10_000)
    shown_z = caption.text_content().removeprefix("decoded image of ")
    assert map_caption.text_content().endswith(shown_z), \
        f"the map's marker is not where the sliders are: {map_caption.text_content()!r} vs {shown_z!r}"
    assert not shown_z.startswith("z = (+0.00"), shown_z  # z1 moved
    assert latent_map.get_attribute("src") != map_before, "the marker on the latent map did not move"


def _wait_for_src_change(page, image, before: str, timeout_ms: int) -> bool:
    try:
        page.wait_for_function(
            "([img, before]) => img.getAttribute('src') && img.getAttribute('src') !== before",
            arg=[image.element_handle(), before],
            timeout=timeout_ms,
        )
        return True
    except Exception:
        return False
