"""The result vocabulary: what every check, the grader and the gradebook say about an exercise.

A foundation of the package (it imports nothing of it): the exercise checks
(:mod:`vae_course.checks`) produce these results and the grader (:mod:`vae_course.grading`)
consumes them, so they live below both.

**Statuses.** :class:`Status` is the result of one exercise everywhere: the check cell in
a notebook (``checks.elbo(elbo)``), ``vae-course check`` and the gradebook use the same six
words. :class:`RunStatus` says what happened when the whole notebook ran (feedback only).

**Codes.** Next to its status every result carries a short, stable ``code`` naming *what*
went wrong, so a teacher can count mistakes without parsing text: one of :class:`Code` for
the generic cases (``not-answered``, ``raised``, ``wrong-shape``, ...) or the code of a
catalogued :class:`~vae_course.checks.Mistake`, derived from its name by :func:`slug`
(``"the KL with the wrong sign"`` -> ``kl-with-the-wrong-sign``).

**Records.** :class:`ExerciseOutcome` is what a check found for one exercise, as a small
dataclass with ``to_json``/``from_json`` (the base of the grader's pipe messages in
:mod:`vae_course.grading.protocol`). ``from_json`` never trusts its input: unknown statuses
become ``error`` and missing fields take their defaults. A failed exercise that has parts carries
the fraction of them it got right (``credit``); :func:`points_earned` turns that into points.

**Exercise ids** sort as numbers, part by part (:func:`exercise_key`: ``"2.10"`` after ``"2.9"``).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field

try:
    from enum import StrEnum
except ImportError:  # Python 3.10
    class StrEnum(str, enum.Enum):
        """``str`` subclass enum whose ``str()`` and ``format()`` are its value (as in Python 3.11)."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


class _Words(StrEnum):
    @classmethod
    def parse(cls, value, default):
        """The member spelled ``value``, or ``default`` for anything else (input from another process)."""
        return cls._value2member_map_.get(value, default) if isinstance(value, str) else default


class Status(_Words):
    """The result of one exercise (the table in docs/teaching.md, section 3)."""

    PASSED = "passed"    # the check passed: full points
    FAILED = "failed"    # the check found a mistake, or the function is still the stub
    ERROR = "error"      # the function raised, stopped or crashed the program, or tampered with the checks
    TIMEOUT = "timeout"  # defining the function or its check did not finish in time
    MISSING = "missing"  # no function to grade: cell deleted, function renamed, nothing handed in
    INVALID = "invalid"  # the file is not a readable notebook, or not one of the course's


class RunStatus(_Words):
    """What happened when the whole notebook ran top to bottom (the ``run`` column; feedback only)."""

    OK = "ok"            # ran to the end without errors
    ERRORS = "errors"    # ran to the end; some cells raised
    TIMEOUT = "timeout"  # a cell or the whole notebook ran out of time
    DIED = "died"        # the kernel died (os._exit, segfault, memory)
    FAILED = "failed"    # the grader could not run it (its own process was killed or crashed)
    SKIPPED = "skipped"  # not run: --no-execute, or no code
    INVALID = "invalid"  # not a readable notebook
    MISSING = "missing"  # nothing handed in (a roster student without a submission)


#: Run statuses counted as "failed to run" in the summary line.
RUN_FAILURES = (RunStatus.TIMEOUT, RunStatus.DIED, RunStatus.FAILED, RunStatus.INVALID)


