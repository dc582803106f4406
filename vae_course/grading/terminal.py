"""The report of ``vae-course check`` and the summary of ``vae-course grade``, for a terminal.

A terminal gets what :mod:`rich` renders (a heading, a table of exercises with the status
words of :class:`~vae_course.results.Status` in colour, the message and hint wrapped
to the terminal's width); scripts ask for ``--format md`` (the student's Markdown feedback, as
written to the feedback files) or ``--format json`` (the protocol's ``Graded.to_json``). Rich
drops colour by itself when the output is not a terminal (a pipe, a file, ``NO_COLOR``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TextIO

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..checks import REGISTRY
from .protocol import Code, Graded, RunStatus, Status
from .report import clean, feedback_markdown, points, summary

FORMATS = ("terminal", "md", "json")

#: The colour of each status word (the same words as in the notebook and the gradebook).
STATUS_STYLES = {
    Status.PASSED: "bold white on green",
    Status.FAILED: "bold white on red",
    Status.ERROR: "bold white on dark_red",
    Status.TIMEOUT: "bold black on yellow",
    Status.MISSING: "bold black on yellow",
    Status.INVALID: "bold white on dark_red",
}

_RUN_STYLES = {RunStatus.OK: "green", RunStatus.SKIPPED: "dim", RunStatus.ERRORS: "yellow"}


def console(file: TextIO | None = None, *, record: bool = False, width: int | None = None) -> Console:
    """The console reports are printed on (``record=True`` keeps what was printed, for ``export_svg``)."""
    return Console(file=file, record=record, width=width, highlight=False, soft_wrap=False)


def status_word(status: Status) -> Text:
    """The status as a coloured word, e.g. `` failed `` white on red (no emoji: any terminal font shows it)."""
    return Text(f" {status} ", style=STATUS_STYLES.get(status, "bold"))


def _pass_sentence(r) -> str:
    """What a passing check verified: the exercise's ``verified`` sentence, else the list of checks."""
    entry = REGISTRY.get(r.exercise)
    if entry is not None and entry.verified and r.code != Code.CHECKED_IN_PART:
        return entry.verified
    return "checked: " + "; ".join(r.checks) + "." if r.checks else ""


def _feedback(r) -> Text:
    """What the check says about one exercise: the message, then the hint and notes on lines of their own."""
    text = Text(clean(r.message or (_pass_sentence(r) if r.status == Status.PASSED else ""), 2000))
    if r.hint and r.status != Status.PASSED:
        text.append("\nHint: ", style="bold").append(clean(r.hint, 2000))
    for note in r.notes:
        text.append("\nNote: " + clean(note, 1000), style="italic dim")
    if r.override:
        text.append(f"\nPoints set by your teacher: {clean(r.override, 1000)}", style="bold magenta")
    return text


def _run_line(run) -> Text:
    line = Text("Running the notebook top to bottom: ", style="bold")
    line.append(str(run.status), style=_RUN_STYLES.get(run.status, "bold red"))
    if run.detail:
        line.append(f" ({clean(run.detail, 300)})")
    for error in run.errors:
        evalue = f": {clean(error.evalue, 200)}" if error.evalue else ""
        line.append(f"\n  cell {error.cell}: {clean(error.ename, 80)}{evalue}", style="red")
    return line


def notebook_report(g: Graded) -> Group:
    """One graded notebook: a table of its exercises (status word, points, feedback) and how it ran."""
    title = f"{g.notebook or '(unknown notebook)'}: {points(g.total)} / {g.max_points} points"
    table = Table(title=title, title_style="bold", title_justify="left", show_lines=True, expand=True)
    table.add_column("Exercise", ratio=2, min_width=25, overflow="fold")  # the longest function name fits
    table.add_column("Result", no_wrap=True)
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("What the check says", ratio=5, overflow="fold")
    for r in g.results:
        name = Text(f"{r.exercise} ", style="bold").append(r.title) if r.exercise else Text("-")
        if r.function:
            name.append(f"\n{r.function}", style="cyan")
        table.add_row(name, status_word(r.status), f"{points(r.points)} / {r.max_points}", _feedback(r))
    parts = [table]
    if g.run.status not in (RunStatus.INVALID, RunStatus.MISSING):
        parts.append(_run_line(g.run))
    return Group(*parts)


def print_check(graded: list[Graded], path: str, out: Console) -> None:
    """The report of ``vae-course check``: a heading, one table per notebook, the score."""
    out.rule(f"[bold]Check of {Path(path).name}[/bold]: what your teacher's grader will report")
    for g in graded:
        out.print(notebook_report(g))
    total, most = sum(g.total for g in graded), sum(g.max_points for g in graded)
    passed = all(r.status == Status.PASSED for g in graded for r in g.results)
    out.print(Text("Score: ", style="bold").append(f"{points(total)} / {most}",
                                                   style="bold green" if passed else "bold red"))


