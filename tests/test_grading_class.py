"""A simulated class graded the way a teacher does it: a Canvas export and a Moodle export of notebooks
02 and 03, a roster with a student who handed nothing in, resubmissions, stray files, a corrupt
notebook, errors that cancel out, answers written in a new cell - graded ONCE (module fixture),
then one student re-graded with an override. Every outcome is asserted. Bad options and output
paths are refused before anything runs (in-process, fast).

The notebooks are small: the real exercise cells of 02 and 03 (or a typical mistake in them)
around a one-line setup, so that running each one costs a kernel start, not the whole lesson.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vae_course import checks, cli
from vae_course.grading.options import Options
from vae_course.grading.outputs import OutputPaths
from vae_course.grading.batch import prepare
from vae_course.grading.roster import Roster

ROOT = Path(__file__).resolve().parents[1]

SETUP = "import torch\nimport torch.nn.functional as F\n"
KL = {"right": "    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)\n",
      "wrong sign": "    return -0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)\n",
      "mean": "    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(dim=-1)\n"}
LOGLIK = {"right": "    return -F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(dim=-1)\n",
          "mean": "    return -F.binary_cross_entropy_with_logits(logits, x, reduction='none').mean(dim=-1)\n"}
ELBO = {"right": "    return bernoulli_log_likelihood(logits, x) - gaussian_kl(mu, logvar)\n",
        "adds the KL": "    return bernoulli_log_likelihood(logits, x) + gaussian_kl(mu, logvar)\n"}
REPARAM = {"right": "    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n",
           "variance": "    return mu + logvar.exp() * torch.randn_like(mu)\n"}
SCORE = {"right": "    sigma = torch.exp(log_sigma)\n    z = mu + sigma * torch.randn(n_samples, len(mu))\n"
                  "    return (f(z).unsqueeze(1) * (z - mu) / sigma**2).mean(dim=0)\n",
         "sigma not squared": "    sigma = torch.exp(log_sigma)\n    z = mu + sigma * torch.randn(n_samples, len(mu))\n"
                              "    return (f(z).unsqueeze(1) * (z - mu) / sigma).mean(dim=0)\n"}
STUB = "    raise NotImplementedError('Exercise {}')\n"
SIGNATURES = {"2.1": "def gaussian_kl(mu, logvar):\n", "2.2": "def bernoulli_log_likelihood(logits, x):\n",
              "2.3": "def elbo(logits, x, mu, logvar):\n", "3.1": "def reparameterize(mu, logvar):\n",
              "3.2": "def score_function_gradient(f, mu, log_sigma, n_samples):\n"}


def exercise(ex_id: str, body: str, tagged: bool = True):
    return new_code_cell(SIGNATURES[ex_id] + body, metadata={"tags": [f"exercise-{ex_id}"]} if tagged else {})


def notebook(title: str, *cells):
    nb = new_notebook(cells=[new_markdown_cell(f"# {title}"), new_code_cell(SETUP), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def nb02(kl="right", loglik="right", elbo="right", without=()):
    cells = [exercise(ex, table[key]) for ex, table, key in (("2.1", KL, kl), ("2.2", LOGLIK, loglik),
                                                             ("2.3", ELBO, elbo)) if ex not in without]
    return notebook("02 · The ELBO", *cells)


def nb02_answers_in_new_cells():
    """The stub cells left as they are, each answer written in a new (untagged) cell below its stub."""
    cells = []
    for ex, body in (("2.1", KL["right"]), ("2.2", LOGLIK["right"]), ("2.3", ELBO["right"])):
        cells += [exercise(ex, STUB.format(ex)), new_code_cell("# my answer\n" + SIGNATURES[ex] + body)]
    return notebook("02 · The ELBO", *cells)


def nb03(reparam="right", score="right"):
    return notebook("03 · Reparameterization", exercise("3.1", REPARAM[reparam]), exercise("3.2", SCORE[score]))


def save(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


ROSTER = """student,name,lms_id,email
heidi,Heidi Klum,4521,heidi@uni.example
omar,Omar Sharif,4600,
fatima,Fatima Zahra,4700,
lena,Lena Maier,1234567,
jonas,Jonas Weber,1234568,
ana,Ana Lima,1234569,ana@uni.example
tom,Tom Berg,,
nina,Nina Roth,4800,
"""
MOODLE = {"lena": "Lena Maier_1234567_assignsubmission_file", "jonas": "Jonas Weber_1234568_assignsubmission_file",
          "ana": "Ana Lima_1234569_assignsubmission_file_", "tom": "Tom Berg_1234570_assignsubmission_file"}


def write_class(base: Path) -> dict:
    """Both exports and the roster; returns the paths the tests refer to."""
    canvas, moodle = base / "canvas", base / "moodle"
    save(nb02(), canvas / "klumheidi_4521_88123_02_elbo.ipynb")
    older = save(nb03(reparam="variance"), canvas / "klumheidi_4521_88124_03_reparameterization.ipynb")
    save(nb03(), canvas / "klumheidi_LATE_4521_88190_03_reparameterization-1.ipynb")  # the resubmission
    (canvas / "omarsharif_4600_88130_02_elbo.py").write_text("def gaussian_kl(mu, logvar):\n    ...\n")
    fatima = save(nb02(kl="wrong sign", elbo="adds the KL"), canvas / "zahrafatima_4700_88140_02_elbo.ipynb")
    save(nb02(), canvas / "strangerdanger_9999_88150_02_elbo.ipynb")  # not in the roster
    (canvas / "notes.txt").write_text("remember to grade")
    (moodle / MOODLE["lena"]).mkdir(parents=True)
    (moodle / MOODLE["lena"] / "02_elbo.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "def gaus')
    save(nb02_answers_in_new_cells(), moodle / MOODLE["jonas"] / "02_elbo.ipynb")
    save(nb03(score="sigma not squared"), moodle / MOODLE["jonas"] / "03_reparameterization.ipynb")
    first = save(nb02(), moodle / MOODLE["ana"] / "02_elbo.ipynb")  # all right ...
    latest = save(nb02(kl="mean", loglik="mean"), moodle / MOODLE["ana"] / "02_elbo (1).ipynb")  # ... but later
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(latest, (1_700_000_100, 1_700_000_100))
    (moodle / MOODLE["ana"] / "derivation.pdf").write_bytes(b"%PDF-1.4 not a notebook")
    save(nb02(without=("2.2",)), moodle / MOODLE["tom"] / "02_elbo.ipynb")  # the 2.2 cell deleted
    (base / "roster.csv").write_text(ROSTER)
    return {"canvas": canvas, "moodle": moodle, "roster": base / "roster.csv", "fatima": fatima, "older": older}


def vae_course(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "vae_course", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "TMPDIR": str(cwd)})


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class graded once with roster and feedback, as a teacher would run it."""
    base = tmp_path_factory.mktemp("class")
    paths = write_class(base)
    # As docs/teaching.md shows it: paths relative to the folder the teacher works in.
    done = vae_course("grade", "canvas", "moodle", "--roster", "roster.csv", "--out", "grades/gradebook.csv",
                      "--feedback", "grades/feedback", "--workers", 2, "--timeout", 30, cwd=base)
    assert done.returncode == 0, done.stderr[-3000:]
    return base, paths, done


