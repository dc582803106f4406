"""What the encoder's Gaussians q(z|x) do, measured: per-image refinement and the aggregate posterior.

* :func:`refine_posterior` - the best Gaussian for each image, found by gradient ascent on that image's own
  ELBO with the decoder frozen; the gain over the encoder's output is the **amortization gap**
  (Cremer, Li, Duvenaud 2018).
* :func:`negative_elbo` and :func:`importance_sampled_nll` - both scores for *given* posterior parameters
  (mu, logvar), so that the encoder's Gaussians and refined ones are scored with the same noise.
* :func:`log_aggregate_posterior`, :func:`elbo_surgery_terms` (Exercise 5.4) and :func:`elbo_surgery` - the
  aggregate posterior q(z) = (1/N) sum_n q(z|x_n) and the split of the average KL term into
  I_q(x; z) + KL(q(z) || p(z)) (Hoffman & Johnson 2016).

Every score is in nats per image, one value per image (average with ``.mean()``), as in :mod:`vae_course.losses`.
"""

from __future__ import annotations

import math

import torch

from vae_course import losses
from vae_course.references import reference_implementation


def _noise(samples: int, mu: torch.Tensor, seed: int) -> torch.Tensor:
    """Standard normal noise (samples, N, D) from its own generator: the same for every call with ``seed``."""
    return torch.randn(samples, *mu.shape, generator=torch.Generator().manual_seed(seed)).to(mu)


