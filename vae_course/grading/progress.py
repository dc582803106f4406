"""What ``vae-course check`` shows while it grades: a progress bar per notebook cell, then per exercise.

The grading runs in a supervisor process of its own (:mod:`~vae_course.grading.supervisor`),
whose standard output carries only its final result. So that a student is not left with one
silent minute, the supervisor also says what it is doing, one JSON line per step, in the file
named by the environment variable :data:`ENV` - when it is set. Only ``vae-course check`` sets
it (class grading shows one bar per submission instead); student code never sees it (the kernel
and the checker get a clean environment). The events, in order:

* ``{"event": "run", "cells": N}``: the notebook runs, N code cells;
* ``{"event": "cell", "number": i, "line": "..."}``: code cell i (counted from the top, Markdown
  cells included, as in the feedback) starts;
* ``{"event": "check", "exercises": ["2.1", ...]}``: the exercises are checked;
* ``{"event": "exercise", "id": "2.1"}`` and ``{"event": "result", "id": "2.1", "status": "passed"}``.

:class:`~vae_course.grading.terminal.CheckProgress` turns them into progress bars. This module
imports nothing heavy: the supervisor imports it.
"""

from __future__ import annotations

import json
import os

#: The environment variable naming the progress file (set by ``vae-course check`` only).
ENV = "VAE_COURSE_PROGRESS_FILE"


def report(event: str, **data) -> None:
    """Append one event to the progress file, if there is one (never fails the grading)."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"event": event, **data}, ensure_ascii=False) + "\n")
    except OSError:
        pass
