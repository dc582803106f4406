"""Run solution notebooks under another numerics configuration and show how their outputs move.

    python scripts/compare_numerics.py foreign          # every notebook under the "foreign" numerics
    python scripts/compare_numerics.py native 04 07     # only 04 and 07

For authors choosing a cell's tolerance (docs/testing-notebooks.md): for every code cell whose
printed text differs from the stored outputs, it prints each changed number (stored -> fresh) and
whether the cell's stated tolerance accepts it. Nothing is written to the notebooks.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams

from vae_course import nbcompare, numerics

ROOT = Path(__file__).resolve().parents[1]


def report(path: Path) -> int:
    """Execute ``path`` and print its cells whose output moved; returns how many are beyond tolerance."""
    stored = nbformat.read(path, as_version=4)
    fresh = copy.deepcopy(stored)
    start = time.perf_counter()
    NotebookClient(fresh, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"== {path.name}: {time.perf_counter() - start:.1f} s; slowest cells: {slowest(fresh)}")
    failures = 0
    for index, (old, new) in enumerate(zip(stored.cells, fresh.cells)):
        if old.cell_type != "code" or "nbval-ignore-output" in old.metadata.get("tags", []):
            continue
        rules = nbcompare.parse_rules(old.metadata)
        stored_outputs, fresh_outputs = coalesce_streams(old.outputs), coalesce_streams(new.outputs)  # as nbval
        exact = nbcompare.reconcile(stored_outputs, copy.deepcopy(fresh_outputs), [])
        if not exact:
            continue
        beyond = nbcompare.reconcile(stored_outputs, copy.deepcopy(fresh_outputs), rules) if rules else exact
        failures += bool(beyond)
        verdict = "BEYOND TOLERANCE" if beyond else "within tolerance"
        print(f"-- cell {index} ({verdict}): {old.source.splitlines()[0][:70] if old.source else ''}")
        for line in exact:
            print("   " + line.replace("\n", "\n   "))
    return failures


def slowest(nb, count: int = 4) -> str:
    """The ``count`` slowest code cells of an executed notebook, e.g. ``"[12] 4.1 s, [3] 2.0 s"``."""
    times = []
    for index, cell in enumerate(nb.cells):
        timing = cell.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            elapsed = (datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                       - datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00")))
            times.append((elapsed.total_seconds(), index))
    return ", ".join(f"[{i}] {t:.1f} s" for t, i in sorted(times, reverse=True)[:count])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configuration", choices=sorted(numerics.CONFIGURATIONS))
    parser.add_argument("prefixes", nargs="*")
    args = parser.parse_args(argv)
    numerics.apply(args.configuration)
    os.environ.update(CI="true", VAE_COURSE_REQUIRE_SHIPPED="1")
    paths = sorted((ROOT / "solutions").glob("*.ipynb"))
    if args.prefixes:
        paths = [p for p in paths if any(p.name.startswith(pre) for pre in args.prefixes)]
    failures = sum(report(path) for path in paths)
    print(f"{failures} cell(s) beyond their tolerance under {args.configuration!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
