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

**Inside** (one question per file): ``_registry`` - which exercises exist (:class:`Exercise`,
``REGISTRY``, check files); ``_run`` - registering a check and running it; ``_checker`` -
calling the student's function and comparing values; ``_mistakes`` - the mistake catalogue;
``_delegation`` - references a check injects for dependent exercises; ``_failures`` - how a
check ends early (and its time limit); ``_result`` - what a result looks like; ``_hidden`` -
the student copy of a teacher's check file. This package uses the model and what notebooks
use (``losses``, ``models``, ``latent``, ...) and the foundations (:mod:`vae_course.results`,
:mod:`vae_course.references`, :mod:`vae_course.conventions`); it never imports the grader.
"""

import importlib
import pkgutil

from ..results import Code, Status
from ._checker import Checker
from ._delegation import InjectedReference, injected_call, injected_references
from ._failures import CheckFailed, FunctionRaised
from ._hidden import HiddenCheck, student_copy
from ._mistakes import Mistake, match_mistake
from ._registry import REGISTRY, ChecksFileError, Exercise, exercises_for, load_checks_file
from ._result import Result
from ._run import exercise, run_check

#: The status words, for check bodies and tests (``Status`` itself is the one vocabulary).
STATUS_PASSED, STATUS_FAILED, STATUS_ERROR, STATUS_TIMEOUT = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT

__all__ = ["REGISTRY", "STATUS_ERROR", "STATUS_FAILED", "STATUS_PASSED", "STATUS_TIMEOUT", "CheckFailed", "Checker",
           "ChecksFileError", "Code", "Exercise", "FunctionRaised", "HiddenCheck", "InjectedReference", "Mistake",
           "Result", "Status", "exercise", "exercises_for", "injected_call", "injected_references",
           "load_checks_file", "match_mistake", "run_check", "student_copy"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _value in vars(_module).items():
        if callable(_value) and hasattr(_value, "exercise"):
            globals()[_name] = _value
            __all__.append(_name)
