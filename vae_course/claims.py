"""Guards for what the notebook's prose claims: the lesson fails loudly if the numbers stop backing it.

Notebook outputs are compared with a tolerance on other machines (see :mod:`vae_course.nbcompare`),
so a change that quietly breaks a lesson ("slerp keeps the norm", "about 20% of the grid points are
holes") would slip through a loose comparison. Each such sentence gets one line right below the
number it rests on::

    claim("about 20% of the grid points are holes", holes, between=(0.15, 0.25))
    claim("the slerp midpoint is sharper than the lerp midpoint", sharp["slerp"] > sharp["lerp"])

Silent when the claim holds; otherwise an :class:`ClaimBroken` error that quotes the sentence -
except in a student's own run where the numbers came from the student's answers (functions that
passed their checks, see :mod:`vae_course.exercises`): an answer can pass its check and still differ
from the course's reference in ways the lesson notices, and that is not the student's error to debug
in a guard. There the claim prints one line naming the exercises whose answers were used, and the
notebook goes on. The tests run with ``VAE_COURSE_STRICT_CLAIMS=1``: a broken claim always fails them.
"""

from __future__ import annotations

import math
import os

from .exercises import answers_in_use


class ClaimBroken(AssertionError):
    """A sentence of the notebook is no longer true of what the notebook computed."""


def claim(statement: str, condition_or_value, *, between: tuple[float, float] | None = None) -> None:
    """Check that ``statement`` holds: a boolean condition, or a value inside ``between=(low, high)``.

    >>> claim("two is between one and three", 2.0, between=(1, 3))
    >>> claim("one is more than two", 1 > 2)
    Traceback (most recent call last):
    ...
    vae_course.claims.ClaimBroken: The notebook says "one is more than two", but that is not what it computed.
    """
    if between is None:
        if not isinstance(condition_or_value, bool) and not hasattr(condition_or_value, "__bool__"):
            raise TypeError("claim(statement, condition): pass a condition, or a value with between=(low, high)")
        if not bool(condition_or_value):
            _broken(f'The notebook says "{statement}", but that is not what it computed.')
        return
    low, high = between
    value = float(condition_or_value)
    if math.isnan(value) or not low <= value <= high:
        _broken(f'The notebook says "{statement}", but the value is {value:.4g}, outside [{low:g}, {high:g}].')


def _broken(message: str) -> None:
    """Raise :class:`ClaimBroken` - or, in a student's run fed by their own answers, say so and go on."""
    used = answers_in_use()
    if not used or os.environ.get("VAE_COURSE_STRICT_CLAIMS") == "1":
        raise ClaimBroken(message)
    names = ", ".join(used)
    print(f"Note: {message} This cell used your answers to Exercise {names}: they passed their checks but "
          "compute something slightly different from the course's reference. Compare with the reference "
          "to see what differs; the notebook goes on.")