def _decode_log_likelihood(model, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for codes z (S, N, D) and images x (N, 784) -> (S, N)."""
    s, n, d = z.shape
    logits = model.decode(z.reshape(s * n, d))
    return losses.bernoulli_log_likelihood(logits, x.repeat(s, 1)).reshape(s, n)


def negative_elbo(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, samples: int = 20,
                  seed: int = 0) -> torch.Tensor:
    """-ELBO of each image for the Gaussian q = N(mu, exp(logvar)): x (N, 784), mu, logvar (N, D) -> (N,).

    The reconstruction term is averaged over ``samples`` draws z = mu + sigma * eps (eps fixed by
    ``seed``); the KL term is closed-form. Differentiable in mu and logvar.
    """
    z = mu + torch.exp(0.5 * logvar) * _noise(samples, mu, seed)                  # (S, N, D)
    recon = -_decode_log_likelihood(model, z, x).mean(dim=0)                      # (N,)
    return recon + losses.gaussian_kl(mu, logvar)


def refine_posterior(model, x: torch.Tensor, *, steps: int = 50, lr: float = 0.05, samples: int = 2,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Start from the encoder's (mu, logvar) for x and improve each image's own ELBO with Adam.

    The model's weights are not changed (no gradient reaches them); every step draws fresh noise
    (``samples`` draws per image). Returns the refined ``(mu, logvar)``, each (N, D), detached.
    """
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    mu = mu0.clone().requires_grad_(True)
    logvar = logvar0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    weights = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for step in range(steps):
            optimizer.zero_grad()
            negative_elbo(model, x, mu, logvar, samples=samples, seed=seed + 1 + step).sum().backward()
            optimizer.step()
    finally:
        for p, needed in zip(model.parameters(), weights):
            p.requires_grad_(needed)
    return mu.detach(), logvar.detach()


@torch.no_grad()
def importance_log_weights(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, k: int = 200,
                           seed: int = 0, chunk: int = 250) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) - log q(z_i) for k draws z_i ~ N(mu, exp(logvar)) -> (k, N).

    The first k' rows are an importance-sampling estimate with k' draws, so one call gives the
    estimate at every k' <= k (decoded in chunks of ``chunk`` draws to bound the memory).
    """
    eps = _noise(k, mu, seed)
    z = mu + torch.exp(0.5 * logvar) * eps                                        # (K, N, D)
    log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=-1)
    log_q = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(dim=-1)
    log_lik = torch.cat([_decode_log_likelihood(model, z[i:i + chunk], x) for i in range(0, k, chunk)])
    return log_lik + log_prior - log_q                                            # (K, N)


def importance_sampled_nll(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, k: int = 200,
                           seed: int = 0) -> torch.Tensor:
    """-log p(x) estimated with k importance samples from N(mu, exp(logvar)) -> (N,).

    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i): in expectation an upper bound on -log p(x) that
    tightens as k grows (Burda et al. 2016); with k = 1 it is a one-sample -ELBO.
    """
    log_w = importance_log_weights(model, x, mu, logvar, k=k, seed=seed)
    return -(torch.logsumexp(log_w, dim=0) - math.log(k))


@reference_implementation
def log_aggregate_posterior(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *,
                            chunk: int = 2048) -> torch.Tensor:
    """log q(z) for the mixture q(z) = (1/N) sum_n N(z; mu_n, exp(logvar_n)): z (M, D), mu, logvar (N, D) -> (M,).

    The squared distances sum_d (z_d - mu_nd)^2 / var_nd are expanded into matrix products (no (M, N, D)
    tensor), in float64 so that the expansion does not cancel away digits; ``chunk`` codes at a time.
    The log-sum-exp over the components runs in z's dtype.
    """
    mu64, inv_var = mu.double(), torch.exp(-logvar.double())                       # (N, D)
    const = (mu64.pow(2) * inv_var).sum(dim=1) + logvar.double().sum(dim=1) + mu.shape[1] * math.log(2 * math.pi)
    parts = []
    for block in z.double().split(chunk):
        maha = block.pow(2) @ inv_var.T - 2 * block @ (mu64 * inv_var).T             # (chunk, N), without the constant
        log_components = (-0.5 * (maha + const)).to(z.dtype)                           # exact digits are safe now
        parts.append(torch.logsumexp(log_components, dim=1) - math.log(len(mu)))
    return torch.cat(parts)


@reference_implementation
@torch.no_grad()
def elbo_surgery_terms(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo terms of I_q(x; z) and KL(q(z) || p(z)) (Exercise 5.4): mu, logvar (N, D), z (S, N, D) -> two (S, N).

    z[s, n] is a draw from q(z | x_n) = N(mu_n, exp(logvar_n)). Returns ``(info, mismatch)`` with
    info[s, n] = log q(z[s, n] | x_n) - log q(z[s, n]) and mismatch[s, n] = log q(z[s, n]) - log p(z[s, n]),
    where q(z) is the mixture of all N posteriors and p = N(0, I). Their means estimate the two parts;
    info + mismatch = log q(z | x_n) - log p(z), whose mean over s estimates KL(q(z | x_n) || p(z)).
    """
    samples, n, d = z.shape
    own = -0.5 * (((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(dim=-1))     # (S, N)
    aggregate = log_aggregate_posterior(z.reshape(-1, d), mu, logvar).reshape(samples, n)
    prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(dim=-1)
    return own - aggregate, aggregate - prior


@torch.no_grad()
def elbo_surgery(mu: torch.Tensor, logvar: torch.Tensor, *, samples: int = 10, seed: int = 0) -> dict:
    """Split the average KL term over N images into I_q(x; z) + KL(q(z) || p(z)) (Hoffman & Johnson 2016).

    mu, logvar (N, D): the encoder's outputs for N images, whose empirical distribution plays the
    data distribution. Returns floats in nats: ``avg_kl`` (closed form), ``mutual_info`` and
    ``marginal_kl`` (Monte Carlo, ``samples`` codes per image; they add up to ``avg_kl`` up to that
    noise). With N images the mutual information cannot exceed log N (``log_n``, returned too).
    """
    z = mu + torch.exp(0.5 * logvar) * _noise(samples, mu, seed)                   # (S, N, D)
    info, mismatch = elbo_surgery_terms(mu, logvar, z)
    return {"avg_kl": float(losses.gaussian_kl(mu, logvar).mean()), "mutual_info": float(info.mean()),
            "marginal_kl": float(mismatch.mean()), "log_n": math.log(len(mu))}
