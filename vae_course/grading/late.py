"""Late submissions: a deadline, per-student extensions and a penalty rule, applied to the gradebook.

``vae-course grade --deadline "2026-12-01 18:00 UTC" [--extensions CSV] [--late-penalty RULE]``.

* **When a notebook was handed in**: nbgrader's ``timestamp.txt`` next to it, else the file's
  modification time (keep it when copying: ``cp -p``, ``unzip`` keeps the archive's times).
* **When it was due**: the student's row in the extensions file (columns ``student, deadline``),
  else ``--deadline``. Times without a zone are UTC.
* **The rule** (:func:`parse_rule`): ``none`` (the default: late work is only noted), ``zero``,
  or ``N%/day`` (N percent of the points per started day late, at most all of them).

A late notebook's results get a note saying by how much it was late; where the rule takes points,
the check's points are kept in ``checked_points`` and the reason shows in the gradebook's
``override`` column and in the feedback, exactly like a teacher's override. A teacher's override
of an exercise (``--overrides``) wins over the rule.
"""

from __future__ import annotations

import csv
import datetime
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .options import GradingError
from .submissions import submission_time

UTC = datetime.timezone.utc
RULE = re.compile(r"^(?P<percent>\d+(?:\.\d+)?)%/day$")


def parse_time(text: str, what: str) -> datetime.datetime:
    """An aware time from ``text`` (UTC when it names no zone); :class:`GradingError` naming ``what`` otherwise.

    A zone is UTC or an offset (``+01:00``): a name such as ``CET`` is refused, not silently read as UTC.
    """
    from dateutil import parser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", parser.UnknownTimezoneWarning)
            when = parser.parse(text)
    except parser.UnknownTimezoneWarning:
        raise GradingError(f"{what}: {text!r} names a time zone the grader does not know: give UTC or an offset "
                           "such as +01:00.") from None
    except (ValueError, OverflowError):
        raise GradingError(f"{what}: {text!r} is not a date and time (e.g. 2026-12-01 18:00 UTC).") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def parse_rule(rule: str) -> float | None:
    """The fraction of the points lost per started day late (``math.inf``: all of them), or None for ``none``."""
    rule = rule.strip().lower()
    if rule == "none":
        return None
    if rule == "zero":
        return math.inf
    match = RULE.match(rule.replace(" ", ""))
    if not match:
        raise GradingError(f"--late-penalty must be none, zero or N%/day, e.g. 10%/day (got {rule!r}).")
    return float(match.group("percent")) / 100


@dataclass(frozen=True)
class LatePolicy:
    deadline: datetime.datetime
    rule: str = "none"
    extensions: dict = field(default_factory=dict)  # student id -> their own deadline

    @classmethod
    def read(cls, deadline: str, rule: str = "none", extensions: str | None = None) -> "LatePolicy":
        """The policy of the command line; raises :class:`GradingError` for a bad time, rule or file."""
        parse_rule(rule)
        own = {}
        if extensions:
            try:
                with open(extensions, newline="", encoding="utf-8-sig") as f:
                    rows = list(csv.DictReader(f))
            except OSError as err:
                raise GradingError(f"cannot read the extensions file {extensions} ({err.strerror}).") from None
            for number, row in enumerate(rows, start=2):
                if not row.get("student") or not row.get("deadline"):
                    raise GradingError(f"{extensions}, line {number}: give a student and a deadline.")
                own[row["student"].strip()] = parse_time(row["deadline"], f"{extensions}, line {number}")
        return cls(parse_time(deadline, "--deadline"), rule, own)

    def due(self, student: str) -> datetime.datetime:
        return self.extensions.get(student, self.deadline)

    def kept(self, late: datetime.timedelta) -> float:
        """The fraction of the points a notebook ``late`` past its deadline keeps."""
        per_day = parse_rule(self.rule)
        if per_day is None or late <= datetime.timedelta(0):
            return 1.0
        days = math.ceil(late / datetime.timedelta(days=1))
        return max(0.0, 1.0 - per_day * days) if math.isfinite(per_day) else 0.0


def handed_in(path: Path) -> datetime.datetime | None:
    """When ``path`` was handed in: nbgrader's timestamp.txt, else its modification time (None: unknown)."""
    when = submission_time(path)
    if when is None:
        try:
            when = datetime.datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            return None
    return when


def _duration(late: datetime.timedelta) -> str:
    hours = late.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def apply_late(graded: list, policy: LatePolicy) -> None:
    """Note late notebooks and apply the penalty rule to their results (in place)."""
    for g in graded:
        when = handed_in(Path(g.path)) if g.path else None
        due = policy.due(g.student)
        if when is None or when <= due:
            continue
        kept = policy.kept(when - due)
        reason = (f"handed in {_duration(when - due)} late (due {due.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
                  f"rule: {policy.rule})")
        for r in g.results:
            r.notes = [*r.notes, reason] if reason not in r.notes else r.notes  # once, also on a re-grade
            if kept < 1 and r.points and not r.override:  # a teacher's override wins
                r.checked_points, r.override = r.points, reason
                r.points = round(r.points * kept, 2)
