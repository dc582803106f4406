"""Monte Carlo estimators of the gradient of an expectation, and a way to measure their spread (notebook 03).

Everywhere the target is the gradient with respect to the mean of a diagonal Gaussian,

    g = d/dmu E_{z ~ N(mu, diag(sigma^2))}[ f(z) ],        mu, sigma: (D,),

where ``f`` maps a batch of points ``z: (..., D)`` to values ``(...,)``. From ``n`` samples
``z_i = mu + sigma * eps_i`` with ``eps_i ~ N(0, I)``, two unbiased estimators of ``g`` are

* **pathwise** (reparameterization): ``mean_i f'(z_i)`` - needs a differentiable ``f``;
* **score function** (REINFORCE): ``mean_i (f(z_i) - b) * (z_i - mu) / sigma^2`` - needs only the
  values of ``f``. ``b`` is an optional *baseline* (control variate): any number that does not depend
  on the samples keeps the estimate unbiased, because the score has mean zero.

:func:`gradient_estimates` draws many independent estimates at once (one per *repeat*);
:func:`estimator_spread` does that for several sample sizes and summarises the spread, which
is what :func:`vae_course.plotting.estimator_spread` and :func:`~vae_course.plotting.estimator_variance`
draw.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from .references import reference_implementation

METHODS = ("pathwise", "score", "score+baseline")


def pathwise_terms(f: Callable, mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample pathwise gradients f'(mu + sigma * eps): eps (..., D) -> (..., D).

    dz/dmu = 1, so the gradient with respect to mu of one sample is f'(z) at that sample (autograd).
    """
    with torch.enable_grad():
        z = (mu + sigma * eps).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(z).sum(), z)
    return grad


@reference_implementation
def score_terms(f: Callable, mu: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor,
                baseline: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Per-sample score-function gradients (f(z) - b) * (z - mu) / sigma^2: eps (..., D) -> (..., D).

    ``f`` is only evaluated (under ``torch.no_grad``): it may be a black box or non-differentiable.
    """
    with torch.no_grad():
        z = mu + sigma * eps
        values = f(z) - baseline                      # (...,)
        return values.unsqueeze(-1) * (z - mu) / sigma.pow(2)


@reference_implementation
def gradient_estimates(f: Callable, mu: torch.Tensor, sigma: torch.Tensor, n_samples: int, repeats: int = 1,
                       method: str = "pathwise", baseline: float | torch.Tensor = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``repeats`` independent estimates of g, each an average over ``n_samples`` samples -> (repeats, D).

    method: ``"pathwise"``, ``"score"`` or ``"score+baseline"`` (the score-function estimator with
    ``baseline`` subtracted from f). mu, sigma: (D,) tensors (or numbers, for D = 1).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    mu = torch.as_tensor(mu, dtype=torch.float32).reshape(-1)
    sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
    eps = torch.randn(repeats, n_samples, len(mu), generator=generator)
    if method == "pathwise":
        terms = pathwise_terms(f, mu, sigma, eps)
    else:
        terms = score_terms(f, mu, sigma, eps, baseline if method == "score+baseline" else 0.0)
    return terms.mean(dim=1)


def estimator_spread(f: Callable, mu, sigma, sample_sizes: Sequence[int], repeats: int = 1000,
                     methods: Sequence[str] = ("pathwise", "score"), baseline: float | torch.Tensor = 0.0,
                     seed: int = 0) -> dict:
    """Measure how much each estimator scatters around its mean, for every sample size.

    Returns ``{method: {"n": [...], "mean": (S, D), "variance": (S, D), "low": (S, D), "high": (S, D)}}``
    with S = len(sample_sizes): the mean and variance over ``repeats`` independent estimates, and their
    10% and 90% quantiles. Every method sees the same random numbers (common random numbers).
    """
    results = {}
    for method in methods:
        generator = torch.Generator().manual_seed(seed)
        rows = {"n": list(sample_sizes), "mean": [], "variance": [], "low": [], "high": []}
        for n in sample_sizes:
            est = gradient_estimates(f, mu, sigma, n, repeats, method, baseline, generator)  # (repeats, D)
            rows["mean"].append(est.mean(0))
            rows["variance"].append(est.var(0))
            rows["low"].append(est.quantile(0.1, dim=0))
            rows["high"].append(est.quantile(0.9, dim=0))
        results[method] = {k: (torch.stack(v) if k != "n" else v) for k, v in rows.items()}
    return results
