"""Tests for vae_course.models.PixelCNNVAE, the autoregressive-decoder VAE of notebook 07."""

from __future__ import annotations

import pytest
import torch

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.models import MODELS, PixelCNNVAE
from vae_course.train import vae_loss


def small(seed: int = 0) -> PixelCNNVAE:
    torch.manual_seed(seed)
    return PixelCNNVAE(hidden_dim=16, latent_dim=3, channels=4, layers=3)


def batch(b: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 784, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_train_loss():
    model = small().train()
    logits, mu, logvar = model(batch())
    assert logits.shape == (4, 784) and mu.shape == logvar.shape == (4, 3)
    out = vae_loss(model, batch())
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_pixel_context_is_causal_in_raster_order():
    model = small().eval()
    x = batch(1).requires_grad_(True)
    for i in (0, 29, 400, 783):
        (grad,) = torch.autograd.grad(model.pixel_context(x)[0, i], x)
        assert grad[0, i:].abs().max() == 0, f"logit {i} sees pixel {i} or a later one"
    (grad,) = torch.autograd.grad(model.pixel_context(x)[0, 400], x)
    assert grad[0, 399] != 0 and grad[0, 400 - 28] != 0, "the left and upper neighbours must be seen"


def test_decode_depends_on_z_and_on_the_image():
    model = small().eval()
    x, z = batch(2), torch.randn(2, 3)
    assert not torch.allclose(model.decode(z, x), model.decode(torch.zeros_like(z), x))
    assert not torch.allclose(model.decode(z, x), model.decode(z, batch(2, seed=1)))


def test_checkpoint_round_trip_through_the_registry(tmp_path):
    assert MODELS["PixelCNNVAE"] is PixelCNNVAE
    model = small().eval()
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
    x = batch()
    assert torch.equal(model(x)[0], loaded(x)[0])
    assert not any(name.startswith("mask") for name in model.state_dict()), "masks are rebuilt, not stored"


def test_sampling_is_refused_with_a_reason():
    with pytest.raises(NotImplementedError, match="784"):
        small().sample(2)


def test_decode_is_code_logits_plus_pixel_context():
    model = small().eval()
    x, z = batch(2), torch.randn(2, 3)
    assert torch.allclose(model.decode(z, x), model.code_logits(z) + model.pixel_context(x))