def rows_by_key(path: Path) -> dict:
    return {(r["student"], r["notebook"], r["exercise"]): r for r in read_csv(path)}


EXPECTED = {  # (student, notebook, exercise): (status, points, code)
    ("heidi", "02_elbo", "2.1"): ("passed", "2", "ok"), ("heidi", "02_elbo", "2.2"): ("passed", "2", "ok"),
    ("heidi", "02_elbo", "2.3"): ("passed", "2", "ok"),
    ("heidi", "03_reparameterization", "3.1"): ("passed", "2", "ok"),  # the resubmission, not the older file
    ("heidi", "03_reparameterization", "3.2"): ("passed", "2", "ok"),
    ("omar", "02_elbo", "2.1"): ("invalid", "0", "not-a-notebook"),
    ("omar", "02_elbo", "2.2"): ("invalid", "0", "not-a-notebook"),
    ("omar", "02_elbo", "2.3"): ("invalid", "0", "not-a-notebook"),
    ("fatima", "02_elbo", "2.1"): ("failed", "0", "kl-with-the-wrong-sign"),
    ("fatima", "02_elbo", "2.2"): ("passed", "2", "ok"),
    ("fatima", "02_elbo", "2.3"): ("failed", "0", "kl-added-instead-of-subtracted"),  # the errors do not cancel
    ("lena", "02_elbo", "2.1"): ("invalid", "0", "not-a-notebook"),  # corrupt, but its name says 02
    ("lena", "02_elbo", "2.2"): ("invalid", "0", "not-a-notebook"),
    ("lena", "02_elbo", "2.3"): ("invalid", "0", "not-a-notebook"),
    ("jonas", "02_elbo", "2.1"): ("passed", "2", "ok"),  # answers in new cells below the stubs
    ("jonas", "02_elbo", "2.2"): ("passed", "2", "ok"),
    ("jonas", "02_elbo", "2.3"): ("passed", "2", "ok"),
    ("jonas", "03_reparameterization", "3.1"): ("passed", "2", "ok"),
    ("jonas", "03_reparameterization", "3.2"): ("failed", "0", "estimate-is-sigma-times-too-large"),
    ("ana", "02_elbo", "2.1"): ("failed", "0", "kl-averaged-over-latent-dimensions-instead-of-summed"),
    ("ana", "02_elbo", "2.2"): ("failed", "0", "mean-over-pixels-instead-of-a-sum"),
    ("ana", "02_elbo", "2.3"): ("passed", "2", "ok"),  # a correct elbo, graded on its own
    ("tom", "02_elbo", "2.1"): ("passed", "2", "ok"),
    ("tom", "02_elbo", "2.2"): ("missing", "0", "function-missing"),
    ("tom", "02_elbo", "2.3"): ("passed", "2", "ok"),
}
# The rest derives from the registry, so that adding an exercise to notebook 02 or 03 changes nothing here.
# These submissions were written for 2.1-2.3 and 3.1-3.2: a later exercise (3.3 MyVAE, ...) is defined by none.
ANSWERED = {"02_elbo": {"2.1", "2.2", "2.3"}, "03_reparameterization": {"3.1", "3.2"}}
READABLE = {"02_elbo": ("heidi", "fatima", "jonas", "ana", "tom"), "03_reparameterization": ("heidi", "jonas")}
INVALID = {"02_elbo": ("omar", "lena"), "03_reparameterization": ()}
for _notebook in ANSWERED:
    _handed_in = set(READABLE[_notebook]) | set(INVALID[_notebook])
    for _entry in checks.exercises_for(_notebook):
        for _student in ("heidi", "omar", "fatima", "lena", "jonas", "ana", "tom", "nina"):
            if _student in INVALID[_notebook]:
                EXPECTED.setdefault((_student, _notebook, _entry.id), ("invalid", "0", "not-a-notebook"))
            elif _student not in _handed_in:
                EXPECTED[(_student, _notebook, _entry.id)] = ("missing", "0", "not-submitted")
            elif _entry.id not in ANSWERED[_notebook]:
                EXPECTED[(_student, _notebook, _entry.id)] = ("missing", "0", "function-missing")
