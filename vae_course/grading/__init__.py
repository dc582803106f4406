"""Grading submitted notebooks: ``vae-course grade`` for teachers, ``vae-course check`` for students.

How a class is graded (each step in its own module):

1. :mod:`~vae_course.grading.options` and :mod:`~vae_course.grading.outputs` - every
   option and every output path is checked before anything runs;
2. :mod:`~vae_course.grading.submissions` - every file is found and every notebook read
   into memory before any of them runs (so no submission can alter another's file); names
   are read as Canvas and Moodle write them (:mod:`~vae_course.grading.lms`), without a
   notebook stem in them and checked against the class list
   (:mod:`~vae_course.grading.naming`, :mod:`~vae_course.grading.roster`), each notebook is
   identified (tags > file name > functions), and each exercise's code is taken out of it by parsing
   (:mod:`~vae_course.grading.extraction`);
3. :mod:`~vae_course.grading.supervisor` - a fresh process per submission runs the
   notebook top to bottom in a fresh kernel inside a private copy (timeouts, memory
   limit, errors allowed; this gives feedback, not points), then starts
   :mod:`~vae_course.grading.checker`, a separate fresh process that runs the instructor's
   checks on the extracted functions; points come only from there;
   :mod:`~vae_course.grading.sandbox` limits and cleans up every process,
   :mod:`~vae_course.grading.integrity` guards against forged results;
4. :mod:`~vae_course.grading.batch` runs submissions in parallel - with an executor of
   :mod:`~vae_course.grading.runner` on this machine, or one Dask task each
   (:mod:`~vae_course.grading.cluster`) - and completes the class (missing roster students,
   ``--student`` merges, :mod:`~vae_course.grading.overrides`);
5. :mod:`~vae_course.grading.report` and :mod:`~vae_course.grading.classreport` turn the
   results into the gradebook, totals, LMS exports, class report and feedback, which
   :mod:`~vae_course.grading.outputs` writes atomically.

What crosses a process boundary is in :mod:`~vae_course.grading.protocol`; the one vocabulary
of statuses, shared with the checks, in :mod:`vae_course.results`. Each grading process starts
with :mod:`~vae_course.grading.process` (its setup is explicit: importing this package changes
nothing outside it). :mod:`~vae_course.grading.nbgrader` writes the results into an nbgrader
gradebook (``vae-course nbgrader-sync``).

Python API::

    from vae_course.grading import Options, grade
    graded = grade(["submissions/"], Options(workers=2, timeout=60))
    print(graded[0].student, graded[0].total, [r.status for r in graded[0].results])
"""

from .commands import add_commands

__all__ = ["add_commands", "grade", "Options", "GradingError", "Roster"]


def __getattr__(name):  # the heavy parts load on first use, so the CLI starts fast
    if name == "grade":
        from .batch import grade

        return grade
    if name in ("Options", "GradingError"):
        from . import options

        return getattr(options, name)
    if name == "Roster":
        from .roster import Roster

        return Roster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
