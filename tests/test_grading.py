"""Grading: ``vae-course grade`` / ``check`` end to end on real notebooks, and the pieces they are made of.

The hostile suite (``test_hostile_batch``) grades, in ONE batch with 2 workers, a correct and an
unanswered copy of notebook 00 together with one submission of every kind of broken or hostile
notebook from ``tests/hostile/submissions.py``, and checks every student's points and status, that the
gradebook is right although a submission overwrote it, that no process survives, and that nothing is
left in the temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from hostile import submissions as hostile  # tests/hostile/: the generated submissions
from vae_course.checks import REGISTRY, Exercise
from vae_course import cli, references
from vae_course.grading import checker, integrity, outputs, report, sandbox
from vae_course.grading.extraction import extract
from vae_course.grading.protocol import ExerciseResult, Graded, RunReport, RunStatus, Status
from vae_course.grading.submissions import find_files, identify, read_submission

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers


def vae_course(*args, tmp: Path, timeout: float = 600, **popen):
    """Run the real command line in a subprocess with its own TMPDIR (so leftovers can be seen)."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "vae_course", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **popen)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sleepers(token: str) -> list[psutil.Process]:
    """Processes `sleep <token>N` started by hostile submissions."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) >= 2 and os.path.basename(cmd[0]) == "sleep" and cmd[1].startswith(token):
            found.append(proc)
    return found


def grading_processes(since: float, tmp: Path) -> list[psutil.Process]:
    """Processes started since ``since`` by the grading run whose TMPDIR is ``tmp`` (its marker or its modules).

    Only that run's: other tests grade at the same time on the other pytest-xdist worker.
    """
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        try:
            if proc.info["create_time"] < since - 1 or proc.pid == os.getpid():
                continue
            environ = proc.environ()
            if not environ.get("TMPDIR", "").startswith(str(tmp)):
                continue
            if sandbox.MARKER in environ or "vae_course.grading" in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def save(nb, path: Path) -> Path:
    nbformat.write(nb, path)
    return path


def small_notebook(source: str):
    return hostile.small(source)


# --------------------------------------------------------------------------- the hostile suite


def time_limit() -> int:
    """The batch's limit per cell and per check, in seconds: 3x what the correct notebook's first cell
    takes here and now, at least 15 s.

    The correct notebook must never time out, and each looping submission burns a core this long (the
    one that swallows the limit 1.5x as long: the grace before the kill), so the limit is measured, not
    fixed: a fresh interpreter imports what notebook 00's first cell imports (3 s on the development
    machine when quiet; a slower or busier machine gets a longer limit - a fixed 10 s once timed out the
    correct notebook under load).
    """
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch; from vae_course import checks, doctor, plotting; "
                    "import vae_course.data, vae_course.metrics, vae_course.train"], check=True, timeout=300)
    return max(15, round(3 * (time.monotonic() - start)))


@pytest.mark.slow
def test_hostile_batch(tmp_path):
    token = str(random.randint(31000, 39999))
    subs, out, tmp = tmp_path / "submissions", tmp_path / "grades" / "gradebook.csv", tmp_path / "tmp"
    tmp.mkdir()
    expected = hostile.write_batch(subs, gradebook=out, token=token)
    victim = subs / "victim.ipynb"
    out.parent.mkdir()
    out.write_text("a previous gradebook\n")

    limit = time_limit()
    started, start = time.time(), time.monotonic()
    done = vae_course("grade", subs, "--out", out, "--feedback", tmp_path / "feedback", "--workers", 2,
                      "--timeout", limit, "--checks", hostile.CHECKS_FILE, tmp=tmp)
    elapsed = time.monotonic() - start
    print(f"hostile batch of {len(expected)} submissions graded in {elapsed:.0f} s, {limit} s per cell and check")
    assert done.returncode == 0, done.stderr[-3000:]

    # Every student gets exactly the points they deserve, with the right status.
    rows = read_csv(out)
    got = {(r["student"], r["exercise"]): (r["status"], int(r["points"])) for r in rows}
    want = {(student, ex): value for student, exercises in expected.items() for ex, value in exercises.items()}
    assert got == want
    assert all(r["max_points"] == str(REGISTRY[r["exercise"]].points) for r in rows if r["exercise"] in REGISTRY)
    assert rows == sorted(rows, key=lambda r: (r["student"], r["notebook"], report.exercise_key(r["exercise"])))

    by_student = {(r["student"], r["exercise"]): r for r in rows}
    message = lambda student, ex="0.1": by_student[(student, ex)]["message"]  # noqa: E731
    assert "invalid JSON" in message("malformed_json")
    assert "not UTF-8" in message("not_a_notebook")
    assert "`mean_image` instead" in message("renamed")
    assert "no code cell defines `average_image`" in message("deleted")
    assert "not answered yet" in message("stub")
    assert f"did not finish within {limit} s" in message("loop_in_exercise")
    assert "the grader had to stop it" in message("loop_swallowing_timeouts")
    assert "can't allocate memory" in message("memory_hog") and by_student[("memory_hog", "0.1")]["code"] == \
        "out-of-memory"
    assert "SystemExit" in message("sys_exit")
    assert "exit code 0" in message("os_exit_in_function")
    assert "KeyboardInterrupt" in message("keyboard_interrupt")
    assert "your function raised EOFError" in message("reads_stdin")
    assert "segmentation fault" in message("segfault_in_function")
    assert "sum instead of a mean" in message("monkeypatch_checks")
    assert "`torch.allclose`" in message("monkeypatch_in_exercise")
    assert "sum instead of a mean" in message("fake_success")
    assert "exit code 0" in message("multi_crash_untagged", "99.1")
    assert "you called `vae_course.latent.slerp`" in message("delegates_slerp", "5.2")
    assert "you called `vae_course.losses.gaussian_kl`" in message("delegates_losses", "2.1")
    assert "you called `vae_course.losses.elbo`" in message("delegates_losses", "2.3")  # via importlib + getattr
    assert by_student[("delegates_slerp", "5.2")]["code"] == "called-reference"
    for student in ("delegates_unwatched", "delegates_closure"):  # issue 24's two bypasses
        assert by_student[(student, "5.2")]["code"] == "called-reference", by_student[(student, "5.2")]

    # Running the notebook is reported (feedback), but did not decide the points above.
    feedback_text = lambda student: (tmp_path / "feedback" / f"{student}.md").read_text()  # noqa: E731
    totals = {r["student"]: r for r in read_csv(out.with_name("gradebook_totals.csv"))}
    assert set(totals) == set(expected)
    assert {s: int(t["total"]) for s, t in totals.items()} == {
        s: sum(p for _, p in ex.values()) for s, ex in expected.items()}
    runs = {s: t["run"] for s, t in totals.items()}
    # the untouched student notebook runs to the end too: after its unsolved exercise, solved_or_reference uses the
    # course's reference (issue 22, item 4)
    assert runs["correct"] == "ok" and runs["stub"] == "ok", {s: feedback_text(s).partition("### Running your notebook")[2]
                                                              for s in ("correct", "stub")}
    assert runs["os_exit"] == runs["segfault"] == "died"
    assert runs["loop_top_level"] == "timeout"
    assert f"cell 1 («while True:») did not finish within {limit} s" in feedback_text("loop_top_level")
    assert runs["malformed_json"] == runs["not_a_notebook"] == "invalid"
    assert runs["empty"] == "skipped"
    assert runs["reads_stdin"] == "errors"  # input() raised at once; sys.stdin.read() got end-of-file
    assert runs["kills_waiting_checker"] == "ok"  # its kernel found and killed the waiting checker (it asserts so)
    assert "failed to run" in done.stdout and "mean score" in done.stdout

    # The vandal really wrote over the victim's file and the gradebook - and changed nothing.
    assert not victim.exists() or victim.read_text() == "overwritten by vandal"
    assert "vandal,00_welcome,0.1,100" not in out.read_text()

    # Feedback: one readable file per student, with the check's hint.
    feedback = {p.stem: p.read_text() for p in (tmp_path / "feedback").glob("*.md")}
    assert set(feedback) == set(expected)
    assert "Divide by the number of images" in feedback["fake_success"]
    assert "cell 2 («print('defined:', average_image.__name__)»): `NameError`" in feedback["deleted"]
    assert "the kernel died in cell 1 («import ctypes»)" in feedback["segfault"]
    assert "cell 2 («name = input('Your name? ')»): `StdinNotImplementedError`" in feedback["reads_stdin"]
    assert "cell 1:" not in feedback["reads_stdin"]

    # Nothing survives: no background process, no grading process, no temporary files.
    assert sleepers(token) == []
    assert grading_processes(started, tmp) == []
    assert list(tmp.iterdir()) == []
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "gradebook.csv", "gradebook_canvas.csv", "gradebook_class.csv", "gradebook_class.md", "gradebook_moodle.csv",
        "gradebook_results.json", "gradebook_skipped.csv", "gradebook_totals.csv"]


@pytest.mark.slow
def test_ctrl_c_writes_nothing_and_stops_everything(tmp_path):
    token = str(random.randint(41000, 49999))
    subs, tmp = tmp_path / "submissions", tmp_path / "tmp"
    subs.mkdir()
    tmp.mkdir()
    save(hostile.small(hostile.CORRECT, before=[hostile.sleeper(token), "while True:\n    pass"]), subs / "ann.ipynb")
    save(hostile.small(hostile.CORRECT), subs / "ben.ipynb")
    out = tmp_path / "gradebook.csv"
    out.write_text("previous\n")
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731 - as in a terminal
    proc = subprocess.Popen([sys.executable, "-m", "vae_course", "grade", str(subs), "--out", str(out),
                             "--workers", "2", "--timeout", "60"], cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore_sigint)
    deadline = time.monotonic() + 300
    while not sleepers(token) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert sleepers(token), "the submission never started"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "no gradebook was written" in stderr
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradebook.csv", "submissions", "tmp"]
    assert sleepers(token) == []
    assert list(tmp.iterdir()) == []


@pytest.mark.slow
def test_grading_again_gives_identical_files(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    save(hostile.small(hostile.CORRECT), subs / "ann.ipynb")
    save(hostile.small(hostile.WRONG, after=["1 / 0"]), subs / "ben.ipynb")
    save(hostile.small("def average_image(images):\n    return images.mean(dim=1)\n"), subs / "cat.ipynb")
    (subs / "dan.ipynb").write_text("{ not json")
    texts = []
    for workers in (2, 1):  # the same command again, and with another number of workers
        out = tmp_path / f"run{workers}" / "gradebook.csv"
        done = vae_course("grade", subs, "--out", out, "--workers", workers, "--feedback",
                          out.parent / "feedback", tmp=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        texts.append([out.read_bytes(), out.with_name("gradebook_totals.csv").read_bytes(),
                      (out.parent / "feedback" / "ben.md").read_bytes()])
    assert texts[0] == texts[1]
    rows = read_csv(tmp_path / "run1" / "gradebook.csv")
    assert [(r["student"], r["status"], r["points"]) for r in rows] == [
        ("ann", "passed", "1"), ("ben", "failed", "0"), ("cat", "failed", "0"), ("dan", "invalid", "0")]
    assert "dim=0" in rows[2]["message"] or "wrong shape" in rows[2]["message"]
    totals = read_csv(tmp_path / "run1" / "gradebook_totals.csv")
    assert [(t["student"], t["total"], t["run"]) for t in totals] == [
        ("ann", "1", "ok"), ("ben", "0", "errors"), ("cat", "0", "ok"), ("dan", "0", "invalid")]
    assert "cell 5 («1 / 0»): `ZeroDivisionError`" in texts[0][2].decode()


@pytest.mark.slow
def test_check_command_on_the_course_notebook(tmp_path):
    done = vae_course("check", ROOT / "solutions" / "00_welcome.ipynb", "--format", "md", tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("# Check of 00_welcome.ipynb: what your teacher's grader will report\n")
    assert "| passed |" in done.stdout and "**passed.**" in done.stdout and "Score: 1 / 1" in done.stdout
    assert "ran from top to bottom without errors" in done.stdout

    done = vae_course("check", ROOT / "notebooks" / "00_welcome.ipynb", "--no-execute", tmp=tmp_path)
    assert done.returncode == 1
    assert "not answered yet" in done.stdout and "Score: 0 / 1" in done.stdout


def test_allow_reference_calls_reaches_the_checker_and_decides_the_outcome():
    """--allow-reference-calls -> Options -> SupervisorJob -> CheckerTask (JSON) -> run_check (the batch runs
    the same checker.grade in a subprocess: test_hostile_batch shows delegation scoring 0 there)."""
    import ast

    from vae_course.grading.commands import add_commands
    from vae_course.grading.protocol import CheckerTask, ExerciseJob

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["grade", "subs", "--out", "g.csv", "--allow-reference-calls"])
    assert args.allow_reference_calls is True
    task = CheckerTask(nonce="n", timeout=30, memory=0, checks_files=[], exercises=[], allow_reference_calls=True)
    assert CheckerTask.from_json(json.loads(json.dumps(task.to_json()))).allow_reference_calls is True
    assert CheckerTask.from_json({"nonce": "n", "timeout": 30}).allow_reference_calls is False

    source = hostile.SLERP_DELEGATES
    run = [[node.lineno, node.col_offset] for node in ast.parse(source).body]
    job = ExerciseJob(id="5.2", function="slerp", cell=0, blocks=[{"cell": 0, "source": source, "run": run}])
    strict = checker.grade(job, REGISTRY["5.2"], timeout=30, memory=None)
    assert (strict.status, strict.code) == ("failed", "called-reference")
    assert "you called `vae_course.latent.slerp`" in strict.message
    allowed = checker.grade(job, REGISTRY["5.2"], timeout=30, memory=None, allow_reference_calls=True)
    assert allowed.status == "passed" and "allowed by your teacher" in allowed.notes[0]


def test_cli_errors_are_reported_without_traceback(tmp_path, capsys):
    def grade(*args):
        code = cli.main(["grade", *map(str, args), "--out", str(tmp_path / "g.csv")])
        return code, capsys.readouterr().err

    code, err = grade(tmp_path / "nothing-here")
    assert code == 2 and "no such file or folder" in err
    (tmp_path / "subs").mkdir()
    code, err = grade(tmp_path / "subs")
    assert code == 2 and "no submissions found" in err
    code, err = grade(tmp_path / "subs", "--notebook", "nope")
    assert code == 2 and "unknown notebook 'nope'" in err and "Traceback" not in err
    code, err = grade(tmp_path / "subs", "--workers", "0")
    assert code == 2 and "--workers must be a whole number of at least 1 (got 0)" in err
    assert not (tmp_path / "g.csv").exists()


# --------------------------------------------------------------------------- finding and identifying


def test_student_ids_from_files_and_per_student_folders(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / "bob" / "work").mkdir(parents=True)
    (tmp_path / "bob" / "work" / "my notebook (1).ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "old-checkpoint.ipynb").write_text("{}")
    (tmp_path / ".hidden.ipynb").write_text("{}")
    lone = tmp_path / "elsewhere" / "carol.ipynb"
    lone.parent.mkdir()
    lone.write_text("{}")
    found, skipped = find_files([tmp_path, lone, tmp_path / "alice.ipynb"])
    assert [(info.student, path.name) for path, info in found] == [
        ("alice", "alice.ipynb"), ("bob", "my notebook (1).ipynb"), ("elsewhere", "carol.ipynb")]
    assert [(s.path.name, s.student) for s in skipped] == [("notes.txt", "")]  # reported, not silently dropped
    assert [(i.student, p.name) for p, i in find_files([lone])[0]] == [("carol", "carol.ipynb")]
    with pytest.raises(FileNotFoundError):
        find_files([tmp_path / "missing"])


def _registry():
    body = lambda fn, t: None  # noqa: E731
    entries = [Exercise("1.1", "01_first", "encode", "t", "c", 1, body),
               Exercise("1.2", "01_first", "decode", "t", "c", 1, body),
               Exercise("2.1", "02_second", "elbo", "t", "c", 2, body)]
    return {e.id: e for e in entries}


def _identified(tmp_path, name, nb, override=None):
    sub = read_submission(name, save(nb, tmp_path / f"{name}.ipynb"))
    identify(sub, _registry(), override)
    return sub.notebook, sub.identified_by


def test_which_notebook_tags_beat_file_names_which_beat_functions(tmp_path):
    tagged = new_notebook(cells=[new_code_cell("def elbo(x):\n    pass", metadata={"tags": ["exercise-2.1"]})])
    assert _identified(tmp_path, "01_first_alice", tagged) == ("02_second", "exercise tags")
    untagged = new_notebook(cells=[new_code_cell("def encode(x):\n    pass\ndef decode(z):\n    pass")])
    assert _identified(tmp_path, "02_second-bob", untagged) == ("02_second", "file name")
    assert _identified(tmp_path, "carol", untagged) == ("01_first", "function names")
    assert _identified(tmp_path, "dave", new_notebook()) == (None, "")
    assert _identified(tmp_path, "erin", tagged, override="01_first") == ("01_first", "--notebook")
    meta = new_notebook(cells=tagged.cells, metadata={"vae_course": {"notebook": "01_first"}})
    assert _identified(tmp_path, "fay", meta) == ("01_first", "notebook metadata")


def test_unreadable_files_say_why(tmp_path):
    cases = {"bad.ipynb": b'{"cells": [', "bin.ipynb": b"\xff\xfe\x00binary", "list.ipynb": b"[1, 2]",
             "nometa.ipynb": b'{"cells": [{"cell_type": "code", "source": "x"}], "nbformat": 4, "nbformat_minor": 5}'}
    problems = {}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        sub = read_submission(name, tmp_path / name)
        assert not sub.readable
        problems[name] = sub.problem
    assert "invalid JSON" in problems["bad.ipynb"] and "not UTF-8" in problems["bin.ipynb"]
    assert "no cells" in problems["list.ipynb"] and "not a valid notebook" in problems["nometa.ipynb"]


# --------------------------------------------------------------------------- taking the code out


def _load(nb, ex_id="0.1", function="average_image"):
    extracted = extract(nb, ex_id, function)
    assert not extracted.status, extracted.message
    fn, problems = checker.load_function(extracted.job(), timeout=10)
    return extracted, fn, problems


def test_extraction_keeps_definitions_and_helpers_and_drops_side_effects():
    import builtins

    nb = new_notebook(cells=[
        new_code_cell("%matplotlib inline\nimport torch\nimport not_a_module_anyone_has\nSCALE = 2.0\n"
                      "print('setup')"),
        new_code_cell("def helper(x):\n    return x / SCALE\n\nUNUSED = undefined_name()"),
        new_code_cell("import builtins\nbuiltins.GRADER_SIDE_EFFECT = 1\n"),
        new_code_cell("%%time\n\ndef average_image(images):\n    return helper(images).mean(dim=0) * SCALE\n"
                      "builtins.GRADER_SIDE_EFFECT = 2\nprint(average_image)",
                      metadata={"tags": ["exercise-0.1"]}),
    ])
    extracted, fn, problems = _load(nb)
    import torch

    x = torch.rand(3, 784)
    assert torch.allclose(fn(x), x.mean(dim=0))
    assert extracted.cell == 4
    assert not hasattr(builtins, "GRADER_SIDE_EFFECT")  # attribute assignments never run
    assert problems == ["cell 1, line 3: ModuleNotFoundError: No module named 'not_a_module_anyone_has'"]
    assert [b["cell"] for b in extracted.blocks] == [1, 3, 1, 2, 4]  # imports first, UNUSED not taken


def test_extraction_takes_the_last_definition_and_says_so_when_it_is_not_the_tagged_cell():
    tagged = new_code_cell("def average_image(images):\n    return 'tagged'", metadata={"tags": ["exercise-0.1"]})
    later = new_code_cell("# my answer\ndef average_image(images):\n    return 'later'")
    extracted, fn, _ = _load(new_notebook(cells=[tagged, later]))
    assert fn(None) == "later"  # what the notebook ends up defining when it runs top to bottom
    assert extracted.note.startswith("graded your last definition of `average_image`, in cell 2 («# my answer»), "
                                     "not the one in the exercise cell (cell 1 («def average_image(images):»))")
    extracted, fn, _ = _load(new_notebook(cells=[later, tagged]))
    assert fn(None) == "tagged" and extracted.note == ""
    untagged = new_code_cell("def average_image(images):\n    return 'untagged'")
    assert _load(new_notebook(cells=[new_code_cell("x = 1"), untagged]))[1](None) == "untagged"


def test_missing_and_broken_exercise_cells_are_named():
    renamed = new_code_cell("def avg(images):\n    pass", metadata={"tags": ["exercise-0.1"]})
    result = extract(new_notebook(cells=[renamed]), "0.1", "average_image")
    assert result.status == "missing" and "defines `avg` instead" in result.message
    result = extract(new_notebook(cells=[new_code_cell("x = 1")]), "0.1", "average_image")
    assert result.status == "missing" and "was deleted or the function renamed" in result.message
    broken = new_code_cell("def average_image(images:\n    pass", metadata={"tags": ["exercise-0.1"]})
    result = extract(new_notebook(cells=[new_code_cell("x = 1"), broken]), "0.1", "average_image")
    assert result.status == "error" and "(cell 2 («def average_image(images:»)) is not valid Python" in result.message


def test_fingerprint_notices_a_replaced_torch_function():
    import torch

    fingerprint = integrity.ChecksFingerprint()
    assert fingerprint.changes() == []
    original = torch.allclose
    try:
        torch.allclose = lambda *a, **k: True
        assert "torch.allclose" in fingerprint.changes()
    finally:
        torch.allclose = original
    assert fingerprint.changes() == []


def test_fingerprint_notices_references_taken_off_the_watch_list():
    fingerprint = integrity.ChecksFingerprint()
    saved = dict(references._REFERENCE_CODES)
    try:
        references._REFERENCE_CODES.clear()  # what a submission reading references.py might try
        assert "references._REFERENCE_CODES.vae_course.latent.slerp" in fingerprint.changes()
    finally:
        references._REFERENCE_CODES.update(saved)
    assert fingerprint.changes() == []


# --------------------------------------------------------------------------- the files written


def _graded(student, status, points=0):
    result = ExerciseResult("0.1", "the average image", "average_image", points, 1, Status(status),
                            "object at 0x7f3a2b1c9d80 in /tmp/vae-grade-ab12/run/x.py", "a hint", code=status)
    return Graded(student, f"{student}.ipynb", "00_welcome", "exercise tags", RunReport(RunStatus.OK), [result])


def test_gradebook_is_sorted_cleaned_and_safe_for_spreadsheets():
    graded = [_graded("zoe", "failed"), _graded("=cmd|' /C calc'!A0", "passed", 1), _graded("adam", "timeout")]
    text = report.gradebook_text(graded)
    assert text == report.gradebook_text(list(reversed(graded)))
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == report.GRADEBOOK_COLUMNS
    assert [row["student"] for row in rows] == ["'=cmd|' /C calc'!A0", "adam", "zoe"]  # not a formula
    assert rows[2]["message"] == "object at 0x… in <sandbox>"
    assert [(t["student"], t["notebook"], t["total"], t["max_points"], t["run"])
            for t in csv.DictReader(report.totals_text(graded).splitlines())] == [
        ("'=cmd|' /C calc'!A0", "00_welcome", "1", "1", "ok"), ("adam", "00_welcome", "0", "1", "ok"),
        ("zoe", "00_welcome", "0", "1", "ok")]
    assert report.summary(graded) == "graded 3 submissions (3 students); 0 failed to run; mean score 0.33 / 1 (33%)"


def test_atomic_write_never_leaves_half_a_file(tmp_path, monkeypatch):
    path = tmp_path / "gradebook.csv"
    path.write_text("old\n")

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        outputs.atomic_write(path, "new\n" * 1000)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]
    monkeypatch.undo()
    outputs.atomic_write(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]
