"""What grading produces: the gradebook, the totals, per-student feedback and the summary line.

Files are written atomically (a temporary file in the same folder, then
``os.replace``): an interrupted run leaves the previous file or none, never
half of one. Rows are sorted and messages are cleaned of anything that varies
between runs (memory addresses, temporary paths), so grading the same
submissions twice gives the same files.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Exercise statuses in the gradebook.
PASSED, FAILED, ERROR, TIMEOUT, MISSING, INVALID = "passed", "failed", "error", "timeout", "missing", "invalid"
STATUSES = (PASSED, FAILED, ERROR, TIMEOUT, MISSING, INVALID)
SYMBOLS = {PASSED: "✅", FAILED: "❌", ERROR: "💥", TIMEOUT: "⏱", MISSING: "❓", INVALID: "🚫"}

# Notebook run statuses (step 1), in the totals file.
RUN_FAILED_STATUSES = ("timeout", "died", "failed", "invalid")

GRADEBOOK_COLUMNS = ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
TOTALS_COLUMNS = ["student", "total", "max_points", "run"]


@dataclass
class ExerciseResult:
    exercise: str          # id, e.g. "2.1" ("" when the notebook is unknown)
    title: str
    function: str
    points: int
    max_points: int
    status: str
    message: str = ""
    hint: str = ""
    checks: list = field(default_factory=list)


@dataclass
class Graded:
    """One submission's outcome."""

    student: str
    path: str
    notebook: str          # "" when it could not be told
    identified_by: str
    run: dict              # {"status", "detail", "errors": [{"cell", "ename", "evalue"}]}
    results: list          # ExerciseResult, in exercise order

    @property
    def total(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)


def exercise_key(ex_id: str):
    return [int(p) if p.isdigit() else p for p in ex_id.split(".")] if ex_id else []


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_SANDBOX = re.compile(r"(/[^\s'\"`]*)?/vae-grade-[A-Za-z0-9_]+(/[^\s'\"`]*)?")


