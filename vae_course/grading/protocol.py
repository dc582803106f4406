"""The grader's typed protocol: what crosses a process boundary, and what the gradebook holds.

**What crosses a process boundary** (batch -> supervisor -> checker and back, and the
``gradebook.json`` a later ``--student`` run reads) is a small dataclass with ``to_json``
and ``from_json``. ``from_json`` never trusts its input: unknown statuses become
``error``/``failed`` and missing fields take their defaults, so a garbled line from a
crashed process cannot crash the grader.

The vocabulary these records use (:class:`Status`, :class:`RunStatus`, :class:`Code`,
:class:`ExerciseOutcome`) lives one layer down, in :mod:`vae_course.results`, shared with
the exercise checks; it is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..results import (  # noqa: F401 - the vocabulary, re-exported for the grader's modules
    RUN_FAILURES,
    Code,
    ExerciseOutcome,
    RunStatus,
    Status,
    _fields,
    _Message,
    _text,
    describe_error,
    exercise_key,
    first_line,
    slug,
)

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
class CheckerTask(_Message):
    """Everything one checker process needs (supervisor -> checker)."""

    nonce: str
    timeout: float
    memory: int
    checks_files: list
    exercises: list   # ExerciseJob
    allow_reference_calls: bool = False  # answers may call the exercise's own reference (--allow-reference-calls)
    hidden_seeds: dict = field(default_factory=dict)  # {exercise id: seed}: the check again on other inputs

    @classmethod
    def from_json(cls, data) -> "CheckerTask":
        data = _fields(cls, data)
        return cls(nonce=data["nonce"], timeout=float(data["timeout"]), memory=int(data.get("memory") or 0),
                   checks_files=list(data.get("checks_files", [])),
                   exercises=[ExerciseJob.from_json(e) for e in data.get("exercises", [])],
                   allow_reference_calls=bool(data.get("allow_reference_calls", False)),
                   hidden_seeds={str(k): int(v) for k, v in dict(data.get("hidden_seeds") or {}).items()})


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
    hidden_seeds: dict = field(default_factory=dict)  # for the checker (see CheckerTask)

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
