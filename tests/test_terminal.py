"""The terminal report of ``vae-course check`` and the summary of ``grade`` (rich), and ``--format md|json``.

The rendering is tested on hand-made results (fast); one slow test runs the real command and
keeps a capture of its terminal report (test-artifacts/terminal/, SVG and text) to look at.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text

from vae_course import checks
from vae_course.grading import progress, report, terminal
from vae_course.grading.protocol import CellError, ExerciseResult, Graded, RunReport, RunStatus, Status

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "terminal"


def graded() -> list[Graded]:
    """One submission of notebook 02: a pass, a named mistake (long message and hint), a stub."""
    results = [
        ExerciseResult("2.1", "the KL divergence from a diagonal Gaussian to N(0, I)", "gaussian_kl", 2, 2,
                       Status.PASSED, checks=["returns a float tensor"]),
        ExerciseResult("2.2", "the Bernoulli log-likelihood from logits", "bernoulli_log_likelihood", 0, 2,
                       Status.FAILED, "the log-likelihoods are wrong - this looks like a mean over pixels "
                       "instead of a sum.", "Pixels are independent given z, so their log-probabilities add up: "
                       "use .sum(dim=-1), not .mean(dim=-1).", "mean-over-pixels-instead-of-sum",
                       ["returns a float tensor", "shape `(B,)`"]),
        ExerciseResult("2.3", "the evidence lower bound", "elbo", 0, 2, Status.FAILED,
                       "not answered yet: the function still raises NotImplementedError.",
                       "Replace `raise NotImplementedError(...)` with your code.", "not-answered"),
    ]
    run = RunReport(RunStatus.ERRORS, "", [CellError(cell=31, ename="NotImplementedError", evalue="",
                                                     first_line="elbo(*batch)")])
    return [Graded("ann", "ann.ipynb", "02_elbo", "metadata", run, results)]


def render(width: int = 100) -> str:
    buffer = io.StringIO()
    terminal.print_check(graded(), "ann.ipynb", terminal.console(buffer, width=width))
    return buffer.getvalue()


def test_terminal_report_is_a_table_with_the_status_words_and_no_markdown():
    text = render()
    assert "Check of ann.ipynb" in text and "02_elbo: 2 / 6 points" in text and "Score: 2 / 6" in text
    assert [line for line in text.splitlines() if " passed " in line or " failed " in line]
    assert text.count(" failed ") == 2 and text.count(" passed ") == 1
    words = " ".join(text.split())  # wrapped, but all there
    assert "Hint: Pixels are independent" in words
    assert " ".join(checks.gaussian_kl.exercise.verified.split()[:4]) in words  # the pass sentence
    assert "cell 31: NotImplementedError" in text and "errors" in text
    assert not any(mark in text for mark in ("**", "| --- |", "# Check"))
    for width in (60, 100):
        assert max(map(len, render(width).splitlines())) <= width


def test_status_words_are_coloured_like_the_notebook():
    for status in Status:
        word = terminal.status_word(status)
        assert isinstance(word, Text) and word.plain == f" {status} " and word.style == terminal.STATUS_STYLES[status]


def test_md_and_json_formats_for_scripts():
    md, js = io.StringIO(), io.StringIO()
    terminal.check_report(graded(), "ann.ipynb", "md", md)
    terminal.check_report(graded(), "ann.ipynb", "json", js)
    assert md.getvalue().startswith("# Check of ann.ipynb") and "| Exercise | Result | Points |" in md.getvalue()
    assert md.getvalue().rstrip().endswith("Score: 2 / 6")
    [back] = [Graded.from_json(item) for item in json.loads(js.getvalue())]
    assert back == graded()[0]


EMOJI = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\U0001f000-\U0001faff]")


def test_markdown_feedback_has_status_words_and_no_emoji():
    """Feedback is read in editors and LMS pages without an emoji font: words only, the notebook's words."""
    results = graded()
    results[0].results[2] = dataclasses.replace(results[0].results[2], override="partial credit", points=1)
    md = report.feedback_markdown("ann", results)
    assert not EMOJI.search(md), EMOJI.findall(md)
    assert "| passed | 2 / 2 |" in md and "| failed | 1 / 2 (set by your teacher) |" in md
    assert "**passed.** Checked: returns a float tensor." in md
    assert "**failed:** the log-likelihoods are wrong" in md and "**Points set by your teacher: 1 / 2**" in md
    for status in Status:  # one vocabulary: the notebook's plain text, the terminal's word, the gradebook
        result = checks.Result(checks.gaussian_kl.exercise, status, "message")
        assert result.text().startswith(f"[{status}] ") and result.to_dict()["status"] == str(status)
        assert terminal.status_word(status).plain.strip() == str(status)


