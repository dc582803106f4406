"""Installs everywhere the README says: the lock resolves, wheels only, for every platform and Python named.

These tests ask the package registry (PyPI), as `make lab` itself must: uv resolves requirements.lock for a
target platform and Python (`--python-platform`, `--python-version`), evaluating the lock's environment markers
for that target, and `--only-binary :all:` fails on any package without a wheel there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

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


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(text: str) -> dict[str, set[str]]:
    """name -> the versions a lock (or uv's output) pins for it, markers aside."""
    found: dict[str, set[str]] = {}
    for line in load_script("lock").requirement_lines(text):
        name, version = line.split(";")[0].split("==")
        found.setdefault(re.sub(r"[-_.]+", "-", name.strip()).lower(), set()).add(version.strip())
    return found


def resolve(lock: Path, target: str, python: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    uv = load_script("lock").uv_command()
    return subprocess.run([*uv, "pip", "compile", str(lock), "--python-platform", target, "--python-version", python,
                           "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=600)


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_the_lock_installs_from_wheels_on(platform_name, python):
    target, env = PLATFORMS[platform_name]
    result = resolve(REPO / "requirements.lock", target, python, env)
    assert result.returncode == 0, f"requirements.lock does not install on {platform_name}, Python {python}:\n" \
                                   f"{result.stderr[-3000:]}"
    locked, resolved = pins((REPO / "requirements.lock").read_text(encoding="utf-8")), pins(result.stdout)
    outside = {name: versions for name, versions in resolved.items() if not versions <= locked.get(name, set())}
    assert not outside, f"on {platform_name} the lock is incomplete: these come from outside it {outside}; `make lock`"


def test_a_linux_only_lock_is_caught(tmp_path):
    """The check above can fail: yesterday's lock pinned CUDA wheels unconditionally, which macOS and Windows lack."""
    lock = tmp_path / "linux-only.lock"
    lock.write_text("nvidia-cufile==1.15.1.6\ntriton==3.8.0\n")
    for platform_name in ("macOS arm64", "Windows amd64"):
        target, env = PLATFORMS[platform_name]
        result = resolve(lock, target, "3.11.0", env)
        assert result.returncode != 0 and "no wheels with a matching platform tag" in result.stderr, platform_name
    target, env = PLATFORMS["Linux x86_64"]
    assert resolve(lock, target, "3.11.0", env).returncode == 0


def test_cpu_lock_and_binder_are_the_lock_with_torch_for_the_cpu():
    lock_text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    expected = load_script("lock").cpu_requirements(lock_text)
    for path in ("requirements-cpu.lock", "binder/requirements.txt"):
        assert (REPO / path).read_text(encoding="utf-8") == expected, f"{path} is out of date: run `make lock`"
    cpu, locked = pins(expected), pins(lock_text)
    assert cpu["torch"] == {"2.14.1+cpu"} and cpu["torchvision"] == {"0.29.1+cpu"}
    assert not [name for name in cpu if name.startswith(("nvidia-", "cuda-")) or name == "triton"]
    for name, versions in cpu.items():
        if name not in ("torch", "torchvision"):
            assert versions == locked[name], f"requirements-cpu.lock pins {name} {versions}, the lock {locked[name]}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in expected.splitlines()


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
    reason = load_script("course").unsupported_platform(system, machine, mac_version)
    assert (reason is None) == supported
    if not supported:
        assert "PyTorch 2.14.1" in reason and "Binder" in reason
