"""Grading on a Dask cluster (``vae-course grade --scheduler``), with a real scheduler and process workers.

* the command with ``--scheduler local`` writes the same files, byte for byte, as local grading of the
  same submissions (except the cell timings, which vary from run to run: ``_class.md``'s "Slowest cells"
  section, present only when a cell took long enough, and the ``seconds`` in ``_results.json``);
* a worker killed while it grades a submission loses and duplicates no row, and a submission whose code
  kills every worker it runs on ends as ``died`` (its exercises ``error``) instead of being retried forever;
* a submission whose task only waited on a worker that another submission killed is graded again;
* no grading process and no task's folder is left afterwards, even of a worker killed as its task started.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell

from hostile import submissions as hostile  # tests/hostile/: the generated submissions
from vae_course.grading import report, sandbox
from vae_course.grading.batch import complete, grade_prepared, prepare
from vae_course.grading.cluster import LOCAL_CONFIG, check_scheduler
from vae_course.grading.options import GradingError, Options
from vae_course.grading.protocol import RunStatus, Status

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Kills the Dask worker that runs it: the kernel's parent is the supervisor, whose parent is the worker.
KILL_WORKER = "import os, signal, psutil\nos.kill(psutil.Process(os.getppid()).ppid(), signal.SIGKILL)"


def grade_cli(folder: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    """The real command, with a TMPDIR of its own (its sandboxes live there: see :func:`marked`)."""
    tmp = folder.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "vae_course", "grade", str(folder), "--out", str(out),
                           "--workers", "2", *extra], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def comparable(path: Path) -> bytes:
    """The file's bytes, less what report.py documents as varying between runs (cell timings)."""
    data = path.read_bytes()
    if path.name.endswith("_results.json"):
        def drop(value):
            if isinstance(value, dict):
                return {k: drop(v) for k, v in value.items() if k != "seconds"}
            return [drop(v) for v in value] if isinstance(value, list) else value
        return json.dumps(drop(json.loads(data))).encode()
    if path.name.endswith("_class.md"):  # the "Slowest cells" section: its lines, and whether any cell was that slow
        slowest = r"Slowest cells \(.*\):\n\n(- «.*»: .* s \(max .* s\)\n)*\n?"
        return re.sub(slowest, "", data.decode()).rstrip().encode()
    return data


def marked(tmp: Path) -> list[psutil.Process]:
    """Sandboxed processes (the grader's marker) whose HOME is under ``tmp``: ours, not another test run's."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if sandbox.MARKER in env and env.get("HOME", "").startswith(str(tmp)):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


def supervisor_started(worker_pid: int, timeout: float = 120) -> bool:
    """Wait until the Dask worker ``worker_pid`` has started a grading supervisor; False if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any("vae_course.grading.supervisor" in " ".join(child.cmdline())
                   for child in psutil.Process(worker_pid).children()):
                return True
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    """alice answers Exercise 0.1 (passes), bob's answer is wrong: short notebooks around the real exercise
    cell of notebook 00, so that each of the ~10 gradings below costs a kernel start, not the whole lesson
    (what runs inside a task does not matter to the cluster; the real notebooks are graded in test_grading)."""
    folder = tmp_path_factory.mktemp("cluster") / "subs"
    folder.mkdir()
    nbformat.write(hostile.small(hostile.CORRECT), folder / "alice.ipynb")
    nbformat.write(hostile.small(hostile.WRONG), folder / "bob.ipynb")
    return folder


@pytest.fixture(scope="module")
def local_run(submissions) -> Path:
    out = submissions.parent / "local" / "gradebook.csv"
    grade_cli(submissions, out)
    return out