class Code(StrEnum):
    """Stable codes of the generic outcomes (catalogued mistakes bring their own codes)."""

    OK = "ok"
    CHECKED_IN_PART = "checked-in-part"  # a student copy of a check file: the rest runs when the teacher grades
    NOT_ANSWERED = "not-answered"        # still raises NotImplementedError
    RAISED = "raised"                    # the function raised an exception
    RECURSION = "recursion"              # ... a RecursionError
    STOPPED = "stopped-the-program"      # SystemExit, KeyboardInterrupt, os._exit, a crash
    TAMPERED = "tampered-with-checks"    # replaced something the checks rely on
    CALLED_REFERENCE = "called-reference"  # delegated to the course's own answer (vae_course.latent.slerp, ...)
    OUT_OF_MEMORY = "out-of-memory"
    TIMED_OUT = "timed-out"
    RETURNED_NONE = "returned-none"
    RETURNED_TUPLE = "returned-tuple"
    RETURNED_NUMPY = "returned-numpy"
    NOT_A_TENSOR = "not-a-tensor"
    INTEGER_DTYPE = "integer-dtype"
    WRONG_DEVICE = "wrong-device"
    WRONG_SHAPE = "wrong-shape"
    NOT_FINITE = "not-finite"
    NO_GRADIENT = "no-gradient"
    WRONG_VALUES = "wrong-values"        # wrong, but no catalogued mistake matches
    NOT_CALLABLE = "not-callable"
    CHECK_BROKE = "check-broke"          # the check itself hit an unforeseen problem
    DELETED = "function-missing"         # no cell defines the function
    RENAMED = "function-renamed"
    SYNTAX_ERROR = "syntax-error"
    NOT_DEFINED = "could-not-define"     # defining the function raised
    NOT_A_NOTEBOOK = "not-a-notebook"
    UNKNOWN_NOTEBOOK = "unknown-notebook"
    NOT_SUBMITTED = "not-submitted"      # a roster student who handed nothing in
    GRADER_PROBLEM = "grader-problem"    # the grader's own process failed: re-run


def slug(text: str, words: int = 8) -> str:
    """A code from a phrase: ``"the KL with the wrong sign"`` -> ``"kl-with-the-wrong-sign"``.

    Lower case letters and digits joined by ``-``; a leading article is dropped; at most
    ``words`` words. Used for mistakes that do not declare a code of their own.
    """
    tokens = re.findall(r"[a-z0-9]+", str(text).lower().replace("^2", " squared "))
    while tokens and tokens[0] in ("the", "a", "an"):
        tokens = tokens[1:]
    return "-".join(tokens[:words]) or "mistake"


def first_line(text, limit: int = 200) -> str:
    """The first non-empty line of ``text``, at most ``limit`` characters."""
    for line in str(text).splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def describe_error(err: BaseException) -> str:
    """``"ValueError: boom"`` - an exception's type and the first line of its message."""
    text = first_line(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# --------------------------------------------------------------------------- JSON records


class _Message:
    """``to_json`` for dataclasses (enums become their values, nested dataclasses dicts)."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self, dict_factory=lambda items: {k: _plain(v) for k, v in items})


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _fields(cls, data) -> dict:
    """The keys of ``data`` that are fields of ``cls`` (ignoring anything else a peer sent)."""
    if not isinstance(data, dict):
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _text(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _texts(value) -> list[str]:
    return [_text(v) for v in value] if isinstance(value, list) else []


@dataclass
class ExerciseOutcome(_Message):
    """What the checker found for one exercise (checker -> supervisor -> batch)."""

    status: Status
    message: str = ""
    hint: str = ""
    code: str = ""
    checks: list = field(default_factory=list)   # properties that held ("shape (batch,)", ...)
    notes: list = field(default_factory=list)    # how it was graded ("graded with the reference gaussian_kl")
    grader_problem: bool = False                 # the grader failed, not the student: worth a re-run
    credit: float = 0.0                          # a failed exercise's fraction of parts right (see Result.credit)

    @classmethod
    def from_json(cls, data) -> "ExerciseOutcome":
        data = _fields(cls, data)
        return cls(status=Status.parse(data.get("status"), Status.ERROR), message=_text(data.get("message")),
                   hint=_text(data.get("hint")), code=_text(data.get("code")), checks=_texts(data.get("checks")),
                   notes=_texts(data.get("notes")), grader_problem=data.get("grader_problem") is True,
                   credit=_fraction(data.get("credit")))


def _fraction(value) -> float:
    """A number from 0 to 1 (anything else a peer sent: 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return 0.0
    return float(value)


def points_earned(max_points: float, status: Status, credit: float = 0.0) -> float:
    """An exercise's points: all of them if it passed, else ``credit`` (the fraction of its parts right) of them.

    The one rule of the check cell, ``vae-course grade`` and the nbgrader export; only exercises
    declared with parts (``@exercise(..., parts=...)``) ever fail with a ``credit`` above 0.
    """
    return float(max_points) if status == Status.PASSED else round(max_points * credit, 2)


def exercise_key(ex_id: str) -> list:
    """Sort key of an exercise id: "2.10" after "2.9"."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in ex_id.split(".")] if ex_id else []
