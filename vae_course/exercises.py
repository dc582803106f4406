"""Use the student's own answer once its check has passed, or the course's reference until then.

After an exercise's check, a notebook goes on with the student's function, so that a solved exercise
visibly drives the next figure or measurement::

    checks.anomaly_score(anomaly_score)          # the check right below the answer
    score = solved_or_reference(anomaly_score, applications.anomaly_score, exercise="6.1")
    scores = score(model, x)   # the student's anomaly_score once it passed, else the reference with a notice

Every check records its verdict here (:func:`record_check`, called by :mod:`vae_course.checks`). The
returned function uses the student's function only when *that very function* passed its check, and
so did every earlier exercise it calls (the check's ``uses``). Otherwise - a stub that still raises
``NotImplementedError("Exercise 6.1: ...")`` (see :mod:`vae_course.notebooks`), an answer whose check
failed, or one whose check has not been run since it was (re)defined - it calls the reference and
prints one line saying why and which exercise to fix, once per notebook cell. So a wrong answer never
silently feeds the rest of the notebook, and Run All never stops with an unexplained traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from .results import exercise_key

STUB_PREFIX = "Exercise "  # how every stub's NotImplementedError message starts (vae_course.notebooks)


@dataclass(frozen=True)
class _Verdict:
    """The last check of one exercise: which function it ran on, and how it ended."""

    fn: Callable
    passed: bool
    answered: bool  # False: the function was still the stub
    uses: tuple[str, ...] = ()


_VERDICTS: dict[str, _Verdict] = {}  # exercise id -> the last check's verdict, in this kernel
_USED: set[str] = set()  # exercises whose student answer fed a later cell, in this kernel


def record_check(exercise: str, fn: Callable, *, passed: bool, answered: bool = True, uses=()) -> None:
    """Remember the verdict of Exercise ``exercise``'s check on ``fn`` (called by every check)."""
    _VERDICTS[exercise] = _Verdict(fn, bool(passed), bool(answered), tuple(uses))


def forget_checks() -> None:
    """Forget every recorded verdict (a fresh kernel; used by the tests)."""
    _VERDICTS.clear()
    _USED.clear()


def answers_in_use() -> list[str]:
    """Ids of the exercises whose student answers have fed the notebook so far (for :mod:`vae_course.claims`)."""
    return sorted(_USED, key=exercise_key)


def _why_not(exercise: str, fn: Callable) -> str | None:
    """None when ``fn`` passed Exercise ``exercise``'s check (and its ``uses`` passed theirs); else why not."""
    verdict = _VERDICTS.get(exercise)
    if verdict is None or verdict.fn is not fn:
        return f"Exercise {exercise} has not been checked yet (run the check right below your answer)"
    if not verdict.answered:
        return f"Exercise {exercise} is not solved yet"
    if not verdict.passed:
        return f"Exercise {exercise} has not passed its check yet (fix your answer and run its check again)"
    for earlier in verdict.uses:
        used = _VERDICTS.get(earlier)
        if used is None or not (used.passed and used.answered):
            name = getattr(fn, "__name__", "function")
            return f"Exercise {earlier}, which your `{name}` calls, has not passed its check yet"
    return None


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
    """The student's ``student_fn`` once it passed its check, else ``reference_fn`` with a one-line notice.

    student_fn: the function the student wrote for Exercise ``exercise`` (e.g. ``"6.1"``).
    reference_fn: the course's implementation with the same contract.
    reference_name: how the notice names the reference (default: its module and name, e.g.
    ``applications.anomaly_score``); give one for a ``lambda``.
    Returns a function with ``student_fn``'s name and signature. Each call uses ``student_fn`` when the
    last check of Exercise ``exercise`` passed on this very function (see :func:`_why_not`); otherwise
    it returns ``reference_fn(...)`` and prints, once per cell, e.g.
    ``Exercise 6.1 has not passed its check yet (...): this cell uses the course's reference `applications.anomaly_score` ...``.
    A passed function that still reaches a stub of an earlier exercise falls back the same way, naming
    the stub that raised. The attribute ``.solved`` says what the last call used (None before the first call).
    """
    if not callable(student_fn) or not callable(reference_fn):
        raise TypeError("solved_or_reference(student_fn, reference_fn, exercise=...) takes two functions; "
                        f"got {type(student_fn).__name__} and {type(reference_fn).__name__}.")
    uses = (f"this cell uses the course's reference `{reference_name or _reference_name(reference_fn)}` "
            f"instead of your `{getattr(student_fn, '__name__', 'function')}`.")
    noticed_in: set = set()

    def fall_back(reason: str, args, kwargs):
        use.solved = False
        cell = _cell()
        if cell not in noticed_in:
            noticed_in.add(cell)
            print(f"{reason}: {uses}")
        return reference_fn(*args, **kwargs)

    @functools.wraps(student_fn)
    def use(*args, **kwargs):
        reason = _why_not(exercise, student_fn)
        if reason is not None:
            return fall_back(reason, args, kwargs)
        try:
            out = student_fn(*args, **kwargs)
        except NotImplementedError as err:
            stub = _stub_exercise(err)
            if stub is None:
                raise  # not a course stub (e.g. an operation torch lacks): the student's error to see
            return fall_back(f"{stub} is not solved yet", args, kwargs)
        use.solved = True
        _USED.add(exercise)
        return out

    use.solved = None
    return use
