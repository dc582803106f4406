"""Checks of notebook 08: references pass, each catalogued mistake gets its own hint, bad returns are explained."""

import math
import time

import torch
import torch.nn.functional as F

from vae_course import applications, checks, diagnostics
from vae_course.models import ConditionalVAE


def run(check, fn, **kwargs):
    """Run a check; answers built on the package's references are allowed (delegation: test_checks_integrity)."""
    result = check(fn, **{"allow_reference_calls": True, **kwargs})
    return result, result.text()


# --------------------------------------------------------------------------- 8.1 iwae_bound

def test_iwae_bound_reference_and_variants_pass():
    def max_trick(log_weights):
        top = log_weights.max(dim=1, keepdim=True).values
        return top.squeeze(1) + torch.log(torch.exp(log_weights - top).mean(dim=1))

    def with_logmeanexp(log_weights):
        k = torch.tensor(float(log_weights.shape[1]))
        return torch.logsumexp(log_weights, 1) - torch.log(k)

    for fn in (diagnostics.iwae_bound, max_trick, with_logmeanexp):
        result, text = run(checks.iwae_bound, fn)
        assert result.passed, text


def test_iwae_bound_mistakes_get_their_own_hints():
    mistakes = {
        (lambda lw: torch.log(torch.exp(lw).mean(1))): "underflows to 0",
        (lambda lw: torch.logsumexp(lw, 1)): "subtract math.log(K)",
        (lambda lw: lw.mean(1)): "not the IWAE bound",
        (lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0])): "reduce over dim=1, not dim=0",
        (lambda lw: torch.logsumexp(lw, 1) - lw.shape[1]): "not K",
        (lambda lw: lw.max(1).values): "dominant term",
        (lambda lw: (torch.logsumexp(lw, 1) - math.log(lw.shape[1])).mean()): "don't average over the batch",
    }
    for fn, needle in mistakes.items():
        result, text = run(checks.iwae_bound, fn)
        assert not result.passed and needle in text, text


def test_iwae_bound_naive_version_is_named_only_by_the_stability_test():
    result, text = run(checks.iwae_bound, lambda lw: torch.log(torch.exp(lw).mean(1)))
    assert "the bounds match the reference" in text  # fine on moderate log-weights ...
    assert "not finite" in text                      # ... but not on extreme ones


def test_iwae_bound_gradient_and_malformed_returns():
    cases = {
        (lambda lw: diagnostics.iwae_bound(lw).detach()): "no gradient",
        (lambda lw: None): "forget the `return`",
        (lambda lw: diagnostics.iwae_bound(lw).detach().numpy()): "NumPy array",
        (lambda lw: diagnostics.iwae_bound(lw).sum().item()): "float",
    }
    for fn, needle in cases.items():
        result, text = run(checks.iwae_bound, fn)
        assert not result.passed and needle in text, text

    def slow(lw):
        time.sleep(3)

    assert checks.iwae_bound(slow, timeout=0.5).status == "timeout"


# --------------------------------------------------------------------------- 8.2 sample_digit

def test_sample_digit_reference_and_variants_pass():
    def integer_labels(model, digit, n):  # the model also accepts integer labels
        z = torch.randn(n, model.latent_dim)
        return torch.sigmoid(model.decode(z, torch.full((n,), digit)))

    def one_by_one(model, digit, n):
        y = torch.zeros(1, 10)
        y[0, digit] = 1.0
        return torch.cat([torch.sigmoid(model.decode(torch.randn(1, model.latent_dim), y)) for _ in range(n)])

    for fn in (applications.sample_digit, integer_labels, one_by_one):
        result, text = run(checks.sample_digit, fn)
        assert result.passed, text


def _one_hot(digit, n):
    return F.one_hot(torch.full((n,), digit), 10).float()


def test_sample_digit_mistakes_get_their_own_hints():
    mistakes = {
        (lambda m, d, n: torch.sigmoid(m.decode(torch.rand(n, m.latent_dim), _one_hot(d, n)))): "not torch.rand",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.zeros(n, m.latent_dim), _one_hot(d, n)))): "Draw a fresh code",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(1, m.latent_dim).expand(n, -1), _one_hot(d, n)))):
            "Draw a fresh code",
        (lambda m, d, n: torch.sigmoid(m.decode(0.3 * torch.randn(n, m.latent_dim), _one_hot(d, n)))):
            "no scaling or shifting",
        (lambda m, d, n: m.decode(torch.randn(n, m.latent_dim), _one_hot(d, n))): "Apply torch.sigmoid",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(n, m.latent_dim), _one_hot(0, n)))):
            "every row one-hot at `digit`",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(n, m.latent_dim), torch.zeros(n, 10)))):
            "every row one-hot at `digit`",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(n, m.latent_dim), _one_hot(7, n)))):
            "from the `digit` argument",
        (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(2000, m.latent_dim), _one_hot(d, 2000)))):
            "Use the arguments `digit` and `n`",
        (lambda m, d, n: torch.rand(n, 784)): "never called model.decode",
    }
    for fn, needle in mistakes.items():
        result, text = run(checks.sample_digit, fn)
        assert not result.passed and needle in text, text


def test_sample_digit_malformed_returns():
    cases = {
        (lambda m, d, n: None): "forget the `return`",
        (lambda m, d, n: applications.sample_digit(m, d, n).numpy()): "NumPy array",
        (lambda m, d, n: applications.sample_digit(m, d, n)[:, :10]): "wrong shape",
    }
    for fn, needle in cases.items():
        result, text = run(checks.sample_digit, fn)
        assert not result.passed and needle in text, text

    def slow(model, digit, n):
        time.sleep(3)

    assert checks.sample_digit(slow, timeout=0.5).status == "timeout"


def test_conditional_vae_shapes_and_labels():
    model = ConditionalVAE(hidden_dim=8, latent_dim=3)
    x, y = torch.rand(4, 784), torch.tensor([0, 1, 2, 3])
    logits, mu, logvar = model(x, y)
    assert logits.shape == (4, 784) and mu.shape == logvar.shape == (4, 3)
    assert torch.equal(model.one_hot(y), F.one_hot(y, 10).float())
    assert torch.allclose(model.decode(mu, y), model.decode(mu, F.one_hot(y, 10).float()))
    assert applications.sample_digit(model.eval(), 5, 6).shape == (6, 784)

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "8.1": lambda lw: torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]),
    "8.2": lambda model, digit, n: torch.sigmoid(model.decode(
        torch.randn(n, model.latent_dim), F.one_hot(torch.full((n,), digit), 10).float())),
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("8.1", "vae_course.diagnostics.iwae_bound"): lambda lw: diagnostics.iwae_bound(lw),
    ("8.2", "vae_course.applications.sample_digit"): lambda model, digit, n: applications.sample_digit(model, digit, n),
}
