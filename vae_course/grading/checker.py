"""Run the instructor's checks on functions taken out of a submission (a child process).

    python -m vae_course.grading.process vae_course.grading.checker
        (a CheckerTask as JSON on stdin, results as JSON lines on stdout)

The supervisor starts this in a fresh process with an empty working directory
and HOME, while or after the student's kernel runs; it runs student code only
once its task arrives, after the kernel is gone. It

1. imports torch and the package's checks, then reads its task;
2. sets the resource limits on itself, keeps stdout for its results and sends
   everything the student's code prints to /dev/null;
3. imports any ``--checks`` files and takes a
   fingerprint of the objects checks rely on (:mod:`~vae_course.grading.integrity`);
4. for each exercise: builds a fresh module from the statements the grader
   selected (the notebook's imports, the exercise cell, the helpers it uses),
   runs ``run_check`` on the student's function, and verifies the fingerprint:
   code that replaced ``torch.allclose`` or a check scores nothing.

Each exercise produces a ``start``, a ``loaded`` and a ``result`` line, each carrying
the task's nonce. If the process dies mid-exercise (segfault, ``os._exit``, the
time limit), the supervisor records that exercise and starts a new process
for the rest.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import json
import linecache
import os
import sys
from pathlib import Path

from ..results import points_earned
from .integrity import ChecksFingerprint
from .protocol import CheckerTask, Code, ExerciseJob, ExerciseOutcome, Status, describe_error
from .sandbox import GIB, apply_limits, hide_from_same_user


def load_function(exercise: ExerciseJob, timeout: float):
    """Execute the selected statements in a fresh namespace; returns (function or None, problems)."""
    from ..checks._failures import _TimedOut, time_limit

    namespace = {"__name__": "submission", "__builtins__": builtins}
    problems = []
    with time_limit(timeout):  # one limit for all of it: the supervisor allows ``timeout`` plus a grace
        for block in exercise.blocks:
            filename = f"<cell {block['cell']}>"
            source = block["source"]
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            wanted = {tuple(position) for position in block["run"]}
            for node in ast.parse(source, filename).body:
                if (node.lineno, node.col_offset) not in wanted:
                    continue
                code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec")
                try:
                    exec(code, namespace)
                except _TimedOut:
                    raise
                except BaseException as err:  # noqa: BLE001 - student code may raise anything, even SystemExit
                    problems.append(f"cell {block['cell']}, line {node.lineno}: {describe_error(err)}")
    return namespace.get(exercise.function), problems


def grade(exercise: ExerciseJob, entry, timeout: float, memory: int | None, on_loaded=lambda: None, *,
          allow_reference_calls: bool = False, hidden_seed: int | None = None) -> ExerciseOutcome:
    """Load one exercise's code and run its check (``allow_reference_calls``: see :func:`run_check`).

    ``hidden_seed``: an answer that earned points is checked again under that seed (the nbgrader export's
    hidden test, on inputs the student never saw), and keeps the lower of the two results.
    """
    from ..checks import run_check
    from ..checks._failures import _TimedOut

    function = exercise.function
    try:
        fn, problems = load_function(exercise, timeout)
        on_loaded()
    except _TimedOut:
        return ExerciseOutcome(Status.TIMEOUT, f"defining `{function}` did not finish within {timeout:g} s.",
                               "Top-level code in the exercise cell must not loop or train; put work inside functions.",
                               code=Code.TIMED_OUT)
    if not callable(fn):
        detail = f" ({problems[0]})" if problems else ""
        return ExerciseOutcome(Status.ERROR, f"`{function}` could not be defined from your notebook{detail}.",
                               "Run the exercise cell on its own in a fresh kernel and fix the error it shows.",
                               code=Code.NOT_DEFINED)
    try:
        outcome = run_check(entry, fn, timeout=timeout, allow_reference_calls=allow_reference_calls).outcome()
        if hidden_seed is not None and points_earned(1, outcome.status, outcome.credit) > 0:
            on_loaded()  # the supervisor's time limit starts again for the second check
            outcome = _lower(outcome, run_check(entry, fn, timeout=timeout, seed=hidden_seed,
                                                allow_reference_calls=allow_reference_calls).outcome())
    except BaseException as err:  # noqa: BLE001 - KeyboardInterrupt and friends from student code
        return ExerciseOutcome(Status.ERROR, f"your function raised {describe_error(err)}.",
                               "Exercise functions must return a value, not stop the program.", code=Code.STOPPED)
    if outcome.status != Status.PASSED and ("MemoryError" in outcome.message
                                            or "can't allocate memory" in outcome.message):
        limit = f" ({memory / GIB:g} GiB)" if memory else ""
        outcome.hint = (f"Your function needs more memory than the grader allows{limit}; "
                        "avoid huge intermediate tensors.")
        outcome.code = Code.OUT_OF_MEMORY
    return outcome


def _lower(visible: ExerciseOutcome, hidden: ExerciseOutcome) -> ExerciseOutcome:
    """The outcome of the check on the visible inputs, unless the hidden test's earns fewer points."""
    if points_earned(1, hidden.status, hidden.credit) >= points_earned(1, visible.status, visible.credit):
        return visible
    return dataclasses.replace(hidden, message=f"on the hidden test's inputs (not those of your notebook's check), "
                                               f"{hidden.message}")


def load_teacher_checks(paths: list[str]) -> None:
    """Import the ``--checks`` files; each is also importable under its own name, so a notebook's
    ``import my_checks`` gets the teacher's module instead of loading (and re-registering) a copy."""
    from ..checks import load_checks_file

    for path in paths:
        module = load_checks_file(path)
        sys.modules.setdefault(Path(path).stem, module)


def main() -> None:
    hide_from_same_user()
    from ..checks import REGISTRY  # torch and the checks load first: the supervisor starts us early for this
    from ..checks._run import warm_up

    task = CheckerTask.from_json(json.loads(sys.stdin.buffer.read().decode("utf-8")))
    apply_limits(task.memory)
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)

    def emit(event: str, ex_id: str = "", outcome: ExerciseOutcome | None = None) -> None:
        message = {"nonce": task.nonce, "event": event, "id": ex_id}
        if outcome is not None:
            message["outcome"] = outcome.to_json()
        results.write(json.dumps(message) + "\n")
        results.flush()

    load_teacher_checks(task.checks_files)
    entries = {ex.id: REGISTRY[ex.id] for ex in task.exercises}  # taken before student code runs
    warm_up(entries.values())  # before the fingerprint: importing torch._dynamo rebinds torch attributes it reads
    fingerprint = ChecksFingerprint()
    for exercise in task.exercises:
        emit("start", exercise.id)
        outcome = grade(exercise, entries[exercise.id], task.timeout, task.memory,
                        on_loaded=lambda: emit("loaded", exercise.id),
                        allow_reference_calls=task.allow_reference_calls,
                        hidden_seed=task.hidden_seeds.get(exercise.id))
        changed = fingerprint.changes()
        if changed:
            shown = ", ".join(f"`{name}`" for name in changed[:3]) + (", ..." if len(changed) > 3 else "")
            outcome = ExerciseOutcome(Status.ERROR, f"your code replaced {shown}, which the checks rely on, "
                                      "so its result cannot be trusted.",
                                      "Do not modify torch, builtins or vae_course.checks in your exercise.",
                                      code=Code.TAMPERED)
        emit("result", exercise.id, outcome)
        if changed:  # this process is no longer trustworthy: the supervisor starts a new one for the rest
            os._exit(0)
    emit("done")
    os._exit(0)  # skip atexit handlers the student's code may have registered


if __name__ == "__main__":
    main()
