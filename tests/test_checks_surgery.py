"""Exercise 5.4's check (vae_course/checks/surgery.py): the reference passes, every catalogued mistake is distinct
from the answer and from each other on the check's first inputs, and a raising answer gets a message, not a traceback."""

from __future__ import annotations

import itertools
import math

import torch

from vae_course import checks, posteriors
from vae_course.checks import surgery


def test_the_reference_and_a_float64_answer_pass():
    assert checks.elbo_surgery_terms(posteriors.elbo_surgery_terms, allow_reference_calls=True).passed
    double = lambda mu, logvar, z: posteriors.elbo_surgery_terms(mu.double(), logvar.double(), z.double())
    assert checks.elbo_surgery_terms(double, allow_reference_calls=True).passed


def test_every_mistake_differs_from_the_answer_and_from_every_other_mistake():
    inputs = surgery._inputs(7, 3, 4, seed=54)   # the check's first set, where every mistake is named
    right = torch.stack(posteriors.elbo_surgery_terms(*inputs)).double()
    mistakes = surgery._mistakes(*inputs)
    for m in mistakes:
        assert m.value.shape == right.shape, m.name
        assert not torch.allclose(m.value, right, atol=1e-3, rtol=1e-3), m.name
    for a, b in itertools.combinations(mistakes, 2):
        assert not torch.allclose(a.value, b.value, atol=1e-3, rtol=1e-3), (a.name, b.name)


def test_the_reference_adds_up_to_the_closed_form_kl_on_average():
    mu, logvar, _ = surgery._inputs(40, 3, 1, seed=1)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(4000, *mu.shape, generator=torch.Generator().manual_seed(2))
    info, mismatch = posteriors.elbo_surgery_terms(mu, logvar, z)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    assert abs((info + mismatch).mean() - kl) < 0.05
    assert 0 <= info.mean() <= torch.log(torch.tensor(40.0)) + 0.05


def test_a_raising_answer_gets_a_message_naming_the_line():
    def broken(mu, logvar, z):
        return (z - mu.T).sum(-1), z
    result = checks.elbo_surgery_terms(broken)
    assert not result.passed and "raised" in result.text() and "Traceback" not in result.text()


def _with_the_mixture_from_the_package(mu, logvar, z):
    """Delegates log q(z) to the package: the first half of the exercise's work."""
    S, N, D = z.shape
    var = logvar.exp()
    log_q_own = -0.5 * (((z - mu) ** 2 / var) + logvar + math.log(2 * math.pi)).sum(-1)           # (S, N)
    log_q = posteriors.log_aggregate_posterior(z.reshape(-1, D), mu, logvar).reshape(S, N)
    log_p = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(-1)
    return log_q_own - log_q, log_q - log_p


#: Exercises without a float64 case here, and why (tests/test_checks_precision.py).
NOT_FLOAT_TENSORS = {"5.4": "returns a tuple of two tensors; test_the_reference_and_a_float64_answer_pass above"}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("5.4", "vae_course.posteriors.elbo_surgery_terms"):
        lambda mu, logvar, z: posteriors.elbo_surgery_terms(mu, logvar, z),
    ("5.4", "vae_course.posteriors.log_aggregate_posterior"): _with_the_mixture_from_the_package,
}
