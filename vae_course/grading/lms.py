"""Learning platforms: what their submission downloads are called, and the gradebooks they import.

**Names of downloaded submissions** (:func:`parse_name`):

* **Canvas** ("Download Submissions"): flat files
  ``<login>[_LATE]_<user id>_<submission id>_<file name as uploaded>``, e.g.
  ``klumheidi_4521_88123_03_reparameterization.ipynb`` (the login is the student's sortable
  name in lower case: ``klumheidi``). A file resubmitted under the same name gets ``-1``,
  ``-2``, ... before its extension.
* **Moodle** ("Download all submissions"): one folder per student
  ``<Full name>_<participant id>_assignsubmission_file`` (before Moodle 4.1 with a trailing
  ``_``), or - with "download submissions in folders" off - that prefix in front of each file
  name: ``Lena Maier_1234567_assignsubmission_file_02_elbo.ipynb``.
* **Copies** a browser or file manager made: ``02_elbo (1).ipynb`` is attempt 1 of ``02_elbo``.

**Gradebooks they import** (written next to the gradebook, one column per notebook,
one row per student; see docs/teaching.md, "Upload to your learning platform"):

* ``<stem>_canvas.csv`` for Canvas (Grades › Import): ``Student, ID, SIS User ID, SIS Login ID,
  Section``, then one column per notebook, and a ``Points Possible`` row;
* ``<stem>_moodle.csv`` for Moodle (Grades › Import › CSV file): ``Full name, User id, Email
  address``, then one column per notebook; map ``User id`` (or ``Email address``) to the user.

Moodle's feedback importer ("Upload multiple feedback files in a zip") finds the student by
the same prefix as the download (:func:`moodle_feedback_path`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

CANVAS = re.compile(r"^(?P<login>[^_]+?)(?:_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$", re.IGNORECASE)
MOODLE = re.compile(r"^(?P<name>[^_]+)_(?P<participant>\d+)_(?P<plugin>assign(?:submission|feedback)_[a-z]+)"
                    r"(?:_(?P<file>.*))?$")
COPY_SUFFIX = re.compile(r"^(?P<stem>.*?) \((?P<n>\d+)\)$")       # "02_elbo (1)"
CANVAS_RESUBMISSION = re.compile(r"^(?P<stem>.*?)-(?P<n>\d+)$")   # "03_reparameterization-1"


@dataclass
class NameInfo:
    """What a submission's file or folder name says about it."""

    student: str             # the student id the name gives (before matching a roster)
    original: str            # the file name as the student uploaded it (without the platform's prefix)
    name: str = ""           # display name, when the platform gives one (Moodle)
    lms: str = ""            # "canvas", "moodle" or ""
    lms_id: str = ""         # the platform's user / participant id
    lms_prefix: str = ""     # the platform's prefix for this student (Moodle: the folder name)
    attempt: int = 0         # resubmission number from the name (0: none)
    submission_id: int = 0   # Canvas's submission id (later submissions have larger ids)


def _attempt(stem: str, canvas: bool) -> tuple[str, int]:
    """``("02_elbo", 1)`` for ``"02_elbo (1)"`` (and ``"..-1"`` for Canvas); ``(stem, 0)`` otherwise."""
    for pattern in ((COPY_SUFFIX, CANVAS_RESUBMISSION) if canvas else (COPY_SUFFIX,)):
        match = pattern.match(stem)
        if match:
            return match.group("stem"), int(match.group("n"))
    return stem, 0


def parse_lms(name: str) -> NameInfo | None:
    """The Canvas or Moodle reading of one file or folder name, or None if it is neither."""
    match = MOODLE.match(name)
    if match:
        prefix = f"{match.group('name')}_{match.group('participant')}_{match.group('plugin')}"
        return NameInfo(student=match.group("name"), original=match.group("file") or "", name=match.group("name"),
                        lms="moodle", lms_id=match.group("participant"), lms_prefix=prefix)
    match = CANVAS.match(name)
    if match:
        return NameInfo(student=match.group("login"), original=match.group("file"), lms="canvas",
                        lms_id=match.group("user"), submission_id=int(match.group("submission")))
    return None


def parse_name(file: PurePath, folder: str | None = None) -> NameInfo:
    """What the name of ``file`` (inside the per-student ``folder``, if any) says about the submission.

    A per-student folder names the student (its Moodle reading if it has one, else the folder
    name itself); a loose file is named by its Canvas or Moodle reading, else by its stem
    (``alice.ipynb`` -> ``alice``; a copy ``alice (1).ipynb`` is attempt 1 of ``alice``).
    """
    file = PurePath(file)
    if folder is not None:
        info = parse_lms(folder)
        if info is None or info.lms != "moodle":
            info = NameInfo(student=folder, original="")
        inner = parse_lms(file.name)
        info.original = inner.original if inner and inner.lms == "moodle" and inner.original else file.name
        info.attempt = _attempt(PurePath(info.original).stem, canvas=False)[1]
        return info
    info = parse_lms(file.name)
    if info is None:
        stem, attempt = _attempt(file.stem, canvas=False)
        return NameInfo(student=stem, original=file.name, attempt=attempt)
    original = PurePath(info.original)
    stem, info.attempt = _attempt(original.stem, canvas=info.lms == "canvas")
    info.original = stem + original.suffix
    return info


def moodle_feedback_path(lms_prefix: str, notebook: str) -> PurePath:
    """Where a Moodle student's feedback goes inside the feedback folder, for Moodle's zip importer.

    ``moodle/<notebook>/<Full name>_<participant id>_assignsubmission_file/feedback.md``: zip the
    *contents* of ``moodle/<notebook>/`` and upload it to that notebook's assignment.
    """
    return PurePath("moodle", notebook, lms_prefix, "feedback.md")


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def canvas_rows(students: list[dict], notebooks: list[tuple[str, int]]) -> list[list]:
    """Rows of the Canvas import file; ``students``: {"student", "name", "lms_id", "totals": {notebook: points}}."""
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + [nb for nb, _ in notebooks]
    rows = [header, ["Points Possible", "", "", "", ""] + [_points(most) for _, most in notebooks]]
    for s in students:
        rows.append([s["name"] or s["student"], s["lms_id"], "", "", ""]
                    + [_points(s["totals"][nb]) if nb in s["totals"] else "" for nb, _ in notebooks])
    return rows


def moodle_rows(students: list[dict], notebooks: list[tuple[str, int]]) -> list[list]:
    """Rows of the Moodle import file (same ``students`` as :func:`canvas_rows`)."""
    rows = [["Full name", "User id", "Email address"] + [nb for nb, _ in notebooks]]
    for s in students:
        rows.append([s["name"] or s["student"], s["lms_id"], s.get("email", "")]
                    + [_points(s["totals"][nb]) if nb in s["totals"] else "" for nb, _ in notebooks])
    return rows
