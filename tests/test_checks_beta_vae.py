"""Checks of notebook 07: references pass, each catalogued mistake gets its own hint, bad returns are explained."""

import time

import numpy as np
import torch

from vae_course import checks, diagnostics, losses


def run(check, fn, **kwargs):
    """Run a check; answers built on the package's references are allowed (delegation: test_checks_integrity)."""
    result = check(fn, **{"allow_reference_calls": True, **kwargs})
    return result, result.text()


# --------------------------------------------------------------------------- 7.1 kl_per_dimension

def test_kl_per_dimension_reference_and_variants_pass():
    def with_distributions(mu, logvar):
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        return torch.distributions.kl_divergence(q, p).mean(0)

    def written_out(mu, logvar):
        return -0.5 * torch.mean(1 + logvar - mu ** 2 - torch.exp(logvar), dim=0)

    for fn in (diagnostics.kl_per_dimension, with_distributions, written_out):
        result, text = run(checks.kl_per_dimension, fn)
        assert result.passed, text


def test_kl_per_dimension_mistakes_get_their_own_hints():
    def entries(mu, logvar):
        return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)

    mistakes = {
        (lambda mu, lv: entries(mu, lv).sum(0)): "so the numbers do not grow with the batch size",
        (lambda mu, lv: entries(mu, lv).sum(1)): "not over the latent dimensions (dim=1)",
        (lambda mu, lv: entries(mu, lv).mean()): "keep the latent dimension",
        (lambda mu, lv: entries(mu, lv)): "Average over the batch: .mean(dim=0)",
        (lambda mu, lv: 2 * entries(mu, lv).mean(0)): "keep the 1/2",
        (lambda mu, lv: -entries(mu, lv).mean(0)): "never negative",
        (lambda mu, lv: 0.5 * (mu.pow(2) + (0.5 * lv).exp() - 1 - lv).mean(0)): "the variance sigma^2 is exp(logvar)",
    }
    for fn, needle in mistakes.items():
        result, text = run(checks.kl_per_dimension, fn)
        assert not result.passed and needle in text, text


def test_kl_per_dimension_gradient_and_malformed_returns():
    cases = {
        (lambda mu, lv: diagnostics.kl_per_dimension(mu, lv).detach()): "no gradient",
        (lambda mu, lv: None): "forget the `return`",
        (lambda mu, lv: diagnostics.kl_per_dimension(mu, lv).detach().numpy()): "NumPy array",
        (lambda mu, lv: (diagnostics.kl_per_dimension(mu, lv),)): "tuple",
    }
    for fn, needle in cases.items():
        result, text = run(checks.kl_per_dimension, fn)
        assert not result.passed and needle in text, text

    def slow(mu, logvar):
        time.sleep(3)

    assert checks.kl_per_dimension(slow, timeout=0.5).status == "timeout"


# --------------------------------------------------------------------------- 7.2 active_units

def test_active_units_reference_and_variants_pass():
    def biased_numpy(mu, threshold=0.01):
        return int(np.sum(np.var(mu.numpy(), axis=0) > threshold))

    def tensor_count(mu, threshold=0.01):
        return (mu.var(0) > threshold).sum()  # a 0-d integer tensor is accepted

    def covariance_diagonal(mu, threshold=0.01):
        return int((torch.cov(mu.T).diagonal() > threshold).sum().item())

    for fn in (diagnostics.active_units, biased_numpy, tensor_count, covariance_diagonal):
        result, text = run(checks.active_units, fn)
        assert result.passed, text


def test_active_units_mistakes_get_their_own_hints():
    mistakes = {
        (lambda mu, threshold=0.01: int((mu.std(0) > threshold).sum())): "not its standard deviation",
        (lambda mu, threshold=0.01: int((mu.var(0) < threshold).sum())): "*above* the threshold",
        (lambda mu, threshold=0.01: int((mu.var(1) > threshold).sum())): "Take the variance over the images",
        (lambda mu, threshold=0.01: int((mu.mean(0).abs() > threshold).sum())): "still inactive",
        (lambda mu, threshold=0.01: int((mu.var(0) > 0.01).sum())): "Use the `threshold` argument",
    }
    for fn, needle in mistakes.items():
        result, text = run(checks.active_units, fn)
        assert not result.passed and needle in text, text


