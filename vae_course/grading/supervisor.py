"""Grade one submission: a child process of the grader, one per submission.

    python -m vae_course.grading.supervisor    (job as JSON on stdin, result as JSON on stdout)

The job holds the notebook's text (read by the grader before any submission
ran) and the code of each exercise (taken out by
:mod:`vae_course.grading.submissions`). The supervisor

1. **runs the notebook** top to bottom in a fresh kernel (nbclient) started
   in a private copy of it, under limits, with errors allowed; it records the
   cells that raised, a cell or whole-notebook timeout, or the kernel dying.
   This proves the notebook runs and feeds the feedback - it does not score;
2. **checks the exercises** in a separate fresh process
   (:mod:`vae_course.grading.checker`), restarting it when student code kills
   it, so each exercise gets its own status;
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
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from .sandbox import (MARKER, become_subreaper, clean_env, hide_from_same_user, kill_descendants, kill_marked,
                      remove_tree)

STARTUP_S = 180        # allowed for starting a kernel or the checker (importing torch on a busy machine)
GRACE_S = 15           # at most this on top of a time limit before the checker process is killed
MAX_LINE = 1_000_000   # longest result line read from the checker


def grace(timeout: float) -> float:
    """Extra time after a check's own time limit before the supervisor kills the checker.

    The checker stops a slow exercise itself (SIGALRM) at ``timeout``; the grace only matters when
    student code swallowed that alarm or is stuck in C code, so it scales with the limit.
    """
    return min(GRACE_S, max(3.0, timeout / 2))


# Run statuses (the "run" column of the totals file).
RUN_OK, RUN_ERRORS, RUN_TIMEOUT, RUN_DIED, RUN_FAILED, RUN_SKIPPED = "ok", "errors", "timeout", "died", "failed", "skipped"


# --------------------------------------------------------------------------- step 1: run the notebook


class _GraderKernels(KernelSpecManager):
    """One kernel spec: this Python, started through vae_course.grading.kernel (limits first)."""

    memory = 0

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "vae_course.grading.kernel", str(self.memory),
                                "-f", "{connection_file}"],
                          name="vae-grader", display_name="Python 3 (grader)", language="python")


class _ErrorsOnlyClient(NotebookClient):
    """Keeps only error outputs: the grader needs nothing else, and a flood of prints costs no memory."""

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)


def _first_line(text: str, limit: int = 200) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:limit] if lines else ""


def run_notebook(job: dict, root: Path, marker: str) -> dict:
    """Execute the notebook; returns {status, detail, errors: [{cell, ename, evalue}]}."""
    nb = nbformat.reads(job["notebook"], as_version=4, capture_validation_error={})
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        return {"status": RUN_SKIPPED, "detail": "the notebook has no code to run.", "errors": []}
    work, home = root / "run", root / "run-home"
    work.mkdir()
    (work / job["filename"]).write_text(job["notebook"], encoding="utf-8")
    specs = _GraderKernels()
    specs.memory = job["memory"] or 0
    km = AsyncKernelManager(kernel_name="vae-grader", kernel_spec_manager=specs,
                            connection_file=str(root / "kernel.json"))  # removed with the sandbox folder
    client = _ErrorsOnlyClient(nb, km=km, timeout=job["cell_timeout"], allow_errors=True, startup_timeout=STARTUP_S,
                               record_timing=False, resources={"metadata": {"path": str(work)}})
    state = {"cell": None, "watchdog": False}

    def on_deadline():  # the whole-notebook limit: kill the kernel, nbclient then reports it dead
        state["watchdog"] = True
        kill_descendants()

    async def run():
        async with client.async_setup_kernel(env=clean_env(home, marker, job["threads"]), cwd=str(work),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                state["cell"] = index + 1
                await client.async_execute_cell(cell, index, execution_count=index + 1)

    def run_in_thread():
        try:
            asyncio.run(run())
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            state["error"] = err

    watchdog = threading.Timer(job["notebook_timeout"], on_deadline)
    watchdog.start()
    status, detail = RUN_OK, ""
    try:
        # In a thread of its own, so that even a hung client cannot keep the exercises from being checked.
        runner = threading.Thread(target=run_in_thread, daemon=True)
        runner.start()
        runner.join(job["notebook_timeout"] + GRACE_S)
        if runner.is_alive():
            state["watchdog"] = True
            raise DeadKernelError("the notebook client did not return")
        if state.get("error") is not None:
            raise state["error"]
    except CellTimeoutError:
        status, detail = RUN_TIMEOUT, (f"cell {state['cell']} did not finish within {job['cell_timeout']:g} s; "
                                       "the cells after it were not run.")
    except DeadKernelError:
        if state["watchdog"]:
            status, detail = RUN_TIMEOUT, (f"the notebook did not finish within {job['notebook_timeout']:g} s "
                                           f"(stopped in cell {state['cell']}).")
        else:
            status, detail = RUN_DIED, (f"the kernel died in cell {state['cell']} (a crash, os._exit, or too much "
                                        "memory); the cells after it were not run.")
    except Exception as err:  # noqa: BLE001 - e.g. the kernel never started
        status = RUN_TIMEOUT if state["watchdog"] else RUN_FAILED
        detail = f"the notebook could not be run ({type(err).__name__}: {_first_line(err)})."
    finally:
        watchdog.cancel()
        kill_descendants()  # the kernel and all it started; its files go with the sandbox folder
    errors = [{"cell": number, "ename": _first_line(out.get("ename", "")), "evalue": _first_line(out.get("evalue", ""))}
              for number, cell in enumerate(nb.cells, start=1) if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if status == RUN_OK and errors:
        status = RUN_ERRORS
        detail = f"{len(errors)} cell{'s' if len(errors) > 1 else ''} raised an error."
    return {"status": status, "detail": detail, "errors": errors}


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


def check_exercises(job: dict, root: Path, marker: str) -> dict:
    """Run the checker until every exercise has a result; returns {id: result}."""
    results, pending = {}, list(job["exercises"])
    timeout = job["check_timeout"]
    extra = grace(timeout)
    attempt = 0
    while pending:
        attempt += 1
        home, cwd = root / f"check-home-{attempt}", root / f"check-{attempt}"
        cwd.mkdir()
        nonce = secrets.token_hex(16)
        task = {"nonce": nonce, "timeout": timeout, "memory": job["memory"], "checks_files": job["checks_files"],
                "exercises": pending}
        proc = subprocess.Popen([sys.executable, "-m", "vae_course.grading.checker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                                env=clean_env(home, marker, job["threads"]), start_new_session=True)
        try:
            proc.stdin.write(json.dumps(task).encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass
        lines, current, phase, timed_out = _Lines(proc.stdout), None, "", False
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
            if event == "start" and ex_id in {e["id"] for e in pending} and ex_id not in results:
                current, phase = ex_id, "loading"
                deadline = time.monotonic() + timeout + extra
            elif event == "loaded" and ex_id == current:
                phase = "checking"
                deadline = time.monotonic() + timeout + extra
            elif event == "result" and ex_id == current:
                results[ex_id] = {k: message.get(k, "") for k in ("status", "message", "hint")}
                results[ex_id]["checks"] = message.get("checks", [])
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
        progressed = current is not None or any(e["id"] in results for e in pending)
        if current is not None and current not in results:
            if timed_out:
                what = "your function" if phase == "checking" else "defining your function"
                results[current] = {"status": "timeout", "message": f"{what} did not finish within "
                                    f"{timeout:g} s (the grader had to stop it).",
                                    "hint": "Look for a loop that never ends; a bare `except:` can swallow "
                                            "the check's time limit.", "checks": []}
            else:
                results[current] = {"status": "error", "message": _death(proc.returncode) + ".",
                                    "hint": "Exercise functions must return a value, not stop or crash "
                                            "the program.", "checks": []}
        pending = [e for e in pending if e["id"] not in results]
        if pending and not progressed:  # the checker could not even start: a grader problem, not the student's
            why = "did not start in time" if timed_out else f"stopped with exit code {proc.returncode}"
            for exercise in pending:
                results[exercise["id"]] = {"status": "error", "message": f"the grader's check process {why}.",
                                           "hint": "Ask your teacher to re-run the grading.", "checks": [],
                                           "grader_problem": True}
            pending = []
    return results


# --------------------------------------------------------------------------- the process itself


def supervise(job: dict) -> dict:
    marker = os.environ.get(MARKER, secrets.token_hex(8))
    root = Path(tempfile.mkdtemp(prefix="vae-grade-", dir=job.get("workdir")))
    os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
    try:
        if job["execute"]:
            run = run_notebook(job, root, marker)
        else:
            run = {"status": RUN_SKIPPED, "detail": "not executed (--no-execute).", "errors": []}
        kill_descendants()
        exercises = check_exercises(job, root, marker) if job["exercises"] else {}
        return {"run": run, "exercises": exercises}
    finally:
        kill_descendants()
        kill_marked(marker)
        remove_tree(root)


def main() -> None:
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the kernel and checker inherit none of our streams
        os.dup2(devnull, fd)
    become_subreaper()
    hide_from_same_user()
    result = supervise(job)
    results.write(json.dumps(result))
    results.flush()


if __name__ == "__main__":
    main()
