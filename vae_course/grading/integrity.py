"""Anti-cheat: the grader's defences against a submission that tries to forge its own result.

The threats, seen in real classes or tried on purpose by the hostile test suite
(``tests/hostile/submissions.py``), and the answer to each:

* **Patching what the checks rely on** from inside an exercise function or cell - replacing
  ``torch.allclose``, a check body, the registry, ``Checker.values`` - so a wrong answer
  passes. :class:`ChecksFingerprint` records the identity of every such object before any
  student code runs in the checker process; after each exercise, anything replaced, deleted
  or added scores that exercise ``error`` and the process is replaced for the rest.
* **Printing a fake result** on the checker's stdout (``{"event": "result", "status":
  "passed"}``). Every line the checker sends carries a random :func:`nonce` that the
  student's code never sees (stdout is redirected before student code runs; the nonce
  arrives on stdin, which is then closed); lines without it are ignored.
* **Editing the grader itself** - its modules, ``vae_course.checks``, a ``--checks`` file -
  from a notebook, so later submissions are graded by altered code. :func:`grader_digests`
  hashes those files before and after the batch; a change stops the run with an error and
  writes nothing.

* **Delegating to the course's own answer** - ``return latent.slerp(z0, z1, t)`` in the
  slerp exercise, or the same reached indirectly (``getattr(importlib.import_module(...), ...)``).
  The package's reference implementations are marked with
  :func:`~vae_course.references.reference_implementation`, which registers their *code*; it
  does not wrap them, so there is no unmarked original to dig out of a wrapper (``__closure__``):
  the function students import is the reference itself. While a check runs the student's
  function (:func:`~vae_course.references.watch_reference_calls`, used by ``Checker.call``), a
  profile hook records every call that runs a registered code, however the function was
  reached, and the check fails when the exercise lists it among its ``delegates``
  (``--allow-reference-calls`` lets a teacher accept it). Calls of the references a check itself
  injects for dependent exercises never count: the *caller* of ``watch_reference_calls`` (the
  check) says which frames are its own (``exempt``) - there is no switch that student code could
  turn off; :class:`ChecksFingerprint` also holds the watch list, so a submission that empties it
  scores ``error``. The marker lives in :mod:`vae_course.references`, a foundation module, so the
  model never imports the grader. Known limits: calls from another thread, and code that removes
  the profile hook itself (``sys.setprofile``) before calling a reference, are not seen.

Overwriting the gradebook or another student's file is answered elsewhere: everything is
read before anything runs, and the files are written at the very end from results held in
memory (:mod:`vae_course.grading.batch`).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import sys
from pathlib import Path

from .. import references
from ..references import reference_implementation  # noqa: F401 - where teachers' check files imported it from


def nonce() -> str:
    """A fresh random token that authenticates one checker process's result lines."""
    return secrets.token_hex(16)


class ChecksFingerprint:
    """The identity of everything a check relies on; :meth:`changes` names what was replaced."""

    def __init__(self):
        self.before = self._take()

    @staticmethod
    def _spaces():
        import numpy
        import torch
        import torch.nn.functional

        from .. import checks

        modules = {"builtins": builtins, "torch": torch, "torch.nn.functional": torch.nn.functional,
                   "torch.testing": torch.testing, "torch.autograd": torch.autograd, "numpy": numpy,
                   "vae_course.grading.integrity": sys.modules[__name__], "vae_course.references": references}
        modules.update({name: module for name, module in sys.modules.items()
                        if name.startswith("vae_course.checks") and module is not None})
        classes = {"torch.Tensor": torch.Tensor, "torch._C.TensorBase": torch._C.TensorBase}
        classes.update({f"checks.{cls.__name__}": cls for cls in
                        (checks.Checker, checks.Result, checks.Exercise, checks.CheckFailed, checks.Mistake,
                         checks.InjectedReference)})
        return modules, classes, checks.REGISTRY

    def _take(self) -> dict:
        modules, classes, registry = self._spaces()
        objects = {}
        for kind, spaces in (("module", modules), ("class", classes)):
            for name, space in spaces.items():
                for key, value in list(vars(space).items()):
                    objects[(kind, name, key)] = value
                    code = getattr(value, "__code__", None)
                    if code is not None:
                        objects[(kind, name, key + ".__code__")] = code
        for ex_id, entry in registry.items():
            objects[("registry", "REGISTRY", ex_id)] = entry
            objects[("registry", "REGISTRY", ex_id + ".body")] = entry.body
            objects[("registry", "REGISTRY", ex_id + ".body.__code__")] = entry.body.__code__
        for name in modules:
            objects[("sys.modules", "sys.modules", name)] = sys.modules.get(name)
        for code, name in list(references._REFERENCE_CODES.items()):  # a reference taken off the watch list
            objects[("references", "references._REFERENCE_CODES", name)] = code
        return objects

    def changes(self) -> list[str]:
        """Names of objects replaced or deleted since the fingerprint (plus attributes added to classes)."""
        now = self._take()
        changed = {f"{name}.{key}".removesuffix(".__code__")
                   for (kind, name, key), value in self.before.items()
                   if (kind, name, key) not in now or now[(kind, name, key)] is not value}
        changed |= {f"{name}.{key}" for (kind, name, key) in now
                    if kind == "class" and (kind, name, key) not in self.before}
        return sorted(changed)


def grader_digests(notebooks: set[str], registry: dict) -> dict[str, str]:
    """sha256 of the files these grades depend on: the grader, the checks' machinery, the notebooks' checks,
    ``--checks``, and the reference marker."""
    from .. import checks

    files = (set(Path(__file__).parent.glob("*.py")) | set(Path(checks.__file__).parent.glob("_*.py"))
             | {Path(references.__file__)})
    for entry in registry.values():
        if entry.notebook in notebooks:
            module = sys.modules.get(entry.body.__module__)
            if getattr(module, "__file__", None):
                files.add(Path(module.__file__))
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files) if f.is_file()}
