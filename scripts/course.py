"""Set up the course's environment, then open the course or run its tests: the two commands, on any OS.

    python scripts/course.py lab      # set up .venv (once) and open the course in JupyterLab
    python scripts/course.py test     # set up .venv (once) and run the whole test suite

`make lab` / `make test` call exactly these; on Windows (no `make`) type them with `py` instead of
`python`. Standard library only: it runs before anything is installed.

What is installed: `lab` needs the course's own dependencies (requirements-lab.lock); `test` adds the test
tools (requirements.lock, which pins the same versions plus pytest, nbval, Playwright, Sphinx, uv).

Which PyTorch build (`--torch`, or the environment variable VAE_COURSE_TORCH):
- `pypi` (default): PyPI's wheels. On Linux that is the CUDA build with its NVIDIA libraries (several GB);
  on macOS and Windows PyPI's torch is the CPU build (MPS on Apple silicon).
- `cpu` (Linux only): the same versions, with PyTorch's CPU build from PyTorch's own index and none of
  the CUDA libraries, for laptops and JupyterHub servers without an NVIDIA GPU (`cpu_variant`).

The environment is built once and reused; it is set up again when a lock, pyproject.toml or the chosen
build change (the stamp file `.venv/.vae-course-installed` records what was installed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STAMP = VENV / ".vae-course-installed"
# What each command needs, smallest first: the test lock pins the lab lock's versions and more.
LOCKS = {"lab": ROOT / "requirements-lab.lock", "test": ROOT / "requirements.lock"}
TORCH_BUILDS = ("pypi", "cpu")
TESTED_TORCH = {"torch": "2.14.1", "torchvision": "0.29.1"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Packages that PyPI's Linux torch pulls in for CUDA; the CPU build needs none of them.
GPU_ONLY = re.compile(r"^(nvidia-|cuda-|triton\b)")
OLDEST_PYTHON = (3, 11)
# Every browser the browser tests can drive (Chromium-based), looked up on PATH and at the usual places.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_PATHS = (
    "/usr/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
)


class SetupError(SystemExit):
    """A set-up step that cannot go on: the message says what to do instead."""

    def __init__(self, message: str):
        super().__init__(f"course.py: {message}")


def unsupported_platform(system: str, machine: str, mac_version: str = "") -> str | None:
    """Why PyTorch 2.14.1 (the tested version) cannot be installed here, or None when it can.

    torch 2.14.1 ships wheels for Linux x86_64 and aarch64, Windows amd64 and macOS arm64 from macOS 14 on.
    """
    machine = machine.lower()
    if system == "Darwin":
        if machine not in ("arm64", "aarch64"):
            return ("this is an Intel Mac: PyTorch 2.14.1, the version the course is tested with, has no wheels for "
                    "Intel Macs (PyTorch stopped building them after 2.2). Use the course on Binder or a JupyterHub "
                    "(docs/deploying.md), or on a Linux or Windows machine.")
        major = int((mac_version or "0").split(".")[0] or 0)
        if major < 14:
            return (f"macOS {mac_version or '?'}: PyTorch 2.14.1 needs macOS 14 (Sonoma) or newer on Apple silicon. "
                    "Update macOS, or use the course on Binder (docs/deploying.md).")
    return None


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*command: str | Path) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], cwd=ROOT, check=True)


def requirement_lines(lock_text: str) -> list[str]:
    """The `name==version [; marker]` lines of a lock, without comments and option lines."""
    return [line.strip() for line in lock_text.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-"))]


def cpu_variant(lock_text: str, header: str = "") -> str:
    """A lock's versions for Linux without a GPU: CUDA-only packages out, torch/torchvision's `+cpu` builds."""
    pins = []
    for line in requirement_lines(lock_text):
        name = line.split("==", 1)[0].strip().lower()
        if GPU_ONLY.match(name):
            continue
        pins.append(f"{name}=={TESTED_TORCH[name]}+cpu" if name in TESTED_TORCH else line)
    return header + f"--extra-index-url {CPU_INDEX}\n" + "\n".join(pins) + "\n"


def stamp_for(need: str, torch: str) -> dict:
    """What the stamp records: what was installed, and hashes of the files that decide it."""
    inputs = (*LOCKS.values(), ROOT / "pyproject.toml")
    return {"need": need, "torch": torch, "python": platform.python_version(),
            "inputs": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in inputs}}


def is_set_up(need: str, torch: str) -> bool:
    """Whether .venv already holds what `need` wants (a test environment also serves the lab)."""
    if not (STAMP.exists() and venv_python().exists()):
        return False
    try:
        installed = json.loads(STAMP.read_text(encoding="utf-8"))
    except ValueError:
        return False  # an old or broken stamp: set up again
    wanted = stamp_for(need, torch)
    return (all(installed.get(key) == wanted[key] for key in ("torch", "python", "inputs"))
            and list(LOCKS).index(installed.get("need", "lab")) >= list(LOCKS).index(need))


# Free disk space a new environment needs (GiB): its size (README's table: 6.7 GB for the CUDA build, at most
# 2.1 GB otherwise) and room for pip's unpacked downloads while it installs.
SPACE_NEEDED_GIB = {"cuda": 7, "small": 2.5}


def disk_shortage(torch: str, system: str, free_bytes: int, venv: Path) -> str | None:
    """Why a new environment will not fit on the disk (a sentence saying what to do), or None.

    Checked before pip starts, so that a full disk gives this message instead of pip's OSError halfway through.
    An environment that already holds torch needs little more: only a venv without it is checked.
    """
    if any(venv.glob("lib*/python*/site-packages/torch")) or (venv / "Lib" / "site-packages" / "torch").exists():
        return None
    big = torch == "pypi" and system == "Linux"
    needed = SPACE_NEEDED_GIB["cuda" if big else "small"]
    free = free_bytes / 2**30
    if free >= needed:
        return None
    advice = ("or use PyTorch's CPU build, which needs about 2.5 GiB: `make lab TORCH=cpu` (no NVIDIA GPU needed)"
              if big else "or set the course up on a disk with more room")
    return (f"the course's environment needs about {needed} GiB of free disk space, and {ROOT} has {free:.1f} GiB "
            f"free. Free some space (pip's cache: `pip cache purge`), {advice}.")


def setup(need: str, torch: str) -> Path:
    """Create .venv with the locked versions `need` (lab or test) asks for, unless it already holds them."""
    if sys.version_info < OLDEST_PYTHON:
        raise SetupError(f"Python {platform.python_version()} is too old: the course needs Python 3.11 or newer. "
                         "Run this script with a newer Python (e.g. `python3.11 scripts/course.py lab`).")
    reason = unsupported_platform(platform.system(), platform.machine(), platform.mac_ver()[0])
    if reason:
        raise SetupError(reason)
    if torch == "cpu" and platform.system() != "Linux":
        raise SetupError("--torch cpu is for Linux: on macOS and Windows PyPI's torch already is the CPU build. "
                         "Run without --torch.")
    if is_set_up(need, torch):
        return venv_python()
    shortage = disk_shortage(torch, platform.system(), shutil.disk_usage(ROOT).free, VENV)
    if shortage:
        raise SetupError(shortage)
    if not venv_python().exists():
        run(sys.executable, "-m", "venv", VENV)
    python = venv_python()
    with tempfile.TemporaryDirectory() as folder:
        lock = LOCKS[need]
        if torch == "cpu":
            lock = Path(folder) / f"cpu-{lock.name}"
            lock.write_text(cpu_variant(LOCKS[need].read_text(encoding="utf-8")), encoding="utf-8")
        run(python, "-m", "pip", "install", "--quiet", "--no-compile", "-r", lock)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "-e", ROOT)
    # Byte-compile on all cores instead of pip's one-file-at-a-time step (measured: 209 s -> 185 s here).
    # Like pip, skip files that do not compile on this Python (torch ships files for newer Pythons only).
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-qq", "-j", "0", purelib], cwd=ROOT)
    STAMP.write_text(json.dumps(stamp_for(need, torch)), encoding="utf-8")
    if torch == "pypi" and platform.system() == "Linux" and not has_nvidia_gpu():
        print("course.py: no NVIDIA GPU found. `make lab TORCH=cpu` (or --torch cpu) builds a much smaller "
              "environment with PyTorch's CPU build; see README.md.", flush=True)
    return python


def has_nvidia_gpu() -> bool:
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def find_browser() -> str | None:
    """A Chromium-based browser for the browser tests: $E2E_CHROMIUM, else one on PATH or at a usual place."""
    configured = os.environ.get("E2E_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        # Ubuntu's /usr/bin/chromium-browser can be a stub that only asks for `snap install`.
        if found and "snap" not in Path(found).resolve().parts:
            return found
    return next((path for path in BROWSER_PATHS if os.access(path, os.X_OK)), None)


def install_browser() -> str | None:
    """Find a browser, or install Debian/Ubuntu's Chromium with apt where that is possible.

    Playwright's own browser download is not used: it comes from a CDN that closed networks (and CI
    here) cannot reach, while the distribution's package comes from the usual mirror.
    """
    browser = find_browser()
    if browser or os.environ.get("E2E_CHROMIUM"):
        return browser
    apt = shutil.which("apt-get")
    sudo = [] if hasattr(os, "geteuid") and os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if apt and sudo is not None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["update", "-qq"], ["install", "-y", "-qq", "chromium"]):
            if subprocess.run([*sudo, apt, *step], env=env).returncode != 0:
                break
        browser = find_browser()
    if browser is None:
        print("course.py: no Chromium or Chrome found, and none could be installed here: the browser tests "
              "(tests/e2e) will be skipped. Install Chrome or Chromium, or set E2E_CHROMIUM=/path/to/browser, "
              "to run them.", flush=True)
    return browser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["setup", "lab", "test", "test-fast", "browser"],
                        help="lab: open the course; test: the whole test suite; test-fast: without the browser tests")
    parser.add_argument("--torch", choices=TORCH_BUILDS, default=os.environ.get("VAE_COURSE_TORCH") or "pypi",
                        help="which PyTorch build to install (default: pypi; cpu: Linux without a GPU)")
    parser.epilog = "Arguments after -- go to JupyterLab (lab) or pytest (test), e.g. `test -- tests/test_data.py`."
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    options, extra = parser.parse_args(argv[:cut]), argv[cut + 1:]
    if options.command == "browser":
        return 0 if install_browser() else 1

    browser: list[str | None] = []
    installer = None
    if options.command == "test":  # the browser installs while pip sets up .venv
        installer = threading.Thread(target=lambda: browser.append(install_browser()))
        installer.start()
    try:
        python = setup("lab" if options.command == "lab" else "test", options.torch)
    finally:
        if installer:
            installer.join()
    if options.command == "setup":
        return 0
    if options.command == "lab":
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return subprocess.run([str(python), "-m", "jupyterlab", *as_root, *extra,
                               str(Path("notebooks") / "00_welcome.ipynb")], cwd=ROOT).returncode
    env = dict(os.environ)
    if browser and browser[0]:
        env.setdefault("E2E_CHROMIUM", browser[0])
    # All cores: pytest-xdist workers; --dist loadscope keeps each notebook's cells on one worker, in order;
    # conftest.py orders the scopes longest first (--no-loadscope-reorder keeps that order).
    command = [str(python), "-m", "pytest", "-n", "auto", "--dist", "loadscope", "--no-loadscope-reorder"]
    if options.command == "test-fast":
        command += ["-m", "not e2e"]
    print("+", " ".join(command + extra), flush=True)
    return subprocess.run(command + extra, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