# Each notebook's maximum, and what a student who answers all of what these submissions answer gets.
MAX_02, MAX_03 = (f"{sum(e.points for e in checks.exercises_for(nb)):g}" for nb in ANSWERED)
FULL_02 = f"{sum(checks.REGISTRY[i].points for i in ANSWERED['02_elbo']):g}"


@pytest.mark.slow  # grades notebooks in subprocesses
def test_every_roster_student_gets_exactly_the_points_they_deserve(graded_class):
    base, paths, done = graded_class
    rows = rows_by_key(base / "grades" / "gradebook.csv")
    assert {key: (r["status"], r["points"], r["code"]) for key, r in rows.items()} == EXPECTED
    assert {r["student"]: r["name"] for r in rows.values()}["heidi"] == "Heidi Klum"
    assert rows[("tom", "02_elbo", "2.1")]["lms_id"] == "1234570"  # from the Moodle folder: the roster had none
    assert rows[("heidi", "03_reparameterization", "3.1")]["file"].endswith("-1.ipynb")
    assert "nothing handed in for 02_elbo" in rows[("nina", "02_elbo", "2.1")]["message"]
    assert "handed in `omarsharif_4600_88130_02_elbo.py`" in rows[("omar", "02_elbo", "2.1")]["message"]
    assert "invalid JSON" in rows[("lena", "02_elbo", "2.1")]["message"]
    assert "no code cell defines `bernoulli_log_likelihood`" in rows[("tom", "02_elbo", "2.2")]["message"]
    assert "graded 9 submissions (8 students); 2 failed to run (2 invalid); 7 missing;" in done.stdout


