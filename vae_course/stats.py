"""Uncertainty for the numbers a notebook compares: intervals for a mean, a difference, a proportion, any statistic.

A notebook may say "better", "larger" or "about 20%" only when an interval printed beside the number
supports it: a claim of "better" needs an interval of the difference that excludes 0. Each function
here is a thin layer over :mod:`scipy.stats` (t intervals, Welch's test, Wilson's interval, the
bootstrap) that takes tensors, arrays or lists and returns an :class:`Interval`, which prints itself
and answers the question the prose asks::

    gain = difference_interval(after, before, paired=True)   # the same molecules, before and after
    print(f"logP gain: {gain}")                               # logP gain: 0.13 (95% CI -0.02 to 0.28, n=100)
    claim("the optimisation raises logP", gain.above(0))      # fails: the interval includes 0

Paired data (the same images scored twice, the same seed under two settings) use ``paired=True``:
the interval of the mean difference is then much narrower than that of two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

LEVEL = 0.95  # the confidence level the course states everywhere


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval: ``low <= estimate <= high`` at ``level``, from ``n`` values."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def __str__(self) -> str:
        return self.format(".3g")

    def format(self, spec: str = ".3g") -> str:
        """``"0.13 (95% CI -0.02 to 0.28, n=100)"``, each number written with ``spec``."""
        return (f"{self.estimate:{spec}} ({self.level:.0%} CI {self.low:{spec}} to {self.high:{spec}}, "
                f"n={self.n})")

    def above(self, value: float) -> bool:
        """True when the whole interval lies above ``value`` (e.g. ``gain.above(0)``: a real gain)."""
        return self.low > value

    def below(self, value: float) -> bool:
        """True when the whole interval lies below ``value``."""
        return self.high < value

    def contains(self, value: float) -> bool:
        """True when ``value`` is inside the interval (the data cannot tell it from the estimate)."""
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        """Half the interval's width: the "±" of the estimate."""
        return (self.high - self.low) / 2


def _values(values, name: str = "values", *, at_least: int = 2) -> np.ndarray:
    """``values`` (tensor, array or list of numbers) as a 1-D float64 array; a clear error otherwise."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size < at_least:
        raise ValueError(f"{name}: an interval needs at least {at_least} values, got {array.size}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinite values; drop or fix them before computing an interval.")
    return array


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level is a probability such as 0.95, got {level!r}.")


def standard_error(values) -> float:
    """Standard error of the mean of ``values``: sample standard deviation / sqrt(n)."""
    array = _values(values)
    return float(array.std(ddof=1) / math.sqrt(array.size))


def mean_interval(values, *, level: float = LEVEL) -> Interval:
    """The mean of ``values`` with its t interval (exact for normal data, good for n >= 30 otherwise)."""
    _check_level(level)
    array = _values(values)
    ci = _scipy.ttest_1samp(array, 0.0).confidence_interval(confidence_level=level)
    low, high = (float(array.mean()),) * 2 if array.std() == 0 else (float(ci.low), float(ci.high))
    return Interval(float(array.mean()), low, high, int(array.size), level)


def difference_interval(a, b, *, paired: bool, level: float = LEVEL) -> Interval:
    """The mean of ``a`` minus the mean of ``b``, with its interval.

    paired: ``a[i]`` and ``b[i]`` belong together (the same image, molecule or seed measured twice):
    the t interval of the differences. Otherwise two independent samples: Welch's interval (no equal
    variances assumed). Keyword-only, because the choice changes the answer and must be made.
    """
    _check_level(level)
    a, b = _values(a, "a"), _values(b, "b")
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired=True needs one b for each a; got {a.size} and {b.size} values.")
        return mean_interval(a - b, level=level)
    ci = _scipy.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=level)
    return Interval(float(a.mean() - b.mean()), float(ci.low), float(ci.high), int(a.size + b.size), level)


def proportion_interval(successes: int, n: int, *, level: float = LEVEL) -> Interval:
    """A fraction ``successes / n`` with Wilson's interval (good near 0 and 1, unlike the normal one)."""
    _check_level(level)
    if not (isinstance(n, int) and n > 0 and isinstance(successes, int) and 0 <= successes <= n):
        raise ValueError(f"proportion_interval(successes, n) takes counts 0 <= successes <= n, n > 0; "
                         f"got {successes!r} and {n!r} (pass counts, not the fraction).")
    ci = _scipy.binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), n, level)


