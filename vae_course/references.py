"""The course's reference answers, marked, and the watching of their calls while a check runs.

A foundation of the package (it imports nothing of it). The model and its helpers (``losses``,
``models``, ``train``, ``latent``, ...) mark the functions that are the reference answer of an
exercise with :func:`reference_implementation`; a check runs a student's function inside
:func:`watch_reference_calls` and so sees every call of a reference, however it was reached
(an import, ``getattr``, ``importlib``). An exercise lists the references that would do its
work in ``delegates=`` (see docs/authoring-exercises.md); calling one of those fails the check
(the threat and the other anti-cheat answers: :mod:`vae_course.grading.integrity`).
References a check injects itself for dependent exercises run :func:`unwatched`.

Known limit: code that digs the unmarked original out of the wrapper's closure, or calls it
from another thread, is not seen.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from contextlib import contextmanager
from typing import Callable

# The reference calls recorded while a check runs a student's function (None: nobody is watching).
_REFERENCE_CALLS: contextvars.ContextVar = contextvars.ContextVar("vae_course_reference_calls", default=None)


def reference_implementation(function: Callable) -> Callable:
    """Mark ``function`` as the course's reference answer of an exercise (a decorator).

    The returned function behaves exactly like ``function`` (same name, docstring and signature)
    and, while :func:`watch_reference_calls` is active, records its dotted name
    (``reference_name``, e.g. ``"vae_course.latent.slerp"``) each time it is called. Outside a
    check it costs one context-variable lookup per call.
    """
    name = f"{function.__module__}.{function.__qualname__}"

    @functools.wraps(function)
    def recorded(*args, **kwargs):
        calls = _REFERENCE_CALLS.get()
        if calls is not None:
            calls.append(name)
        return function(*args, **kwargs)

    del recorded.__wrapped__  # the signature stays visible; the unmarked original is not one attribute away
    recorded.__signature__ = inspect.signature(function)
    recorded.reference_name = name
    return recorded


@contextmanager
def watch_reference_calls():
    """Record the reference implementations called inside the block; yields the list of their names."""
    calls: list[str] = []
    token = _REFERENCE_CALLS.set(calls)
    try:
        yield calls
    finally:
        _REFERENCE_CALLS.reset(token)


@contextmanager
def unwatched():
    """Stop recording inside the block (a reference the check itself injected is running)."""
    token = _REFERENCE_CALLS.set(None)
    try:
        yield
    finally:
        _REFERENCE_CALLS.reset(token)
