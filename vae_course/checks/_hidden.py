"""The student copy of a teacher's check file: its solution regions hidden (``make-student --checks``)."""

from __future__ import annotations

from ..conventions import replace_solution_regions

class HiddenCheck(Exception):
    """Raised where the student copy of a teacher's check file hides the rest of a check.

    ``vae-course make-student --checks FILE`` replaces every ``### BEGIN SOLUTION`` ...
    ``### END SOLUTION`` region of the check file by ``raise ...HiddenCheck()``: the student's
    check cell then reports what it could check, and the teacher's grader runs the full check.
    """


HIDDEN_LINE = 'raise __import__("vae_course.checks").checks.HiddenCheck()  # the rest runs when your teacher grades'
HIDDEN_COMMENT = "# (hidden from students: runs when your teacher grades)"


def student_copy(source: str, where: str = "checks file") -> str:
    """The student copy of a teacher's check file: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
    region (the reference, the catalogue of wrong answers) is replaced.

    Inside a function the region becomes ``raise ...HiddenCheck()``, so the student's check
    reports what it could check so far; at the top level of the module it becomes a comment
    (so name a hidden reference by string: ``reference="_add_one"``). Raises ``ValueError``
    for unbalanced markers.
    """
    return replace_solution_regions(source, lambda indent: indent + (HIDDEN_LINE if indent else HIDDEN_COMMENT),
                                    where) + "\n"
