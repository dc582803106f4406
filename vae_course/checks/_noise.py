"""Is the noise a sampler used made of independent draws? One test shared by Exercises 3.1, 3.3 and 4.4.

A reparameterized sample ``z = mu + sigma * eps`` needs ``eps`` independent across latent dimensions
*and* across rows. The tempting shortcuts keep the right mean and spread and break independence:
noise of shape ``(B, 1)`` broadcast over the dimensions, antithetic pairs (``-eps`` reused for the
other half of the batch, for the next row, or for the mirrored row) and noise centred over the
batch (``eps - eps.mean(0)``). :func:`noise_dependence` names each; its thresholds are six standard
errors wide, so independent normal noise passes with any seed.
"""

from __future__ import annotations

import math

import torch

from ._failures import CheckFailed

#: (message, code) of each way the rows of the noise depend on each other
_PAIRINGS = {
    "halves": ("the second half of the rows repeats the first half's noise (or minus it): antithetic pairs "
               "row i and row i + B/2", "antithetic-noise"),
    "pairs": ("every second row repeats the row before it (or minus it): antithetic pairs of rows",
              "antithetic-noise"),
    "mirror": ("row B-1-i repeats the noise of row i (or minus it): the batch is mirrored", "antithetic-noise"),
    "lagged": ("the noise of one row is correlated with the next row's", "noise-correlated-across-rows"),
}


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest |correlation| between column d of a and column d of b, over the columns d."""
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    corr = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-30)
    return float(corr.abs().max())


def noise_dependence(eps: torch.Tensor, hint: str) -> None:
    """Fail (named) when the standardized noise ``eps`` (N, D), N >= 100, is not independent across entries.

    ``eps`` is the noise the student's sampler used, rescaled to unit variance: ``(z - mu) / sigma``.
    ``hint`` ends every hint (how to draw the noise right).
    """
    eps = eps.detach().double()
    n, d = eps.shape
    if d > 1 and (eps - eps[:, :1]).abs().max() < 1e-5:
        raise CheckFailed("all latent dimensions of a row share one noise value: the noise has shape (B, 1) and is "
                          "broadcast over the D dimensions.",
                          "Each of the D dimensions needs its own noise: draw it with the shape of mu, (B, D). " + hint,
                          code="noise-shared-across-dims")
    limit = 6 / math.sqrt(n // 2)
    if d > 1:
        corr = torch.corrcoef(eps.T)
        if (corr - torch.eye(d, dtype=torch.float64)).abs().max() > 6 / math.sqrt(n):
            raise CheckFailed("the noise is correlated across latent dimensions.",
                              "Draw every entry independently, all of eps at once with the shape of mu. " + hint,
                              code="noise-correlated-across-dims")
    half = n // 2
    tests = {"halves": (eps[:half], eps[half:2 * half]), "pairs": (eps[0:2 * half:2], eps[1:2 * half:2]),
             "mirror": (eps[:half], eps.flip(0)[:half]), "lagged": (eps[:-1], eps[1:])}
    found = {name: _correlation(a, b) for name, (a, b) in tests.items()}
    # an exact copy (or minus it) is a pairing; a weaker correlation is named as one
    exact = [name for name in ("halves", "pairs", "mirror") if found[name] > 0.99]
    weak = [name for name, value in found.items() if value > limit]
    for name in exact or weak[:1]:
        message, code = _PAIRINGS[name] if exact else _PAIRINGS["lagged"]
        if not exact and name != "lagged":
            message = f"the noise of different rows is correlated (|correlation| {found[name]:.2f}; rows paired as {name})"
        raise CheckFailed(message + ".", "Rows must be independent: draw fresh noise for every row, never reuse "
                          "-eps for other rows (antithetic sampling changes the distribution of the batch). " + hint,
                          code=code)
    # the column means of n independent N(0, 1) draws have standard deviation 1/sqrt(n); exactly 0 is a pattern
    if bool((eps.mean(0).abs() < 0.01 / math.sqrt(n)).all()):
        raise CheckFailed("the noise averages to exactly 0 over the rows in every dimension: the rows are centred "
                          "(eps - eps.mean(0)) or paired, not independent.",
                          "Don't subtract the batch mean of the noise or pair rows: independent draws average to "
                          "about 0, not exactly 0. " + hint, code="noise-centred-across-rows")
