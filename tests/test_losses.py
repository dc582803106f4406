"""Tests for vae_course.losses against torch.distributions (the independent reference)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae_course import losses

G = torch.Generator().manual_seed(0)


def randn(*shape):
    return torch.randn(*shape, generator=G, dtype=torch.float64)


def test_kl_of_standard_normal_is_zero():
    kl = losses.gaussian_kl(torch.zeros(4, 7), torch.zeros(4, 7))
    assert kl.shape == (4,)
    assert torch.equal(kl, torch.zeros(4))


def test_kl_matches_torch_distributions():
    mu, logvar = randn(6, 5), randn(6, 5)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    kl = losses.gaussian_kl(mu, logvar)
    assert kl.shape == (6,)
    assert torch.allclose(kl, kl_divergence(q, p), atol=1e-10)
    assert torch.all(kl >= 0)


def test_bernoulli_log_likelihood_matches_torch_distributions():
    logits = randn(3, 784) * 3
    x = torch.rand(3, 784, generator=G, dtype=torch.float64)
    for target in (x, torch.bernoulli(x, generator=G)):  # grey levels and binary pixels
        # validate_args=False: torch.distributions would refuse grey levels, the formula is the same
        expected = Bernoulli(logits=logits, validate_args=False).log_prob(target).sum(-1)
        out = losses.bernoulli_log_likelihood(logits, target)
        assert out.shape == (3,)
        assert torch.allclose(out, expected, atol=1e-8)
        assert torch.all(out <= 0)


def test_bernoulli_log_likelihood_is_finite_for_extreme_logits():
    logits = torch.tensor([[1000.0, -1000.0, 1000.0, -1000.0]])
    right = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    wrong = 1 - right
    assert torch.allclose(losses.bernoulli_log_likelihood(logits, right), torch.zeros(1))
    out = losses.bernoulli_log_likelihood(logits, wrong)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, torch.tensor([-4000.0]))  # log sigmoid(-1000) = -1000 per pixel
    # gradients stay finite as well
    logits = logits.clone().requires_grad_()
    losses.bernoulli_log_likelihood(logits, wrong).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_bernoulli_log_likelihood_accepts_image_shaped_input():
    logits, x = randn(2, 1, 28, 28), torch.rand(2, 1, 28, 28, generator=G, dtype=torch.float64)
    flat = losses.bernoulli_log_likelihood(logits.reshape(2, 784), x.reshape(2, 784))
    assert torch.allclose(losses.bernoulli_log_likelihood(logits, x), flat)


@pytest.mark.parametrize("beta", [1.0, 0.0, 4.0])
def test_elbo_is_log_likelihood_minus_beta_kl(beta):
    logits, x = randn(4, 784), torch.rand(4, 784, generator=G, dtype=torch.float64)
    mu, logvar = randn(4, 3), randn(4, 3)
    expected = losses.bernoulli_log_likelihood(logits, x) - beta * losses.gaussian_kl(mu, logvar)
    out = losses.elbo(logits, x, mu, logvar, beta=beta)
    assert out.shape == (4,)
    assert torch.allclose(out, expected)
    if beta == 1.0:
        assert torch.allclose(losses.elbo(logits, x, mu, logvar), expected)  # beta=1 is the default


def test_mse_is_per_example_mean_over_pixels():
    x_hat, x = torch.rand(5, 784, generator=G), torch.rand(5, 784, generator=G)
    out = losses.mse(x_hat, x)
    assert out.shape == (5,)
    assert torch.allclose(out, ((x_hat - x) ** 2).mean(dim=1))
    assert torch.allclose(out, torch.nn.functional.mse_loss(x_hat, x, reduction="none").mean(1))
    assert torch.allclose(losses.mse(x_hat.reshape(5, 1, 28, 28), x.reshape(5, 1, 28, 28)), out)


def test_gaussian_log_density_matches_torch_distributions():
    z, mu, logvar = randn(6, 4), randn(6, 4), randn(6, 4)
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    out = losses.gaussian_log_density(z, mu, logvar)
    assert out.shape == (6,)
    assert torch.allclose(out, expected, atol=1e-10)


def test_gaussian_log_density_defaults_to_standard_normal_and_broadcasts():
    z = randn(3, 8, 2)  # leading dimensions are kept: (samples, batch, latent) -> (samples, batch)
    out = losses.gaussian_log_density(z)
    assert out.shape == (3, 8)
    assert torch.allclose(out, Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-10)
    at_mean = float(losses.gaussian_log_density(torch.zeros(1, 1))[0])
    assert math.isclose(at_mean, -0.5 * math.log(2 * math.pi), rel_tol=1e-6)
