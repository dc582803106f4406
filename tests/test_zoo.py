"""The shipped reference VAE (vae_course.zoo): it loads safely and scores what benchmarks/README.md says.

Scores are single-sample negative ELBOs in nats per image (``vae_course.train.elbo_per_image``, seed 0)
on grey-level images, exactly as ``benchmarks/benchmark_vae.py`` and ``benchmarks/train_reference.py``
compute them; the shipped checkpoint is deterministic, so the numbers must match its recorded ones.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch

from vae_course import data as vdata
from vae_course import zoo
from vae_course.evaluation import importance_sampled_nll
from vae_course.models import DeepConvVAE
from vae_course.checkpoints import load_checkpoint
from vae_course.train import elbo_per_image

REPO = Path(__file__).resolve().parents[1]
# Issue 5 asks for <= 100 nats on the official test split (benchmarks/README.md, "Model quality").
# The validation bound pins what the shipped model reaches, so a worse checkpoint or a change in
# scoring fails here even where the official split is absent.
OFFICIAL_BOUND_NATS = 100.0   # the target; measured 99.28 nats on the 10,000 official test images
VAL_BOUND_NATS = 98.5         # measured 97.84 nats on the 500 embedded validation images
MAX_BYTES = 5_000_000      # "small": the checkpoint ships inside the package


@pytest.fixture(scope="module")
def model():
    return zoo.load_reference_vae(device="cpu")


@pytest.fixture(scope="module")
def info():
    return zoo.reference_vae_info()


def test_checkpoint_is_small_safe_and_packaged():
    path = zoo.reference_checkpoint_path()
    assert path.parent.name == "pretrained" and path.parent.parent.name == "vae_course"
    assert path.stat().st_size < MAX_BYTES
    payload = torch.load(path, map_location="cpu", weights_only=True)   # no pickled code
    assert payload["model_class"] == "DeepConvVAE"
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "pretrained/*.pt" in patterns["vae_course"], "the checkpoint must be installed with the package"


def test_load_reference_vae_gives_a_working_model_in_eval_mode(model):
    assert isinstance(model, DeepConvVAE) and not model.training
    x = vdata.load_mnist("val", source="embedded", verbose=False).images[:8]
    logits, mu, logvar = model(x)
    assert logits.shape == (8, 784) and mu.shape == logvar.shape == (8, model.latent_dim)
    assert torch.equal(mu, model.encode(x)[0])             # eval mode: z = mu
    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, 784) and samples.min() >= 0 and samples.max() <= 1
    # the same file through the generic loader gives the same weights
    other = load_checkpoint(zoo.reference_checkpoint_path(), device="cpu")
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_info_records_how_it_was_made(info):
    assert info["model_class"] == "DeepConvVAE" and info["parameters"] > 100_000
    assert info["seed"] == 0 and "train_reference.py" in info["command"]
    assert info["epochs"] > 0 and info["train_seconds"]["cpu"] > 0
    assert {"val", "train"} <= set(info["scores"])


def test_validation_score_matches_the_record(model, info):
    val = vdata.load_mnist("val", source="embedded", verbose=False)
    nats = elbo_per_image(model, val, seed=0, device="cpu")
    assert nats == pytest.approx(info["scores"]["val"], abs=0.05)
    assert nats <= VAL_BOUND_NATS
    # it generalises: the validation score is within a few nats of the training score
    assert info["scores"]["val"] - info["scores"]["train"] < 5


def test_official_test_score_meets_the_target(model, info):
    folder = vdata.default_official_test_dir()
    if folder is None:
        pytest.skip("the official MNIST test split (../shared/data/mnist-test) is not here")
    test = vdata.load_official_test(folder, verbose=False)
    nats = elbo_per_image(model, test, seed=0, device="cpu")
    assert nats == pytest.approx(info["scores"]["official_test"], abs=0.05)
    assert nats <= OFFICIAL_BOUND_NATS


def test_importance_sampled_nll_is_below_the_elbo(model):
    x = vdata.load_mnist("val", source="embedded", verbose=False).images[:100]
    elbo = elbo_per_image(model, x, seed=0, device="cpu")
    iwae = importance_sampled_nll(model, x, k=100, seed=0)
    assert iwae < elbo - 1.0       # K=100 tightens the bound by more than a nat here
    assert iwae > elbo - 20.0      # ... but not absurdly: the ELBO gap of a decent VAE is a few nats
