"""Exercise checks: call one right below each exercise, e.g. ``checks.gaussian_kl(gaussian_kl)``.

Each check runs your function on fixed, seeded inputs and returns a
:class:`Result` whose text says what passed or names the first problem and
the likely mistake. ``REGISTRY`` lists every exercise (used by the grader).

One module per notebook topic defines its checks with ``@exercise(...)``;
every module in this package is imported here, so each check is available as
``checks.<function name>``.

**Writing your own exercise** (docs/authoring-exercises.md): the public API is
:func:`exercise` (register a check body), :class:`Checker` (what the body receives:
``call``, ``tensor``, ``shape``, ``finite``, ``gradient``, ``values``, ``ok``),
:class:`Mistake` (a catalogued wrong answer with its hint), :class:`CheckFailed`
(raise it for a property of your own), :class:`Status` (the one vocabulary of
results) and :func:`load_checks_file` (what ``--checks FILE`` does).
"""

import importlib
import pkgutil

from ..grading.protocol import Code, Status
from ._core import (
    REGISTRY,
    CheckFailed,
    Checker,
    ChecksFileError,
    Exercise,
    FunctionRaised,
    HiddenCheck,
    InjectedReference,
    Mistake,
    Result,
    exercise,
    exercises_for,
    injected_call,
    injected_references,
    load_checks_file,
    match_mistake,
    run_check,
    student_copy,
)

__all__ = ["REGISTRY", "CheckFailed", "Checker", "ChecksFileError", "Code", "Exercise", "FunctionRaised",
           "HiddenCheck", "InjectedReference", "Mistake", "Result", "Status", "exercise", "exercises_for",
           "injected_call", "injected_references", "load_checks_file", "match_mistake", "run_check", "student_copy"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _value in vars(_module).items():
        if callable(_value) and hasattr(_value, "exercise"):
            globals()[_name] = _value
            __all__.append(_name)
