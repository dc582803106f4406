"""Catalogue entries (see tests/test_checks_catalogue.py) for notebooks 00 and 01: the new Exercise 1.3, and the
answers that exercise the gap closed in 0.1 (merged into its existing entry).

``entries(catalogue)`` returns the entries to ``update`` the catalogue with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------- 1.3 blur_decomposition


def _direct(candidates, prediction):
    mean = candidates.mean(dim=1)
    expected = ((candidates - prediction[:, None]) ** 2).mean(dim=(1, 2))
    variance = ((candidates - mean[:, None]) ** 2).mean(dim=(1, 2))
    bias = ((prediction - mean) ** 2).mean(dim=1)
    return torch.stack([expected, variance, bias], dim=1)


def _moments(candidates, prediction):
    """E[x^2] - E[x]^2 for the variance, and the total as the sum of the parts."""
    mean = candidates.mean(1)
    variance = (candidates.pow(2).mean(1) - mean.pow(2)).mean(1)
    bias = F.mse_loss(prediction, mean, reduction="none").mean(1)
    return torch.stack([variance + bias, variance, bias], 1)


def _loop(candidates, prediction):
    rows = []
    for images, c in zip(candidates, prediction):
        rows.append(torch.stack([F.mse_loss(c.expand_as(images), images),
                                 images.var(dim=0, unbiased=False).mean(),
                                 F.mse_loss(c, images.mean(0))]))
    return torch.stack(rows)


def _float64(candidates, prediction):
    return _direct(candidates.double(), prediction.double())


def _with(expected=None, variance=None, bias=None):
    """A wrong answer: the right columns except those given (functions of (candidates, prediction, mean))."""
    def answer(candidates, prediction):
        right = _direct(candidates, prediction)
        mean = candidates.mean(1)
        columns = [right[:, 0], right[:, 1], right[:, 2]]
        for k, f in enumerate((expected, variance, bias)):
            if f is not None:
                columns[k] = f(candidates, prediction, mean)
        return torch.stack(columns, dim=1)
    return answer


BLUR_DECOMPOSITION = {
    "correct": {
        "direct": _direct,
        "moments, total as the sum": _moments,
        "loop with F.mse_loss and var(unbiased=False)": _loop,
        "float64": _float64,
    },
    "wrong": {
        "torch.var default (N - 1)": (_with(variance=lambda c, p, m: c.var(dim=1).mean(1)), "N - 1"),
        "variance and bias swapped": (lambda c, p: _direct(c, p)[:, [0, 2, 1]], "columns swapped"),
        "total last": (lambda c, p: _direct(c, p)[:, [1, 2, 0]], "last column"),
        "pixel sums": (lambda c, p: _direct(c, p) * 784, "sums over the pixels"),
        "spread around the prediction": (_with(variance=lambda c, p, m: ((c - p[:, None]) ** 2).mean((1, 2))),
                                         "around the prediction"),
        "standard deviation": (_with(variance=lambda c, p, m: c.std(dim=1, unbiased=False).mean(1)),
                               "standard deviation"),
        "variance across pixels": (_with(variance=lambda c, p, m: m.var(dim=1, unbiased=False)),
                                   "across the pixels of the mean image"),
        "bias not squared": (_with(bias=lambda c, p, m: (p - m).mean(1)), "bias not squared"),
        "absolute bias": (_with(bias=lambda c, p, m: (p - m).abs().mean(1)), "absolute bias"),
        "error against the mean": (_with(expected=lambda c, p, m: ((p - m) ** 2).mean(1)),
                                   "error against the candidates' mean"),
        "no square": (_with(expected=lambda c, p, m: (p[:, None] - c).mean((1, 2))), "without the square"),
        "root": (_with(expected=lambda c, p, m: ((c - p[:, None]) ** 2).mean((1, 2)).sqrt()), "square root"),
        "sums over candidates": (lambda c, p: _direct(c, p) * torch.tensor([c.shape[1], c.shape[1], 1.0]),
                                 "sums over the candidates"),
        "transposed": (lambda c, p: _direct(c, p).T, "columns-as-rows"),
        "total only": (lambda c, p: _direct(c, p)[:, 0], "not-three-columns"),
        "pixels kept": (lambda c, p: torch.stack([((c - p[:, None]) ** 2).mean(1), ((c - c.mean(1, keepdim=True)) ** 2
                                                  ).mean(1), (p - c.mean(1)) ** 2], dim=1), "not-averaged-over-the-pixels"),
        "mean over the cases": (lambda c, p: _with(bias=lambda c, p, m: ((p - c.mean(0)) ** 2).mean(1))(c, p),
                                "candidates-and-prediction-not-aligned"),
        "prediction not aligned": (lambda c, p: torch.stack([((c - p) ** 2).mean((1, 2))] * 3, 1),
                                   "candidates-and-prediction-not-aligned"),
    },
}


# --------------------------------------------------------------------------- the gap closed in 0.1

GAPS = {
    "0.1": {
        # the mean over the pixels: one number per image, named (it used to end in a reshape error downstream)
        "mean over pixels, keepdim": (lambda images: images.mean(dim=1, keepdim=True), "averaged over the pixels"),
        "mean over pixels, named": (lambda images: images.mean(1), "one value per image"),
        "mean over the last dimension": (lambda images: images.mean(-1), "averaged-over-the-pixels"),
    },
}


def entries(catalogue: dict) -> dict:
    """The entries to ``update`` ``catalogue`` with: 1.3, and 0.1 with the gap answers added."""
    merged = {"1.3": BLUR_DECOMPOSITION}
    for ex_id, wrong in GAPS.items():
        old = catalogue.get(ex_id, {"correct": {}, "wrong": {}})
        merged[ex_id] = {"correct": dict(old["correct"]), "wrong": {**old["wrong"], **wrong}}
    return merged
