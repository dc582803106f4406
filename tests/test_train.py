"""Tests for vae_course.train: seeds, devices, fit, the NaN guard, checkpoints and the model cache.

Training here is tiny (a few hundred images, one or two epochs, small models) so the file stays fast.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_course import train as T
from vae_course.data import load_mnist
from vae_course.models import VAE, Autoencoder, ConvVAE
from vae_course.train import History, TrainingDiverged


@pytest.fixture(scope="module")
def tiny():
    """200 embedded validation images (grey levels): enough to see a loss go down."""
    val = load_mnist("val", verbose=False)
    return val.subset(torch.arange(200))


@pytest.fixture(scope="module")
def micro(tiny):
    """64 images: one batch per epoch, for the cache tests."""
    return tiny.subset(torch.arange(64))


def small_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(hidden_dim=64, latent_dim=4)


def rng_draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


def same_draws(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


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


# --------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("make", [lambda: small_vae(),
                                  lambda: Autoencoder(hidden_dim=16, latent_dim=2),
                                  lambda: ConvVAE(latent_dim=2, channels=4, hidden_dim=8)],
                         ids=["VAE", "Autoencoder", "ConvVAE"])
def test_checkpoint_round_trip(tmp_path, make):
    model = make()
    history = History(train={"loss": [3.0, 2.0]}, val={"loss": [3.5, 2.5]})
    path = T.save_checkpoint(model, tmp_path / "sub" / "model.pt", history=history, note="hello")
    payload = torch.load(path, map_location="cpu", weights_only=True)  # safe loading works
    assert payload["model_class"] == type(model).__name__ and payload["config"] == model.config
    assert payload["meta"] == {"note": "hello"}

    loaded, loaded_history = T.load_checkpoint(path, with_history=True)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training
    assert loaded_history.train == history.train and loaded_history.val == history.val
    x = torch.rand(3, 784, generator=torch.Generator().manual_seed(0))
    model.eval()
    out_a, out_b = model(x), loaded(x)
    out_a = out_a if isinstance(out_a, tuple) else (out_a,)
    out_b = out_b if isinstance(out_b, tuple) else (out_b,)
    for a, b in zip(out_a, out_b):
        assert torch.equal(a, b)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"], "no temporary files left"


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    T.save_checkpoint(small_vae(0), path)
    good = path.read_bytes()

    def crash_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. the student interrupts the kernel while saving

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        T.save_checkpoint(small_vae(1), path)
    assert path.read_bytes() == good, "an interrupted save must not touch the existing file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], "the temporary file is cleaned up"
    monkeypatch.undo()
    T.load_checkpoint(path)


def test_load_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        T.load_checkpoint(tmp_path / "missing.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ValueError, match="not a readable vae-course checkpoint"):
        T.load_checkpoint(garbage)

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable vae-course checkpoint"):
        T.load_checkpoint(empty)

    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="no known model_class"):
        T.load_checkpoint(other)

    mismatched = tmp_path / "mismatched.pt"
    T.save_checkpoint(small_vae(), mismatched)
    payload = torch.load(mismatched, weights_only=True)
    payload["config"]["latent_dim"] = 7  # the weights no longer fit the architecture
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="does not match"):
        T.load_checkpoint(mismatched)


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model_class": "VAE", "config": {}, "state_dict": {}, "payload": History()}, evil)
    with pytest.raises(ValueError, match="not a readable"):
        T.load_checkpoint(evil)  # weights_only=True refuses arbitrary objects


# --------------------------------------------------------------------------- cached_fit

def test_cache_dir_follows_the_environment(monkeypatch, tmp_path, course_dirs):
    assert T.cache_dir() == course_dirs.cache
    monkeypatch.setenv("VAE_COURSE_CACHE", "")
    assert T.cache_dir() == Path.home() / ".cache" / "vae-course", "an empty variable means the default"
    monkeypatch.delenv("VAE_COURSE_CACHE")
    assert T.cache_dir() == Path.home() / ".cache" / "vae-course"


@pytest.fixture
def fit_calls(monkeypatch):
    """Count the real trainings cached_fit does."""
    calls = []
    real_fit = T.fit

    def counting_fit(*args, **kwargs):
        calls.append(kwargs)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(T, "fit", counting_fit)
    return calls


def test_cached_fit_trains_once_then_loads(micro, fit_calls, course_dirs):
    model_a, history_a = T.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    after_training = rng_draws()
    assert len(fit_calls) == 1
    files = list((course_dirs.cache / "models").glob("tiny-*.pt"))
    assert len(files) == 1, "the model is cached under $VAE_COURSE_CACHE/models"

    model_b, history_b = T.cached_fit("tiny", small_vae(9), micro, epochs=1, batch_size=64, progress=False)
    after_loading = rng_draws()
    assert len(fit_calls) == 1, "the second call must load, not train"
    assert history_b.train == history_a.train
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)
    assert not model_b.training
    assert same_draws(after_training, after_loading), "RNG state must not depend on whether the cache was warm"


def test_cached_fit_result_depends_on_the_key_not_on_the_initial_weights(micro, fit_calls, course_dirs,
                                                                        monkeypatch, tmp_path):
    """Two notebooks asking for the same model must get the same weights, whichever trained it first."""
    model_a, _ = T.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "another-cache"))    # a cold cache: train again
    model_b, _ = T.cached_fit("tiny", small_vae(9), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 2
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)


def test_cached_fit_does_not_reuse_models_trained_by_an_older_recipe(micro, fit_calls, monkeypatch):
    """A cache filled before cached_fit changed how it trains must not answer for the new code."""
    common = dict(epochs=1, batch_size=64, progress=False)
    current = T.CACHE_RECIPE_VERSION
    monkeypatch.setattr(T, "CACHE_RECIPE_VERSION", current - 1)
    T.cached_fit("tiny", small_vae(), micro, **common)
    monkeypatch.setattr(T, "CACHE_RECIPE_VERSION", current)
    T.cached_fit("tiny", small_vae(), micro, **common)
    assert len(fit_calls) == 2
    T.cached_fit("tiny", small_vae(), micro, **common)       # same version again: loads
    assert len(fit_calls) == 2


def test_cached_fit_different_arguments_train_again(micro, fit_calls):
    common = dict(batch_size=64, progress=False)
    T.cached_fit("tiny", small_vae(), micro, epochs=1, **common)
    T.cached_fit("tiny", small_vae(), micro, epochs=2, **common)                       # another fit argument
    T.cached_fit("tiny", small_vae(), micro, epochs=1, seed=1, **common)               # another seed
    T.cached_fit("tiny", small_vae(), micro.subset(torch.arange(50)), epochs=1, **common)  # other data
    T.cached_fit("tiny", VAE(hidden_dim=64, latent_dim=3), micro, epochs=1, **common)  # another config
    T.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=True)   # progress: same entry
    assert len(fit_calls) == 5


def test_cached_fit_tells_tensors_and_loss_functions_apart(micro, fit_calls, course_dirs):
    common = dict(epochs=1, batch_size=64, progress=False)
    ones, zeros = micro.images, 1 - micro.images
    T.cached_fit("t", small_vae(), ones, **common)
    T.cached_fit("t", small_vae(), zeros, **common)  # same shape, other content
    assert len(fit_calls) == 2

    def beta_loss(beta):
        return lambda model, x: T.vae_loss(model, x, beta=beta)

    T.cached_fit("b", small_vae(), ones, loss_fn=beta_loss(4.0), **common)
    T.cached_fit("b", small_vae(), ones, loss_fn=beta_loss(0.5), **common)     # same lambda, other beta
    T.cached_fit("b", small_vae(), ones, loss_fn=functools.partial(T.vae_loss, beta=4.0), **common)
    T.cached_fit("b", small_vae(), ones, loss_fn=functools.partial(T.vae_loss, beta=4.0), **common)  # loads
    assert len(fit_calls) == 5
    keys = [torch.load(p, weights_only=True)["meta"]["key"] for p in (course_dirs.cache / "models").glob("b-*.pt")]
    assert len(keys) == 3
    assert all(" at 0x" not in json.dumps(key) for key in keys), "cache keys must not contain memory addresses"


def test_cached_fit_replaces_a_broken_cache_file(micro, fit_calls, course_dirs):
    T.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=False)
    (path,) = (course_dirs.cache / "models").glob("tiny-*.pt")
    path.write_bytes(b"truncated")
    model, history = T.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 2 and history.epochs == 1
    T.load_checkpoint(path)  # rewritten with a good checkpoint


def test_cached_fit_loads_a_shipped_model_when_the_cache_is_cold(micro, fit_calls, course_dirs, monkeypatch,
                                                                  tmp_path):
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(T, "SHIPPED_MODELS", shipped)
    trained, _ = T.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    shipped.mkdir()
    for path in (course_dirs.cache / "models").glob("tiny-*.pt"):
        path.rename(shipped / path.name)                       # as scripts/run_notebooks.py --ship does
    monkeypatch.setenv("VAE_COURSE_REQUIRE_SHIPPED", "1")      # as the notebook tests run
    loaded, history = T.cached_fit("tiny", small_vae(5), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 1, "the shipped model is loaded, not trained again"
    assert history.epochs == 1
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b), "trained and shipped give identical weights (both rounded to float16)"
    with pytest.raises(T.ModelNotShipped, match="run_notebooks.py --ship"):
        T.cached_fit("tiny", small_vae(), micro, epochs=2, batch_size=64, progress=False)  # a changed recipe
    assert len(fit_calls) == 1


def test_cached_fit_stores_float16_and_rounds_the_trained_model_the_same_way(micro, course_dirs):
    model, _ = T.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    (path,) = (course_dirs.cache / "models").glob("tiny-*.pt")
    stored = torch.load(path, weights_only=True)["state_dict"]
    assert {v.dtype for v in stored.values()} == {torch.float16}
    for name, value in model.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, stored[name].float())


def test_cached_fit_keys_notebook_functions_by_their_source_not_bytecode(micro, course_dirs):
    """Python versions compile the same source to different bytecode; shipped models must still match."""
    namespace = {}
    exec(compile("def loss(model, x):\n    return None\n", "<cell>", "exec"), namespace)  # no source available
    source_less = T._fingerprint(namespace["loss"])
    assert source_less["code"] == hashlib.sha256(namespace["loss"].__code__.co_code).hexdigest()[:16]
    keyed = T._fingerprint(T.vae_loss)
    assert keyed["code"] == hashlib.sha256(inspect.getsource(T.vae_loss).encode()).hexdigest()[:16]


def test_cached_fit_trains_once_when_two_processes_ask_at_once(course_dirs, tmp_path):
    """Parallel test workers share the cache: one trains, the other waits for the lock and loads."""
    script = tmp_path / "ask.py"
    script.write_text(
        "import torch, sys\n"
        "from vae_course import train as T\n"
        "from vae_course.models import VAE\n"
        "calls = []\n"
        "real = T.fit\n"
        "T.fit = lambda *a, **k: (calls.append(1), real(*a, **k))[1]\n"
        "x = torch.rand(256, 784, generator=torch.Generator().manual_seed(0))\n"
        "T.cached_fit('shared', VAE(hidden_dim=32, latent_dim=2), x, epochs=3, batch_size=64, progress=False)\n"
        "print(len(calls))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    trainings = sorted(int(w.communicate(timeout=120)[0].strip()) for w in workers)
    assert trainings == [0, 1], "exactly one process trains"
    assert len(list((course_dirs.cache / "models").glob("shared-*.pt"))) == 1


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
