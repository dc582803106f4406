"""The machinery behind every exercise check.

An exercise is registered once with :func:`exercise`; that gives a function
students call right below their answer (``checks.gaussian_kl(gaussian_kl)``)
and an entry in :data:`REGISTRY` that the grader uses.

A check body receives the student's function and a :class:`Checker`. It walks
through the properties in a fixed order - not implemented, wrong type/dtype/
device, wrong shape, NaN/inf, missing gradient, wrong values - and, when the
values are wrong, compares them with a catalogue of known mistakes so the
message can *name* the mistake. The first failing property ends the check.

Student code never crashes the checker: exceptions, ``None``, NumPy arrays,
tuples and endless loops (a time limit per check) all become a clear message.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

DEFAULT_TIMEOUT = 10.0  # seconds per check

STATUS_PASSED = "passed"
STATUS_FAILED = "failed"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"
STATUS_NOT_IMPLEMENTED = "not_implemented"


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: where it lives, what the student writes, and how it is checked."""

    id: str            # "2.1" - notebook 02, first exercise
    notebook: str      # notebook file stem, e.g. "02_elbo"
    function: str      # the name the student's function must have
    title: str         # short description, shown in feedback
    contract: str      # signature, shapes, reduction, sign convention
    points: int
    body: Callable = field(repr=False, compare=False)


REGISTRY: dict[str, Exercise] = {}


class CheckFailed(Exception):
    """A property did not hold. ``message`` says what, ``hint`` what to do about it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class _NotImplementedYet(Exception):
    pass


class _TimedOut(BaseException):  # BaseException: a student's `except Exception` cannot swallow it
    pass


@dataclass
class Result:
    """The outcome of one check. Its text (``repr``) is what the notebook shows."""

    exercise: Exercise
    status: str
    message: str = ""
    hint: str = ""
    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == STATUS_PASSED

    @property
    def points(self) -> int:
        return self.exercise.points if self.passed else 0

    def text(self) -> str:
        head = f"Exercise {self.exercise.id} ({self.exercise.function})"
        if self.passed:
            return f"✅ {head} passed. Checked: " + "; ".join(self.checks) + "."
        if self.status == STATUS_NOT_IMPLEMENTED:
            return (f"⏳ {head} is not implemented yet: replace `raise NotImplementedError(...)` "
                    "with your code, run the cell, then run this check again.")
        symbol = {"timeout": "⏱", "error": "💥"}.get(self.status, "❌")
        lines = [f"{symbol} {head}: {self.message}"]
        if self.hint:
            lines.append(f"   Hint: {self.hint}")
        if self.checks:
            lines.append("   Already fine: " + "; ".join(self.checks) + ".")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def to_dict(self) -> dict:
        return {"exercise": self.exercise.id, "function": self.exercise.function, "status": self.status,
                "points": self.points, "max_points": self.exercise.points, "message": self.message,
                "hint": self.hint, "checks": list(self.checks)}


@contextmanager
def time_limit(seconds: float | None):
    """Raise inside the block after ``seconds`` (POSIX main thread only; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _where(err: BaseException) -> str:
    """' (in f, line N: `code`)' for the innermost frame of the student's code, if any."""
    ours = os.sep + os.path.join("vae_course", "checks") + os.sep
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if ours not in f.filename and os.sep + "torch" + os.sep not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    code = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{code})"


