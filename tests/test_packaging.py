"""Packaging: the dependency lists agree, the lock pins the tested versions, CI runs the README's command."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. become one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0])


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "==" in line, f"requirements.lock should pin exact versions, found {line!r}"
        name, version = line.split(";")[0].split("==", 1)
        pins.setdefault(normalize(name), version.strip())
    return pins


def test_lock_pins_the_tested_torch_and_torchvision():
    pins = lock_pins()
    assert pins.get("torch") == "2.14.1"
    assert pins.get("torchvision") == "0.29.1"


def test_lock_pins_every_declared_dependency():
    project = pyproject()["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = lock_pins()
    missing = sorted(requirement_name(r) for r in declared if requirement_name(r) not in pins)
    assert not missing, f"requirements.lock does not pin {missing}: run `make lock`"
    assert "vae-course" not in pins, "the course itself is installed editable, not from the lock"


def test_ci_script_runs_make_test():
    script = REPO / ".ci" / "run"
    assert script.exists(), ".ci/run is the CI entry point"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    commands = [line.strip() for line in script.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands, f".ci/run should call `make test`, it runs: {commands}"


def test_readme_quick_start_is_make_lab_then_make_test():
    readme = REPO / "README.md"
    assert readme.exists(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert sections and sections[0].strip() == "Quick start", \
        f"README's first section should be 'Quick start', found {sections[:1]}"
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", quick_start, flags=re.MULTILINE | re.DOTALL)
    assert blocks, "the Quick start section needs a code block"
    language, body = blocks[0]
    assert language == "bash"
    assert [line.strip() for line in body.strip().splitlines()] == ["make lab", "make test"]
    first_block = re.search(r"^```\w*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert first_block.group(1) == body, "these must be the README's first commands"
    windows = [b for lang, b in blocks if lang in ("bat", "powershell")]
    assert windows and [line.strip() for line in windows[0].strip().splitlines()] == \
        [r"py scripts\course.py lab", r"py scripts\course.py test"], "Windows gets the same two commands without make"


def test_make_lab_and_make_test_are_the_windows_commands():
    """One set-up for every OS: make's lab and test targets call scripts/course.py, as Windows users do."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in ("lab", "test"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
        assert f"scripts/course.py $(COURSE_ARGS) {target}" in recipe, recipe


def test_makefile_has_the_advertised_targets():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in ("lab", "test", "student-notebooks", "setup"):
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.MULTILINE), f"Makefile has no `{target}` target"
    assert "scripts/course.py" in makefile, "make sets up with scripts/course.py, which installs the pinned versions"
    course = (REPO / "scripts" / "course.py").read_text(encoding="utf-8")
    assert '"requirements.lock"' in course and '"requirements-lab.lock"' in course


def test_console_script_points_to_the_cli():
    assert pyproject()["project"]["scripts"]["vae-course"] == "vae_course.cli:main"


# --------------------------------------------------------------------------- Binder / repo2docker

def test_binder_uses_the_locks_python_and_installs_the_course():
    runtime = (REPO / "binder" / "runtime.txt").read_text().strip()
    header = (REPO / "requirements.lock").read_text().splitlines()[1]
    assert runtime == "python-3.11" and "Python 3.11 to" in header
    post_build = REPO / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only when it is executable"
    assert "pip install --no-deps -e ." in post_build.read_text()
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"], "conda users get the same Python as Binder"
