"""Catalogue entries (see tests/test_checks_catalogue.py) for exercises 5.2, 6.1, 7.2 and 8.2.

Each exercise: ``{"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Laplace, Normal, kl_divergence

# --------------------------------------------------------------------------- 5.2 slerp


def _time(t, z0):
    """t as a float, or a (T,) tensor shaped (T, 1, ..., 1) to broadcast time-first against z0."""
    return t.reshape(-1, *[1] * z0.dim()) if torch.is_tensor(t) else t


def _omega(z0, z1, *, normalise=True, clamp=True):
    dot = (z0 * z1).sum(-1, keepdim=True)
    cos = dot / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)) if normalise else dot
    return torch.acos(cos.clamp(-1, 1) if clamp else cos)


def _slerp(z0, z1, t, *, fallback="sin", omega=None, weights=None, divide=True):
    """Shoemake's formula with a lerp fallback decided per row (``fallback``: "sin", "cos" (only cos near 1),
    "any" (one Python decision for the whole batch) or None); ``weights`` replaces sin for the mistakes."""
    tt = _time(t, z0)
    omega = _omega(z0, z1) if omega is None else omega
    sin = torch.sin(omega)
    parallel = {"sin": sin < 1e-4, "cos": torch.cos(omega) > 1 - 1e-6, "any": None, None: None}[fallback]
    if fallback == "any" and bool((sin < 1e-4).any()):
        return (1 - tt) * z0 + tt * z1
    weight = weights or torch.sin
    safe = torch.where(sin < 1e-4, torch.ones_like(sin), sin) if parallel is not None else sin
    spherical = (weight((1 - tt) * omega) * z0 + weight(tt * omega) * z1) / (safe if divide else 1)
    return spherical if parallel is None else torch.where(parallel, (1 - tt) * z0 + tt * z1, spherical)


def _slerp_atan2(z0, z1, t):
    tt = _time(t, z0)
    u0, u1 = F.normalize(z0, dim=-1), F.normalize(z1, dim=-1)
    omega = torch.atan2(torch.linalg.vector_norm(u0 - u1, dim=-1, keepdim=True),
                        torch.linalg.vector_norm(u0 + u1, dim=-1, keepdim=True)) * 2
    sin = torch.sin(omega)
    near = sin.abs() < 1e-4
    sin = torch.where(near, torch.ones_like(sin), sin)
    out = (torch.sin((1 - tt) * omega) * z0 + torch.sin(tt * omega) * z1) / sin
    return torch.where(near, torch.lerp(z0, z1, tt if torch.is_tensor(tt) else torch.tensor(tt)), out)


def _slerp_in_rows(z0, z1, t):
    """One (D,) pair at a time, with a Python `if` per row (allowed: the decision is per row)."""
    if z0.dim() == 2:
        return torch.stack([_slerp_in_rows(a, b, t) for a, b in zip(z0, z1)], dim=-2)
    omega = torch.acos(torch.clamp(torch.dot(z0, z1) / (z0.norm() * z1.norm()), -1.0, 1.0))
    tt = _time(t, z0)
    if torch.sin(omega) < 1e-4:
        return (1 - tt) * z0 + tt * z1
    return (torch.sin((1 - tt) * omega) * z0 + torch.sin(tt * omega) * z1) / torch.sin(omega)


def _unit(z):
    return z / z.norm(dim=-1, keepdim=True)


SLERP = {
    "correct": {
        "atan2 angle": _slerp_atan2,
        "row by row": _slerp_in_rows,
        "cosine similarity": lambda z0, z1, t: _slerp(z0, z1, t, omega=torch.acos(
            F.cosine_similarity(z0, z1, dim=-1).clamp(-1, 1).unsqueeze(-1))),
        "float64": lambda z0, z1, t: _slerp(z0.double(), z1.double(), t.double() if torch.is_tensor(t) else t),
    },
    "wrong": {
        "reversed t": (lambda z0, z1, t: _slerp(z0, z1, 1 - t), "in reverse"),
        "raw dot product": (lambda z0, z1, t: _slerp(z0, z1, t, omega=_omega(z0, z1, normalise=False)),
                            "raw dot product"),
        "lerp": (lambda z0, z1, t: (1 - _time(t, z0)) * z0 + _time(t, z0) * z1, "instead of slerp"),
        "unit vectors": (lambda z0, z1, t: _slerp(_unit(z0), _unit(z1), t), "norms are lost"),
        "not divided by sin": (lambda z0, z1, t: _slerp(z0, z1, t, divide=False), "not divided by sin Omega"),
        "cos weights": (lambda z0, z1, t: _slerp(z0, z1, t, weights=torch.cos), "cos"),
        "one angle for the batch": (lambda z0, z1, t: _slerp(z0, z1, t, omega=torch.acos(
            ((z0 * z1).sum() / (z0.norm() * z1.norm())).clamp(-1, 1))), "one angle for the whole batch"),
        "no fallback": (lambda z0, z1, t: _slerp(z0, z1, t, fallback=None), "Fall back to lerp"),
        "fallback on cos only": (lambda z0, z1, t: _slerp(z0, z1, t, fallback="cos"), "anti-parallel"),
        "fallback for the whole batch": (lambda z0, z1, t: _slerp(z0, z1, t, fallback="any"), "per row"),
        "no clamp": (lambda z0, z1, t: _slerp(z0, z1, t, omega=_omega(z0, z1, clamp=False)), "clamp"),
        "degrees": (lambda z0, z1, t: _slerp(z0, z1, t, omega=torch.rad2deg(_omega(z0, z1)), fallback=None),
                    "degrees"),
    },
}


# --------------------------------------------------------------------------- 6.1 anomaly_score

def _kl(mu, lv):
    return (0.5 * (mu**2 + lv.exp() - 1 - lv)).sum(1)


def _bce_sum(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def _score_parts(model, x, *, sample=False):
    mu, lv = model.encode(x)
    z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu) if sample else mu
    return model.decode(z), mu, lv


def _anomaly(model, x, recon=_bce_sum, kl=_kl, sample=False):
    logits, mu, lv = _score_parts(model, x, sample=sample)
    return recon(logits, x) + kl(mu, lv)


def _anomaly_forward(model, x):
    logits, mu, lv = model(x)  # the check's model is in eval mode: model(x) decodes the mean code
    return _bce_sum(logits, x) + _kl(mu, lv)


def _anomaly_with_distributions(model, x):
    logits, mu, lv = _score_parts(model, x)
    nll = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1)  # grey pixels: no support check
    return nll + kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0)).sum(1)


def _anomaly_in_chunks(model, x):
    return torch.cat([_anomaly(model, chunk) for chunk in x.split(2)])


ANOMALY_SCORE = {
    "correct": {
        "model(x) in eval mode": _anomaly_forward,
        "distributions": lambda model, x: _anomaly_with_distributions(model, x),
        "chunks": _anomaly_in_chunks,
        "float64": lambda model, x: _anomaly(model, x).double(),
    },
    "wrong": {
        "sign": (lambda model, x: -_anomaly(model, x), "sign is flipped"),
        "KL missing": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: 0), "KL term is missing"),
        "KL only": (lambda model, x: _anomaly(model, x, recon=lambda logits, x: 0), "the KL term only"),
        "KL subtracted": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: -_kl(mu, lv)), "minus the KL"),
        "squared error on logits": (lambda model, x: _anomaly(model, x, recon=lambda l, x: (l - x).pow(2).sum(1)),
                                    "squared error on the logits"),
        "squared error on probabilities": (lambda model, x: _anomaly(
            model, x, recon=lambda l, x: (torch.sigmoid(l) - x).pow(2).sum(1)), "squared error on the probabilities"),
        "pixels averaged": (lambda model, x: _anomaly(model, x, recon=lambda l, x: F.binary_cross_entropy_with_logits(
            l, x, reduction="none").mean(1)), "mean over pixels"),
        "sampled code": (lambda model, x: _anomaly(model, x, sample=True), "sampled code"),
        "batch mean": (lambda model, x: _anomaly(model, x).mean(), "single number"),
        "per pixel": (lambda model, x: F.binary_cross_entropy_with_logits(
            *_score_parts(model, x)[:1], x, reduction="none"), "one value per pixel"),
        "KL averaged over latents": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: _kl(mu, lv) / mu.shape[1]),
                                     "averaged over the latent dimensions"),
        "KL without 1/2": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: 2 * _kl(mu, lv)), "factor 1/2"),
        "KL batch mean": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: _kl(mu, lv).mean()),
                          "KL term averaged over the batch"),
        "sigmoid twice": (lambda model, x: _anomaly(model, x, recon=lambda l, x: _bce_sum(torch.sigmoid(l), x)),
                          "sigmoid applied twice"),
        "arguments swapped": (lambda model, x: _anomaly(model, x, recon=lambda l, x: _bce_sum(x, l)), "swapped"),
        "KL summed over the batch": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: _kl(mu, lv).sum()),
                                     "KL term summed over the batch"),
        "BCE reduction sum": (lambda model, x: _anomaly(model, x, recon=lambda l, x: F.binary_cross_entropy_with_logits(
            l, x, reduction="sum")), "summed over the whole batch"),
        "only the x term": (lambda model, x: _anomaly(model, x, recon=lambda l, x: -(x * F.logsigmoid(l)).sum(1)),
                            "only the x * log(pi) term"),
        "decoded logvar": (lambda model, x: (lambda mu, lv: _bce_sum(model.decode(lv), x) + _kl(mu, lv))(
            *model.encode(x)), "decoded logvar"),
        "KL with logvar as log sigma": (lambda model, x: _anomaly(
            model, x, kl=lambda mu, lv: (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).sum(1)), "log(sigma)"),
        "KL without the -1": (lambda model, x: _anomaly(model, x, kl=lambda mu, lv: _kl(mu, lv) + 0.5 * mu.shape[1]),
                              "without the -1 term"),
    },
}


# --------------------------------------------------------------------------- 7.2 active_units

def _count_in_loop(mu, threshold=0.01):
    return sum(1 for u in range(mu.shape[1]) if mu[:, u].var() > threshold)


ACTIVE_UNITS = {
    "correct": {
        "count_nonzero tensor": lambda mu, threshold=0.01: torch.count_nonzero(mu.var(dim=0) > threshold),
        "numpy": lambda mu, threshold=0.01: np.sum(np.var(mu.numpy(), axis=0, ddof=1) > threshold),
        "by hand": lambda mu, threshold=0.01: int((((mu - mu.mean(0)) ** 2).mean(0) > threshold).sum().item()),
        "loop": _count_in_loop,
        "float64": lambda mu, threshold=0.01: int((mu.double().var(0) > threshold).sum()),
    },
    "wrong": {
        "std": (lambda mu, threshold=0.01: int((mu.std(0) > threshold).sum()), "standard deviation"),
        "flipped": (lambda mu, threshold=0.01: int((mu.var(0) < threshold).sum()), "threshold direction flipped"),
        "over dims": (lambda mu, threshold=0.01: int((mu.var(1) > threshold).sum()), "count of examples"),
        "mean": (lambda mu, threshold=0.01: int((mu.mean(0).abs() > threshold).sum()), "mean of mu"),
        "threshold ignored": (lambda mu, threshold=0.01: int((mu.var(0) > 0.01).sum()), "threshold"),
        "hard-coded": (lambda mu, threshold=0.01: 4, "hard-coded"),
        "fraction": (lambda mu, threshold=0.01: (mu.var(0) > threshold).float().mean(), "whole number"),
        "mask": (lambda mu, threshold=0.01: mu.var(0) > threshold, "single count"),
        "activities": (lambda mu, threshold=0.01: mu.var(0), "single count"),
        "variance of everything": (lambda mu, threshold=0.01: int(mu.var() > threshold), "all entries together"),
        "all dimensions": (lambda mu, threshold=0.01: mu.shape[1], "every dimension"),
        "loop skips dimension 0": (lambda mu, threshold=0.01: sum(int(mu[:, u].var() > threshold)
                                                                   for u in range(1, mu.shape[1])), "off-by-one"),
        "variance of mu squared": (lambda mu, threshold=0.01: int(((mu**2).mean(0) > threshold).sum()),
                                   "mean of mu^2"),
    },
}


# --------------------------------------------------------------------------- 8.2 sample_digit

def _one_hot(digit, n):
    return F.one_hot(torch.full((n,), digit), 10).float()


def _digit(model, digit, n, z=None, y=None):
    z = torch.randn(n, model.latent_dim) if z is None else z
    return torch.sigmoid(model.decode(z, _one_hot(digit, n) if y is None else y))


def _digit_reseeded(model, digit, n):
    torch.manual_seed(digit)
    return _digit(model, digit, n)


def _digit_by_index(model, digit, n):
    y = torch.zeros(n, 10)
    y[:, digit] = 1
    with torch.no_grad():
        return model.decode(torch.randn(n, model.latent_dim), y).sigmoid()


SAMPLE_DIGIT = {
    "correct": {
        "integer labels": lambda model, digit, n: _digit(model, digit, n, y=torch.full((n,), digit)),
        "index assignment, no_grad": _digit_by_index,
        "chunks": lambda model, digit, n: torch.cat([_digit(model, digit, len(c)) for c in torch.arange(n).split(500)]),
        "float64": lambda model, digit, n: _digit(model, digit, n).double(),
    },
    "wrong": {
        "uniform codes": (lambda m, d, n: _digit(m, d, n, z=torch.rand(n, m.latent_dim)), "torch.rand"),
        "zero codes": (lambda m, d, n: _digit(m, d, n, z=torch.zeros(n, m.latent_dim)), "codes z are the same"),
        "scaled codes": (lambda m, d, n: _digit(m, d, n, z=0.3 * torch.randn(n, m.latent_dim)), "no scaling"),
        "logits": (lambda m, d, n: m.decode(torch.randn(n, m.latent_dim), _one_hot(d, n)), "logits"),
        "digit off by one": (lambda m, d, n: _digit(m, d, n, y=_one_hot(d - 1, n)), "not a one-hot 7"),
        "label zero": (lambda m, d, n: _digit(m, d, n, y=torch.zeros(n, 10)), "not a one-hot"),
        "digit hard-coded": (lambda m, d, n: _digit(m, 7, n), "did not receive the label 2"),
        "n ignored": (lambda m, d, n: _digit(m, d, 2000), "Use the arguments `digit` and `n`"),
        "re-seeded": (_digit_reseeded, "same codes"),
        "one number per code": (lambda m, d, n: _digit(m, d, n, z=torch.randn(n, 1).expand(n, m.latent_dim)),
                                "correlated"),
        "laplace codes": (lambda m, d, n: _digit(m, d, n, z=Laplace(0.0, 2**-0.5).sample((n, m.latent_dim))),
                          "not normally distributed"),
        "binary sample": (lambda m, d, n: torch.bernoulli(_digit(m, d, n)), "binary sample"),
        "latent size hard-coded": (lambda m, d, n: _digit(m, d, n, z=torch.randn(n, 20)), "model.latent_dim"),
        "one label for all": (lambda m, d, n: _digit(m, d, n, y=F.one_hot(torch.tensor([d]), 10).float()),
                              "label-shape-wrong"),
        "one_hot without num_classes": (lambda m, d, n: _digit(m, d, n, y=F.one_hot(torch.full((n,), d)).float()),
                                        "num_classes=10"),
        "sizes swapped": (lambda m, d, n: _digit(m, d, n, z=torch.randn(m.latent_dim, n)), "swapped"),
        "float64 codes": (lambda m, d, n: _digit(m, d, n, z=torch.randn(n, m.latent_dim, dtype=torch.float64)),
                          "codes-in-another-dtype"),
    },
}

ENTRIES = {"5.2": SLERP, "6.1": ANOMALY_SCORE, "7.2": ACTIVE_UNITS, "8.2": SAMPLE_DIGIT}