class Checker:
    """Helpers a check body uses; it records which properties passed."""

    def __init__(self, fn: Callable, exercise: Exercise):
        self.fn = fn
        self.exercise = exercise
        self.passed: list[str] = []

    # -- calling student code -------------------------------------------------------------
    def call(self, *args, **kwargs):
        """Call the student's function on copies of the inputs; turn exceptions into CheckFailed.

        A tensor that requires grad is passed as ``a.clone()``: still a copy (in-place changes
        do not reach the caller), but gradients flow back to ``a``, so ``gradient(out, {"mu": mu})``
        works on the check's own tensors.
        """
        args = tuple((a.clone() if a.requires_grad else a.detach().clone()) if isinstance(a, torch.Tensor) else a
                     for a in args)
        try:
            return self.fn(*args, **kwargs)
        except NotImplementedError:
            raise _NotImplementedYet() from None
        except _TimedOut:
            raise
        except RecursionError:
            raise CheckFailed("your function recursed without end (RecursionError).",
                              "Check that it does not call itself.") from None
        except Exception as err:
            raise CheckFailed(f"your function raised {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                              f"{_where(err)}.",
                              "Run it on a small input in a cell of its own to see the full error.") from None

    def ok(self, what: str) -> None:
        """Record a property that held (listed in the passing message)."""
        if what not in self.passed:
            self.passed.append(what)

    # -- properties, in the documented order ----------------------------------------------
    def tensor(self, out, what: str = "the result", like: torch.Tensor | None = None) -> torch.Tensor:
        """A floating-point torch tensor (on ``like``'s device)."""
        if out is None:
            raise CheckFailed(f"{what} is None.", "Did you forget the `return` statement?")
        if isinstance(out, tuple):
            raise CheckFailed(f"{what} is a tuple of {len(out)} items, expected one tensor.",
                              "Return a single tensor (remove the extra comma or values).")
        if isinstance(out, np.ndarray):
            raise CheckFailed(f"{what} is a NumPy array, expected a torch tensor.",
                              "Use torch operations throughout (torch.exp, torch.sum, ...) so gradients can flow.")
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{what} is a {type(out).__name__}, expected a torch tensor.",
                              "Use torch operations and return the tensor itself, not e.g. `.item()`.")
        if not out.is_floating_point():
            raise CheckFailed(f"{what} has dtype {out.dtype}, expected a floating-point tensor.",
                              "Avoid integer operations such as `//` or `.long()`.")
        if like is not None and out.device != like.device:
            raise CheckFailed(f"{what} is on {out.device}, expected {like.device} (where the inputs are).",
                              "Create new tensors with `device=x.device` or use `torch.randn_like`.")
        self.ok("returns a float tensor")
        return out

    def shape(self, out: torch.Tensor, expected: Sequence[int], names: Sequence[str], what: str = "the result",
              hint: str = "") -> None:
        """Exact shape, naming the dimensions: "expected (batch=4,), got (4, 2)"."""
        if tuple(out.shape) != tuple(expected):
            dims = ", ".join(f"{n}={s}" for n, s in zip(names, expected))
            if len(expected) == 1:
                dims += ","
            raise CheckFailed(f"{what} has the wrong shape: expected ({dims}), got {tuple(out.shape)}.",
                              hint or "Check which dimensions you sum or average over.")
        self.ok(f"shape ({', '.join(names)})" if names else "shape ()")

    def finite(self, out: torch.Tensor, what: str = "the result", hint: str = "") -> None:
        if not torch.isfinite(out).all():
            bad = "NaN" if torch.isnan(out).any() else "inf"
            raise CheckFailed(f"{what} contains {bad}.",
                              hint or "Look for log(0), exp of a large number or a division by zero.")
        self.ok("finite values")

    def gradient(self, out: torch.Tensor, inputs: dict, hint: str = "") -> None:
        """Backpropagate ``out.sum()`` and require a non-zero gradient on every named input."""
        if not out.requires_grad:
            raise CheckFailed("no gradient flows through your result (it does not require grad).",
                              hint or "Don't use .detach(), .item(), .numpy() or torch.no_grad() in the exercise.")
        grads = torch.autograd.grad(out.sum(), list(inputs.values()), allow_unused=True)
        for name, grad in zip(inputs, grads):
            if grad is None or not torch.any(grad != 0):
                raise CheckFailed(f"no gradient reaches `{name}`.",
                                  hint or f"The result must be computed from `{name}` with torch operations.")
        self.ok("gradients reach " + ", ".join(inputs))

    def values(self, actual: torch.Tensor, expected: torch.Tensor, what: str = "the values",
               mistakes: Sequence["Mistake"] = (), atol: float = 1e-4, rtol: float = 1e-4,
               hint: str = "") -> None:
        """Compare with the reference; on a mismatch, name the first catalogued mistake that matches."""
        actual = actual.detach()
        expected = expected.detach()
        if actual.shape == expected.shape and torch.allclose(actual, expected, atol=atol, rtol=rtol):
            self.ok(f"{what} match the reference")
            return
        for mistake in mistakes:
            value = mistake.value.detach()
            if value.shape == actual.shape and torch.allclose(actual, value, atol=atol, rtol=rtol):
                raise CheckFailed(f"{what} are wrong - this looks like {mistake.name}.", mistake.hint)
        try:
            torch.testing.assert_close(actual, expected, atol=atol, rtol=rtol)
            detail = ""
        except AssertionError as err:
            detail = " " + " ".join(str(err).split("\n")[1:3]).strip()
        raise CheckFailed(f"{what} do not match the reference.{detail}".rstrip(),
                          hint or "Compare your formula with the one in the markdown above, term by term.")


