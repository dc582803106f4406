"""Diagnostics of a trained VAE's latent space (notebooks 07 and 08).

Shapes: ``mu, logvar: (N, D)`` - the Gaussian q(z|x) of N images in a D-dimensional latent space.

* :func:`encode_dataset` - mu and logvar of every image of a data set (eval mode, no gradients);
* :func:`kl_per_dimension` - the KL term split by latent dimension (reference of Exercise 7.1);
* :func:`activity` and :func:`active_units` - Burda et al. (2015)'s active units (reference of Exercise 7.2);
* :func:`iwae_bound` - the importance-weighted bound from log-weights (reference of Exercise 8.1).
"""

from __future__ import annotations

import math

import torch

from .train import model_mode
from .references import reference_implementation

ACTIVITY_THRESHOLD = 0.01  # Burda et al. (2015): a unit is active when Cov_x(E_q[z_u]) > 0.01


@torch.no_grad()
def encode_dataset(model, data, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar of q(z|x) for every image: data (N, 784) tensor or a DigitDataset -> two (N, D) tensors.

    Uses the images as stored (no resampling of dynamically binarized data).
    """
    images = data.images if hasattr(data, "images") else data
    device = next(model.parameters()).device
    mus, logvars = [], []
    with model_mode(model, training=False):
        for start in range(0, len(images), batch_size):
            mu, logvar = model.encode(images[start:start + batch_size].to(device))
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
    return torch.cat(mus), torch.cat(logvars)


@reference_implementation
def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z_j|x) || N(0, 1)) for each latent dimension j, averaged over the batch: (N, D) -> (D,).

    Summing the result over j gives the batch mean of the usual KL term.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)


@reference_implementation
def activity(mu: torch.Tensor) -> torch.Tensor:
    """A_u = Var_x(E_q[z_u | x]) for each dimension u: posterior means mu (N, D) -> (D,).

    A dimension whose mean code does not change with the input carries no information.
    """
    return mu.var(dim=0)


@reference_implementation
def active_units(mu: torch.Tensor, threshold: float = ACTIVITY_THRESHOLD) -> int:
    """How many latent dimensions have activity A_u > threshold (Burda et al. 2015): mu (N, D) -> int."""
    return int((activity(mu) > threshold).sum())


@reference_implementation
def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """The importance-weighted bound log (1/K) sum_k w_k from log-weights (B, K) -> (B,), computed stably.

    log_weights[b, k] = log p(x_b, z_k) - log q(z_k | x_b) for K samples z_k ~ q(z | x_b).
    K = 1 gives the (single-sample) ELBO; K -> infinity gives log p(x_b).
    """
    return torch.logsumexp(log_weights, dim=1) - math.log(log_weights.shape[1])
