"""Grade a batch of submissions: read them all, run one supervisor process per submission in
parallel, and collect the results (the files are written by :mod:`vae_course.grading.report`)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import report
from .report import ERROR, INVALID, ExerciseResult, Graded
from .sandbox import GIB, MARKER, kill_descendants, kill_marked, remove_tree
from .supervisor import GRACE_S, STARTUP_S
from .submissions import Submission, extract, find_submissions, identify, read_submission


class GradingError(Exception):
    """A problem with the command itself (no submissions, duplicates, unknown notebook)."""


@dataclass
class Options:
    timeout: float = 60.0            # per cell (running the notebook) and per exercise check, seconds
    notebook_timeout: float = 600.0  # for running the whole notebook, seconds
    memory_gib: float = 8.0          # address-space limit of the kernel and the checker (0 = none)
    workers: int | None = None       # submissions graded at once (default: CPU cores)
    execute: bool = True             # run the notebook top to bottom (feedback only, not points)
    notebook: str | None = None      # treat every submission as this notebook (file stem)
    checks_files: tuple = ()         # extra check modules (files) defining exercises

    @property
    def n_workers(self) -> int:
        return max(1, self.workers or os.cpu_count() or 1)


def load_checks_files(paths) -> dict:
    """Import the extra check files (registering their exercises); returns the registry."""
    from ..checks import REGISTRY

    for index, path in enumerate(paths):
        name = f"vae_course_extra_checks_{index}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None:
            raise GradingError(f"cannot load checks from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return REGISTRY


def _fingerprint(subs: list[Submission], registry: dict) -> dict[str, str]:
    """sha256 of the files these grades depend on (grader, checker core, the notebooks' checks, ``--checks``)."""
    from ..checks import _core

    files = set(Path(__file__).parent.glob("*.py")) | {Path(_core.__file__)}
    for entry in registry.values():
        if entry.notebook in {s.notebook for s in subs}:
            module = sys.modules.get(entry.body.__module__)
            if getattr(module, "__file__", None):
                files.add(Path(module.__file__))
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files) if f.is_file()}


def _results(sub: Submission, registry: dict, status: str, message: str, hint: str = "") -> list[ExerciseResult]:
    from ..checks import exercises_for

    exercises = exercises_for(sub.notebook) if sub.notebook else []
    if not exercises:
        return [ExerciseResult("", "", "", 0, 0, status, message, hint)]
    return [ExerciseResult(e.id, e.title, e.function, 0, e.points, status, message, hint) for e in exercises]


