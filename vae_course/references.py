"""The course's reference answers, marked, and the watching of their calls while a check runs.

A foundation of the package (it imports nothing of it). The model and its helpers (``losses``,
``models``, ``train``, ``latent``, ...) mark the functions that are the reference answer of an
exercise with :func:`reference_implementation`, which registers their *code*; it does not wrap
them, so there is no unmarked original to dig out of a wrapper (``__closure__``) - the function
students import is the reference itself. A check runs a student's function inside
:func:`watch_reference_calls`, whose profile hook records every call that runs a registered
code, however the function was reached (an import, ``getattr``, ``importlib``). An exercise
lists the references that would do its work in ``delegates=`` (see docs/authoring-exercises.md);
calling one of those fails the check (the threat and the other anti-cheat answers:
:mod:`vae_course.grading.integrity`). Calls of the references a check itself injects for
dependent exercises never count: the *caller* of :func:`watch_reference_calls` (the check) says
which frames are its own (``exempt``) - there is no switch in this module that student code
could turn off.

Known limits: calls from another thread, and code that removes the profile hook itself
(``sys.setprofile``) before calling a reference, are not seen.
"""

from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Callable

# The code of every marked reference implementation, with its dotted name.
_REFERENCE_CODES: dict[CodeType, str] = {}


def reference_implementation(function: Callable) -> Callable:
    """Mark ``function`` as the course's reference answer of an exercise (a decorator).

    Returns ``function`` itself, with ``reference_name`` (its dotted name, e.g.
    ``"vae_course.latent.slerp"``) set; its code is registered, so that while
    :func:`watch_reference_calls` is active every call that runs it is recorded. Outside a
    check it costs nothing.
    """
    name = f"{function.__module__}.{function.__qualname__}"
    _REFERENCE_CODES[inspect.unwrap(function).__code__] = name
    function.reference_name = name
    return function


@contextmanager
def watch_reference_calls(exempt: Callable[[FrameType], bool] | None = None):
    """Record the reference implementations called inside the block; yields the list of their names.

    ``exempt(frame)`` is asked about each call of a reference (``frame`` is the reference's own
    frame): True leaves it out (a reference the check itself injected is running).
    """
    calls: list[str] = []
    previous = sys.getprofile()
    chained = previous if callable(previous) else None  # a Python profiler that was already running

    def profile(frame, event, arg):
        if event == "call":
            name = _REFERENCE_CODES.get(frame.f_code)
            if name is not None and not (exempt and exempt(frame)):
                calls.append(name)
        if chained is not None:
            chained(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)
