"""vae_course.checkpoints: saving and loading models, and the model cache behind ``cached_fit``.

A checkpoint round-trips every model class and loads with ``weights_only=True`` (never running code);
``cached_fit`` trains once per recipe - its key covers model, data, seed and fit arguments - loads a
shipped model on a cold cache, and lets only one of two processes train the same recipe.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _training import rng_draws, same_draws, small_vae
from vae_course import checkpoints as C
from vae_course import train as T
from vae_course.data import load_mnist
from vae_course.models import VAE, Autoencoder, ConvVAE
from vae_course.train import History


@pytest.fixture(scope="module")
def micro():
    """64 embedded validation images: one batch per epoch."""
    return load_mnist("val", verbose=False).subset(torch.arange(64))


# --------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("make", [lambda: small_vae(),
                                  lambda: Autoencoder(hidden_dim=16, latent_dim=2),
                                  lambda: ConvVAE(latent_dim=2, channels=4, hidden_dim=8)],
                         ids=["VAE", "Autoencoder", "ConvVAE"])
def test_checkpoint_round_trip(tmp_path, make):
    model = make()
    history = History(train={"loss": [3.0, 2.0]}, val={"loss": [3.5, 2.5]})
    path = C.save_checkpoint(model, tmp_path / "sub" / "model.pt", history=history, note="hello")
    payload = torch.load(path, map_location="cpu", weights_only=True)  # safe loading works
    assert payload["model_class"] == type(model).__name__ and payload["config"] == model.config
    assert payload["meta"] == {"note": "hello"}

    loaded, loaded_history = C.load_checkpoint(path, with_history=True)
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
    C.save_checkpoint(small_vae(0), path)
    good = path.read_bytes()

    def crash_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. the student interrupts the kernel while saving

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(small_vae(1), path)
    assert path.read_bytes() == good, "an interrupted save must not touch the existing file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"], "the temporary file is cleaned up"
    monkeypatch.undo()
    C.load_checkpoint(path)


def test_load_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        C.load_checkpoint(tmp_path / "missing.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ValueError, match="not a readable vae-course checkpoint"):
        C.load_checkpoint(garbage)

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable vae-course checkpoint"):
        C.load_checkpoint(empty)

    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="no known model_class"):
        C.load_checkpoint(other)

    mismatched = tmp_path / "mismatched.pt"
    C.save_checkpoint(small_vae(), mismatched)
    payload = torch.load(mismatched, weights_only=True)
    payload["config"]["latent_dim"] = 7  # the weights no longer fit the architecture
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="does not match"):
        C.load_checkpoint(mismatched)


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model_class": "VAE", "config": {}, "state_dict": {}, "payload": History()}, evil)
    with pytest.raises(ValueError, match="not a readable"):
        C.load_checkpoint(evil)  # weights_only=True refuses arbitrary objects


# --------------------------------------------------------------------------- cached_fit

def test_cache_dir_follows_the_environment(monkeypatch, tmp_path, course_dirs):
    assert C.cache_dir() == course_dirs.cache
    monkeypatch.setenv("VAE_COURSE_CACHE", "")
    assert C.cache_dir() == Path.home() / ".cache" / "vae-course", "an empty variable means the default"
    monkeypatch.delenv("VAE_COURSE_CACHE")
    assert C.cache_dir() == Path.home() / ".cache" / "vae-course"


@pytest.fixture
def fit_calls(monkeypatch):
    """Count the real trainings cached_fit does."""
    calls = []
    real_fit = T.fit

    def counting_fit(*args, **kwargs):
        calls.append(kwargs)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(C, "fit", counting_fit)  # where cached_fit looks it up
    return calls


def test_cached_fit_trains_once_then_loads(micro, fit_calls, course_dirs):
    model_a, history_a = C.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    after_training = rng_draws()
    assert len(fit_calls) == 1
    files = list((course_dirs.cache / "models").glob("tiny-*.pt"))
    assert len(files) == 1, "the model is cached under $VAE_COURSE_CACHE/models"

    model_b, history_b = C.cached_fit("tiny", small_vae(9), micro, epochs=1, batch_size=64, progress=False)
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
    model_a, _ = C.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "another-cache"))    # a cold cache: train again
    model_b, _ = C.cached_fit("tiny", small_vae(9), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 2
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)


def test_cached_fit_does_not_reuse_models_trained_by_an_older_recipe(micro, fit_calls, monkeypatch):
    """A cache filled before cached_fit changed how it trains must not answer for the new code."""
    common = dict(epochs=1, batch_size=64, progress=False)
    current = C.CACHE_RECIPE_VERSION
    monkeypatch.setattr(C, "CACHE_RECIPE_VERSION", current - 1)
    C.cached_fit("tiny", small_vae(), micro, **common)
    monkeypatch.setattr(C, "CACHE_RECIPE_VERSION", current)
    C.cached_fit("tiny", small_vae(), micro, **common)
    assert len(fit_calls) == 2
    C.cached_fit("tiny", small_vae(), micro, **common)       # same version again: loads
    assert len(fit_calls) == 2


def test_cached_fit_different_arguments_train_again(micro, fit_calls):
    common = dict(batch_size=64, progress=False)
    C.cached_fit("tiny", small_vae(), micro, epochs=1, **common)
    C.cached_fit("tiny", small_vae(), micro, epochs=2, **common)                       # another fit argument
    C.cached_fit("tiny", small_vae(), micro, epochs=1, seed=1, **common)               # another seed
    C.cached_fit("tiny", small_vae(), micro.subset(torch.arange(50)), epochs=1, **common)  # other data
    C.cached_fit("tiny", VAE(hidden_dim=64, latent_dim=3), micro, epochs=1, **common)  # another config
    C.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=True)   # progress: same entry
    assert len(fit_calls) == 5


def test_cached_fit_tells_tensors_and_loss_functions_apart(micro, fit_calls, course_dirs):
    common = dict(epochs=1, batch_size=64, progress=False)
    ones, zeros = micro.images, 1 - micro.images
    C.cached_fit("t", small_vae(), ones, **common)
    C.cached_fit("t", small_vae(), zeros, **common)  # same shape, other content
    assert len(fit_calls) == 2

    def beta_loss(beta):
        return lambda model, x: T.vae_loss(model, x, beta=beta)

    C.cached_fit("b", small_vae(), ones, loss_fn=beta_loss(4.0), **common)
    C.cached_fit("b", small_vae(), ones, loss_fn=beta_loss(0.5), **common)     # same lambda, other beta
    C.cached_fit("b", small_vae(), ones, loss_fn=functools.partial(T.vae_loss, beta=4.0), **common)
    C.cached_fit("b", small_vae(), ones, loss_fn=functools.partial(T.vae_loss, beta=4.0), **common)  # loads
    assert len(fit_calls) == 5
    keys = [torch.load(p, weights_only=True)["meta"]["key"] for p in (course_dirs.cache / "models").glob("b-*.pt")]
    assert len(keys) == 3
    assert all(" at 0x" not in json.dumps(key) for key in keys), "cache keys must not contain memory addresses"


def test_cached_fit_replaces_a_broken_cache_file(micro, fit_calls, course_dirs):
    C.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=False)
    (path,) = (course_dirs.cache / "models").glob("tiny-*.pt")
    path.write_bytes(b"truncated")
    model, history = C.cached_fit("tiny", small_vae(), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 2 and history.epochs == 1
    C.load_checkpoint(path)  # rewritten with a good checkpoint


def test_cached_fit_loads_a_shipped_model_when_the_cache_is_cold(micro, fit_calls, course_dirs, monkeypatch,
                                                                  tmp_path):
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(C, "SHIPPED_MODELS", shipped)
    trained, _ = C.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    shipped.mkdir()
    for path in (course_dirs.cache / "models").glob("tiny-*.pt"):
        path.rename(shipped / path.name)                       # as scripts/run_notebooks.py --ship does
    monkeypatch.setenv("VAE_COURSE_REQUIRE_SHIPPED", "1")      # as the notebook tests run
    loaded, history = C.cached_fit("tiny", small_vae(5), micro, epochs=1, batch_size=64, progress=False)
    assert len(fit_calls) == 1, "the shipped model is loaded, not trained again"
    assert history.epochs == 1
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b), "trained and shipped give identical weights (both rounded to float16)"
    with pytest.raises(C.ModelNotShipped, match="run_notebooks.py --ship"):
        C.cached_fit("tiny", small_vae(), micro, epochs=2, batch_size=64, progress=False)  # a changed recipe
    assert len(fit_calls) == 1


def test_cached_fit_stores_float16_and_rounds_the_trained_model_the_same_way(micro, course_dirs):
    model, _ = C.cached_fit("tiny", small_vae(0), micro, epochs=1, batch_size=64, progress=False)
    (path,) = (course_dirs.cache / "models").glob("tiny-*.pt")
    stored = torch.load(path, weights_only=True)["state_dict"]
    assert {v.dtype for v in stored.values()} == {torch.float16}
    for name, value in model.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, stored[name].float())


def test_cached_fit_keys_notebook_functions_by_their_source_not_bytecode(micro, course_dirs):
    """Python versions compile the same source to different bytecode; shipped models must still match."""
    namespace = {}
    exec(compile("def loss(model, x):\n    return None\n", "<cell>", "exec"), namespace)  # no source available
    source_less = C._fingerprint(namespace["loss"])
    assert source_less["code"] == hashlib.sha256(namespace["loss"].__code__.co_code).hexdigest()[:16]
    keyed = C._fingerprint(T.vae_loss)
    assert keyed["code"] == hashlib.sha256(inspect.getsource(T.vae_loss).encode()).hexdigest()[:16]


def test_cached_fit_trains_once_when_two_processes_ask_at_once(course_dirs, tmp_path):
    """Parallel test workers share the cache: one trains, the other waits for the lock and loads."""
    script = tmp_path / "ask.py"
    script.write_text(
        "import torch, sys\n"
        "from vae_course import checkpoints as C\n"
        "from vae_course.models import VAE\n"
        "calls = []\n"
        "real = C.fit\n"
        "C.fit = lambda *a, **k: (calls.append(1), real(*a, **k))[1]\n"
        "x = torch.rand(256, 784, generator=torch.Generator().manual_seed(0))\n"
        "C.cached_fit('shared', VAE(hidden_dim=32, latent_dim=2), x, epochs=3, batch_size=64, progress=False)\n"
        "print(len(calls))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    trainings = sorted(int(w.communicate(timeout=120)[0].strip()) for w in workers)
    assert trainings == [0, 1], "exactly one process trains"
    assert len(list((course_dirs.cache / "models").glob("shared-*.pt"))) == 1