class Batch:
    """Runs supervisors; keeps track of them so that Ctrl-C can stop every one."""

    def __init__(self, options: Options, registry: dict):
        self.options, self.registry = options, registry
        self.running: dict[int, tuple[subprocess.Popen, str]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.workdir = Path(tempfile.mkdtemp(prefix="vae-grade-batch-"))

    def job(self, sub: Submission, extracted: list) -> dict:
        o = self.options
        return {"notebook": sub.content.decode("utf-8"), "filename": f"{sub.path.stem}.ipynb",
                "exercises": [e.job() for e in extracted if not e.status],
                "cell_timeout": o.timeout, "notebook_timeout": o.notebook_timeout, "check_timeout": o.timeout,
                "memory": int(o.memory_gib * GIB) if o.memory_gib else 0,
                "threads": max(1, (os.cpu_count() or 1) // o.n_workers),
                "checks_files": [str(Path(p).resolve()) for p in o.checks_files], "execute": o.execute,
                "workdir": str(self.workdir)}

    def supervise(self, job: dict) -> dict | None:
        """Run one supervisor process; its result, or None if it gave none (killed, crashed)."""
        if self.stopping.is_set():
            return None
        marker = secrets.token_hex(12)
        backstop = (2 * STARTUP_S + job["notebook_timeout"] + 120
                    + len(job["exercises"]) * (STARTUP_S + 2 * (job["check_timeout"] + GRACE_S)))
        proc = subprocess.Popen([sys.executable, "-m", "vae_course.grading.supervisor"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.workdir,
                                env={**os.environ, MARKER: marker}, start_new_session=True)
        with self.lock:
            self.running[proc.pid] = (proc, marker)
        try:
            out, _ = proc.communicate(json.dumps(job).encode("utf-8"), timeout=backstop)
        except subprocess.TimeoutExpired:
            out = b""
        finally:
            self.kill(proc, marker)
            with self.lock:
                self.running.pop(proc.pid, None)
        try:
            result = json.loads(out)
            return result if isinstance(result, dict) and "exercises" in result else None
        except ValueError:
            return None

    @staticmethod
    def kill(proc: subprocess.Popen, marker: str) -> None:
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

    def stop_all(self) -> None:
        self.stopping.set()
        with self.lock:
            running = list(self.running.values())
        for proc, marker in running:
            self.kill(proc, marker)

    def grade(self, sub: Submission) -> tuple[Graded, bool]:
        """Grade one submission; the flag says whether the supervisor failed (worth one retry)."""
        run = {"status": "invalid", "detail": sub.problem, "errors": []}
        graded = Graded(sub.student, str(sub.path), sub.notebook or "", sub.identified_by, run, [])
        if not sub.readable:
            graded.results = _results(sub, self.registry, INVALID, sub.problem)
            return graded, False
        if not sub.notebook:
            run["detail"] = "could not tell which notebook this is."
            graded.results = _results(sub, self.registry, INVALID, "could not tell which course notebook this is "
                                      "(no exercise tags, no known file name or function).",
                                      "Ask your teacher to grade it with --notebook.")
            return graded, False
        from ..checks import exercises_for

        exercises = exercises_for(sub.notebook)
        extracted = [extract(sub.nb, e.id, e.function) for e in exercises]
        outcome = self.supervise(self.job(sub, extracted))
        failed = outcome is None
        if failed:
            outcome = {"run": {"status": "failed", "detail": "the grader's process for this submission was "
                               "killed or crashed.", "errors": []}, "exercises": {}}
        graded.run = outcome["run"]
        for entry, ex in zip(exercises, extracted):
            if ex.status:
                got = {"status": ex.status, "message": ex.message, "hint": ex.hint}
            else:
                got = outcome["exercises"].get(entry.id) or {
                    "status": ERROR, "message": "the grader could not check this exercise (its process was "
                    "killed or crashed).", "hint": "Ask your teacher to re-run the grading."}
            status = got.get("status") if got.get("status") in report.STATUSES else ERROR
            graded.results.append(ExerciseResult(
                entry.id, entry.title, entry.function, entry.points if status == report.PASSED else 0, entry.points,
                status, str(got.get("message", "")), str(got.get("hint", "")), list(got.get("checks", []))))
        return graded, failed

    def close(self) -> None:
        remove_tree(self.workdir)  # with what a killed supervisor left behind


def prepare(paths, options: Options) -> tuple[list[Submission], dict]:
    """Find, read (all of them, before anything runs) and identify the submissions."""
    registry = load_checks_files(options.checks_files)
    if options.notebook and options.notebook not in {e.notebook for e in registry.values()}:
        known = ", ".join(sorted({e.notebook for e in registry.values()}))
        raise GradingError(f"unknown notebook {options.notebook!r}; registered notebooks: {known}")
    found = find_submissions(paths)
    if not found:
        raise GradingError("no submissions found (.ipynb files or folders of them)")
    subs = [read_submission(student, path) for student, path in found]
    for sub in subs:
        identify(sub, registry, options.notebook)
    common = Counter(s.notebook for s in subs if s.notebook).most_common(1)
    for sub in subs:
        if sub.notebook is None and common:
            sub.notebook, sub.identified_by = common[0][0], "the rest of the batch"
    seen: dict = {}
    for sub in subs:
        key = (sub.student, sub.notebook)
        if key in seen:
            raise GradingError(f"two submissions for student {sub.student!r}, notebook {sub.notebook}: "
                               f"{seen[key]} and {sub.path}")
        seen[key] = sub.path
    return subs, registry


def grade(paths, options: Options | None = None, progress: bool = False) -> list[Graded]:
    """Grade every submission under ``paths``; returns one :class:`Graded` per submission, sorted.

    Raises :class:`GradingError` for a bad command, ``KeyboardInterrupt`` if interrupted
    (after stopping every process it started).
    """
    options = options or Options()
    return grade_prepared(*prepare(paths, options), options, progress)


def grade_prepared(subs: list[Submission], registry: dict, options: Options, progress: bool = False) -> list[Graded]:
    """Grade submissions read by :func:`prepare` (the second half of :func:`grade`)."""
    before = _fingerprint(subs, registry)
    batch = Batch(options, registry)
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
    changed = [f for f, digest in _fingerprint(subs, registry).items() if before.get(f) != digest]
    if changed:
        raise GradingError("the grader's own files changed during grading (a submission may have edited them): "
                           + ", ".join(changed) + ". Restore them (e.g. git checkout) and grade again.")
    return report.sorted_graded([g for _, g in graded])
