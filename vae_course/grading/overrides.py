"""Manual overrides (``--overrides overrides.csv``): the teacher sets an exercise's points, with a reason.

A CSV file with a header row and the columns ``student``, ``exercise``, ``points`` and
``reason`` (all required; ``notebook`` optional - the exercise id tells it). Every grading
run applies the file: the gradebook's ``points`` become the teacher's, its ``override``
column and the student's feedback show the reason and what the check gave. The check's own
result is kept (``gradebook_results.json``), so removing a line and grading again (or
re-grading one student with ``--student``) restores it.

The file is checked before anything is graded: unknown students or exercises, points
outside ``0 .. max points`` and a missing reason are one-line errors naming the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .options import GradingError
from .protocol import Graded
from .tables import read_rows

REQUIRED = ("student", "exercise", "points", "reason")


@dataclass(frozen=True)
class Override:
    student: str
    exercise: str
    points: float
    reason: str
    line: int


def read_overrides(path, registry: dict, students: set[str] | None = None) -> list[Override]:
    """Read and check an overrides file; ``students`` (if given) are the ids it may name."""
    path = Path(path)
    first, rows = read_rows(path, what="overrides file", error=GradingError)
    if not first:
        return []
    header = [h.strip().casefold() for h in first]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise GradingError(f"overrides file {path} needs the columns {', '.join(REQUIRED)} "
                           f"(missing: {', '.join(missing)}).")
    found, seen = [], {}
    for line, row in rows:
        values = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        where = f"overrides file {path}, line {line}"
        student, ex_id, reason = values["student"], values["exercise"], values["reason"]
        if ex_id not in registry:
            raise GradingError(f"{where}: there is no exercise {ex_id!r}.")
        if students is not None and student not in students:
            raise GradingError(f"{where}: there is no student {student!r} in this class.")
        most = registry[ex_id].points
        try:
            value = float(values["points"])
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 <= value <= most):
            raise GradingError(f"{where}: points must be a number from 0 to {most} (got {values['points']!r}).")
        if not reason:
            raise GradingError(f"{where}: give a reason (the student sees it in their feedback).")
        if (student, ex_id) in seen:
            raise GradingError(f"{where}: {student} / {ex_id} is overridden twice (first on line "
                               f"{seen[(student, ex_id)]}).")
        seen[(student, ex_id)] = line
        found.append(Override(student, ex_id, value, reason, line))
    return found


def apply_overrides(graded: list[Graded], overrides: list[Override]) -> None:
    """Set the overridden points (in place); the check's points are kept in ``checked_points``."""
    wanted = {(o.student, o.exercise): o for o in overrides}
    for g in graded:
        for r in g.results:
            override = wanted.get((g.student, r.exercise))
            if override is None:
                continue
            if r.checked_points is None:
                r.checked_points = r.points
            r.points, r.override = override.points, override.reason