@pytest.mark.slow  # grades notebooks in subprocesses
def test_the_teachers_guide_shows_this_very_run(graded_class):
    """docs/teaching.md's "Step 2: grade" is this class's own output, line for line: when an exercise, a
    message or a point total changes (they come from the registry), this test says the guide must follow."""
    _, _, done = graded_class
    guide = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    block = guide.split("### Step 2: grade", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    command, *shown = block.splitlines()
    assert command == ("$ vae-course grade canvas moodle --roster roster.csv --out grades/gradebook.csv "
                       "--feedback grades/feedback")
    printed = [line.rstrip() for line in done.stdout.splitlines()]  # rich pads a title to the table's width
    assert shown == printed, "docs/teaching.md's step 2 no longer shows what the grader prints"


def test_totals_are_per_student_and_notebook(graded_class):
    base, _, _ = graded_class
    totals = {(t["student"], t["notebook"]): (t["total"], t["max_points"], t["run"])
              for t in read_csv(base / "grades" / "gradebook_totals.csv")}
    assert totals[("heidi", "02_elbo")] == (FULL_02, MAX_02, "ok") and totals[("heidi", "03_reparameterization")] == \
        ("4", MAX_03, "ok")
    assert totals[("fatima", "02_elbo")] == ("2", MAX_02, "ok")
    assert totals[("ana", "02_elbo")] == ("2", MAX_02, "ok")
    assert totals[("tom", "02_elbo")] == ("4", MAX_02, "ok")
    assert totals[("lena", "02_elbo")] == ("0", MAX_02, "invalid")
    assert totals[("nina", "03_reparameterization")] == ("0", MAX_03, "missing")
    assert len(totals) == 16  # 8 students x 2 notebooks, never one total across notebooks


def test_lms_exports_have_one_column_per_notebook(graded_class):
    base, _, _ = graded_class
    with open(base / "grades" / "gradebook_canvas.csv", newline="") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "02_elbo", "03_reparameterization"]
    assert canvas[1] == ["Points Possible", "", "", "", "", MAX_02, MAX_03]
    by_name = {row[0]: row for row in canvas[2:]}
    assert len(by_name) == 8 and "strangerdanger" not in str(canvas)
    assert by_name["Heidi Klum"][1] == "4521" and by_name["Heidi Klum"][5:] == [FULL_02, "4"]
    assert by_name["Nina Roth"][5:] == ["0", "0"]
    moodle = read_csv(base / "grades" / "gradebook_moodle.csv")
    ana = next(r for r in moodle if r["Full name"] == "Ana Lima")
    assert ana == {"Full name": "Ana Lima", "User id": "1234569", "Email address": "ana@uni.example",
                   "02_elbo": "2", "03_reparameterization": "0"}


def test_skipped_files_are_reported_with_a_reason(graded_class):
    base, paths, done = graded_class
    skipped = {Path(r["file"]).name: r for r in read_csv(base / "grades" / "gradebook_skipped.csv")}
    assert set(skipped) == {"omarsharif_4600_88130_02_elbo.py", "notes.txt", "strangerdanger_9999_88150_02_elbo.ipynb",
                            "klumheidi_4521_88124_03_reparameterization.ipynb", "02_elbo.ipynb", "derivation.pdf"}
    assert "a .py file, not a notebook" in skipped["omarsharif_4600_88130_02_elbo.py"]["reason"]
    assert skipped["omarsharif_4600_88130_02_elbo.py"]["student"] == "omar"
    assert "belongs to no student of the roster" in skipped["strangerdanger_9999_88150_02_elbo.ipynb"]["reason"]
    assert "older attempt" in skipped["klumheidi_4521_88124_03_reparameterization.ipynb"]["reason"]
    assert "older attempt: 02_elbo (1).ipynb was graded" in skipped["02_elbo.ipynb"]["reason"]
    assert skipped["notes.txt"]["student"] == "" and skipped["derivation.pdf"]["student"] == "ana"
    assert "skipped 6 files" in done.stdout and "notes.txt" in done.stdout


