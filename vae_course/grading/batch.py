"""Grade a batch of submissions, in three steps:

1. :func:`prepare` - find every file, read every notebook (all of them, before anything
   runs), match each to a roster student, tell which notebook it is, keep the latest
   attempt, and list what is skipped and why;
2. :func:`grade_prepared` - one supervisor process per submission, in parallel
   (:mod:`~vae_course.grading.supervisor`), each result a typed
   :class:`~vae_course.grading.protocol.Graded`;
3. :func:`complete` - rows for students who handed in no notebook (roster students:
   ``missing``; a ``.py`` instead of a notebook: ``invalid``), the previous results of
   everyone else for a ``--student`` re-grade, and the teacher's overrides.

The files are written afterwards by :mod:`~vae_course.grading.outputs` from
:mod:`~vae_course.grading.report`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import report
from .integrity import grader_digests
from .options import GradingError, Options
from .overrides import Override, apply_overrides
from .protocol import (Code, ExerciseOutcome, ExerciseResult, Graded, RunReport, RunStatus, Status,
                       SubmissionOutcome, SupervisorJob)
from .naming import check_matched, not_assigned, without_notebook
from .roster import Roster
from .sandbox import GIB, MARKER, kill_descendants, kill_marked, remove_tree
from .submissions import Skipped, Submission, choose_attempts, extract, find_files, identify, read_submission
from .supervisor import GRACE_S, OWN_WORKDIR, PARENT, STARTUP_S

__all__ = ["GradingError", "Options", "Prepared", "prepare", "grade_prepared", "complete", "grade"]


def load_checks(options: Options) -> dict:
    """Import the ``--checks`` files (registering their exercises); returns the registry."""
    from ..checks import REGISTRY, ChecksFileError, load_checks_file

    for path in options.checks_files:
        try:
            load_checks_file(path)
        except ChecksFileError as err:
            raise GradingError(str(err)) from None
    return REGISTRY


def student_checks(options: Options) -> dict[str, str]:
    """``{file name: source}`` of the student copies of the ``--checks`` files (they run in the notebook)."""
    from ..checks._core import student_copy

    return {Path(p).name: student_copy(Path(p).read_text(encoding="utf-8")) for p in options.checks_files}


def _rows(exercises, status: Status, code: str, message: str, hint: str = "") -> list[ExerciseResult]:
    if not exercises:
        return [ExerciseResult("", "", "", 0, 0, status, message, hint, code=code)]
    return [ExerciseResult(e.id, e.title, e.function, 0, e.points, status, message, hint, code=code)
            for e in exercises]


def _exercises(notebook: str | None) -> list:
    from ..checks import exercises_for

    return exercises_for(notebook) if notebook else []


def run_supervisor(job: SupervisorJob, on_start=None, on_end=None,
                   own_workdir: bool = False) -> SubmissionOutcome | None:
    """Run one supervisor process for ``job`` and kill all it started; its result, or None if it gave none.

    The one way a submission is graded, on this machine (:class:`Batch`) or on a Dask worker
    (:mod:`~vae_course.grading.cluster`). ``on_start(proc, marker)`` and ``on_end(proc, marker)``
    let the caller track the running process (to stop it on Ctrl-C). With ``own_workdir`` the supervisor
    removes ``job.workdir`` when it ends, even when it ends because its parent (a Dask worker) was killed.
    """
    marker = secrets.token_hex(12)
    backstop = (2 * STARTUP_S + job.notebook_timeout + 120
                + len(job.exercises) * (STARTUP_S + 2 * (job.check_timeout + GRACE_S)))
    proc = subprocess.Popen([sys.executable, "-m", "vae_course.grading.supervisor"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=job.workdir,
                            env={**os.environ, MARKER: marker, PARENT: str(os.getpid()),
                                 **({OWN_WORKDIR: "1"} if own_workdir else {})},
                            start_new_session=True)
    if on_start:
        on_start(proc, marker)
    try:
        out, _ = proc.communicate(json.dumps(job.to_json()).encode("utf-8"), timeout=backstop)
    except subprocess.TimeoutExpired:
        out = b""
    finally:
        kill_supervisor(proc, marker)
        if on_end:
            on_end(proc, marker)
    try:
        return SubmissionOutcome.from_json(json.loads(out))
    except (ValueError, TypeError, KeyError):
        return None


def kill_supervisor(proc: subprocess.Popen, marker: str) -> None:
    """Kill a supervisor process, everything it started, and every process carrying its marker."""
    try:
        import psutil

        kill_descendants(psutil.Process(proc.pid))
    except Exception:  # noqa: BLE001 - already gone
        pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass
    kill_marked(marker)


class Batch:
    """Runs supervisors; keeps track of them so that Ctrl-C can stop every one."""

    def __init__(self, options: Options):
        self.options = options
        self.student_checks = student_checks(options)
        self.running: dict[int, tuple[subprocess.Popen, str]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix="vae-grade-batch-"))

    def job(self, sub: Submission, extracted: list) -> SupervisorJob:
        o = self.options
        return SupervisorJob(
            notebook=sub.content.decode("utf-8"), filename=f"{sub.path.stem}.ipynb",
            exercises=[e.job() for e in extracted if not e.status], cell_timeout=o.timeout,
            notebook_timeout=o.notebook_timeout, check_timeout=o.timeout,
            memory=int(o.memory_gib * GIB) if o.memory_gib else 0,
            threads=max(1, (os.cpu_count() or 1) // o.n_workers),
            checks_files=[str(Path(p).resolve()) for p in o.checks_files], student_checks=self.student_checks,
            execute=o.execute, workdir=str(self.workdir), allow_reference_calls=o.allow_reference_calls)

    def supervise(self, job: SupervisorJob) -> SubmissionOutcome | None:
        """Run one supervisor process; its result, or None if it gave none (killed, crashed)."""
        if self.stopping.is_set():
            return None

        def started(proc, marker):
            with self.lock:
                self.running[proc.pid] = (proc, marker)

        def ended(proc, marker):
            with self.lock:
                self.running.pop(proc.pid, None)

        return run_supervisor(job, on_start=started, on_end=ended)

    @staticmethod
    def kill(proc: subprocess.Popen, marker: str) -> None:
        kill_supervisor(proc, marker)

    def stop_all(self) -> None:
        self.stopping.set()
        with self.lock:
            running = list(self.running.values())
        for proc, marker in running:
            self.kill(proc, marker)

    def grade(self, sub: Submission) -> tuple[Graded, bool]:
        """Grade one submission; the flag says whether the supervisor failed (worth one retry)."""
        graded, job = self.start(sub)
        if job is None:
            return graded, False
        outcome = self.supervise(job)
        return self.finish(sub, graded, outcome), outcome is None

    def start(self, sub: Submission) -> tuple[Graded, SupervisorJob | None]:
        """The submission's row before anything ran, and the job for its supervisor (None: nothing to run).

        Shared with :mod:`~vae_course.grading.cluster`, which runs the job on a Dask worker instead.
        """
        graded = Graded(sub.student, str(sub.path), sub.notebook or "", sub.identified_by,
                        RunReport(RunStatus.INVALID, sub.problem), [], name=sub.name, lms_id=sub.lms_id,
                        lms=sub.info.lms if sub.info else "", lms_prefix=sub.info.lms_prefix if sub.info else "",
                        attempt=sub.attempt, attempts=sub.attempts)
        if not sub.readable:
            graded.results = _rows(_exercises(sub.notebook), Status.INVALID, Code.NOT_A_NOTEBOOK, sub.problem,
                                   "Hand in the .ipynb file itself (in JupyterLab: right-click it › Download).")
            return graded, None
        if not sub.notebook:
            graded.run.detail = "could not tell which notebook this is."
            graded.results = _rows([], Status.INVALID, Code.UNKNOWN_NOTEBOOK, "could not tell which course notebook "
                                   "this is (no exercise tags, no known file name or function).",
                                   "Ask your teacher to grade it with --notebook.")
            return graded, None
        return graded, self.job(sub, self.extracted(sub))

    @staticmethod
    def extracted(sub: Submission) -> list:
        return [extract(sub.nb, e.id, e.function) for e in _exercises(sub.notebook)]

    def finish(self, sub: Submission, graded: Graded, outcome: SubmissionOutcome | None,
               failure: RunReport | None = None) -> Graded:
        """Fill in the row from the supervisor's ``outcome`` (None: it gave none; ``failure`` says why)."""
        exercises, extracted = _exercises(sub.notebook), self.extracted(sub)
        died = outcome is None
        if died:
            failure = failure or RunReport(RunStatus.FAILED, "the grader's process for this submission was "
                                                             "killed or crashed.")
            outcome = SubmissionOutcome(failure, {})
        graded.run = outcome.run
        for entry, ex in zip(exercises, extracted):
            if ex.status:
                got = ExerciseOutcome(ex.status, ex.message, ex.hint, code=ex.code)
            elif died and failure.status == RunStatus.DIED:  # it killed every worker it ran on
                got = ExerciseOutcome(Status.ERROR, "the grading process died each time this submission was "
                                      "graded, so its exercises could not be checked.",
                                      "Look for code that uses a lot of memory or crashes Python; run "
                                      "`vae-course check` on your notebook.", code=Code.STOPPED)
            else:
                got = outcome.exercises.get(entry.id) or ExerciseOutcome(
                    Status.ERROR, "the grader could not check this exercise (its process was killed or crashed).",
                    "Ask your teacher to re-run the grading.", code=Code.GRADER_PROBLEM, grader_problem=True)
            graded.results.append(ExerciseResult(
                entry.id, entry.title, entry.function, entry.points if got.status == Status.PASSED else 0,
                entry.points, got.status, got.message, got.hint, code=got.code or str(got.status),
                checks=list(got.checks), notes=([ex.note] if ex.note else []) + list(got.notes)))
        return graded

    def close(self) -> None:
        remove_tree(self.workdir)  # with what a killed supervisor left behind


