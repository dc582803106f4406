"""Exercise checks: call one right below each exercise, e.g. ``checks.gaussian_kl(gaussian_kl)``.

Each check runs your function on fixed, seeded inputs and returns a
:class:`Result` whose text says what passed or names the first problem and
the likely mistake. ``REGISTRY`` lists every exercise (used by the grader).
"""

from ._core import REGISTRY, CheckFailed, Exercise, Mistake, Result, exercises_for, run_check  # noqa: F401
from .welcome import average_image  # noqa: F401

__all__ = ["REGISTRY", "Exercise", "Result", "run_check", "exercises_for", "average_image"]
