"""Running submissions: one supervisor process per submission, and the executors that run them.

:class:`Batch` turns a submission into its row before anything ran and the job for its
supervisor (:meth:`Batch.start`), runs :func:`run_supervisor` (a fresh process that runs
the notebook and then the checker, :mod:`~vae_course.grading.supervisor`) and fills the row
from what came back (:meth:`Batch.finish`). An *executor* decides where the jobs run: it is a
function ``executor(batch, subs, progress) -> list[Graded]`` - :func:`grade_here` on this
machine (a pool of ``--workers`` threads, each waiting on one supervisor), or
:func:`vae_course.grading.cluster.grade_on_cluster` on a Dask cluster; the batch
(:mod:`~vae_course.grading.batch`) is handed one and does not care which.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..results import points_earned
from . import process
from .extraction import extract
from .options import Options
from .protocol import (Code, ExerciseOutcome, ExerciseResult, Graded, RunReport, RunStatus, Status,
                       SubmissionOutcome, SupervisorJob)
from .sandbox import GIB, MARKER, kill_descendants, kill_marked, remove_tree
from .submissions import Submission
from .kernel import STARTS, STARTUP_S
from .supervisor import GRACE_S, OWN_WORKDIR, PARENT


def student_checks(options: Options) -> dict[str, str]:
    """``{file name: source}`` of the student copies of the ``--checks`` files (they run in the notebook)."""
    from ..checks import student_copy

    return {Path(p).name: student_copy(Path(p).read_text(encoding="utf-8")) for p in options.checks_files}


def exercise_rows(exercises, status: Status, code: str, message: str, hint: str = "") -> list[ExerciseResult]:
    """One row per exercise (or one empty row for an unknown notebook), all with the same outcome and no points."""
    if not exercises:
        return [ExerciseResult("", "", "", 0, 0, status, message, hint, code=code)]
    return [ExerciseResult(e.id, e.title, e.function, 0, e.points, status, message, hint, code=code)
            for e in exercises]


def exercises_of(notebook: str | None) -> list:
    """The registered exercises of ``notebook``, in id order (none for an unknown notebook)."""
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
    backstop = ((STARTS + 1) * STARTUP_S + job.notebook_timeout + 120
                + len(job.exercises) * (STARTUP_S + 2 * (job.check_timeout + GRACE_S)))
    proc = subprocess.Popen(process.command("vae_course.grading.supervisor"), stdin=subprocess.PIPE,
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
            execute=o.execute, workdir=str(self.workdir), allow_reference_calls=o.allow_reference_calls,
            hidden_seeds=dict(o.hidden_seeds))

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
            graded.results = exercise_rows(exercises_of(sub.notebook), Status.INVALID, Code.NOT_A_NOTEBOOK, sub.problem,
                                   "Hand in the .ipynb file itself (in JupyterLab: right-click it › Download).")
            return graded, None
        if not sub.notebook:
            graded.run.detail = "could not tell which notebook this is."
            graded.results = exercise_rows([], Status.INVALID, Code.UNKNOWN_NOTEBOOK, "could not tell which course notebook "
                                   "this is (no exercise tags, no known file name or function).",
                                   "Ask your teacher to grade it with --notebook.")
            return graded, None
        return graded, self.job(sub, self.extracted(sub))

    @staticmethod
    def extracted(sub: Submission) -> list:
        return [extract(sub.nb, e.id, e.function) for e in exercises_of(sub.notebook)]

    def finish(self, sub: Submission, graded: Graded, outcome: SubmissionOutcome | None,
               failure: RunReport | None = None) -> Graded:
        """Fill in the row from the supervisor's ``outcome`` (None: it gave none; ``failure`` says why)."""
        exercises, extracted = exercises_of(sub.notebook), self.extracted(sub)
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
                entry.id, entry.title, entry.function, points_earned(entry.points, got.status, got.credit),
                entry.points, got.status, got.message, got.hint, code=got.code or str(got.status),
                checks=list(got.checks), notes=([ex.note] if ex.note else []) + list(got.notes)))
        return graded

    def close(self) -> None:
        remove_tree(self.workdir)  # with what a killed supervisor left behind


def grade_here(batch: Batch, subs: list[Submission], progress: bool = False) -> list[Graded]:
    """The local executor: grade ``subs`` on this machine, ``--workers`` supervisors at a time.

    A submission whose supervisor gave no result is graded once more, alone, at the end (a
    neighbour may have disturbed it). Ctrl-C stops every supervisor before it propagates.
    """
    from tqdm.auto import tqdm

    graded, retry = [], []
    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=None if progress else True,
               file=sys.stderr)  # None: shown on a terminal only
    try:
        with ThreadPoolExecutor(max_workers=batch.options.n_workers) as pool:
            futures = {pool.submit(batch.grade, sub): sub for sub in subs}
            try:
                for future in as_completed(futures):
                    result, failed = future.result()
                    if failed:
                        retry.append(futures[future])
                    else:
                        graded.append(result)
                    bar.update(1)
            except BaseException:
                batch.stop_all()
                for future in futures:
                    future.cancel()
                raise
        for sub in retry:
            graded.append(batch.grade(sub)[0])
    finally:
        bar.close()
    return graded
