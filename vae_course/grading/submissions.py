"""Submissions: find them, read them (once, before anything runs), and tell which notebook each one is.

Nothing here executes student code: notebooks are parsed as JSON and Python
source is only parsed with :mod:`ast`.

**Student ids.** ``SUBMISSION`` arguments are notebooks or folders.

* a notebook given directly, or lying directly in a given folder: what its name says
  (:func:`~vae_course.grading.lms.parse_name`): the Canvas login or Moodle name in a
  platform's download name, else the file stem (``submissions/alice.ipynb`` -> ``alice``) without a
  notebook stem in it (``alice_02_elbo.ipynb`` -> ``alice``: :mod:`~vae_course.grading.naming`);
* notebooks inside a sub-folder of a given folder (one folder per student, as
  most learning platforms export them): the sub-folder's name, or its Moodle reading
  (``submissions/alice/02_elbo.ipynb`` -> ``alice``).

With a roster (:mod:`~vae_course.grading.roster`) the id becomes the roster's. Hidden
files, ``.ipynb_checkpoints`` and nbgrader's ``timestamp.txt`` are skipped silently; every
other file that is not a notebook is skipped and *reported* (:class:`Skipped`), and a
student who handed in only such files still gets rows (``invalid``).

**Which notebook a submission is** (the first rule that answers wins):

1. ``--notebook STEM`` on the command line;
2. ``metadata.vae_course.notebook`` inside the notebook;
3. the ``exercise-<id>`` cell tags (the notebook most tags belong to) - they
   survive renaming the file, which students and platforms often do;
4. a registered notebook stem (``02_elbo``) in the file or folder name - also for a file
   that is not a readable notebook;
5. the exercise function names defined in its code cells;
6. the notebook most other submissions of the same batch were identified as
   (in :mod:`vae_course.grading.batch`).

**Several files for one student and notebook** (a resubmission, a copy): the latest is
graded and the others are reported as skipped (:func:`choose_attempts`); with
``--all-attempts`` every one is graded. Latest means: the highest resubmission number in the
name (``-1`` from Canvas, `` (1)`` from a copy), then the larger Canvas submission id, then
the newer submission time (nbgrader's ``timestamp.txt`` next to the notebook, else the file's
modification time), then the file name.

**Which code is graded** for each exercise: :mod:`~vae_course.grading.extraction` takes it out.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..conventions import defined_functions, exercise_ids
from .extraction import code_cells
from .lms import NameInfo, parse_name
from .protocol import first_line

MAX_BYTES = 200 * 2**20  # larger files are not notebooks a course produces
TIMESTAMP = "timestamp.txt"  # nbgrader's submission time, next to the notebook


# --------------------------------------------------------------------------- finding and reading


def _visible(path: Path) -> bool:
    return not any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


@dataclass
class Skipped:
    """A file that was not graded, and why (the ``<stem>_skipped.csv`` report)."""

    path: Path
    reason: str
    student: str = ""        # the student it belongs to, when that is known
    info: NameInfo | None = None
    kind: str = "not-a-notebook"   # or "older-attempt", "not-in-roster"


def _not_a_notebook(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"):
        return f"an archive ({suffix}), not a notebook: unpack it into the submissions folder and grade again."
    kind = f"a {suffix} file" if suffix else "a file without extension"
    return f"{kind}, not a notebook (.ipynb): ask the student for the .ipynb file."


def submission_time(notebook: Path):
    """The submission time nbgrader recorded next to ``notebook`` (its ``timestamp.txt``; aware, UTC), or None."""
    import datetime

    from dateutil import parser

    stamp = Path(notebook).parent / TIMESTAMP
    try:
        when = parser.parse(stamp.read_text(encoding="utf-8").strip())
    except (OSError, ValueError, OverflowError):
        return None
    utc = datetime.timezone.utc
    return when.replace(tzinfo=utc) if when.tzinfo is None else when.astimezone(utc)


def find_files(paths) -> tuple[list[tuple[Path, NameInfo]], list[Skipped]]:
    """Every notebook under ``paths`` with what its name says, and every other file (reported, not graded).

    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    notebooks, skipped = [], []

    def add(path: Path, folder: str | None) -> None:
        if path.name == TIMESTAMP and any(path.parent.glob("*.ipynb")):
            return  # nbgrader's submission time, read by Submission.order
        info = parse_name(path, folder)
        if path.suffix == ".ipynb":
            notebooks.append((path, info))
        else:
            skipped.append(Skipped(path, _not_a_notebook(path), info.student if folder or info.lms else "", info))

    for given in map(Path, paths):
        if given.is_dir():
            for child in sorted(given.iterdir()):
                if not _visible(child.relative_to(given)):
                    continue
                if child.is_file():
                    add(child, None)
                elif child.is_dir():
                    for inner in sorted(child.rglob("*")):
                        if inner.is_file() and _visible(inner.relative_to(child)):
                            add(inner, child.name)
        elif given.is_file():
            add(given, None)
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    unique, seen = [], set()
    for path, info in notebooks:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, info))
    return unique, skipped


