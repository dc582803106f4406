"""``vae-course nbgrader-sync``: the course's own grader's scores, written into nbgrader's gradebook.

``nbgrader autograde`` runs an assignment's test cells in the student's kernel, so a
notebook that redefines ``checks`` there passes them. This module grades the same files
with the course's out-of-process grader (:mod:`vae_course.grading.batch`: the notebook in a
fresh kernel for feedback, each exercise checked in a separate fresh process for points)
and writes each exercise's points into the auto score of its test cell (``check-<id>``:
:func:`vae_course.conventions.grade_id`, as :mod:`vae_course.exports.nbgrader` names it) through
nbgrader's own :class:`nbgrader.api.Gradebook`. Teachers keep formgrader, manual grading of the Think!
answers, feedback and nbgrader's late-submission handling.

The steps, in order:

1. :func:`submitted_notebooks` - ``COURSE/submitted/<student>/<assignment>/*.ipynb``, as
   ``nbgrader collect`` or ``zip_collect`` leave them;
2. :func:`hidden_seeds` - the seeds of the export's hidden tests, from the test cells nbgrader saved:
   an exercise with one is checked again under it (its hidden test) and keeps the lower points;
3. :func:`grade_assignment` - prepare and grade them (every file is read before any runs);
4. :func:`write_scores` - one auto score per test cell; a student or submission nbgrader does
   not know yet is added, with the submission time of its ``timestamp.txt``; the late
   penalty is computed again from the new score with nbgrader's own late-submission plugin.

Run it after ``nbgrader autograde`` (which also writes the autograded notebooks formgrader
shows) or instead of it: either way the gradebook ends up with the course grader's scores.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

from ..conventions import grade_id
from .options import GradingError, Options
from .submissions import TIMESTAMP, submission_time  # noqa: F401 - the time nbgrader recorded (its timestamp.txt)


def submitted_notebooks(course: Path, assignment: str) -> list[Path]:
    """The submitted notebooks of ``assignment``; raises :class:`GradingError` if there are none."""
    folder = Path(course) / "submitted"
    found = sorted(p for p in folder.glob(f"*/{assignment}/*.ipynb") if not p.name.startswith("."))
    if not found:
        raise GradingError(f"no submissions of {assignment!r} in {folder} (nbgrader's layout: "
                           f"submitted/<student>/{assignment}/<notebook>.ipynb; run `nbgrader collect` first).")
    return found


#: The seed of a test cell's hidden test (vae_course.exports.cells.check_source writes it).
HIDDEN_SEED = re.compile(r"### BEGIN HIDDEN TESTS.*?\bseed=(\d+).*?### END HIDDEN TESTS", re.DOTALL)


def hidden_seeds(gb, assignment: str) -> dict[str, int]:
    """{exercise id: seed} of the hidden tests in ``assignment``'s test cells, as ``generate_assignment`` saved them."""
    from nbgrader.api import MissingEntry

    from ..checks import exercises_for

    seeds = {}
    for notebook in gb.find_assignment(assignment).notebooks:
        for entry in exercises_for(notebook.name):
            try:
                source = gb.find_source_cell(grade_id("check", entry.id), notebook.name, assignment).source
            except MissingEntry:
                continue
            found = HIDDEN_SEED.search(source or "")
            if found:
                seeds[entry.id] = int(found.group(1))
    return seeds


def grade_assignment(course: Path, assignment: str, options: Options) -> list:
    """Grade every submitted notebook of ``assignment`` with the course's grader; one ``Graded`` each."""
    from .batch import grade_prepared, prepare

    wanted = {p.resolve() for p in submitted_notebooks(course, assignment)}
    options = dataclasses.replace(options, all_attempts=True)  # one file per notebook: nbgrader keeps only one
    prepared = prepare([Path(course) / "submitted"], options)
    prepared.subs = [s for s in prepared.subs if s.path.resolve() in wanted]
    prepared.notebooks = {s.notebook for s in prepared.subs if s.notebook}
    return grade_prepared(prepared, options)


def course_config(course: Path):
    """The course directory's ``nbgrader_config.py`` (an empty config without one)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if not (Path(course) / "nbgrader_config.py").is_file():
        return Config()
    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def _submission(gb, assignment: str, student: str, notebook: Path):
    from nbgrader.api import MissingEntry

    try:
        gb.find_student(student)
    except MissingEntry:
        gb.add_student(student)
    try:
        return gb.find_submission(assignment, student)
    except MissingEntry:
        when = submission_time(notebook)
        with warnings.catch_warnings():  # nbgrader 0.9.6's add_submission makes SQLAlchemy 2 warn ("not in session")
            warnings.simplefilter("ignore")
            return gb.add_submission(assignment, student, timestamp=when and when.replace(tzinfo=None))  # naive UTC


def write_scores(gb, assignment: str, graded: list, *, db_url: str, config=None) -> list[tuple[str, str, float, float]]:
    """Write each graded exercise's points into its test cell's auto score; returns (student, notebook, score, max).

    ``gb`` is an open :class:`nbgrader.api.Gradebook` of ``db_url``. The late penalty of each notebook is
    assigned again from its new score by nbgrader's own step (``AssignLatePenalties``, with
    ``config``: the course's ``LateSubmissionPlugin`` settings).
    """
    from nbformat.v4 import new_notebook
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import AssignLatePenalties

    penalties = AssignLatePenalties(config=config)
    rows = []
    for g in graded:
        path = Path(g.path)
        _submission(gb, assignment, g.student, path)
        for result in g.results:
            try:
                grade = gb.find_grade(grade_id("check", result.exercise), path.stem, assignment, g.student)
            except MissingEntry:
                raise GradingError(f"{assignment}/{path.stem} has no test cell for Exercise {result.exercise} in "
                                   "nbgrader's gradebook: export it with `vae-course export nbgrader` and run "
                                   "`nbgrader generate_assignment` again.") from None
            grade.auto_score = float(result.points)
        gb.db.commit()
        penalties.preprocess(new_notebook(), {"nbgrader": {"notebook": path.stem, "assignment": assignment,
                                                           "student": g.student, "db_url": db_url}})
        gb.db.expire_all()  # the penalty was written through another session
        notebook = gb.find_submission_notebook(path.stem, assignment, g.student)
        rows.append((g.student, path.stem, notebook.code_score, notebook.max_code_score))
    return rows


def sync(course, assignment: str, options: Options | None = None, *, db_url: str | None = None):
    """Grade ``assignment`` of nbgrader course directory ``course`` and write the scores; returns write_scores' rows."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course)
    config = course_config(course)
    db_url = db_url or config.get("CourseDirectory", {}).get("db_url") or \
        f"sqlite:///{(course / 'gradebook.db').resolve()}"
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"nbgrader's gradebook has no assignment {assignment!r}: run "
                               f"`nbgrader generate_assignment {assignment}` in {course} first.") from None
        seeds = hidden_seeds(gb, assignment)
    options = dataclasses.replace(options or Options(), hidden_seeds=seeds)
    graded = grade_assignment(course, assignment, options)
    with Gradebook(db_url) as gb:
        return write_scores(gb, assignment, graded, db_url=db_url, config=config)
