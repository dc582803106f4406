"""Catalogue entries (see tests/test_checks_catalogue.py) of notebook 08: all of 8.3, and the answers of 8.1 and
8.2 whose mistakes the checks learned to name later (added to those exercises' entries by :func:`register`).

8.3 answers are built from one template, :func:`_weights`, whose keyword arguments each plant one realistic
mistake: the formula of one log-density, how the noise is drawn, the layout of the result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal

L2P = math.log(2 * math.pi)


# --------------------------------------------------------------------------- 8.3 log_importance_weights

def _weights(model, x, k, *, noise=None, std=None, detach=False, ll=None, lp=None, lq=None, combine=None):
    """A (K, B, D)-layout answer; each keyword replaces one part by a wrong (or differently written) one."""
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar) if std is None else std(logvar)
    eps = torch.randn((k,) + tuple(mu.shape), device=mu.device, dtype=mu.dtype) if noise is None else noise(mu, k)
    z = mu + sigma * eps
    if detach:
        z = z.detach()
    logits = model.decode(z.reshape(-1, mu.shape[1])).reshape(k, len(x), -1)
    target = x.expand_as(logits)
    log_px = (-F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1) if ll is None
              else ll(logits, target))
    log_pz = -0.5 * (z.pow(2) + L2P).sum(-1) if lp is None else lp(z)
    log_qz = (-0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + L2P).sum(-1) if lq is None
              else lq(z, mu, logvar, eps))
    if combine is not None:
        return combine(log_px, log_pz, log_qz, mu, logvar)
    return (log_px + log_pz - log_qz).T


def _loop(model, x, k):
    mu, logvar = model.encode(x)
    std = torch.exp(logvar / 2)
    columns = []
    for _ in range(k):
        eps = torch.randn_like(std)
        z = mu + std * eps
        logits = model.decode(z)
        log_px = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
        log_pz = (-0.5 * z**2).sum(1)                        # both log(2 pi) constants left out: they cancel
        log_qz = (-0.5 * eps**2 - 0.5 * logvar).sum(1)
        columns.append(log_px + log_pz - log_qz)
    return torch.stack(columns, dim=1)


def _distributions(model, x, k):
    mu, logvar = model.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = q.rsample((k,))                                       # (K, B, D)
    logits = model.decode(z)                                  # (K, B, 784)
    log_px = Bernoulli(logits=logits).log_prob(x.expand_as(logits)).sum(-1)
    log_pz = Normal(torch.zeros_like(mu), torch.ones_like(mu)).log_prob(z).sum(-1)
    return (log_px + log_pz - q.log_prob(z).sum(-1)).T


def _image_major(model, x, k):
    mu, logvar = model.encode(x)
    b, d = mu.shape
    eps = torch.randn(b, k, d, device=x.device, dtype=x.dtype)
    z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps      # (B, K, D)
    logits = model.decode(z.reshape(b * k, d))
    log_px = -F.binary_cross_entropy_with_logits(logits, x.repeat_interleave(k, 0), reduction="none").sum(1)
    log_pz = -0.5 * (z**2).sum(-1) - 0.5 * d * L2P
    log_qz = -0.5 * (eps**2).sum(-1) - 0.5 * logvar.sum(-1, keepdim=True) - 0.5 * d * L2P
    return log_px.reshape(b, k) + log_pz - log_qz


def _wrong_pairing(model, x, k):
    mu, logvar = model.encode(x)
    b, d = mu.shape
    eps = torch.randn(b, k, d)
    z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps      # (B, K, D): image-major codes ...
    logits = model.decode(z.reshape(b * k, d))
    log_px = -F.binary_cross_entropy_with_logits(logits, x.repeat(k, 1), reduction="none").sum(1)  # ... x k-major
    log_pz = -0.5 * (z**2 + L2P).sum(-1)
    log_qz = -0.5 * (eps**2 + logvar[:, None] + L2P).sum(-1)
    return log_px.reshape(b, k) + log_pz - log_qz


def _naive_bernoulli(logits, x):
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def _reseeded(model, x, k):
    torch.manual_seed(0)
    return _weights(model, x, k)


def _on_the_cpu(model, x, k):
    return _weights(model, x, k, noise=lambda mu, k: torch.randn((k,) + tuple(mu.shape)))


IMPORTANCE_WEIGHTS = {
    "correct": {
        "(K, B, D) codes, BCE with logits": _weights,
        "a loop over the K samples, logsigmoid, constants cancelled": _loop,
        "torch.distributions": _distributions,
        "(B, K, D) codes, log q from eps": _image_major,
        "float64 result": lambda model, x, k: _weights(model, x, k).double(),
        "on the model's device, without dtype": lambda model, x, k: _weights(
            model, x, k, noise=lambda mu, k: torch.randn(k, *mu.shape, device=x.device)),
    },
    "wrong": {
        "prior without log(2 pi)": (lambda m, x, k: _weights(m, x, k, lp=lambda z: -0.5 * z.pow(2).sum(-1)),
                                    "log p(z) without its log(2 pi) constant"),
        "q without log(2 pi)": (lambda m, x, k: _weights(
            m, x, k, lq=lambda z, mu, lv, e: -0.5 * ((z - mu).pow(2) / lv.exp() + lv).sum(-1)),
            "log q(z|x) without its log(2 pi) constant"),
        "no log-determinant": (lambda m, x, k: _weights(
            m, x, k, lq=lambda z, mu, lv, e: -0.5 * ((z - mu).pow(2) / lv.exp() + L2P).sum(-1)),
            "without its log-determinant"),
        "logvar as log sigma in q": (lambda m, x, k: _weights(
            m, x, k, lq=lambda z, mu, lv, e: (-0.5 * (z - mu).pow(2) / lv.exp() - lv - 0.5 * L2P).sum(-1)),
            "logvar read as log sigma"),
        "divided by sigma": (lambda m, x, k: _weights(
            m, x, k, lq=lambda z, mu, lv, e: -0.5 * ((z - mu).pow(2) / (0.5 * lv).exp() + lv + L2P).sum(-1)),
            "divided by sigma instead of sigma^2"),
        "q quadratic without 1/2": (lambda m, x, k: _weights(
            m, x, k, lq=lambda z, mu, lv, e: (-((z - mu).pow(2) / lv.exp()) - 0.5 * (lv + L2P)).sum(-1)),
            "quadratic term of log q(z|x) without its 1/2"),
        "prior quadratic without 1/2": (lambda m, x, k: _weights(m, x, k, lp=lambda z: (-z.pow(2) - 0.5 * L2P).sum(-1)),
                                        "quadratic term of log p(z) without its 1/2"),
        "signs flipped": (lambda m, x, k: _weights(m, x, k, combine=lambda l, p, q, mu, lv: (l - p + q).T),
                          "flipped signs"),
        "negative": (lambda m, x, k: -_weights(m, x, k), "negative log-weights"),
        "mean over pixels": (lambda m, x, k: _weights(m, x, k, ll=lambda lg, t: -F.binary_cross_entropy_with_logits(
            lg, t, reduction="none").mean(-1)), "averaged over the pixels"),
        "mean over latent dimensions": (lambda m, x, k: _weights(
            m, x, k, lp=lambda z: -0.5 * (z.pow(2) + L2P).mean(-1),
            lq=lambda z, mu, lv, e: -0.5 * ((z - mu).pow(2) / lv.exp() + lv + L2P).mean(-1)),
            "averaged over the latent dimensions"),
        "no - log q": (lambda m, x, k: _weights(m, x, k, combine=lambda l, p, q, mu, lv: (l + p).T),
                       "without - log q(z|x)"),
        "no prior": (lambda m, x, k: _weights(m, x, k, combine=lambda l, p, q, mu, lv: (l - q).T), "without the prior"),
        "analytic KL": (lambda m, x, k: _weights(m, x, k, combine=lambda l, p, q, mu, lv: (
            l - 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1)).T), "analytic KL"),
        "reshape for transpose": (lambda m, x, k: _weights(m, x, k).T.reshape(len(x), k), "instead of transposed"),
        "x in the wrong order": (_wrong_pairing, "another image"),
        "(K, B) result": (lambda m, x, k: _weights(m, x, k).T, "transposed-result"),
        "latent dimensions not summed": (lambda m, x, k: _weights(
            m, x, k, combine=lambda l, p, q, mu, lv: l[..., None] + 0 * mu), "dimension-not-summed"),
        "the mean code": (lambda m, x, k: _weights(m, x, k, noise=lambda mu, k: torch.zeros((k,) + tuple(mu.shape))),
                          "mean-code-instead-of-samples"),
        "one eps for the K samples": (lambda m, x, k: _weights(
            m, x, k, noise=lambda mu, k: torch.randn_like(mu).expand(k, -1, -1)), "same-eps-for-all-k"),
        "one eps for all images": (lambda m, x, k: _weights(
            m, x, k, noise=lambda mu, k: torch.randn(k, 1, mu.shape[1]).expand(-1, len(mu), -1)),
            "same-eps-for-all-images"),
        "sigma = exp(logvar)": (lambda m, x, k: _weights(m, x, k, std=torch.exp), "variance-as-standard-deviation"),
        "noise not scaled": (lambda m, x, k: _weights(m, x, k, std=lambda lv: torch.ones_like(lv)),
                             "noise-not-scaled-by-sigma"),
        "uniform noise": (lambda m, x, k: _weights(m, x, k, noise=lambda mu, k: torch.rand((k,) + tuple(mu.shape))),
                          "uniform-noise"),
        "re-seeded": (_reseeded, "same-codes-on-every-call"),
        "detached codes": (lambda m, x, k: _weights(m, x, k, detach=True), "codes-detached"),
        "under no_grad": (lambda m, x, k: torch.no_grad()(_weights)(m, x, k), "no-gradient"),
        "log of sigmoid": (lambda m, x, k: _weights(m, x, k, ll=_naive_bernoulli), "from the logits"),
        "BCE on sigmoid probabilities": (lambda m, x, k: _weights(m, x, k, ll=lambda lg, t: -F.binary_cross_entropy(
            torch.sigmoid(lg), t, reduction="none").sum(-1)), "clamped at -100"),
        "noise on the CPU": (_on_the_cpu, "tensor-created-without-device"),
    },
}


# --------------------------------------------------------------------------- 8.1 iwae_bound: mistakes named later

IWAE_BOUND_WRONG = {
    "log of len (the batch size)": (lambda lw: torch.logsumexp(lw, 1) - math.log(len(lw)), "batch size"),
    "log of all entries": (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.numel()), "log(B K)"),
    "negative bound": (lambda lw: math.log(lw.shape[1]) - torch.logsumexp(lw, 1), "negative of the bound"),
    "log-weights divided by K": (lambda lw: torch.logsumexp(lw / lw.shape[1], 1), "log-weights divided by K"),
    "torch.log of an int": (lambda lw: torch.logsumexp(lw, 1) - torch.log(lw.shape[1]), "math.log"),
    "max without keepdim": (lambda lw: lw.max(1).values + torch.log(torch.exp(lw - lw.max(1).values).mean(1)),
                            "keepdim=True"),
    "keepdim kept": (lambda lw: torch.logsumexp(lw, 1, keepdim=True) - math.log(lw.shape[1]), "keepdim-left-a-dimension"),
    "(B, 1) max added to (B,)": (lambda lw: lw.max(1, keepdim=True).values
                                 + torch.log(torch.exp(lw - lw.max(1, keepdim=True).values).mean(1)),
                                 "max-kept-its-dimension"),
}


# --------------------------------------------------------------------------- 8.2 sample_digit: on the model's device

def _device(model):
    return next(model.parameters()).device


def _digit(model, digit, n, z=None, y=None):
    z = torch.randn(n, model.latent_dim, device=_device(model)) if z is None else z
    y = F.one_hot(torch.full((n,), digit, device=_device(model)), 10).float() if y is None else y
    return torch.sigmoid(model.decode(z, y))


def _digit_by_index(model, digit, n):
    parameter = next(model.parameters())
    y = parameter.new_zeros(n, 10)
    y[:, digit] = 1
    with torch.no_grad():
        return model.decode(torch.randn(n, model.latent_dim).to(parameter.device), y).sigmoid()


SAMPLE_DIGIT_CORRECT = {  # the contract asks for the model's device since the 'meta' test (issue 22): these follow it
    "integer labels": lambda model, digit, n: _digit(model, digit, n, y=torch.full((n,), digit, device=_device(model))),
    "index assignment, moved with .to, no_grad": _digit_by_index,
    "chunks": lambda model, digit, n: torch.cat([_digit(model, digit, len(c)) for c in torch.arange(n).split(500)]),
    "float64": lambda model, digit, n: _digit(model, digit, n).double(),
}
SAMPLE_DIGIT_WRONG = {
    "codes on the CPU": (lambda m, d, n: _digit(m, d, n, z=torch.randn(n, m.latent_dim)), "tensor-created-without-device"),
    "labels on the CPU": (lambda m, d, n: _digit(m, d, n, y=F.one_hot(torch.full((n,), d), 10).float()),
                          "tensor-created-without-device"),
}


def register(catalogue: dict) -> None:
    """Add notebook 08's entries to ``catalogue`` (tests/test_checks_catalogue.py's CATALOGUE): 8.3 whole, and the
    answers of 8.1 and 8.2 named since; 8.2's correct answers follow the model's device now."""
    catalogue["8.3"] = IMPORTANCE_WEIGHTS
    catalogue["8.1"]["wrong"].update(IWAE_BOUND_WRONG)
    catalogue["8.2"]["correct"] = SAMPLE_DIGIT_CORRECT
    catalogue["8.2"]["wrong"].update(SAMPLE_DIGIT_WRONG)
