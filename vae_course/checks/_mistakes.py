"""The mistake catalogue: known wrong answers, recognised by their values, each with its own hint.

A check body computes each :class:`Mistake`'s value on the check's inputs; when the
student's values are wrong, :func:`match_mistake` names the first catalogued mistake they
match, so the message can say *which* mistake it is. A mistake's ``code`` (its key in the
gradebook and the class report) is derived from its name by
:func:`vae_course.results.slug` unless given (docs/authoring-exercises.md, "Mistake codes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..results import slug
from ._failures import CheckFailed

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