# --------------------------------------------------------------------------- step 1: prepare


@dataclass
class Prepared:
    """Everything read before grading starts."""

    subs: list[Submission]                         # to grade
    skipped: list[Skipped]                         # not graded, and why
    registry: dict
    roster: Roster | None = None
    notebooks: set = field(default_factory=set)    # the notebooks of this batch
    students: set = field(default_factory=set)     # every student id known (roster and files)
    only: tuple = ()                               # --student: re-grade only these
    assignments: tuple = ()                        # --assignment: grade only these notebooks


def _match_roster(roster: Roster, subs: list[Submission], skipped: list[Skipped]) -> tuple[list, list]:
    kept = []
    for sub in subs:
        student, why = roster.match(sub.info)
        if student is None:
            skipped.append(Skipped(sub.path, f"{why} (add them to the roster, or fix the file name).",
                                   sub.student, sub.info, "not-in-roster"))
            continue
        sub.student, sub.name, sub.email = student.student, student.name or sub.name, student.email
        sub.lms_id = student.lms_id or sub.lms_id
        kept.append(sub)
    for item in skipped:
        if item.kind == "not-a-notebook" and item.info is not None and item.student:
            student, _ = roster.match(item.info)
            item.student = student.student if student else ""
    return kept, skipped


def prepare(paths, options: Options, *, roster: Roster | None = None, only=()) -> Prepared:
    """Find, read (all of them, before anything runs), match and identify the submissions."""
    registry = load_checks(options)
    stems = {e.notebook for e in registry.values()}
    for given in (options.notebook, *options.assignments):
        if given and given not in stems:
            raise GradingError(f"unknown notebook {given!r}; registered notebooks: {', '.join(sorted(stems))}")
    found, skipped = find_files(paths)
    found = [(path, without_notebook(info, stems)) for path, info in found]  # alice_02_elbo.ipynb: alice
    subs = [read_submission(info.student, path, info) for path, info in found]
    if roster is not None:
        subs, skipped = _match_roster(roster, subs, skipped)
        check_matched(subs, skipped, roster)
    for sub in subs:
        identify(sub, registry, options.notebook)
    common = Counter(s.notebook for s in subs if s.notebook).most_common(1)
    for sub in subs:
        if sub.notebook is None and common:
            sub.notebook, sub.identified_by = common[0][0], "the rest of the batch"
    subs, others = not_assigned(subs, options.assignments)
    skipped += [Skipped(sub.path, why, sub.student, sub.info, "not-assigned") for sub, why in others]
    subs, older = choose_attempts(subs, options.all_attempts)
    students = {s.student for s in subs} | {s.student for s in skipped if s.student}
    if roster is not None:
        students |= set(roster.by_id)
    notebooks = {s.notebook for s in subs if s.notebook} | ({options.notebook} if options.notebook else set())
    notebooks |= set(options.assignments)
    prepared = Prepared(subs, skipped + older, registry, roster, notebooks, students, tuple(only),
                        options.assignments)
    if only:
        unknown = [s for s in only if s not in students]
        if unknown:
            raise GradingError(f"--student {unknown[0]}: no such student in these submissions"
                               + (" or the roster" if roster else "") + ".")
        prepared.subs = [s for s in subs if s.student in only]
    if not subs and not skipped and roster is None:
        raise GradingError("no submissions found (.ipynb files or folders of them)")
    return prepared


