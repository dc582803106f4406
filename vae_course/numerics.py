"""Numerics of the kernels that run the notebooks: how outputs are stored, and how the tests vary it.

A notebook's stored outputs are compared with a fresh run on the reader's machine (nbval). The same
float32 program prints slightly different numbers on different CPUs: AVX-512, AVX2 and ARM kernels,
one or two threads, oneDNN or not, all round differently, and training amplifies the last bits. So:

* outputs are **stored** under one pinned configuration (``"stored"``: one thread, AVX2 code paths,
  MKL's reproducible mode, convolutions without oneDNN), so re-running ``scripts/run_notebooks.py``
  on the author's machine reproduces them and a diff shows only what the author changed;
* tests run under another configuration - ``"native"`` by default (whatever the machine does, with
  one thread per test worker), or ``"foreign"``, which is deliberately different from ``"stored"``
  in every setting on every machine (other ATen kernels, two threads, oneDNN on, MKL unpinned; CI
  uses it) - and numbers that depend on the rounding are compared within a tolerance (see
  :mod:`vae_course.nbcompare`).

Choose with ``VAE_COURSE_NUMERICS=stored|native|foreign`` (conftest.py applies it to nbval's kernels).
The environment must be set before the kernel process starts: torch reads it once. The one setting
torch takes as a call, not from the environment (oneDNN on or off), is made by
:func:`use_configured_backends`, called explicitly: by each kernel before its first cell (its
``PYTHONSTARTUP`` file, :data:`KERNEL_STARTUP`) and by conftest.py for the test process itself.
Importing a module of the course changes no backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

# No training progress bars in any of them: a bar appears only when a model is trained rather than
# loaded from the cache, so it would make a notebook's outputs depend on the cache's state.
_QUIET = {"VAE_COURSE_PROGRESS": "0"}

CONFIGURATIONS: dict[str, dict[str, str]] = {
    "stored": {
        "OMP_NUM_THREADS": "1",            # sums are not split over threads
        "ATEN_CPU_CAPABILITY": "avx2",     # torch's own vectorised kernels (not AVX-512)
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE",          # MKL's "conditional numerical reproducibility" mode
        "VAE_COURSE_ONEDNN": "0",          # convolutions as im2col + MKL products (see use_configured_backends)
        **_QUIET,
    },
    "native": {"OMP_NUM_THREADS": "1", **_QUIET},  # one thread: test workers run side by side
    "foreign": {
        "OMP_NUM_THREADS": "2",
        # Kernels other than stored's AVX2 ones: AVX-512 where the CPU has it, else the scalar ones.
        "ATEN_CPU_CAPABILITY": "avx512" if torch.backends.cpu.get_cpu_capability() == "AVX512" else "default",
        "VAE_COURSE_ONEDNN": "1",
        # Not a numeric setting (the threads split the work the same way): OpenMP threads that wait for
        # work sleep instead of spinning. Two test workers with two threads each put four threads on two
        # cores; spinning ones then burn the time slices the working ones need (measured: notebook 03's
        # training cell 69 s spinning, 3 s passive, next to notebook 09 on the other worker).
        "OMP_WAIT_POLICY": "PASSIVE",
        **_QUIET,
    },
}
"""Environment variables of each configuration. Variables a configuration does not name are removed
(e.g. ``MKL_CBWR`` under ``"native"``), so the machine's own defaults apply."""

_MANAGED = sorted({name for env in CONFIGURATIONS.values() for name in env})

#: The kernels' ``PYTHONSTARTUP`` file under a configuration that chooses backends: it calls
#: :func:`use_configured_backends` before the notebook's first cell.
KERNEL_STARTUP = str(Path(__file__).with_name("_kernel_startup.py"))


def kernel_environment(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: ``os.environ``) with configuration ``name`` applied; for starting a kernel.

    >>> kernel_environment("native", {"MKL_CBWR": "COMPATIBLE", "HOME": "/h"})["OMP_NUM_THREADS"]
    '1'
    >>> "MKL_CBWR" in kernel_environment("native", {"MKL_CBWR": "COMPATIBLE"})
    False
    """
    if name not in CONFIGURATIONS:
        raise ValueError(f"unknown numerics configuration {name!r}: choose one of {', '.join(CONFIGURATIONS)} "
                         "(VAE_COURSE_NUMERICS)")
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _MANAGED}
    if env.get("PYTHONSTARTUP") == KERNEL_STARTUP:
        del env["PYTHONSTARTUP"]
    env.update(CONFIGURATIONS[name])
    if "VAE_COURSE_ONEDNN" in env:
        env["PYTHONSTARTUP"] = KERNEL_STARTUP
    return env


def apply(name: str) -> None:
    """Set configuration ``name`` in this process's environment, for the kernels it starts later."""
    new = kernel_environment(name)
    for key in _MANAGED + ["PYTHONSTARTUP"]:
        if key != "PYTHONSTARTUP" or os.environ.get(key) == KERNEL_STARTUP:
            os.environ.pop(key, None)
    os.environ.update(new)


def use_configured_backends() -> None:
    """Turn oneDNN off (or on) in this process when the configuration says so (``VAE_COURSE_ONEDNN=0``).

    Without oneDNN, convolutions run as im2col + MKL matrix products, which ``MKL_CBWR`` pins;
    oneDNN's kernel choice may depend on the CPU's cache sizes. Called explicitly by a kernel's
    startup file (:data:`KERNEL_STARTUP`) and by conftest.py; a no-op when the variable is unset.
    """
    setting = os.environ.get("VAE_COURSE_ONEDNN")
    if setting in ("0", "1"):
        torch.backends.mkldnn.enabled = setting == "1"


def describe() -> str:
    """One line for the test report: the torch CPU capability and thread count in this process."""
    return (f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} thread(s), oneDNN {'on' if torch.backends.mkldnn.enabled else 'off'}")
