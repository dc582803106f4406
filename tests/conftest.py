"""Shared fixtures for the package's unit tests (``tests/``).

Every test runs with ``VAE_COURSE_CACHE`` and ``VAE_COURSE_DATA`` pointing to
empty temporary folders, so the tests never read or write the user's real
cache (``~/.cache/vae-course``) and ``source="auto"`` always means the
embedded subset unless a test puts MNIST files into the data folder itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CourseDirs:
    cache: Path  # $VAE_COURSE_CACHE
    data: Path   # $VAE_COURSE_DATA (empty: no full MNIST)


@pytest.fixture(autouse=True)
def course_dirs(tmp_path_factory, monkeypatch) -> CourseDirs:
    """Point the model cache and the data root to fresh temporary folders; no device override."""
    base = tmp_path_factory.mktemp("course")
    dirs = CourseDirs(cache=base / "cache", data=base / "data")
    dirs.cache.mkdir()
    dirs.data.mkdir()
    monkeypatch.setenv("VAE_COURSE_CACHE", str(dirs.cache))
    monkeypatch.setenv("VAE_COURSE_DATA", str(dirs.data))
    monkeypatch.delenv("VAE_COURSE_DEVICE", raising=False)
    monkeypatch.delenv("VAE_COURSE_REQUIRE_SHIPPED", raising=False)  # set for the notebook kernels only
    return dirs


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The unit tests use tiny tensors: one thread avoids OpenMP spin-waiting on a shared 2-core machine.

    (Measured: a tiny fit took 3-6 s with two threads on a busy machine, 0.2 s with one.)
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def official_test_dir() -> Path:
    """The folder with the official MNIST test split (../shared/data/mnist-test); skip when absent."""
    from vae_course.data import default_official_test_dir

    folder = default_official_test_dir()
    if folder is None:
        pytest.skip("official MNIST test split not found: it lives in ../shared/data/mnist-test next to the "
                    "repository (or set VAE_COURSE_MNIST_TEST); a user's own clone does not have it")
    return folder


@pytest.fixture
def no_network(monkeypatch):
    """Make every attempt to reach the internet fail at once (URLError / socket error), never touching it."""
    import socket
    import urllib.error
    import urllib.request

    attempts = []

    def refuse_urlopen(url, *args, **kwargs):
        attempts.append(getattr(url, "full_url", url))
        raise urllib.error.URLError(OSError(101, "Network is unreachable (blocked by the test)"))

    def refuse_connect(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(101, "Network is unreachable (blocked by the test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse_urlopen)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse_connect(None, a[0] if a else None))
    return attempts
