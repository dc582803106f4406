"""How a check ends before it passes: a failed property, a raising function, a stub, or the time limit.

A check body raises :class:`CheckFailed` (status ``failed``) or, for the student's function
raising, :class:`FunctionRaised` (status ``error``); the runner (:mod:`._run`) turns each into
a result. :func:`time_limit` interrupts a check that runs too long.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from ..results import Code, Status, slug

class CheckFailed(Exception):
    """A property did not hold. ``message`` says what, ``hint`` what to do about it.

    ``code`` names the mistake for the class report (default: made from the message's first
    words - pass one when the message contains values). The status is ``failed``; only
    :class:`FunctionRaised` (the student's function raised, and no check body diagnosed why)
    is ``error``. A body that catches a FunctionRaised and raises a CheckFailed instead has
    named the mistake behind the crash, so that is ``failed``.
    """

    def __init__(self, message: str, hint: str = "", *, code: str | None = None, status: Status = Status.FAILED):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or slug("".join(c for c in message if not c.isdigit()), words=6)
        self.status = status


class FunctionRaised(CheckFailed):
    """The student's function raised an exception (status ``error``, code ``raised``)."""

    def __init__(self, message: str, hint: str = "", *, code: str = Code.RAISED):
        super().__init__(message, hint, code=code, status=Status.ERROR)


class _NotImplementedYet(Exception):
    pass


class _TimedOut(BaseException):  # BaseException: a student's `except Exception` cannot swallow it
    pass


@contextmanager
def time_limit(seconds: float | None):
    """Raise inside the block after ``seconds`` (POSIX main thread only; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        if _importing(frame):  # never leave a module half-imported (torch._dynamo loads on the first optimizer)
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            return
        raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _importing(frame) -> bool:
    """Whether ``frame`` runs inside Python's import machinery (a module is being executed for an import).

    A time limit that struck there would leave that module half-initialised in ``sys.modules``, and every
    later use would fail with a confusing error, so :func:`time_limit` waits until the import is over.
    (The grader's supervisor still kills a check that outlives its limit plus a grace.)
    """
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False