# --------------------------------------------------------------------------- step 2: grade


def grade_prepared(prepared: Prepared, options: Options, progress: bool = False,
                   scheduler: str | None = None) -> list[Graded]:
    """Grade the submissions of :func:`prepare`; raises :class:`GradingError` if the grader's files changed.

    With ``scheduler`` (a Dask scheduler's address, a scheduler file, or ``"local"``) each submission
    is graded as one task on a Dask cluster (:mod:`~vae_course.grading.cluster`) instead of here.
    """
    subs = prepared.subs
    before = grader_digests({s.notebook for s in subs}, prepared.registry)
    batch = Batch(options)
    if scheduler:
        from .cluster import grade_on_cluster

        try:
            graded = grade_on_cluster(batch, subs, scheduler, progress)
        finally:
            batch.close()
        _check_unchanged(before, subs, prepared)
        return report.sorted_graded(graded)
    graded, retry = [], []
    from tqdm.auto import tqdm

    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=None if progress else True,
               file=sys.stderr)  # None: shown on a terminal only
    try:
        with ThreadPoolExecutor(max_workers=options.n_workers) as pool:
            futures = {pool.submit(batch.grade, sub): sub for sub in subs}
            try:
                for future in as_completed(futures):
                    result, failed = future.result()
                    (retry if failed else graded).append((futures[future], result))
                    bar.update(1)
            except BaseException:
                batch.stop_all()
                for future in futures:
                    future.cancel()
                raise
        for sub, _ in retry:  # once more, alone: a neighbour may have disturbed it
            graded.append((sub, batch.grade(sub)[0]))
    finally:
        bar.close()
        batch.close()
    _check_unchanged(before, subs, prepared)
    return report.sorted_graded([g for _, g in graded])


