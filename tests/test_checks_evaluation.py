"""Checks of notebook 08: references pass, each catalogued mistake gets its own hint, bad returns are explained."""

import math
import time

import torch
import torch.nn.functional as F

from vae_course import applications, checks, diagnostics, evaluation
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
        device = next(model.parameters()).device
        z = torch.randn(n, model.latent_dim, device=device)
        return torch.sigmoid(model.decode(z, torch.full((n,), digit, device=device)))

    def one_by_one(model, digit, n):
        weight = next(model.parameters())
        y = weight.new_zeros(1, 10)
        y[0, digit] = 1.0
        return torch.cat([torch.sigmoid(model.decode(torch.randn_like(weight[:1, :model.latent_dim]), y))
                          for _ in range(n)])

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

def test_sample_digit_must_follow_the_model_device():
    """Tensors created without a device fail on a 'meta' model (the GPU's stand-in on a CPU-only machine)."""
    on_the_cpu = (lambda m, d, n: torch.sigmoid(m.decode(torch.randn(n, m.latent_dim), _one_hot(d, n))))
    result, text = run(checks.sample_digit, on_the_cpu)
    assert result.code == "tensor-created-without-device" and "'meta' device" in text, text

    def needs_values(model, digit, n):  # .item() cannot run on 'meta': the device test then says nothing
        device = next(model.parameters()).device
        z = torch.randn(n, model.latent_dim, device=device)
        assert float(z.abs().sum().item()) >= 0
        return torch.sigmoid(model.decode(z, torch.full((n,), digit, device=device)))

    result, text = run(checks.sample_digit, needs_values)
    assert result.passed and "follows the model's device" not in text, text


# --------------------------------------------------------------------------- 8.3 log_importance_weights

def _weights(model, x, k):
    mu, logvar = model.encode(x)
    eps = torch.randn((k,) + tuple(mu.shape), device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode(z.reshape(-1, mu.shape[1])).reshape(k, len(x), -1)
    log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
    log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)
    return (log_px + log_pz - log_qz).T


def test_log_importance_weights_reference_passes_and_says_what_it_verified():
    for fn in (evaluation.log_importance_weights, _weights):
        result, text = run(checks.log_importance_weights, fn)
        assert result.passed, text
        assert "follows the model's device" in result.checks and "new codes on every call" in result.checks


def test_log_importance_weights_reference_is_a_delegate():
    result = checks.log_importance_weights(evaluation.log_importance_weights)
    assert result.code == "called-reference", result.text()


def test_log_importance_weights_malformed_returns():
    cases = {
        (lambda m, x, k: None): "forget the `return`",
        (lambda m, x, k: _weights(m, x, k).detach().numpy()): "NumPy array",
        (lambda m, x, k: _weights(m, x, k).mean(1)): "wrong shape",
        (lambda m, x, k: _weights(m, x, k).sum().item()): "float",
        (lambda m, x, k: torch.zeros(len(x), k)): "never called model.decode",
        (lambda m, x, k: m.decode(torch.randn(k, m.latent_dim)).sum(1).expand(len(x), -1)): "expected K=",
        (lambda m, x, k: m.decode(torch.randn(m.latent_dim, k * len(x)))): "wrong shape",
    }
    for fn, needle in cases.items():
        result, text = run(checks.log_importance_weights, fn)
        assert not result.passed and needle in text, text

    def slow(model, x, k):
        time.sleep(3)

    assert checks.log_importance_weights(slow, timeout=0.5).status == "timeout"


def test_log_importance_weights_check_keeps_the_notebook_random_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.log_importance_weights(_weights)
    assert torch.equal(torch.rand(3), expected)


def test_the_reference_with_a_generator_is_reproducible_and_follows_the_dtype():
    from vae_course.models import VAE
    model = VAE(hidden_dim=8, latent_dim=2).double()
    x = torch.bernoulli(torch.full((3, 784), 0.5, dtype=torch.float64))
    a = evaluation.log_importance_weights(model, x, 4, torch.Generator().manual_seed(1))
    b = evaluation.log_importance_weights(model, x, 4, torch.Generator().manual_seed(1))
    assert a.shape == (3, 4) and a.dtype == torch.float64 and torch.equal(a, b)


#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "8.1": lambda lw: torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]),
    "8.2": lambda model, digit, n: torch.sigmoid(model.decode(
        torch.randn(n, model.latent_dim, device=next(model.parameters()).device),
        F.one_hot(torch.full((n,), digit, device=next(model.parameters()).device), 10).float())),
    "8.3": _weights,
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("8.1", "vae_course.diagnostics.iwae_bound"): lambda lw: diagnostics.iwae_bound(lw),
    ("8.2", "vae_course.applications.sample_digit"): lambda model, digit, n: applications.sample_digit(model, digit, n),
    ("8.3", "vae_course.evaluation.log_importance_weights"): lambda model, x, k: evaluation.log_importance_weights(
        model, x, k),
}
