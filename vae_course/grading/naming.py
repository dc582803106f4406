"""File names that carry more than the student, and runs whose names matched nothing.

* **The notebook in the name.** Learning platforms and students often name a file after both:
  ``alice_02_elbo.ipynb``, ``02_elbo-alice.ipynb``. :func:`without_notebook` takes a registered
  notebook stem (and the ``_``/``-``/space joining it) out of the student id such a name gives,
  so ``alice_02_elbo.ipynb`` belongs to ``alice``, like ``alice.ipynb`` and ``alice/02_elbo.ipynb``.
* **A run that matched (almost) nothing** is a naming problem, not a class of absent students:
  :func:`check_matched` stops it with the naming schemes the grader understands, instead of
  grading a handful and listing the rest as skipped.
* **Assignments.** :func:`not_assigned` lists the submissions of notebooks that were not assigned in
  this run (``--assignment``): they are skipped, and nobody gets ``missing`` rows for them.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .options import GradingError

SCHEMES = ("<student>.ipynb or <student>_<notebook>.ipynb (e.g. alice_02_elbo.ipynb); a folder per student "
           "(alice/02_elbo.ipynb, or nbgrader's submitted/alice/02_elbo/02_elbo.ipynb); or the download names of "
           "Canvas (<login>_<user id>_<submission id>_<file>.ipynb) and Moodle (<name>_<participant id>_"
           "assignsubmission_file_/<file>.ipynb)")


def without_notebook(info, stems):
    """``info`` (a :class:`~vae_course.grading.lms.NameInfo`) with a notebook stem taken out of its student id.

    Platform names (Canvas, Moodle) are left as they are: their student part is already exact.
    """
    if info.lms:
        return info
    for stem in sorted(stems, key=len, reverse=True):
        pattern = re.compile(rf"^(?:{re.escape(stem)}[\s_-]+)?(?P<rest>.*?)(?:[\s_-]+{re.escape(stem)})?$")
        match = pattern.match(info.student)
        rest = match.group("rest") if match else ""
        if rest and rest != info.student:
            return replace(info, student=rest)
    return info


def check_matched(subs: list, skipped: list, roster) -> None:
    """Raise :class:`GradingError` when most notebooks (or all) belong to no roster student."""
    if roster is None:
        return
    unmatched = [s for s in skipped if s.kind == "not-in-roster"]
    total = len(unmatched) + len(subs)
    if not unmatched or (subs and len(unmatched) * 2 <= total):
        return
    examples = ", ".join(f"{s.path.name} (read as {s.student!r})" for s in unmatched[:3])
    ids = ", ".join(s.student for s in roster.students[:3])
    raise GradingError(f"{len(unmatched)} of {total} notebooks belong to no roster student: {examples}. The "
                       f"roster's ids look like {ids}; the file names the grader understands are {SCHEMES}. "
                       "Rename the files or fix the roster, and grade again.")


def not_assigned(subs: list, assignments) -> tuple[list, list[tuple]]:
    """``subs`` of the ``assignments`` (all of them when none are given), and ``(sub, reason)`` for the rest."""
    if not assignments:
        return subs, []
    kept, rest = [], []
    for sub in subs:
        if sub.notebook in assignments:
            kept.append(sub)
        else:
            what = f"notebook {sub.notebook}" if sub.notebook else "a notebook that could not be told"
            rest.append((sub, f"{what}, not assigned in this run (--assignment {' '.join(assignments)})."))
    return kept, rest
