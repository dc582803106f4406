"""Checks of notebook 03: references pass, each catalogued mistake fails with its own hint,
correct-but-different answers pass, malformed returns and slow functions are handled."""

import math
import time

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from vae_course import checks, estimators

# --------------------------------------------------------------------------- 3.1 reparameterize


def reference(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def with_rsample(mu, logvar):
    return Normal(mu, logvar.exp().sqrt()).rsample()


def with_sqrt_of_exp(mu, logvar):
    eps = torch.randn(mu.shape)
    return eps * torch.sqrt(torch.exp(logvar)) + mu


@pytest.mark.parametrize("fn", [reference, with_rsample, with_sqrt_of_exp])
def test_reparameterize_correct_variants_pass(fn):
    result = checks.reparameterize(fn)
    assert result.passed, result.text()
    assert "std of z = exp(logvar / 2)" in result.checks


MISTAKES_31 = {
    "logvar as std": (lambda mu, logvar: mu + logvar * torch.randn_like(mu), "log of the variance"),
    "variance as std": (lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu), "square root"),
    "flipped exponent": (lambda mu, logvar: mu + torch.exp(-0.5 * logvar) * torch.randn_like(mu), "exp(+logvar / 2)"),
    "unscaled noise": (lambda mu, logvar: mu + torch.randn_like(mu), "Multiply the noise"),
    "mu only": (lambda mu, logvar: mu + 0 * logvar, "eval mode"),
    "zero noise": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.zeros_like(mu), "eval mode"),
    "constant noise": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.ones_like(mu), "not torch.ones_like"),
    "scalar noise": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(()), "single number"),
    "same noise per row": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(1, mu.shape[1]),
                           "broadcast over the batch"),
    "same noise per column": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape[0], 1),
                              "shape (B, 1)"),
    "uniform noise": (lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.rand_like(mu), "uniform"),
    "sample() detaches": (lambda mu, logvar: Normal(mu, torch.exp(0.5 * logvar)).sample(), "outside autograd"),
    "detached mu": (lambda mu, logvar: mu.detach() + torch.exp(0.5 * logvar) * torch.randn_like(mu),
                    "don't .detach() mu"),
    "torch.normal": (lambda mu, logvar: torch.normal(mu, torch.exp(0.5 * logvar)), "not reparameterized"),
    "detached std": (lambda mu, logvar: mu + torch.exp(0.5 * logvar).detach() * torch.randn_like(mu),
                     "Don't .detach() the standard deviation"),
    "sqrt of logvar": (lambda mu, logvar: mu + torch.sqrt(logvar) * torch.randn_like(mu), "can be negative"),
}


def reseeded(mu, logvar):
    torch.manual_seed(0)
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


MISTAKES_31["re-seeded"] = (reseeded, "re-seed")


@pytest.mark.parametrize("name", sorted(MISTAKES_31))
def test_reparameterize_mistakes_get_their_hint(name):
    fn, hint = MISTAKES_31[name]
    result = checks.reparameterize(fn)
    assert result.status == "failed", result.text()
    assert hint in result.hint, result.text()


def test_reparameterize_mistakes_have_distinct_hints():
    hints = {checks.reparameterize(fn).hint for fn, _ in MISTAKES_31.values()}
    assert len(hints) == len(MISTAKES_31) - 1  # "mu only" and "zero noise" are one mistake: z == mu


@pytest.mark.parametrize("returned, message", [
    (None, "is None"), (np.zeros((4, 3)), "NumPy"), ((1, 2), "tuple"), (torch.zeros(4), "wrong shape"),
])
def test_reparameterize_malformed_returns(returned, message):
    result = checks.reparameterize(lambda mu, logvar: returned)
    assert result.status == "failed" and message in result.message


def test_reparameterize_stub_slow_and_crashing():
    def stub(mu, logvar):
        raise NotImplementedError("Exercise 3.1")

    def slow(mu, logvar):
        time.sleep(5)

    assert checks.reparameterize(stub).code == "not-answered"
    assert checks.reparameterize(slow, timeout=0.5).status == "timeout"
    crashed = checks.reparameterize(lambda mu, logvar: mu @ logvar)
    assert crashed.status == "error" and "RuntimeError" in crashed.message


def test_reparameterize_check_leaves_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.reparameterize(reference)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- 3.2 score function


def score_reference(f, mu, log_sigma, n_samples):
    sigma = log_sigma.exp()
    z = mu + sigma * torch.randn(n_samples, len(mu))
    return (f(z)[:, None] * (z - mu) / sigma**2).mean(dim=0)


def score_with_log_prob(f, mu, log_sigma, n_samples):
    """Autograd on log q (the way REINFORCE is usually coded), f only evaluated."""
    mu = mu.detach().requires_grad_(True)
    q = Normal(mu, log_sigma.exp())
    z = q.sample((n_samples,))
    surrogate = (f(z).detach() * q.log_prob(z).sum(-1)).mean()
    return torch.autograd.grad(surrogate, mu)[0]


def score_with_baseline(f, mu, log_sigma, n_samples):
    sigma = log_sigma.exp()
    z = mu + sigma * torch.randn(n_samples, len(mu))
    values = f(z)
    return ((values - values.mean())[:, None] * (z - mu) / sigma**2).mean(dim=0)


