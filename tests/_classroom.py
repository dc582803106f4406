"""A short notebook 02 for the nbgrader and otter round trips (tests/test_nbgrader.py, tests/test_otter.py).

The real exercise, check and Think! cells of ``solutions/02_elbo.ipynb`` after a short import
cell, so the kernels of the real tools start fast; and ways to fill in its answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
STEM = "02_elbo"
IMPORTS = "import math\n\nimport torch\nimport torch.nn.functional as F\n\nfrom vae_course import checks"
KL_ANSWER = "0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)"  # a line of the solution, to look for
WRONG_LOGLIK = ("def bernoulli_log_likelihood(logits, x):\n"
                "    return F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(dim=-1)\n")
# Tools run `alembic` (nbgrader's migrations) and `otter` from PATH: the ones installed next to this Python.
ENV = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def short_solution(stem: str = STEM) -> nbformat.NotebookNode:
    """A notebook (02 unless ``stem`` says another) cut down to an import cell, its exercises with their checks
    and (02) one Think! cell."""
    full = nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)
    keep = [c for c in full.cells if any(t.startswith("exercise-") for t in c.metadata.get("tags", []))
            or c.source.startswith("checks.")]
    think = [c for c in full.cells if c.cell_type == "markdown" and c.source.startswith("**Think!**")
             and "<!-- BEGIN SOLUTION -->" in c.source][:1] if stem == STEM else []
    return new_notebook(cells=[new_code_cell(IMPORTS), *keep, *think], metadata=full.metadata)


def exercise_of(source: str, stem: str = STEM) -> str | None:
    """The id of the exercise whose function ``source`` defines (``def gaussian_kl(`` -> ``"2.1"``), or None."""
    from vae_course.checks import exercises_for

    return next((e.id for e in exercises_for(stem) if f"def {e.function}(" in source), None)


def answers(stem: str = STEM) -> dict[str, str]:
    """The sources of the solution's exercise cells, by exercise id (2.1, 2.2, 2.3, 2.4 for 02)."""
    return {exercise_of(c.source, stem): c.source for c in short_solution(stem).cells if c.metadata.get("tags")}


def run(*command, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *map(str, command)], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=ENV)
