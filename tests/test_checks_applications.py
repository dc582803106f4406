"""Checks of notebook 06: references pass, each catalogued mistake gets its own hint, bad returns are explained."""

import time

import numpy as np
import torch
import torch.nn.functional as F

import _catalogue_06
from vae_course import applications, checks, losses


def run(check, fn, **kwargs):
    """Run a check; answers built on the package's references are allowed (delegation: test_checks_integrity)."""
    result = check(fn, **{"allow_reference_calls": True, **kwargs})
    return result, result.text()


# --------------------------------------------------------------------------- 6.1 anomaly_score

def test_anomaly_score_reference_passes():
    result, text = run(checks.anomaly_score, applications.anomaly_score)
    assert result.passed, text


def test_anomaly_score_correct_variants_pass():
    def with_forward(model, x):           # eval mode: forward decodes the mean code
        logits, mu, logvar = model(x)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1) + losses.gaussian_kl(mu, logvar)

    def with_probabilities(model, x):     # BCE on sigmoid outputs instead of logits
        mu, logvar = model.encode(x)
        p = torch.sigmoid(model.decode(mu))
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return F.binary_cross_entropy(p, x, reduction="none").sum(1) + kl

    def with_distributions(model, x):     # KL from torch.distributions
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        kl = torch.distributions.kl_divergence(q, p).sum(1)
        return -losses.bernoulli_log_likelihood(model.decode(mu), x) + kl

    for fn in (with_forward, with_probabilities, with_distributions):
        result, text = run(checks.anomaly_score, fn)
        assert result.passed, (fn.__name__, text)


def _parts(model, x):
    mu, logvar = model.encode(x)
    logits = model.decode(mu)
    return logits, mu, logvar, -losses.bernoulli_log_likelihood(logits, x), losses.gaussian_kl(mu, logvar)


def test_anomaly_score_mistakes_get_their_own_hints():
    def elbo(model, x):
        _, _, _, nll, kl = _parts(model, x)
        return -(nll + kl)

    def recon_only(model, x):
        return _parts(model, x)[3]

    def mse_on_logits(model, x):
        logits, _, _, _, kl = _parts(model, x)
        return (logits - x).pow(2).sum(1) + kl

    def mse_on_probabilities(model, x):
        logits, _, _, _, kl = _parts(model, x)
        return (torch.sigmoid(logits) - x).pow(2).sum(1) + kl

    def kl_subtracted(model, x):
        _, _, _, nll, kl = _parts(model, x)
        return nll - kl

    def mean_over_pixels(model, x):
        logits, mu, logvar, _, kl = _parts(model, x)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").mean(1) + kl

    expected = {
        elbo: "sign is flipped",
        recon_only: "KL term is missing",
        mse_on_logits: "compared logits with pixels",
        mse_on_probabilities: "squared error is not the Bernoulli likelihood",
        kl_subtracted: "*plus* KL",
        mean_over_pixels: "not .mean(1)",
    }
    for fn, needle in expected.items():
        result, text = run(checks.anomaly_score, fn)
        assert not result.passed, fn.__name__
        assert needle in text, (fn.__name__, text)


def test_anomaly_score_shape_mistakes():
    def batch_mean(model, x):
        return applications.anomaly_score(model, x).mean()

    def per_pixel(model, x):
        mu, _ = model.encode(x)
        return F.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="none")

    result, text = run(checks.anomaly_score, batch_mean)
    assert not result.passed and "Don't average over the batch" in text
    result, text = run(checks.anomaly_score, per_pixel)
    assert not result.passed and "Sum the per-pixel terms" in text


def test_anomaly_score_sampled_code_fails_with_the_mean_code_hint():
    def sampled(model, x):
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        return -losses.bernoulli_log_likelihood(model.decode(z), x) + losses.gaussian_kl(mu, logvar)

    result, text = run(checks.anomaly_score, sampled)
    assert not result.passed and "Decode the mean code mu" in text
    assert result.code == "anomaly-score-with-a-sampled-code"


