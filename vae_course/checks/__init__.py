"""Exercise checks: call one right below each exercise, e.g. ``checks.gaussian_kl(gaussian_kl)``.

Each check runs your function on fixed, seeded inputs and returns a
:class:`Result` whose text says what passed or names the first problem and
the likely mistake. ``REGISTRY`` lists every exercise (used by the grader).

One module per notebook topic defines its checks with ``@exercise(...)``;
every module in this package is imported here, so each check is available as
``checks.<function name>``.
"""

import importlib
import pkgutil

from ._core import REGISTRY, CheckFailed, Exercise, Mistake, Result, exercises_for, run_check

__all__ = ["REGISTRY", "CheckFailed", "Exercise", "Mistake", "Result", "exercises_for", "run_check"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _value in vars(_module).items():
        if callable(_value) and hasattr(_value, "exercise"):
            globals()[_name] = _value
            __all__.append(_name)
