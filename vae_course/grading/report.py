"""What grading produces, as text: the gradebook and its exports, per-student feedback and the summary line.

Everything is computed from a list of :class:`~vae_course.grading.protocol.Graded` (one per
submission, plus the roster's missing students), so a ``--student`` re-grade, which merges
one student's new results into the previous ones, rewrites every file the same way. Rows are
sorted and messages are cleaned of anything that varies between runs (memory addresses,
temporary paths), so grading the same submissions twice gives the same files (the cell timings
in the class report and the results JSON are the exception). The files are written by
:mod:`vae_course.grading.outputs`. Statuses are written as the words of
:class:`~vae_course.results.Status`, never as emoji: feedback is read in editors and
LMS pages whose fonts may have none.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

from . import lms
from .protocol import RUN_FAILURES, Graded, RunStatus, Status, exercise_key

GRADEBOOK_COLUMNS = ["student", "name", "lms_id", "notebook", "attempt", "exercise", "points", "max_points",
                     "status", "code", "message", "override", "file"]
TOTALS_COLUMNS = ["student", "name", "notebook", "attempt", "total", "max_points", "run", "file"]
SKIPPED_COLUMNS = ["file", "student", "reason"]

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
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(value):
        return "'" + value
    return value


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _csv(rows: list[list], columns: list[str] | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if columns:
        writer.writerow(columns)
    writer.writerows([[_safe_cell(v) for v in row] for row in rows])
    return buffer.getvalue()


def points(value: float) -> str:
    """``2`` rather than ``2.0``; ``1.5`` stays."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def sorted_graded(graded: list[Graded]) -> list[Graded]:
    return sorted(graded, key=lambda g: (g.student, g.notebook, g.attempt, g.path))


def latest(graded: list[Graded]) -> list[Graded]:
    """One submission per student and notebook: with ``--all-attempts``, the last attempt."""
    return [g for g in graded if g.attempt in (0, g.attempts)]


# --------------------------------------------------------------------------- the gradebook and its exports


def gradebook_text(graded: list[Graded]) -> str:
    """The tidy long table: one row per student, notebook (attempt) and exercise."""
    rows = [[g.student, g.name, g.lms_id, g.notebook, g.attempt or "", r.exercise, points(r.points), r.max_points,
             r.status, r.code, clean(r.message), clean(r.override), g.path]
            for g in sorted_graded(graded) for r in sorted(g.results, key=lambda r: exercise_key(r.exercise))]
    return _csv(rows, GRADEBOOK_COLUMNS)


def totals_text(graded: list[Graded]) -> str:
    """One row per student and notebook (never adding different notebooks into one total)."""
    rows = [[g.student, g.name, g.notebook, g.attempt or "", points(g.total), g.max_points, g.run.status, g.path]
            for g in sorted_graded(graded)]
    return _csv(rows, TOTALS_COLUMNS)


def _students_for_lms(graded: list[Graded], emails: dict[str, str]) -> tuple[list[dict], list[tuple[str, int]]]:
    notebooks = sorted({(g.notebook, g.max_points) for g in latest(graded) if g.notebook})
    students: dict[str, dict] = {}
    for g in sorted_graded(latest(graded)):
        s = students.setdefault(g.student, {"student": g.student, "name": g.name, "lms_id": g.lms_id,
                                            "email": emails.get(g.student, ""), "totals": {}})
        s["name"] = s["name"] or g.name
        s["lms_id"] = s["lms_id"] or g.lms_id
        if g.notebook:
            s["totals"][g.notebook] = g.total
    return list(students.values()), [(nb, most) for nb, most in dict(notebooks).items()]


def canvas_text(graded: list[Graded], emails: dict[str, str] | None = None) -> str:
    return _csv(lms.canvas_rows(*_students_for_lms(graded, emails or {})), None)


def moodle_text(graded: list[Graded], emails: dict[str, str] | None = None) -> str:
    return _csv(lms.moodle_rows(*_students_for_lms(graded, emails or {})), None)


def skipped_text(skipped) -> str:
    """The files that were not graded (``Skipped`` from :mod:`~vae_course.grading.submissions`)."""
    rows = sorted([str(s.path), s.student, s.reason] for s in skipped)
    return _csv(rows, SKIPPED_COLUMNS)


def state_text(graded: list[Graded]) -> str:
    """Every result, as JSON: what a later ``--student`` run reads back (:func:`read_state`)."""
    return json.dumps([g.to_json() for g in sorted_graded(graded)], indent=1, ensure_ascii=False) + "\n"


def read_state(path: Path) -> list[Graded]:
    return [Graded.from_json(item) for item in json.loads(Path(path).read_text(encoding="utf-8"))]


# --------------------------------------------------------------------------- feedback


def _run_section(run) -> list[str]:
    status, errors = run.status, run.errors
    lines = ["### Running your notebook", "", "*(Cells are counted from the top, Markdown cells included.)*", ""]
    if status == RunStatus.OK:
        lines.append("Your notebook ran from top to bottom without errors.")
    elif status == RunStatus.SKIPPED:
        lines.append(run.detail[:1].upper() + run.detail[1:])
    elif status == RunStatus.ERRORS:
        lines.append("Your notebook ran to the end, but some cells raised an error:")
    else:
        lines.append(f"Your notebook did not run to the end: {run.detail}")
    if errors:
        if status != RunStatus.ERRORS:
            lines += ["", "Cells that raised an error before that:"]
        lines += [""] + [f"- cell {e.cell}" + (f" («{clean(e.first_line, 60)}»)" if e.first_line else "")
                         + f": `{clean(e.ename, 80)}`: {clean(e.evalue, 200)}" for e in errors]
    if status != RunStatus.SKIPPED:
        lines += ["", "*Your points come from the exercise checks, which run each exercise cell on its own in a "
                      "fresh process; running the whole notebook shows whether it works from top to bottom.*"]
    return lines


