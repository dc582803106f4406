"""Tests for vae_course.models: shapes, input layouts, train/eval behaviour, sampling, configs."""

from __future__ import annotations

import pytest
import torch

from vae_course.models import MODELS, VAE, Autoencoder, ConvVAE, DeepConvVAE, MLPVAE

SMALL = {  # small but real configurations, so the tests stay fast
    Autoencoder: dict(hidden_dim=32, latent_dim=3),
    VAE: dict(hidden_dim=32, latent_dim=3),
    ConvVAE: dict(latent_dim=3, channels=4, hidden_dim=16),
    DeepConvVAE: dict(latent_dim=3, channels=4, hidden_dim=16, fine=2),
}
VAES = [VAE, ConvVAE, DeepConvVAE]


def make(cls, seed: int = 0):
    torch.manual_seed(seed)
    return cls(**SMALL[cls])


def batch(b: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 784, generator=torch.Generator().manual_seed(seed))


def test_vae_default_is_the_classic_784_400_20():
    model = VAE()
    assert model.fc_hidden.in_features == 784 and model.fc_hidden.out_features == 400
    assert model.fc_mu.in_features == 400 and model.fc_mu.out_features == 20
    assert model.fc_logvar.in_features == 400 and model.fc_logvar.out_features == 20
    assert model.fc_decode_out.out_features == 784
    assert model.latent_dim == 20
    assert model.config == dict(input_dim=784, hidden_dim=400, latent_dim=20)


def test_autoencoder_shapes():
    model = make(Autoencoder)
    x = batch()
    z = model.encode(x)
    assert z.shape == (5, 3)
    assert model.decode(z).shape == (5, 784)
    assert model(x).shape == (5, 784)
    assert torch.equal(model.reparameterize(z), z)


@pytest.mark.parametrize("cls", VAES)
def test_vae_shapes(cls):
    model = make(cls)
    logits, mu, logvar = model(batch())
    assert logits.shape == (5, 784)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(torch.zeros(2, 3)).shape == (2, 784)


@pytest.mark.parametrize("cls", [Autoencoder, VAE, ConvVAE, DeepConvVAE])
def test_accepts_flat_and_image_shaped_input(cls):
    model = make(cls).eval()
    x = batch(4)
    flat = model(x)
    square = model(x.reshape(4, 1, 28, 28))
    flat = flat if isinstance(flat, tuple) else (flat,)
    square = square if isinstance(square, tuple) else (square,)
    for a, b in zip(flat, square):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cls", VAES)
def test_train_mode_samples_z_and_eval_mode_uses_the_mean(cls):
    model = make(cls)
    x = batch()
    model.train()
    a, mu, logvar = model(x)
    b, mu2, _ = model(x)
    assert not torch.allclose(a, b), "training mode must sample z, so two passes differ"
    assert torch.allclose(mu, mu2), "the encoder itself is deterministic"

    model.eval()
    c, mu_eval, _ = model(x)
    d, _, _ = model(x)
    assert torch.equal(c, d), "eval mode must be deterministic"
    assert torch.allclose(c, model.decode(mu_eval)), "eval mode decodes the mean"
    assert torch.equal(model.reparameterize(mu_eval, torch.zeros_like(mu_eval)), mu_eval)


def test_reparameterize_has_the_right_statistics():
    model = make(VAE).train()
    mu = torch.full((20000, 2), 1.5)
    logvar = torch.full((20000, 2), 2 * torch.log(torch.tensor(0.5)).item())  # sigma = 0.5
    torch.manual_seed(0)
    z = model.reparameterize(mu, logvar)
    assert abs(float(z.mean()) - 1.5) < 0.02
    assert abs(float(z.std()) - 0.5) < 0.02
    # gradients flow to mu and logvar (the point of the trick)
    mu = mu[:10].clone().requires_grad_()
    logvar = logvar[:10].clone().requires_grad_()
    model.reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", [Autoencoder, VAE, ConvVAE, DeepConvVAE])
def test_sample_shape_range_and_generator(cls):
    model = make(cls).eval()
    out = model.sample(6)
    assert out.shape == (6, 784)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not out.requires_grad
    a = model.sample(3, generator=torch.Generator().manual_seed(7))
    b = model.sample(3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("cls", [Autoencoder, VAE, ConvVAE, DeepConvVAE])
def test_config_round_trip(cls):
    model = make(cls)
    config = model.config
    config["latent_dim"] = 99  # a copy: editing it must not change the model
    assert model.config["latent_dim"] == 3
    rebuilt = cls(**model.config)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())  # same architecture: the weights fit exactly
    x = batch(3)
    model.eval(), rebuilt.eval()
    out_a, out_b = model(x), rebuilt(x)
    out_a = out_a if isinstance(out_a, tuple) else (out_a,)
    out_b = out_b if isinstance(out_b, tuple) else (out_b,)
    for a, b in zip(out_a, out_b):
        assert torch.equal(a, b)


def test_models_registry_names_its_classes():
    for name in ("Autoencoder", "VAE", "ConvVAE", "DeepConvVAE"):
        assert MODELS[name].__name__ == name
    for cls in MODELS.values():
        assert isinstance(cls().config, dict), f"{cls.__name__} needs a config for checkpoints"


@pytest.mark.parametrize("cls", [Autoencoder, VAE, ConvVAE, DeepConvVAE])
def test_gradients_reach_every_parameter(cls):
    model = make(cls).train()
    out = model(batch())
    loss = out.sum() if isinstance(out, torch.Tensor) else out[0].sum() + out[1].sum() + out[2].sum()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_deep_conv_vae_decoder_works_at_full_resolution():
    """Its decoder ends with a 3x3 convolution on 28x28 maps: the receptive field of an output pixel
    covers its neighbours, so changing one 28x28 feature changes the logits of a 3x3 patch only."""
    model = make(DeepConvVAE).eval()
    last = model.deconv[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.kernel_size == (3, 3) and last.out_channels == 1
    features = torch.zeros(1, last.in_channels, 28, 28)
    base = last(features)
    features[0, 0, 10, 10] = 1.0
    changed = (last(features) - base).abs()[0, 0] > 0
    assert changed.sum() <= 9 and changed[9:12, 9:12].all()


def test_mlp_vae_activation_choice():
    """MLPVAE(hidden_dims=(400,)) is the classic's shape; activation="silu" swaps every ReLU for SiLU."""
    relu, silu = MLPVAE(), MLPVAE(activation="silu")
    assert sum(p.numel() for p in relu.parameters()) == sum(p.numel() for p in VAE().parameters())
    kinds = lambda m: {type(layer).__name__ for layer in m.modules() if not list(layer.children())}
    assert "ReLU" in kinds(relu) and "SiLU" not in kinds(relu)
    assert "SiLU" in kinds(silu) and "ReLU" not in kinds(silu)
    assert silu.config["activation"] == "silu"
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        MLPVAE(activation="tanh")
