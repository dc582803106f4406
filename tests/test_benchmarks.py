"""The training code behind benchmarks/benchmark_vae.py and benchmarks/train_reference.py.

The benchmark's numbers are only as good as this code: augmentation must move digits and nothing
else, the output-bias trick must reach the decoder's *last* layer, and recipe overrides from the
command line must parse or fail clearly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import benchmark_vae as bv  # noqa: E402
from vae_course.models import VAE, ConvVAE, DeepConvVAE  # noqa: E402


def digit_with_one_pixel(row: int, col: int) -> torch.Tensor:
    x = torch.zeros(1, 784)
    x[0, row * 28 + col] = 1.0
    return x


def test_random_shift_moves_each_image_by_its_own_offset_within_the_limit():
    x = digit_with_one_pixel(14, 14).repeat(500, 1)
    shifted = bv.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == (500, 784)
    assert torch.equal(shifted.sum(1), torch.ones(500))           # the pixel moved, nothing else appeared
    rows, cols = shifted.argmax(1) // 28 - 14, shifted.argmax(1) % 28 - 14
    assert rows.abs().max() == 2 and cols.abs().max() == 2          # every offset in [-2, 2], extremes reached
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25        # all 5 x 5 offsets occur


def test_random_shift_pads_with_background_and_zero_shift_is_identity():
    x = digit_with_one_pixel(0, 0).repeat(200, 1)                   # a pixel in the corner
    shifted = bv.random_shift(x, 1, torch.Generator().manual_seed(1))
    assert set(shifted.sum(1).tolist()) == {0.0, 1.0}               # shifted out of the image or kept, never wrapped
    assert shifted[:, 27 * 28 + 27].sum() == 0                      # no wrap-around to the far corner
    assert bv.random_shift(x, 0, torch.Generator()) is x


@pytest.mark.parametrize("cls", [VAE, ConvVAE, DeepConvVAE])
def test_output_bias_starts_the_decoder_at_the_mean_image(cls):
    torch.manual_seed(0)
    model = cls().eval()
    images = torch.rand(64, 784) * torch.linspace(0.05, 0.95, 784)
    bv.init_output_bias(model, images)
    with torch.no_grad():
        for module in model.modules():       # silence everything else: logits = the output bias alone
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.weight.zero_()
        probs = torch.sigmoid(model.decode(torch.zeros(1, model.latent_dim)))[0]
    mean = images.mean(0)
    if cls is VAE:       # one bias per pixel: exactly the mean image
        assert torch.allclose(probs, mean, atol=1e-5)
    else:                # one bias per output channel: the average logit, everywhere
        average_logit = torch.logit(mean.clamp(1e-3, 1 - 1e-3)).mean()
        assert torch.allclose(probs, torch.sigmoid(average_logit).expand(784), atol=1e-5)


def test_recipe_overrides_parse_types_and_reject_unknown_fields():
    recipe = bv.recipe_with(bv.COURSE, ["lr=5e-3", "max_shift=2", "fused_adam=true",
                                        'config={"latent_dim": 32}'])
    assert recipe.lr == 5e-3 and recipe.max_shift == 2 and recipe.fused_adam is True
    assert recipe.config == {"latent_dim": 32}
    with pytest.raises(SystemExit, match="unknown recipe field 'learning_rate'"):
        bv.recipe_with(bv.COURSE, ["learning_rate=1"])


def test_a_short_run_trains_and_returns_the_averaged_model_in_eval_mode():
    images = torch.rand(96, 784).round()
    recipe = bv.recipe_with(bv.COURSE, ['config={"hidden_dims": [32], "latent_dim": 4, "activation": "silu"}',
                                        "batch_size=32", "lr=3e-3"])
    run = bv.train(recipe, images, seed=0, epochs=3)
    assert run.epochs == 3 and len(run.history) == 3 and not run.model.training
    losses = [loss for loss, _, _ in run.history]
    assert losses[-1] < losses[0]
    again = bv.train(recipe, images, seed=0, epochs=3)     # same seed, same weights
    for a, b in zip(run.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
