"""Check of Exercise 2.4 (notebook 02, section 1.1): the log-evidence by sampling the prior.

Correct answers written differently pass; every catalogued mistake fails with its own hint; malformed
returns and crashes are named; no failure of 2.1-2.4 prints a line of the notebook's solution.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import _catalogue_02
from _solution_lines import printed_solution_lines
from test_checks_elbo import ELBO_MISTAKES, KL_MISTAKES, LL_MISTAKES
from vae_course import checks, evaluation
from vae_course.checks import STATUS_ERROR, STATUS_FAILED, STATUS_PASSED

ENTRY = _catalogue_02.PRIOR_LOG_EVIDENCE


def test_the_reference_passes():
    result = checks.prior_log_evidence(evaluation.prior_log_evidence, allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


@pytest.mark.parametrize("name", ENTRY["correct"])
def test_correct_variants_pass(name):
    result = checks.prior_log_evidence(ENTRY["correct"][name])
    assert result.status == STATUS_PASSED, result.text()


@pytest.mark.parametrize("name", ENTRY["wrong"])
def test_mistakes_are_named(name):
    fn, needle = ENTRY["wrong"][name]
    result = checks.prior_log_evidence(fn)
    assert result.status == STATUS_FAILED, result.text()
    assert needle in result.message + " " + result.hint or result.code == needle, result.text()


def test_the_naive_exp_fails_at_the_first_stage_and_float64_at_the_second():
    naive = ENTRY["wrong"]["naive log-mean-exp"][0]
    wide = ENTRY["wrong"]["naive log-mean-exp in float64"][0]
    assert "log-likelihoods of -200 nats" not in checks.prior_log_evidence(naive).text().split("Already fine")[-1]
    result = checks.prior_log_evidence(wide)
    assert "grey images" in result.message and "finite values for log-likelihoods of -200 nats" in result.checks


@pytest.mark.parametrize("value, message", [
    (lambda: None, "is None"),
    (lambda: np.zeros(5, dtype=np.float32), "NumPy array"),
    (lambda: (torch.zeros(5), torch.zeros(5)), "tuple"),
    (lambda: 1.5, "is a float"),
    (lambda: torch.zeros(5, dtype=torch.long), "dtype"),
    (lambda: torch.zeros(2, 3), "wrong shape"),
    (lambda: torch.full((5,), float("nan")), "NaN"),
])
def test_malformed_returns_are_reported(value, message):
    result = checks.prior_log_evidence(lambda decode, x, z: value())
    assert result.status == STATUS_FAILED and message in result.message, result.text()


def test_stub_and_crash():
    def stub(decode, x, z):
        raise NotImplementedError("Exercise 2.4: stub")

    def broken(decode, x, z):
        raise ValueError("boom")

    assert checks.prior_log_evidence(stub).code == "not-answered"
    result = checks.prior_log_evidence(broken)
    assert result.status == STATUS_ERROR and "raised ValueError: boom" in result.message


def test_the_reference_is_the_formula_on_a_real_decoder():
    """evaluation.prior_log_evidence = log of the average likelihood, computed the slow way in float64."""
    torch.manual_seed(0)
    decode = torch.nn.Linear(2, 784).double()
    x, z = torch.rand(3, 784, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    with torch.no_grad():
        logits = decode(z)
        shift = 600.0   # exp(log p(x|z)) of about e^-600 is 0 even in float64: shift it, average, shift back
        slow = torch.stack([torch.log(torch.stack([torch.exp((xi * logits[k] - F.softplus(logits[k])).sum() + shift)
                                                   for k in range(6)]).mean()) - shift for xi in x])
        assert torch.allclose(evaluation.prior_log_evidence(decode, x, z), slow, atol=1e-6)
        assert math.isfinite(evaluation.prior_log_evidence(decode, x, 30 * z).sum().item())


# --------------------------------------------------------------------------- the gaps closed in 2.1-2.3

def test_a_hard_stage_nan_is_not_contradicted_by_the_easy_stage():
    """"contains NaN" (hard inputs) never comes with a bare "finite values" (easy inputs) in what is already fine."""
    for check, (fn, _) in [(checks.bernoulli_log_likelihood, LL_MISTAKES["naive log(sigmoid)"]),
                           (checks.gaussian_kl, _catalogue_02.GAPS["2.1"]["log of logvar, zero weight"]),
                           (checks.elbo, ELBO_MISTAKES["unstable loglik"])]:
        result = check(fn)
        assert "contains NaN" in result.message, result.text()
        assert "finite values" not in result.checks
        assert any(item.startswith("finite values for ") for item in result.checks), result.checks


def test_an_elbo_reduced_over_the_batch_gets_an_elbo_hint():
    for fn, needle in _catalogue_02.GAPS["2.3"].values():
        result = checks.elbo(fn)
        assert needle in result.message + result.hint, result.text()
    result = checks.elbo(lambda l, x, mu, lv: (ELBO_MISTAKES["KL missing"][0](l, x, mu, lv) - 1.0).mean())
    assert "last dimension" not in result.hint, result.text()


def test_no_failure_prints_a_solution_line():
    """Hints teach the idea: no failure of 2.1-2.4 prints a line of the notebook's answers."""
    cases = ([(checks.gaussian_kl, fn) for fn, _ in KL_MISTAKES.values()]
             + [(checks.bernoulli_log_likelihood, fn) for fn, _ in LL_MISTAKES.values()]
             + [(checks.elbo, fn) for fn, _ in ELBO_MISTAKES.values()]
             + [(checks.prior_log_evidence, fn) for fn, _ in ENTRY["wrong"].values()])
    for check, fn in cases:
        text = check(fn, allow_reference_calls=True).text()
        assert not printed_solution_lines(text, "02_elbo"), text


# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "2.4": ENTRY["correct"]["matrix product"],
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("2.4", "vae_course.evaluation.prior_log_evidence"): lambda d, x, z: evaluation.prior_log_evidence(d, x, z),
}