def test_scheduler_option_is_checked_before_anything_runs(tmp_path):
    assert check_scheduler("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert check_scheduler("local") == "local"
    with pytest.raises(GradingError, match="--scheduler must be 'local', a Dask scheduler address"):
        check_scheduler(str(tmp_path / "no-such-scheduler.json"))
    done = subprocess.run([sys.executable, "-m", "vae_course", "grade", str(tmp_path), "--out",
                           str(tmp_path / "gb.csv"), "--scheduler", "nowhere"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--scheduler must be" in done.stderr


def test_local_cluster_gives_the_same_files_as_local_grading(submissions, local_run):
    out = submissions.parent / "dask" / "gradebook.csv"
    done = grade_cli(submissions, out, "--scheduler", "local")
    assert "graded 2 submissions" in done.stdout
    local_files = sorted(p.name for p in local_run.parent.iterdir())
    assert local_files == sorted(p.name for p in out.parent.iterdir()) and len(local_files) >= 8
    for name in local_files:
        assert comparable(local_run.parent / name) == comparable(out.parent / name), name
    assert (local_run.parent / "gradebook.csv").read_bytes() == out.read_bytes()  # not just comparable: equal
    assert not marked(submissions.parent / "tmp")


def write_worker_killer(notebook: Path, target: Path) -> None:
    """``target``: ``notebook`` with a first cell that kills the Dask worker running it."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, new_code_cell(KILL_WORKER))
    nbformat.write(nb, target)


def start_cluster(tmp: Path, monkeypatch, *, n_workers: int, allowed_failures: int):
    """A LocalCluster of process workers whose directories, tasks' folders and sandboxes all lie in ``tmp``."""
    import dask
    from distributed import LocalCluster

    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    with dask.config.set({**LOCAL_CONFIG, "distributed.scheduler.allowed-failures": allowed_failures,
                          "temporary-directory": str(tmp)}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=0,
                            dashboard_address=None)


def without_file(rows: list[dict], student: str) -> list[dict]:
    """The student's gradebook rows but for the file's path (graded from another folder)."""
    return [{k: v for k, v in r.items() if k != "file"} for r in rows if r["student"] == student]


def test_a_submission_waiting_on_a_worker_another_one_kills_is_graded_again(submissions, local_run, tmp_path,
                                                                              monkeypatch):
    """One worker, no worker death allowed: aaron's code kills the worker while alice's task waits there.

    Dask gives up on both tasks (KilledWorker), but only aaron's was running: alice is sent again.
    """
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes((submissions / "alice.ipynb").read_bytes())
    write_worker_killer(submissions / "alice.ipynb", folder / "aaron.ipynb")
    cluster = start_cluster(tmp_path / "tmp", monkeypatch, n_workers=1, allowed_failures=0)
    try:
        options = Options(workers=1)
        prepared = prepare([folder], options)
        assert [s.student for s in prepared.subs] == ["aaron", "alice"]  # aaron's task runs first, alice's waits
        graded = grade_prepared(prepared, options, scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    by_student = {g.student: g for g in graded}
    assert by_student["aaron"].run.status == RunStatus.DIED and by_student["aaron"].total == 0
    rows = list(csv.DictReader(report.gradebook_text(complete(graded, prepared)).splitlines()))
    with open(local_run, newline="", encoding="utf-8") as handle:
        assert without_file(rows, "alice") == without_file(list(csv.DictReader(handle)), "alice")
    assert sorted(r["student"] for r in rows) == ["aaron", "alice"]


def test_killed_worker_loses_no_row_and_a_worker_killer_ends_as_died(submissions, local_run, tmp_path, monkeypatch):
    from distributed import Client

    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes((submissions / "alice.ipynb").read_bytes())
    write_worker_killer(submissions / "alice.ipynb", folder / "mallory.ipynb")
    tmp = tmp_path / "tmp"
    cluster = start_cluster(tmp, monkeypatch, n_workers=2, allowed_failures=1)
    client = Client(cluster)
    killed = []

    def kill_a_worker_starting_alice():  # the test's own kill, independent of mallory's (which kills mid-notebook)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for address, keys in client.processing().items():
                if any("alice" in str(k) for k in keys):
                    pid = client.run(os.getpid, workers=[address]).get(address)
                    if pid and supervisor_started(pid):  # early: the task's folder exists, the supervisor starts
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker_starting_alice, daemon=True)
    try:
        options = Options(workers=2)
        prepared = prepare([folder], options)
        killer.start()
        graded = grade_prepared(prepared, options, scheduler=cluster.scheduler_address)
        killer.join(5)
    finally:
        client.close()
        cluster.close()
    assert killed, "the test did not manage to kill a worker mid-task"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    rows = list(csv.DictReader(report.gradebook_text(complete(graded, prepared)).splitlines()))
    with open(local_run, newline="", encoding="utf-8") as handle:
        local_rows = list(csv.DictReader(handle))
    assert without_file(rows, "alice") == without_file(local_rows, "alice") and without_file(rows, "alice")
    assert sorted(r["student"] for r in rows) == ["alice", "mallory"]  # one row each: none lost, none twice
    mallory = [g for g in graded if g.student == "mallory"]
    assert len(mallory) == 1 and mallory[0].run.status == RunStatus.DIED
    assert "died each time" in mallory[0].run.detail
    assert [r.status for r in mallory[0].results] == [Status.ERROR] and mallory[0].total == 0
    time.sleep(1)
    assert not marked(tmp)  # no kernel or checker survived its worker
    # and no task's or sandbox's folder is left, even of a worker killed before its supervisor took over
    left = [str(p.relative_to(tmp)) for p in tmp.rglob("vae-grade-*")]
    assert not left, f"left behind: {left}"
