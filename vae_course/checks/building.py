"""Checks of the exercises where students build the VAE itself: the MLP module (3.3) and the convolutional one (4.4).

Both follow the contract of :mod:`vae_course.models` (``_VAEBase``): ``encode(x) -> (mu, logvar)``,
``reparameterize(mu, logvar) -> z`` (a sample in training mode, ``mu`` in eval mode), ``decode(z) ->
logits (B, 784)``, ``forward(x) -> (logits, mu, logvar)``, and an attribute ``latent_dim``, so
``train.fit``, ``evaluate`` and the plotting helpers take the student's model as they take the course's.
The checks test behaviour, never source (:func:`~vae_course.checks._vae_class.check_vae_class`); the
course's own classes are the references, so an answer that extends or calls them scores 0.
"""

from __future__ import annotations

import torch

from .. import models
from ._run import exercise
from ._vae_class import PIXELS, check_vae_class, run

# --------------------------------------------------------------------------- 3.3 the MLP VAE


def mlp_parameters(config: dict) -> int:
    """Parameters of 784 -> hidden (ReLU) -> two heads hidden -> latent; latent -> hidden (ReLU) -> 784."""
    d, h, k = config.get("input_dim", PIXELS), config["hidden_dim"], config["latent_dim"]
    return (d * h + h) + 2 * (h * k + k) + (k * h + h) + (h * d + d)


@exercise("3.3", "03_reparameterization", "MyVAE", points=4, title="the VAE as an nn.Module",
          contract="class MyVAE(nn.Module), MyVAE(input_dim=784, hidden_dim=400, latent_dim=20): encoder "
                   "Linear(input_dim, hidden_dim) + ReLU, two heads Linear(hidden_dim, latent_dim) for mu and logvar (or one "
                   "Linear(hidden_dim, 2 * latent_dim) split in halves, mu first: the same function and parameters); "
                   "decoder Linear(latent_dim, hidden_dim) + ReLU + Linear(hidden_dim, input_dim); attribute latent_dim; "
                   "encode(x: (B, 784)) -> (mu, logvar) each (B, D); reparameterize(mu, logvar) -> z: a sample "
                   "mu + exp(logvar / 2) * eps in training mode, mu in eval mode; decode(z) -> logits (B, 784); "
                   "forward(x) -> (logits, mu, logvar)",
          delegates=[models.VAE.encode, models.VAE.decode, models.MLPVAE.encode, models.MLPVAE.decode,
                     models._VAEBase.reparameterize, models._VAEBase.forward],
          verified="`(logits, mu, logvar)` shaped right for several B and D; z sampled in training mode, mu in eval; "
                   "gradients reach every parameter; the specified layers; it learns.")
def MyVAE(cls, check):
    check_vae_class(check, [dict(input_dim=PIXELS, hidden_dim=32, latent_dim=3),
                            dict(input_dim=PIXELS, hidden_dim=16, latent_dim=5)],
                    mlp_parameters, "Linear(784, hidden) + ReLU; Linear(hidden, latent) for mu and another for logvar "
                                    "(or one Linear(hidden, 2 * latent) split in two); "
                                    "Linear(latent, hidden) + ReLU; Linear(hidden, 784)")


# --------------------------------------------------------------------------- 4.4 the convolutional VAE


def conv_parameters(config: dict) -> int:
    """Parameters of :class:`vae_course.models.ConvVAE` with this config."""
    c, h, k = config["channels"], config["hidden_dim"], config["latent_dim"]
    flat = 2 * c * 7 * 7
    encoder = (16 * c + c) + (16 * c * 2 * c + 2 * c) + (flat * h + h) + 2 * (h * k + k)
    decoder = (k * h + h) + (h * flat + flat) + (16 * 2 * c * c + c) + (16 * c + 1)
    return encoder + decoder


def _image_shapes(x: torch.Tensor) -> list[torch.Tensor]:
    return [x, x.reshape(-1, 1, 28, 28)]


@exercise("4.4", "04_training_a_vae", "MyConvVAE", points=4, title="a convolutional VAE",
          contract="class MyConvVAE(nn.Module), MyConvVAE(latent_dim=20, channels=32, hidden_dim=256): encoder "
                   "Conv2d(1, c, 4, stride 2, padding 1) + ReLU -> (B, c, 14, 14), Conv2d(c, 2c, 4, 2, 1) + ReLU -> "
                   "(B, 2c, 7, 7), flatten, Linear(2c*7*7, hidden) + ReLU, heads Linear(hidden, latent) for mu and "
                   "logvar (or one head of 2 * latent split in halves); decoder Linear(latent, hidden) + ReLU, Linear(hidden, 2c*7*7) + ReLU, ConvTranspose2d(2c, c, "
                   "4, 2, 1) + ReLU, ConvTranspose2d(c, 1, 4, 2, 1) -> logits flattened to (B, 784); x is (B, 784) or "
                   "(B, 1, 28, 28); the methods and modes of Exercise 3.3",
          delegates=[models.ConvVAE.encode, models.ConvVAE.decode, models._VAEBase.reparameterize,
                     models._VAEBase.forward],
          verified="`(logits, mu, logvar)` for (B, 784) and (B, 1, 28, 28) images and several sizes; sampling and eval "
                   "modes; gradients everywhere; the specified layers; it learns.")
def MyConvVAE(cls, check):
    check_vae_class(check, [dict(latent_dim=3, channels=4, hidden_dim=16),
                            dict(latent_dim=5, channels=2, hidden_dim=8)],
                    conv_parameters, "Conv2d(1, c, 4, 2, 1), Conv2d(c, 2c, 4, 2, 1), Linear(2c*7*7, hidden), two heads "
                                     "Linear(hidden, latent); Linear(latent, hidden), Linear(hidden, 2c*7*7), "
                                     "ConvTranspose2d(2c, c, 4, 2, 1), ConvTranspose2d(c, 1, 4, 2, 1)",
                    inputs=_image_shapes)


__all__ = ["MyConvVAE", "MyVAE", "check_vae_class", "conv_parameters", "mlp_parameters", "run"]
