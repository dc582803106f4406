"""Catalogue entries (see tests/test_checks_catalogue.py) of notebook 06: Exercise 6.3, and the answers that the
checks of 6.1 and 6.2 used to let through or answer with a raw torch error.

Each exercise: ``{"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}``;
:func:`merge_into` adds them to the catalogue (6.1 and 6.2 have entries elsewhere already).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal

# --------------------------------------------------------------------------- 6.1 anomaly_score: named crashes


def _kl(mu, lv):
    return (0.5 * (mu**2 + lv.exp() - 1 - lv)).sum(1)


def _score_with(model, x, bernoulli):
    mu, lv = model.encode(x)
    return -bernoulli(model.decode(mu)).log_prob(x).sum(1) + _kl(mu, lv)


ANOMALY_SCORE_CRASHES = {
    "Bernoulli of logits as probs": (lambda model, x: _score_with(model, x, lambda logits: Bernoulli(logits)),
                                     "logits-passed-as-probs"),
    "Bernoulli log_prob of grey pixels": (lambda model, x: _score_with(model, x, lambda l: Bernoulli(logits=l)),
                                          "bernoulli-log-prob-of-grey-pixels"),
    "Normal with logvar as scale": (lambda model, x: (lambda mu, lv: F.binary_cross_entropy_with_logits(
        model.decode(mu), x, reduction="none").sum(1) + torch.distributions.kl_divergence(
        Normal(mu, lv), Normal(0.0, 1.0)).sum(1))(*model.encode(x)), "normal-with-logvar-as-scale"),
}

# --------------------------------------------------------------------------- 6.2 inpaint_step: exact known pixels


def _probs(model, x):
    return torch.sigmoid(model.decode(model.encode(x)[0]))


INPAINT_STEP_APPROXIMATE = {
    "correction added to the reconstruction": (
        lambda model, known, mask, cur: (lambda p: p + mask * (known - p))(_probs(model, cur)),
        "known-pixels-only-approximately-kept"),
    "known pixels through a logit round trip": (
        lambda model, known, mask, cur: mask * torch.sigmoid(torch.logit(known.clamp(1e-6, 1 - 1e-6)))
        + (1 - mask) * _probs(model, cur), "known-pixels-only-approximately-kept"),
}

# --------------------------------------------------------------------------- 6.3 inpaint_chain


def _chain(model, known, mask, start, steps, *, code=None, pixels=None, encode_from=None, clamp=None, stack=0):
    """The chain, with one part replaced: ``code(mu, logvar)``, ``pixels(p, logits)``, ``encode_from(x, t)``,
    ``clamp(known, mask, fill)``; ``stack`` is the dimension the states are stacked along."""
    x, states = start, []
    for t in range(steps):
        mu, lv = model.encode(x if encode_from is None else encode_from(x, t))
        z = mu + (0.5 * lv).exp() * torch.randn_like(mu) if code is None else code(mu, lv)
        logits = model.decode(z)
        p = torch.sigmoid(logits)
        fill = torch.bernoulli(p) if pixels is None else pixels(p, logits)
        x = mask * known + (1 - mask) * fill if clamp is None else clamp(known, mask, fill)
        states.append(x)
    return torch.stack(states, dim=stack)


def _chain_with_distributions(model, known, mask, start, steps):
    x, states = start, []
    with torch.no_grad():
        for _ in range(steps):
            mu, lv = model.encode(x)
            z = Normal(mu, torch.exp(lv / 2)).rsample()
            fill = Bernoulli(logits=model.decode(z)).sample()
            x = torch.where(mask.bool(), known, fill)
            states.append(x)
    return torch.stack(states)


def _chain_preallocated(model, known, mask, start, steps):
    states = torch.empty(steps, *start.shape, dtype=start.dtype, device=start.device)
    x = start
    for t in range(steps):
        mu, lv = model.encode(x)
        z = mu + torch.randn_like(lv) * lv.mul(0.5).exp()
        p = model.decode(z).sigmoid()
        x = known * mask + (torch.rand_like(p) < p).float() * (1 - mask)
        states[t] = x
    return states


def _chain_eps_once(model, known, mask, start, steps):
    eps = torch.randn(len(start), model.latent_dim)
    return _chain(model, known, mask, start, steps, code=lambda mu, lv: mu + (0.5 * lv).exp() * eps)


def _chain_reseeded(model, known, mask, start, steps):
    torch.manual_seed(0)
    return _chain(model, known, mask, start, steps)


def _chain_sticky_uniforms(model, known, mask, start, steps):
    u = torch.rand_like(start)  # drawn once: every step compares the same numbers with its p
    return _chain(model, known, mask, start, steps, pixels=lambda p, l: (u < p).float())


def _chain_noise_on_the_cpu(model, known, mask, start, steps):
    return _chain(model, known, mask, start, steps,
                  code=lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape))  # no device: the CPU


INPAINT_CHAIN = {
    "correct": {
        "distributions, where": _chain_with_distributions,
        "preallocated, uniform comparison": _chain_preallocated,
        "float64 states": lambda m, k, mask, s, n: _chain(m, k, mask, s, n).double(),
        "list comprehension stack": lambda m, k, mask, s, n: torch.stack(list(_chain(m, k, mask, s, n))),
    },
    "wrong": {
        "mean code (reparameterize in eval mode)": (
            lambda m, k, mask, s, n: _chain(m, k, mask, s, n, code=lambda mu, lv: m.reparameterize(mu, lv)),
            "chain-decodes-the-mean-code"),
        "variance as scale": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, code=lambda mu, lv: mu + lv.exp() * torch.randn_like(mu)), "noise-scaled-by-the-variance"),
        "logvar as scale": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, code=lambda mu, lv: mu + lv * torch.randn_like(mu)), "noise-scaled-by-logvar"),
        "unscaled noise": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, code=lambda mu, lv: mu + torch.randn_like(mu)), "noise-not-scaled"),
        "uniform noise": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, code=lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu)), "uniform"),
        "codes from the prior": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, code=lambda mu, lv: torch.randn_like(mu)), "prior"),
        "one noise draw for all steps": (_chain_eps_once, "same-noise-every-step"),
        "probabilities filled in": (lambda m, k, mask, s, n: _chain(m, k, mask, s, n, pixels=lambda p, l: p),
                                    "chain-fills-probabilities"),
        "rounded probabilities": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, pixels=lambda p, l: (p > 0.5).float()), "rounded"),
        "ones with probability 1 - p": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, pixels=lambda p, l: (torch.rand_like(p) > p).float()), "1 - p"),
        "bernoulli of logits": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, pixels=lambda p, l: torch.bernoulli(l)), "bernoulli-of-logits"),
        "Bernoulli(logits) positional": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, pixels=lambda p, l: Bernoulli(l).sample()), "logits-passed-as-probs"),
        "sigmoid twice": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, pixels=lambda p, l: torch.bernoulli(torch.sigmoid(p))), "sigmoid is applied twice"),
        "x_known encoded": (lambda m, k, mask, s, n: _chain(m, k, mask, s, n, encode_from=lambda x, t: k),
                            "chain-encodes-x-known"),
        "x_start encoded every step": (lambda m, k, mask, s, n: _chain(m, k, mask, s, n, encode_from=lambda x, t: s),
                                       "x_start"),
        "known pixels not clamped": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, clamp=lambda known, mask, fill: fill), "known pixels differ"),
        "known pixels dropped": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, clamp=lambda known, mask, fill: (1 - mask) * fill), "known pixels differ"),
        "mask reversed": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, clamp=lambda known, mask, fill: (1 - mask) * known + mask * fill), "known pixels differ"),
        "only the last state": (lambda m, k, mask, s, n: _chain(m, k, mask, s, n)[-1], "only the last state"),
        "steps second": (lambda m, k, mask, s, n: _chain(m, k, mask, s, n, stack=1), "second dimension"),
        "re-seeded": (_chain_reseeded, "chain-re-seeded"),
        "x_start repeated": (lambda m, k, mask, s, n: s.expand(n, *s.shape).clone(), "never change"),
        "one set of uniform numbers for all steps": (_chain_sticky_uniforms, "same-pixel-noise-every-step"),
        "known pixels taken from x_start": (lambda m, k, mask, s, n: _chain(
            m, k, mask, s, n, clamp=lambda known, mask, fill: mask * s + (1 - mask) * fill), "known pixels differ"),
        "noise made on the CPU": (_chain_noise_on_the_cpu, "tensor-created-without-device"),
    },
}


def merge_into(catalogue: dict) -> None:
    """Add this notebook's entries: Exercise 6.3, and the wrong answers of 6.1 and 6.2 named since issue 22."""
    catalogue["6.3"] = INPAINT_CHAIN
    catalogue["6.1"]["wrong"].update(ANOMALY_SCORE_CRASHES)
    catalogue["6.2"]["wrong"].update(INPAINT_STEP_APPROXIMATE)
