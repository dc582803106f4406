"""Held-out likelihoods of a trained VAE, in nats per image (lower is better).

Two numbers describe a VAE on test images ``x: (N, 784)`` in [0, 1]:

* the single-sample negative ELBO, :func:`vae_course.train.elbo_per_image` - what the
  benchmark and papers' "test loss" report; an upper bound on -log p(x);
* the importance-sampled negative log-likelihood, :func:`importance_sampled_nll` - the
  IWAE bound of Burda et al. (2015) with K samples from q(z|x):

  .. math::  -\\log p(x) \\le -\\log \\frac{1}{K} \\sum_{k=1}^{K} \\frac{p(x|z_k)\\,p(z_k)}{q(z_k|x)}
             \\qquad z_k \\sim q(z|x)

  It tightens as K grows (K=1 is the ELBO) and is computed with a log-sum-exp, so the
  weights of about e^-100 never underflow.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import losses
from .references import reference_implementation
from .train import model_mode


def _images(data) -> torch.Tensor:
    """A DigitDataset or a tensor -> images (N, 784) as stored (no re-binarization)."""
    images = data.images if hasattr(data, "images") else data
    return images.reshape(len(images), -1)


@reference_implementation
def log_importance_weights(model, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for K codes z_k ~ q(z|x); the reference of Exercise 8.3.

    x: (B, 784) in [0, 1] -> log-weights (B, K) in nats. The model needs ``encode(x) -> (mu, logvar)``
    and ``decode(z) -> logits (B, 784)`` (every VAE of :mod:`vae_course.models`). The noise comes from
    ``generator`` (on its own device, then moved to x's) or, without one, from torch's global generator
    on x's device; differentiable (z = mu + sigma * eps), so it also serves the IWAE objective.
    """
    mu, logvar = model.encode(x)                                        # (B, D) each
    shape = (k,) + tuple(mu.shape)                                      # (K, B, D)
    if generator is None:
        eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)
    else:
        eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=generator.device).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps                              # (K, B, D)
    logits = model.decode(z.reshape(-1, mu.shape[1]))                   # (K*B, 784)
    log_px_z = losses.bernoulli_log_likelihood(logits, x.repeat(k, 1)).reshape(k, len(x))
    log_pz = losses.gaussian_log_density(z)                             # (K, B)
    log_qz_x = losses.gaussian_log_density(z, mu, logvar)               # (K, B)
    return (log_px_z + log_pz - log_qz_x).T                             # (B, K)


@torch.no_grad()
def importance_sampled_nll(model, data, k: int = 1000, batch_size: int | None = None, seed: int = 0,
                           per_image: bool = False):
    """The IWAE estimate of -log p(x), averaged over ``data``, in nats per image.

    data: a DigitDataset or a tensor (N, 784) in [0, 1] (scored as stored). ``k``: importance
    samples per image (1 gives the single-sample negative ELBO; 1000 is the usual reporting value).
    ``batch_size`` images are processed together (default: about 50,000 decoder passes at a time).
    Seeded: the same ``seed`` gives the same number. ``per_image=True`` returns the (N,) tensor instead.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    images = _images(data)
    batch_size = batch_size or max(1, 50_000 // k)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    nll = []
    with model_mode(model, training=False):
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            log_w = log_importance_weights(model, x, k, generator)                    # (b, K)
            nll.append(-(torch.logsumexp(log_w, dim=1) - math.log(k)).cpu())
    nll = torch.cat(nll)
    return nll if per_image else float(nll.mean())


@reference_implementation
def prior_log_evidence(decode, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The naive Monte Carlo estimate of log p(x) = log E_{z ~ p(z)}[p(x|z)] from K prior codes -> (B,).

    decode: codes (K, D) -> logits (K, 784); x: (B, 784) in [0, 1]; z: (K, D) codes drawn from
    p(z) = N(0, I), shared by every image. Each image is scored against every code,
    log p(x_b|z_k) = sum_j x_bj l_kj - softplus(l_kj) (a (B, K) table), and the K probabilities are
    averaged in log space: logsumexp_k - log K, finite for log-likelihoods of -10,000 nats. Unbiased for
    p(x), biased low for log p(x); notebook 02 shows why it needs astronomically many codes.
    """
    logits = decode(z)                                                      # (K, 784)
    log_px_z = x @ logits.T - F.softplus(logits).sum(dim=-1)                # (B, K)
    return torch.logsumexp(log_px_z, dim=1) - math.log(len(z))
