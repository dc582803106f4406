"""Catalogue entries (see tests/test_checks_catalogue.py) for exercises 9.1 and 9.2 (notebook 09, molecules).

Each exercise: ``{"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}``.
9.1's entries are the answers whose diagnosis was missing or wrong before (an answer that leaves out <eos> or
gathers along the positions was told it mishandled padding, and gather's errors reached the student raw); its
full table of older mistakes is in tests/test_checks_molecules.py. The 9.2 answers call
``sequence_log_likelihood``, which the check replaces by the reference of 9.1 (``uses=["9.1"]``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal

EOS, BOS = 1, 2


def sequence_log_likelihood(logits, targets, pad_index):  # the check binds 9.1's reference in its place
    raise NotImplementedError("Exercise 9.1: the check of 9.2 injects the reference")


# --------------------------------------------------------------------------- 9.1 sequence_log_likelihood


def _picked(l, t):
    return F.log_softmax(l, dim=-1).gather(-1, t[..., None])[..., 0]


SEQUENCE_LOG_LIKELIHOOD = {
    "correct": {
        "log_softmax, gather, mask": lambda l, t, p: (_picked(l, t) * (t != p)).sum(-1),
        "masked_fill then sum": lambda l, t, p: _picked(l, t).masked_fill(t == p, 0.0).sum(dim=1),
        "Categorical.log_prob with where": lambda l, t, p: torch.where(t != p, Categorical(logits=l).log_prob(t),
                                                                       torch.zeros_like(l[..., 0])).sum(-1),
        "one-hot times log_softmax": lambda l, t, p: (F.log_softmax(l, -1) * F.one_hot(t, l.shape[-1])
                                                      * (t != p)[..., None]).sum(dim=(1, 2)),
    },
    "wrong": {
        "<eos> excluded by its id": (lambda l, t, p: (_picked(l, t) * ((t != p) & (t != EOS))).sum(-1), "<eos> left out"),
        "<eos> excluded by the length": (
            lambda l, t, p: (_picked(l, t) * (torch.arange(t.shape[1], device=t.device)
                                              < (t != p).sum(1, keepdim=True) - 1)).sum(-1), "<eos> left out"),
        "<eos> masked instead of the padding": (lambda l, t, p: (_picked(l, t) * (t != EOS)).sum(-1),
                                                "<eos> masked instead of the padding"),
        "gather along dim 1, index expanded": (
            lambda l, t, p: (F.log_softmax(l, -1).gather(1, t[..., None].expand(-1, -1, l.shape[-1]))[..., 0]
                             * (t != p)).sum(-1), "gathered along the positions"),
        "gather along dim 1": (lambda l, t, p: (F.log_softmax(l, -1).gather(1, t[..., None])[..., 0] * (t != p)).sum(-1),
                               "gathered along the positions"),
        "take_along_dim on dim 1": (
            lambda l, t, p: (torch.take_along_dim(F.log_softmax(l, -1), t[..., None], dim=1)[..., 0]
                             * (t != p)).sum(-1), "gathered along the positions"),
        "gather along dim 0": (lambda l, t, p: (F.log_softmax(l, -1).gather(0, t[..., None])[..., 0] * (t != p)).sum(-1),
                               "picked-along-the-wrong-dimension"),
        "gather without unsqueeze": (lambda l, t, p: (F.log_softmax(l, -1).gather(-1, t) * (t != p)).sum(-1),
                                     "gather-index-without-the-last-dimension"),
        "targets converted to float": (lambda l, t, p: (F.log_softmax(l, -1).gather(-1, t[..., None].float())[..., 0]
                                                        * (t != p)).sum(-1), "token-ids-used-as-floats"),
        "one_hot of float targets": (lambda l, t, p: (F.log_softmax(l, -1) * F.one_hot(t.float(), l.shape[-1])).sum(),
                                     "token-ids-used-as-floats"),
        "all tokens' log-probabilities summed": (lambda l, t, p: (F.log_softmax(l, -1) * (t != p)[..., None]).sum((1, 2)),
                                                 "every token summed"),
    },
}


# --------------------------------------------------------------------------- 9.2 molecule_elbo


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def _elbo(model, tokens, eps, pad, *, std=None, noise=None, inputs=None, kl=None, average=True):
    """The loop answer with one thing changed: ``std(mu, logvar)``, ``noise(eps)`` (K', B, D), decoder
    ``inputs(tokens)``, ``kl(mu, logvar)``; ``average=False`` sums over the samples."""
    mu, logvar = model.encode(tokens)
    sigma = std(mu, logvar) if std else torch.exp(0.5 * logvar)
    draws = noise(eps) if noise else eps
    scores = [sequence_log_likelihood(model.decode(mu + sigma * e, inputs(tokens) if inputs else tokens), tokens, pad)
              for e in draws]
    total = torch.stack(scores).mean(0) if average else torch.stack(scores).sum(0)
    return total - (kl(mu, logvar) if kl else _kl(mu, logvar))


def _folded(model, tokens, eps, pad):
    """The K samples folded into the batch: one decoder pass over (K*B, L)."""
    mu, logvar = model.encode(tokens)
    k, b, d = eps.shape
    z = (mu + torch.exp(0.5 * logvar) * eps).reshape(k * b, d)
    repeated = tokens.repeat(k, 1)
    return sequence_log_likelihood(model.decode(z, repeated), repeated, pad).view(k, b).mean(0) - _kl(mu, logvar)


def _distributions(model, tokens, eps, pad):
    """torch.distributions: rsample-free reparameterization, kl_divergence for the KL, cross_entropy for log p."""
    mu, logvar = model.encode(tokens)
    q = Normal(mu, torch.exp(0.5 * logvar))
    recon = torch.stack([-F.cross_entropy(model.decode(q.loc + q.scale * e, tokens).transpose(1, 2), tokens,
                                          ignore_index=pad, reduction="none").sum(-1) for e in eps.unbind(0)])
    kl = torch.distributions.kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    return recon.mean(0) - kl


def _per_sample_elbos(model, tokens, eps, pad):
    """The mean of K single-sample ELBOs (the KL subtracted in each): the same estimate."""
    mu, logvar = model.encode(tokens)
    elbos = [sequence_log_likelihood(model.decode(mu + (0.5 * logvar).exp() * e, tokens), tokens, pad) - _kl(mu, logvar)
             for e in eps]
    return sum(elbos) / len(elbos)


def _monte_carlo_kl(model, tokens, eps, pad):
    mu, logvar = model.encode(tokens)
    q = Normal(mu, torch.exp(0.5 * logvar))
    total = 0
    for e in eps:
        z = mu + q.scale * e
        total = total + sequence_log_likelihood(model.decode(z, tokens), tokens, pad) \
            + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    return total / len(eps)


def _log_mean_exp(model, tokens, eps, pad):
    mu, logvar = model.encode(tokens)
    scores = torch.stack([sequence_log_likelihood(model.decode(mu + (0.5 * logvar).exp() * e, tokens), tokens, pad)
                          for e in eps])
    return torch.logsumexp(scores, 0) - math.log(len(eps)) - _kl(mu, logvar)


def _forward(model, tokens, eps, pad):
    logits, mu, logvar = model(tokens)
    return sequence_log_likelihood(logits, tokens, pad) - _kl(mu, logvar)


def _own_noise(model, tokens, eps, pad):
    mu, logvar = model.encode(tokens)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    return sequence_log_likelihood(model.decode(z, tokens), tokens, pad) - _kl(mu, logvar)


def _all_at_once(model, tokens, eps, pad):
    mu, logvar = model.encode(tokens)
    z = mu + torch.exp(0.5 * logvar) * eps                                  # (K, B, D) into a (B, D) decoder
    return sequence_log_likelihood(model.decode(z, tokens), tokens, pad).mean(0) - _kl(mu, logvar)


def _evaluated(model, tokens, eps, pad):
    with torch.no_grad():
        return _elbo(model, tokens, eps, pad)


def _shift(tokens):
    return torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], dim=1)


def _accumulated_on_the_cpu(model, tokens, eps, pad):
    """A running sum started with torch.zeros(B): on the CPU whatever the device of the model."""
    mu, logvar = model.encode(tokens)
    total = torch.zeros(len(tokens))
    for e in eps:
        total = total + sequence_log_likelihood(model.decode(mu + torch.exp(0.5 * logvar) * e, tokens), tokens, pad)
    return total / len(eps) - _kl(mu, logvar)


MOLECULE_ELBO = {
    "correct": {
        "loop over the samples": lambda m, t, e, p: _elbo(m, t, e, p),
        "samples folded into the batch": _folded,
        "torch.distributions and cross_entropy": _distributions,
        "mean of single-sample ELBOs": _per_sample_elbos,
        "sqrt of the variance": lambda m, t, e, p: _elbo(m, t, e, p, std=lambda mu, lv: lv.exp().sqrt()),
    },
    "wrong": {
        "z = mu via the model's forward": (_forward, "eps unused"),
        "z = mu": (lambda m, t, e, p: _elbo(m, t, e, p, std=lambda mu, lv: torch.zeros_like(mu)), "eps unused"),
        "std = exp(logvar)": (lambda m, t, e, p: _elbo(m, t, e, p, std=lambda mu, lv: lv.exp()), "1/2 is missing"),
        "std = logvar": (lambda m, t, e, p: _elbo(m, t, e, p, std=lambda mu, lv: lv), "logvar used as the standard"),
        "no std": (lambda m, t, e, p: _elbo(m, t, e, p, std=lambda mu, lv: 1.0), "standard deviation is missing"),
        "first sample only": (lambda m, t, e, p: _elbo(m, t, e, p, noise=lambda eps: eps[:1]), "first sample"),
        "summed over samples": (lambda m, t, e, p: _elbo(m, t, e, p, average=False), "summed over the K samples instead"),
        "KL counted K times": (lambda m, t, e, p: len(e) * _per_sample_elbos(m, t, e, p), "KL counted K times"),
        "KL missing": (lambda m, t, e, p: _elbo(m, t, e, p, kl=lambda mu, lv: torch.zeros_like(mu[:, 0])),
                       "KL is missing"),
        "KL added": (lambda m, t, e, p: _elbo(m, t, e, p, kl=lambda mu, lv: -_kl(mu, lv)), "KL added"),
        "negative ELBO": (lambda m, t, e, p: -_elbo(m, t, e, p), "minus the ELBO"),
        "tokens shifted again": (lambda m, t, e, p: _elbo(m, t, e, p, inputs=_shift), "shifted again"),
        "log-mean-exp over samples": (_log_mean_exp, "log-mean-exp"),
        "Monte Carlo KL": (_monte_carlo_kl, "Monte Carlo estimate of the KL"),
        "one noise row for all molecules": (lambda m, t, e, p: _elbo(m, t, e, p, noise=lambda eps: eps[:, :1]),
                                            "shared by all molecules"),
        "noise averaged first": (lambda m, t, e, p: _elbo(m, t, e, p, noise=lambda eps: eps.mean(0, keepdim=True)),
                                 "averaged over the K samples before decoding"),
        "KL mean over dimensions": (lambda m, t, e, p: _elbo(m, t, e, p, kl=lambda mu, lv: _kl(mu, lv) / mu.shape[1]),
                                    "averaged over the latent dimensions"),
        "KL without 1/2": (lambda m, t, e, p: _elbo(m, t, e, p, kl=lambda mu, lv: 2 * _kl(mu, lv)), "without its factor"),
        "KL averaged over the batch": (lambda m, t, e, p: _elbo(m, t, e, p, kl=lambda mu, lv: _kl(mu, lv).mean()),
                                       "KL averaged over the batch"),
        "draws its own noise": (_own_noise, "draws-its-own-noise"),
        "all samples decoded at once": (_all_at_once, "decoded-all-samples-at-once"),
        "eps read as (B, K, D)": (lambda m, t, e, p: _elbo(m, t, e, p, noise=lambda eps: eps.transpose(0, 1)),
                                  "noise-indexed-with-the-wrong-layout"),
        "under torch.no_grad": (_evaluated, "torch.no_grad()"),
        "not averaged over samples": (
            lambda m, t, e, p: torch.stack([sequence_log_likelihood(m.decode(m.encode(t)[0], t), t, p)] * len(e)),
            "not-averaged-over-the-samples"),
        "averaged over the molecules": (lambda m, t, e, p: _elbo(m, t, e, p).mean(), "reduced-over-the-molecules"),
        "running sum made on the CPU": (_accumulated_on_the_cpu, "tensor-created-without-device"),
    },
}

ENTRIES = {"9.1": SEQUENCE_LOG_LIKELIHOOD, "9.2": MOLECULE_ELBO}
