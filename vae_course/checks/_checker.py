"""The :class:`Checker`: runs a student's function and compares what it returns, property by property.

A check body receives one and calls its properties in a fixed order - not implemented,
wrong type/dtype/device, wrong shape, NaN/inf, missing gradient, wrong values (against the
mistake catalogue, :mod:`._mistakes`). The first failing property ends the check. Student
code never crashes it: exceptions, ``None``, NumPy arrays and tuples all become a clear message.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..references import watch_reference_calls
from ..results import Code, describe_error
from ._delegation import _injected_frame
from ._failures import CheckFailed, FunctionRaised, _NotImplementedYet, _TimedOut
from ._mistakes import Mistake, _common_dtype, match_mistake, mismatch_detail
from ._registry import Exercise

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


@dataclass(frozen=True)
class Crash:
    """An error a student's function raises for one likely mistake: how to recognise it and what to say.

    pattern: a regular expression searched (ignoring case) in the error's message; hint and code: what the
    failure says and records; message: a sentence naming the mistake, put before the error's own words
    (None: the error's words stay the message).
    """

    pattern: str
    hint: str
    code: str
    message: str | None = None

    @classmethod
    def any_of(cls, words: Sequence[str], hint: str, code: str, message: str | None = None) -> "Crash":
        """A crash recognised by any of ``words`` (plain text, not regular expressions)."""
        return cls("|".join(map(re.escape, words)), hint, code, message)


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
        self.judged: dict[str, bool] = {}      # each of the exercise's parts: right every time it was judged

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
            with watch_reference_calls(exempt=_injected_frame) as calls:
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

    def call_naming(self, crashes: Sequence[Crash], *args, **kwargs):
        """:meth:`call`; when the student's function raises one of the known ``crashes``, the failure names its
        likely cause (the first that matches) instead of showing a bare traceback."""
        try:
            return self.call(*args, **kwargs)
        except FunctionRaised as raised:
            words = raised.message.removeprefix("your function raised ")
            for crash in crashes:
                if re.search(crash.pattern, raised.message, re.IGNORECASE):
                    message = raised.message if crash.message is None else f"{crash.message}: {words}"
                    raise CheckFailed(message, crash.hint, code=crash.code) from None
            raise

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

    # -- partial credit -----------------------------------------------------------------------
    def part(self, name: str, actual, expected: torch.Tensor, *, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
        """Judge one of the exercise's ``parts`` quietly: right when ``actual`` is a finite float tensor with
        ``expected``'s shape and values (``None``: whatever should hold it is missing, so wrong).

        Never raises: the body's properties still say what is wrong, in their order; this only records, for
        partial credit (:meth:`credit`), whether the part was right - a part judged several times (on several
        inputs) must be right each time. Judge a part where its value first exists, before the properties that
        could end the check.
        """
        if name not in self.exercise.parts:
            raise ValueError(f"Exercise {self.exercise.id} declares no part {name!r} (parts={self.exercise.parts}).")
        right = (isinstance(actual, torch.Tensor) and actual.is_floating_point()
                 and tuple(actual.shape) == tuple(expected.shape) and bool(torch.isfinite(actual).all()))
        if right:
            a, e = _common_dtype(actual.detach(), expected.detach())
            right = bool(torch.allclose(a, e, atol=atol, rtol=rtol))
        self.judged[name] = self.judged.get(name, True) and right
        return right

    def credit(self, failure: CheckFailed) -> float:
        """The fraction of the exercise's parts that were right each time they were judged, for a check that
        ended with ``failure``: 0 for an exercise without parts, for a failure that is not about a part's
        values (it raised, returned the wrong type, called the reference, ...: :data:`CREDIT_CODES`), and when
        every part was right (the failure is then about something the parts do not cover).
        """
        parts = self.exercise.parts
        if not parts or (failure.code in _GENERIC_CODES and failure.code not in CREDIT_CODES):
            return 0.0
        right = sum(self.judged.get(name, False) for name in parts)
        return right / len(parts) if right < len(parts) else 0.0

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


#: The generic failures after which the parts judged right still earn their share (catalogued mistakes do too).
CREDIT_CODES = frozenset({Code.WRONG_VALUES, Code.WRONG_SHAPE, Code.NOT_FINITE})
_GENERIC_CODES = frozenset(str(c) for c in Code)

#: The contracts' names of dimensions, for check bodies that name them in words.
CONTRACT_NAMES = {"batch": "B", "latent": "D", "pixels": "784", "time": "T"}


def contract_name(name: str) -> str:
    """The contract's name of a dimension: ``"batch"`` -> ``"B"``; other names unchanged."""
    return CONTRACT_NAMES.get(name, name)


def gradient_of(out: torch.Tensor, wrt: torch.Tensor) -> torch.Tensor | None:
    """d out.sum() / d wrt, keeping the graph for the checker's own gradient test; None if no gradient flows.

    For checks that compare a gradient with those of catalogued mistakes before :meth:`Checker.gradient` runs.
    """
    if not out.requires_grad:
        return None
    try:
        return torch.autograd.grad(out.sum(), wrt, allow_unused=True, retain_graph=True)[0]
    except RuntimeError:      # a graph torch cannot differentiate: the checker's gradient test says so
        return None