def test_grade_summary_has_a_table_per_notebook_and_the_summary_line():
    buffer = io.StringIO()
    terminal.print_grade_summary(graded(), terminal.console(buffer, width=100))
    text = buffer.getvalue()
    assert "Scores per notebook" in text and "02_elbo" in text and "2.00 / 6 (33%)" in text and "0 of 1" in text
    assert text.startswith("graded 1 submission (1 student)")  # the summary line first, as before


def test_check_progress_shows_each_cell_then_each_exercise(tmp_path):
    """The live display of ``vae-course check``, driven by the events the supervisor writes."""
    out = io.StringIO()
    shown = terminal.CheckProgress(tmp_path / "progress.jsonl", terminal.console(out, width=100))
    shown.handle({"event": "run", "cells": 3})
    shown.handle({"event": "cell", "number": 2, "line": "import torch"})
    shown.handle({"event": "cell", "number": 4, "line": "x = " + "1 + " * 40 + "1"})
    run = shown.progress.tasks[shown.run_task]
    assert (run.completed, run.total) == (1, 3) and run.description.startswith("running cell 4 «x = 1 + 1")
    assert len(run.description) < 60  # a long first line is cut
    shown.handle({"event": "check", "exercises": ["2.1", "2.2"]})
    assert shown.progress.tasks[shown.run_task].completed == 3
    shown.handle({"event": "exercise", "id": "2.1"})
    assert shown.progress.tasks[shown.check_task].description == "checking Exercise 2.1"
    shown.handle({"event": "result", "id": "2.1", "status": "passed"})
    shown.handle({"event": "result", "id": "2.2", "status": "no such status"})  # from another process: not trusted
    check = shown.progress.tasks[shown.check_task]
    assert (check.completed, check.total, check.description) == (2, 2, "checked the exercises")
    assert shown.done == {"2.1": Status.PASSED, "2.2": Status.ERROR}
    assert "Exercise 2.1  passed" in out.getvalue() and "Exercise 2.2  error" in out.getvalue()


def test_check_progress_reads_the_events_the_supervisor_writes(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    with terminal.CheckProgress(path, terminal.console(io.StringIO()), interval=0.01) as shown:
        progress.report("check", exercises=["0.1"])
        progress.report("result", id="0.1", status="failed")
        with open(path, "a") as file:
            file.write('{"event": "exer')  # being written when the grading ends: ignored, no crash
    assert shown.done == {"0.1": Status.FAILED}
    monkeypatch.delenv(progress.ENV)
    progress.report("result", id="0.2", status="passed")  # no file named: nothing written, no error
    assert "0.2" not in path.read_text()


@pytest.mark.slow
def test_check_command_prints_a_terminal_report_and_json(tmp_path):
    """The real command on the student notebook 02 (exercises unanswered); keeps a capture to look at.

    ``--no-execute``: the checks run, the notebook does not (test_grading's check test runs it in full).
    """
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "100", "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    command = [sys.executable, "-m", "vae_course", "check", str(ROOT / "notebooks" / "02_elbo.ipynb"), "--no-execute"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]
    plain = Text.from_ansi(done.stdout).plain
    exercises = checks.exercises_for("02_elbo")  # the registry's, so that adding an exercise changes nothing here
    maximum = sum(e.points for e in exercises)
    assert "Check of 02_elbo.ipynb" in plain and "What the check says" in plain and f"Score: 0 / {maximum}" in plain
    assert plain.count(" failed ") == len(exercises) and "not answered yet" in plain and "**" not in plain
    progress_lines = Text.from_ansi(done.stderr).plain  # the live display, as the supervisor reported each step
    assert all(f"Exercise {e.id}  failed" in progress_lines for e in exercises), progress_lines[-1500:]
    assert max(map(len, plain.splitlines())) <= 100
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    capture = terminal.console(io.StringIO(), record=True, width=100)
    capture.print(Text.from_ansi(done.stdout))
    capture.save_svg(str(ARTIFACTS / "vae-course-check-02_elbo.svg"), title="vae-course check notebooks/02_elbo.ipynb")
    (ARTIFACTS / "vae-course-check-02_elbo.txt").write_text(plain)

    done = subprocess.run(command + ["--format", "json"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.stdout.startswith("["), f"rc {done.returncode}: {done.stdout[:300]!r} {done.stderr[-1500:]}"
    [result] = json.loads(done.stdout)
    assert [r["code"] for r in result["results"]] == ["not-answered"] * len(exercises)
