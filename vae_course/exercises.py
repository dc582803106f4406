"""Use the student's own answer after its check, or the course's reference while it is still a stub.

After an exercise's check, a notebook goes on with the student's function, so that a solved exercise
visibly drives the next figure or measurement::

    score = solved_or_reference(anomaly_score, applications.anomaly_score, exercise="6.1")
    scores = score(model, x)   # the student's anomaly_score, or the reference with a one-line notice

An unsolved exercise is the stub the student notebook ships: its body raises
``NotImplementedError("Exercise 6.1: ...")`` (see :mod:`vae_course.notebooks`). While it does, the
returned function calls the reference instead and prints one line saying so, once per notebook cell,
so Run All never stops with an unexplained traceback. Any other error of the student's function is
theirs to see and is raised as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

STUB_PREFIX = "Exercise "  # how every stub's NotImplementedError message starts (vae_course.notebooks)


def _reference_name(fn: Callable) -> str:
    module = getattr(fn, "__module__", "") or ""
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    return f"{module.removeprefix('vae_course.')}.{name}" if module.startswith("vae_course") else name


def _stub_exercise(err: NotImplementedError) -> str | None:
    """"Exercise 2.1" from a stub's message "Exercise 2.1: the Gaussian KL" (the stub that actually raised)."""
    head = str(err).split(":", 1)[0]
    return head if head.startswith(STUB_PREFIX) and " " not in head[len(STUB_PREFIX):] else None


def _cell() -> int | None:
    """The IPython execution count (one per cell run), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the course
        return None
    shell = get_ipython()
    return getattr(shell, "execution_count", None)


def solved_or_reference(student_fn: Callable, reference_fn: Callable, *, exercise: str,
                        reference_name: str | None = None) -> Callable:
    """The student's ``student_fn``, falling back to ``reference_fn`` while the exercise is unsolved.

    student_fn: the function the student wrote for Exercise ``exercise`` (e.g. ``"6.1"``).
    reference_fn: the course's implementation with the same contract.
    reference_name: how the notice names the reference (default: its module and name, e.g.
    ``applications.anomaly_score``); give one for a ``lambda``.
    Returns a function with ``student_fn``'s name and signature. Each call tries ``student_fn``;
    when it raises a stub's ``NotImplementedError("Exercise ...")`` (its own, or that of an earlier
    exercise it calls) the call returns ``reference_fn(...)`` instead and prints, once per cell,
    ``Exercise 6.1 is not solved yet: this cell uses the course's reference `applications.anomaly_score` ...``
    (naming the exercise whose stub raised: 2.1 when a solved ``elbo`` calls an unsolved ``gaussian_kl``).
    The attribute ``.solved`` says what the last call used (None before the first call).
    """
    if not callable(student_fn) or not callable(reference_fn):
        raise TypeError("solved_or_reference(student_fn, reference_fn, exercise=...) takes two functions; "
                        f"got {type(student_fn).__name__} and {type(reference_fn).__name__}.")
    notice = (f"Exercise {exercise} is not solved yet: this cell uses the course's reference "
              f"`{reference_name or _reference_name(reference_fn)}` instead of your `{getattr(student_fn, '__name__', 'function')}`.")
    noticed_in: set = set()

    @functools.wraps(student_fn)
    def use(*args, **kwargs):
        try:
            out = student_fn(*args, **kwargs)
        except NotImplementedError as err:
            if not str(err).startswith(STUB_PREFIX):
                raise  # not a course stub (e.g. an operation torch lacks): the student's error to see
            use.solved = False
            cell = _cell()
            if cell not in noticed_in:
                noticed_in.add(cell)
                print(notice.replace(f"Exercise {exercise} ", f"{_stub_exercise(err) or f'Exercise {exercise}'} ", 1))
            return reference_fn(*args, **kwargs)
        use.solved = True
        return out

    use.solved = None
    return use