def test_feedback_names_the_graded_cell_and_matches_moodle_names(graded_class):
    base, _, _ = graded_class
    folder = base / "grades" / "feedback"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.md"))
    moodle = [f"moodle/02_elbo/{MOODLE[s].rstrip('_')}/feedback.md" for s in ("ana", "jonas", "lena", "tom")]
    assert files == sorted([f"{s}.md" for s in ("ana", "fatima", "heidi", "jonas", "lena", "nina", "omar", "tom")]
                           + moodle + [f"moodle/03_reparameterization/{MOODLE['jonas']}/feedback.md"])
    jonas = (folder / "jonas.md").read_text()
    assert jonas.startswith("# Feedback for Jonas Weber (jonas)")
    assert ("graded your last definition of `gaussian_kl`, in cell 4 («# my answer»), not the one in the exercise "
            "cell (cell 3 («def gaussian_kl(mu, logvar):»))") in jonas
    assert "checked with the reference `gaussian_kl` (2.1) and `bernoulli_log_likelihood` (2.2)" in jonas
    fatima = (folder / "fatima.md").read_text()
    assert "this looks like the KL added instead of subtracted" in fatima and f"2 / {MAX_02} points" in fatima
    for path in folder.rglob("*.md"):
        assert path.stat().st_mode & 0o040, f"{path} is not readable by the group"


def test_class_report_counts_passes_and_named_mistakes(graded_class):
    base, _, _ = graded_class
    rows = read_csv(base / "grades" / "gradebook_class.csv")
    kl = [r for r in rows if r["exercise"] == "2.1"]
    assert {(r["status"], r["code"]): int(r["count"]) for r in kl} == {
        ("passed", "ok"): 3, ("failed", "kl-with-the-wrong-sign"): 1, ("invalid", "not-a-notebook"): 2,
        ("failed", "kl-averaged-over-latent-dimensions-instead-of-summed"): 1}
    assert {(r["submissions"], r["passed"], r["pass_rate"], r["median_points"]) for r in kl} == {
        ("7", "3", "0.43", "0")}
    markdown = (base / "grades" / "gradebook_class.md").read_text()
    assert "| 2.3 the evidence lower bound | 4 / 7 | 57% | 2 / 2 |" in markdown
    assert "| 2.1 | failed | `kl-with-the-wrong-sign` | 1 |" in markdown
    assert "## Not handed in" in markdown and "- nina: 02_elbo" in markdown
    assert "Slowest cells" in markdown and "«import torch»" in markdown


def test_the_notebooks_own_check_agrees_with_the_grader(graded_class):
    """Run the notebooks' code as the kernel does, then the check cell: the same status and code as the gradebook."""
    base, paths, _ = graded_class
    rows = rows_by_key(base / "grades" / "gradebook.csv")
    for student, path in (("jonas", paths["moodle"] / MOODLE["jonas"] / "02_elbo.ipynb"),
                          ("fatima", paths["fatima"])):
        namespace = {}
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)
        for ex_id in ("2.1", "2.2", "2.3"):
            entry = checks.REGISTRY[ex_id]
            result = checks.run_check(entry, namespace[entry.function])
            row = rows[(student, "02_elbo", ex_id)]
            assert (result.status, result.code) == (row["status"], row["code"]), (student, ex_id, result.text())


