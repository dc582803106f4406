"""Execute solution notebooks in place (refreshing their stored outputs), then regenerate notebooks/.

    python scripts/run_notebooks.py                 # all of solutions/
    python scripts/run_notebooks.py 02 05           # only notebooks whose name starts with 02 or 05

Runs with CI=true and vae_course.notebooks.REPRODUCIBLE_ENV (one thread, pinned CPU code paths, no progress
bars - as the test suite) and prints each notebook's wall time.
Stored outputs are what nbval compares against, so run this after editing a solution.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from vae_course.notebooks import REPRODUCIBLE_ENV, make_student

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int = 300) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(prefixes: list[str]) -> int:
    os.environ["CI"] = "true"
    os.environ.update(REPRODUCIBLE_ENV)  # as in the test suite (conftest.py): outputs must match nbval's run
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(pre) for pre in prefixes)]
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    for written in make_student(ROOT / "solutions", ROOT / "notebooks"):
        print(f"wrote {written.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
