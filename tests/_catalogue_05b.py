"""Catalogue answers of notebook 05's Exercise 5.4 (``elbo_surgery_terms``: ELBO surgery's Monte Carlo terms).

``ENTRIES = {"5.4": {"correct": {name: fn}, "wrong": {name: (fn, phrase the feedback must name)}}}``,
registered in ``tests/test_checks_catalogue.py``. The wrong answers are written as a student would write
them: one shared, correct skeleton (:func:`_student`) with one step done wrongly each, and a few written
out in full.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal


def _log_normal(z, mu, var, *, const=True, half_logdet=True, scaled=True):
    """log N(z; mu, diag var), summed over the last dimension."""
    sq = (z - mu) ** 2 / var if scaled else (z - mu) ** 2
    logdet = torch.log(var) if half_logdet else 2 * torch.log(var)
    return -0.5 * (sq + logdet + (math.log(2 * math.pi) if const else 0.0)).sum(-1)


def _student(mu, logvar, z, *, var=None, comp_const=True, prior_const=True, half_logdet=True, logdet=True,
             scaled=True, own_var=False, combine="lse", order="right"):
    """A broadcasting answer with one step changed; the defaults are the right answer."""
    S, N, D = z.shape
    var = logvar.exp() if var is None else var(logvar)
    zz = z.unsqueeze(2)                                                   # (S, N, 1, D)
    comp_var = var.unsqueeze(1) if own_var else var                      # (N, 1, D) or (N, D)

    def density(x, m, v, const=True):
        if logdet:
            return _log_normal(x, m, v, const=const, half_logdet=half_logdet, scaled=scaled)
        sq = (x - m) ** 2 / v if scaled else (x - m) ** 2
        return -0.5 * (sq + (math.log(2 * math.pi) if const else 0.0)).sum(-1)

    own = density(z, mu, var)                                             # (S, N)
    comps = density(zz, mu, comp_var, comp_const)                         # (S, N, N)
    prior = -0.5 * (z ** 2 + (math.log(2 * math.pi) if prior_const else 0.0)).sum(-1)
    if combine == "lse":
        log_q = torch.logsumexp(comps, dim=-1) - math.log(N)
    elif combine == "mean":
        log_q = comps.mean(dim=-1)
    elif combine == "sum":
        log_q = torch.logsumexp(comps, dim=-1)
    elif combine == "log S":
        log_q = torch.logsumexp(comps, dim=-1) - math.log(S)
    elif combine == "dim 1":
        log_q = torch.logsumexp(comps, dim=1) - math.log(N)
    elif combine == "prior":
        log_q = prior
    elif combine == "own":
        log_q = own
    elif combine == "naive":
        log_q = torch.log(torch.exp(comps).mean(dim=-1))
    elif combine == "max":
        log_q = comps.max(dim=-1).values - math.log(N)
    elif combine == "leave one out":
        mask = torch.eye(N, dtype=torch.bool, device=z.device)
        log_q = torch.logsumexp(comps.masked_fill(mask, -float("inf")), dim=-1) - math.log(N - 1)
    info, mismatch = own - log_q, log_q - prior
    return {"right": (info, mismatch), "swapped": (mismatch, info), "sign": (-info, mismatch),
            "kl": (info, own - prior), "dict": {"info": info, "mismatch": mismatch},
            "sum": info + mismatch, "mean over S": (info.mean(0), mismatch.mean(0)),
            "scalars": (info.mean(), mismatch.mean())}[order]


def _w(**changes):
    return lambda mu, logvar, z: _student(mu, logvar, z, **changes)


def _draws_from_prior(mu, logvar, z):
    """Ignores the given z and draws codes from the prior (a new draw every call)."""
    return _student(mu, logvar, torch.randn_like(z))


def _per_image_loop(mu, logvar, z):
    """Correct: a loop over the N components with torch.distributions."""
    S, N, D = z.shape
    std = torch.exp(0.5 * logvar)
    comps = torch.stack([Normal(mu[m], std[m]).log_prob(z).sum(-1) for m in range(N)], dim=-1)   # (S, N, N)
    own = Normal(mu, std).log_prob(z).sum(-1)
    log_q = torch.logsumexp(comps, dim=-1) - math.log(N)
    log_p = Normal(torch.zeros_like(z), torch.ones_like(z)).log_prob(z).sum(-1)
    return own - log_q, log_q - log_p


def _no_constants(mu, logvar, z):
    """Correct: every density without -D/2 log 2 pi - the constants cancel in both differences."""
    N = mu.shape[0]
    inv = torch.exp(-logvar)
    own = -0.5 * ((z - mu) ** 2 * inv + logvar).sum(-1)
    comps = -0.5 * ((z[:, :, None, :] - mu[None, None]) ** 2 * inv + logvar).sum(-1)
    log_q = torch.logsumexp(comps, dim=2) - math.log(N)
    return own - log_q, log_q + 0.5 * (z ** 2).sum(-1)


def _expanded(mu, logvar, z):
    """Correct: squared distances expanded into matrix products (float64), codes flattened to rows."""
    S, N, D = z.shape
    flat = z.reshape(S * N, D).double()
    m, lv = mu.double(), logvar.double()
    inv = torch.exp(-lv)
    maha = (flat ** 2) @ inv.T - 2 * flat @ (m * inv).T + (m ** 2 * inv).sum(1)
    comps = -0.5 * (maha + lv.sum(1) + D * math.log(2 * math.pi))                # (S*N, N)
    log_q = (torch.logsumexp(comps, dim=1) - math.log(N)).reshape(S, N)
    own = -0.5 * ((z.double() - m) ** 2 * inv + lv + math.log(2 * math.pi)).sum(-1)
    log_p = -0.5 * (z.double() ** 2 + math.log(2 * math.pi)).sum(-1)
    return (own - log_q).float(), (log_q - log_p).float()


ENTRIES = {"5.4": {
    "correct": {
        "broadcast over (S, N, N, D)": _w(),
        "loop over components with Normal": _per_image_loop,
        "constants dropped everywhere": _no_constants,
        "matrix expansion in float64": _expanded,
    },
    "wrong": {
        "mean of log densities (Jensen)": (_w(combine="mean"), "mean of the components' log densities"),
        "forgot - log N": (_w(combine="sum"), "without the - log N"),
        "- log S instead of - log N": (_w(combine="log S"), "log S"),
        "logsumexp over the wrong dimension": (_w(combine="dim 1"), "over the codes' image index"),
        "prior in place of q(z)": (_w(combine="prior"), "the prior p(z) in place"),
        "own posterior in place of q(z)": (_w(combine="own"), "own posterior q(z | x_n) in place"),
        "mixture without the own component": (_w(combine="leave one out"), "leaves out each code's own component"),
        "max in place of logsumexp": (_w(combine="max"), "largest component"),
        "log of the mean of exp (underflows)": (_w(combine="naive"), "torch.logsumexp"),
        "2 pi constant only in the own density": (_w(comp_const=False), "log 2 pi constant in one density"),
        "prior without its constant": (_w(prior_const=False), "prior's density without"),
        "std as the variance": (_w(var=lambda lv: torch.exp(0.5 * lv)), "standard deviation where the variance"),
        "no log-variance term": (_w(logdet=False), "without the - 1/2 sum(logvar)"),
        "log-variance term without 1/2": (_w(half_logdet=False), "without the factor 1/2"),
        "distance not scaled by the variance": (_w(scaled=False), "not divided by the variance"),
        "own image's variance for every component": (_w(own_var=True), "variance of the code's own image"),
        "terms swapped": (_w(order="swapped"), "other order"),
        "information sign flipped": (_w(order="sign"), "sign flipped"),
        "per-image KL as the mismatch": (_w(order="kl"), "whole KL term"),
        "a dict": (_w(order="dict"), "dict"),
        "the sum of the two terms": (_w(order="sum"), "one tensor"),
        "averaged over the draws": (_w(order="mean over S"), "averaged over the S draws"),
        "two scalars": (_w(order="scalars"), "averaged everything"),
        "codes drawn from the prior": (_draws_from_prior, "draws random numbers"),
    },
}}
