"""Execute solution notebooks in place (refreshing their stored outputs), then regenerate notebooks/.

    python scripts/run_notebooks.py                 # all of solutions/
    python scripts/run_notebooks.py 02 05           # only notebooks whose name starts with 02 or 05
    python scripts/run_notebooks.py --ship 07       # also train what 07's cached_fit calls miss and ship it

Runs with CI=true under the "stored" numerics configuration (vae_course.numerics: one thread, pinned
CPU code paths, no progress bars) and prints each notebook's wall time. Stored outputs are what nbval
compares against, so run this after editing a solution.

--ship: the notebooks' ``cached_fit`` calls load the models the course ships
(vae_course/pretrained/notebook-models). A recipe that changed has none; with --ship it is trained
(in a fresh cache, so nothing stale is reused), copied there, and - when every notebook ran - shipped
models no notebook asked for are deleted. Without --ship such a notebook stops with ModelNotShipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from vae_course import numerics
from vae_course.notebooks import make_student
from vae_course.checkpoints import SHIPPED_MODELS

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False, coalesce_streams=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose name starts with one of these")
    parser.add_argument("--ship", action="store_true", help="train and ship models the notebooks ask for and miss")
    args = parser.parse_args(argv)

    os.environ["CI"] = "true"
    os.environ["VAE_COURSE_STRICT_CLAIMS"] = "1"  # a broken prose guard stops the run (vae_course.claims)
    numerics.apply("stored")
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    if args.prefixes:
        paths = [p for p in paths if any(p.name.startswith(pre) for pre in args.prefixes)]
    with tempfile.TemporaryDirectory() as scratch:
        used = Path(scratch) / "used-models.txt"
        used.touch()
        os.environ["VAE_COURSE_USED_MODELS"] = str(used)
        if args.ship:
            os.environ["VAE_COURSE_CACHE"] = scratch  # trained afresh, never an old cache entry
            os.environ["VAE_COURSE_REQUIRE_SHIPPED"] = "0"
        else:
            os.environ["VAE_COURSE_REQUIRE_SHIPPED"] = "1"
        for path in paths:
            print(f"{path.name}: {execute(path):.1f} s", flush=True)
        if args.ship:
            ship(Path(scratch) / "models", set(used.read_text().split()), prune=not args.prefixes)
    for written in make_student(ROOT / "solutions", ROOT / "notebooks"):
        print(f"wrote {written.relative_to(ROOT)}")
    return 0


def ship(trained: Path, used: set[str], prune: bool) -> None:
    """Copy the newly trained models into the package; with ``prune``, delete the shipped ones not ``used``."""
    SHIPPED_MODELS.mkdir(parents=True, exist_ok=True)
    for path in sorted(trained.glob("*.pt")):
        shutil.copy2(path, SHIPPED_MODELS / path.name)
        print(f"shipped {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    if prune:
        for path in sorted(SHIPPED_MODELS.glob("*.pt")):
            if path.name not in used:
                path.unlink()
                print(f"removed {path.name}: no notebook asks for it")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
