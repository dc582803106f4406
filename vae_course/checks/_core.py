"""The machinery behind every exercise check (public names are re-exported by :mod:`vae_course.checks`).

An exercise is registered once with :func:`exercise`; that gives a function
students call right below their answer (``checks.gaussian_kl(gaussian_kl)``)
and an entry in :data:`REGISTRY` that the grader uses.

A check body receives the student's function and a :class:`Checker`. It walks
through the properties in a fixed order - not implemented, wrong type/dtype/
device, wrong shape, NaN/inf, missing gradient, wrong values - and, when the
values are wrong, compares them with a catalogue of known mistakes so the
message can *name* the mistake. The first failing property ends the check.

Every outcome has a :class:`~vae_course.grading.protocol.Status` (the same six
words as the gradebook) and a stable ``code`` (``not-answered``, ``wrong-shape``,
or the catalogued mistake's own code), so a class's mistakes can be counted.

Student code never crashes the checker: exceptions, ``None``, NumPy arrays,
tuples and endless loops (a time limit per check) all become a clear message.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import html
import importlib.util
import inspect
import os
import re
import signal
import sys
import threading
import traceback
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

import numpy as np
import torch

from ..grading import integrity
from ..grading.protocol import Code, ExerciseOutcome, Status, describe_error, slug

DEFAULT_TIMEOUT = 10.0  # seconds per check

# The status words, for check bodies and tests (``Status`` itself is the one vocabulary).
STATUS_PASSED, STATUS_FAILED, STATUS_ERROR, STATUS_TIMEOUT = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: where it lives, what the student writes, and how it is checked.

    ``reference`` is the exercise's reference implementation (a function, or the name of a
    function in the check's own module, looked up when needed - a name can be hidden from
    students, see docs/authoring-exercises.md). ``uses`` lists the ids of earlier exercises
    whose functions this one calls: its check runs the student's function with *their
    references* in place (:func:`injected_references`), so each exercise is graded on its own.
    ``verified`` is the one sentence a passing check shows: what the check verified, in the
    contract's vocabulary (a test keeps it within two lines of 100 columns).
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
    delegates: tuple = ()  # dotted names of the package's references that do this exercise's work

    def reference_function(self) -> Callable | None:
        """The reference implementation, or None if there is none (or it is hidden from this copy)."""
        if callable(self.reference):
            return self.reference
        if isinstance(self.reference, str):
            module = sys.modules.get(self.body.__module__)
            found = getattr(module, self.reference, None)
            return found if callable(found) else None
        return None


REGISTRY: dict[str, Exercise] = {}


class CheckFailed(Exception):
    """A property did not hold. ``message`` says what, ``hint`` what to do about it.

    ``code`` names the mistake for the class report (default: made from the message's first
    words - pass one when the message contains values). The status is ``failed``; only
    :class:`FunctionRaised` (the student's function raised, and no check body diagnosed why)
    is ``error``. A body that catches a FunctionRaised and raises a CheckFailed instead has
    named the mistake behind the crash, so that is ``failed``.
    """

    def __init__(self, message: str, hint: str = "", *, code: str | None = None, status: Status = Status.FAILED):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or slug("".join(c for c in message if not c.isdigit()), words=6)
        self.status = status


class FunctionRaised(CheckFailed):
    """The student's function raised an exception (status ``error``, code ``raised``)."""

    def __init__(self, message: str, hint: str = "", *, code: str = Code.RAISED):
        super().__init__(message, hint, code=code, status=Status.ERROR)


class HiddenCheck(Exception):
    """Raised where the student copy of a teacher's check file hides the rest of a check.

    ``vae-course make-student --checks FILE`` replaces every ``### BEGIN SOLUTION`` ...
    ``### END SOLUTION`` region of the check file by ``raise ...HiddenCheck()``: the student's
    check cell then reports what it could check, and the teacher's grader runs the full check.
    """


HIDDEN_LINE = 'raise __import__("vae_course.checks").checks.HiddenCheck()  # the rest runs when your teacher grades'
HIDDEN_COMMENT = "# (hidden from students: runs when your teacher grades)"


def student_copy(source: str, where: str = "checks file") -> str:
    """The student copy of a teacher's check file: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
    region (the reference, the catalogue of wrong answers) is replaced.

    Inside a function the region becomes ``raise ...HiddenCheck()``, so the student's check
    reports what it could check so far; at the top level of the module it becomes a comment
    (so name a hidden reference by string: ``reference="_add_one"``). Raises ``ValueError``
    for unbalanced markers.
    """
    from ..notebooks import replace_solution_regions

    return replace_solution_regions(source, lambda indent: indent + (HIDDEN_LINE if indent else HIDDEN_COMMENT),
                                    where) + "\n"


class _NotImplementedYet(Exception):
    pass


class _TimedOut(BaseException):  # BaseException: a student's `except Exception` cannot swallow it
    pass


@dataclass
class Result:
    """The outcome of one check. Its text (``repr``) is what the notebook shows."""

    exercise: Exercise
    status: Status
    message: str = ""
    hint: str = ""
    checks: list = field(default_factory=list)
    code: str = Code.OK
    notes: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == Status.PASSED

    @property
    def points(self) -> int:
        return self.exercise.points if self.passed else 0

    @property
    def headline(self) -> str:
        """The result in one sentence after the status word: what passed, or what is wrong."""
        if self.passed and self.code == Code.CHECKED_IN_PART:
            return "checked so far: " + "; ".join(self.checks) + "."
        if self.passed:
            return self.exercise.verified or ("checked: " + "; ".join(self.checks) + ".")
        if self.code == Code.NOT_ANSWERED:
            return NOT_ANSWERED_TEXT
        return self.message

    def text(self) -> str:
        """The plain-text display (terminals, logs, ``repr``): status word, exercise, message, hint."""
        lines = [f"[{self.status}] Exercise {self.exercise.id} ({self.exercise.function}): {self.headline}"]
        if not self.passed and self.code != Code.NOT_ANSWERED:
            if self.hint:
                lines.append(f"   Hint: {self.hint}")
            if self.checks:
                lines.append("   Already fine: " + "; ".join(self.checks) + ".")
        return "\n".join(lines + [f"   Note: {note}" for note in self.notes])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """The display in Jupyter: a coloured status word (no emoji font needed), text that wraps
        between words, code in monospace and the "already fine" list folded in ``<details>``.

        Colours come from JupyterLab's theme variables, with fallbacks for classic Notebook and
        VS Code; the status word is white on its colour, readable on light and dark themes.
        """
        colour = _STATUS_COLOURS.get(self.status, _STATUS_COLOURS[Status.ERROR])
        head = (f'<span class="vae-check-status" style="display:inline-block;padding:0 0.5em;'
                f'border-radius:3px;background:{colour};color:#fff;font-weight:bold;'
                f'text-transform:uppercase;letter-spacing:0.03em">{self.status}</span> '
                f'<strong>Exercise {html.escape(self.exercise.id)}</strong> '
                f'(<code>{html.escape(self.exercise.function)}</code>): {_inline_html(self.headline)}')
        parts = [f'<div class="vae-check-headline">{head}</div>']
        if not self.passed and self.code != Code.NOT_ANSWERED:
            if self.hint:
                parts.append(f'<div class="vae-check-hint"><strong>Hint:</strong> {_inline_html(self.hint)}</div>')
            if self.checks:
                items = "".join(f"<li>{_inline_html(c)}</li>" for c in self.checks)
                parts.append(f'<details class="vae-check-fine"><summary>Already fine ({len(self.checks)})</summary>'
                             f'<ul style="margin:0.2em 0">{items}</ul></details>')
        parts += [f'<div class="vae-check-note"><em>Note:</em> {_inline_html(n)}</div>' for n in self.notes]
        return (f'<div class="vae-check vae-check-{self.status}" style="border-left:4px solid {colour};'
                'padding:0.3em 0.7em;max-width:100%;box-sizing:border-box;white-space:normal;'
                'overflow-wrap:break-word;word-break:normal;line-height:1.5;'
                'color:var(--jp-content-font-color1, inherit);'
                'font-family:var(--jp-content-font-family, system-ui, sans-serif)">' + "".join(parts) + "</div>")

    def outcome(self) -> ExerciseOutcome:
        """The result as the grader records it."""
        message, hint = self.message, self.hint
        if self.code == Code.NOT_ANSWERED:
            message = "not answered yet: the function still raises NotImplementedError."
            hint = "Replace `raise NotImplementedError(...)` with your code."
        return ExerciseOutcome(status=self.status, message=message, hint=hint, code=str(self.code),
                               checks=list(self.checks), notes=list(self.notes))

    def to_dict(self) -> dict:
        return {"exercise": self.exercise.id, "function": self.exercise.function, "points": self.points,
                "max_points": self.exercise.points, **self.outcome().to_json()}


NOT_ANSWERED_TEXT = ("not answered yet: replace `raise NotImplementedError(...)` with your code, "
                     "run the cell, then run this check again.")

# Status colours: JupyterLab's theme variables, with fallbacks for other front-ends (a white
# word on each of them stays readable on light and dark backgrounds).
_STATUS_COLOURS = {
    Status.PASSED: "var(--jp-success-color0, #2e7d32)",  # color1 is too light for white text in JupyterLab Dark
    Status.FAILED: "var(--jp-error-color1, #d32f2f)",
    Status.ERROR: "var(--jp-error-color0, #b71c1c)",
    Status.TIMEOUT: "var(--jp-warn-color0, #e65100)",
    Status.MISSING: "var(--jp-warn-color0, #e65100)",
    Status.INVALID: "var(--jp-error-color0, #b71c1c)",
}

_BACKTICKS = re.compile(r"`([^`]+)`")


def _inline_html(text: str) -> str:
    """Escape ``text`` for HTML and set its `backticked` code in monospace."""
    return _BACKTICKS.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


@contextmanager
def time_limit(seconds: float | None):
    """Raise inside the block after ``seconds`` (POSIX main thread only; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        if _importing(frame):  # never leave a module half-imported (torch._dynamo loads on the first optimizer)
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            return
        raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _importing(frame) -> bool:
    """Whether ``frame`` runs inside Python's import machinery (a module is being executed for an import).

    A time limit that struck there would leave that module half-initialised in ``sys.modules``, and every
    later use would fail with a confusing error, so :func:`time_limit` waits until the import is over.
    (The grader's supervisor still kills a check that outlives its limit plus a grace.)
    """
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


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


# --------------------------------------------------------------------------- references injected by a check

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


# --------------------------------------------------------------------------- the Checker


class Checker:
    """Helpers a check body uses; it records which properties passed.

    The properties, in the order a body should check them: :meth:`call` (runs the
    student's function), :meth:`tensor` (type, dtype, device), :meth:`shape`, :meth:`finite`,
    :meth:`gradient`, :meth:`values` (with a catalogue of :class:`Mistake`). Each raises
    :class:`CheckFailed` with a message, a hint and a code; :meth:`ok` records a property
    the body checked itself.
    """

    def __init__(self, fn: Callable, exercise: Exercise, *, allow_reference_calls: bool = False):
        self.fn = fn
        self.exercise = exercise
        self.passed: list[str] = []
        self.allow_reference_calls = allow_reference_calls
        self.reference_calls: list[str] = []  # the exercise's references the student's function called

    # -- calling student code -------------------------------------------------------------
    def call(self, *args, **kwargs):
        """Call the student's function on copies of the inputs; turn exceptions into :class:`FunctionRaised`.

        A tensor that requires grad is passed as ``a.clone()``: still a copy (in-place changes
        do not reach the caller), but gradients flow back to ``a``, so ``gradient(out, {"mu": mu})``
        works on the check's own tensors.
        """
        args = tuple((a.clone() if a.requires_grad else a.detach().clone()) if isinstance(a, torch.Tensor) else a
                     for a in args)
        try:
            with integrity.watch_reference_calls(exempt=_injected_frame) as calls:
                out = self.fn(*args, **kwargs)
        except NotImplementedError:
            raise _NotImplementedYet() from None
        except _TimedOut:
            raise
        except RecursionError:
            raise FunctionRaised("your function recursed without end (RecursionError).",
                                 "Check that it does not call itself.", code=Code.RECURSION) from None
        except Exception as err:
            raise FunctionRaised(f"your function raised {describe_error(err)}{_where(err)}.",
                                 "Run it on a small input in a cell of its own to see the full error.") from None
        self._delegation(calls)
        return out

    def _delegation(self, calls: list[str]) -> None:
        """Fail when the student's function called one of the exercise's own references (delegation).

        ``calls`` are the references it called, however it reached them (an import, ``getattr``,
        ``importlib``); references the check injected for dependent exercises are not in it.
        With ``allow_reference_calls`` (the teacher's ``--allow-reference-calls``) they are
        only remembered, for a note.
        """
        used = [name for name in dict.fromkeys(calls) if name in self.exercise.delegates]
        if not used:
            return
        if self.allow_reference_calls:
            self.reference_calls += [name for name in used if name not in self.reference_calls]
            return
        raise CheckFailed(f"you called `{used[0]}`, the course's own answer to this exercise - write it yourself.",
                          "Implement the formula with torch operations; the package's reference is for comparing "
                          "after your own version passes.", code=Code.CALLED_REFERENCE)

    def ok(self, what: str) -> None:
        """Record a property that held (listed in the passing message)."""
        if what not in self.passed:
            self.passed.append(what)

    # -- properties, in the documented order ----------------------------------------------
    def tensor(self, out, what: str = "the result", like: torch.Tensor | None = None) -> torch.Tensor:
        """A floating-point torch tensor (on ``like``'s device), returned in ``like``'s dtype (else the default)."""
        if out is None:
            raise CheckFailed(f"{what} is None.", "Did you forget the `return` statement?", code=Code.RETURNED_NONE)
        if isinstance(out, tuple):
            raise CheckFailed(f"{what} is a tuple of {len(out)} items, expected one tensor.",
                              "Return a single tensor (remove the extra comma or values).", code=Code.RETURNED_TUPLE)
        if isinstance(out, np.ndarray):
            raise CheckFailed(f"{what} is a NumPy array, expected a torch tensor.",
                              "Use torch operations throughout (torch.exp, torch.sum, ...) so gradients can flow.",
                              code=Code.RETURNED_NUMPY)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{what} is a {type(out).__name__}, expected a torch tensor.",
                              "Use torch operations and return the tensor itself, not e.g. `.item()`.",
                              code=Code.NOT_A_TENSOR)
        if not out.is_floating_point():
            raise CheckFailed(f"{what} has dtype {out.dtype}, expected a floating-point tensor.",
                              "Avoid integer operations such as `//` or `.long()`.", code=Code.INTEGER_DTYPE)
        if like is not None and out.device != like.device:
            raise CheckFailed(f"{what} is on {out.device}, expected {like.device} (where the inputs are).",
                              "Create new tensors with `device=x.device` or use `torch.randn_like`.",
                              code=Code.WRONG_DEVICE)
        self.ok("returns a float tensor")
        # Another floating dtype (float64, ...) is fine: the check goes on in the inputs' dtype, so the
        # answer is judged on its values (differentiably: gradients still reach the inputs).
        dtype = like.dtype if like is not None and like.is_floating_point() else torch.get_default_dtype()
        return out if out.dtype == dtype else out.to(dtype)

    def shape(self, out: torch.Tensor, expected: Sequence[int], names: Sequence[str], what: str = "the result",
              hint: str = "") -> None:
        """Exact shape, naming the dimensions as the contracts do: "expected (B=4,), got (4, 2)".

        ``names`` may be the contracts' letters (``"B"``, ``"D"``) or words (``"batch"``,
        ``"latent"``, ``"pixels"``, ``"time"``), which are shown as ``B``, ``D``, ``784``, ``T``.
        """
        names = [contract_name(n) for n in names]
        if tuple(out.shape) != tuple(expected):
            dims = ", ".join(n if n == str(s) else f"{n}={s}" for n, s in zip(names, expected))
            raise CheckFailed(f"{what} has the wrong shape: expected `({dims}{',' if len(expected) == 1 else ''})`, "
                              f"got `{tuple(out.shape)}`.",
                              hint or "Check which dimensions you sum or average over.", code=Code.WRONG_SHAPE)
        self.ok(f"shape `({', '.join(names)}{',' if len(names) == 1 else ''})`")

    def finite(self, out: torch.Tensor, what: str = "the result", hint: str = "") -> None:
        """No NaN or inf anywhere in ``out``."""
        if not torch.isfinite(out).all():
            bad = "NaN" if torch.isnan(out).any() else "inf"
            raise CheckFailed(f"{what} contains {bad}.",
                              hint or "Look for log(0), exp of a large number or a division by zero.",
                              code=Code.NOT_FINITE)
        self.ok("finite values")

    def gradient(self, out: torch.Tensor, inputs: dict, hint: str = "") -> None:
        """Backpropagate ``out.sum()`` and require a non-zero gradient on every named input."""
        if not out.requires_grad:
            raise CheckFailed("no gradient flows through your result (it does not require grad).",
                              hint or "Don't use .detach(), .item(), .numpy() or torch.no_grad() in the exercise.",
                              code=Code.NO_GRADIENT)
        grads = torch.autograd.grad(out.sum(), list(inputs.values()), allow_unused=True)
        for name, grad in zip(inputs, grads):
            if grad is None or not torch.any(grad != 0):
                raise CheckFailed(f"no gradient reaches `{name}`.",
                                  hint or f"The result must be computed from `{name}` with torch operations.",
                                  code=Code.NO_GRADIENT)
        self.ok("gradients reach " + ", ".join(inputs))

    def values(self, actual: torch.Tensor, expected: torch.Tensor, what: str = "the values",
               mistakes: Sequence["Mistake"] = (), atol: float = 1e-4, rtol: float = 1e-4,
               hint: str = "") -> None:
        """Compare with the reference; on a mismatch, name the first catalogued mistake that matches.

        Any floating dtype is compared (in the wider of the two): a float64 answer is judged on
        its values, never on its precision.
        """
        actual, expected = _common_dtype(actual.detach(), expected.detach())
        if actual.shape == expected.shape and torch.allclose(actual, expected, atol=atol, rtol=rtol):
            self.ok(f"{what} match the reference")
            return
        mistake = match_mistake(actual, mistakes, atol=atol, rtol=rtol)
        if mistake is not None:
            raise mistake.failure(what)
        raise CheckFailed(f"{what} do not match the reference{mismatch_detail(actual, expected)}.",
                          hint or "Compare your formula with the one in the markdown above, term by term.",
                          code=Code.WRONG_VALUES)


#: The contracts' names of dimensions, for check bodies that name them in words.
CONTRACT_NAMES = {"batch": "B", "latent": "D", "pixels": "784", "time": "T"}


def contract_name(name: str) -> str:
    """The contract's name of a dimension: ``"batch"`` -> ``"B"``; other names unchanged."""
    return CONTRACT_NAMES.get(name, name)


def _number(value: float) -> str:
    return f"{value:.6g}"


def mismatch_detail(actual: torch.Tensor, expected: torch.Tensor) -> str:
    """Where wrong values differ most: ``": the largest difference is 0.5 at [2] (expected 1.5, got 1)"``.

    The index is in the result's own dimensions, so ``[2]`` of a ``(B,)`` result is example 2.
    Different shapes, NaN and inf are said as such. Empty for equal tensors.
    """
    if actual.shape != expected.shape:
        return f": got shape `{tuple(actual.shape)}`, the reference has `{tuple(expected.shape)}`"
    actual, expected = actual.detach().double().cpu(), expected.detach().double().cpu()
    if actual.numel() == 0:
        return ""
    diff = (actual - expected).abs()
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
    flat = int(torch.argmax(diff))
    index = [int(i) for i in np.unravel_index(flat, tuple(actual.shape))] if actual.dim() else []
    where = f" at `[{', '.join(map(str, index))}]`" if index else ""
    got, want = actual.reshape(-1)[flat].item(), expected.reshape(-1)[flat].item()
    wrong = int((~torch.isclose(actual, expected, rtol=1e-4, atol=1e-4)).sum())
    count = f"{wrong} of {actual.numel()} values differ; " if actual.numel() > 1 else ""
    size = "" if not np.isfinite(got) else f" {_number(abs(got - want))}"
    return f": {count}the largest difference is{size}{where} (expected {_number(want)}, got {_number(got)})"


def _common_dtype(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` in the wider of their dtypes (float32 vs float64 -> both float64), for comparing."""
    if a.dtype == b.dtype:
        return a, b
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


@dataclass
class Mistake:
    """A known wrong answer: its output on the check inputs, its name and the hint to give.

    ``code`` is its stable name in the gradebook and the class report; by default it is made
    from ``name`` ("the KL with the wrong sign" -> ``kl-with-the-wrong-sign``).
    """

    name: str
    value: torch.Tensor
    hint: str
    code: str = ""

    def __post_init__(self):
        self.code = self.code or slug(self.name)

    def failure(self, what: str = "the values") -> CheckFailed:
        """The failure to raise when a student's answer matches this mistake."""
        return CheckFailed(f"{what} are wrong - this looks like {self.name}.", self.hint, code=self.code)


def match_mistake(actual: torch.Tensor, mistakes: Sequence[Mistake], atol: float = 1e-4,
                  rtol: float = 1e-4) -> Mistake | None:
    """The first catalogued mistake whose value ``actual`` matches, or None (any floating dtypes)."""
    for mistake in mistakes:
        value, actual = _common_dtype(mistake.value.detach(), actual.detach())
        if value.shape == actual.shape and torch.allclose(actual, value, atol=atol, rtol=rtol):
            return mistake
    return None


# --------------------------------------------------------------------------- registering and running


def exercise(id: str, notebook: str, function: str, title: str, contract: str, points: int = 1, *,
             reference: Callable | str | None = None, uses: Sequence[str] = (), verified: str = "",
             delegates: Sequence[Callable | str] = ()):
    """Register a check body ``body(fn, check)`` and return the student-facing check function.

    ``id`` ("2.1"), ``notebook`` (the notebook's file stem), ``function`` (the name the student
    defines), ``title`` and ``contract`` (shown in feedback), ``points``. ``reference``: the
    reference implementation (or the name of a function in this module); ``uses``: ids of
    earlier exercises whose functions this one calls - the check then runs with their
    references (see :func:`injected_references`); ``verified``: the sentence shown when the
    check passes (what it verified, at most two lines of 100 columns); ``delegates``: the
    package's reference implementations (functions marked with
    :func:`~vae_course.grading.integrity.reference_implementation`, or their dotted names) that
    do this exercise's work - an answer that calls one fails (see :meth:`Checker.call`). See
    docs/authoring-exercises.md.
    """

    def register(body: Callable):
        entry = Exercise(id=id, notebook=notebook, function=function, title=title, contract=contract,
                         points=points, body=body, reference=reference, uses=tuple(uses), verified=verified,
                         delegates=tuple(getattr(d, "reference_name", d) for d in delegates))
        if id in REGISTRY and REGISTRY[id].body.__qualname__ != body.__qualname__:
            raise ValueError(f"Exercise id {id} registered twice.")
        REGISTRY[id] = entry

        def check(fn: Callable, timeout: float | None = DEFAULT_TIMEOUT, *, allow_reference_calls: bool = False
                  ) -> Result:
            return run_check(entry, fn, timeout=timeout, allow_reference_calls=allow_reference_calls)

        check.__name__ = function
        check.__qualname__ = function
        check.__doc__ = f"Check Exercise {id}: {title}.\n\nContract: {contract}"
        check.exercise = entry
        return check

    return register


#: Notebooks whose checks (or the student code they run) build torch optimizers: see :func:`warm_up`.
OPTIMIZER_NOTEBOOKS = frozenset({"03_reparameterization", "04_training_a_vae"})


def warm_up(entries) -> None:
    """Before the time limit of any of ``entries`` starts: load what torch loads on first use, if they need it.

    The first optimizer imports torch._dynamo (1.5 s of CPU on the development machine, 5-9 s when it is
    busy), which would otherwise count against the time limit of the first check that builds one (Exercise
    4.1) and could time out a correct answer. Only the checks of :data:`OPTIMIZER_NOTEBOOKS` pay for it,
    once per process.
    """
    if any(entry.notebook in OPTIMIZER_NOTEBOOKS for entry in entries):
        _build_a_first_optimizer()


@functools.cache
def _build_a_first_optimizer() -> None:
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def run_check(entry: Exercise, fn: Callable, timeout: float | None = DEFAULT_TIMEOUT, *,
              allow_reference_calls: bool = False) -> Result:
    """Run one exercise's check on ``fn``; never raises (except KeyboardInterrupt from the user).

    An answer that calls the exercise's own reference (``entry.delegates``) fails with code
    ``called-reference``, unless ``allow_reference_calls`` (then a note says which it called).
    """
    if not callable(fn):
        return Result(entry, Status.ERROR, f"expected your function `{entry.function}`, got a {type(fn).__name__}.",
                      f"Pass the function itself: checks.{entry.function}({entry.function}).", code=Code.NOT_CALLABLE)
    warm_up([entry])
    checker = Checker(fn, entry, allow_reference_calls=allow_reference_calls)
    notes: list = []
    grad_mode = torch.is_grad_enabled()
    with torch.random.fork_rng(devices=[]):  # the check's seed never changes the notebook's random stream
        torch.manual_seed(1234)
        try:
            with injected_references(entry, fn) as notes, time_limit(timeout):
                entry.body(fn, checker)
            notes += [f"it calls `{name}`, the course's own answer (allowed by your teacher)."
                      for name in checker.reference_calls]
            return Result(entry, Status.PASSED, checks=checker.passed, notes=notes)
        except _NotImplementedYet:
            return Result(entry, Status.FAILED, NOT_ANSWERED_TEXT, code=Code.NOT_ANSWERED)
        except HiddenCheck:
            return Result(entry, Status.PASSED, checks=checker.passed, code=Code.CHECKED_IN_PART,
                          notes=notes + ["this copy of the check only tests some properties; your teacher's "
                                         "grader runs the full check."])
        except _TimedOut:
            return Result(entry, Status.TIMEOUT, f"your function did not finish within {timeout:g} s.",
                          "Look for a loop that never ends, or work that grows with the data (loops over pixels).",
                          checks=checker.passed, code=Code.TIMED_OUT, notes=notes)
        except CheckFailed as failed:
            return Result(entry, failed.status, failed.message, failed.hint, checks=checker.passed, code=failed.code,
                          notes=notes)
        except (SystemExit, Exception) as err:  # a bug we did not foresee: still a message, not a traceback
            stopped = isinstance(err, SystemExit)
            return Result(entry, Status.ERROR,
                          f"the check could not run your function ({type(err).__name__}: {err}).",
                          "Exercise functions must return a value, not stop the program." if stopped else
                          "Make sure the function has the signature described above the exercise.",
                          checks=checker.passed, code=Code.STOPPED if stopped else Code.CHECK_BROKE, notes=notes)
        finally:
            torch.set_grad_enabled(grad_mode)


def exercises_for(notebook: str) -> list[Exercise]:
    """Registered exercises of one notebook (file stem), in id order."""
    return sorted((e for e in REGISTRY.values() if e.notebook == notebook), key=lambda e: exercise_key(e.id))


def exercise_key(ex_id: str) -> list:
    """Sort key of an exercise id: "2.10" after "2.9"."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in ex_id.split(".")] if ex_id else []


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


__all__ = ["REGISTRY", "Checker", "CheckFailed", "ChecksFileError", "Exercise", "FunctionRaised", "HiddenCheck",
           "InjectedReference", "Mistake", "Result", "Status", "exercise", "exercises_for", "injected_call",
           "injected_references", "load_checks_file", "match_mistake", "run_check", "student_copy"]