@pytest.mark.parametrize("fn", [score_reference, score_with_log_prob, score_with_baseline])
def test_score_function_correct_variants_pass(fn):
    result = checks.score_function_gradient(fn)
    assert result.passed, result.text()
    assert any("non-differentiable" in done for done in result.checks)


def pathwise(f, mu, log_sigma, n_samples):
    mu = mu.detach().requires_grad_(True)
    z = mu + log_sigma.exp() * torch.randn(n_samples, len(mu))
    return torch.autograd.grad(f(z).mean(), mu)[0]


def pathwise_allow_unused(f, mu, log_sigma, n_samples):
    z = (mu + log_sigma.exp() * torch.randn(n_samples, len(mu))).requires_grad_(True)
    out = f(z)
    if not out.requires_grad:
        return torch.zeros_like(mu)
    return torch.autograd.grad(out.sum(), z)[0].mean(0)


def _score(sign=1.0, power=2, use_f=True, reduce="mean", sigma_from=lambda ls: ls.exp()):
    def fn(f, mu, log_sigma, n_samples):
        sigma = sigma_from(log_sigma)
        z = mu + sigma * torch.randn(n_samples, len(mu))
        weight = f(z)[:, None] if use_f else 1.0
        terms = sign * weight * (z - mu) / sigma**power
        return terms.mean(0) if reduce == "mean" else terms.sum(0) if reduce == "sum" else terms
    return fn


MISTAKES_32 = {
    "pathwise": (pathwise, "pathwise"),
    "pathwise, zero grads": (pathwise_allow_unused, "pathwise"),
    "sign": (_score(sign=-1.0), "no minus sign"),
    "divided by sigma": (_score(power=1), "not by sigma"),
    "missing f": (_score(use_f=False), "averages to 0"),
    "sum over samples": (_score(reduce="sum"), "don't sum"),
    "per-sample terms": (_score(reduce="none"), ".mean(dim=0)"),
    "log_sigma as sigma": (_score(sigma_from=lambda ls: ls), "sigma = exp(log_sigma)"),
}


@pytest.mark.parametrize("name", sorted(MISTAKES_32))
def test_score_function_mistakes_get_their_hint(name):
    fn, hint = MISTAKES_32[name]
    result = checks.score_function_gradient(fn)
    assert result.status == "failed", result.text()
    assert hint in result.hint, result.text()


@pytest.mark.parametrize("returned, message", [
    (None, "is None"), (np.zeros(3), "NumPy"), ((1, 2), "tuple"), (torch.zeros(3, 3), "wrong shape"),
    (3.0, "float"),
])
def test_score_function_malformed_returns(returned, message):
    result = checks.score_function_gradient(lambda f, mu, log_sigma, n: returned)
    assert result.status == "failed" and message in result.message


def test_score_function_slow_loop_times_out():
    def loop(f, mu, log_sigma, n_samples):
        sigma = log_sigma.exp()
        total = torch.zeros_like(mu)
        for _ in range(n_samples):
            z = mu + sigma * torch.randn(1, len(mu))
            total += f(z)[0] * (z[0] - mu) / sigma**2
        return total / n_samples

    result = checks.score_function_gradient(loop, timeout=0.5)
    assert result.status == "timeout"


def _std(logvar):
    return torch.exp(0.5 * logvar)


NOT_NORMAL = {
    "rescaled uniform": lambda mu, lv: mu + _std(lv) * (torch.rand_like(mu) - 0.5) * math.sqrt(12),
    "plus or minus one": lambda mu, lv: mu + _std(lv) * (torch.randint(0, 2, mu.shape).float() * 2 - 1),
    "laplace": lambda mu, lv: mu + _std(lv) * torch.distributions.Laplace(0.0, 2**-0.5).sample(mu.shape),
}


@pytest.mark.parametrize("name", NOT_NORMAL)
def test_noise_with_the_right_moments_but_the_wrong_distribution_is_named(name):
    """Mean 0 and std 1 are not enough: the Kolmogorov-Smirnov distance from N(0, 1) is tested."""
    result = checks.reparameterize(NOT_NORMAL[name])
    assert result.code == "noise-not-normal" and "Kolmogorov-Smirnov" in result.message, result.text()


def test_noise_correlated_from_row_to_row_is_named():
    def smoothed(mu, lv):
        eps = torch.randn_like(mu)
        return mu + _std(lv) * (eps + torch.roll(eps, 1, dims=0)) / math.sqrt(2)

    result = checks.reparameterize(smoothed)
    assert result.code == "noise-correlated-across-rows", result.text()

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

def _score_function_gradient(f, mu, log_sigma, n):
    sigma = log_sigma.exp()
    z = mu + sigma * torch.randn(n, len(mu))
    return (f(z)[:, None] * (z - mu) / sigma**2).mean(dim=0)


#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "3.1": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn_like(mu),
    "3.2": _score_function_gradient,
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("3.2", "vae_course.estimators.score_terms"):
        lambda f, mu, log_sigma, n: estimators.score_terms(f, mu, log_sigma.exp(), torch.randn(n, len(mu))).mean(0),
    ("3.2", "vae_course.estimators.gradient_estimates"):
        lambda f, mu, log_sigma, n: estimators.gradient_estimates(f, mu, log_sigma.exp(), n, method="score")[0],
}
