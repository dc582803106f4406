"""Registering a check (:func:`exercise`) and running it (:func:`run_check`): the one path every check takes.

:func:`exercise` declares an exercise in the :data:`~._registry.REGISTRY` and returns the
function students call right below their answer (``checks.gaussian_kl(gaussian_kl)``).
:func:`run_check` runs its body with a :class:`~._checker.Checker`, inside a time limit,
with the references of the exercises it ``uses`` in place, and turns however it ends into a
:class:`~._result.Result` - never raising (except KeyboardInterrupt from the user).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import torch

from ..exercises import record_check
from ..results import Code, Status
from ._checker import Checker
from ._delegation import injected_references
from ._failures import CheckFailed, _NotImplementedYet, _TimedOut, time_limit
from ._hidden import HiddenCheck
from ._registry import REGISTRY, Exercise
from ._result import NOT_ANSWERED_TEXT, Result

DEFAULT_TIMEOUT = 10.0  # seconds per check
#: The seed of torch's global generator while a check runs. Checks that draw their inputs from it (rather than
#: from a generator of their own) test other inputs under another ``seed`` (the nbgrader export's hidden tests).
CHECK_SEED = 1234


def exercise(id: str, notebook: str, function: str, title: str, contract: str, points: int = 1, *,
             reference: Callable | str | None = None, uses: Sequence[str] = (), verified: str = "",
             delegates: Sequence[Callable] = (), parts: Sequence[str] = ()):
    """Register a check body ``body(fn, check)`` and return the student-facing check function.

    ``id`` ("2.1"), ``notebook`` (the notebook's file stem), ``function`` (the name the student
    defines), ``title`` and ``contract`` (shown in feedback), ``points``. ``reference``: the
    reference implementation (or the name of a function in this module); ``uses``: ids of
    earlier exercises whose functions this one calls - the check then runs with their
    references (see :func:`injected_references`); ``verified``: the sentence shown when the
    check passes (what it verified, at most two lines of 100 columns); ``delegates``: the
    package's reference implementations that do this exercise's work - the functions
    themselves, each marked with :func:`~vae_course.references.reference_implementation`
    (anything else is a ``TypeError``) - an answer that calls one fails (see
    :meth:`Checker.call`). ``parts``: the names of the answer's independent parts, for exercises
    whose answer computes several things (two returned terms, three columns); the body judges each
    with :meth:`Checker.part`, and a failed answer earns the share of the points of the parts it
    got right (``Result.credit``). See docs/authoring-exercises.md.
    """

    def register(body: Callable):
        entry = Exercise(id=id, notebook=notebook, function=function, title=title, contract=contract,
                         points=points, body=body, reference=reference, uses=tuple(uses), verified=verified,
                         delegates=tuple(_reference_name(d, id) for d in delegates), parts=tuple(parts))
        if id in REGISTRY and REGISTRY[id].body.__qualname__ != body.__qualname__:
            raise ValueError(f"Exercise id {id} registered twice.")
        REGISTRY[id] = entry

        def check(fn: Callable, timeout: float | None = DEFAULT_TIMEOUT, *, allow_reference_calls: bool = False,
                  seed: int = CHECK_SEED) -> Result:
            return run_check(entry, fn, timeout=timeout, allow_reference_calls=allow_reference_calls, seed=seed)

        check.__name__ = function
        check.__qualname__ = function
        check.__doc__ = f"Check Exercise {id}: {title}.\n\nContract: {contract}"
        check.exercise = entry
        return check

    return register


def _reference_name(delegate: Callable, ex_id: str) -> str:
    """The dotted name a marked reference records (``delegates=`` takes the functions themselves)."""
    name = getattr(delegate, "reference_name", None)
    if name is None:
        raise TypeError(f"Exercise {ex_id}: delegates= takes functions marked with "
                        f"vae_course.references.reference_implementation, got {delegate!r}.")
    return name


#: Notebooks whose checks (or the student code they run) build torch optimizers: see :func:`warm_up`.
OPTIMIZER_NOTEBOOKS = frozenset({"03_reparameterization", "04_training_a_vae"})


def warm_up(entries) -> None:
    """Before the time limit of any of ``entries`` starts: load what torch loads on first use, if they need it.

    The first optimizer imports torch._dynamo (1.5 s of CPU on the development machine, 5-9 s when it is
    busy), which would otherwise count against the time limit of the first check that builds one (Exercise
    4.1) and could time out a correct answer. Only the checks of :data:`OPTIMIZER_NOTEBOOKS` pay for it,
    once per process.
    """
    if any(entry.notebook in OPTIMIZER_NOTEBOOKS for entry in entries):
        _build_a_first_optimizer()
    if any(entry.notebook in META_DEVICE_NOTEBOOKS for entry in entries):
        _use_the_meta_device()


@functools.cache
def _build_a_first_optimizer() -> None:
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


#: Notebooks whose checks run answers on PyTorch's 'meta' device (a device test on any machine): its first use
#: loads torch's meta kernels and decompositions (3-4 s of CPU, more on a busy machine), also paid in :func:`warm_up`.
META_DEVICE_NOTEBOOKS = frozenset({"06_applications", "08_evaluation", "09_molecules"})


@functools.cache
def _use_the_meta_device() -> None:
    z = torch.randn(2, 3, device="meta")
    torch.nn.functional.binary_cross_entropy_with_logits(torch.nn.functional.linear(z, z), torch.zeros(2, 2, device="meta"))
    torch.nn.functional.logsigmoid(z).logsumexp(1)


def run_check(entry: Exercise, fn: Callable, timeout: float | None = DEFAULT_TIMEOUT, *,
              allow_reference_calls: bool = False, seed: int = CHECK_SEED) -> Result:
    """Run one exercise's check on ``fn``; never raises (except KeyboardInterrupt from the user).

    An answer that calls the exercise's own reference (``entry.delegates``) fails with code
    ``called-reference``, unless ``allow_reference_calls`` (then a note says which it called).
    The verdict is recorded (:func:`vae_course.exercises.record_check`): the notebook's later cells use
    ``fn`` only once it passed. ``seed``: torch's global seed while the check runs (:data:`CHECK_SEED`).
    """
    result = _checked(entry, fn, timeout, allow_reference_calls, seed)
    if callable(fn):
        record_check(entry.id, fn, passed=result.status == Status.PASSED,
                     answered=result.code != Code.NOT_ANSWERED, uses=entry.uses)
    return result


def _checked(entry: Exercise, fn: Callable, timeout: float | None, allow_reference_calls: bool, seed: int) -> Result:
    if not callable(fn):
        return Result(entry, Status.ERROR, f"expected your function `{entry.function}`, got a {type(fn).__name__}.",
                      f"Pass the function itself: checks.{entry.function}({entry.function}).", code=Code.NOT_CALLABLE)
    warm_up([entry])
    checker = Checker(fn, entry, allow_reference_calls=allow_reference_calls)
    notes: list = []
    grad_mode = torch.is_grad_enabled()
    with torch.random.fork_rng(devices=[]):  # the check's seed never changes the notebook's random stream
        torch.manual_seed(seed)
        try:
            with injected_references(entry, fn) as notes, time_limit(timeout):
                entry.body(fn, checker)
            notes += [f"it calls `{name}`, the course's own answer (allowed by your teacher)."
                      for name in checker.reference_calls]
            return Result(entry, Status.PASSED, checks=checker.passed, notes=notes)
        except _NotImplementedYet:
            return Result(entry, Status.FAILED, NOT_ANSWERED_TEXT, code=Code.NOT_ANSWERED)
        except HiddenCheck:
            return Result(entry, Status.PASSED, checks=checker.passed, code=Code.CHECKED_IN_PART,
                          notes=notes + ["this copy of the check only tests some properties; your teacher's "
                                         "grader runs the full check."])
        except _TimedOut:
            return Result(entry, Status.TIMEOUT, f"your function did not finish within {timeout:g} s.",
                          "Look for a loop that never ends, or work that grows with the data (loops over pixels).",
                          checks=checker.passed, code=Code.TIMED_OUT, notes=notes)
        except CheckFailed as failed:
            credit = checker.credit(failed)
            right = [f"the {name} is right" for name in entry.parts if credit and checker.judged.get(name)]
            return Result(entry, failed.status, failed.message, failed.hint, checks=checker.passed + right,
                          code=failed.code, notes=notes, credit=credit)
        except (SystemExit, Exception) as err:  # a bug we did not foresee: still a message, not a traceback
            stopped = isinstance(err, SystemExit)
            return Result(entry, Status.ERROR,
                          f"the check could not run your function ({type(err).__name__}: {err}).",
                          "Exercise functions must return a value, not stop the program." if stopped else
                          "Make sure the function has the signature described above the exercise.",
                          checks=checker.passed, code=Code.STOPPED if stopped else Code.CHECK_BROKE, notes=notes)
        finally:
            torch.set_grad_enabled(grad_mode)
