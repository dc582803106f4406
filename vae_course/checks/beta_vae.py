"""Checks for notebook 07 (beta-VAE and posterior collapse): KL per dimension and active units."""

import numbers

import numpy as np
import torch

from .. import diagnostics
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise


@exercise("7.1", "07_beta_vae", "kl_per_dimension", points=1,
          delegates=[diagnostics.kl_per_dimension], reference=diagnostics.kl_per_dimension,
          title="the KL term of each latent dimension",
          contract="kl_per_dimension(mu: (B, J), logvar: (B, J)) -> (J,): "
                   "1/2 (mu_j^2 + exp(logvar_j) - 1 - logvar_j) averaged over the batch (dim=0), in nats; "
                   "its sum over j is the batch mean of the KL term",
          verified="the `(J,)` KL values per dimension match the reference, with gradients to mu and logvar.")
def kl_per_dimension(fn, check):
    mu = torch.randn(8, 5, requires_grad=True)
    logvar = (0.8 * torch.randn(8, 5)).requires_grad_(True)
    out = check.tensor(check.call(mu, logvar), like=mu)
    shapes = {
        (8,): ("one value per example `(B=8,)`, expected one per latent dimension `(D=5,)`.",
               "Reduce over the batch (dim=0), not over the latent dimensions (dim=1): "
               "you want to know how much each *dimension* is used."),
        (): ("a single number, expected one value per latent dimension `(D=5,)`.",
             "Average over the batch only (dim=0); keep the latent dimension."),
        (8, 5): ("one value per example and dimension (8, 5), expected `(D=5,)`.",
                 "Average over the batch: .mean(dim=0)."),
    }
    if tuple(out.shape) in shapes:
        raise CheckFailed("the result has " + shapes[tuple(out.shape)][0], shapes[tuple(out.shape)][1])
    check.shape(out, (5,), ["latent"])
    check.finite(out)
    check.gradient(out, {"mu": mu, "logvar": logvar},
                   hint="If no gradient reaches logvar, you may have written logvar where the variance "
                        "exp(logvar) belongs (it cancels with - logvar).")
    with torch.no_grad():
        per_entry = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
        expected = diagnostics.kl_per_dimension(mu, logvar)
        var = logvar.exp()
    check.values(out, expected, "the KL values", mistakes=[
        Mistake("a sum over the batch instead of a mean", per_entry.sum(0),
                "Average over the batch (.mean(dim=0)) so the numbers do not grow with the batch size."),
        Mistake("the KL without the factor 1/2", 2 * per_entry.mean(0),
                "KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2): keep the 1/2."),
        Mistake("the KL with the sign flipped", -per_entry.mean(0),
                "A KL divergence is never negative: 1/2 (mu^2 + exp(logvar) - 1 - logvar)."),
        Mistake("the standard deviation where the variance belongs",
                0.5 * (mu.pow(2) + (0.5 * logvar).exp() - 1 - logvar).mean(0),
                "logvar is log sigma^2: the variance sigma^2 is exp(logvar); exp(logvar / 2) is sigma."),
        Mistake("the KL without the - 1", 0.5 * (mu.pow(2) + var - logvar).mean(0),
                "Each term is 1/2 (mu^2 + sigma^2 - 1 - log sigma^2): the - 1 makes it 0 when q = N(0, 1)."),
        Mistake("the KL without the - logvar", 0.5 * (mu.pow(2) + var - 1).mean(0),
                "Each term is 1/2 (mu^2 + sigma^2 - 1 - log sigma^2): subtract logvar too."),
        Mistake("mu where mu^2 belongs", 0.5 * (mu + var - 1 - logvar).mean(0),
                "The mean enters squared: mu ** 2 (or mu.pow(2))."),
        Mistake("the KL in the wrong direction, KL(N(0, 1) || q)", 0.5 * ((1 + mu.pow(2)) / var - 1 + logvar).mean(0),
                "The VAE's term is KL(q || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2), not KL(N(0, 1) || q)."),
        Mistake("logvar read as log sigma (not log sigma^2)",
                0.5 * (mu.pow(2) + (2 * logvar).exp() - 1 - 2 * logvar).mean(0),
                "logvar is log sigma^2, so sigma^2 = exp(logvar) and log sigma^2 = logvar (no factor 2)."),
    ])


