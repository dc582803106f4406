"""Where the grader's own processes start: ``python -m vae_course.grading.process vae_course.grading.supervisor``
(or ``...checker``): the process's module stays in its command line, where ``ps`` and the tests find it.

Every grading process - the ``vae-course`` command (:func:`vae_course.cli.main`), each
supervisor and each checker - sets itself up here, explicitly, before it imports what does
its work: nothing in the package changes global state because a module was imported.

The one setting: :func:`skip_the_iri_grammar`.
"""

from __future__ import annotations

import importlib
import sys

PROCESSES = ("vae_course.grading.supervisor", "vae_course.grading.checker")


def skip_the_iri_grammar() -> None:
    """Keep jsonschema from loading ``rfc3987_syntax`` in this process (call it before nbformat is imported).

    nbformat validates notebooks with jsonschema, whose format checker imports ``rfc3987_syntax`` when it is
    installed (JupyterLab's dependencies install it); that module compiles ~35 Lark parsers at import time,
    1-2 s of CPU in every supervisor and every `vae-course` command (python-jsonschema/jsonschema#1428,
    jupyter-server/jupyter_server#1559; 2.2 s per grading process measured). Notebook schemas use no "iri"
    format, the only thing it validates, so a grading process skips it: jsonschema then simply does not
    register that format check. A process that already imported it keeps it.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


def command(name: str, *python_options: str) -> list[str]:
    """The command line that starts the grading process ``name`` (one of :data:`PROCESSES`) with this Python."""
    return [sys.executable, *python_options, "-m", "vae_course.grading.process", name]


def start(name: str) -> None:
    """Set up this process, then run the ``main()`` of the grading process ``name`` (one of :data:`PROCESSES`)."""
    if name not in PROCESSES:
        raise SystemExit(f"usage: python -m vae_course.grading.process {{{'|'.join(PROCESSES)}}}")
    skip_the_iri_grammar()
    importlib.import_module(name).main()


if __name__ == "__main__":
    start(sys.argv[1] if len(sys.argv) > 1 else "")
