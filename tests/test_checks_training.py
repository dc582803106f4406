"""Checks of notebook 04: references pass, each catalogued mistake fails with its own hint,
correct-but-different answers pass, malformed returns and slow functions are handled."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vae_course import checks, losses
from vae_course.checks.loop import reference_step
from vae_course.train import vae_loss

# --------------------------------------------------------------------------- 4.1 training_step


reference = reference_step  # the answer to 4.1, as the check of 4.3 uses it


def with_package_loss_and_tensors(model, optimizer, x):
    """Uses vae_course.train.vae_loss and returns tensors that still carry a graph."""
    model.zero_grad()
    out = vae_loss(model, x)
    out["loss"].backward()
    optimizer.step()
    return out


def with_bce_sum_and_zero_grad_at_the_end(model, optimizer, x):
    mu, logvar = model.encode(x)
    logits = model.decode(model.reparameterize(mu, logvar))
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    loss = recon + kl
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return dict(loss=loss.detach(), recon=recon.detach(), kl=kl.detach())


@pytest.mark.parametrize("fn", [reference, with_package_loss_and_tensors, with_bce_sum_and_zero_grad_at_the_end])
def test_training_step_correct_variants_pass(fn):
    result = checks.training_step(fn)
    assert result.passed, result.text()
    assert "gradients reset between steps" in result.checks


def make_step(zero_grad=True, step=True, backward=True, sign=1.0, reduce="mean", kl=True, recon="bce",
              zero_grad_after_backward=False):
    def fn(model, optimizer, x):
        if zero_grad:
            optimizer.zero_grad()
        logits, mu, logvar = model(x)
        if recon == "bce":
            rec = -losses.bernoulli_log_likelihood(logits, x)
        elif recon == "double sigmoid":
            rec = F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").sum(1)
        else:
            rec = (torch.sigmoid(logits) - x).pow(2).sum(1)
        kls = losses.gaussian_kl(mu, logvar)
        r, k = (rec.mean(), kls.mean()) if reduce == "mean" else (rec.sum(), kls.sum())
        loss = sign * (r + k if kl else r)
        if backward:
            loss.backward()
        if zero_grad_after_backward:
            optimizer.zero_grad()
        if step:
            optimizer.step()
        return dict(loss=loss.item(), recon=r.item(), kl=k.item())
    return fn


def backprop_sum_return_mean(model, optimizer, x):
    optimizer.zero_grad()
    logits, mu, logvar = model(x)
    per_image = -losses.bernoulli_log_likelihood(logits, x) + losses.gaussian_kl(mu, logvar)
    per_image.sum().backward()
    optimizer.step()
    with torch.no_grad():
        return dict(loss=per_image.mean().item(), recon=float(-losses.bernoulli_log_likelihood(logits, x).mean()),
                    kl=float(losses.gaussian_kl(mu, logvar).mean()))


def backprop_elbo_return_negative(model, optimizer, x):
    optimizer.zero_grad()
    logits, mu, logvar = model(x)
    recon = -losses.bernoulli_log_likelihood(logits, x).mean()
    kl = losses.gaussian_kl(mu, logvar).mean()
    (-(recon + kl)).backward()
    optimizer.step()
    return dict(loss=(recon + kl).item(), recon=recon.item(), kl=kl.item())


def recon_as_log_likelihood(model, optimizer, x):
    out = reference(model, optimizer, x)
    return dict(out, recon=-out["recon"])


MISTAKES_41 = {
    "forgot zero_grad": (make_step(zero_grad=False), "zero_grad method) at the start"),
    "forgot step": (make_step(step=False), "then let the optimizer take its step"),
    "forgot backward": (make_step(backward=False), "then let the optimizer take its step"),
    "zero_grad after backward": (make_step(zero_grad_after_backward=True), "erases the gradient"),
    "maximised the negative ELBO": (make_step(sign=-1.0), "Minimising the ELBO itself"),
    "sum over batch": (make_step(reduce="sum"), "B times larger"),
    "KL missing": (make_step(kl=False), "add the KL term"),
    "double sigmoid": (make_step(recon="double sigmoid"), "without torch.sigmoid"),
    "squared error": (make_step(recon="mse"), "not a squared error"),
    "backprop the sum": (backprop_sum_return_mean, "Backpropagate the batch *mean*"),
    "backprop the ELBO": (backprop_elbo_return_negative, "not on the ELBO"),
    "recon sign": (recon_as_log_likelihood, "positive reconstruction term"),
}


@pytest.mark.parametrize("name", sorted(MISTAKES_41))
def test_training_step_mistakes_get_their_hint(name):
    fn, hint = MISTAKES_41[name]
    result = checks.training_step(fn)
    assert result.status == "failed", result.text()
    assert hint in result.hint, result.text()


@pytest.mark.parametrize("returned, message", [
    (None, "returned None"), ((1.0, 2.0, 3.0), "tuple"), ({"loss": 1.0}, "no key 'recon', 'kl'"),
    ({"loss": torch.ones(8), "recon": 1.0, "kl": 1.0}, "shape (8,)"), ({"loss": "1", "recon": 1, "kl": 1}, "str"),
    ({"loss": np.ones(3), "recon": 1, "kl": 1}, "ndarray"),
    ({"loss": float("nan"), "recon": 1.0, "kl": 1.0}, "not finite"),
])
def test_training_step_malformed_returns(returned, message):
    result = checks.training_step(lambda model, optimizer, x: returned)
    assert result.status == "failed", result.text()
    assert message in result.message


def test_training_step_stub_slow_and_crashing():
    def stub(model, optimizer, x):
        raise NotImplementedError

    def slow(model, optimizer, x):
        time.sleep(5)

    assert checks.training_step(stub).code == "not-answered"
    assert checks.training_step(slow, timeout=0.5).status == "timeout"
    crashed = checks.training_step(lambda model, optimizer, x: model(x[:, :10]))
    assert crashed.status == "error" and "RuntimeError" in crashed.message


# --------------------------------------------------------------------------- 4.2 sample_from_prior


def sample_reference(model, n):
    with torch.no_grad():
        return torch.sigmoid(model.decode(torch.randn(n, model.latent_dim)))


def sample_with_package(model, n):
    return model.sample(n)


def sample_with_distribution(model, n):
    prior = torch.distributions.Normal(torch.zeros(model.latent_dim), torch.ones(model.latent_dim))
    return model.decode(prior.sample((n,))).sigmoid()  # keeps no graph either way


@pytest.mark.parametrize("fn", [sample_reference, sample_with_package, sample_with_distribution])
def test_sample_from_prior_correct_variants_pass(fn):
    result = checks.sample_from_prior(fn)
    assert result.passed, result.text()


MISTAKES_42 = {
    "logits": (lambda model, n: model.decode(torch.randn(n, model.latent_dim)), "apply torch.sigmoid"),
    "binary sample": (lambda model, n: torch.bernoulli(model.sample(n)), "torch.bernoulli"),
    "uniform codes": (lambda model, n: torch.sigmoid(model.decode(torch.rand(n, model.latent_dim))), "not torch.rand"),
    "zero codes": (lambda model, n: torch.sigmoid(model.decode(torch.zeros(n, model.latent_dim))), "not random"),
    "scaled codes": (lambda model, n: torch.sigmoid(model.decode(2 * torch.randn(n, model.latent_dim))),
                     "no shift or scale"),
    "no decoding": (lambda model, n: torch.rand(n, 784), "model.decode was never called"),
    "wrong latent size": (lambda model, n: torch.sigmoid(model.decode(torch.randn(n, 20))),
                          "model.latent_dim entries"),
}


def test_sample_from_prior_mistakes_get_their_hint():
    for name, (fn, expected) in MISTAKES_42.items():
        result = checks.sample_from_prior(fn)
        assert result.status == "failed", (name, result.text())  # a crash whose cause is named is "failed"
        assert expected in result.hint or expected in result.message, (name, result.text())


def test_sample_from_prior_malformed_and_slow():
    assert "is None" in checks.sample_from_prior(lambda model, n: None).message
    assert "NumPy" in checks.sample_from_prior(lambda model, n: np.zeros((n, 784))).message
    assert "wrong shape" in checks.sample_from_prior(lambda model, n: model.sample(n)[:, :10]).message

    def slow(model, n):
        time.sleep(5)

    assert checks.sample_from_prior(slow, timeout=0.5).status == "timeout"

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "4.2": lambda model, n: torch.sigmoid(model.decode(torch.randn(n, model.latent_dim))),
}
#: Exercises without a float64 case, and why.
NOT_FLOAT_TENSORS = {"4.1": "the training step returns floats (its losses), not a tensor"}
