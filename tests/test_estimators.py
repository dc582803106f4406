"""vae_course.estimators: both gradient estimators are unbiased and their variances are the known ones."""

import math

import pytest
import torch

from vae_course import plotting
from vae_course.estimators import estimator_spread, gradient_estimates, pathwise_terms, score_terms


def quadratic(z):
    """f(z) = sum (z - 2)^2: z (..., D) -> (...,); d/dmu E[f] = 2 (mu - 2)."""
    return (z - 2).pow(2).sum(-1)


def test_per_sample_terms_have_the_textbook_formulas():
    mu, sigma = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    eps = torch.randn(7, 2)
    z = mu + sigma * eps
    assert torch.allclose(pathwise_terms(quadratic, mu, sigma, eps), 2 * (z - 2))
    assert torch.allclose(score_terms(quadratic, mu, sigma, eps), quadratic(z)[:, None] * (z - mu) / sigma**2)
    assert torch.allclose(score_terms(quadratic, mu, sigma, eps, baseline=3.0),
                          (quadratic(z) - 3.0)[:, None] * (z - mu) / sigma**2)


@pytest.mark.parametrize("method", ["pathwise", "score", "score+baseline"])
def test_estimators_are_unbiased(method):
    mu, sigma = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    est = gradient_estimates(quadratic, mu, sigma, n_samples=100, repeats=2000, method=method, baseline=10.0,
                             generator=torch.Generator().manual_seed(0))
    assert est.shape == (2000, 2)
    se = est.std(0) / math.sqrt(len(est))
    assert ((est.mean(0) - 2 * (mu - 2)).abs() < 5 * se).all()


def test_variances_match_the_analytic_values():
    """mu = 0, sigma = 1, f = (z - 2)^2: Var pathwise = 4, Var score = E[z^2 (z - 2)^4] - 16 = 87 (per sample)."""
    spread = estimator_spread(quadratic, 0.0, 1.0, sample_sizes=[1, 10], repeats=20_000,
                              methods=("pathwise", "score"))
    pathwise, score = spread["pathwise"]["variance"][:, 0], spread["score"]["variance"][:, 0]
    assert torch.allclose(pathwise, torch.tensor([4.0, 0.4]), rtol=0.05)
    assert torch.allclose(score, torch.tensor([87.0, 8.7]), rtol=0.15)


def test_a_baseline_reduces_the_score_variance_without_bias():
    kwargs = dict(sample_sizes=[10], repeats=5000, seed=1)
    plain = estimator_spread(quadratic, 0.0, 1.0, methods=("score",), **kwargs)["score"]
    based = estimator_spread(quadratic, 0.0, 1.0, methods=("score+baseline",), baseline=5.0,
                             **kwargs)["score+baseline"]
    assert based["variance"][0, 0] < 0.7 * plain["variance"][0, 0]
    assert abs(based["mean"][0, 0] + 4.0) < 0.1


def test_score_function_handles_a_step_function_and_pathwise_does_not_see_it():
    def step(z):
        return (z > 1.0).float().sum(-1)

    gen = torch.Generator().manual_seed(0)
    score = gradient_estimates(step, 0.0, 1.0, 200_000, method="score", generator=gen)
    pdf_at_1 = math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert abs(score.item() - pdf_at_1) < 0.01
    with pytest.raises(RuntimeError):
        gradient_estimates(step, 0.0, 1.0, 10, method="pathwise")


def test_spread_is_reproducible_and_well_formed():
    a = estimator_spread(quadratic, [0.0, 1.0], [1.0, 2.0], [1, 3, 10], repeats=50, seed=3)
    b = estimator_spread(quadratic, [0.0, 1.0], [1.0, 2.0], [1, 3, 10], repeats=50, seed=3)
    assert set(a) == {"pathwise", "score"}
    for key in ("mean", "variance", "low", "high"):
        assert a["score"][key].shape == (3, 2)
        assert torch.equal(a["score"][key], b["score"][key])
    assert (a["score"]["low"] <= a["score"]["high"]).all()
    with pytest.raises(ValueError, match="method"):
        gradient_estimates(quadratic, 0.0, 1.0, 3, method="reinforce")


def test_plots_use_log_axes_and_show_the_truth():
    spread = estimator_spread(quadratic, 0.0, 1.0, [1, 10, 100], repeats=100)
    fig = plotting.estimator_spread(spread, true_value=-4.0)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(list(line.get_ydata()) == [-4.0, -4.0] for line in ax.get_lines())
    fig = plotting.estimator_variance(spread)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert len(ax.get_lines()) == 2
