import math

import torch

from vae_course import losses, posteriors
from vae_course.models import VAE


def _tiny_vae():
    torch.manual_seed(0)
    return VAE(hidden_dim=16, latent_dim=3).eval()


def test_log_aggregate_posterior_of_one_component_is_its_gaussian_density():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    z = torch.randn(7, 2)
    expected = -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(posteriors.log_aggregate_posterior(z, mu, logvar), expected)


def test_elbo_surgery_adds_up_and_mutual_information_is_zero_for_identical_posteriors():
    mu, logvar = torch.full((50, 2), 0.7), torch.full((50, 2), -0.5)
    parts = posteriors.elbo_surgery(mu, logvar, samples=200)
    assert abs(parts["mutual_info"]) < 1e-4
    assert abs(parts["mutual_info"] + parts["marginal_kl"] - parts["avg_kl"]) < 0.1


def test_elbo_surgery_mutual_information_reaches_log_n_for_separated_posteriors():
    mu = torch.arange(20.0).reshape(20, 1) * 50  # far apart: every code belongs to its own image
    parts = posteriors.elbo_surgery(mu, torch.full((20, 1), -2.0), samples=5)
    assert abs(parts["mutual_info"] - math.log(20)) < 1e-3
    assert parts["log_n"] == math.log(20)


def test_refine_posterior_improves_the_elbo_and_leaves_the_model_alone():
    model, x = _tiny_vae(), torch.rand(8, 784)
    before = [p.clone() for p in model.parameters()]
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    mu, logvar = posteriors.refine_posterior(model, x, steps=30, lr=0.05)
    with torch.no_grad():
        start = posteriors.negative_elbo(model, x, mu0, logvar0, samples=50).mean()
        end = posteriors.negative_elbo(model, x, mu, logvar, samples=50).mean()
    assert end < start
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())


def test_importance_sampled_nll_is_below_the_negative_elbo_and_tightens_with_k():
    model, x = _tiny_vae(), torch.rand(4, 784)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        neg_elbo = posteriors.negative_elbo(model, x, mu, logvar, samples=2000).mean()
        few = torch.stack([posteriors.importance_sampled_nll(model, x, mu, logvar, k=5, seed=s) for s in range(50)]).mean()
        many = posteriors.importance_sampled_nll(model, x, mu, logvar, k=1000).mean()
    assert many < few < neg_elbo


def test_importance_log_weights_give_the_estimate_at_every_k_and_do_not_depend_on_the_chunk():
    model, x = _tiny_vae(), torch.rand(4, 784)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        log_w = posteriors.importance_log_weights(model, x, mu, logvar, k=300, seed=3)
        chunked = posteriors.importance_log_weights(model, x, mu, logvar, k=300, seed=3, chunk=7)
        nll = posteriors.importance_sampled_nll(model, x, mu, logvar, k=300, seed=3)
    assert log_w.shape == (300, 4)
    torch.testing.assert_close(chunked, log_w)
    torch.testing.assert_close(-(torch.logsumexp(log_w, dim=0) - math.log(300)), nll)
