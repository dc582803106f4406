"""The grader's options: their defaults (declared once, here) and their validation.

Every number is checked before anything runs, with a one-line error that says what to give
instead - a negative time limit used to run for minutes and then blame every student. The
only "no limit" value is ``memory_gib=0``; time limits always apply (a student's endless loop
must not stop the class). Shared validators in the style of scikit-learn's
``utils/validation``: :func:`check_number`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

MIN_SECONDS = 1.0     # shorter limits time out before a kernel or the checks can even start
MIN_MEMORY_GIB = 4.0  # importing torch alone maps about 3.5 GiB of address space (measured: 3 GiB fails)


class GradingError(Exception):
    """A problem with the command itself (bad option, path, roster, no submissions, ...): one line, exit 2."""


def check_number(value, name: str, *, minimum: float, unit: str, zero_means: str | None = None,
                 integer: bool = False) -> float:
    """``value`` if it is a finite number >= ``minimum`` (or 0 when ``zero_means`` says what 0 does).

    Raises :class:`GradingError` naming the option, the allowed range and the value given.
    """
    allowed = f"a whole number of at least {minimum:g}" if integer else f"a number of {unit} of at least {minimum:g}"
    if zero_means:
        allowed += f", or 0 for {zero_means}"
    try:
        number = float(value)
        ok = math.isfinite(number) and (number >= minimum or (zero_means and number == 0))
        ok = ok and (not integer or number.is_integer())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise GradingError(f"{name} must be {allowed} (got {value!r}).")
    return int(number) if integer else number


@dataclass(frozen=True)
class Options:
    """How to grade. Defaults here are the command line's defaults; the constructor validates every value."""

    timeout: float = 60.0            # per cell (running the notebook) and per exercise check, seconds
    notebook_timeout: float = 600.0  # for running the whole notebook, seconds
    memory_gib: float = 8.0          # address-space limit of the kernel and the checker, GiB (0 = none)
    workers: int | None = None       # submissions graded at once (None: CPU cores)
    execute: bool = True             # run the notebook top to bottom (feedback only, not points)
    notebook: str | None = None      # treat every submission as this notebook (file stem)
    checks_files: tuple = ()         # extra check modules (files) defining exercises
    all_attempts: bool = False       # grade every attempt, not only the latest
    allow_reference_calls: bool = False  # accept answers that call the course's own reference of the exercise
    assignments: tuple = ()          # grade only submissions of these notebooks (stems); () = every notebook
    hidden_seeds: tuple = ()         # ((exercise id, seed), ...): check again under the seed, keep the lower points

    def __post_init__(self):
        object.__setattr__(self, "timeout", check_number(self.timeout, "--timeout", minimum=MIN_SECONDS,
                                                         unit="seconds"))
        object.__setattr__(self, "notebook_timeout", check_number(
            self.notebook_timeout, "--notebook-timeout", minimum=MIN_SECONDS, unit="seconds"))
        object.__setattr__(self, "memory_gib", check_number(
            self.memory_gib, "--memory", minimum=MIN_MEMORY_GIB, unit="GiB", zero_means="no limit"))
        if self.workers is not None:
            object.__setattr__(self, "workers", check_number(self.workers, "--workers", minimum=1, unit="",
                                                             integer=True))
        object.__setattr__(self, "checks_files", tuple(str(p) for p in self.checks_files))
        object.__setattr__(self, "assignments", tuple(self.assignments))
        object.__setattr__(self, "hidden_seeds", tuple((str(k), int(v)) for k, v in dict(self.hidden_seeds).items()))

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1
