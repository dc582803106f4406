"""Catalogue entries (see tests/test_checks_catalogue.py) of notebook 07: Exercise 7.3, and the answer to 7.2
that its check used to accept (a threshold compared with >=).

Each exercise: ``{"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}``;
:func:`merge_into` adds them to the catalogue (7.2 has entries elsewhere already).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence


def _beta(step, beta, warmup_steps):
    return beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else beta


def _loss(logits, x, mu, logvar, step, *, beta=1.0, warmup_steps=0, free_bits=0.0, floor=None, beta_t=None,
          recon=None, kl=None):
    """The right loss, with one part replaced: ``floor(kl_terms (B, D), lam) -> ()``, ``beta_t``, ``recon``, ``kl``."""
    b = _beta(step, beta, warmup_steps) if beta_t is None else beta_t(step, beta, warmup_steps)
    terms = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    r = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).mean() if recon is None else recon
    penalty = terms.mean(0).clamp(min=free_bits).sum() if floor is None else floor(terms, free_bits)
    return {"loss": r + b * penalty, "recon": r, "kl": terms.mean(0).sum() if kl is None else kl(terms, free_bits),
            "beta": b}


def _loss_with_distributions(logits, x, mu, logvar, step, *, beta=1.0, warmup_steps=0, free_bits=0.0):
    recon = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1).mean()
    kl_dims = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), 1.0)).mean(0)
    weight = beta if not warmup_steps else beta * min(step, warmup_steps) / warmup_steps
    floored = torch.maximum(kl_dims, torch.full_like(kl_dims, free_bits))
    return {"loss": recon + weight * floored.sum(), "recon": recon, "kl": kl_dims.sum(), "beta": weight}


def _loss_with_relu(logits, x, mu, logvar, step, *, beta=1.0, warmup_steps=0, free_bits=0.0):
    kl_dims = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).sum(0) / len(mu)
    beta_now = torch.tensor(_beta(step, beta, warmup_steps))
    recon = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)
    return {"loss": recon + beta_now * (F.relu(kl_dims - free_bits) + free_bits).sum(), "recon": recon,
            "kl": kl_dims.sum(), "beta": beta_now}


ANNEALED_FREE_BITS_LOSS = {
    "correct": {
        "distributions, maximum": _loss_with_distributions,
        "relu, sums": _loss_with_relu,
        "float64": lambda *a, **k: {key: v.double() if torch.is_tensor(v) else v for key, v in _loss(*a, **k).items()},
        "plain": _loss,
    },
    "wrong": {
        "floor per example": (lambda *a, **k: _loss(*a, **k, floor=lambda t, lam: t.clamp(min=lam).mean(0).sum()),
                              "free-bits-per-example"),
        "floor on the total": (lambda *a, **k: _loss(*a, **k, floor=lambda t, lam: t.mean(0).sum().clamp(min=lam)),
                               "free-bits-on-the-total-kl"),
        "minimum": (lambda *a, **k: _loss(*a, **k, floor=lambda t, lam: t.mean(0).clamp(max=lam).sum()),
                    "free-bits-minimum-instead-of-maximum"),
        "hinge": (lambda *a, **k: _loss(*a, **k, floor=lambda t, lam: (t.mean(0) - lam).clamp(min=0).sum()),
                  "free-bits-hinge"),
        "no floor": (lambda *a, **k: _loss(*a, **k, floor=lambda t, lam: t.mean(0).sum()), "free-bits-ignored"),
        "not annealed": (lambda *a, **k: _loss(*a, **k, beta_t=lambda s, b, w: b), "beta-not-annealed"),
        "not capped": (lambda *a, **k: _loss(*a, **k, beta_t=lambda s, b, w: b * s / w if w else b),
                       "beta-warmup-not-capped"),
        "schedule without beta": (lambda *a, **k: _loss(*a, **k, beta_t=lambda s, b, w: min(1.0, s / w) if w else 1.0),
                                  "warmup-without-the-factor-beta"),
        "divides by warmup_steps": (lambda *a, **k: _loss(*a, **k, beta_t=lambda s, b, w: b * min(1.0, s / w)),
                                    "warmup-steps-zero-divides"),
        "floored kl reported": (lambda *a, **k: _loss(*a, **k, kl=lambda t, lam: t.mean(0).clamp(min=lam).sum()),
                                "kl-reported-with-the-floor"),
        "recon over pixels": (lambda lg, x, *a, **k: _loss(lg, x, *a, **k, recon=F.binary_cross_entropy_with_logits(
            lg, x)), "recon-averaged-over-pixels"),
        "recon summed over the batch": (lambda lg, x, *a, **k: _loss(
            lg, x, *a, **k, recon=F.binary_cross_entropy_with_logits(lg, x, reduction="sum")),
            "recon-summed-over-the-batch"),
        "KL summed over the batch": (lambda *a, **k: _loss(
            *a, **k, floor=lambda t, lam: t.sum(0).clamp(min=lam).sum(), kl=lambda t, lam: t.sum()),
            "kl-summed-over-the-batch"),
        "a scalar loss": (lambda *a, **k: _loss(*a, **k)["loss"], "loss-not-a-dict"),
        "key missing": (lambda *a, **k: {key: v for key, v in _loss(*a, **k).items() if key != "beta"},
                        "loss-dict-key-missing"),
        "detached": (lambda *a, **k: {key: v.detach() if torch.is_tensor(v) else v
                                      for key, v in _loss(*a, **k).items()}, "no gradient"),
        "per-dimension loss": (lambda *a, **k: {**_loss(*a, **k), "kl": 0.5 * (a[2] ** 2 + a[3].exp() - 1 - a[3]).mean(0)},
                               "loss-term-not-a-scalar"),
    },
}


def merge_into(catalogue: dict) -> None:
    """Add this notebook's entries: Exercise 7.3, and the wrong answer of 7.2 named since issue 22."""
    catalogue["7.3"] = ANNEALED_FREE_BITS_LOSS
    catalogue["7.2"]["wrong"]["greater or equal"] = (
        lambda mu, threshold=0.01: int((mu.var(0) >= threshold).sum()), "threshold-compared-with-greater-or-equal")
