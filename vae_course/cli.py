"""Command line: ``vae-course <command>`` (also ``python -m vae_course``).

Commands:
  doctor         environment report (versions, device, data source)
  make-student   generate notebooks/ from solutions/ (--checks FILE: your own exercises)
  grade          grade a class's submitted notebooks into a gradebook (see vae_course.grading)
  check          grade your own notebook exactly as the teacher will
  export         export solution notebooks for nbgrader or otter-grader (see vae_course.exports)
  nbgrader-sync  write the course grader's scores into an nbgrader gradebook
"""

from __future__ import annotations

import argparse
import sys

from . import exports, grading
from .grading.process import skip_the_iri_grammar


def _doctor(args) -> int:
    from . import doctor

    doctor()
    return 0


def _make_student(args) -> int:
    """Student notebooks, and with ``--checks`` the student copies of the teacher's check files next to them."""
    from pathlib import Path

    from .checks import ChecksFileError, load_checks_file, student_copy
    from .notebooks import NotebookFormatError, make_student

    try:
        copies = {}
        for path in args.checks:  # registered first, so the notebooks' exercise tags are known
            load_checks_file(path)
            copies[Path(path).name] = student_copy(Path(path).read_text(encoding="utf-8"), str(path))
        written = make_student(args.src, args.dst, answers="omitted" if args.classroom else "collapsed")
    except (NotebookFormatError, ChecksFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, text in copies.items():
        target = Path(args.dst) / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    for path in written:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vae-course", description="The Variational Autoencoder course.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="print versions, device and data source")
    p.set_defaults(run=_doctor)

    p = sub.add_parser("make-student", help="generate student notebooks from solution notebooks")
    p.add_argument("src", nargs="?", default="solutions", help="folder of solution notebooks (default: solutions)")
    p.add_argument("dst", nargs="?", default="notebooks", help="output folder (default: notebooks)")
    p.add_argument("--checks", action="append", default=[], metavar="FILE",
                   help="a file of your own @exercise checks (may be repeated): its exercises are accepted in the "
                        "notebooks, and a student copy with the SOLUTION regions hidden is written to DST")
    p.add_argument("--classroom", action="store_true",
                   help="leave out the Think! answers (the default folds each one under its prompt, for self-study)")
    p.set_defaults(run=_make_student)

    grading.add_commands(sub)
    exports.add_commands(sub)
    return parser


def main(argv=None) -> int:
    skip_the_iri_grammar()  # a grading process: before any command imports nbformat (see there)
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