def bootstrap_interval(statistic: Callable, *samples, paired: bool = True, level: float = LEVEL,
                       resamples: int = 2000, seed: int = 0) -> Interval:
    """Any statistic of one or more samples (an AUC, a median, a ratio) with its bootstrap (BCa) interval.

    statistic: ``statistic(*samples) -> float`` on 1-D numpy arrays. paired: resample the samples'
    positions together (they have equal length and belong together) or each sample on its own.
    Seeded: the same call prints the same interval.
    """
    _check_level(level)
    arrays = [_values(sample, f"sample {i + 1}") for i, sample in enumerate(samples)]
    if not arrays:
        raise ValueError("bootstrap_interval(statistic, sample, ...) needs at least one sample.")
    result = _scipy.bootstrap(arrays, statistic, paired=paired, vectorized=False, confidence_level=level,
                              n_resamples=resamples, method="BCa", random_state=np.random.default_rng(seed))
    estimate = float(statistic(*arrays))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa is undefined when every resample agrees
        low = high = estimate
    return Interval(estimate, low, high, int(arrays[0].size), level)


def auc_difference(normal_a, anomalous_a, normal_b, anomalous_b, *, level: float = LEVEL) -> Interval:
    """ROC AUC of score a minus that of score b on the same images, with DeLong's interval (DeLong et al., 1988).

    Each AUC is the share of (normal, anomalous) pairs in which the anomaly scores higher (ties count 1/2).
    Both scores rate the same images, so the two AUCs are correlated; DeLong's variance of their difference
    comes from how each image's share of its comparisons changes from score a to score b. normal_a and
    normal_b: the N normal images' scores (in the same order), anomalous_a and anomalous_b: the M anomalies'.
    A constant score b (zeros) has AUC 1/2 exactly, so the result is then AUC(a) - 1/2, with its interval.
    """
    _check_level(level)
    normal_a, normal_b = _values(normal_a, "normal_a"), _values(normal_b, "normal_b")
    anomalous_a, anomalous_b = _values(anomalous_a, "anomalous_a"), _values(anomalous_b, "anomalous_b")
    if normal_a.shape != normal_b.shape or anomalous_a.shape != anomalous_b.shape:
        raise ValueError("auc_difference needs both scores of the same images: normal_a and normal_b of equal length, "
                         f"anomalous_a and anomalous_b too; got {normal_a.size}, {normal_b.size}, "
                         f"{anomalous_a.size}, {anomalous_b.size}.")

    def shares(normal: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # per anomaly (M,) and per normal image (N,): the mean of its comparisons won by the anomaly
        wins = (anomalous[None, :] > normal[:, None]) + 0.5 * (anomalous[None, :] == normal[:, None])
        return wins.mean(axis=0), wins.mean(axis=1)

    (anomaly_a, per_normal_a), (anomaly_b, per_normal_b) = shares(normal_a, anomalous_a), shares(normal_b, anomalous_b)
    estimate = float(anomaly_a.mean() - anomaly_b.mean())
    se = math.sqrt((anomaly_a - anomaly_b).var(ddof=1) / anomaly_a.size
                   + (per_normal_a - per_normal_b).var(ddof=1) / per_normal_a.size)
    z = float(_scipy.norm.ppf(0.5 + level / 2))
    return Interval(estimate, estimate - z * se, estimate + z * se, int(anomaly_a.size + per_normal_a.size), level)
