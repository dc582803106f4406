"""Which exercises exist: the :class:`Exercise` declarations, the :data:`REGISTRY` of them, and teachers' check files.

The registry is the one source of truth for the course's exercise list: the grader, the
student-notebook generator, the tests and the point totals all read it. An exercise gets
into it through :func:`vae_course.checks.exercise` (the decorator in :mod:`._run`), from a
module of this package or from a teacher's file loaded by :func:`load_checks_file`.
Exercise ids are permanent gradebook keys (docs/authoring-exercises.md, "Numbering").
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

from ..results import describe_error, exercise_key

@dataclass(frozen=True)
class Exercise:
    """One graded exercise: where it lives, what the student writes, and how it is checked.

    ``reference`` is the exercise's reference implementation (a function, or the name of a
    function in the check's own module, looked up when needed - a name can be hidden from
    students, see docs/authoring-exercises.md). ``uses`` lists the ids of earlier exercises
    whose functions this one calls: its check runs the student's function with *their
    references* in place (:func:`injected_references`), so each exercise is graded on its own.
    ``verified`` is the one sentence a passing check shows: what the check verified, in the
    contract's vocabulary (a test keeps it within two lines of 100 columns). ``parts`` names the
    independent things the answer computes (two returned terms, three columns) when it has
    several: a failed answer then earns the share of the points of the parts it got right
    (:meth:`~vae_course.checks.Checker.part`).
    """

    id: str            # "2.1" - notebook 02, first exercise
    notebook: str      # notebook file stem, e.g. "02_elbo"
    function: str      # the name the student's function must have
    title: str         # short description, shown in feedback
    contract: str      # signature, shapes, reduction, sign convention
    points: int
    body: Callable = field(repr=False, compare=False)
    reference: Callable | str | None = field(default=None, repr=False, compare=False)
    uses: tuple = ()
    verified: str = ""
    delegates: tuple = ()  # the dotted names (reference_name) of the references that do this exercise's work
    parts: tuple = ()      # independent parts worth a share of the points each ("info", "mismatch"); see Checker.part

    def reference_function(self) -> Callable | None:
        """The reference implementation, or None if there is none (or it is hidden from this copy)."""
        if callable(self.reference):
            return self.reference
        if isinstance(self.reference, str):
            module = sys.modules.get(self.body.__module__)
            found = getattr(module, self.reference, None)
            return found if callable(found) else None
        return None

    def delegate_functions(self) -> list:
        """The package functions named in ``delegates`` (``"vae_course.losses.gaussian_kl"``, or a class's method
        ``"vae_course.models._VAEBase.forward"``), in order; None for a name this copy cannot resolve."""
        return [_resolve(name) for name in self.delegates]


def _resolve(dotted: str):
    """The object a dotted name points to (the longest importable module prefix, then attributes), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name, None)
        return found
    return None


REGISTRY: dict[str, Exercise] = {}


def exercises_for(notebook: str) -> list[Exercise]:
    """Registered exercises of one notebook (file stem), in id order."""
    return sorted((e for e in REGISTRY.values() if e.notebook == notebook), key=lambda e: exercise_key(e.id))


class ChecksFileError(Exception):
    """A teacher's check file could not be loaded; the message says which and why, in one line."""


def load_checks_file(path) -> ModuleType:
    """Import a file of ``@exercise`` checks (registering its exercises) and return the module.

    Used by ``grade --checks``, ``check --checks``, ``make-student --checks`` and the
    grader's checker process. Loading the same file again returns the module loaded first.
    """
    path = Path(path).resolve()
    name = "vae_course_extra_checks_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise ChecksFileError(f"checks file {path} does not exist.")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ChecksFileError(f"cannot load checks from {path} (is it a .py file?).")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - a teacher's file may raise anything: one line, not a traceback
        del sys.modules[name]
        where = next((f"line {f.lineno}: " for f in reversed(traceback.extract_tb(err.__traceback__))
                      if Path(f.filename) == path), "")
        if isinstance(err, SyntaxError):
            where = f"line {err.lineno}: "
        raise ChecksFileError(f"checks file {path} could not be loaded ({where}{describe_error(err)}).") from None
    return module
