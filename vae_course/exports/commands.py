"""``vae-course export nbgrader|otter`` and ``vae-course nbgrader-sync`` (added to the CLI by ``add_commands``)."""

from __future__ import annotations

import argparse
import sys

EXPORT_HELP = """\
Export solution notebooks for the grader your class already runs.

nbgrader: writes OUT/source/<stem>/<stem>.ipynb (answer cells, locked read-only cells,
autograder test cells that raise with the check's message, partial credit for exercises
with parts, points from the exercise list, hidden tests on inputs the students never see,
Think! cells as manually graded answers) and OUT/nbgrader_config.py. Then, in OUT:
nbgrader generate_assignment <stem>.

otter: writes OUT/<stem>.ipynb in otter-grader's assign format (questions, solutions,
tests). Then: otter assign OUT/<stem>.ipynb DIST.

See docs/teaching.md ("If you use nbgrader / otter").
"""

SYNC_HELP = """\
Grade an nbgrader assignment with the course's own grader and write the scores into
nbgrader's gradebook (COURSE/gradebook.db by default).

nbgrader autograde runs the test cells in the student's kernel, where a notebook can
replace the checks. This command grades COURSE/submitted/*/ASSIGNMENT/*.ipynb as
`vae-course grade` does (each exercise checked in a separate fresh process), runs the
export's hidden tests too (their seeds are read from the test cells nbgrader saved),
and sets the auto score of each exercise's test cell. Run it after `nbgrader autograde`.
"""


def _error(err) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def _export(args) -> int:
    from ..checks import ChecksFileError, load_checks_file
    from ..notebooks import NotebookFormatError

    if args.format == "nbgrader":
        from .nbgrader import export
    else:
        from .otter import export
    try:
        for path in args.checks:
            load_checks_file(path)
        written = export(args.notebooks, args.out, **({"think_points": args.think_points,
                                                       "hidden_tests": not args.no_hidden_tests,
                                                       "hidden_secret": args.hidden_seed}
                                                      if args.format == "nbgrader" else {}))
    except (NotebookFormatError, ChecksFileError, ValueError, OSError) as err:
        return _error(err)
    for path in written:
        print(f"wrote {path}")
    return 0


def _sync(args) -> int:
    from ..grading.commands import _options
    from ..grading.nbgrader import sync
    from ..grading.options import GradingError

    try:
        rows = sync(args.course, args.nbgrader_assignment, _options(args, args.workers), db_url=args.db)
    except (GradingError, FileNotFoundError) as err:
        return _error(err)
    except KeyboardInterrupt:
        return 130
    for student, notebook, score, max_score in rows:
        print(f"{student}  {args.nbgrader_assignment}/{notebook}  {score:g} / {max_score:g}")
    print(f"wrote {len(rows)} submission{'s' if len(rows) != 1 else ''} of {args.nbgrader_assignment} into "
          "nbgrader's gradebook")
    return 0


def add_commands(subparsers) -> None:
    """Add ``export`` and ``nbgrader-sync`` to the ``vae-course`` command line."""
    from ..grading.commands import _add_limits

    p = subparsers.add_parser("export", help="export solution notebooks for nbgrader or otter-grader",
                              description=EXPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=("nbgrader", "otter"), help="the grader to export for")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="solution notebooks, e.g. solutions/02_elbo.ipynb")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (nbgrader: the course directory)")
    p.add_argument("--think-points", type=int, default=1, metavar="N",
                   help="nbgrader: points of each Think! answer, graded by hand (0: not graded; default 1)")
    p.add_argument("--no-hidden-tests", action="store_true",
                   help="nbgrader: no hidden tests (by default a test cell whose check can take other inputs runs it "
                        "again, at autograde only, under a seed drawn at export)")
    p.add_argument("--hidden-seed", default=None, metavar="SECRET",
                   help="nbgrader: derive the hidden tests' seeds from this string of yours (keep it private), so that "
                        "exporting again gives the same hidden tests; default: new random seeds at each export")
    p.add_argument("--checks", action="append", default=[], metavar="FILE",
                   help="a file of your own @exercise checks (may be repeated): its exercises are accepted")
    p.set_defaults(run=_export)

    p = subparsers.add_parser("nbgrader-sync", help="grade an nbgrader assignment with the course's grader and "
                                                    "write the scores into nbgrader's gradebook",
                              description=SYNC_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("course", metavar="COURSE_DIR", help="the nbgrader course directory (with submitted/)")
    p.add_argument("--assignment", required=True, metavar="NAME", dest="nbgrader_assignment",
                   help="the assignment, e.g. 02_elbo")
    p.add_argument("--db", metavar="URL", help="nbgrader's database URL (default: sqlite:///COURSE_DIR/gradebook.db)")
    p.add_argument("--workers", type=int, metavar="N", help="submissions graded at once (default: the CPU cores)")
    _add_limits(p)
    p.set_defaults(run=_sync)
