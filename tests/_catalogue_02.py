"""Catalogue entries (see tests/test_checks_catalogue.py) for notebook 02: the new Exercise 2.4, and the
answers that exercise the gaps closed in 2.1-2.3 (merged into those exercises' existing entries).

``entries(catalogue)`` returns the entries to ``update`` the catalogue with: 2.4 whole, and 2.1, 2.2, 2.3
with these wrong answers added to the ones already there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli

# --------------------------------------------------------------------------- 2.4 prior_log_evidence


def _table(decode, x, z):
    """log p(x_b|z_k), (B, K), as a student would write it with broadcasting."""
    logits = decode(z)
    return (x[:, None, :] * logits[None] - F.softplus(logits)[None]).sum(-1)


def _matmul(decode, x, z):
    logits = decode(z)
    table = x @ logits.T - F.softplus(logits).sum(1)
    return torch.logsumexp(table, 1) - math.log(z.shape[0])


def _loop_max_trick(decode, x, z):
    logits = decode(z)
    estimates = []
    for image in x:
        log_lik = -F.binary_cross_entropy_with_logits(logits, image.expand_as(logits), reduction="none").sum(1)
        top = log_lik.max()
        estimates.append(top + torch.log(torch.exp(log_lik - top).mean()))
    return torch.stack(estimates)


def _float64(decode, x, z):
    logits = decode(z).double()
    table = (x.double()[:, None] * logits - F.softplus(logits)).sum(-1)
    return torch.logsumexp(table - math.log(len(z)), dim=-1)


def _naive(decode, x, z):
    return torch.log(torch.exp(_table(decode, x, z)).mean(1))


def _naive_float64(decode, x, z):
    return torch.log(torch.exp(_table(decode, x, z).double()).mean(1))


def _log_sigmoid_naive(decode, x, z):
    p = torch.sigmoid(decode(z))
    table = (x[:, None] * torch.log(p) + (1 - x[:, None]) * torch.log(1 - p)).sum(-1)
    return torch.logsumexp(table, 1) - math.log(len(z))


def _epsilon(decode, x, z):
    p = torch.sigmoid(decode(z))
    table = (x[:, None] * torch.log(p + 1e-7) + (1 - x[:, None]) * torch.log(1 - p + 1e-7)).sum(-1)
    return torch.logsumexp(table, 1) - math.log(len(z))


def _bernoulli_log_prob(decode, x, z):
    table = Bernoulli(logits=decode(z)[None]).log_prob(x[:, None]).sum(-1)
    return torch.logsumexp(table, 1) - math.log(len(z))


def _one_code_each(decode, x, z):
    logits = decode(z)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def _lme(table):
    return torch.logsumexp(table, 1) - math.log(table.shape[1])


PRIOR_LOG_EVIDENCE = {
    "correct": {
        "matrix product": _matmul,
        "loop with the max trick": _loop_max_trick,
        "float64, log K inside": _float64,
        "logsigmoid terms": lambda d, x, z: _lme((x[:, None] * F.logsigmoid(d(z))
                                                  + (1 - x[:, None]) * F.logsigmoid(-d(z))).sum(-1)),
    },
    "wrong": {
        "no - log K": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 1), "without the - log K"),
        "mean of the logs": (lambda d, x, z: _table(d, x, z).mean(1), "Jensen"),
        "best code only": (lambda d, x, z: _table(d, x, z).max(1).values, "largest log-likelihood alone"),
        "divided by K": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 1) / len(z), "divided by K"),
        "minus log(K - 1)": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 1) - math.log(len(z) - 1),
                             "log(K - 1)"),
        "minus log B": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 1) - math.log(len(x)), "log B"),
        "BCE sign": (lambda d, x, z: _lme(-_table(d, x, z)), "wrong sign"),
        "pixel mean": (lambda d, x, z: _lme(_table(d, x, z) / x.shape[1]), "averaged over the pixels"),
        "only x log pi": (lambda d, x, z: _lme((x[:, None] * F.logsigmoid(d(z))[None]).sum(-1)), "x * log(pi)"),
        "sigmoid twice": (lambda d, x, z: _lme(_table(lambda c: torch.sigmoid(d(c)), x, z)), "sigmoid applied twice"),
        "prior added": (lambda d, x, z: _lme(_table(d, x, z) - 0.5 * z.pow(2).sum(-1) - 1.5 * math.log(2 * math.pi)),
                        "counts the prior twice"),
        "reduced over the images": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 0) - math.log(len(x)),
                                    "reduced-over-the-images-not-the-codes"),
        "table not reduced": (lambda d, x, z: _table(d, x, z), "not-reduced-over-the-codes"),
        "batch mean": (lambda d, x, z: _lme(_table(d, x, z)).mean(), "reduced-over-the-images"),
        "keepdim": (lambda d, x, z: torch.logsumexp(_table(d, x, z), 1, keepdim=True) - math.log(len(z)),
                    "kept-the-codes-dimension"),
        "naive log-mean-exp": (_naive, "exp(-200) is exactly 0"),
        "naive log-mean-exp in float64": (_naive_float64, "even in float64"),
        "naive log(sigmoid)": (_log_sigmoid_naive, "sigmoid(100) is exactly 1.0"),
        "epsilon in the log": (_epsilon, "Right for moderate logits, wrong for extreme ones"),
        "Bernoulli.log_prob on grey pixels": (_bernoulli_log_prob, "bernoulli-log-prob-on-grey-pixels"),
        "one code per image (broadcast error)": (_one_code_each, "images-and-codes-not-paired"),
        "one code per image (diagonal)": (lambda d, x, z: _table(d, x, z)[:, :len(x)].diagonal(),
                                          "one code only"),
        "binarised grey pixels": (lambda d, x, z: _lme(_table(d, (x > 0.5).float(), z)), "no rounding"),
    },
}


# --------------------------------------------------------------------------- gaps closed in 2.1-2.3

def _kl(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1)


def _naive_loglik(logits, x):
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def _rec(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


GAPS = {
    # "contains NaN" on the hard inputs, no longer next to "already fine: finite values" (tests/test_checks_elbo.py
    # checks the list of what is already fine)
    "2.1": {
        "log of logvar, zero weight": (lambda mu, lv: _kl(mu, lv) + 0.0 * torch.log(lv).sum(-1),
                                       "the result for negative logvar contains NaN"),
    },
    "2.2": {
        "naive log(sigmoid), finite on moderate logits": (_naive_loglik, "logits of +-100 and +-300 contains NaN"),
    },
    "2.3": {
        # an ELBO reduced to one number: the hint speaks of the ELBO, not of "the last dimension"
        "ELBO averaged over the batch": (lambda l, x, mu, lv: (_rec(l, x) - _kl(mu, lv)).mean(),
                                         "each example has its own ELBO"),
        "ELBO summed over the batch": (lambda l, x, mu, lv: (_rec(l, x) - _kl(mu, lv)).sum(),
                                       "each example has its own ELBO"),
        "naive log(sigmoid) inside the ELBO": (lambda l, x, mu, lv: _naive_loglik(l, x) - _kl(mu, lv),
                                               "Make both parts numerically safe"),
    },
}


def entries(catalogue: dict) -> dict:
    """The entries to ``update`` ``catalogue`` with: 2.4, and 2.1-2.3 with the gap answers added."""
    merged = {"2.4": PRIOR_LOG_EVIDENCE}
    for ex_id, wrong in GAPS.items():
        old = catalogue.get(ex_id, {"correct": {}, "wrong": {}})
        merged[ex_id] = {"correct": dict(old["correct"]), "wrong": {**old["wrong"], **wrong}}
    return merged
