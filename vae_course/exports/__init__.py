"""Exports of the course's solution notebooks to the graders classrooms already run.

* :mod:`~vae_course.exports.cells` - what each cell of a solution notebook is (exercise,
  check, Think!, context), read once;
* :mod:`~vae_course.exports.nbgrader` - ``vae-course export nbgrader``: an nbgrader course
  directory (``source/<stem>/<stem>.ipynb`` with nbgrader's cell metadata);
* :mod:`~vae_course.exports.otter` - ``vae-course export otter``: otter-grader's assign format;
* :mod:`~vae_course.exports.commands` - the command line.

Writing the course grader's own scores into nbgrader's gradebook is grading, not an export:
:mod:`vae_course.grading.nbgrader` (``vae-course nbgrader-sync``).
"""

from .commands import add_commands

__all__ = ["add_commands"]
