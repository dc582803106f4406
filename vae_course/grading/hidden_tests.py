"""Hidden tests: the same check again, on inputs the released notebook never shows (nbgrader export, ``grade``).

A check runs with torch's global generator seeded (:data:`~vae_course.checks._run.CHECK_SEED`);
the checks that draw their inputs from it test other inputs under another seed
(``checks.gaussian_kl(gaussian_kl, seed=N)``). Checks that build their inputs from a generator of
their own, from fixed tensors or from configurations (the VAE classes) do not, and get no hidden
test: running them again would test nothing new.

:func:`hidden_seed` finds out which is which by running the check, not by reading it: a probe in
place of the student's function records the first inputs the check passes it, under the usual
seed and under a fresh random one; only when they differ, and the exercise's reference passes
the check under the new seed (so a right answer cannot lose points to it), is the seed used.
The seed is drawn at each export, or derived from a secret string the teacher keeps (``--hidden-seed``, so
that a re-export gives the same hidden tests); it is never stored in the package students install, so a
student cannot know the hidden inputs; nbgrader removes the region that holds it from the released notebook.
``vae-course grade --hidden-seed SECRET`` derives the same seeds from the same secret (:func:`hidden_seeds`), so the
course's own grader runs the hidden tests of an nbgrader export, or hidden tests of its own.
"""

from __future__ import annotations

import hashlib
import importlib
import secrets

import torch

from ..checks import REGISTRY, Exercise, exercises_for, run_check
from ..checks._run import CHECK_SEED

TRIES = 3  # fresh seeds tried per exercise before giving up on a hidden test


class _Probed(NotImplementedError):
    """Raised by the probe after recording its inputs: the check then ends as "not answered"."""


def _fingerprint(value, digest) -> None:
    """Feed what the check passed (tensors, modules' parameters, numbers, containers) into ``digest``."""
    if isinstance(value, torch.Tensor):
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(value, torch.nn.Module):
        for tensor in value.state_dict().values():
            _fingerprint(tensor, digest)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _fingerprint(item, digest)
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(str(key).encode())
            _fingerprint(value[key], digest)
    elif isinstance(value, (int, float, str, bool)) or value is None:
        digest.update(repr(value).encode())
    else:
        digest.update(type(value).__name__.encode())


def first_inputs(entry: Exercise, seed: int) -> str:
    """A digest of the inputs the check of ``entry`` first passes to the student's function under ``seed``."""
    seen = []

    def probe(*args, **kwargs):
        digest = hashlib.sha256()
        _fingerprint((args, kwargs), digest)
        seen.append(digest.hexdigest())
        raise _Probed()

    run_check(entry, probe, seed=seed)
    return seen[0] if seen else ""


def reference(entry: Exercise):
    """A function that passes the check of ``entry`` under the usual seed: its reference, else the first of the
    package's answers it must not call (``delegates``) that does; None if there is none."""
    candidates = [entry.reference_function(), *entry.delegate_functions()]
    for fn in candidates:
        if callable(fn) and run_check(entry, fn, seed=CHECK_SEED, allow_reference_calls=True).passed:
            return fn
    return None


def hidden_seed(entry: Exercise, *, tries: int = TRIES, secret: str | None = None) -> int | None:
    """A fresh seed under which the check of ``entry`` tests other inputs and a reference passes; None if none.

    None for a check whose inputs do not depend on the seed, and for an exercise without a reference
    (:func:`reference`) in this copy of the checks. ``secret``: a teacher's own string (``export
    --hidden-seed``) from which the seeds are derived (with the exercise id), so that exporting again gives
    the same hidden tests; without it, the seeds are drawn at random at each export.
    """
    usual = first_inputs(entry, CHECK_SEED)
    if not usual or first_inputs(entry, CHECK_SEED + 1) == usual:
        return None  # the inputs do not come from the seed
    answer = reference(entry)
    if answer is None:
        return None
    for attempt in range(tries):
        seed = CHECK_SEED + 2 + _draw(secret, entry.id, attempt) % (2**31 - CHECK_SEED - 2)
        if first_inputs(entry, seed) != usual and run_check(entry, answer, seed=seed,
                                                            allow_reference_calls=True).passed:
            return seed
    return None


def _draw(secret: str | None, exercise_id: str, attempt: int) -> int:
    """A random non-negative int: from the OS, or a hash of (secret, exercise, attempt) when a secret is given."""
    if secret is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(f"{secret}\0{exercise_id}\0{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def hidden_seeds(secret: str, notebooks=()) -> dict[str, int]:
    """{exercise id: seed} of the hidden tests that ``secret`` gives the exercises of ``notebooks`` (stems such as
    ``"02_elbo"``; all registered exercises when empty): the seeds ``export nbgrader --hidden-seed SECRET`` writes."""
    entries = [entry for stem in notebooks for entry in exercises_for(stem)] if notebooks else list(REGISTRY.values())
    seeds = {entry.id: hidden_seed(entry, secret=secret) for entry in entries}
    return {exercise_id: seed for exercise_id, seed in seeds.items() if seed is not None}
