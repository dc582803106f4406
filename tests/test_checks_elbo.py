"""Checks of notebook 02: references pass, correct-but-different answers pass, and each
catalogued mistake fails with its own hint."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course import checks, diagnostics, losses
from vae_course.checks import STATUS_ERROR, STATUS_FAILED, STATUS_PASSED, STATUS_TIMEOUT


def assert_fails_with(result, hint):
    assert result.status == STATUS_FAILED, result.text()
    assert hint in result.hint, result.text()


# --------------------------------------------------------------------------- 2.1 gaussian_kl

KL_CORRECT = {
    "reference": losses.gaussian_kl,
    "torch.distributions": lambda mu, lv: kl_divergence(Normal(mu, torch.exp(0.5 * lv)), Normal(0.0, 1.0)).sum(-1),
    "with sigma": lambda mu, lv: (0.5 * (mu**2 + torch.exp(0.5 * lv) ** 2 - 1) - torch.log(torch.exp(0.5 * lv))).sum(1),
    "minus half": lambda mu, lv: -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp(), dim=1),
}


@pytest.mark.parametrize("name", KL_CORRECT)
def test_kl_correct_variants_pass(name):
    result = checks.gaussian_kl(KL_CORRECT[name], allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


def kl_terms(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv)


KL_MISTAKES = {
    "mean over dims": (lambda mu, lv: kl_terms(mu, lv).mean(-1), "their KLs add up"),
    "missing 1/2": (lambda mu, lv: 2 * kl_terms(mu, lv).sum(-1), "Multiply by 1/2"),
    "sign": (lambda mu, lv: -kl_terms(mu, lv).sum(-1), "never negative"),
    "logvar as std": (lambda mu, lv: 0.5 * (mu**2 + lv**2 - 1 - torch.log(lv**2)).sum(-1), "not sigma"),
    "logvar as std, 2 log": (lambda mu, lv: 0.5 * (mu**2 + lv**2 - 1 - 2 * torch.log(lv)).sum(-1), "not sigma"),
    "logvar as variance": (lambda mu, lv: 0.5 * (mu**2 + lv - 1 - torch.log(lv)).sum(-1), "already the *log*"),
    "logvar as log-std": (lambda mu, lv: 0.5 * (mu**2 + torch.exp(2 * lv) - 1 - 2 * lv).sum(-1), "not exp(2 * logvar)"),
    "std as variance": (lambda mu, lv: 0.5 * (mu**2 + torch.exp(0.5 * lv) - 1 - lv).sum(-1), "not the standard deviation"),
    "missing -1": (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv).sum(-1), "Don't forget the -1"),
    "mu not squared": (lambda mu, lv: 0.5 * (mu + lv.exp() - 1 - lv).sum(-1), "Square the mean"),
    "no mu term": (lambda mu, lv: 0.5 * (lv.exp() - 1 - lv).sum(-1), "Include mu_j^2"),
    "+logvar": (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 + lv).sum(-1), "The last term is minus logvar"),
    "sum over batch": (lambda mu, lv: kl_terms(mu, lv).sum(), "Don't reduce over the batch"),
    "mean over batch": (lambda mu, lv: kl_terms(mu, lv).sum(-1).mean(), "Don't reduce over the batch"),
    "no sum": (lambda mu, lv: kl_terms(mu, lv), "Sum the KL terms over the latent dimensions"),
    "sum over dim 0": (lambda mu, lv: kl_terms(mu, lv).sum(0), "You reduced over the batch (dim=0)"),
    "detached": (lambda mu, lv: kl_terms(mu, lv).sum(-1).detach(), "Don't use .detach()"),
    "special case": (lambda mu, lv: kl_terms(mu, lv.clamp(min=0)).sum(-1), "right for some inputs only"),
}


@pytest.mark.parametrize("name", KL_MISTAKES)
def test_kl_mistakes_get_their_own_hint(name):
    fn, hint = KL_MISTAKES[name]
    assert_fails_with(checks.gaussian_kl(fn, allow_reference_calls=True), hint)


def test_kl_nan_for_negative_logvar_is_named():
    def kl_with_log_of_logvar(mu, lv):
        # numerically right only because log(lv) is multiplied by 0 when every lv > 0
        return kl_terms(mu, lv).sum(-1) + 0.0 * torch.log(lv).sum(-1)

    result = checks.gaussian_kl(kl_with_log_of_logvar)
    assert result.status == STATUS_FAILED
    assert "negative logvar" in result.message and "Never take log(logvar)" in result.hint


# --------------------------------------------------------------------------- 2.2 bernoulli_log_likelihood

LL_CORRECT = {
    "reference": losses.bernoulli_log_likelihood,
    "bce with logits": lambda l, x: -F.binary_cross_entropy_with_logits(l, x, reduction="none").sum(-1),
    "Bernoulli.log_prob": lambda l, x: Bernoulli(logits=l).log_prob(x).sum(-1),
    "softplus": lambda l, x: (x * l - F.softplus(l)).sum(dim=1),
    "logsigmoid": lambda l, x: (x * F.logsigmoid(l) + (1 - x) * F.logsigmoid(-l)).sum(1),
}


@pytest.mark.parametrize("name", LL_CORRECT)
def test_loglik_correct_variants_pass(name):
    result = checks.bernoulli_log_likelihood(LL_CORRECT[name], allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


def bce(l, x):
    return F.binary_cross_entropy_with_logits(l, x, reduction="none")


def naive(l, x):
    p = torch.sigmoid(l)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


LL_MISTAKES = {
    "returns BCE": (lambda l, x: bce(l, x).sum(-1), "*minus* the binary cross-entropy"),
    "mean over pixels": (lambda l, x: -bce(l, x).mean(-1), "log-probabilities add up"),
    "BCE mean": (lambda l, x: bce(l, x).mean(-1), "Two fixes"),
    "sigmoid twice": (lambda l, x: -bce(torch.sigmoid(l), x).sum(-1), "don't apply torch.sigmoid"),
    "Bernoulli(probs) from sigmoid as logits": (lambda l, x: Bernoulli(logits=torch.sigmoid(l)).log_prob(x).sum(-1),
                                                "don't apply torch.sigmoid"),
    "swapped args": (lambda l, x: -bce(x, l).sum(-1), "the target (the pixels) second"),
    "only x log pi": (lambda l, x: (x * F.logsigmoid(l)).sum(-1), "Add the term for the pixels that are 0"),
    "F.bce on logits": (lambda l, x: -F.binary_cross_entropy(l, x, reduction="none").sum(-1),
                        "expects probabilities in [0, 1]"),
    "log of logits": (lambda l, x: (x * torch.log(l) + (1 - x) * torch.log(1 - l)).sum(-1),
                      "Are you taking the log of the logits?"),
    "naive log(sigmoid)": (naive, "sigmoid(100) is exactly 1.0 in float32"),
    "epsilon in log": (lambda l, x: (x * torch.log(torch.sigmoid(l) + 1e-30)
                                     + (1 - x) * torch.log(1 - torch.sigmoid(l) + 1e-30)).sum(-1),
                       "Right for moderate logits, wrong for extreme ones"),
    "F.bce on probabilities": (lambda l, x: -F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none").sum(-1),
                               "Right for moderate logits, wrong for extreme ones"),
    "batch sum": (lambda l, x: -bce(l, x).sum(), "Don't reduce over the batch"),
    "no sum": (lambda l, x: -bce(l, x), "Sum the log-probabilities of the pixels"),
    "sum over batch dim": (lambda l, x: -bce(l, x).sum(0), "sum over the pixels (the last dimension) instead"),
    "detached": (lambda l, x: -bce(l, x).sum(-1).detach(), "Don't use .detach()"),
}


@pytest.mark.parametrize("name", LL_MISTAKES)
def test_loglik_mistakes_get_their_own_hint(name):
    fn, hint = LL_MISTAKES[name]
    assert_fails_with(checks.bernoulli_log_likelihood(fn, allow_reference_calls=True), hint)


def test_naive_loglik_is_correct_on_moderate_logits():
    """The naive formula only fails on the extreme inputs: the message must say so."""
    result = checks.bernoulli_log_likelihood(naive)
    assert "the log-likelihoods match the reference" in result.checks
    assert "+-100" in result.message


# --------------------------------------------------------------------------- 2.3 elbo

ELBO_CORRECT = {
    "reference": losses.elbo,
    "from the reference parts": lambda l, x, mu, lv: losses.bernoulli_log_likelihood(l, x) - losses.gaussian_kl(mu, lv),
    "torch.distributions": lambda l, x, mu, lv: (
        Bernoulli(logits=l).log_prob(x).sum(-1)
        - kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(torch.zeros_like(mu), torch.ones_like(lv))).sum(-1)),
    "minus the loss": lambda l, x, mu, lv: -(bce(l, x).sum(1) + losses.gaussian_kl(mu, lv)),
}


@pytest.mark.parametrize("name", ELBO_CORRECT)
def test_elbo_correct_variants_pass(name):
    result = checks.elbo(ELBO_CORRECT[name], allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


def rec(l, x):
    return -bce(l, x).sum(-1)


def kl(mu, lv):
    return kl_terms(mu, lv).sum(-1)


ELBO_MISTAKES = {
    "sign (loss)": (lambda l, x, mu, lv: kl(mu, lv) - rec(l, x), "The *loss* -elbo is what training minimises"),
    "KL added": (lambda l, x, mu, lv: rec(l, x) + kl(mu, lv), "subtract the KL"),
    "BCE as reconstruction": (lambda l, x, mu, lv: bce(l, x).sum(-1) - kl(mu, lv), "*minus* the binary cross-entropy"),
    "KL missing": (lambda l, x, mu, lv: rec(l, x), "Subtract the KL term"),
    "reconstruction missing": (lambda l, x, mu, lv: -kl(mu, lv), "Add the reconstruction term"),
    "missing 1/2 in KL": (lambda l, x, mu, lv: rec(l, x) - 2 * kl(mu, lv), "Multiply by 1/2"),
    "logvar as std": (lambda l, x, mu, lv: rec(l, x) - 0.5 * (mu**2 + lv**2 - 1 - torch.log(lv**2)).sum(-1),
                      "not sigma"),
    "logvar as variance": (lambda l, x, mu, lv: rec(l, x) - 0.5 * (mu**2 + lv - 1 - torch.log(lv)).sum(-1),
                           "already the *log*"),
    "std as variance": (lambda l, x, mu, lv: rec(l, x) - 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(-1),
                        "not the standard deviation"),
    "KL mean over latent dims": (lambda l, x, mu, lv: rec(l, x) - kl_terms(mu, lv).mean(-1), "their KLs add up"),
    "loglik mean over pixels": (lambda l, x, mu, lv: -bce(l, x).mean(-1) - kl(mu, lv), "log-probabilities add up"),
    "scalar (mean)": (lambda l, x, mu, lv: (rec(l, x) - kl(mu, lv)).mean(), "Don't reduce over the batch"),
    "scalar (sum)": (lambda l, x, mu, lv: rec(l, x).sum() - kl(mu, lv).sum(), "Don't reduce over the batch"),
    "KL batch mean": (lambda l, x, mu, lv: rec(l, x) - kl(mu, lv).mean(), "gaussian_kl must return shape (B,)"),
    "loglik batch mean": (lambda l, x, mu, lv: rec(l, x).mean() - kl(mu, lv), "return shape (B,), not one number"),
    "KL not summed (broadcast error)": (lambda l, x, mu, lv: rec(l, x) - kl_terms(mu, lv),
                                       "The KL term still has one value per latent dimension"),
    "KL not summed (kept dims)": (lambda l, x, mu, lv: rec(l, x)[:, None] - kl_terms(mu, lv),
                                  "Sum the KL terms over the latent dimensions"),
    "loglik not summed": (lambda l, x, mu, lv: -bce(l, x) - kl(mu, lv),
                          "The log-likelihood term still has one value per pixel"),
    "KL detached": (lambda l, x, mu, lv: rec(l, x) - kl(mu, lv).detach(), "don't detach either"),
    "unstable loglik": (lambda l, x, mu, lv: naive(l, x) - kl(mu, lv), "Make both parts numerically safe"),
    "epsilon in loglik": (lambda l, x, mu, lv: -F.binary_cross_entropy(torch.sigmoid(l), x, reduction="none").sum(-1)
                          - kl(mu, lv), "Right on easy inputs, wrong on hard ones"),
}


@pytest.mark.parametrize("name", ELBO_MISTAKES)
def test_elbo_mistakes_get_their_own_hint(name):
    fn, hint = ELBO_MISTAKES[name]
    assert_fails_with(checks.elbo(fn, allow_reference_calls=True), hint)


def test_elbo_points_to_the_failing_part():
    result = checks.elbo(lambda l, x, mu, lv: rec(l, x) - 2 * kl(mu, lv))
    assert "Exercise 2.1" in result.hint and "KL term" in result.message
    result = checks.elbo(lambda l, x, mu, lv: -bce(l, x).mean(-1) - kl(mu, lv))
    assert "Exercise 2.2" in result.hint and "reconstruction term" in result.message


# --------------------------------------------------------------------------- malformed answers

CHECKS = [(checks.gaussian_kl, 2), (checks.bernoulli_log_likelihood, 2), (checks.elbo, 4)]


def _taking(n_args, value):
    return (lambda a, b, c, d: value()) if n_args == 4 else (lambda a, b: value())


@pytest.mark.parametrize("check, n_args", CHECKS)
@pytest.mark.parametrize("value, message", [
    (lambda: None, "is None"),
    (lambda: np.zeros(4, dtype=np.float32), "NumPy array"),
    (lambda: (torch.zeros(4), torch.zeros(4)), "tuple"),
    (lambda: 1.5, "is a float"),
    (lambda: torch.zeros(4, dtype=torch.long), "dtype"),
    (lambda: torch.zeros(2, 7), "wrong shape"),
    (lambda: torch.full((4,), float("nan")), "NaN"),
])
def test_malformed_returns_are_reported(check, n_args, value, message):
    result = check(_taking(n_args, value))
    assert result.status == STATUS_FAILED
    assert message in result.message, result.text()


@pytest.mark.parametrize("check, n_args", CHECKS)
def test_not_implemented_and_exceptions(check, n_args):
    def stub(*args):
        raise NotImplementedError("Exercise: stub")

    def broken(*args):
        raise ValueError("boom")

    assert check(stub).status == STATUS_FAILED and check(stub).code == "not-answered"
    result = check(broken)
    assert result.status == STATUS_ERROR and "raised ValueError: boom" in result.message


@pytest.mark.parametrize("check, n_args", CHECKS)
def test_slow_functions_time_out(check, n_args):
    def slow(*args):
        time.sleep(5)

    start = time.perf_counter()
    result = check(slow, timeout=0.5)
    assert result.status == STATUS_TIMEOUT
    assert time.perf_counter() - start < 3

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

def _kl_per_dimension(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar)


#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "2.1": lambda mu, logvar: _kl_per_dimension(mu, logvar).sum(dim=1),
    "2.2": lambda logits, x: -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1),
    "2.3": lambda logits, x, mu, logvar: (-F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
                                          - _kl_per_dimension(mu, logvar).sum(1)),
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("2.1", "vae_course.losses.gaussian_kl"): lambda mu, logvar: losses.gaussian_kl(mu, logvar),
    ("2.1", "vae_course.diagnostics.kl_per_dimension"):
        lambda mu, logvar: diagnostics.kl_per_dimension(mu, logvar).sum() * torch.ones(len(mu)),
    ("2.2", "vae_course.losses.bernoulli_log_likelihood"): lambda l, x: losses.bernoulli_log_likelihood(l, x),
    ("2.3", "vae_course.losses.elbo"): lambda l, x, mu, lv: losses.elbo(l, x, mu, lv),
    ("2.3", "vae_course.losses.gaussian_kl"):
        lambda l, x, mu, lv: -torch.nn.functional.binary_cross_entropy_with_logits(l, x, reduction="none").sum(1)
        - losses.gaussian_kl(mu, lv),
    ("2.3", "vae_course.losses.bernoulli_log_likelihood"):
        lambda l, x, mu, lv: losses.bernoulli_log_likelihood(l, x) - 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1),
}
