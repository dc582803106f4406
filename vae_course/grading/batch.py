"""Grade a batch of submissions, in three steps:

1. :func:`prepare` - find every file, read every notebook (all of them, before anything
   runs), match each to a roster student, tell which notebook it is, keep the latest
   attempt, and list what is skipped and why;
2. :func:`grade_prepared` - one supervisor process per submission, in parallel, run by an
   executor (:mod:`~vae_course.grading.runner`: on this machine, or one Dask task each with
   :mod:`~vae_course.grading.cluster`), each result a typed
   :class:`~vae_course.grading.protocol.Graded`;
3. :func:`complete` - rows for students who handed in no notebook (roster students:
   ``missing``; a ``.py`` instead of a notebook: ``invalid``), the previous results of
   everyone else for a ``--student`` re-grade, and the teacher's overrides.

The files are written afterwards by :mod:`~vae_course.grading.outputs` from
:mod:`~vae_course.grading.report`.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from . import report
from .integrity import grader_digests
from .naming import check_matched, not_assigned, without_notebook
from .options import GradingError, Options
from .overrides import Override, apply_overrides
from .protocol import Code, Graded, RunReport, RunStatus, Status
from .roster import Roster
from .runner import Batch, exercise_rows, exercises_of, grade_here
from .submissions import Skipped, Submission, choose_attempts, find_files, identify, read_submission

__all__ = ["GradingError", "Options", "Prepared", "prepare", "grade_prepared", "complete", "grade"]


def load_checks(options: Options) -> dict:
    """Import the ``--checks`` files (registering their exercises); returns the registry."""
    from ..checks import REGISTRY, ChecksFileError, load_checks_file

    for path in options.checks_files:
        try:
            load_checks_file(path)
        except ChecksFileError as err:
            raise GradingError(str(err)) from None
    return REGISTRY


# --------------------------------------------------------------------------- step 1: prepare


@dataclass
class Prepared:
    """Everything read before grading starts."""

    subs: list[Submission]                         # to grade
    skipped: list[Skipped]                         # not graded, and why
    registry: dict
    roster: Roster | None = None
    notebooks: set = field(default_factory=set)    # the notebooks of this batch
    students: set = field(default_factory=set)     # every student id known (roster and files)
    only: tuple = ()                               # --student: re-grade only these
    assignments: tuple = ()                        # --assignment: grade only these notebooks


def _match_roster(roster: Roster, subs: list[Submission], skipped: list[Skipped]) -> tuple[list, list]:
    kept = []
    for sub in subs:
        student, why = roster.match(sub.info)
        if student is None:
            skipped.append(Skipped(sub.path, f"{why} (add them to the roster, or fix the file name).",
                                   sub.student, sub.info, "not-in-roster"))
            continue
        sub.student, sub.name, sub.email = student.student, student.name or sub.name, student.email
        sub.lms_id = student.lms_id or sub.lms_id
        kept.append(sub)
    for item in skipped:
        if item.kind == "not-a-notebook" and item.info is not None and item.student:
            student, _ = roster.match(item.info)
            item.student = student.student if student else ""
    return kept, skipped


def prepare(paths, options: Options, *, roster: Roster | None = None, only=()) -> Prepared:
    """Find, read (all of them, before anything runs), match and identify the submissions."""
    registry = load_checks(options)
    stems = {e.notebook for e in registry.values()}
    for given in (options.notebook, *options.assignments):
        if given and given not in stems:
            raise GradingError(f"unknown notebook {given!r}; registered notebooks: {', '.join(sorted(stems))}")
    found, skipped = find_files(paths)
    found = [(path, without_notebook(info, stems)) for path, info in found]  # alice_02_elbo.ipynb: alice
    subs = [read_submission(info.student, path, info) for path, info in found]
    if roster is not None:
        subs, skipped = _match_roster(roster, subs, skipped)
        check_matched(subs, skipped, roster)
    for sub in subs:
        identify(sub, registry, options.notebook)
    common = Counter(s.notebook for s in subs if s.notebook).most_common(1)
    for sub in subs:
        if sub.notebook is None and common:
            sub.notebook, sub.identified_by = common[0][0], "the rest of the batch"
    subs, others = not_assigned(subs, options.assignments)
    skipped += [Skipped(sub.path, why, sub.student, sub.info, "not-assigned") for sub, why in others]
    subs, older = choose_attempts(subs, options.all_attempts)
    students = {s.student for s in subs} | {s.student for s in skipped if s.student}
    if roster is not None:
        students |= set(roster.by_id)
    notebooks = {s.notebook for s in subs if s.notebook} | ({options.notebook} if options.notebook else set())
    notebooks |= set(options.assignments)
    prepared = Prepared(subs, skipped + older, registry, roster, notebooks, students, tuple(only),
                        options.assignments)
    if only:
        unknown = [s for s in only if s not in students]
        if unknown:
            raise GradingError(f"--student {unknown[0]}: no such student in these submissions"
                               + (" or the roster" if roster else "") + ".")
        prepared.subs = [s for s in subs if s.student in only]
    if not subs and not skipped and roster is None:
        raise GradingError("no submissions found (.ipynb files or folders of them)")
    return prepared


# --------------------------------------------------------------------------- step 2: grade


def grade_prepared(prepared: Prepared, options: Options, progress: bool = False,
                   scheduler: str | None = None, *, executor=None) -> list[Graded]:
    """Grade the submissions of :func:`prepare`; raises :class:`GradingError` if the grader's files changed.

    ``executor(batch, subs, progress=...)`` runs the supervisors (:mod:`~vae_course.grading.runner`);
    by default :func:`~vae_course.grading.runner.grade_here`, on this machine. With ``scheduler`` (a
    Dask scheduler's address, a scheduler file, or ``"local"``) each submission is graded as one task
    on a Dask cluster instead (:func:`~vae_course.grading.cluster.grade_on_cluster`).
    """
    subs = prepared.subs
    before = grader_digests({s.notebook for s in subs}, prepared.registry)
    if executor is None and scheduler:
        from .cluster import grade_on_cluster

        executor = functools.partial(grade_on_cluster, scheduler=scheduler)
    executor = executor or grade_here
    batch = Batch(options)
    try:
        graded = executor(batch, subs, progress=progress)
    finally:
        batch.close()
    _check_unchanged(before, subs, prepared)
    return report.sorted_graded(graded)


def _check_unchanged(before: dict, subs: list[Submission], prepared: Prepared) -> None:
    after = grader_digests({s.notebook for s in subs}, prepared.registry)
    changed = [f for f, digest in after.items() if before.get(f) != digest]
    if changed:
        raise GradingError("the grader's own files changed during grading (a submission may have edited them): "
                           + ", ".join(changed) + ". Restore them (e.g. git checkout) and grade again.")


# --------------------------------------------------------------------------- step 3: complete


def _not_a_notebook_rows(prepared: Prepared, graded: list[Graded]) -> list[Graded]:
    """Students who handed in only files that are not notebooks (``02_elbo.py``) get ``invalid`` rows."""
    have = {(g.student, g.notebook) for g in graded}
    students_graded = {g.student for g in graded}
    stems = sorted({e.notebook for e in prepared.registry.values()})
    rows: dict[tuple, Graded] = {}
    for item in prepared.skipped:
        if item.kind != "not-a-notebook" or not item.student or item.info is None:
            continue
        if prepared.only and item.student not in prepared.only:
            continue
        named = [stem for stem in stems if stem in " ".join(item.path.parts[-2:])]
        notebook = max(named, key=len) if named else ""
        if prepared.assignments and notebook not in prepared.assignments:
            continue
        if (item.student, notebook) in have or (not notebook and item.student in students_graded):
            continue
        key = (item.student, notebook)
        message = f"handed in `{item.path.name}`, which is not a notebook (.ipynb): only notebooks can be graded."
        if key in rows:
            continue
        rows[key] = Graded(item.student, str(item.path), notebook, "file name" if notebook else "",
                           RunReport(RunStatus.INVALID, message),
                           exercise_rows(exercises_of(notebook), Status.INVALID, Code.NOT_A_NOTEBOOK, message,
                                 "Hand in the .ipynb file itself (in JupyterLab: right-click it › Download)."),
                           name=item.info.name, lms_id=item.info.lms_id, lms=item.info.lms,
                           lms_prefix=item.info.lms_prefix)
    return list(rows.values())


def _missing_rows(prepared: Prepared, graded: list[Graded]) -> list[Graded]:
    """Every roster student gets rows for every notebook of the batch: ``missing`` when nothing was handed in."""
    if prepared.roster is None:
        return []
    have = {(g.student, g.notebook) for g in graded}
    rows = []
    for student in prepared.roster.students:
        if prepared.only and student.student not in prepared.only:
            continue
        for notebook in sorted(prepared.notebooks):
            if (student.student, notebook) in have:
                continue
            message = f"nothing handed in for {notebook}."
            rows.append(Graded(student.student, "", notebook, "roster", RunReport(RunStatus.MISSING, message),
                               exercise_rows(exercises_of(notebook), Status.MISSING, Code.NOT_SUBMITTED, message),
                               name=student.name, lms_id=student.lms_id))
    return rows


def complete(graded: list[Graded], prepared: Prepared, *, previous: list[Graded] | None = None,
             overrides: list[Override] = ()) -> list[Graded]:
    """The whole class: the graded submissions, students without a notebook, earlier results, overrides."""
    everyone = list(graded)
    everyone += _not_a_notebook_rows(prepared, everyone)
    if previous is not None:
        everyone += [g for g in previous if g.student not in prepared.only]
        for g in everyone:  # start from the checks' own points: the overrides file is applied afresh
            for r in g.results:
                if r.checked_points is not None:
                    r.points, r.checked_points, r.override = r.checked_points, None, ""
    everyone += _missing_rows(prepared, everyone)
    apply_overrides(everyone, list(overrides))
    return report.sorted_graded(everyone)


def grade(paths, options: Options | None = None, progress: bool = False, *, roster: Roster | None = None,
          overrides: list[Override] = ()) -> list[Graded]:
    """Grade every submission under ``paths``; returns one :class:`Graded` per submission (and missing student), sorted.

    Raises :class:`GradingError` for a bad command, ``KeyboardInterrupt`` if interrupted
    (after stopping every process it started).
    """
    options = options or Options()
    prepared = prepare(paths, options, roster=roster)
    return complete(grade_prepared(prepared, options, progress), prepared, overrides=overrides)
