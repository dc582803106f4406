"""Per-exercise test data, kept in each exercise's own test module and gathered here.

Tables that every exercise needs an entry in live next to the exercise's other tests
(``tests/test_checks_<topic>.py``), so that adding an exercise touches only its own test module:

* ``FLOAT64_ANSWERS`` - ``{id: a plain correct answer}``, also checked with its result in float64
  (tests/test_checks_precision.py); an exercise whose result is not a float tensor says why in
  ``NOT_FLOAT_TENSORS`` (``{id: reason}``) instead;
* ``DELEGATIONS`` - ``{(id, reference's dotted name): an answer that calls it}``, one per name in the
  exercise's ``delegates=`` (tests/test_checks_integrity.py).

The tests that use a table check it against ``vae_course.checks.REGISTRY``: an exercise without its
entries fails there, naming what to add.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def gathered(name: str) -> dict:
    """The table ``name`` of every ``tests/test_checks_*.py`` that defines one, merged (a key defined twice is an error)."""
    merged: dict = {}
    for path in sorted(Path(__file__).parent.glob("test_checks_*.py")):
        source = path.read_text(encoding="utf-8")
        if f"\n{name} = " not in source or "from _exercise_data import" in source:  # not a table, or a gatherer
            continue
        table = getattr(importlib.import_module(path.stem), name)
        twice = set(merged) & set(table)
        assert not twice, f"{path.name} defines {name} entries already defined elsewhere: {sorted(twice)}"
        merged.update(table)
    return merged