def _activity_inputs(variances, means, rows: int) -> torch.Tensor:
    """Posterior means (rows, D) whose variance per dimension (over the rows) is exactly ``variances``."""
    z = torch.randn(rows, len(variances))
    z = (z - z.mean(0)) / z.std(0)
    return z * torch.tensor(variances).sqrt() + torch.tensor(means)


def _first_inputs() -> torch.Tensor:
    """(200, 9): 4 active dimensions at 0.01, 2 at 0.1; a few inactive ones far from zero."""
    return _activity_inputs([2.0, 0.5, 0.05, 0.02, 0.004, 0.001, 0.0005, 1e-6, 1e-6],
                            [0.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 0.0, 0.0], rows=200)


def _second_inputs() -> torch.Tensor:
    """(120, 10): 3 active dimensions at 0.01. Every known mistake (and a count off by one, or any fixed
    number but 1) gives a pair of counts on the two sets that no other mistake gives."""
    return _activity_inputs([0.5, 0.03, 0.02, 0.005, 0.0005, 5e-5, 1e-6, 1e-6, 1e-6, 1e-6],
                            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0], rows=120)


# The counts of known mistakes (at threshold 0.01) with their names and hints; a mistake is named when
# it gives the student's counts on both input sets.
_COUNT_MISTAKES = [
    (lambda mu: (mu.std(0) > 0.01).sum(), "the standard deviation of the means compared with the threshold",
     "Activity is the *variance* of mu over the data (mu.var(dim=0)), not its standard deviation."),
    (lambda mu: (mu.var(0) < 0.01).sum(), "the inactive units (threshold direction flipped)",
     "A unit is *active* when its activity is *above* the threshold: count var > threshold."),
    (lambda mu: (mu.var(1) > 0.01).sum(), "a count of examples, not of dimensions",
     "Take the variance over the images (dim=0) to get one activity per latent dimension, then count the "
     "dimensions."),
    (lambda mu: (mu.mean(0).abs() > 0.01).sum(), "the mean of mu instead of its variance",
     "A unit whose mean code is far from 0 but the same for every image is still inactive: use the variance "
     "over images."),
    (lambda mu: (mu.pow(2).mean(0) > 0.01).sum(), "the mean of mu^2 instead of the variance",
     "The variance subtracts the mean first: mu.var(dim=0), not (mu ** 2).mean(dim=0) - a unit with a large "
     "constant mean is inactive."),
    (lambda mu: (mu.var() > 0.01).sum(), "the variance of all entries together compared with the threshold",
     "Compute one activity per latent dimension, mu.var(dim=0), and count the dimensions above the threshold."),
    (lambda mu: torch.tensor(mu.shape[1]), "every dimension counted (the number of latent dimensions)",
     "Count only the dimensions whose activity mu.var(dim=0) is above the threshold."),
]


def _as_count(out, what: str) -> int:
    """Accept a Python/NumPy integer or a 0-d tensor holding a whole number; explain anything else."""
    if out is None:
        raise CheckFailed(f"{what} is None.", "Did you forget the `return` statement?")
    if isinstance(out, (torch.Tensor, np.ndarray)):
        if out.ndim > 0:
            raise CheckFailed(f"{what} has shape {tuple(out.shape)}, expected a single count (an int).",
                              "Count the active dimensions: (activity > threshold).sum(), then int(...).")
        out = out.item()
    if isinstance(out, tuple):
        raise CheckFailed(f"{what} is a tuple, expected a single count (an int).", "Return only the count.")
    if isinstance(out, bool) or not isinstance(out, numbers.Number):
        raise CheckFailed(f"{what} is a {type(out).__name__}, expected a count (an int).",
                          "Return int((activity > threshold).sum()).")
    if float(out) != int(out):
        raise CheckFailed(f"{what} is {out}, expected a whole number of dimensions.",
                          "Count the dimensions with .sum() (not .mean()) and return an int.")
    return int(out)


