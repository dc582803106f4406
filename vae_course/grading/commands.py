"""The ``vae-course grade`` and ``vae-course check`` commands (added to the CLI by ``add_commands``)."""

from __future__ import annotations

import argparse
import signal
import sys

GRADE_HELP = """\
Grade submitted notebooks into a gradebook.

Each SUBMISSION is a notebook or a folder. The student id is the file stem
(alice.ipynb -> alice); for notebooks inside per-student sub-folders of a
given folder it is the sub-folder's name (submissions/alice/02_elbo.ipynb ->
alice). Which course notebook a submission is comes from --notebook, else its
metadata or exercise tags, else its file name or function names, else the
rest of the batch.

Each notebook is run top to bottom in a fresh, limited kernel (for feedback),
then each exercise function is taken out of it and checked in a separate fresh
process (for points). See docs/teaching.md.
"""

CHECK_HELP = """\
Grade your own notebook exactly as your teacher's grader will, and print the report.
Exits with 0 when every exercise passes, 1 otherwise.
"""


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="time limit for each notebook cell and each exercise check (default: 60)")
    p.add_argument("--notebook-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="time limit for running a whole notebook (default: 600)")
    p.add_argument("--memory", type=float, default=8.0, metavar="GIB",
                   help="address-space limit of the processes running student code, GiB; 0 = none (default: 8)")
    p.add_argument("--notebook", metavar="STEM", help="grade every submission as this notebook, e.g. 02_elbo")
    p.add_argument("--checks", action="append", default=[], metavar="FILE",
                   help="an extra Python file of @exercise checks (may be repeated)")
    p.add_argument("--no-execute", action="store_true",
                   help="only check the exercises; do not run the whole notebook (faster, less feedback)")


def _options(args, workers):
    from .batch import Options

    return Options(timeout=args.timeout, notebook_timeout=args.notebook_timeout, memory_gib=args.memory,
                   workers=workers, execute=not args.no_execute, notebook=args.notebook,
                   checks_files=tuple(args.checks))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _grade(args) -> int:
    from .batch import GradingError, grade_prepared, prepare
    from .report import summary, write_feedback, write_gradebook
    from .sandbox import become_subreaper, kill_descendants

    if args.workers is not None and args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    options = _options(args, args.workers)
    try:  # a bad command is reported before anything starts
        subs, registry = prepare(args.submissions, options)
    except (GradingError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a scheduler: clean up as for Ctrl-C
    become_subreaper()  # orphans of a grading process that was killed come to us ...
    try:
        graded = grade_prepared(subs, registry, options, progress=True)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every grading process was stopped; no gradebook was written.", file=sys.stderr)
        return 130
    finally:
        kill_descendants()  # ... and are killed: nothing of ours runs any more
    out, totals = write_gradebook(graded, args.out)
    written = f"wrote {out} and {totals}"
    if args.feedback:
        files = write_feedback(graded, args.feedback)
        written += f" and {len(files)} feedback file{'s' if len(files) != 1 else ''} in {args.feedback}"
    print(f"{summary(graded)}.")
    print(written)
    return 0


def _check(args) -> int:
    from .batch import GradingError, grade
    from .report import PASSED, feedback_markdown

    print(f"Grading {args.path} as the teacher's grader does (this takes a minute) ...", file=sys.stderr)
    try:
        graded = grade([args.path], _options(args, 1))
    except (GradingError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for student in sorted({g.student for g in graded}):
        print(feedback_markdown(student, [g for g in graded if g.student == student]))
    total, most = sum(g.total for g in graded), sum(g.max_points for g in graded)
    print(f"Score: {total} / {most}")
    return 0 if all(r.status == PASSED for g in graded for r in g.results) else 1


def add_commands(subparsers) -> None:
    """Add ``grade`` and ``check`` to the ``vae-course`` command line."""
    p = subparsers.add_parser("grade", help="grade a class's submitted notebooks into a gradebook",
                              description=GRADE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a notebook, or a folder of them")
    p.add_argument("--out", required=True, metavar="CSV",
                   help="the gradebook (one row per student and exercise); totals go to <stem>_totals.csv")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="submissions graded at once (default: the number of CPU cores)")
    p.add_argument("--feedback", metavar="DIR", help="write one Markdown feedback file per student here")
    _limits(p)
    p.set_defaults(run=_grade)

    p = subparsers.add_parser("check", help="grade your own notebook exactly as the teacher will",
                              description=CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="NOTEBOOK", help="your notebook, e.g. notebooks/02_elbo.ipynb")
    _limits(p)
    p.set_defaults(run=_check)
