"""One vocabulary and one typed protocol for everything that grades an exercise.

**Statuses.** :class:`Status` is the result of one exercise everywhere: the check cell in
a notebook (``checks.elbo(elbo)``), ``vae-course check`` and the gradebook use the same six
words. :class:`RunStatus` says what happened when the whole notebook ran (feedback only).

**Codes.** Next to its status every result carries a short, stable ``code`` naming *what*
went wrong, so a teacher can count mistakes without parsing text: one of :class:`Code` for
the generic cases (``not-answered``, ``raised``, ``wrong-shape``, ...) or the code of a
catalogued :class:`~vae_course.checks.Mistake` (``kl-with-the-wrong-sign``).

**What crosses a process boundary** (batch -> supervisor -> checker and back, and the
``gradebook.json`` a later ``--student`` run reads) is a small dataclass with ``to_json``
and ``from_json``. ``from_json`` never trusts its input: unknown statuses become
``error``/``failed`` and missing fields take their defaults, so a garbled line from a
crashed process cannot crash the grader.
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


# --------------------------------------------------------------------------- JSON helpers


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


# --------------------------------------------------------------------------- what crosses the pipes


@dataclass
class ExerciseJob(_Message):
    """The code of one exercise, taken out of a notebook (batch -> supervisor -> checker)."""

    id: str
    function: str
    cell: int | None = None
    blocks: list = field(default_factory=list)   # [{"cell": n, "source": str, "run": [[line, col], ...]}]

    @classmethod
    def from_json(cls, data) -> "ExerciseJob":
        return cls(**_fields(cls, data))


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

    @classmethod
    def from_json(cls, data) -> "ExerciseOutcome":
        data = _fields(cls, data)
        return cls(status=Status.parse(data.get("status"), Status.ERROR), message=_text(data.get("message")),
                   hint=_text(data.get("hint")), code=_text(data.get("code")), checks=_texts(data.get("checks")),
                   notes=_texts(data.get("notes")), grader_problem=data.get("grader_problem") is True)


@dataclass
class CheckerTask(_Message):
    """Everything one checker process needs (supervisor -> checker)."""

    nonce: str
    timeout: float
    memory: int
    checks_files: list
    exercises: list   # ExerciseJob
    allow_reference_calls: bool = False  # answers may call the exercise's own reference (--allow-reference-calls)

    @classmethod
    def from_json(cls, data) -> "CheckerTask":
        data = _fields(cls, data)
        return cls(nonce=data["nonce"], timeout=float(data["timeout"]), memory=int(data.get("memory") or 0),
                   checks_files=list(data.get("checks_files", [])),
                   exercises=[ExerciseJob.from_json(e) for e in data.get("exercises", [])],
                   allow_reference_calls=bool(data.get("allow_reference_calls", False)))


@dataclass
class CellError(_Message):
    """A cell that raised when the notebook ran."""

    cell: int
    first_line: str
    ename: str
    evalue: str

    @classmethod
    def from_json(cls, data) -> "CellError":
        data = _fields(cls, data)
        return cls(cell=int(data.get("cell") or 0), first_line=_text(data.get("first_line")),
                   ename=_text(data.get("ename")), evalue=_text(data.get("evalue")))


@dataclass
class CellTime(_Message):
    """How long one code cell took when the notebook ran (for the class report; varies between runs)."""

    cell: int
    first_line: str
    seconds: float

    @classmethod
    def from_json(cls, data) -> "CellTime":
        data = _fields(cls, data)
        return cls(cell=int(data.get("cell") or 0), first_line=_text(data.get("first_line")),
                   seconds=float(data.get("seconds") or 0.0))


@dataclass
class RunReport(_Message):
    """What happened when the notebook ran top to bottom."""

    status: RunStatus
    detail: str = ""
    errors: list = field(default_factory=list)    # CellError
    timings: list = field(default_factory=list)   # CellTime

    @classmethod
    def from_json(cls, data) -> "RunReport":
        data = _fields(cls, data)
        return cls(status=RunStatus.parse(data.get("status"), RunStatus.FAILED), detail=_text(data.get("detail")),
                   errors=[CellError.from_json(e) for e in data.get("errors") or []],
                   timings=[CellTime.from_json(t) for t in data.get("timings") or []])


@dataclass
class SupervisorJob(_Message):
    """One submission to grade (batch -> supervisor)."""

    notebook: str                 # the notebook's text, as read before any submission ran
    filename: str                 # the name its private copy gets
    exercises: list               # ExerciseJob
    cell_timeout: float
    notebook_timeout: float
    check_timeout: float
    memory: int                   # bytes; 0 = no limit
    threads: int
    checks_files: list            # teachers' check files (absolute paths) for the checker
    student_checks: dict          # {module file name: source} put next to the notebook when it runs
    execute: bool
    workdir: str
    allow_reference_calls: bool = False  # for the checker (see CheckerTask)

    @classmethod
    def from_json(cls, data) -> "SupervisorJob":
        data = _fields(cls, data)
        data["exercises"] = [ExerciseJob.from_json(e) for e in data.get("exercises", [])]
        return cls(**data)


@dataclass
class SubmissionOutcome(_Message):
    """Everything a supervisor found for one submission (supervisor -> batch)."""

    run: RunReport
    exercises: dict   # {exercise id: ExerciseOutcome}

    @classmethod
    def from_json(cls, data) -> "SubmissionOutcome":
        data = _fields(cls, data)
        if "run" not in data or not isinstance(data.get("exercises"), dict):
            raise ValueError("not a supervisor's result")
        return cls(run=RunReport.from_json(data["run"]),
                   exercises={str(k): ExerciseOutcome.from_json(v) for k, v in data["exercises"].items()})


# --------------------------------------------------------------------------- what the gradebook holds


@dataclass
class ExerciseResult(_Message):
    """One row of the gradebook: a student's result on one exercise."""

    exercise: str            # id, e.g. "2.1" ("" when the notebook is unknown)
    title: str
    function: str
    points: float            # what counts: the check's points, or the teacher's override
    max_points: int
    status: Status
    message: str = ""
    hint: str = ""
    code: str = ""
    checks: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    checked_points: float | None = None   # the check's points when a teacher's override replaced them
    override: str = ""                     # the teacher's reason for the override

    @classmethod
    def from_json(cls, data) -> "ExerciseResult":
        data = _fields(cls, data)
        data["status"] = Status.parse(data.get("status"), Status.ERROR)
        return cls(**data)


@dataclass
class Graded(_Message):
    """One submission's outcome (or a roster student's missing one)."""

    student: str                 # the student id (the roster's, when a roster is given)
    path: str                    # the graded file ("" when nothing was handed in)
    notebook: str                # "" when it could not be told
    identified_by: str
    run: RunReport
    results: list                # ExerciseResult, in exercise order
    name: str = ""               # display name (roster or LMS)
    lms_id: str = ""             # Canvas / Moodle user id
    lms: str = ""                # "canvas", "moodle" or ""
    lms_prefix: str = ""         # the LMS's own name for this hand-in (feedback files for upload use it)
    attempt: int = 0             # 0: the only (or latest) attempt; with --all-attempts, 1, 2, ... in order
    attempts: int = 1            # how many attempts this student handed in for this notebook

    @property
    def total(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    @classmethod
    def from_json(cls, data) -> "Graded":
        data = _fields(cls, data)
        data["run"] = RunReport.from_json(data.get("run"))
        data["results"] = [ExerciseResult.from_json(r) for r in data.get("results", [])]
        return cls(**data)