def test_active_units_malformed_returns():
    cases = {
        (lambda mu, threshold=0.01: None): "forget the `return`",
        (lambda mu, threshold=0.01: mu.var(0) > threshold): "expected a single count",
        (lambda mu, threshold=0.01: (mu.var(0) > threshold).float().mean()): "whole number",
        (lambda mu, threshold=0.01: "4"): "expected a count",
        (lambda mu, threshold=0.01: (4,)): "tuple",
        (lambda mu, threshold=0.01: 3): "you counted 3 active units for two different sets of means",
    }
    for fn, needle in cases.items():
        result, text = run(checks.active_units, fn)
        assert not result.passed and needle in text, text

    def slow(mu, threshold=0.01):
        time.sleep(3)

    assert checks.active_units(slow, timeout=0.5).status == "timeout"


# --------------------------------------------------------------------------- diagnostics plumbing

def test_diagnostics_helpers():
    mu = torch.cat([torch.randn(100, 2), torch.full((100, 1), 3.0)], dim=1)
    assert diagnostics.active_units(mu) == 2
    assert diagnostics.activity(mu).shape == (3,)
    logvar = torch.zeros(100, 3)
    kl = diagnostics.kl_per_dimension(mu, logvar)
    assert torch.allclose(kl.sum(), (0.5 * mu.pow(2).sum(1)).mean())
    from vae_course.models import VAE

    model = VAE(hidden_dim=8, latent_dim=3).train()
    mu_all, logvar_all = diagnostics.encode_dataset(model, torch.rand(25, 784), batch_size=10)
    assert mu_all.shape == logvar_all.shape == (25, 3) and model.training

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "7.1": lambda mu, logvar: (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).mean(dim=0),
}
#: Exercises without a float64 case, and why.
NOT_FLOAT_TENSORS = {"7.2": "the number of active units is an int",
                     "7.3": "the loss is a dict of numbers (its float64 answer is in tests/_catalogue_07.py)"}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("7.1", "vae_course.diagnostics.kl_per_dimension"): lambda mu, lv: diagnostics.kl_per_dimension(mu, lv),
    ("7.2", "vae_course.diagnostics.active_units"):
        lambda mu, threshold=0.01: diagnostics.active_units(mu, threshold),
    ("7.2", "vae_course.diagnostics.activity"):
        lambda mu, threshold=0.01: int((diagnostics.activity(mu) > threshold).sum()),
    ("7.3", "vae_course.losses.annealed_free_bits_loss"):
        lambda *args, **options: losses.annealed_free_bits_loss(*args, **options),
}


def test_a_dimension_exactly_at_the_threshold_is_not_active():
    result = checks.active_units(lambda mu, threshold=0.01: int((mu.var(dim=0) >= threshold).sum()))
    assert result.code == "threshold-compared-with-greater-or-equal", result.text()


def test_annealed_free_bits_loss_reference_passes_and_names_the_floor_per_example():
    result = checks.annealed_free_bits_loss(losses.annealed_free_bits_loss, allow_reference_calls=True)
    assert result.passed, result.text()

    def per_example(logits, x, mu, logvar, step, *, beta=1.0, warmup_steps=0, free_bits=0.0):
        out = losses.annealed_free_bits_loss(logits, x, mu, logvar, step, beta=beta, warmup_steps=warmup_steps,
                                             free_bits=0.0)
        terms = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
        penalty = terms.clamp(min=free_bits).mean(0).sum() - terms.mean(0).sum()
        return {**out, "loss": out["loss"] + out["beta"] * penalty}

    result = checks.annealed_free_bits_loss(per_example, allow_reference_calls=True)
    assert result.code == "free-bits-per-example", result.text()
