"""References put in place by a check: dependent exercises graded on their own, and never counted as delegation.

An exercise that ``uses`` earlier ones is checked with *their references* bound in the
student's namespace (:func:`injected_references`); the frames that run inside one of those
(:func:`_injected_frame`) are exempt from the watching of reference calls, so only the student's own
calls of a reference count as delegation (:meth:`Checker.call`).
"""

from __future__ import annotations

import contextvars
import inspect
import weakref
from contextlib import contextmanager
from typing import Callable

from ._registry import REGISTRY, Exercise

_INJECTED_CALL: contextvars.ContextVar = contextvars.ContextVar("vae_course_injected_call", default=None)


class InjectedReference:
    """A reference implementation that a *check* put in place of a student's earlier answer.

    While it runs, :func:`injected_call` returns it - so code that watches for students
    delegating to the package's references (the exercise-integrity checks) can tell "the
    check injected this reference" from "the student called the reference".
    """

    def __init__(self, reference: Callable, exercise: Exercise, injected_by: Exercise):
        self.reference, self.exercise, self.injected_by = reference, exercise, injected_by
        self.__name__ = self.__qualname__ = exercise.function
        self.__doc__ = f"The reference {exercise.function} (Exercise {exercise.id}), injected by the check of " \
                       f"Exercise {injected_by.id}."

    def __call__(self, *args, **kwargs):
        token = _INJECTED_CALL.set(self)
        try:  # the check put it here: the references it runs never count as the student's (_injected_frame)
            return self.reference(*args, **kwargs)
        finally:
            _INJECTED_CALL.reset(token)

    def __repr__(self) -> str:
        return f"<reference {self.exercise.function} injected by the check of Exercise {self.injected_by.id}>"


_INJECTED: weakref.WeakSet = weakref.WeakSet()  # the InjectedReference objects that checks made


def _injected_frame(frame) -> bool:
    """Whether ``frame`` runs inside a reference a check injected (exempt from the delegation rule)."""
    call = InjectedReference.__call__.__code__
    while frame is not None:
        if frame.f_code is call and frame.f_locals.get("self") in _INJECTED:
            return True
        frame = frame.f_back
    return False


def injected_call() -> InjectedReference | None:
    """The check-injected reference running right now (None outside one)."""
    return _INJECTED_CALL.get()


_ABSENT = object()


@contextmanager
def injected_references(entry: Exercise, fn: Callable):
    """Run ``fn`` with the references of the exercises ``entry.uses`` bound in its globals.

    The one mechanism behind fair grading of dependent exercises: a check of ``elbo``
    (2.3, which calls ``gaussian_kl`` and ``bernoulli_log_likelihood``) rebinds those names
    in the student's namespace (``fn.__globals__``: the notebook's, or the grader's fresh
    module) to :class:`InjectedReference` wrappers of the references of 2.1 and 2.2, and
    restores the student's own functions afterwards, even if the check fails or times out.
    So a correct ``elbo`` passes whatever the student's 2.1 says, and two mistakes that
    cancel out cannot pass. Yields notes for the result ("graded with the reference ...").
    """
    namespace = getattr(inspect.unwrap(fn), "__globals__", None) if callable(fn) else None
    saved, notes, used = {}, [], []
    try:
        for dep_id in entry.uses:
            dep = REGISTRY.get(dep_id)
            reference = dep.reference_function() if dep else None
            if dep is None or reference is None or not isinstance(namespace, dict):
                continue
            saved[dep.function] = namespace.get(dep.function, _ABSENT)
            namespace[dep.function] = injected = InjectedReference(reference, dep, entry)
            _INJECTED.add(injected)
            used.append(dep)
        if used:
            names = " and ".join(f"`{d.function}` ({d.id})" for d in used)
            notes.append(f"checked with the reference {names} in place of yours, so this exercise counts "
                         "on its own.")
        yield notes
    finally:
        for name, value in saved.items():
            if value is _ABSENT:
                namespace.pop(name, None)
            else:
                namespace[name] = value
