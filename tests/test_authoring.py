"""Authoring your own exercise, end to end, exactly as docs/authoring-exercises.md says:
write the check file -> tag the solution cell -> make-student --checks -> a student solves and runs the
notebook's check cell -> the teacher grades with the full check file.

The code is taken from the guide's code blocks, so the guide cannot drift from what works.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vae_course import cli

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "authoring-exercises.md"


def guide_block(marker: str) -> str:
    """The fenced block right after ``<!-- marker -->`` in the guide."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\n```[a-z]*\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert match, f"the guide has no block marked {marker!r}"
    return match.group(1)


def vae_course(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "vae_course", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TMPDIR": str(cwd)})


def student_answer(nb, body: str):
    """The student's version of the notebook with ``body`` written in place of the stub."""
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if "exercise-90.1" in c.metadata.get("tags", []))
    cell.source = re.sub(r"    raise NotImplementedError\(.*\)", body, cell.source)
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("authoring")
    (base / "my_checks.py").write_text(guide_block("file: my_checks.py"))
    solutions = base / "solutions-mine"
    solutions.mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# 90 · My lab"), new_code_cell("import math\n\nimport torch"),
                             new_markdown_cell("### Exercise 90.1 — a stable log-mean-exp"),
                             new_code_cell(guide_block("cell: exercise-90.1"), metadata={"tags": ["exercise-90.1"]}),
                             new_code_cell(guide_block("cell: check"))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, solutions / "90_my_lab.ipynb")
    return base


def test_make_student_without_the_checks_refuses_the_new_tag(course, capsys):
    assert cli.main(["make-student", str(course / "solutions-mine"), str(course / "refused")]) == 2
    assert "tag exercise-90.1 has no check" in capsys.readouterr().err
    assert not (course / "refused" / "90_my_lab.ipynb").exists()


@pytest.mark.slow  # grades notebooks in subprocesses
def test_the_whole_flow(course):
    # make-student --checks: the student notebook and the student copy of the check file
    done = vae_course("make-student", "solutions-mine", "notebooks-mine", "--checks", "my_checks.py", cwd=course)
    assert done.returncode == 0, done.stderr
    copy = (course / "notebooks-mine" / "my_checks.py").read_text()
    assert "_log_mean_exp(" not in copy and "math.log(a.shape" not in copy and "Mistake(\"a log-sum-exp" not in copy
    assert "HiddenCheck()" in copy and "check.finite(big" in copy
    student = nbformat.read(course / "notebooks-mine" / "90_my_lab.ipynb", as_version=4)
    assert "raise NotImplementedError(\"Exercise 90.1: a stable log-mean-exp\")" in student.cells[3].source
    assert "logsumexp" not in nbformat.writes(student)

    # a student solves it (a correct answer, written differently) and runs the notebook, check cell included
    right = ("    top = a.max(dim=-1, keepdim=True).values\n"
             "    return (top + torch.log(torch.exp(a - top).mean(dim=-1, keepdim=True))).squeeze(-1)")
    wrong = "    return torch.logsumexp(a, dim=-1)"
    submissions = course / "submissions"
    submissions.mkdir()
    nbformat.write(student_answer(student, right), submissions / "ada.ipynb")
    nbformat.write(student_answer(student, wrong), submissions / "bea.ipynb")
    run = nbformat.read(submissions / "bea.ipynb", as_version=4)
    NotebookClient(run, timeout=120, resources={"metadata": {"path": str(course / "notebooks-mine")}}).execute()
    shown = run.cells[4].outputs[0]["data"]["text/plain"]
    assert shown == guide_block("output: the student's check cell").strip()  # the guide shows the real output

    # the teacher grades with the full check file
    done = vae_course("grade", "submissions", "--checks", "my_checks.py", "--out", "grades/gradebook.csv",
                      "--feedback", "grades/feedback", "--workers", "2", cwd=course)
    assert done.returncode == 0, done.stderr
    with open(course / "grades" / "gradebook.csv", newline="") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert (rows["ada"]["status"], rows["ada"]["points"], rows["ada"]["code"]) == ("passed", "2", "ok")
    assert (rows["bea"]["status"], rows["bea"]["points"], rows["bea"]["code"]) == (
        "failed", "0", "log-sum-exp-without-the-log-k")
    assert rows["bea"]["message"] == "the values are wrong - this looks like a log-sum-exp without the -log K."
    assert "subtract math.log(K)" in (course / "grades" / "feedback" / "bea.md").read_text()
    with open(course / "grades" / "gradebook_totals.csv", newline="") as handle:
        runs = {r["student"]: r["run"] for r in csv.DictReader(handle)}
    assert runs == {"ada": "ok", "bea": "ok"}  # the notebook's `import my_checks` worked in the grader's kernel
