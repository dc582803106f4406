"""Grade one submission: a child process of the grader, one per submission.

    python -m vae_course.grading.process vae_course.grading.supervisor
        (a SupervisorJob as JSON on stdin, a SubmissionOutcome on stdout)

The job holds the notebook's text (read by the grader before any submission
ran) and the code of each exercise (taken out by
:mod:`vae_course.grading.submissions`). The supervisor

1. **runs the notebook** top to bottom in a fresh kernel (nbclient) started
   in a private copy of it (next to it, the student copies of any ``--checks``
   files, so its check cells run), under limits, with errors allowed; it records
   the cells that raised, a cell or whole-notebook timeout, or the kernel dying,
   and how long each cell took. This proves the notebook runs and feeds the
   feedback and the class report - it does not score;
2. **checks the exercises** in a separate fresh process
   (:mod:`vae_course.grading.checker`), restarting it when student code kills
   it, so each exercise gets its own status. The first checker process starts
   *before* the notebook runs, in an empty folder of its own: it imports torch
   and the checks while the kernel works (that costs 2-3 s of CPU, which a free
   core then absorbs) and only then waits for its task. It runs no student code
   before the kernel is gone; if the student's code killed it meanwhile, a
   fresh one is started;
3. kills every process the student's code started, and removes its files.

It makes itself a child subreaper (Linux), so daemonised processes stay its
descendants, and hides its /proc entries from the student's processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import integrity, process, progress
from .kernel import STARTS, STARTUP_S, notebook_client
from .protocol import (CellError, CellTime, CheckerTask, Code, ExerciseOutcome, RunReport, RunStatus, Status,
                       SubmissionOutcome, SupervisorJob, first_line)
from .sandbox import (MARKER, become_subreaper, clean_env, die_with_parent, hide_from_same_user, kill_descendants,
                      kill_marked, remove_tree)

GRACE_S = 15           # at most this on top of a time limit before the checker process is killed
MAX_LINE = 1_000_000   # longest result line read from the checker
OWN_WORKDIR = "VAE_COURSE_GRADING_OWN_WORKDIR"  # set: remove the job's workdir at the end (a Dask task's folder)
PARENT = "VAE_COURSE_GRADING_PARENT"  # the pid of the process that started us (batch or Dask worker)


def grace(timeout: float) -> float:
    """Extra time after a check's own time limit before the supervisor kills the checker.

    The checker stops a slow exercise itself (SIGALRM) at ``timeout``; the grace only matters when
    student code swallowed that alarm or is stuck in C code, so it scales with the limit.
    """
    return min(GRACE_S, max(3.0, timeout / 2))


# --------------------------------------------------------------------------- step 1: run the notebook


def _quote(nb, number: int | None) -> str:
    """``cell 21 («for epoch in range(100):»)`` for the 1-based cell ``number``."""
    if not number:
        return "a cell"
    line = first_line(nb.cells[number - 1].get("source", ""), 60)
    return f"cell {number} («{line}»)" if line else f"cell {number}"


def run_notebook(job: SupervisorJob, root: Path, marker: str, *, spare: int | None = None) -> RunReport:
    """Execute the notebook; what happened, the cells that raised and how long each cell took.

    Every process the kernel left is killed afterwards, except ``spare`` (the waiting checker's pid).
    """
    nb = nbformat.reads(job.notebook, as_version=4, capture_validation_error={})
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        return RunReport(RunStatus.SKIPPED, "the notebook has no code to run.")
    progress.report("run", cells=sum(cell.cell_type == "code" for cell in nb.cells))
    work, home = root / "run", root / "run-home"
    work.mkdir()
    (work / job.filename).write_text(job.notebook, encoding="utf-8")
    for name, source in job.student_checks.items():  # so that the notebook's `import my_checks` works
        (work / name).write_text(source, encoding="utf-8")
    state = {"cell": None, "watchdog": False}
    timings: list[CellTime] = []

    def on_deadline():  # the whole-notebook limit: kill the kernel, nbclient then reports it dead
        state["watchdog"] = True
        kill_descendants(spare=spare)

    async def run(client):
        async with client.async_setup_kernel(env=clean_env(home, marker, job.threads), cwd=str(work),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                state["cell"] = index + 1
                if cell.cell_type == "code":
                    progress.report("cell", number=index + 1, line=first_line(cell.source, 60))
                started = time.monotonic()
                await client.async_execute_cell(cell, index, execution_count=index + 1)
                if cell.cell_type == "code":
                    timings.append(CellTime(index + 1, first_line(cell.source, 60), time.monotonic() - started))

    def run_in_thread():
        for attempt in range(STARTS):  # a kernel that died before its first cell is started again
            state["error"] = None
            try:
                asyncio.run(run(notebook_client(nb, job, root, work, attempt)))
                return
            except BaseException as err:  # noqa: BLE001 - handed to the main thread
                state["error"] = err
                if state["cell"] is not None or state["watchdog"]:
                    return
                kill_descendants(spare=spare)  # what the failed start left

    watchdog = threading.Timer(job.notebook_timeout, on_deadline)
    watchdog.start()
    status, detail = RunStatus.OK, ""
    try:
        # In a thread of its own, so that even a hung client cannot keep the exercises from being checked.
        runner = threading.Thread(target=run_in_thread, daemon=True)
        runner.start()
        runner.join(job.notebook_timeout + GRACE_S)
        if runner.is_alive():
            state["watchdog"] = True
            raise DeadKernelError("the notebook client did not return")
        if state.get("error") is not None:
            raise state["error"]
    except CellTimeoutError:
        status, detail = RunStatus.TIMEOUT, (f"{_quote(nb, state['cell'])} did not finish within "
                                             f"{job.cell_timeout:g} s; the cells after it were not run.")
    except DeadKernelError:
        if state["watchdog"]:
            status, detail = RunStatus.TIMEOUT, (f"the notebook did not finish within {job.notebook_timeout:g} s "
                                                 f"(stopped in {_quote(nb, state['cell'])}).")
        else:
            status, detail = RunStatus.DIED, (f"the kernel died in {_quote(nb, state['cell'])} (a crash, os._exit, "
                                              "or too much memory); the cells after it were not run.")
    except Exception as err:  # noqa: BLE001 - e.g. the kernel never started
        status = RunStatus.TIMEOUT if state["watchdog"] else RunStatus.FAILED
        detail = f"the notebook could not be run ({type(err).__name__}: {first_line(err)})."
    finally:
        watchdog.cancel()
        kill_descendants(spare=spare)  # the kernel and all it started; its files go with the sandbox folder
    errors = [CellError(number, first_line(cell.source, 60), first_line(out.get("ename", "")),
                        first_line(out.get("evalue", "")))
              for number, cell in enumerate(nb.cells, start=1) if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if status == RunStatus.OK and errors:
        status = RunStatus.ERRORS
        detail = f"{len(errors)} cell{'s' if len(errors) > 1 else ''} raised an error."
    return RunReport(status, detail, errors, timings)


# --------------------------------------------------------------------------- step 2: check the exercises


class _Lines:
    """JSON lines from a pipe, with a deadline per read."""

    def __init__(self, stream):
        self.stream, self.buffer = stream, b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(stream, selectors.EVENT_READ)

    def read(self, deadline: float):
        """The next line as a dict; None at end of stream; raises TimeoutError after ``deadline``."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                raise TimeoutError
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE and b"\n" not in self.buffer:
                self.buffer = b""  # garbage, not a result
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {}


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = {"SIGSEGV": "crashed the Python interpreter (segmentation fault)",
                "SIGKILL": "was killed (most likely for using too much memory)",
                "SIGXFSZ": "wrote a file larger than the grader allows",
                "SIGABRT": "aborted the Python interpreter"}.get(name, f"was stopped by {name}")
        return f"the grading process {what} while running your exercise"
    return f"your code ended the grading process (exit code {returncode}, e.g. os._exit)"


def _outcome(status: Status, code: str, message: str, hint: str, **extra) -> ExerciseOutcome:
    return ExerciseOutcome(status, message, hint, code=code, **extra)


def start_checker(root: Path, marker: str, threads: int) -> subprocess.Popen:
    """A checker process in a new empty folder with its own HOME: it imports the checks, then waits for its task.

    ``-P``: the folder is not on ``sys.path``, so files the student's code may have written there are never
    imported in place of a module.
    """
    folder = root / f"check-{secrets.token_hex(4)}"
    (folder / "cwd").mkdir(parents=True)
    return subprocess.Popen(process.command("vae_course.grading.checker", "-P"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder / "cwd",
                            env=clean_env(folder / "home", marker, threads), start_new_session=True)


def check_exercises(job: SupervisorJob, root: Path, marker: str,
                    waiting: subprocess.Popen | None = None) -> dict[str, ExerciseOutcome]:
    """Run the checker until every exercise has a result; returns {exercise id: outcome}.

    ``waiting``: a checker started earlier (:func:`start_checker`), used first if it is still alive.
    """
    results: dict[str, ExerciseOutcome] = {}
    pending = list(job.exercises)
    progress.report("check", exercises=[e.id for e in pending])
    timeout = job.check_timeout
    extra = grace(timeout)
    while pending:
        early = waiting is not None and waiting.poll() is None
        proc = waiting if early else start_checker(root, marker, job.threads)
        waiting = None
        nonce = integrity.nonce()
        task = CheckerTask(nonce=nonce, timeout=timeout, memory=job.memory, checks_files=job.checks_files,
                           exercises=pending, allow_reference_calls=job.allow_reference_calls,
                           hidden_seeds=job.hidden_seeds)
        try:
            proc.stdin.write(json.dumps(task.to_json()).encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass
        lines, current, phase, timed_out = _Lines(proc.stdout), None, "", False
        pending_ids = {e.id for e in pending}
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                message = lines.read(deadline)
            except TimeoutError:
                timed_out = True
                break
            if message is None:
                break
            if message.get("nonce") != nonce:
                continue
            event, ex_id = message.get("event"), message.get("id")
            if event == "start" and ex_id in pending_ids and ex_id not in results:
                current, phase = ex_id, "loading"
                progress.report("exercise", id=ex_id)
                deadline = time.monotonic() + timeout + extra
            elif event == "loaded" and ex_id == current:
                phase = "checking"
                deadline = time.monotonic() + timeout + extra
            elif event == "result" and ex_id == current:
                results[ex_id] = ExerciseOutcome.from_json(message.get("outcome"))
                progress.report("result", id=ex_id, status=str(results[ex_id].status))
                current = None
                deadline = time.monotonic() + extra + timeout
            elif event == "done":
                break
        if timed_out:
            proc.kill()
        try:
            proc.wait(timeout=10)  # its exit status tells how it ended
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        kill_descendants()
        proc.stdout.close()
        progressed = current is not None or any(e.id in results for e in pending)
        if current is not None and current not in results:
            if timed_out:
                what = "your function" if phase == "checking" else "defining your function"
                results[current] = _outcome(Status.TIMEOUT, Code.TIMED_OUT, f"{what} did not finish within "
                                            f"{timeout:g} s (the grader had to stop it).",
                                            "Look for a loop that never ends; a bare `except:` can swallow "
                                            "the check's time limit.")
            else:
                results[current] = _outcome(Status.ERROR, Code.STOPPED, _death(proc.returncode) + ".",
                                            "Exercise functions must return a value, not stop or crash the program.")
            progress.report("result", id=current, status=str(results[current].status))
        pending = [e for e in pending if e.id not in results]
        if pending and not progressed and early:  # killed while it waited (e.g. by the notebook): a fresh one
            continue
        if pending and not progressed:  # the checker could not even start: a grader problem, not the student's
            why = "did not start in time" if timed_out else f"stopped with exit code {proc.returncode}"
            for exercise in pending:
                results[exercise.id] = _outcome(Status.ERROR, Code.GRADER_PROBLEM,
                                                f"the grader's check process {why}.",
                                                "Ask your teacher to re-run the grading.", grader_problem=True)
            pending = []
    return results


# --------------------------------------------------------------------------- the process itself


def supervise(job: SupervisorJob) -> SubmissionOutcome:
    marker = os.environ.get(MARKER, secrets.token_hex(8))
    root = Path(tempfile.mkdtemp(prefix="vae-grade-", dir=job.workdir))
    os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
    try:
        checker = start_checker(root, marker, job.threads) if job.exercises else None
        spare = checker.pid if checker else None
        if job.execute:
            run = run_notebook(job, root, marker, spare=spare)
        else:
            run = RunReport(RunStatus.SKIPPED, "your teacher graded the exercises only this time (--no-execute), "
                                               "so the notebook was not run from top to bottom.")
        kill_descendants(spare=spare)
        exercises = check_exercises(job, root, marker, checker) if job.exercises else {}
        return SubmissionOutcome(run, exercises)
    finally:
        kill_descendants()
        kill_marked(marker)
        remove_tree(root)
        if os.environ.get(OWN_WORKDIR) == "1":
            remove_tree(Path(job.workdir))


def _parent_died(signum, frame):
    raise SystemExit(1)  # supervise()'s clean-up runs: everything it started is killed, its files removed


def _read_job() -> SupervisorJob | None:
    """The job our parent sent on stdin; None when nobody waits for its result.

    That is when our parent died before we asked to die with it (a Dask worker killed while we started:
    we have another parent now), or died while it wrote the job (a cut-off job does not parse).
    """
    if os.environ.get(PARENT, str(os.getppid())) != str(os.getppid()):
        return None
    try:
        return SupervisorJob.from_json(json.loads(sys.stdin.buffer.read().decode("utf-8")))
    except (ValueError, TypeError, KeyError):
        return None


def main() -> None:
    signal.signal(signal.SIGTERM, _parent_died)
    die_with_parent(signal.SIGTERM)
    job = _read_job()
    if job is None:  # grade nothing, leave nothing
        if os.environ.get(OWN_WORKDIR) == "1":
            remove_tree(Path.cwd())
        raise SystemExit(1)
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the kernel and checker inherit none of our streams
        os.dup2(devnull, fd)
    become_subreaper()
    hide_from_same_user()
    result = supervise(job)
    results.write(json.dumps(result.to_json()))
    results.flush()


if __name__ == "__main__":
    main()