@exercise("7.2", "07_beta_vae", "active_units", points=1,
          delegates=[diagnostics.active_units, diagnostics.activity],
          title="the number of active latent units",
          contract="active_units(mu: (N, J), threshold=0.01) -> int: how many dimensions u have "
                   "A_u = Var over the N images of mu[:, u] greater than threshold (Burda et al. 2015)",
          verified="the count of active dimensions matches the reference and follows the threshold argument.")
def active_units(fn, check):
    mu, mu_other = _first_inputs(), _second_inputs()
    count = _as_count(check.call(mu), "the result")
    check.ok("returns a count")
    other = _as_count(check.call(mu_other), "the result for a second set of means")
    expected, expected_other = diagnostics.active_units(mu), diagnostics.active_units(mu_other)
    if (count, other) != (expected, expected_other):
        for counter, name, hint in _COUNT_MISTAKES:
            if (count, other) == (int(counter(mu)), int(counter(mu_other))):
                raise CheckFailed(f"you counted {count} active units, expected {expected} - this looks like {name}.",
                                  hint)
        if (count, other) == (expected - 1, expected_other - 1):
            raise CheckFailed(f"you counted {count} and {other} active units, one fewer than the {expected} and "
                              f"{expected_other} expected on both sets of means: an off-by-one.",
                              "Count every latent dimension: a loop over range(1, D) skips dimension 0 (here an "
                              "active one); (mu.var(dim=0) > threshold).sum() needs no loop.",
                              code="count-off-by-one")
        if count == other:
            raise CheckFailed(f"you counted {count} active units for two different sets of means, expected "
                              f"{expected} and {expected_other}: the count does not depend on mu (hard-coded?).",
                              "Compute the count from the argument: the activity of each dimension of these means, compared with threshold.",
                              code="count-hard-coded")
        raise CheckFailed(f"you counted {count} and {other} active units on two sets of means, expected {expected} "
                          f"and {expected_other}.",
                          "The activity of a dimension is the variance of its means over the data set (one value per dimension); "
                          "count the dimensions whose activity is strictly above the threshold.")
    check.ok("the count matches the reference on two sets of means")
    count = _as_count(check.call(mu, threshold=0.1), "the result with threshold=0.1")
    expected = diagnostics.active_units(mu, threshold=0.1)
    if count != expected:
        raise CheckFailed(f"with threshold=0.1 you counted {count} active units, expected {expected}.",
                          "Use the `threshold` argument instead of a fixed 0.01.")
    check.ok("the threshold argument is used")
    boundary, threshold = _boundary_inputs()
    count = _as_count(check.call(boundary, threshold=threshold), "the result for activities equal to the threshold")
    if count != 1:
        raise CheckFailed(f"you counted {count} active units where one dimension's activity is above the threshold "
                          "and two are exactly equal to it, expected 1"
                          + (" - the threshold is compared with >=." if count == 3 else "."),
                          "A unit is active when its activity is *greater than* the threshold: a dimension whose "
                          "variance equals the threshold exactly is not active.",
                          code="threshold-compared-with-greater-or-equal" if count == 3 else "count-at-the-threshold")
    check.ok("a dimension exactly at the threshold is not active")


def _boundary_inputs() -> tuple[torch.Tensor, float]:
    """(9, 4) means whose activities are exactly 4t, t, t and t/4, with t = 7.5 / 256 (about 0.03).

    Each column is c * (-4, -3, ..., 4) / 16: its mean is 0 and its unbiased variance c^2 * 60 / 8 / 256, with no
    rounding at all (dyadic numbers), so every way of computing the variance gives exactly t for c = +-1.
    """
    steps = torch.arange(-4.0, 5.0) / 16
    columns = [2.0 * steps, steps, steps.flip(0), 0.5 * steps]
    return torch.stack(columns, dim=1)[torch.tensor([3, 0, 8, 5, 1, 7, 2, 6, 4])], 60 / 8 / 256