def test_anomaly_score_malformed_returns_and_slow_functions():
    cases = {
        (lambda model, x: None): "forget the `return`",
        (lambda model, x: applications.anomaly_score(model, x).numpy()): "NumPy array",
        (lambda model, x: (applications.anomaly_score(model, x), 0)): "tuple",
        (lambda model, x: applications.anomaly_score(model, x).sum().item()): "float",
        (lambda model, x: applications.anomaly_score(model, x).long()): "dtype",
    }
    for fn, needle in cases.items():
        result, text = run(checks.anomaly_score, fn)
        assert not result.passed and needle in text, text

    def stub(model, x):
        raise NotImplementedError("Exercise 6.1")

    assert checks.anomaly_score(stub).code == "not-answered"

    def slow(model, x):
        time.sleep(3)
        return applications.anomaly_score(model, x)

    assert checks.anomaly_score(slow, timeout=0.5).status == "timeout"

    def crashes(model, x):
        return model.encoder(x)  # VAE has no .encoder

    result, text = run(checks.anomaly_score, crashes)
    assert result.status == "error" and "AttributeError" in text


# --------------------------------------------------------------------------- 6.2 inpaint_step

def test_inpaint_step_reference_and_variants_pass():
    def with_where(model, x_known, mask, x_current):
        _, _, _ = model(x_current)  # any extra forward pass is harmless
        filled = torch.sigmoid(model.decode(model.encode(x_current)[0]))
        return torch.where(mask.bool(), x_known, filled)

    def clamps_from_current(model, x_known, mask, x_current):  # the known pixels of x_current equal x_known
        filled = torch.sigmoid(model(x_current)[0])
        return mask * x_current + (1 - mask) * filled

    for fn in (applications.inpaint_step, with_where, clamps_from_current):
        result, text = run(checks.inpaint_step, fn)
        assert result.passed, text


def test_inpaint_step_mistakes_get_their_own_hints():
    def recon(model, x):
        return model.decode(model.encode(x)[0])

    mistakes = {
        (lambda m, k, mask, c: (1 - mask) * k + mask * torch.sigmoid(recon(m, c))): "mask is 1 where a pixel is *known*",
        (lambda m, k, mask, c: torch.sigmoid(recon(m, c))): "Put the known pixels back",
        (lambda m, k, mask, c: mask * k + (1 - mask) * recon(m, c)): "apply torch.sigmoid to get pixel values",
        (lambda m, k, mask, c: recon(m, c)): "Apply torch.sigmoid to the decoder's logits, then keep",
        (lambda m, k, mask, c: mask * k + (1 - mask) * torch.sigmoid(recon(m, k))): "Encode the current guess",
    }
    for fn, needle in mistakes.items():
        result, text = run(checks.inpaint_step, fn)
        assert not result.passed and needle in text, text


def test_inpaint_step_malformed_returns():
    cases = {
        (lambda m, k, mask, c: None): "forget the `return`",
        (lambda m, k, mask, c: applications.inpaint_step(m, k, mask, c)[0]): "wrong shape",
        (lambda m, k, mask, c: np.zeros((4, 784))): "NumPy array",
    }
    for fn, needle in cases.items():
        result, text = run(checks.inpaint_step, fn)
        assert not result.passed and needle in text, text


# --------------------------------------------------------------------------- plumbing

def test_corruptions_masks_and_roc_auc():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(50, 784)
    noisy = applications.add_gaussian_noise(x, 0.5, generator=generator)
    assert noisy.shape == x.shape and noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    salted = applications.add_salt_and_pepper(x, 0.2, generator=generator)
    changed = (salted != x).float().mean().item()
    assert 0.15 < changed < 0.25
    assert set(salted[salted != x].unique().tolist()) <= {0.0, 1.0}
    mask = applications.half_mask("lower")
    assert mask.shape == (784,) and mask[:392].eq(1).all() and mask[392:].eq(0).all()
    assert applications.half_mask("left", n=3).shape == (3, 784)
    assert applications.roc_auc([0, 1, 2], [3, 4]) == 1.0
    assert applications.roc_auc([3, 4], [0, 1, 2]) == 0.0
    assert abs(applications.roc_auc(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 3.0])) - 0.75) < 1e-9


