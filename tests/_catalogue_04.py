"""Catalogue answers of notebook 04 for the gaps closed in issue 22 (Exercises 4.3 and 4.4).

``CONV_WRONG`` / ``CONV_CORRECT`` (4.4) and ``LOOP_WRONG`` / ``LOOP_CORRECT`` (4.3) are merged into the
catalogue of ``tests/test_checks_building.py``, where the rest of those exercises' answers live: a
convolutional VAE without the ReLU between two layers (the whole map is still nonlinear, so only the
layer-by-layer test sees it), the raw shape errors of convolutions (each now named), noise broadcast
over the latent dimensions; a validation score averaged over batch means when the last batch is
partial, and a loop that reads the step's numbers with ``.item()`` (the contract allows floats).
"""

from __future__ import annotations

import torch
from torch import nn

from vae_course import losses


# --------------------------------------------------------------------------- 4.4 MyConvVAE


class Conv(nn.Module):
    """The contract's convolutional VAE, layer by layer; each answer below changes one thing."""

    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__()
        c = self.c = channels
        self.latent_dim = latent_dim
        self.conv1, self.conv2 = nn.Conv2d(1, c, 4, 2, 1), nn.Conv2d(c, 2 * c, 4, 2, 1)
        self.fc = nn.Linear(2 * c * 49, hidden_dim)
        self.fc_mu, self.fc_logvar = nn.Linear(hidden_dim, latent_dim), nn.Linear(hidden_dim, latent_dim)
        self.fc_dec1, self.fc_dec2 = nn.Linear(latent_dim, hidden_dim), nn.Linear(hidden_dim, 2 * c * 49)
        self.up1, self.up2 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ConvTranspose2d(c, 1, 4, 2, 1)

    def images(self, x):
        return x.reshape(-1, 1, 28, 28)

    def down(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(self.images(x)))))

    def encode(self, x):
        h = torch.relu(self.fc(self.down(x).flatten(1)))
        return self.fc_mu(h), self.fc_logvar(h)

    def noise(self, mu):
        return torch.randn_like(mu)

    def reparameterize(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * self.noise(mu) if self.training else mu

    def unflatten(self, h):
        return h.reshape(-1, 2 * self.c, 7, 7)

    def up(self, h):
        return self.up2(torch.relu(self.up1(h)))

    def decode(self, z):
        h = torch.relu(self.fc_dec2(torch.relu(self.fc_dec1(z))))
        return self.up(self.unflatten(h)).flatten(1)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def _variant(**methods):
    return type("ConvVariant", (Conv,), methods)


class ConvInPlaceReLU(Conv):
    """Correct: nn.ReLU(inplace=True) after each convolution (nothing else reads the pre-activations)."""

    def down(self, x):
        relu = nn.ReLU(inplace=True)
        return relu(self.conv2(relu(self.conv1(self.images(x)))))


class ConvLeaky(Conv):
    """Correct in behaviour: LeakyReLU between the layers (the nonlinearity is not graded, its presence is)."""

    def up(self, h):
        return self.up2(nn.functional.leaky_relu(self.up1(h), 0.1))


CONV_WRONG = {
    "no ReLU between the two convolutions": (_variant(down=lambda self, x: torch.relu(self.conv2(self.conv1(
        self.images(x))))), "missing-nonlinearity-between-layers"),
    "no ReLU between the transposed convolutions": (_variant(up=lambda self, h: self.up2(self.up1(h))),
                                                    "missing-nonlinearity-between-layers"),
    "no ReLU before the transposed convolutions": (_variant(decode=lambda self, z: self.up(self.unflatten(
        self.fc_dec2(torch.relu(self.fc_dec1(z))))).flatten(1)), "missing-nonlinearity-between-layers"),
    "unflattened to 14x14": (_variant(unflatten=lambda self, h: h.reshape(len(h), 2 * self.c, 14, 14)),
                             "reshape-size-mismatch"),
    "unflattened to c channels": (_variant(unflatten=lambda self, h: h.reshape(-1, self.c, 7, 7)),
                                  "channel-count-mismatch"),
    "flat images into the convolution": (_variant(images=lambda self, x: x.reshape(len(x), -1)),
                                         "flat-input-to-a-convolution"),
    "noise (B, 1) broadcast over the dimensions": (_variant(noise=lambda self, mu: torch.randn(len(mu), 1)),
                                                   "noise-shared-across-dims"),
}
CONV_CORRECT = {"layer by layer": Conv, "in-place ReLU": ConvInPlaceReLU, "leaky ReLU": ConvLeaky}


# --------------------------------------------------------------------------- 4.3 train_vae


def training_step(model, optimizer, x):  # the loops below call it; the check puts the reference in its place
    raise NotImplementedError


def _loop(validate, read=float):
    """A correct loop except for its validation score ``validate(model, val_images, batch_size)`` and how it
    reads the numbers of training_step (``read``)."""

    def train_vae(model, optimizer, train_images, val_images, epochs, batch_size):
        history = {"train": [], "val": []}
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(train_images))
            steps = [training_step(model, optimizer, train_images[order[i:i + batch_size]])
                     for i in range(0, len(train_images), batch_size)]
            history["train"].append(sum(read(s["loss"]) for s in steps) / len(steps))
            model.eval()
            with torch.no_grad():
                history["val"].append(float(validate(model, val_images, batch_size)))
        return history

    return train_vae


def _scores(model, x):
    logits, mu, logvar = model(x)
    return -losses.bernoulli_log_likelihood(logits, x) + losses.gaussian_kl(mu, logvar)


def _mean_of_batch_means(model, val_images, batch_size):
    means = [_scores(model, chunk).mean() for chunk in val_images.split(batch_size)]
    return sum(means) / len(means)


def _weighted_batches(model, val_images, batch_size):
    return sum(_scores(model, chunk).sum() for chunk in val_images.split(batch_size)) / len(val_images)


LOOP_WRONG = {
    "val: mean of the batch means": (_loop(_mean_of_batch_means), "val-mean-of-batch-means"),
    "reads the step's numbers with .item()": (_loop(lambda m, x, b: _scores(m, x).mean(), read=lambda v: v.item()),
                                              "step-values-read-with-item"),
}
LOOP_CORRECT = {"validation in batches, weighted": _loop(_weighted_batches),
                "torch.as_tensor(...).item()": _loop(lambda m, x, b: _scores(m, x).mean(),
                                                     read=lambda v: torch.as_tensor(v).item())}
