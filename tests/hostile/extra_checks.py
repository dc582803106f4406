"""Test-only exercises for the grading tests: a two-exercise notebook "99_grading_test".

Loaded by the grader with ``--checks tests/hostile/extra_checks.py`` (the way a
teacher adds their own exercises without editing the package).
"""

import torch

from vae_course.checks import exercise


@exercise("99.1", "99_grading_test", "add_one", points=2, title="add one",
          contract="add_one(x: (N,)) -> (N,): x + 1")
def add_one(fn, t):
    x = torch.arange(5.0)
    out = t.tensor(t.call(x), like=x)
    t.shape(out, (5,), ["n"])
    t.values(out, x + 1, "the values")


@exercise("99.2", "99_grading_test", "double", points=1, title="double",
          contract="double(x: (N,)) -> (N,): 2 x")
def double(fn, t):
    x = torch.arange(5.0)
    out = t.tensor(t.call(x), like=x)
    t.shape(out, (5,), ["n"])
    t.values(out, 2 * x, "the values")
