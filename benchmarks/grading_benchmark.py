"""How long grading takes: 30 submissions of notebook 00 (half solved, half unanswered stubs).

    python benchmarks/grading_benchmark.py                 # n=30, workers 1 and 2
    python benchmarks/grading_benchmark.py --n 10 --workers 2

Measures, on the same generated submissions:

* **plain nbclient** - executing each notebook once, one after the other, the way
  ``scripts/run_notebooks.py`` does (the floor: what running the notebooks costs);
* ``vae-course grade --workers N`` for each N - the real command (each notebook run
  in a sandboxed kernel, then its exercise checked in a fresh process);
* ``vae-course grade --workers N --scheduler local`` for the most workers - the same grading as
  Dask tasks on a ``distributed.LocalCluster`` of N process workers (the cluster's overhead);
* ``vae-course grade --no-execute`` with the most workers - the checks alone.

and prints wall times, seconds per submission and the ratio to plain nbclient. Results are
recorded in benchmarks/README.md (section "Grading").
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def make_submissions(folder: Path, n: int) -> None:
    """student_00 ... student_{n-1}: even ones solved (the solution notebook), odd ones stubs."""
    folder.mkdir(parents=True)
    for i in range(n):
        source = ROOT / ("solutions" if i % 2 == 0 else "notebooks") / "00_welcome.ipynb"
        shutil.copy(source, folder / f"student_{i:02d}.ipynb")


def plain_nbclient(folder: Path, timeout: float) -> float:
    """Execute every notebook once with nbclient, sequentially; returns the wall time."""
    os.environ["CI"] = "true"  # as the grader's kernels run: no progress bars
    start = time.perf_counter()
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as work:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": work}}).execute(stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def grade(folder: Path, out: Path, workers: int, timeout: float, execute: bool = True, dask: bool = False) -> float:
    """Run the real command; returns the wall time (and checks the gradebook is complete)."""
    command = [sys.executable, "-m", "vae_course", "grade", str(folder), "--out", str(out),
               "--workers", str(workers), "--timeout", str(timeout)] + ([] if execute else ["--no-execute"])
    command += ["--scheduler", "local"] if dask else []
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"grading failed:\n{done.stderr[-3000:]}")
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    n = len(list(folder.glob("*.ipynb")))
    passed = sum(r["status"] == "passed" for r in rows)
    assert len(rows) == n and passed == (n + 1) // 2, f"unexpected gradebook: {len(rows)} rows, {passed} passed"
    print(f"    {done.stdout.strip().splitlines()[0]}", flush=True)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30, help="number of submissions (default: 30)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--timeout", type=float, default=300, help="per-cell timeout, seconds (default: 300)")
    args = parser.parse_args(argv)

    print(f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPU cores")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submissions"
        make_submissions(folder, args.n)
        print(f"{args.n} submissions of 00_welcome ({(args.n + 1) // 2} solved, {args.n // 2} stubs)", flush=True)
        print("  plain nbclient, sequential ...", flush=True)
        results.append(("plain nbclient (sequential)", plain_nbclient(folder, args.timeout)))
        for workers in args.workers:
            print(f"  vae-course grade --workers {workers} ...", flush=True)
            results.append((f"vae-course grade --workers {workers}",
                            grade(folder, Path(tmp) / f"gradebook-{workers}.csv", workers, args.timeout)))
        most = max(args.workers)
        print(f"  vae-course grade --workers {most} --scheduler local ...", flush=True)
        results.append((f"vae-course grade --workers {most} --scheduler local (Dask LocalCluster)",
                        grade(folder, Path(tmp) / "gradebook-dask.csv", most, args.timeout, dask=True)))
        print(f"  vae-course grade --workers {most} --no-execute ...", flush=True)
        results.append((f"vae-course grade --workers {most} --no-execute",
                        grade(folder, Path(tmp) / "gradebook-checks.csv", most, args.timeout, execute=False)))
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    base = results[0][1]
    print()
    print("| method | wall time | per submission | vs plain nbclient |")
    print("| --- | --- | --- | --- |")
    for name, seconds in results:
        print(f"| {name} | {seconds:.0f} s | {seconds / args.n:.1f} s | {seconds / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