def clean(text: str, limit: int = 500) -> str:
    """One line, without run-dependent details (addresses, sandbox paths), at most ``limit`` characters."""
    text = " ".join(str(text).split())
    text = _ADDRESS.sub("0x…", text)
    text = _SANDBOX.sub("<sandbox>", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_cell(value):
    """Keep spreadsheet programs from reading a student-controlled cell as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(rows: list[list], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_safe_cell(v) for v in row] for row in rows])
    return buffer.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sorted_graded(graded: list[Graded]) -> list[Graded]:
    return sorted(graded, key=lambda g: (g.student, g.notebook, g.path))


def gradebook_text(graded: list[Graded]) -> str:
    rows = [[g.student, g.notebook, r.exercise, r.points, r.max_points, r.status, clean(r.message)]
            for g in sorted_graded(graded) for r in sorted(g.results, key=lambda r: exercise_key(r.exercise))]
    return _csv(rows, GRADEBOOK_COLUMNS)


def _run_column(runs: list[tuple[str, str]]) -> str:
    if len(runs) == 1:
        return runs[0][1]
    return "; ".join(f"{notebook}={status}" for notebook, status in runs)


def totals_text(graded: list[Graded]) -> str:
    students: dict[str, list[Graded]] = {}
    for g in sorted_graded(graded):
        students.setdefault(g.student, []).append(g)
    rows = [[student, sum(g.total for g in gs), sum(g.max_points for g in gs),
             _run_column([(g.notebook, g.run["status"]) for g in gs])] for student, gs in students.items()]
    return _csv(rows, TOTALS_COLUMNS)


def totals_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}_totals{out.suffix or '.csv'}")


def write_gradebook(graded: list[Graded], out: Path) -> tuple[Path, Path]:
    """``out`` (one row per student x exercise) and ``<out stem>_totals.csv`` (one row per student)."""
    out = Path(out)
    totals = totals_path(out)
    atomic_write(out, gradebook_text(graded))
    atomic_write(totals, totals_text(graded))
    return out, totals


# --------------------------------------------------------------------------- feedback


def _run_section(run: dict) -> list[str]:
    status, errors = run["status"], run.get("errors", [])
    lines = ["### Running your notebook", "", "*(Cells are counted from the top, Markdown cells included.)*", ""]
    if status == "ok":
        lines.append("Your notebook ran from top to bottom without errors.")
    elif status == "skipped":
        lines.append(f"Not run: {run.get('detail', '')}")
    elif status == "invalid":
        lines.append(f"The file could not be graded: {run.get('detail', '')}")
    elif status == "errors":
        lines.append("Your notebook ran to the end, but some cells raised an error:")
    else:
        lines.append(f"Your notebook did not run to the end: {run.get('detail', '')}")
    if errors:
        if status != "errors":
            lines += ["", "Cells that raised an error before that:"]
        lines += [""] + [f"- cell {e['cell']}: `{clean(e['ename'], 80)}`: {clean(e['evalue'], 200)}" for e in errors]
    if status not in ("invalid", "skipped"):
        lines += ["", "*Your points come from the exercise checks, which run each exercise cell on its own in a "
                      "fresh process; running the whole notebook shows whether it works from top to bottom.*"]
    return lines


def feedback_markdown(student: str, graded: list[Graded]) -> str:
    """One student's feedback (all their notebooks), as Markdown."""
    lines = [f"# Feedback for {student}", ""]
    for g in sorted_graded(graded):
        title = g.notebook or "(unknown notebook)"
        lines += [f"## {title}: {g.total} / {g.max_points} points", "", f"Graded file: `{Path(g.path).name}`", ""]
        if g.results:
            lines += ["| Exercise | Result | Points |", "| --- | --- | --- |"]
            for r in g.results:
                name = f"{r.exercise} {r.title} (`{r.function}`)" if r.exercise else "-"
                lines.append(f"| {name} | {SYMBOLS[r.status]} {r.status} | {r.points} / {r.max_points} |")
            lines.append("")
        for r in g.results:
            if not r.exercise:
                lines += [f"{SYMBOLS[r.status]} {clean(r.message, 2000)}", ""]
                continue
            lines += [f"### Exercise {r.exercise}: {r.title}", ""]
            if r.status == PASSED:
                checked = "; ".join(r.checks)
                lines.append(f"{SYMBOLS[r.status]} **passed.**" + (f" Checked: {checked}." if checked else ""))
            else:
                lines.append(f"{SYMBOLS[r.status]} **{r.status}:** {clean(r.message, 2000)}")
                if r.hint:
                    lines += ["", f"**Hint:** {clean(r.hint, 2000)}"]
                if r.checks:
                    lines += ["", "Already fine: " + "; ".join(r.checks) + "."]
            lines.append("")
        lines += _run_section(g.run) + [""]
    if len(graded) > 1:
        lines.append(f"**Total: {sum(g.total for g in graded)} / {sum(g.max_points for g in graded)} points**")
        lines.append("")
    return "\n".join(lines)


def _file_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", student).strip("._") or "student"


def write_feedback(graded: list[Graded], folder: Path) -> list[Path]:
    """One Markdown file per student in ``folder``; returns the paths."""
    folder = Path(folder)
    students: dict[str, list[Graded]] = {}
    for g in graded:
        students.setdefault(g.student, []).append(g)
    written, used = [], Counter()
    for student in sorted(students):
        name = _file_name(student)
        used[name] += 1
        if used[name] > 1:
            name = f"{name}-{used[name]}"
        path = folder / f"{name}.md"
        atomic_write(path, feedback_markdown(student, students[student]))
        written.append(path)
    return written


def summary(graded: list[Graded]) -> str:
    """The final line: how many were graded, how many failed to run, the mean score."""
    students = {g.student for g in graded}
    failed = Counter(g.run["status"] for g in graded if g.run["status"] in RUN_FAILED_STATUSES)
    failed_text = ", ".join(f"{n} {status}" for status, n in sorted(failed.items()))
    parts = [f"graded {len(graded)} submission{'s' if len(graded) != 1 else ''} "
             f"({len(students)} student{'s' if len(students) != 1 else ''})",
             f"{sum(failed.values())} failed to run" + (f" ({failed_text})" if failed else "")]
    scored = [g for g in graded if g.max_points]
    if scored:
        maxima = {g.max_points for g in scored}
        percent = 100 * sum(g.total / g.max_points for g in scored) / len(scored)
        if len(maxima) == 1:
            mean = sum(g.total for g in scored) / len(scored)
            parts.append(f"mean score {mean:.2f} / {maxima.pop()} ({percent:.0f}%)")
        else:
            parts.append(f"mean score {percent:.0f}%")
    return "; ".join(parts)
