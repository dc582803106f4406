"""The helpers of the sampling checks (vae_course/checks/_sampling.py): normality, independence, code shapes."""

import math

import pytest
import torch
from torch import nn

from vae_course.checks import Checker, CheckFailed, Exercise
from vae_course.checks._sampling import call_decoding, ks_distance, require_fresh_codes, require_standard_normal

HINT = "z = torch.randn(n, model.latent_dim)."


def codes(n=4000, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_ks_distance_is_small_for_normal_draws_and_large_for_other_laws():
    n = 12_000
    assert ks_distance(codes(n, 1)) < 2.7 / math.sqrt(n)
    uniform = (torch.rand(n, generator=torch.Generator().manual_seed(1)) - 0.5) * math.sqrt(12)
    assert ks_distance(uniform) > 2.7 / math.sqrt(n)


def test_standard_normal_independent_codes_pass():
    require_fresh_codes(codes(seed=0), codes(seed=1), HINT)
    require_standard_normal(codes(), HINT)


@pytest.mark.parametrize("z, again, code", [
    (codes()[:1].expand(4000, 3), codes(seed=1), "same-code-for-every-row"),
    (codes()[:, :1].expand(4000, 3), codes(seed=1), "codes-correlated-across-dims"),
    (codes(), codes(), "same-codes-on-every-call"),
])
def test_repeated_codes_are_named(z, again, code):
    with pytest.raises(CheckFailed) as failed:
        require_fresh_codes(z, again, HINT)
    assert failed.value.code == code and HINT in failed.value.hint


def _mixed(z):
    """Dimension 1 a mix of dimensions 0 and 1: correlated, still of mean 0 and std 1."""
    return torch.stack([z[:, 0], (z[:, 0] + z[:, 1]) / math.sqrt(2), z[:, 2]], dim=1)


@pytest.mark.parametrize("z, code", [
    (_mixed(codes()), "codes-correlated-across-dims"),
    ((codes() + torch.roll(codes(), 1, dims=0)) / math.sqrt(2), "codes-correlated-across-rows"),
    (torch.distributions.Laplace(0.0, 2**-0.5).sample((4000, 3)), "codes-not-normal"),
])
def test_codes_with_the_right_moments_but_not_iid_normal_are_named(z, code):
    with pytest.raises(CheckFailed) as failed:
        require_standard_normal(z, HINT)
    assert failed.value.code == code


class _Recording(nn.Module):
    def __init__(self, latent_dim=3):
        super().__init__()
        self.latent_dim, self.codes, self.layer = latent_dim, [], nn.Linear(latent_dim, 4)

    def decode(self, z):
        self.codes.append(z)
        return self.layer(z)


DRAW = Exercise(id="t.1", notebook="test", function="draw", title="a test exercise", contract="draw(model, n)",
                points=1, body=lambda fn, check: None)  # not registered: other tests walk the registry


@pytest.mark.parametrize("draw, code", [
    (lambda model, n: model.decode(torch.randn(n, 20)), "latent-size-hard-coded"),
    (lambda model, n: model.decode(torch.randn(model.latent_dim, n)), "code-shape-swapped"),
    (lambda model, n: model.decode(torch.randn(n, model.latent_dim, dtype=torch.float64)), "codes-in-another-dtype"),
])
def test_call_decoding_names_a_wrong_code_shape(draw, code):
    model = _Recording()
    with pytest.raises(CheckFailed) as failed:
        call_decoding(Checker(draw, DRAW), model, 5, codes=model.codes, latent_dim=3, n=5)
    assert failed.value.code == code
    assert ("float32" if code == "codes-in-another-dtype" else "model.latent_dim") in failed.value.hint
    assert "torch.randn(" not in failed.value.hint, "the hint names the fix, it does not write the line"


def test_call_decoding_passes_other_errors_and_results_through():
    model = _Recording()
    out = call_decoding(Checker(lambda m, n: m.decode(torch.randn(n, 3)), DRAW), model, 5,
                        codes=model.codes, latent_dim=3, n=5)
    assert out.shape == (5, 4)
    with pytest.raises(CheckFailed) as failed:
        call_decoding(Checker(lambda m, n: 1 / 0, DRAW), model, 5, codes=[], latent_dim=3, n=5)
    assert failed.value.code == "raised"
