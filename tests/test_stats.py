"""vae_course.stats: the intervals the notebooks print beside every comparison."""

import math

import numpy as np
import pytest
import torch

from vae_course import stats


def test_mean_interval_is_the_t_interval():
    ci = stats.mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, standard error sqrt(2.5 / 5), t(0.975, 4) = 2.7764
    half = 2.7764451 * math.sqrt(2.5 / 5)
    assert ci.estimate == 3.0 and ci.n == 5
    assert ci.low == pytest.approx(3 - half, abs=1e-6) and ci.high == pytest.approx(3 + half, abs=1e-6)
    assert str(ci) == "3 (95% CI 1.04 to 4.96, n=5)"
    assert stats.standard_error([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(math.sqrt(0.5))


def test_a_95_percent_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = sum(stats.mean_interval(rng.exponential(size=50)).contains(1.0) for _ in range(400))
    assert 0.91 <= covered / 400 <= 0.98  # binomial spread of 400 draws at 0.95 (skewed data, n = 50)


def test_paired_differences_are_narrower_than_independent_ones_and_answer_the_right_question():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 5, size=200)                  # images differ a lot from each other ...
    before, after = base, base + 0.3 + rng.normal(0, 0.2, size=200)  # ... the change is small but steady
    paired = stats.difference_interval(after, before, paired=True)
    independent = stats.difference_interval(after, before, paired=False)
    assert paired.estimate == pytest.approx(independent.estimate)
    assert paired.above(0) and not independent.above(0), "only the paired interval sees the steady gain"
    assert paired.half_width < independent.half_width / 10


def test_a_difference_whose_interval_includes_zero_supports_no_direction():
    ci = stats.difference_interval([0.1, -0.2, 0.3, 0.0, -0.1], [0.0] * 5, paired=True)
    assert ci.contains(0) and not ci.above(0) and not ci.below(0)


def test_proportion_interval_is_wilsons():
    ci = stats.proportion_interval(5, 10)
    assert (ci.low, ci.high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    edge = stats.proportion_interval(0, 20)
    assert edge.low == 0 and 0.1 < edge.high < 0.2, "Wilson's interval is not degenerate at 0"


def test_bootstrap_interval_of_a_median_is_seeded_and_brackets_the_estimate():
    values = torch.arange(100.0)
    first = stats.bootstrap_interval(np.median, values, resamples=500)
    again = stats.bootstrap_interval(np.median, values, resamples=500)
    assert first == again
    assert first.low < first.estimate == 49.5 < first.high


def test_bootstrap_of_a_statistic_of_two_paired_samples():
    rng = np.random.default_rng(2)
    a = rng.normal(1.0, 1.0, size=300)
    b = a + rng.normal(0.5, 0.1, size=300)
    ci = stats.bootstrap_interval(lambda x, y: np.mean(y - x), a, b, resamples=500)
    assert ci.contains(0.5) and ci.above(0.4)


@pytest.mark.parametrize("call, message", [
    (lambda: stats.mean_interval([1.0]), "at least 2 values"),
    (lambda: stats.mean_interval([1.0, float("nan")]), "NaN or infinite"),
    (lambda: stats.difference_interval([1.0, 2.0], [1.0, 2.0, 3.0], paired=True), "one b for each a"),
    (lambda: stats.proportion_interval(0.5, 10), "pass counts, not the fraction"),
    (lambda: stats.mean_interval([1.0, 2.0], level=95), "probability such as 0.95"),
])
def test_bad_input_gets_a_message_that_says_what_to_do(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_auc_difference_is_the_difference_of_the_two_aucs_with_delongs_interval():
    rng = np.random.default_rng(3)
    normal, anomalous = rng.normal(0, 1, size=300), rng.normal(1, 1, size=200)
    noisy_normal, noisy_anomalous = normal + rng.normal(0, 1, size=300), anomalous + rng.normal(0, 1, size=200)
    gap = stats.auc_difference(normal, anomalous, noisy_normal, noisy_anomalous)
    auc = lambda n, a: ((a[None, :] > n[:, None]) + 0.5 * (a[None, :] == n[:, None])).mean()
    assert gap.estimate == pytest.approx(auc(normal, anomalous) - auc(noisy_normal, noisy_anomalous))
    assert gap.above(0) and gap.n == 500  # the noisier score separates worse, and the interval says so
    against_chance = stats.auc_difference(normal, anomalous, np.zeros(300), np.zeros(200))
    assert against_chance.estimate == pytest.approx(auc(normal, anomalous) - 0.5)
    same = stats.auc_difference(normal, anomalous, normal, anomalous)
    assert same.estimate == same.low == same.high == 0.0
    with pytest.raises(ValueError, match="same images"):
        stats.auc_difference(normal, anomalous, normal[:10], anomalous)
