"""The command line: ``doctor`` and ``make-student`` (grade/check are tested in the grading tests).

The first tests run the real entry point as a subprocess (``python -m vae_course ...``),
the error cases call :func:`vae_course.cli.main` in-process to stay fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vae_course import cli

REPO = Path(__file__).resolve().parents[1]


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``python -m vae_course ARGS`` in a fresh interpreter, without waiting for it."""
    return subprocess.Popen([sys.executable, "-m", "vae_course", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=180)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def malformed_solution(folder: Path) -> Path:
    """A solution notebook whose exercise cell never closes its solution region."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[
        new_markdown_cell("# 00 · Broken"),
        new_code_cell("def average_image(images):\n    ### BEGIN SOLUTION\n    return images.mean(0)\n",
                      metadata={"tags": ["exercise-0.1"]}),
    ])
    path = folder / "00_broken.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The three subprocess runs, started together (each pays for importing torch and nbformat)."""
    base = tmp_path_factory.mktemp("cli")
    env = dict(os.environ, VAE_COURSE_CACHE=str(base / "cache"), VAE_COURSE_DATA=str(base / "data"))
    env.pop("VAE_COURSE_DEVICE", None)
    good_src = base / "good"
    good_src.mkdir()
    shutil.copy(REPO / "solutions" / "00_welcome.ipynb", good_src)
    bad = malformed_solution(base / "bad")
    processes = {
        "doctor": start_cli("doctor", env=env),
        "good": start_cli("make-student", str(good_src), str(base / "good-out"), env=env),
        "bad": start_cli("make-student", str(bad.parent), str(base / "bad-out"), env=env),
    }
    try:
        yield base, {name: finish(process) for name, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()


def test_doctor_subprocess_reports_the_environment(cli_runs):
    base, runs = cli_runs
    result = runs["doctor"]
    assert result.returncode == 0, result.stderr
    report = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    for key in ("python", "vae_course", "torch", "torchvision", "matplotlib", "device", "data", "cache"):
        assert key in report, f"doctor does not report {key!r}: {result.stdout}"
    assert report["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert report["device"] in ("cpu", "cuda", "mps")
    assert "embedded" in report["data"], "with an empty data root, doctor says the embedded subset is used"
    assert report["cache"] == str(base / "cache")


def test_make_student_subprocess_writes_the_student_notebooks(cli_runs):
    base, runs = cli_runs
    result = runs["good"]
    written = base / "good-out" / "00_welcome.ipynb"
    assert result.returncode == 0, result.stderr
    assert f"wrote {written}" in result.stdout
    assert written.read_bytes() == (REPO / "notebooks" / "00_welcome.ipynb").read_bytes()


def test_make_student_subprocess_malformed_notebook_exits_2_with_a_clear_error(cli_runs):
    base, runs = cli_runs
    result = runs["bad"]
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "00_broken.ipynb, cell 2" in result.stderr and "never closed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (base / "bad-out" / "00_broken.ipynb").exists()


# --------------------------------------------------------------------------- in-process: more error cases

def test_make_student_errors_in_process(tmp_path, capsys):
    assert cli.main(["make-student", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "has no solution notebooks" in capsys.readouterr().err

    src = tmp_path / "src"
    src.mkdir()
    (src / "01_bad.ipynb").write_text("not json at all", encoding="utf-8")
    assert cli.main(["make-student", str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "01_bad.ipynb is not a readable notebook" in err

    (src / "01_bad.ipynb").unlink()
    malformed_solution(src)
    assert cli.main(["make-student", str(src), str(tmp_path / "out")]) == 2
    assert "never closed" in capsys.readouterr().err


def test_make_student_defaults_are_the_repository_folders():
    args = cli.build_parser().parse_args(["make-student"])
    assert (args.src, args.dst) == ("solutions", "notebooks")


def test_doctor_in_process_and_usage_errors(capsys):
    assert cli.main(["doctor"]) == 0
    assert "torch" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main([])  # a command is required
    assert info.value.code == 2
    assert "usage: vae-course" in capsys.readouterr().err


def test_make_student_checks_file_errors_in_process(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), src / "90_lab.ipynb")
    assert cli.main(["make-student", str(src), str(tmp_path / "out"), "--checks", str(tmp_path / "none.py")]) == 2
    assert "none.py does not exist" in capsys.readouterr().err
    (tmp_path / "broken.py").write_text("x = 1\n### BEGIN SOLUTION\ny = 2\n")
    assert cli.main(["make-student", str(src), str(tmp_path / "out"), "--checks", str(tmp_path / "broken.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is never closed by ### END SOLUTION" in err and "Traceback" not in err
    (tmp_path / "raises.py").write_text("import math\n\nraise RuntimeError('oops')\n")
    assert cli.main(["make-student", str(src), str(tmp_path / "out"), "--checks", str(tmp_path / "raises.py")]) == 2
    assert "could not be loaded (line 3: RuntimeError: oops)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