def test_regrade_one_student_with_an_override(graded_class):
    base, paths, _ = graded_class
    grades = base / "grades"
    before = rows_by_key(grades / "gradebook.csv")
    before_feedback = (grades / "feedback" / "heidi.md").read_bytes()
    save(nb02(), paths["fatima"])  # Fatima hands in a corrected notebook
    (base / "overrides.csv").write_text("student,exercise,points,reason\n"
                                        "jonas,3.2,1,partial credit: the derivation in the Markdown cell is right\n")
    done = vae_course("grade", "canvas", "moodle", "--roster", "roster.csv", "--out", "grades/gradebook.csv",
                      "--feedback", "grades/feedback", "--overrides", "overrides.csv", "--student", "fatima",
                      "--timeout", 30, cwd=base)  # the same paths as the first run, as a teacher would
    assert done.returncode == 0, done.stderr[-3000:]
    guide = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")  # it shows this run: its first lines
    command, *shown = guide.split("Re-grade only Fatima", 1)[1].split("```console\n", 1)[1].splitlines()
    shown = shown[:shown.index("  ...")]
    assert command == ("$ vae-course grade canvas moodle --roster roster.csv --out grades/gradebook.csv "
                       "--feedback grades/feedback --overrides overrides.csv --student fatima")
    assert [line.rstrip() for line in done.stdout.splitlines()][:len(shown)] == shown
    after = rows_by_key(grades / "gradebook.csv")
    assert set(after) == set(before)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {("fatima", "02_elbo", "2.1"), ("fatima", "02_elbo", "2.3"),
                       ("jonas", "03_reparameterization", "3.2")}
    assert [after[("fatima", "02_elbo", ex)]["status"] for ex in ("2.1", "2.2", "2.3")] == ["passed"] * 3
    jonas = after[("jonas", "03_reparameterization", "3.2")]
    assert (jonas["points"], jonas["status"], jonas["code"]) == ("1", "failed", "estimate-is-sigma-times-too-large")
    assert jonas["override"] == "partial credit: the derivation in the Markdown cell is right"
    assert ("Points set by your teacher: 1 / 2** (the check gave 0): partial credit"
            in (grades / "feedback" / "jonas.md").read_text())
    assert (grades / "feedback" / "heidi.md").read_bytes() == before_feedback
    totals = {(t["student"], t["notebook"]): t["total"] for t in read_csv(grades / "gradebook_totals.csv")}
    assert totals[("fatima", "02_elbo")] == FULL_02 and totals[("jonas", "03_reparameterization")] == "3"
    assert done.stdout.startswith("re-graded 1 submission of fatima; everyone else's results are those of the "
                                  "previous run.\ngraded 9 submissions (8 students)")  # the summary: the whole class


# --------------------------------------------------------------------------- before anything runs (in-process)


@pytest.fixture
def submissions(tmp_path):
    folder = tmp_path / "subs"
    save(nb02(), folder / "ann.ipynb")
    return folder


@pytest.mark.parametrize("option, value, message", [
    ("--timeout", "-1", "--timeout must be a number of seconds of at least 1 (got -1.0)"),
    ("--timeout", "0", "--timeout must be a number of seconds of at least 1 (got 0.0)"),
    ("--notebook-timeout", "-5", "--notebook-timeout must be a number of seconds of at least 1"),
    ("--memory", "-1", "--memory must be a number of GiB of at least 4, or 0 for no limit (got -1.0)"),
    ("--memory", "1", "--memory must be a number of GiB of at least 4, or 0 for no limit (got 1.0)"),
    ("--memory", "nan", "--memory must be a number of GiB"),
    ("--workers", "0", "--workers must be a whole number of at least 1 (got 0)"),
])
def test_bad_numbers_are_refused_in_one_line(submissions, tmp_path, capsys, option, value, message):
    code = cli.main(["grade", str(submissions), "--out", str(tmp_path / "g.csv"), option, value])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {err[7:]}" and message in err and err.count("\n") == 1
    assert not (tmp_path / "g.csv").exists()


