"""Command line: ``vae-course <command>`` (also ``python -m vae_course``).

Commands:
  doctor         environment report (versions, device, data source)
  make-student   generate notebooks/ from solutions/
  grade          grade a class's submitted notebooks into a gradebook (see vae_course.grading)
  check          grade your own notebook exactly as the teacher will
"""

from __future__ import annotations

import argparse
import sys

from . import grading


def _doctor(args) -> int:
    from . import doctor

    doctor()
    return 0


def _make_student(args) -> int:
    from .notebooks import NotebookFormatError, make_student

    try:
        written = make_student(args.src, args.dst)
    except NotebookFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
    p.set_defaults(run=_make_student)

    grading.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
