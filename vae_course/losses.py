"""Reference losses. Every function returns one value **per example** - except the batch objective
:func:`annealed_free_bits_loss`, whose free-bits floor needs the batch.

Shapes: ``x: (B, 784)`` pixels in [0, 1]; ``logits: (B, 784)`` from a decoder;
``mu, logvar: (B, D)`` of the Gaussian q(z|x). Results have shape ``(B,)``:
average them with ``.mean()`` to get a batch loss. Log-densities are in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from .references import reference_implementation


@reference_implementation
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ), summed over latent dimensions -> (B,).

    Closed form (notebook 02): 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2).
    """
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=-1)


@reference_implementation
def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for independent Bernoulli pixels with the given logits, summed over pixels -> (B,).

    Equals minus the binary cross-entropy. Computed from logits (log-sum-exp
    inside ``binary_cross_entropy_with_logits``), so it never takes log(0).
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1).sum(-1)


@reference_implementation
def elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
         beta: float = 1.0) -> torch.Tensor:
    """Evidence lower bound per example -> (B,): E_q[log p(x|z)] - beta * KL(q(z|x) || p(z)).

    The expectation uses the single z behind ``logits`` (one-sample Monte Carlo).
    ``beta=1`` is the true ELBO; other values give the beta-VAE objective.
    Train by minimising ``-elbo(...).mean()``.
    """
    return bernoulli_log_likelihood(logits, x) - beta * gaussian_kl(mu, logvar)


@reference_implementation
def mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per example, averaged over pixels -> (B,)."""
    return (x_hat - x).pow(2).reshape(len(x), -1).mean(-1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor | float = 0.0,
                         logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension -> z.shape[:-1]."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * torch.sum(math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp(), dim=-1)


@reference_implementation
def annealed_free_bits_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                            step: int, *, beta: float = 1.0, warmup_steps: int = 0, free_bits: float = 0.0) -> dict:
    """The batch objective of a beta-VAE with a KL warm-up and free bits -> dict of batch values (not per example).

    ``loss = recon + beta_t * sum_j max(free_bits, KL_j)``, where ``recon`` is the batch mean of
    -log p(x|z) (summed over pixels), ``KL_j`` the batch mean of dimension j's KL term, and
    ``beta_t = beta * min(1, step / warmup_steps)`` (``beta`` itself when ``warmup_steps`` is 0): KL annealing
    (Bowman et al., 2016) and free bits with the floor on the batch-averaged KL of each dimension (Kingma et
    al., 2016). Returns ``{"loss", "recon", "kl", "beta"}``: 0-d tensors, ``kl`` the true KL (no floor) and
    ``beta`` the float beta_t. The reference answer of Exercise 7.3.
    """
    beta_now = beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else beta
    recon = -bernoulli_log_likelihood(logits, x).mean()
    kl_dims = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)
    return {"loss": recon + beta_now * kl_dims.clamp(min=free_bits).sum(), "recon": recon, "kl": kl_dims.sum(),
            "beta": float(beta_now)}
