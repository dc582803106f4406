"""Limits and clean-up for processes that run student code.

Every process that may run student code (the notebook's kernel, the checker)

* gets resource limits set on itself before any student code runs
  (:func:`apply_limits`: address space, no core files, a cap on file sizes; the kernel is started
  through :func:`launch_kernel`, ``python -m vae_course.grading.sandbox MEMORY_BYTES -f FILE``);
* runs in a clean environment (:func:`clean_env`): a private empty ``HOME``
  and ``TMPDIR``, no credentials from the teacher's environment, one thread
  per worker, and a marker variable unique to the submission;
* is started in a session of its own, so it cannot signal the grader's
  process group.

Afterwards *everything* it started is killed (:func:`kill_descendants`). On
Linux the per-submission supervisor makes itself a "child subreaper", so even
processes that ``setsid`` and double-fork are re-parented to it instead of to
init and show up among its descendants; as a second net, processes whose
environment carries the submission's marker are killed too
(:func:`kill_marked`).

This is not a security boundary against a determined attacker running as
the same user (see docs/teaching.md, "How safe is it?").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import psutil

MARKER = "VAE_COURSE_GRADING_RUN"  # environment variable carried by every sandboxed process
GIB = 2**30

# Variables passed through from the teacher's environment; everything else is dropped.
_PASS_THROUGH = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV",
                 "CONDA_PREFIX", "SYSTEMROOT", "VAE_COURSE_DATA", "VAE_COURSE_DEVICE", "CUDA_VISIBLE_DEVICES")

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


def _python_path() -> str:
    """PYTHONPATH for child processes: vae_course must import even if it is not installed."""
    import site

    import vae_course

    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    package_root = str(Path(vae_course.__file__).resolve().parents[1])
    site_dirs = {str(Path(p).resolve()) for p in site.getsitepackages() if p}
    if package_root not in site_dirs and package_root not in entries:
        entries.insert(0, package_root)
    user_site = site.getusersitepackages()  # HOME changes, so the teacher's user site must be named
    if user_site in sys.path and user_site not in entries:
        entries.append(user_site)
    return os.pathsep.join(entries)


def clean_env(home: Path, marker: str, threads: int = 1) -> dict[str, str]:
    """The environment for student code: private HOME/TMPDIR, no secrets, ``threads`` CPU threads."""
    env = {key: os.environ[key] for key in _PASS_THROUGH if key in os.environ}
    if _python_path():
        env["PYTHONPATH"] = _python_path()
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "USERPROFILE": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "VAE_COURSE_CACHE": str(home / ".cache" / "vae-course"),
        "MPLBACKEND": "Agg",
        "CI": "true",  # no progress bars, as in the course's CI
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        MARKER: marker,
    })
    return env


def apply_limits(memory_bytes: int | None, file_bytes: int = 2 * GIB) -> None:
    """Limit the calling process (and what it starts): address space, core files, file size.

    Called by the kernel launcher and the checker on themselves, before student
    code runs. A limit the platform does not support is skipped.
    """
    try:
        import resource
    except ImportError:  # Windows: no limits (see docs/teaching.md)
        return
    limits = [(getattr(resource, "RLIMIT_CORE", None), 0),
              (getattr(resource, "RLIMIT_FSIZE", None), file_bytes)]
    if memory_bytes:
        limits.append((getattr(resource, "RLIMIT_AS", None), memory_bytes))
    for which, value in limits:
        if which is None:
            continue
        try:
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError):
            pass


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux): daemonised student processes stay our descendants."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(signum: int) -> bool:
    """Get ``signum`` when the process (thread) that started us dies (Linux).

    The supervisor asks for SIGTERM and then kills what it started: a grader or Dask worker that
    is killed mid-task leaves no kernel or checker running.
    """
    return _prctl(_PR_SET_PDEATHSIG, int(signum))


def hide_from_same_user() -> bool:
    """Make /proc/<our pid>/fd and ptrace unavailable to other processes of this user (Linux)."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def _kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(procs, timeout=5)  # also reaps the zombies of processes we adopted


def kill_descendants(root: psutil.Process | None = None, *, spare: int | None = None) -> int:
    """Kill every descendant of ``root`` (default: this process) except the process ``spare`` (a pid,
    e.g. a checker started before the student's code ran, which has no children); returns how many were killed."""
    root = root or psutil.Process()
    killed = 0
    for _ in range(20):  # repeat: a process may fork while we kill its parent
        try:
            procs = [p for p in root.children(recursive=True) if p.pid != spare]
        except psutil.NoSuchProcess:
            return killed
        if not procs:
            return killed
        _kill_all(procs)
        killed += len(procs)
    return killed


def marked_processes(marker: str) -> list[psutil.Process]:
    """Processes of this user whose environment carries ``MARKER=marker``."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARKER) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            pass
    return found


def kill_marked(marker: str) -> int:
    """Kill every process carrying ``marker`` (the net for anything that escaped its parent)."""
    killed = 0
    for _ in range(5):
        procs = marked_processes(marker)
        if not procs:
            break
        _kill_all(procs)
        killed += len(procs)
        time.sleep(0.05)
    return killed


def remove_tree(path: Path) -> None:
    """Remove a folder student code wrote into, even where it removed our permissions."""
    def make_writable_and_retry(function, name, _):
        try:
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            if not os.path.islink(name):
                os.chmod(name, stat.S_IRWXU)
            function(name)
        except OSError:
            pass

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=make_writable_and_retry)


def launch_kernel(argv: list[str]) -> None:
    """Start an IPython kernel under the grader's limits: ``argv`` is ``MEMORY_BYTES -f CONNECTION_FILE``.

    The grader's kernel spec points here instead of ``ipykernel_launcher``, so the limits are set on
    the kernel process itself before it can run any cell.
    """
    apply_limits(int(argv[0]) or None)
    if sys.path and sys.path[0] == "":  # as ipykernel_launcher does
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv[1:])


if __name__ == "__main__":
    launch_kernel(sys.argv[1:])