def test_reconstruction_error_and_anomaly_score_shapes():
    from vae_course.checks.applications import tiny_vae

    model, x = tiny_vae(), torch.rand(6, 784)
    assert applications.reconstruction_error(model, x).shape == (6,)
    assert (applications.anomaly_score(model, x) > 0).all()

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

def _anomaly(model, x):
    mu, logvar = model.encode(x)
    bce = F.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="none").sum(1)
    return bce + (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1)


#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
# --------------------------------------------------------------------------- 6.1 / 6.2 gaps, 6.3 inpaint_chain
# (the full tables of realistic answers: tests/_catalogue_06.py, run by tests/test_checks_catalogue.py)

def test_a_bernoulli_refusing_grey_pixels_is_explained_not_raised_raw():
    def with_bernoulli(model, x):
        mu, logvar = model.encode(x)
        nll = -torch.distributions.Bernoulli(logits=model.decode(mu)).log_prob(x).sum(1)
        return nll + losses.gaussian_kl(mu, logvar)

    result, text = run(checks.anomaly_score, with_bernoulli)
    assert result.status == "failed" and result.code == "bernoulli-log-prob-of-grey-pixels", text
    assert "grey" in result.message and "validate_args=False" in result.hint, text


def test_known_pixels_must_be_kept_exactly_not_up_to_rounding():
    def corrected(model, known, mask, current):
        p = torch.sigmoid(model.decode(model.encode(current)[0]))
        return p + mask * (known - p)

    result, text = run(checks.inpaint_step, corrected)
    assert result.code == "known-pixels-only-approximately-kept", text


def test_inpaint_chain_reference_passes_with_any_seed():
    for seed in range(3):
        torch.manual_seed(seed)
        result, text = run(checks.inpaint_chain, applications.inpaint_chain)
        assert result.passed, text


def test_inpaint_chain_reference_runs_where_its_inputs_are():
    model = checks.applications.tiny_vae()
    mask = applications.half_mask("lower", n=3)
    states = applications.inpaint_chain(model, mask * torch.rand(3, 784), mask, torch.rand(3, 784), steps=2)
    assert states.shape == (2, 3, 784) and states.dtype == torch.float32
    assert set(states[:, mask == 0].unique().tolist()) <= {0.0, 1.0}


FLOAT64_ANSWERS = {
    "6.1": _anomaly,
    "6.2": lambda model, x_known, mask, x_current: (mask * x_known + (1 - mask) * torch.sigmoid(
        model.decode(model.encode(x_current)[0]))),
    "6.3": _catalogue_06.INPAINT_CHAIN["correct"]["distributions, where"],
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("6.1", "vae_course.applications.anomaly_score"): lambda model, x: applications.anomaly_score(model, x),
    ("6.2", "vae_course.applications.inpaint_step"):
        lambda model, known, mask, current: applications.inpaint_step(model, known, mask, current),
    ("6.3", "vae_course.applications.inpaint_chain"):
        lambda model, known, mask, start, steps: applications.inpaint_chain(model, known, mask, start, steps),
}


def test_sampled_neg_elbo_averages_seeded_draws_of_the_sampled_code_and_leaves_global_randomness_alone():
    from vae_course.checks.applications import tiny_vae

    model, x = tiny_vae(), torch.rand(5, 784)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    got = applications.sampled_neg_elbo(model, x, draws=3, seed=7)
    assert torch.equal(torch.get_rng_state(), before)                  # its own generator
    generator = torch.Generator().manual_seed(7)
    mu, logvar = model.encode(x)
    by_hand = torch.stack([-losses.elbo(model.decode(mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator)),
                                        x, mu, logvar) for _ in range(3)]).mean(0)
    assert got.shape == (5,) and torch.allclose(got, by_hand)
    assert torch.equal(got, applications.sampled_neg_elbo(model, x, draws=3, seed=7))
    assert not torch.allclose(got, applications.sampled_neg_elbo(model, x, draws=3, seed=8))
    assert (got > 0).all()                                            # cross-entropy and KL are both >= 0
