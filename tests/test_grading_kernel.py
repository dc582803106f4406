"""The grader's kernel (vae_course.grading.kernel): Unix sockets where possible, and a second start when the
first kernel dies before it answers - the port race that once reported a correct notebook as "failed" in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_course.grading.kernel import transport_for

ROOT = Path(__file__).resolve().parents[1]

# Runs in a subprocess of its own: run_notebook kills every descendant of its process when it ends, which in a
# pytest worker would include other tests' browsers and kernels.
SCRIPT = r"""
import json, sys
from pathlib import Path
from nbformat.v4 import new_code_cell, new_notebook, writes
from vae_course.grading import kernel, supervisor
from vae_course.grading.protocol import SupervisorJob

dying_starts, root = int(sys.argv[1]), Path(sys.argv[2])
made = []

def flaky_client(nb, job, root, work, attempt=0):
    client = kernel.notebook_client(nb, job, root, work, attempt)
    made.append(client.km.transport)
    if attempt < dying_starts:  # this start's kernel exits at once, before it answers kernel_info
        client.km.kernel_spec_manager.get_kernel_spec = lambda name: kernel.KernelSpec(
            argv=[sys.executable, "-c", "raise SystemExit(1)"], name="dies", display_name="dies", language="python")
    return client

supervisor.notebook_client = flaky_client
nb = new_notebook(cells=[new_code_cell("print(6 * 7)")])
job = SupervisorJob(notebook=writes(nb), filename="n.ipynb", exercises=[], cell_timeout=60, notebook_timeout=300,
                    check_timeout=60, memory=0, threads=1, checks_files=[], student_checks={}, execute=True,
                    workdir=str(root))
report = supervisor.run_notebook(job, root, marker="test")
print(json.dumps({"status": str(report.status), "detail": report.detail, "transports": made}))
"""


def run_with(dying_starts: int, tmp_path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(dying_starts), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_kernel_that_dies_before_it_answers_is_started_again(tmp_path):
    got = run_with(1, tmp_path)
    assert got["status"] == "ok", got
    assert len(got["transports"]) == 2


def test_a_kernel_that_never_starts_is_reported_as_failed_with_the_reason(tmp_path):
    got = run_with(5, tmp_path)
    assert got["status"] == "failed" and len(got["transports"]) == 2, got   # STARTS tries, no more
    assert got["detail"].startswith("the notebook could not be run (RuntimeError: Kernel died"), got


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets: Windows kernels use TCP")
def test_unix_sockets_where_the_path_allows_tcp_where_it_is_too_long(tmp_path):
    assert transport_for(Path("/tmp/vae-grade-x")) == "ipc"
    assert transport_for(Path("/tmp") / ("d" * 90)) == "tcp"


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets: Windows kernels use TCP")
def test_the_grader_kernel_runs_over_unix_sockets(tmp_path):
    got = run_with(0, tmp_path)
    assert got == {"status": "ok", "detail": "", "transports": ["ipc"]}
