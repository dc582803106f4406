"""The kernel a submission's notebook runs in (:func:`notebook_client`): this Python, started through
:mod:`vae_course.grading.sandbox` (limits first), reached over Unix sockets where the platform has them.

Why not TCP, Jupyter's default: jupyter_client picks free ports, releases them and writes them into the
connection file; the kernel binds them a moment later. A grader starting kernels side by side - and anything
else on the machine opening sockets - now and then takes a port in that moment, and the kernel dies before
it answers ("Address already in use", jupyter/jupyter_client#276). Unix sockets are files in the submission's
own folder, so no two kernels can want the same one. Windows, or a folder whose path is too long for a
socket's name, keeps TCP; there a kernel that fails to start is started again (:data:`STARTS`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient

from .protocol import SupervisorJob

STARTUP_S = 180   # allowed for starting a kernel or the checker (importing torch on a busy machine)
STARTS = 2        # tries to start the kernel before the run is reported as failed
_SOCKET_PATH_MAX = 100  # bytes in a Unix socket's name: 104 on macOS, 108 on Linux, less a margin


class _GraderKernels(KernelSpecManager):
    """One kernel spec: this Python, started through vae_course.grading.sandbox (limits first)."""

    memory = 0

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "vae_course.grading.sandbox", str(self.memory),
                                "-f", "{connection_file}"],
                          name="vae-grader", display_name="Python 3 (grader)", language="python")


class _ErrorsOnlyClient(NotebookClient):
    """Keeps only error outputs: the grader needs nothing else, and a flood of prints costs no memory."""

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)


def transport_for(folder: Path) -> str:
    """``"ipc"`` (Unix sockets in ``folder``) where the platform and the folder's path allow it, else ``"tcp"``."""
    name = folder / "kernel-0-ipc-10"  # the longest socket name jupyter_client makes there
    return "ipc" if os.name == "posix" and len(os.fsencode(name)) <= _SOCKET_PATH_MAX else "tcp"


def notebook_client(nb, job: SupervisorJob, root: Path, work: Path, attempt: int = 0) -> NotebookClient:
    """A client that runs ``nb`` in ``work`` in a fresh sandboxed kernel; its connection files go in ``root``
    (removed with it). ``attempt`` numbers the files, so that a second start shares nothing with the first."""
    specs = _GraderKernels()
    specs.memory = job.memory or 0
    km = AsyncKernelManager(kernel_name="vae-grader", kernel_spec_manager=specs, transport=transport_for(root),
                            connection_file=str(root / f"kernel-{attempt}.json"))
    return _ErrorsOnlyClient(nb, km=km, timeout=job.cell_timeout, allow_errors=True, startup_timeout=STARTUP_S,
                             record_timing=False, resources={"metadata": {"path": str(work)}})