@dataclass
class Submission:
    """One submitted file, read into memory before any submission runs."""

    student: str
    path: Path
    content: bytes = b""
    nb: nbformat.NotebookNode | None = field(default=None, repr=False)
    problem: str = ""          # why it is not a readable notebook ("" if it is)
    notebook: str | None = None
    identified_by: str = ""
    info: NameInfo | None = None
    name: str = ""             # display name (roster, else the platform's)
    lms_id: str = ""
    email: str = ""
    attempt: int = 0           # with --all-attempts: 1, 2, ... oldest first; else 0
    attempts: int = 1

    @property
    def readable(self) -> bool:
        return self.nb is not None

    def order(self) -> tuple:
        """Sort key of a student's attempts at one notebook: larger is later (see the module docstring)."""
        info = self.info or NameInfo(self.student, self.path.name)
        submitted = submission_time(self.path)  # nbgrader's timestamp.txt, else the file's modification time
        try:
            mtime = int(submitted.timestamp() * 1e9) if submitted else self.path.stat().st_mtime_ns
        except OSError:
            mtime = 0
        return info.attempt, info.submission_id, mtime, str(self.path)


def parse_notebook(content: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook in ``content``, or None and the reason it is not a readable notebook."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not a readable notebook: invalid JSON ({err.msg} at line {err.lineno}, column {err.colno})."
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return None, "not a Jupyter notebook: the JSON has no cells."
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        for cell in nb.cells:  # what the grader relies on, whatever the schema said
            assert isinstance(cell.get("source", ""), str) and isinstance(cell.get("metadata", {}), dict)
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds of errors
        return None, f"not a valid notebook: {first_line(err) or type(err).__name__}"
    return nb, ""


def read_submission(student: str, path: Path, info: NameInfo | None = None) -> Submission:
    """Read and parse one submission (never raises for a bad file)."""
    sub = Submission(student=student, path=Path(path), info=info, name=info.name if info else "",
                     lms_id=info.lms_id if info else "")
    try:
        size = sub.path.stat().st_size
        if size > MAX_BYTES:
            sub.problem = f"not a notebook a course produces: {size / 2**20:.0f} MB."
            return sub
        sub.content = sub.path.read_bytes()
    except OSError as err:
        sub.problem = f"could not read the file ({err.strerror})."
        return sub
    sub.nb, sub.problem = parse_notebook(sub.content)
    return sub


def choose_attempts(subs: list[Submission], all_attempts: bool = False) -> tuple[list[Submission], list[Skipped]]:
    """One submission per student and notebook - the latest - unless ``all_attempts``; the rest as skipped."""
    groups: dict[tuple, list[Submission]] = {}
    for sub in subs:
        groups.setdefault((sub.student, sub.notebook), []).append(sub)
    kept, skipped = [], []
    for group in groups.values():
        group.sort(key=Submission.order)
        if len(group) == 1:
            kept.append(group[0])
        elif all_attempts:
            for number, sub in enumerate(group, start=1):
                sub.attempt, sub.attempts = number, len(group)
                kept.append(sub)
        else:
            latest = group[-1]
            latest.attempts = len(group)
            kept.append(latest)
            skipped += [Skipped(sub.path, f"an older attempt: {latest.path.name} was graded "
                                "(--all-attempts grades every one).", sub.student, sub.info, "older-attempt")
                        for sub in group[:-1]]
    return kept, skipped


# --------------------------------------------------------------------------- which notebook


def _most_common(counts: Counter, order: list[str]) -> str | None:
    if not counts:
        return None
    return max(counts, key=lambda stem: (counts[stem], -order.index(stem)))


def _by_file_name(sub: Submission, stems: list[str]) -> str | None:
    names = " ".join(sub.path.parts[-3:])
    named = [stem for stem in stems if stem in names]
    return max(named, key=len) if named else None


def identify(sub: Submission, registry: dict, override: str | None = None) -> None:
    """Set ``sub.notebook`` and ``sub.identified_by`` (rules 1-5 of the module docstring)."""
    stems = sorted({entry.notebook for entry in registry.values()})
    if override:
        sub.notebook, sub.identified_by = override, "--notebook"
        return
    if not sub.readable:  # only its name can tell
        sub.notebook = _by_file_name(sub, stems)
        sub.identified_by = "file name" if sub.notebook else ""
        return
    meta = sub.nb.metadata.get("vae_course", {})
    if isinstance(meta, dict) and meta.get("notebook") in stems:
        sub.notebook, sub.identified_by = meta["notebook"], "notebook metadata"
        return
    tagged = Counter(registry[i].notebook for cell in sub.nb.cells for i in exercise_ids(cell) if i in registry)
    if tagged:
        sub.notebook, sub.identified_by = _most_common(tagged, stems), "exercise tags"
        return
    named = _by_file_name(sub, stems)
    if named:
        sub.notebook, sub.identified_by = named, "file name"
        return
    defined = {name for cell in code_cells(sub.nb) for name in defined_functions(cell.tree)}
    functions = Counter(e.notebook for e in registry.values() if e.function in defined)
    if functions:
        sub.notebook, sub.identified_by = _most_common(functions, stems), "function names"
