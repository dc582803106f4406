"""Where grading writes, checked before the first submission runs; and writing it safely.

From ``--out grades/gradebook.csv`` (:meth:`OutputPaths.plan`):

==============================  =============================================================
``gradebook.csv``               the tidy long table: one row per student, notebook and exercise
``gradebook_totals.csv``        one row per student and notebook
``gradebook_canvas.csv``        for Canvas's gradebook import (one column per notebook)
``gradebook_moodle.csv``        for Moodle's gradebook import (one column per notebook)
``gradebook_class.md`` / .csv   the class report (:mod:`~vae_course.grading.classreport`)
``gradebook_skipped.csv``       files that were not graded, and why
``gradebook_results.json``      everything, for ``--student`` re-grading and overrides
``--feedback DIR``              one Markdown file per student (+ ``moodle/`` for upload)
==============================  =============================================================

:meth:`OutputPaths.check` makes sure each of them can be written - its folder exists or can
be created, nothing in the way is a file, no output is a folder - *before* grading starts,
so a bad path costs a one-line error, not a class's results.

**The feedback folder holds exactly the students graded**: the grader keeps a list of the
files it wrote there (``.vae-course-feedback``) and on the next run removes those it does
not write again. It refuses a folder holding files it did not write (pick an empty or new
folder), so it never deletes anything of yours.

Files are written atomically (a temporary file in the same folder, then ``os.replace``):
an interrupted run leaves the previous file or none, never half of one. They get the usual
permissions of a new file (``0666`` minus your umask, e.g. ``0644``), so teaching assistants
in your group can read them.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .options import GradingError

MANIFEST = ".vae-course-feedback"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file is normally group-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _why(err: OSError) -> str:
    return err.strerror or errno.errorcode.get(err.errno or 0, str(err))


def _probe_folder(folder: Path, what: str) -> None:
    """Make sure files can be created in ``folder`` (creating it, then removing what the probe created)."""
    missing = []
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise GradingError(f"cannot write {what}: {existing} is a broken link.")
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise GradingError(f"cannot write {what}: {existing} is a file, not a folder.")
    created = []
    try:
        for part in reversed(missing):
            part.mkdir()
            created.append(part)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".vae-course-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise GradingError(f"cannot write {what} in {folder} ({_why(err)}); choose another place.") from None
    finally:
        for part in reversed(created):
            try:
                part.rmdir()
            except OSError:
                pass


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class OutputPaths:
    """Every file a grading run writes (see the module docstring)."""

    gradebook: Path
    totals: Path
    canvas: Path
    moodle: Path
    class_md: Path
    class_csv: Path
    skipped: Path
    state: Path
    feedback: Path | None

    @classmethod
    def plan(cls, out, feedback=None) -> "OutputPaths":
        out = Path(out)
        if out.suffix.lower() != ".csv":
            raise GradingError(f"--out must name a .csv file, e.g. grades/gradebook.csv (got {out}).")
        name = lambda suffix: out.with_name(f"{out.stem}_{suffix}")  # noqa: E731
        return cls(gradebook=out, totals=name("totals.csv"), canvas=name("canvas.csv"), moodle=name("moodle.csv"),
                   class_md=name("class.md"), class_csv=name("class.csv"), skipped=name("skipped.csv"),
                   state=name("results.json"), feedback=Path(feedback) if feedback else None)

    def files(self) -> list[Path]:
        return [self.gradebook, self.totals, self.canvas, self.moodle, self.class_md, self.class_csv, self.skipped,
                self.state]

    def check(self, submissions=()) -> None:
        """Raise :class:`GradingError` unless every output can be written (nothing is created or changed)."""
        for path in self.files():
            if path.is_dir():
                raise GradingError(f"cannot write {path}: it is a folder; --out must name a file.")
            for given in map(Path, submissions):
                if given.is_dir() and _inside(path, given):
                    raise GradingError(f"--out {self.gradebook} is inside the submissions folder {given}; "
                                       "put the gradebook elsewhere.")
        _probe_folder(self.gradebook.parent, str(self.gradebook))
        if self.feedback is None:
            return
        folder = self.feedback
        if folder.exists() and not folder.is_dir():
            raise GradingError(f"--feedback {folder} is a file; it must be a folder (it will be created).")
        for path in self.files():
            if _inside(path, folder):
                raise GradingError(f"--feedback {folder} must be a folder of its own: {path.name} would be "
                                   "written inside it.")
        for given in map(Path, submissions):
            if given.is_dir() and _inside(folder, given):
                raise GradingError(f"--feedback {folder} is inside the submissions folder {given}; "
                                   "put the feedback elsewhere.")
        foreign = sorted(str(p.relative_to(folder)) for p in self._unknown_files())
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise GradingError(f"--feedback {folder} holds files the grader did not write ({shown}); "
                               "choose an empty or new folder (the grader removes only files it wrote).")
        _probe_folder(folder, "the feedback")

    def _manifest(self) -> set[str]:
        try:
            data = json.loads((self.feedback / MANIFEST).read_text(encoding="utf-8"))
            return {str(p) for p in data} if isinstance(data, list) else set()
        except (OSError, ValueError):
            return set()

    def _unknown_files(self) -> list[Path]:
        if self.feedback is None or not self.feedback.is_dir():
            return []
        known = self._manifest()
        return [p for p in sorted(self.feedback.rglob("*"))
                if not p.is_dir() and p.name != MANIFEST and not p.name.startswith(".")
                and str(p.relative_to(self.feedback).as_posix()) not in known]

    def write(self, files: dict[Path, str], feedback: dict[str, str]) -> None:
        """Write the output ``files`` and the ``feedback`` files (relative paths), then remove stale feedback."""
        for path, text in files.items():
            atomic_write(path, text)
        if self.feedback is None:
            return
        old = self._manifest()
        for relative, text in sorted(feedback.items()):
            atomic_write(self.feedback / relative, text)
        atomic_write(self.feedback / MANIFEST, json.dumps(sorted(feedback), indent=1) + "\n")
        for relative in sorted(old - set(feedback)):  # students no longer graded
            stale = self.feedback / relative
            if _inside(stale, self.feedback):
                stale.unlink(missing_ok=True)
                for parent in stale.parents:  # and the folders that held only them
                    if parent == self.feedback or not _inside(parent, self.feedback):
                        break
                    try:
                        parent.rmdir()
                    except OSError:
                        break