def notebook_section(g: Graded) -> list[str]:
    """The feedback on one graded notebook (a section of a student's feedback file)."""
    title = g.notebook or "(unknown notebook)"
    attempt = f" (attempt {g.attempt} of {g.attempts})" if g.attempt else ""
    lines = [f"## {title}{attempt}: {points(g.total)} / {g.max_points} points", ""]
    if g.path:
        lines += [f"Graded file: `{Path(g.path).name}`", ""]
    if g.results:
        lines += ["| Exercise | Result | Points |", "| --- | --- | --- |"]
        for r in g.results:
            name = f"{r.exercise} {r.title} (`{r.function}`)" if r.exercise else "-"
            mark = " (set by your teacher)" if r.override else ""
            lines.append(f"| {name} | {r.status} | {points(r.points)} / {r.max_points}{mark} |")
        lines.append("")
    # Nothing handed in, or nothing readable: the run section would only repeat the reason.
    run = [] if g.run.status in (RunStatus.INVALID, RunStatus.MISSING) else _run_section(g.run) + [""]
    if len(g.results) > 1 and len({(r.status, r.message) for r in g.results}) == 1 and \
            g.results[0].status in (Status.INVALID, Status.MISSING):  # one reason for every exercise: say it once
        r = g.results[0]
        lines += [f"**{r.status}:** {clean(r.message, 2000)}", ""]
        return lines + ([f"**Hint:** {clean(r.hint, 2000)}", ""] if r.hint else []) + run
    for r in g.results:
        if not r.exercise:
            lines += [f"**{r.status}:** {clean(r.message, 2000)}", ""]
            continue
        lines += [f"### Exercise {r.exercise}: {r.title}", ""]
        if r.status == Status.PASSED:
            checked = "; ".join(r.checks)
            lines.append("**passed.**" + (f" Checked: {checked}." if checked else ""))
        else:
            lines.append(f"**{r.status}:** {clean(r.message, 2000)}")
            if r.hint:
                lines += ["", f"**Hint:** {clean(r.hint, 2000)}"]
            if r.checks:
                lines += ["", "Already fine: " + "; ".join(r.checks) + "."]
        for note in r.notes:
            lines += ["", f"*Note: {clean(note, 1000)}*"]
        if r.override:
            lines += ["", f"**Points set by your teacher: {points(r.points)} / {r.max_points}** (the check gave "
                          f"{points(r.checked_points or 0)}): {clean(r.override, 1000)}"]
        lines.append("")
    return lines + run


def feedback_markdown(student: str, graded: list[Graded], title: str | None = None) -> str:
    """One student's feedback (all their notebooks), as Markdown."""
    graded = sorted_graded(graded)
    name = next((g.name for g in graded if g.name), "")
    heading = title or (f"Feedback for {name} ({student})" if name and name != student else f"Feedback for {student}")
    lines = [f"# {heading}", ""]
    for g in graded:  # each notebook on its own: notebooks are never added into one total
        lines += notebook_section(g)
    return "\n".join(lines)


def _file_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", student).strip("._") or "student"


def feedback_files(graded: list[Graded]) -> dict[str, str]:
    """``{relative path: Markdown}``: ``<student>.md`` for everyone, and for students who handed in through
    Moodle a copy of each notebook's feedback where Moodle's feedback importer expects it."""
    students: dict[str, list[Graded]] = {}
    for g in graded:
        students.setdefault(g.student, []).append(g)
    files, used = {}, Counter()
    for student in sorted(students):
        name = _file_name(student)
        used[name] += 1
        if used[name] > 1:
            name = f"{name}-{used[name]}"
        files[f"{name}.md"] = feedback_markdown(student, students[student])
        for g in latest(students[student]):
            if g.lms == "moodle" and g.lms_prefix and g.notebook:
                path = lms.moodle_feedback_path(g.lms_prefix, g.notebook).as_posix()
                files[path] = feedback_markdown(student, [g])
    return files


def summary(graded: list[Graded]) -> str:
    """The final line: how many were graded, how many failed to run, the mean score per notebook."""
    handed_in = [g for g in graded if g.path]
    students = {g.student for g in graded}
    failed = Counter(g.run.status for g in handed_in if g.run.status in RUN_FAILURES)
    failed_text = ", ".join(f"{n} {status}" for status, n in sorted(failed.items()))
    parts = [f"graded {len(handed_in)} submission{'s' if len(handed_in) != 1 else ''} "
             f"({len(students)} student{'s' if len(students) != 1 else ''})",
             f"{sum(failed.values())} failed to run" + (f" ({failed_text})" if failed else "")]
    missing = [g for g in graded if not g.path]
    if missing:
        parts.append(f"{len(missing)} missing")
    scored = [g for g in latest(graded) if g.max_points and g.path]  # what was handed in
    by_notebook: dict[str, list[Graded]] = {}
    for g in scored:
        by_notebook.setdefault(g.notebook, []).append(g)
    means = []
    for notebook, gs in sorted(by_notebook.items()):
        most = gs[0].max_points
        mean = sum(g.total for g in gs) / len(gs)
        means.append((notebook, f"{mean:.2f} / {most} ({100 * mean / most:.0f}%)"))
    if len(means) == 1:
        parts.append(f"mean score {means[0][1]}")
    elif means:
        parts.append("mean score " + ", ".join(f"{nb} {text}" for nb, text in means))
    return "; ".join(parts)
