"""Fixtures for the end-to-end JupyterLab test (see docs/e2e.md).

Session-wide resources, each torn down by a finalizer even when a test fails:

* ``chromium_path`` -- an installed Chromium or Chrome (Debian's Chromium installed on
  demand with apt where possible), else skip -- or fail when ``CI=true``.
* ``lab_copy``      -- a temporary copy of the course notebooks.
* ``lab_server``    -- JupyterLab started from *this* Python environment on
  127.0.0.1 with a random token, isolated config/settings directories.
* ``browser``       -- Chromium driven by Playwright's sync API.
* ``lab_page``      -- one tab with JupyterLab loaded once for the session.
* ``page``          -- that tab for one test; failure screenshot on error,
  then its notebooks are closed and kernels shut down.

Environment variables:

* ``E2E_ARTIFACTS``      folder for screenshots/logs (default ``test-artifacts/e2e``).
* ``E2E_NOTEBOOK_DIR``   folder holding the notebooks to test (default ``solutions``).
* ``E2E_CHROMIUM``       browser executable (default: the first found, see scripts/course.py).
* ``E2E_SERVER_TIMEOUT`` seconds to wait for JupyterLab to answer (default 120).
* ``CI``                 when ``true``, a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from _scripts import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
# Flags needed on closed networks / containers: without the background-networking
# ones Chromium stalls on connections it cannot make.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 1200}
# Top-level repo entries never linked into the temporary lab root.
_NOT_LINKED = {".git", ".venv", "venv", "test-artifacts", ".pytest_cache", "__pycache__"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end browser test (JupyterLab + Chromium); slow, needs a browser"
    )


def _is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def artifacts_dir() -> Path:
    path = Path(os.environ.get("E2E_ARTIFACTS") or REPO_ROOT / "test-artifacts" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


# Files this suite writes into the artefact folder (removed at the start of a
# run so stale screenshots from an earlier run cannot be mistaken for new ones).
_OUR_ARTIFACTS = ("*-after-*.png", "*-FAILED.png", "*-timeout.png", "*-console.log",
                  "jupyterlab-server.log")


def _clear_old_artifacts() -> None:
    folder = artifacts_dir()
    for pattern in _OUR_ARTIFACTS:
        for old in folder.glob(pattern):
            old.unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item so fixtures can react to failures."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    if getattr(terminalreporter.config, "_e2e_artifacts_used", False):
        terminalreporter.write_line(f"e2e screenshots and logs: {artifacts_dir()}")


# --------------------------------------------------------------------------- #
# Browser executable
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def chromium_path() -> str:
    """A Chromium or Chrome executable: found, or installed the way `scripts/course.py browser` does."""
    course = load_script("course")
    path = course.install_browser()
    if path is None:
        message = (
            "No Chromium or Chrome found (looked for $E2E_CHROMIUM, then "
            f"{', '.join(course.BROWSER_NAMES)} on PATH and {', '.join(course.BROWSER_PATHS)}), and none could "
            "be installed (apt-get as root or through sudo). Install Chrome or Chromium, or set "
            "E2E_CHROMIUM=/path/to/browser."
        )
        if _is_ci():
            pytest.fail("CI=true, so a missing browser is an error. " + message, pytrace=False)
        pytest.skip(message)
    return path


# --------------------------------------------------------------------------- #
# Temporary copy of the course + JupyterLab server
# --------------------------------------------------------------------------- #
@dataclass
class LabCopy:
    root: Path  # what JupyterLab serves (--ServerApp.root_dir)
    notebook_dir: str  # folder of the notebooks, relative to root (URL path)


@pytest.fixture(scope="session")
def lab_copy(tmp_path_factory) -> LabCopy:
    """Copy the notebook folder into a temp dir so running cells never edits the repo.

    We test ``solutions/`` by default: it is the source of truth and runs top to
    bottom, whereas ``notebooks/`` (generated for students) contains exercise
    stubs that are *meant* to fail until solved.  ``E2E_NOTEBOOK_DIR=notebooks``
    tests the student copies instead.  The other top-level repo entries (data,
    package, ...) are symlinked next to the copy so relative paths such as
    ``../data`` keep working.
    """
    source = Path(os.environ.get("E2E_NOTEBOOK_DIR", "solutions"))
    if not source.is_absolute():
        source = REPO_ROOT / source
    if not source.is_dir():
        pytest.fail(
            f"Notebook folder {source} does not exist. The e2e test runs the course notebooks "
            "(solutions/00_welcome.ipynb and solutions/05_latent_space.ipynb); create them or set "
            "E2E_NOTEBOOK_DIR to a folder that has them.",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("lab_root")
    shutil.copytree(
        source, root / source.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    if source.parent == REPO_ROOT:
        for entry in REPO_ROOT.iterdir():
            if entry.name in _NOT_LINKED or entry.name == source.name or entry.name.startswith("."):
                continue
            (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return LabCopy(root=root, notebook_dir=source.name)


@dataclass
class LabServer:
    url: str  # http://127.0.0.1:PORT
    token: str
    root: Path
    notebook_dir: str
    log_path: Path
    process: subprocess.Popen

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"<could not read {self.log_path}: {exc}>"

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel (frees CPU/RAM between tests)."""
        try:
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
        except (OSError, urllib.error.URLError, ValueError):
            pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_lab_settings(settings_dir: Path) -> None:
    """User settings for a quiet, deterministic JupyterLab."""
    settings = {
        # No news/update pop-ups (and no attempts to reach the internet).
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        # Render every cell (no virtualisation), so all outputs are in the DOM.
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }
    for plugin, values in settings.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _stop_process_tree(process: subprocess.Popen) -> None:
    """Terminate JupyterLab's process group, then any kernel it left behind."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing or process already gone
        children = []
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
    # Kernels run in their own process groups; kill the ones that survived.
    for child in children:
        try:
            if child.is_running():
                child.terminate()
                child.wait(timeout=5)
        except Exception:
            try:
                child.kill()
            except Exception:
                pass


@pytest.fixture(scope="session")
def lab_server(lab_copy: LabCopy, tmp_path_factory, request) -> LabServer:
    """Start JupyterLab on 127.0.0.1:<free port> and wait until its REST API answers."""
    state = tmp_path_factory.mktemp("jupyter_state")
    env = dict(os.environ)
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),  # ignore ~/.jupyter
        ("JUPYTER_DATA_DIR", "data"),  # ignore user kernelspecs: use this env's python3
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ]:
        (state / sub).mkdir()
        env[var] = str(state / sub)
    _write_lab_settings(state / "settings")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    # Kernels import vae_course from this checkout even without `pip install -e .`.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))

    _clear_old_artifacts()
    port, token = _free_port(), secrets.token_hex(24)
    log_path = artifacts_dir() / "jupyterlab-server.log"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",  # = the deprecated --ServerApp.token
        f"--ServerApp.root_dir={lab_copy.root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to read cell outputs
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_file = open(log_path, "w")
    process = subprocess.Popen(
        command, cwd=lab_copy.root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    server = LabServer(
        url=f"http://127.0.0.1:{port}", token=token, root=lab_copy.root,
        notebook_dir=lab_copy.notebook_dir, log_path=log_path, process=process,
    )

    def finalize():
        server.shutdown_kernels()
        _stop_process_tree(process)
        log_file.close()

    request.addfinalizer(finalize)
    request.config._e2e_artifacts_used = True

    timeout = float(os.environ.get("E2E_SERVER_TIMEOUT", "120"))
    start = time.monotonic()
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with code {process.returncode} before answering.\n"
                f"Command: {' '.join(command)}\nServer log ({log_path}) tail:\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    break
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() - start > timeout:
            pytest.fail(
                f"JupyterLab did not answer {server.url}/api/status within {timeout:.0f}s "
                f"(set E2E_SERVER_TIMEOUT to wait longer).\n"
                f"Server log ({log_path}) tail:\n{server.log_tail()}",
                pytrace=False,
            )
        time.sleep(0.5)
    print(f"\n[e2e] JupyterLab up in {time.monotonic() - start:.1f}s at {server.url} "
          f"serving {lab_copy.root}; artefacts in {artifacts_dir()}", flush=True)
    return server


# --------------------------------------------------------------------------- #
# Browser
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def browser(chromium_path: str, tmp_path_factory, request):
    """A Chromium browser context (fresh empty profile) driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the environment
        message = "playwright is not installed: pip install -e '.[test]' (or playwright>=1.40)."
        if _is_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    playwright = sync_playwright().start()
    request.addfinalizer(playwright.stop)
    profile = tmp_path_factory.mktemp("chromium_profile")
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
    except Exception as exc:
        pytest.fail(f"Could not launch {chromium_path} with Playwright: {exc}", pytrace=False)
    request.addfinalizer(context.close)  # runs before playwright.stop (LIFO)
    return context