def test_bad_output_paths_are_refused_before_grading(submissions, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "grades.csv").mkdir()
    (tmp_path / "feedback-file").write_text("x")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "mine.md").write_text("a teacher's own notes")
    (tmp_path / "used" / "old_results.json").write_text("[{\"student\": ")  # a damaged results file
    cases = [
        (["--out", "/proc/vae-course-test/g.csv"], "cannot write /proc/vae-course-test/g.csv in /proc/vae-course-test"),
        (["--out", str(tmp_path / "a-file" / "g.csv")], "a-file is a file, not a folder"),
        (["--out", str(tmp_path / "grades.csv")], "grades.csv: it is a folder; --out must name a file"),
        (["--out", str(tmp_path / "grades")], "--out must name a .csv file"),
        (["--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "feedback-file")], "feedback-file is a file"),
        (["--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path)], "must be a folder of its own"),
        (["--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "used")],
         "holds files the grader did not write (mine.md, old_results.json)"),
        (["--out", str(submissions / "g.csv")], "is inside the submissions folder"),
        (["--out", str(tmp_path / "g.csv"), "--student", "ann"], "--student needs the results of an earlier run"),
        (["--out", str(tmp_path / "used" / "old.csv"), "--student", "ann"], "cannot read the earlier results"),
        (["--out", str(tmp_path / "g.csv"), "--roster", str(tmp_path / "none.csv")], "roster"),
    ]
    for args, message in cases:
        code = cli.main(["grade", str(submissions), *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "feedback-file", "grades.csv", "subs", "used"]


def test_roster_and_overrides_files_are_checked(tmp_path, submissions, capsys):
    (tmp_path / "roster.csv").write_text("name,email\nAnn,a@x\n")
    (tmp_path / "twice.csv").write_text("student\nann\nann\n")
    for roster, message in (("roster.csv", "has no 'student' column"), ("twice.csv", "line 3: student 'ann' is "
                                                                                      "listed twice")):
        assert cli.main(["grade", str(submissions), "--out", str(tmp_path / "g.csv"), "--roster",
                         str(tmp_path / roster)]) == 2
        assert message in capsys.readouterr().err
    for line, message in (("ann,2.1,3,too many", "points must be a number from 0 to 2 (got '3')"),
                          ("bob,2.1,1,who", "there is no student 'bob'"), ("ann,9.9,1,x", "there is no exercise '9.9'"),
                          ("ann,2.1,1,", "give a reason")):
        (tmp_path / "overrides.csv").write_text("student,exercise,points,reason\n" + line + "\n")
        assert cli.main(["grade", str(submissions), "--out", str(tmp_path / "g.csv"), "--overrides",
                         str(tmp_path / "overrides.csv")]) == 2
        assert f"line 2: {message}" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_all_attempts_keeps_every_attempt_in_order(tmp_path):
    paths = write_class(tmp_path)
    latest = prepare([paths["canvas"], paths["moodle"]], Options(), roster=Roster.read(paths["roster"]))
    every = prepare([paths["canvas"], paths["moodle"]], Options(all_attempts=True), roster=Roster.read(paths["roster"]))
    assert len(every.subs) == len(latest.subs) + 2
    ana = sorted((s.attempt, s.attempts, s.path.name) for s in every.subs if s.student == "ana")
    assert ana == [(1, 2, "02_elbo.ipynb"), (2, 2, "02_elbo (1).ipynb")]
    assert [s.path.name for s in latest.subs if s.student == "ana"] == ["02_elbo (1).ipynb"]


def test_feedback_folder_keeps_exactly_the_students_graded(tmp_path):
    outputs = OutputPaths.plan(tmp_path / "g.csv", tmp_path / "feedback")
    outputs.check()
    outputs.write({outputs.gradebook: "x\n"}, {"ann.md": "a", "bob.md": "b", "moodle/02/Bob_1_x/feedback.md": "b"})
    outputs.check()  # files it wrote itself are fine
    outputs.write({outputs.gradebook: "x\n"}, {"ann.md": "a2"})
    assert sorted(p.relative_to(tmp_path / "feedback").as_posix() for p in (tmp_path / "feedback").rglob("*")) == [
        ".vae-course-feedback", "ann.md"]
    assert (tmp_path / "feedback" / "ann.md").read_text() == "a2"
    old = os.umask(0o022)
    try:
        outputs.write({outputs.gradebook: "y\n"}, {})
    finally:
        os.umask(old)
    assert (tmp_path / "g.csv").stat().st_mode & 0o777 == 0o644


def test_class_report_lists_the_cells_that_fail_and_the_slow_ones():
    from vae_course.grading.classreport import class_markdown
    from vae_course.grading.protocol import CellError, CellTime, ExerciseResult, Graded, RunReport, RunStatus, Status

    def graded(student, errors, seconds):
        run = RunReport(RunStatus.ERRORS if errors else RunStatus.OK, "",
                        [CellError(5, "x = load_mnist('train')", "NameError", "name 'load_mnist' is not defined")]
                        if errors else [], [CellTime(3, "import torch", 1.0), CellTime(9, "fit(model)", seconds)])
        result = ExerciseResult("2.1", "the KL", "gaussian_kl", 2, 2, Status.PASSED, code="ok")
        return Graded(student, f"{student}.ipynb", "02_elbo", "exercise tags", run, [result])

    text = class_markdown([graded("a", True, 30.0), graded("b", True, 10.0), graded("c", False, 20.0)])
    assert "Runs: errors 2, ok 1." in text
    assert "- «x = load_mnist('train')» raised `NameError` in 2 submissions" in text
    slow = text[text.index("Slowest cells"):]
    assert slow.index("«fit(model)»: 20.0 s (max 30.0 s)") < slow.index("«import torch»: 1.0 s (max 1.0 s)")
