"""Tests for vae_course.train: seeds, devices, fit, the NaN guard and evaluation (checkpoints: test_checkpoints.py).

Training here is tiny (a few hundred images, one or two epochs, small models) so the file stays fast.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from _training import rng_draws, same_draws, small_vae
from vae_course import train as T
from vae_course.data import load_mnist
from vae_course.models import Autoencoder
from vae_course.train import History, TrainingDiverged


@pytest.fixture(scope="module")
def tiny():
    """200 embedded validation images (grey levels): enough to see a loss go down."""
    val = load_mnist("val", verbose=False)
    return val.subset(torch.arange(200))


# --------------------------------------------------------------------------- seeds and devices

def test_set_seed_makes_python_numpy_and_torch_reproducible():
    T.set_seed(3)
    first = rng_draws()
    T.set_seed(3)
    again = rng_draws()
    T.set_seed(4)
    other = rng_draws()
    assert same_draws(first, again)
    assert first[0] != other[0] and first[1] != other[1] and not torch.equal(first[2], other[2])


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_get_device_defaults_to_cpu_without_accelerator(no_accelerator):
    assert T.get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_then_mps(monkeypatch, no_accelerator):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert T.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert T.get_device() == torch.device("cuda")


def test_get_device_override_and_env_var(monkeypatch, no_accelerator):
    assert T.get_device("cpu") == torch.device("cpu")
    assert T.get_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cpu")
    assert T.get_device() == torch.device("cpu"), "the environment variable beats auto-detection"
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cuda")
    assert T.get_device("cpu") == torch.device("cpu"), "the argument beats the environment variable"


@pytest.mark.parametrize("how", ["argument", "env"])
@pytest.mark.parametrize("kind", ["cuda", "mps"])
def test_get_device_unavailable_accelerator_is_a_clear_error(monkeypatch, no_accelerator, how, kind):
    if how == "env":
        monkeypatch.setenv("VAE_COURSE_DEVICE", kind)
    with pytest.raises(RuntimeError, match=f"device='{kind}' was requested.*use device='cpu'"):
        T.get_device(kind if how == "argument" else None)


# --------------------------------------------------------------------------- fit

def test_fit_reduces_the_loss_and_logs_every_epoch(tiny):
    model = small_vae()
    before = T.evaluate(model, tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings in the students' notebooks either
        history = T.fit(model, tiny, epochs=2, batch_size=50, lr=1e-2, val_data=tiny, progress=False)
    after = T.evaluate(model, tiny)
    assert isinstance(history, History) and history.epochs == 2
    assert set(history.train) == {"loss", "recon", "kl", "elbo"}
    assert set(history.val) == {"loss", "recon", "kl"}, "validation uses the mean code: not an ELBO"
    for values in list(history.train.values()) + list(history.val.values()):
        assert len(values) == 2 and all(math.isfinite(v) for v in values)
    for epoch in range(2):  # training batches sample z: their recon + KL is a (stochastic) negative ELBO
        train = history.train
        assert train["elbo"][epoch] == pytest.approx(-(train["recon"][epoch] + train["kl"][epoch]))
    assert history.train["loss"][1] < history.train["loss"][0]
    assert after["loss"] < 0.8 * before["loss"], (before, after)
    assert not model.training, "fit leaves the model in eval mode"


def test_fit_is_reproducible_for_a_seed(tiny):
    runs = []
    for _ in range(2):
        model = small_vae(seed=1)
        torch.manual_seed(5)  # reparameterization noise comes from the global RNG
        runs.append((T.fit(model, tiny, epochs=1, batch_size=64, seed=2, progress=False), model))
    assert runs[0][0].train == runs[1][0].train
    for a, b in zip(runs[0][1].parameters(), runs[1][1].parameters()):
        assert torch.equal(a, b)


def test_fit_autoencoder_and_other_data_types(tiny):
    torch.manual_seed(0)
    ae = Autoencoder(hidden_dim=32, latent_dim=4)
    history = T.fit(ae, tiny.images, epochs=1, batch_size=100, progress=False)  # a plain tensor
    assert set(history.train) == {"loss", "recon"}
    pairs = torch.utils.data.TensorDataset(tiny.images[:64], tiny.labels[:64])  # any (x, y) dataset
    history = T.fit(small_vae(), pairs, epochs=1, batch_size=32, progress=False)
    assert history.epochs == 1 and "kl" in history.train


def test_fit_dynamic_binarization_feeds_binary_batches(tiny):
    seen = []

    def spy(model, x):
        seen.append(x)
        return T.vae_loss(model, x)

    dynamic = tiny.subset(torch.arange(64))
    dynamic.binarize = "dynamic"
    T.fit(small_vae(), dynamic, epochs=2, batch_size=64, loss_fn=spy, progress=False)
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} for x in seen)
    assert not torch.equal(seen[0].sum(0), seen[1].sum(0)), "a fresh sample every epoch"


def test_progress_bars_silent_when_disabled_or_in_ci(tiny, capsys, monkeypatch):
    data = tiny.images[:64]
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAE_COURSE_PROGRESS", raising=False)  # the root conftest sets it to 0
    T.fit(small_vae(), data, epochs=1, progress=True)
    shown = capsys.readouterr()
    assert "epochs" in shown.err, "progress=True should draw a bar (on stderr)"

    T.fit(small_vae(), data, epochs=1, progress=False)
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""

    monkeypatch.setenv("CI", "true")
    T.fit(small_vae(), data, epochs=1)  # progress=None: decided by CI
    ci = capsys.readouterr()
    assert ci.err == "" and ci.out == ""
    assert T.progress_enabled(None) is False
    monkeypatch.setenv("CI", "")
    assert T.progress_enabled(None) is True
    monkeypatch.setenv("VAE_COURSE_PROGRESS", "0")  # what the test suite sets for nbval's kernels
    assert T.progress_enabled(None) is False
    assert T.progress_enabled(True) is True, "an explicit progress=True wins"


def test_free_bits_loss_floors_each_dimension_and_reports_the_true_kl(tiny):
    model, x = small_vae(), tiny.images[:32]
    torch.manual_seed(1)
    plain = T.vae_loss(model, x, beta=2.0)
    torch.manual_seed(1)
    free = T.free_bits_loss(model, x, beta=2.0, free_bits=0.0)
    assert set(free) == {"loss", "recon", "kl"}
    for key in free:
        assert torch.allclose(free[key], plain[key], rtol=1e-5)
    torch.manual_seed(1)
    floored = T.free_bits_loss(model, x, beta=2.0, free_bits=100.0)  # every dimension below the floor
    assert torch.allclose(floored["loss"], floored["recon"] + 2.0 * 100.0 * 4)
    assert torch.allclose(floored["kl"], plain["kl"], rtol=1e-5)


def test_annealed_vae_loss_warms_beta_up_over_training_steps_only(tiny):
    model, x = small_vae(), tiny.images[:16]
    loss_fn = T.annealed_vae_loss(2.0, warmup_steps=4)
    model.train()
    betas = [loss_fn(model, x)["beta"] for _ in range(3)]
    model.eval()
    assert loss_fn(model, x)["beta"] == pytest.approx(1.5)  # evaluation batches do not advance the warm-up
    model.train()
    betas += [loss_fn(model, x)["beta"] for _ in range(3)]
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert T.annealed_vae_loss(3.0, warmup_steps=0)(model, x)["beta"] == 3.0  # no warm-up


def test_nan_guard_names_the_problem(tiny):
    def nan_loss(model, x):
        logits, mu, logvar = model(x)
        return {"loss": logits.sum() * float("nan")}

    with pytest.raises(TrainingDiverged) as info:
        T.fit(small_vae(), tiny.images[:64], epochs=1, lr=1e-3, loss_fn=nan_loss, progress=False)
    message = str(info.value)
    assert "nan" in message and "epoch 1, batch 1" in message
    assert "smaller learning rate" in message and "lr=0.0001" in message


def test_nan_guard_fires_on_a_huge_learning_rate(tiny):
    model = small_vae()
    with pytest.raises(TrainingDiverged, match="diverged"):
        T.fit(model, tiny, epochs=5, batch_size=32, lr=1e6, progress=False)


# --------------------------------------------------------------------------- evaluation helpers

def test_evaluate_and_elbo_per_image(tiny):
    model = small_vae().train()
    state = torch.get_rng_state()
    a = T.elbo_per_image(model, tiny, samples=2, seed=0)
    b = T.elbo_per_image(model, tiny, samples=2, seed=0)
    assert a == b and a > 0, "negative ELBO in nats per image, reproducible for a seed"
    assert torch.equal(torch.get_rng_state(), state), "elbo_per_image must not disturb the global RNG"
    assert model.training, "the mode is restored"
    model.eval()
    result = T.evaluate(model, tiny)
    assert set(result) == {"loss", "recon", "kl"} and not model.training
    assert result["loss"] < T.elbo_per_image(model, tiny, samples=4), "the mean-code loss sits below the -ELBO"
    assert T.nats_to_bits(math.log(2)) == pytest.approx(1.0)