@pytest.fixture(scope="session")
def lab_page(browser, lab_server: LabServer, request):
    """One browser tab with JupyterLab loaded once (a full app load costs 5-20 s)."""
    tab = browser.new_page()
    tab.set_default_timeout(60_000)
    messages: list = []
    tab.on("console", lambda msg: messages.append(f"[{msg.type}] {msg.text}"))
    tab.on("pageerror", lambda exc: messages.append(f"[pageerror] {exc}"))
    tab._e2e_console = messages  # drained by the `page` fixture after each test
    request.addfinalizer(tab.close)
    tab.goto(f"{lab_server.url}/lab?reset&token={lab_server.token}")
    try:
        tab.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.started !== undefined"
            " && document.querySelector('.jp-LabShell') !== null",
            timeout=120_000,
        )
        tab.evaluate("() => window.jupyterapp.restored")  # resolves once the UI is restored
    except Exception as exc:
        shot = artifacts_dir() / "jupyterlab-load-FAILED.png"
        tab.screenshot(path=str(shot))
        pytest.fail(
            f"JupyterLab did not load in the browser ({exc}); screenshot {shot}.\n"
            f"Server log tail:\n{lab_server.log_tail()}",
            pytrace=False,
        )
    return tab


JS_CLOSE_NOTEBOOKS = """() => {
  for (const w of [...window.jupyterapp.shell.widgets('main')]) {
    if (w.context && w.context.model) w.context.model.dirty = false;  // no "save?" dialog
    w.dispose();
  }
}"""


@pytest.fixture
def page(lab_page, lab_server: LabServer, request):
    """The JupyterLab tab for one test; afterwards: failure screenshot, console log,
    notebooks closed and kernels shut down, so the next test starts clean."""
    yield lab_page
    failed = any(
        getattr(getattr(request.node, f"rep_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        shot = artifacts_dir() / f"{request.node.name}-FAILED.png"
        try:
            lab_page.screenshot(path=str(shot), full_page=True)
            print(f"\n[e2e] failure screenshot: {shot}")
        except Exception as exc:  # the browser may be gone
            print(f"\n[e2e] could not take failure screenshot: {exc}")
    messages = lab_page._e2e_console
    (artifacts_dir() / f"{request.node.name}-console.log").write_text("\n".join(messages))
    messages.clear()
    try:
        lab_page.evaluate(JS_CLOSE_NOTEBOOKS)
    except Exception:
        pass
    lab_server.shutdown_kernels()
