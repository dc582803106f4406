"""The ``vae-course grade`` and ``vae-course check`` commands (added to the CLI by ``add_commands``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from .options import MIN_MEMORY_GIB, MIN_SECONDS, Options

GRADE_HELP = """\
Grade submitted notebooks into a gradebook.

Each SUBMISSION is a notebook or a folder. The student id is what the file name
says (Canvas and Moodle download names are understood; else the file stem:
alice.ipynb -> alice); for notebooks inside per-student sub-folders of a given
folder it is the sub-folder's name (submissions/alice/02_elbo.ipynb -> alice).
With --roster, ids are the roster's and every roster student gets a row.
Which course notebook a submission is comes from --notebook, else its metadata
or exercise tags, else its file name or function names, else the rest of the batch.

Each notebook is run top to bottom in a fresh, limited kernel (for feedback),
then each exercise function is taken out of it and checked in a separate fresh
process (for points). Every option and output path is checked before anything
runs. See docs/teaching.md.
"""

CHECK_HELP = """\
Grade your own notebook exactly as your teacher's grader will, and print the report.
Exits with 0 when every exercise passes, 1 otherwise.
"""


def _add_limits(p: argparse.ArgumentParser) -> None:
    """The options ``grade`` and ``check`` share; defaults come from :class:`Options` (declared once)."""
    d = Options
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help=f"time limit for each notebook cell and each exercise check, at least {MIN_SECONDS:g} "
                        f"(default: {d.timeout:g})")
    p.add_argument("--notebook-timeout", type=float, metavar="SECONDS",
                   help=f"time limit for running a whole notebook (default: {d.notebook_timeout:g})")
    p.add_argument("--memory", type=float, metavar="GIB",
                   help=f"address-space limit of the processes running student code, GiB: 0 = no limit, else "
                        f"at least {MIN_MEMORY_GIB:g} (default: {d.memory_gib:g})")
    p.add_argument("--notebook", metavar="STEM", help="grade every submission as this notebook, e.g. 02_elbo")
    p.add_argument("--checks", action="append", default=[], metavar="FILE",
                   help="an extra Python file of @exercise checks (may be repeated)")
    p.add_argument("--no-execute", action="store_true",
                   help="only check the exercises; do not run the whole notebook (faster, less feedback)")
    p.add_argument("--allow-reference-calls", action="store_true",
                   help="accept answers that call the course's own reference of the exercise (e.g. "
                        "vae_course.latent.slerp in Exercise 5.2); by default such an answer scores 0")


def _options(args, workers=None, all_attempts=False) -> Options:
    given = {"timeout": args.timeout, "notebook_timeout": args.notebook_timeout, "memory_gib": args.memory,
             "workers": workers}
    assignments = tuple(getattr(args, "assignment", ()))
    seeds = {}
    if getattr(args, "hidden_seed", None):
        from .hidden_tests import hidden_seeds

        seeds = hidden_seeds(args.hidden_seed, assignments or ((args.notebook,) if args.notebook else ()))
        print(f"hidden tests for {len(seeds)} exercise(s): {', '.join(sorted(seeds)) or 'none'}", file=sys.stderr)
    return Options(**{k: v for k, v in given.items() if v is not None}, execute=not args.no_execute,
                   notebook=args.notebook, checks_files=tuple(args.checks), all_attempts=all_attempts,
                   allow_reference_calls=args.allow_reference_calls, assignments=assignments, hidden_seeds=seeds)


def _error(err) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _list_skipped(skipped, where: Path) -> None:
    if not skipped:
        return
    print(f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} (not graded; listed in {where}):")
    for item in sorted(skipped, key=lambda s: str(s.path))[:15]:
        print(f"  {item.path}: {item.reason}")
    if len(skipped) > 15:
        print(f"  ... and {len(skipped) - 15} more")


def _grade(args) -> int:
    """The grading pipeline: validate everything, read everything, grade, complete, write."""
    from . import classreport, report
    from .batch import complete, grade_prepared, prepare
    from .late import LatePolicy, apply_late
    from .options import GradingError
    from .outputs import OutputPaths
    from .overrides import read_overrides
    from .roster import Roster, RosterError
    from .sandbox import become_subreaper, kill_descendants

    try:
        options = _options(args, args.workers, args.all_attempts)               # 1. every number
        if args.scheduler:
            from .cluster import check_scheduler

            check_scheduler(args.scheduler)
        outputs = OutputPaths.plan(args.out, args.feedback)                       # 2. every path
        outputs.check(args.submissions)
        roster = Roster.read(args.roster) if args.roster else None                # 3. the class list
        if (args.extensions or args.late_penalty != "none") and not args.deadline:
            raise GradingError("--extensions and --late-penalty need --deadline.")
        late = LatePolicy.read(args.deadline, args.late_penalty, args.extensions) if args.deadline else None
        previous = None
        if args.student:                                                          # 4. earlier results
            if not outputs.state.is_file():
                raise GradingError(f"--student needs the results of an earlier run ({outputs.state}); grade the "
                                   "whole class into this --out once first.")
            try:
                previous = report.read_state(outputs.state)
            except (OSError, ValueError, TypeError, KeyError) as err:
                raise GradingError(f"cannot read the earlier results {outputs.state} ({type(err).__name__}); "
                                   "grade the whole class again without --student.") from None
        prepared = prepare(args.submissions, options, roster=roster, only=tuple(args.student))  # 5. read all
        known = prepared.students | {g.student for g in previous or []}
        overrides = read_overrides(args.overrides, prepared.registry, known) if args.overrides else []  # 6.
    except (GradingError, RosterError, FileNotFoundError) as err:
        return _error(err)
    except ValueError as err:  # e.g. unbalanced markers in a --checks file
        return _error(err)

    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a scheduler: clean up as for Ctrl-C
    become_subreaper()  # orphans of a grading process that was killed come to us ...
    try:
        graded = grade_prepared(prepared, options, progress=True, scheduler=args.scheduler)  # 7. grade
    except GradingError as err:
        return _error(err)
    except KeyboardInterrupt:
        print("interrupted: every grading process was stopped; no gradebook was written.", file=sys.stderr)
        return 130
    finally:
        kill_descendants()  # ... and are killed: nothing of ours runs any more

    results = complete(graded, prepared, previous=previous, overrides=overrides)  # 8. the whole class
    if late:
        apply_late(results, late)
    emails = {s.student: s.email for s in roster.students} if roster else {}
    outputs.write({                                                               # 9. write
        outputs.gradebook: report.gradebook_text(results),
        outputs.totals: report.totals_text(results),
        outputs.canvas: report.canvas_text(results, emails),
        outputs.moodle: report.moodle_text(results, emails),
        outputs.class_md: classreport.class_markdown(results, f"Class report: {outputs.gradebook.name}"),
        outputs.class_csv: classreport.class_csv(results),
        outputs.skipped: report.skipped_text(prepared.skipped),
        outputs.state: report.state_text(results),
    }, report.feedback_files(results) if outputs.feedback else {})
    if args.student:                                                              # 10. say what happened
        print(f"re-graded {len(graded)} submission{'s' if len(graded) != 1 else ''} of "
              f"{', '.join(args.student)}; everyone else's results are those of the previous run.")
    from .terminal import console, print_grade_summary

    print_grade_summary(results, console(sys.stdout))
    _list_skipped(prepared.skipped, outputs.skipped)
    written = f"wrote {outputs.gradebook} (and _totals, _canvas, _moodle, _class.md, _class.csv, _skipped.csv)"
    if outputs.feedback:
        students = len({g.student for g in results})
        written += f" and feedback for {students} student{'s' if students != 1 else ''} in {outputs.feedback}"
    print(written)
    return 0


def _check(args) -> int:
    from . import progress, terminal
    from .batch import grade
    from .options import GradingError
    from .protocol import Status

    try:
        options = _options(args, 1)
    except GradingError as err:
        return _error(err)
    what = "running it, then checking each exercise" if options.execute else "checking each exercise"
    err_console = terminal.console(sys.stderr)
    err_console.print(f"Grading {Path(args.path).name} as your teacher will: {what}.")
    try:
        with tempfile.TemporaryDirectory(prefix="vae-check-") as folder:
            events = Path(folder) / "progress.jsonl"
            os.environ[progress.ENV] = str(events)  # the supervisor reports each cell and exercise there
            try:
                with terminal.CheckProgress(events, err_console):
                    graded = grade([args.path], options)
            finally:
                os.environ.pop(progress.ENV, None)
    except (GradingError, FileNotFoundError) as err:
        return _error(err)
    except KeyboardInterrupt:
        return 130
    graded = [g for g in graded if g.path]
    if not graded:
        return _error(f"{args.path} is not a notebook (.ipynb).")
    terminal.check_report(graded, args.path, args.format, sys.stdout)
    return 0 if all(r.status == Status.PASSED for g in graded for r in g.results) else 1


def add_commands(subparsers) -> None:
    """Add ``grade`` and ``check`` to the ``vae-course`` command line."""
    p = subparsers.add_parser("grade", help="grade a class's submitted notebooks into a gradebook",
                              description=GRADE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a notebook, or a folder of them")
    p.add_argument("--out", required=True, metavar="CSV",
                   help="the gradebook (.csv, one row per student, notebook and exercise); the totals, LMS "
                        "exports, class report and skipped-files list go next to it as <stem>_*.csv/.md")
    p.add_argument("--feedback", metavar="DIR",
                   help="write one Markdown feedback file per student here (a folder of its own; files of "
                        "students no longer graded are removed)")
    p.add_argument("--roster", metavar="CSV",
                   help="the class list (a 'student' column; optional 'name', 'lms_id', 'email'): every roster "
                        "student gets rows, files of anyone else are listed and not graded")
    p.add_argument("--student", action="append", default=[], metavar="ID",
                   help="re-grade only this student (may be repeated) and merge into the existing gradebook")
    p.add_argument("--overrides", metavar="CSV",
                   help="the teacher's overrides (columns student, exercise, points, reason), applied every run")
    p.add_argument("--assignment", action="append", default=[], metavar="STEM",
                   help="grade only the submissions of this notebook, e.g. 02_elbo (may be repeated: notebooks "
                        "assigned together); the others are listed as skipped and nobody gets rows for them")
    p.add_argument("--deadline", metavar="TIME",
                   help="when the notebooks were due, e.g. '2026-12-01 18:00 UTC' (UTC without a zone): later ones "
                        "are noted, and --late-penalty applied")
    p.add_argument("--extensions", metavar="CSV", help="per-student deadlines (columns student, deadline)")
    p.add_argument("--late-penalty", default="none", metavar="RULE",
                   help="none (only noted; default), zero, or N%%/day (N percent of the points per started day)")
    p.add_argument("--all-attempts", action="store_true",
                   help="grade every attempt of a student at a notebook (default: only the latest)")
    p.add_argument("--hidden-seed", default=None, metavar="SECRET",
                   help="run each answer's check again on hidden inputs whose seeds derive from SECRET (the same "
                        "secret as `export nbgrader --hidden-seed` gives the export's hidden tests); keeps the lower "
                        "result")
    p.add_argument("--workers", type=int, metavar="N",
                   help="submissions graded at once (default: the number of CPU cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a Dask cluster, one task per submission: a scheduler address "
                        "(tcp://HOST:8786), a scheduler file, or 'local' for a cluster of --workers processes "
                        "here (see docs/teaching.md)")
    _add_limits(p)
    p.set_defaults(run=_grade)

    p = subparsers.add_parser("check", help="grade your own notebook exactly as the teacher will",
                              description=CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="NOTEBOOK", help="your notebook, e.g. notebooks/02_elbo.ipynb")
    p.add_argument("--format", choices=("terminal", "md", "json"), default="terminal",
                   help="terminal: tables and colour (default); md: the Markdown feedback your teacher's grader "
                        "writes; json: the results as data, for scripts")
    _add_limits(p)
    p.set_defaults(run=_check)