@dataclass
class Mistake:
    """A known wrong answer: its output on the check inputs, its name and the hint to give."""

    name: str
    value: torch.Tensor
    hint: str


def exercise(id: str, notebook: str, function: str, title: str, contract: str, points: int = 1):
    """Register a check body ``body(fn, checker)`` and return the student-facing check function."""

    def register(body: Callable):
        entry = Exercise(id=id, notebook=notebook, function=function, title=title, contract=contract,
                         points=points, body=body)
        if id in REGISTRY and REGISTRY[id].body.__qualname__ != body.__qualname__:
            raise ValueError(f"Exercise id {id} registered twice.")
        REGISTRY[id] = entry

        def check(fn: Callable, timeout: float | None = DEFAULT_TIMEOUT) -> Result:
            return run_check(entry, fn, timeout=timeout)

        check.__name__ = function
        check.__qualname__ = function
        check.__doc__ = f"Check Exercise {id}: {title}.\n\nContract: {contract}"
        check.exercise = entry
        return check

    return register


def run_check(entry: Exercise, fn: Callable, timeout: float | None = DEFAULT_TIMEOUT) -> Result:
    """Run one exercise's check on ``fn``; never raises (except KeyboardInterrupt from the user)."""
    if not callable(fn):
        return Result(entry, STATUS_ERROR, f"expected your function `{entry.function}`, got a {type(fn).__name__}.",
                      f"Pass the function itself: checks.{entry.function}({entry.function}).")
    checker = Checker(fn, entry)
    state = torch.get_rng_state()
    torch.manual_seed(1234)
    grad_mode = torch.is_grad_enabled()
    try:
        with time_limit(timeout):
            entry.body(fn, checker)
        return Result(entry, STATUS_PASSED, checks=checker.passed)
    except _NotImplementedYet:
        return Result(entry, STATUS_NOT_IMPLEMENTED)
    except _TimedOut:
        return Result(entry, STATUS_TIMEOUT, f"your function did not finish within {timeout:g} s.",
                      "Look for a loop that never ends, or work that grows with the data (loops over pixels).",
                      checks=checker.passed)
    except CheckFailed as failed:
        return Result(entry, STATUS_FAILED, failed.message, failed.hint, checks=checker.passed)
    except (SystemExit, Exception) as err:  # a bug we did not foresee: still a message, not a traceback
        return Result(entry, STATUS_ERROR,
                      f"the check could not run your function ({type(err).__name__}: {err}).",
                      "Make sure the function has the signature described above the exercise.",
                      checks=checker.passed)
    finally:
        torch.set_grad_enabled(grad_mode)
        torch.set_rng_state(state)


def exercises_for(notebook: str) -> list[Exercise]:
    """Registered exercises of one notebook (file stem), in id order."""
    return sorted((e for e in REGISTRY.values() if e.notebook == notebook),
                  key=lambda e: [int(p) for p in e.id.split(".")])

