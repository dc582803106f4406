"""Run the instructor's checks on functions taken out of a submission (a child process).

    python -m vae_course.grading.checker    (job as JSON on stdin, results as JSON lines on stdout)

The supervisor starts this in a fresh process with an empty working directory
and HOME, after the student's kernel is gone. It

1. sets the resource limits on itself, keeps stdout for its results and sends
   everything the student's code prints to /dev/null;
2. imports the checks (the package's and any ``--checks`` files) and takes a
   fingerprint of the objects checks rely on (torch, the checker, the registry);
3. for each exercise: builds a fresh module from the statements the grader
   selected (the notebook's imports, the exercise cell, the helpers it uses),
   runs ``run_check`` on the student's function, and verifies the fingerprint:
   code that replaced ``torch.allclose`` or a check scores nothing.

Each exercise produces a ``start``, a ``loaded`` and a ``result`` line, each carrying
the job's nonce. If the process dies mid-exercise (segfault, ``os._exit``, the
time limit), the supervisor records that exercise and starts a new process
for the rest.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import json
import linecache
import os
import sys

from .sandbox import GIB, apply_limits

# Final statuses (see vae_course.grading.report for the full list).
PASSED, FAILED, ERROR, TIMEOUT = "passed", "failed", "error", "timeout"


class Fingerprint:
    """The identity of everything a check relies on; :meth:`changes` names what was replaced."""

    def __init__(self):
        self.before = self._take()

    @staticmethod
    def _spaces():
        import numpy
        import torch
        import torch.nn.functional

        from ..checks import _core

        modules = {"builtins": builtins, "torch": torch, "torch.nn.functional": torch.nn.functional,
                   "torch.testing": torch.testing, "torch.autograd": torch.autograd, "numpy": numpy}
        modules.update({name: module for name, module in sys.modules.items()
                        if name.startswith("vae_course.checks") and module is not None})
        classes = {"torch.Tensor": torch.Tensor, "torch._C.TensorBase": torch._C.TensorBase}
        classes.update({f"checks.{cls.__name__}": cls for cls in
                        (_core.Checker, _core.Result, _core.Exercise, _core.CheckFailed, _core.Mistake)})
        return modules, classes, _core.REGISTRY

    def _take(self) -> dict:
        modules, classes, registry = self._spaces()
        objects = {}
        for kind, spaces in (("module", modules), ("class", classes)):
            for name, space in spaces.items():
                for key, value in list(vars(space).items()):
                    objects[(kind, name, key)] = value
                    code = getattr(value, "__code__", None)
                    if code is not None:
                        objects[(kind, name, key + ".__code__")] = code
        for ex_id, entry in registry.items():
            objects[("registry", "REGISTRY", ex_id)] = entry
            objects[("registry", "REGISTRY", ex_id + ".body")] = entry.body
            objects[("registry", "REGISTRY", ex_id + ".body.__code__")] = entry.body.__code__
        for name in modules:
            objects[("sys.modules", "sys.modules", name)] = sys.modules.get(name)
        return objects

    def changes(self) -> list[str]:
        """Names of objects replaced or deleted since the fingerprint (plus attributes added to classes)."""
        now = self._take()
        changed = {f"{name}.{key}".removesuffix(".__code__")
                   for (kind, name, key), value in self.before.items()
                   if (kind, name, key) not in now or now[(kind, name, key)] is not value}
        changed |= {f"{name}.{key}" for (kind, name, key) in now
                    if kind == "class" and (kind, name, key) not in self.before}
        return sorted(changed)


def _load_checks_files(paths: list[str]) -> None:
    """Import teachers' extra check modules (``--checks FILE``) so their exercises are registered."""
    for index, path in enumerate(paths):
        spec = importlib.util.spec_from_file_location(f"vae_course_extra_checks_{index}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def load_function(exercise: dict, timeout: float):
    """Execute the selected statements in a fresh namespace; returns (function or None, problems)."""
    from ..checks._core import _TimedOut, time_limit

    namespace = {"__name__": "submission", "__builtins__": builtins}
    problems = []
    with time_limit(timeout):  # one limit for all of it: the supervisor allows ``timeout`` plus a grace
        for block in exercise["blocks"]:
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
                    problems.append(f"cell {block['cell']}, line {node.lineno}: {_first_line(err)}")
    return namespace.get(exercise["function"]), problems


def grade(exercise: dict, entry, timeout: float, memory: int | None, on_loaded=lambda: None) -> dict:
    """Load one exercise's code and run its check; returns the result as a dict."""
    from ..checks._core import _TimedOut, run_check

    function = exercise["function"]
    try:
        fn, problems = load_function(exercise, timeout)
        on_loaded()
    except _TimedOut:
        return {"status": TIMEOUT, "message": f"defining `{function}` did not finish within {timeout:g} s.",
                "hint": "Top-level code in the exercise cell must not loop or train; put work inside functions."}
    if not callable(fn):
        detail = f" ({problems[0]})" if problems else ""
        return {"status": ERROR, "message": f"`{function}` could not be defined from your notebook{detail}.",
                "hint": "Run the exercise cell on its own in a fresh kernel and fix the error it shows."}
    try:
        result = run_check(entry, fn, timeout=timeout)
    except BaseException as err:  # noqa: BLE001 - KeyboardInterrupt and friends from student code
        return {"status": ERROR, "message": f"your function raised {_first_line(err)}.",
                "hint": "Exercise functions must return a value, not stop the program."}
    status, message, hint = result.status, result.message, result.hint
    if status == "not_implemented":
        status, message = FAILED, "not answered yet: the function still raises NotImplementedError."
        hint = "Replace `raise NotImplementedError(...)` with your code."
    elif status == FAILED and ("MemoryError" in message or "can't allocate memory" in message):
        limit = f" ({memory / GIB:g} GiB)" if memory else ""
        hint = f"Your function needs more memory than the grader allows{limit}; avoid huge intermediate tensors."
    return {"status": status, "message": message, "hint": hint, "checks": list(result.checks)}


def main() -> None:
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    apply_limits(job.get("memory"))
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    nonce = job["nonce"]

    def emit(**message) -> None:
        results.write(json.dumps({"nonce": nonce, **message}) + "\n")
        results.flush()

    from ..checks import REGISTRY

    _load_checks_files(job.get("checks_files", []))
    entries = {ex["id"]: REGISTRY[ex["id"]] for ex in job["exercises"]}  # taken before student code runs
    fingerprint = Fingerprint()
    for exercise in job["exercises"]:
        emit(event="start", id=exercise["id"])
        result = grade(exercise, entries[exercise["id"]], job["timeout"], job.get("memory"),
                       on_loaded=lambda: emit(event="loaded", id=exercise["id"]))
        changed = fingerprint.changes()
        if changed:
            shown = ", ".join(f"`{name}`" for name in changed[:3]) + (", ..." if len(changed) > 3 else "")
            result = {"status": ERROR, "message": f"your code replaced {shown}, which the checks rely on, "
                      "so its result cannot be trusted.",
                      "hint": "Do not modify torch, builtins or vae_course.checks in your exercise."}
        emit(event="result", id=exercise["id"], **result)
        if changed:  # this process is no longer trustworthy: the supervisor starts a new one for the rest
            os._exit(0)
    emit(event="done")
    os._exit(0)  # skip atexit handlers the student's code may have registered


if __name__ == "__main__":
    main()