def check_report(graded: list[Graded], path: str, fmt: str, file: TextIO) -> None:
    """Write the report of ``vae-course check`` on ``file`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        file.write(json.dumps([g.to_json() for g in graded], indent=1, ensure_ascii=False) + "\n")
    elif fmt == "md":
        title = f"Check of {Path(path).name}: what your teacher's grader will report"
        file.write(feedback_markdown(graded[0].student, graded, title=title) + "\n")
        total, most = sum(g.total for g in graded), sum(g.max_points for g in graded)
        file.write(f"Score: {points(total)} / {most}\n")
    else:
        print_check(graded, path, console(file))


def print_grade_summary(results: list[Graded], out: Console) -> None:
    """The end of ``vae-course grade``: the summary line (first: scripts and logs read it), then the mean
    score per notebook as a table."""
    out.print(Text(f"{summary(results)}."), soft_wrap=True)  # one line, as scripts and logs expect
    by_notebook: dict[str, list[Graded]] = {}
    for g in results:
        if g.path and g.notebook and g.attempt in (0, g.attempts):
            by_notebook.setdefault(g.notebook, []).append(g)
    if by_notebook:
        table = Table(title="Scores per notebook", title_style="bold", title_justify="left")
        for column, justify in (("Notebook", "left"), ("Submissions", "right"), ("Mean", "right"),
                                ("All passed", "right")):
            table.add_column(column, justify=justify)
        for notebook, gs in sorted(by_notebook.items()):
            most = gs[0].max_points or 1
            mean = sum(g.total for g in gs) / len(gs)
            full = sum(all(r.status == Status.PASSED for r in g.results) for g in gs)
            table.add_row(notebook, str(len(gs)), f"{mean:.2f} / {gs[0].max_points} ({100 * mean / most:.0f}%)",
                          f"{full} of {len(gs)}")
        out.print(table)


class CheckProgress:
    """The live display of one ``vae-course check``: a bar for the notebook's cells, then one for the
    exercises, each exercise's status word printed as it comes; read from the progress file
    (:mod:`~vae_course.grading.progress`) while the grading runs.

    ``with CheckProgress(path, console): grade(...)`` - ``path`` is the progress file (created
    empty here; the caller names it in :data:`~vae_course.grading.progress.ENV`). :meth:`handle`
    applies one event and is what the tests drive.
    """

    def __init__(self, path: Path, console: Console, *, interval: float = 0.2):
        self.path, self.console, self.interval = Path(path), console, interval
        self.path.write_text("", encoding="utf-8")
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.run_task = self.check_task = None
        self.cells_started = 0
        self.exercises: list[str] = []
        self.done: dict[str, Status] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> CheckProgress:
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.progress.stop()

    def _follow(self) -> None:
        pending = ""
        with open(self.path, encoding="utf-8") as file:
            while True:
                stopping = self._stop.is_set()  # read once more after the stop, to miss no last line
                *lines, pending = (pending + file.read()).split("\n")  # a line being written waits
                for line in lines:
                    try:
                        self.handle(json.loads(line))
                    except (ValueError, TypeError, KeyError):
                        continue
                if stopping:
                    return
                self._stop.wait(self.interval)

    def handle(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "run":
            self.run_task = self.progress.add_task("running your notebook", total=int(event["cells"]))
        elif kind == "cell" and self.run_task is not None:  # the cells before this one are done
            line = clean(event.get("line", ""), 40)
            self.progress.update(self.run_task, completed=self.cells_started,
                                 description=f"running cell {event['number']} «{line}»")
            self.cells_started += 1
        elif kind == "check":
            if self.run_task is not None:
                total = self.progress.tasks[self.run_task].total
                self.progress.update(self.run_task, completed=total, description="ran your notebook")
            self.exercises = [str(e) for e in event["exercises"]]
            self.check_task = self.progress.add_task("checking the exercises", total=len(self.exercises))
        elif kind == "exercise" and self.check_task is not None:
            self.progress.update(self.check_task, description=f"checking Exercise {event['id']}")
        elif kind == "result" and self.check_task is not None:
            status = Status.parse(event.get("status"), Status.ERROR)
            self.done[str(event["id"])] = status
            finished = len(self.done) == len(self.exercises)
            self.progress.update(self.check_task, completed=len(self.done),
                                 **({"description": "checked the exercises"} if finished else {}))
            self.progress.console.print(Text(f"  Exercise {event['id']} ").append_text(status_word(status)))