def _check_unchanged(before: dict, subs: list[Submission], prepared: Prepared) -> None:
    after = grader_digests({s.notebook for s in subs}, prepared.registry)
    changed = [f for f, digest in after.items() if before.get(f) != digest]
    if changed:
        raise GradingError("the grader's own files changed during grading (a submission may have edited them): "
                           + ", ".join(changed) + ". Restore them (e.g. git checkout) and grade again.")


# --------------------------------------------------------------------------- step 3: complete


def _not_a_notebook_rows(prepared: Prepared, graded: list[Graded]) -> list[Graded]:
    """Students who handed in only files that are not notebooks (``02_elbo.py``) get ``invalid`` rows."""
    have = {(g.student, g.notebook) for g in graded}
    students_graded = {g.student for g in graded}
    stems = sorted({e.notebook for e in prepared.registry.values()})
    rows: dict[tuple, Graded] = {}
    for item in prepared.skipped:
        if item.kind != "not-a-notebook" or not item.student or item.info is None:
            continue
        if prepared.only and item.student not in prepared.only:
            continue
        named = [stem for stem in stems if stem in " ".join(item.path.parts[-2:])]
        notebook = max(named, key=len) if named else ""
        if prepared.assignments and notebook not in prepared.assignments:
            continue
        if (item.student, notebook) in have or (not notebook and item.student in students_graded):
            continue
        key = (item.student, notebook)
        message = f"handed in `{item.path.name}`, which is not a notebook (.ipynb): only notebooks can be graded."
        if key in rows:
            continue
        rows[key] = Graded(item.student, str(item.path), notebook, "file name" if notebook else "",
                           RunReport(RunStatus.INVALID, message),
                           _rows(_exercises(notebook), Status.INVALID, Code.NOT_A_NOTEBOOK, message,
                                 "Hand in the .ipynb file itself (in JupyterLab: right-click it › Download)."),
                           name=item.info.name, lms_id=item.info.lms_id, lms=item.info.lms,
                           lms_prefix=item.info.lms_prefix)
    return list(rows.values())


