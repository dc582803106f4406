"""Installs everywhere the README says: the lock resolves, wheels only, for every platform and Python named.

These tests ask the package registry (PyPI), as `make lab` itself must: uv resolves requirements.lock for a
target platform and Python (`--python-platform`, `--python-version`), evaluating the lock's environment markers
for that target, and `--only-binary :all:` fails on any package without a wheel there.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from _scripts import load_script

REPO = Path(__file__).resolve().parents[1]
# The platforms of the README's install table, as uv names them (macOS: from 14, the oldest torch 2.14.1 supports).
PLATFORMS = {
    "Linux x86_64": ("x86_64-unknown-linux-gnu", {}),
    "Linux aarch64": ("aarch64-unknown-linux-gnu", {}),
    "macOS arm64": ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
    "Windows amd64": ("x86_64-pc-windows-msvc", {}),
}
# The oldest Python the README names (3.11.0: older than Debian 12's 3.11.2) and the newest it supports.
PYTHONS = ("3.11.0", "3.14")


LOCKS = ("requirements.lock", "requirements-lab.lock")


course, lock_script = load_script("course"), load_script("lock")


def pins(text: str) -> dict[str, set[str]]:
    """name -> the versions a lock (or uv's output) pins for it, markers aside."""
    found: dict[str, set[str]] = {}
    for line in course.requirement_lines(text):
        name, version = line.split(";")[0].split("==")
        found.setdefault(re.sub(r"[-_.]+", "-", name.strip()).lower(), set()).add(version.strip())
    return found


def resolve(lock: Path, target: str, python: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    import uv

    return subprocess.run([uv.find_uv_bin(), "pip", "compile", str(lock), "--python-platform", target, "--python-version", python,
                           "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=600)


@pytest.mark.registry
@pytest.mark.parametrize("lock", LOCKS)
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_the_locks_install_from_wheels_on(platform_name, python, lock):
    target, env = PLATFORMS[platform_name]
    result = resolve(REPO / lock, target, python, env)
    assert result.returncode == 0, f"{lock} does not install on {platform_name}, Python {python}:\n" \
                                   f"{result.stderr[-3000:]}"
    locked, resolved = pins((REPO / lock).read_text(encoding="utf-8")), pins(result.stdout)
    outside = {name: versions for name, versions in resolved.items() if not versions <= locked.get(name, set())}
    assert not outside, f"on {platform_name} {lock} is incomplete: these come from outside it {outside}; `make lock`"


def test_the_lab_lock_pins_the_tested_versions():
    """`make lab` installs a subset of what `make test` tests, at the same versions."""
    lab, full = (pins((REPO / lock).read_text(encoding="utf-8")) for lock in ("requirements-lab.lock", "requirements.lock"))
    assert {name: versions for name, versions in lab.items() if versions != full.get(name)} == {}
    assert "pytest" in full and "pytest" not in lab and "torch" in lab


@pytest.mark.registry
def test_a_linux_only_lock_is_caught(tmp_path):
    """The check above can fail: yesterday's lock pinned CUDA wheels unconditionally, which macOS and Windows lack."""
    lock = tmp_path / "linux-only.lock"
    lock.write_text("nvidia-cufile==1.15.1.6\ntriton==3.8.0\n")
    for platform_name in ("macOS arm64", "Windows amd64"):
        target, env = PLATFORMS[platform_name]
        result = resolve(lock, target, "3.11.0", env)
        message = " ".join(result.stderr.split())  # uv wraps its message at the terminal's width
        assert result.returncode != 0, platform_name
        assert "no wheels with a matching platform tag" in message and "nvidia-cufile" in message, message
    target, env = PLATFORMS["Linux x86_64"]
    assert resolve(lock, target, "3.11.0", env).returncode == 0


def test_binder_is_the_lab_lock_with_torch_for_the_cpu():
    """Binder and GPU-less hubs: the lab lock's versions, PyTorch's CPU build, no CUDA libraries."""
    binder = (REPO / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert binder == lock_script.binder_requirements(), "binder/requirements.txt is out of date: `make lock`"
    cpu, lab = pins(binder), pins((REPO / "requirements-lab.lock").read_text(encoding="utf-8"))
    assert cpu["torch"] == {"2.14.1+cpu"} and cpu["torchvision"] == {"0.29.1+cpu"}
    assert not [name for name in cpu if name.startswith(("nvidia-", "cuda-")) or name == "triton"]
    assert {name: lab[name] for name in lab if name not in cpu} == \
        {name: lab[name] for name in lab if name.startswith(("nvidia-", "cuda-")) or name == "triton"}
    for name, versions in cpu.items():
        if name not in ("torch", "torchvision"):
            assert versions == lab[name], f"binder pins {name} {versions}, the lab lock {lab[name]}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder.splitlines()


def test_environment_yml_installs_the_lock():
    """conda's environment installs the same tested versions as `make lab`: pip from the lock, then the course."""
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    pip_sections = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert pip_sections == [["-r requirements.lock", "-e ."]]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python.removeprefix("python=") in ("3.11", "3.12", "3.13", "3.14")
    assert env["name"] == "vae-course"


@pytest.mark.parametrize("system, machine, mac_version, supported", [
    ("Linux", "x86_64", "", True),
    ("Linux", "aarch64", "", True),
    ("Windows", "AMD64", "", True),
    ("Darwin", "arm64", "14.2", True),
    ("Darwin", "arm64", "13.6", False),
    ("Darwin", "x86_64", "14.2", False),
])
def test_setup_says_plainly_where_torch_has_no_wheels(system, machine, mac_version, supported):
    reason = course.unsupported_platform(system, machine, mac_version)
    assert (reason is None) == supported
    if not supported:
        assert "PyTorch 2.14.1" in reason and "Binder" in reason


@pytest.mark.parametrize("torch, system, free_gib, fits", [
    ("pypi", "Linux", 20, True), ("pypi", "Linux", 5, False), ("cpu", "Linux", 5, True), ("cpu", "Linux", 2, False),
    ("pypi", "Darwin", 5, True), ("pypi", "Windows", 2, False),
])
def test_setup_says_before_pip_starts_when_the_disk_is_too_full(tmp_path, torch, system, free_gib, fits):
    shortage = course.disk_shortage(torch, system, free_gib * 2**30, tmp_path / ".venv")
    assert (shortage is None) == fits
    if not fits:
        assert f"{free_gib:.1f} GiB free" in shortage and "Free some space" in shortage
        assert ("TORCH=cpu" in shortage) == (torch == "pypi" and system == "Linux")


def test_an_environment_that_already_holds_torch_is_not_refused_for_space(tmp_path):
    (tmp_path / ".venv/lib/python3.11/site-packages/torch").mkdir(parents=True)
    assert course.disk_shortage("pypi", "Linux", 1 * 2**30, tmp_path / ".venv") is None
