"""The class list (``--roster roster.csv``): who should be in the gradebook, and whose file is whose.

A roster is a CSV file with a header row. Columns (case does not matter):

* ``student`` (required; also read as ``id``, ``username`` or ``login``): the id the
  gradebook uses;
* ``name`` (optional; ``full name``, ``display name``): shown in feedback and LMS exports;
* ``lms_id`` (optional; ``canvas id``, ``moodle id``, ``user id``): the learning platform's
  user id - the number in Canvas and Moodle download names;
* ``email`` (optional; ``email address``): written to the Moodle export.

A submission belongs to the roster student whose ``lms_id`` is the one in its name, else
whose ``student`` id is its name (case and punctuation ignored), else whose ``name`` matches
it - also as Canvas writes names, last name first (``Heidi Klum`` -> ``klumheidi``). With a
roster every roster student gets rows in the gradebook (``missing`` when nothing was handed
in), and files that belong to no roster student are listed, not graded.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .lms import NameInfo
from .tables import read_rows

COLUMNS = {"student": ("student", "id", "student id", "username", "login"),
           "name": ("name", "full name", "display name"),
           "lms_id": ("lms_id", "lms id", "canvas id", "moodle id", "user id"),
           "email": ("email", "email address")}


class RosterError(Exception):
    """The roster file cannot be used; the message says where and what to do, in one line."""


@dataclass(frozen=True)
class RosterStudent:
    student: str
    name: str = ""
    lms_id: str = ""
    email: str = ""


def normalise(text: str) -> str:
    """Lower-case letters and digits only, accents removed: ``"Müller, Jo"`` -> ``"mullerjo"``."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return "".join(c for c in text.casefold() if c.isalnum())


def _name_keys(name: str) -> set[str]:
    """A display name as written and last-name-first (how Canvas spells logins)."""
    words = name.replace(",", " ").split()
    keys = {normalise(name)} if name else set()
    if len(words) > 1:
        keys.add(normalise(words[-1] + "".join(words[:-1])))
    return keys - {""}


class Roster:
    """The class list, in file order."""

    def __init__(self, students: list[RosterStudent]):
        self.students = students
        self.by_id = {s.student: s for s in students}

    @classmethod
    def read(cls, path) -> "Roster":
        """Read and check a roster file (see the module docstring); raises :class:`RosterError`."""
        path = Path(path)
        header, rows = read_rows(path, what="roster", error=RosterError)
        if not header:
            raise RosterError(f"roster {path} is empty; it needs a header row with a 'student' column.")
        index = {}
        for column, aliases in COLUMNS.items():
            found = [i for i, title in enumerate(header) if title.strip().casefold() in aliases]
            if found:
                index[column] = found[0]
        if "student" not in index:
            raise RosterError(f"roster {path} has no 'student' column (its header is {', '.join(header)}); "
                              "name the column of student ids 'student'.")
        students, seen = [], {}
        for line, row in rows:
            values = {c: (row[i].strip() if i < len(row) else "") for c, i in index.items()}
            if not values["student"]:
                raise RosterError(f"roster {path}, line {line}: the student id is empty.")
            if values["student"] in seen:
                raise RosterError(f"roster {path}, line {line}: student {values['student']!r} is listed twice "
                                  f"(first on line {seen[values['student']]}).")
            seen[values["student"]] = line
            students.append(RosterStudent(**values))
        if not students:
            raise RosterError(f"roster {path} lists no students.")
        return cls(students)

    def match(self, info: NameInfo) -> tuple[RosterStudent | None, str]:
        """The roster student a submission belongs to, or None and why not."""
        if info.lms_id:
            by_lms = [s for s in self.students if s.lms_id and s.lms_id == info.lms_id]
            if len(by_lms) == 1:
                return by_lms[0], ""
        keys = {normalise(info.student)} | _name_keys(info.name)
        keys.discard("")
        by_id = [s for s in self.students if normalise(s.student) in keys]
        if len(by_id) == 1:
            return by_id[0], ""
        by_name = [s for s in self.students if _name_keys(s.name) & keys]
        if len(by_name) == 1:
            return by_name[0], ""
        several = by_id or by_name
        if several:
            return None, "its name matches several roster students: " + ", ".join(s.student for s in several)
        return None, "it belongs to no student of the roster"