def _missing_rows(prepared: Prepared, graded: list[Graded]) -> list[Graded]:
    """Every roster student gets rows for every notebook of the batch: ``missing`` when nothing was handed in."""
    if prepared.roster is None:
        return []
    have = {(g.student, g.notebook) for g in graded}
    rows = []
    for student in prepared.roster.students:
        if prepared.only and student.student not in prepared.only:
            continue
        for notebook in sorted(prepared.notebooks):
            if (student.student, notebook) in have:
                continue
            message = f"nothing handed in for {notebook}."
            rows.append(Graded(student.student, "", notebook, "roster", RunReport(RunStatus.MISSING, message),
                               _rows(_exercises(notebook), Status.MISSING, Code.NOT_SUBMITTED, message),
                               name=student.name, lms_id=student.lms_id))
    return rows


def complete(graded: list[Graded], prepared: Prepared, *, previous: list[Graded] | None = None,
             overrides: list[Override] = ()) -> list[Graded]:
    """The whole class: the graded submissions, students without a notebook, earlier results, overrides."""
    everyone = list(graded)
    everyone += _not_a_notebook_rows(prepared, everyone)
    if previous is not None:
        everyone += [g for g in previous if g.student not in prepared.only]
        for g in everyone:  # start from the checks' own points: the overrides file is applied afresh
            for r in g.results:
                if r.checked_points is not None:
                    r.points, r.checked_points, r.override = r.checked_points, None, ""
    everyone += _missing_rows(prepared, everyone)
    apply_overrides(everyone, list(overrides))
    return report.sorted_graded(everyone)


def grade(paths, options: Options | None = None, progress: bool = False, *, roster: Roster | None = None,
          overrides: list[Override] = ()) -> list[Graded]:
    """Grade every submission under ``paths``; returns one :class:`Graded` per submission (and missing student), sorted.

    Raises :class:`GradingError` for a bad command, ``KeyboardInterrupt`` if interrupted
    (after stopping every process it started).
    """
    options = options or Options()
    prepared = prepare(paths, options, roster=roster)
    return complete(grade_prepared(prepared, options, progress), prepared, overrides=overrides)
