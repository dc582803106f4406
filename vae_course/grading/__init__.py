"""Grading submitted notebooks: ``vae-course grade`` for teachers, ``vae-course check`` for students.

How one submission is graded (each step in its own module):

1. :mod:`~vae_course.grading.submissions` - every submission is read into memory
   before any of them runs (so no submission can alter another's file), its
   notebook is identified (tags > file name > functions), and each exercise's
   code is taken out of it by parsing (nothing runs here);
2. :mod:`~vae_course.grading.supervisor` - a fresh process per submission
   runs the notebook top to bottom in a fresh kernel inside a private copy
   (timeouts, memory limit, errors allowed; this gives feedback, not points),
   then starts :mod:`~vae_course.grading.checker`, a separate fresh process that
   runs the instructor's checks on the extracted functions; points come only
   from there, so whatever the notebook printed or monkeypatched in its kernel
   counts for nothing;
3. :mod:`~vae_course.grading.sandbox` - limits, a clean environment, and
   killing every process a submission started;
4. :mod:`~vae_course.grading.batch` runs submissions in parallel and
   :mod:`~vae_course.grading.report` writes the gradebook, totals and feedback
   atomically.

Python API::

    from vae_course.grading import Options, grade, write_gradebook
    graded = grade(["submissions/"], Options(workers=2, timeout=60))
    write_gradebook(graded, "gradebook.csv")
"""

from .commands import add_commands

__all__ = ["add_commands", "grade", "Options", "GradingError", "write_gradebook", "write_feedback", "summary"]


def __getattr__(name):  # the heavy parts load on first use, so the CLI starts fast
    if name in ("grade", "Options", "GradingError"):
        from . import batch

        return getattr(batch, name)
    if name in ("write_gradebook", "write_feedback", "summary", "feedback_markdown"):
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
