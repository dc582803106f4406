"""Reference models: a plain autoencoder and VAEs (MLP, convolutional, conditional).

All models take images ``x: (B, 784)`` (or ``(B, 1, 28, 28)``) with pixels in
[0, 1] and their decoders return **logits** ``(B, 784)``: apply
``torch.sigmoid`` to get pixel probabilities. Every model has the same five
methods, so notebooks can swap one for another:

* ``encode(x)``                 -> ``z`` (autoencoder) or ``(mu, logvar)`` (VAEs), each ``(B, latent_dim)``
* ``reparameterize(mu, logvar)`` -> ``z`` - a sample in training mode, the mean ``mu`` in eval mode
* ``decode(z)``                 -> logits ``(B, 784)``
* ``forward(x)``                -> logits (autoencoder) or ``(logits, mu, logvar)`` (VAEs)
* ``sample(n)``                 -> pixel probabilities ``(n, 784)`` decoded from ``z ~ N(0, I)``
"""

from __future__ import annotations

import torch
from torch import nn

from .references import reference_implementation

IMAGE_PIXELS = 28 * 28


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class _Sampler:
    """``sample(n)`` shared by all models: decode codes drawn from the prior N(0, I)."""

    latent_dim: int

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes ``z ~ N(0, I)``; returns probabilities ``(n, 784)``."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))

    @property
    def config(self) -> dict:
        """Constructor arguments, so a checkpoint can rebuild the model."""
        return dict(self._config)


class Autoencoder(_Sampler, nn.Module):
    """A deterministic MLP autoencoder: 784 -> hidden -> latent -> hidden -> 784.

    It has no prior: ``sample(n)`` decodes N(0, I) codes only to show (notebook 01)
    that an autoencoder's latent space is not a generator.
    """

    def __init__(self, input_dim: int = IMAGE_PIXELS, hidden_dim: int = 400, latent_dim: int = 20):
        super().__init__()
        self._config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 784) in [0, 1] -> code z: (B, latent_dim)."""
        return self.encoder(_flatten(x))

    def reparameterize(self, z: torch.Tensor, logvar: torch.Tensor | None = None) -> torch.Tensor:
        """An autoencoder has no noise: the code is used as it is."""
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> logits (B, 784)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 784) -> reconstruction logits (B, 784)."""
        return self.decode(self.encode(x))


class _VAEBase(_Sampler, nn.Module):
    """encode/decode come from subclasses; the VAE logic lives here once."""

    @reference_implementation  # Exercise 3.3 asks students to write it: calling it there is delegation
    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) while training; z = mu in eval mode.

        mu, logvar: (B, latent_dim); sigma = exp(logvar / 2).
        """
        if not self.training:
            return mu
        eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * logvar) * eps

    @reference_implementation
    def forward(self, x: torch.Tensor):
        """x: (B, 784) -> (logits (B, 784), mu (B, latent_dim), logvar (B, latent_dim))."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


class VAE(_VAEBase):
    """The classic MLP VAE of the PyTorch example (784-400-20 by default), with readable names."""

    def __init__(self, input_dim: int = IMAGE_PIXELS, hidden_dim: int = 400, latent_dim: int = 20):
        super().__init__()
        self._config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.latent_dim = latent_dim
        self.fc_hidden = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc_decode_hidden = nn.Linear(latent_dim, hidden_dim)
        self.fc_decode_out = nn.Linear(hidden_dim, input_dim)

    @reference_implementation
    def encode(self, x: torch.Tensor):
        """x: (B, 784) -> mu, logvar: (B, latent_dim) of q(z|x) = N(mu, diag(exp(logvar)))."""
        h = torch.relu(self.fc_hidden(_flatten(x)))
        return self.fc_mu(h), self.fc_logvar(h)

    @reference_implementation
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> Bernoulli logits (B, 784) of p(x|z)."""
        return self.fc_decode_out(torch.relu(self.fc_decode_hidden(z)))


class ConvVAE(_VAEBase):
    """A small convolutional VAE: two stride-2 convolutions down, two transposed convolutions up.

    28x28 -> 14x14 (32 ch) -> 7x7 (64 ch) -> mu, logvar; the decoder mirrors it.
    """

    def __init__(self, latent_dim: int = 20, channels: int = 32, hidden_dim: int = 256):
        super().__init__()
        self._config = dict(latent_dim=latent_dim, channels=channels, hidden_dim=hidden_dim)
        self.latent_dim = latent_dim
        c = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.ReLU(),        # (B, c, 14, 14)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.ReLU(),    # (B, 2c, 7, 7)
            nn.Flatten(), nn.Linear(2 * c * 7 * 7, hidden_dim), nn.ReLU(),
        )
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc_decode = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(),
                                       nn.Linear(hidden_dim, 2 * c * 7 * 7), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, 14, 14)
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1),                 # (B, 1, 28, 28)
        )
        self._channels = c

    @reference_implementation
    def encode(self, x: torch.Tensor):
        """x: (B, 784) or (B, 1, 28, 28) -> mu, logvar: (B, latent_dim)."""
        h = self.conv(x.reshape(-1, 1, 28, 28))
        return self.fc_mu(h), self.fc_logvar(h)

    @reference_implementation
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> logits (B, 784)."""
        h = self.fc_decode(z).reshape(-1, 2 * self._channels, 7, 7)
        return _flatten(self.deconv(h))


class DeepConvVAE(ConvVAE):
    """:class:`ConvVAE` with a deeper decoder that can draw sharp strokes - the course's reference model.

    The encoder is ConvVAE's. The decoder adds a 3x3 convolution at 14x14 and another at full resolution:
    7x7 (2c ch) -> 14x14 (c) -> 3x3 conv (c) -> 28x28 (``fine`` ch) -> 3x3 conv -> logits (B, 784).
    ConvVAE's decoder draws each output pixel from one transposed convolution of a 14x14 map; here a
    pixel's logit also sees its neighbours at 28x28, which is what thin, crisp strokes need
    (benchmarks/README.md: about 9 nats better than ConvVAE after 80 epochs).
    """

    def __init__(self, latent_dim: int = 32, channels: int = 32, hidden_dim: int = 256, fine: int = 16):
        super().__init__(latent_dim=latent_dim, channels=channels, hidden_dim=hidden_dim)
        self._config = dict(latent_dim=latent_dim, channels=channels, hidden_dim=hidden_dim, fine=fine)
        c = channels
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),     # (B, c, 14, 14)
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),                            # (B, c, 14, 14)
            nn.ConvTranspose2d(c, fine, 4, stride=2, padding=1), nn.ReLU(),      # (B, fine, 28, 28)
            nn.Conv2d(fine, 1, 3, padding=1),                                    # (B, 1, 28, 28) logits
        )


class MLPVAE(_VAEBase):
    """An MLP VAE with any number of hidden layers: 784 -> hidden_dims -> latent -> reversed(hidden_dims) -> 784.

    ``MLPVAE(hidden_dims=(400,))`` has the layers of the classic :class:`VAE`. The decoder mirrors the
    encoder. ``activation`` is ``"relu"`` (the classic) or ``"silu"`` (x * sigmoid(x), smooth, and its
    units never die): the course's equal-budget recipe uses ``MLPVAE(activation="silu")``. In the
    benchmark the SiLU model was better per epoch *and* ran about 30% more epochs in the same CPU time,
    because the ReLU model's training slows down on denormal floating-point numbers
    (``torch.set_flush_denormal(True)`` gave it the same speed; benchmarks/README.md).
    Deeper variants did not beat one hidden layer there.
    """

    ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}

    def __init__(self, input_dim: int = IMAGE_PIXELS, hidden_dims=(400,), latent_dim: int = 20,
                 activation: str = "relu"):
        super().__init__()
        hidden_dims = [int(h) for h in hidden_dims]
        if not hidden_dims:
            raise ValueError("MLPVAE needs at least one hidden layer")
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"MLPVAE: unknown activation {activation!r}; "
                             f"choose one of {sorted(self.ACTIVATIONS)}.")
        self._config = dict(input_dim=input_dim, hidden_dims=list(hidden_dims), latent_dim=latent_dim,
                            activation=activation)
        self.latent_dim = latent_dim
        act = self.ACTIVATIONS[activation]
        layers, width = [], input_dim
        for h in hidden_dims:
            layers += [nn.Linear(width, h), act()]
            width = h
        self.encoder = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(width, latent_dim)
        self.fc_logvar = nn.Linear(width, latent_dim)
        layers, width = [], latent_dim
        for h in reversed(hidden_dims):
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, input_dim))
        self.decoder = nn.Sequential(*layers)

    @reference_implementation
    def encode(self, x: torch.Tensor):
        """x: (B, 784) -> mu, logvar: (B, latent_dim)."""
        h = self.encoder(_flatten(x))
        return self.fc_mu(h), self.fc_logvar(h)

    @reference_implementation
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> Bernoulli logits (B, 784)."""
        return self.decoder(z)


class ConditionalVAE(nn.Module):
    """A conditional VAE (Sohn et al. 2015): q(z|x, y) and p(x|z, y) both see the digit label y.

    The MLP of :class:`VAE` with the one-hot label concatenated to the encoder's input and to
    the code before decoding. Labels ``y`` are one-hot ``(B, num_classes)``; integer labels
    ``(B,)`` are converted. Its methods take the label as a second argument:
    ``encode(x, y)``, ``decode(z, y)`` -> logits ``(B, 784)``, ``forward(x, y)`` -> ``(logits, mu, logvar)``.
    (No ``sample``: generating a chosen digit is Exercise 8.2.)
    """

    reparameterize = _VAEBase.reparameterize
    config = _Sampler.config

    def __init__(self, input_dim: int = IMAGE_PIXELS, hidden_dim: int = 400, latent_dim: int = 20,
                 num_classes: int = 10):
        super().__init__()
        self._config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim,
                            num_classes=num_classes)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.fc_hidden = nn.Linear(input_dim + num_classes, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc_decode_hidden = nn.Linear(latent_dim + num_classes, hidden_dim)
        self.fc_decode_out = nn.Linear(hidden_dim, input_dim)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Integer labels (B,) or one-hot (B, num_classes) -> float one-hot (B, num_classes)."""
        if not y.is_floating_point() and y.dim() == 1:
            y = nn.functional.one_hot(y.long(), self.num_classes)
        return y.float()

    def encode(self, x: torch.Tensor, y: torch.Tensor):
        """x: (B, 784), y: (B, 10) -> mu, logvar: (B, latent_dim) of q(z|x, y)."""
        h = torch.relu(self.fc_hidden(torch.cat([_flatten(x), self.one_hot(y)], dim=1)))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim), y: (B, 10) -> Bernoulli logits (B, 784) of p(x|z, y)."""
        h = torch.relu(self.fc_decode_hidden(torch.cat([z, self.one_hot(y)], dim=1)))
        return self.fc_decode_out(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        """x: (B, 784), y: (B, 10) -> (logits (B, 784), mu, logvar (B, latent_dim))."""
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar


class PixelCNNVAE(VAE):
    """A VAE whose decoder also sees the pixels above and to the left: strong enough to ignore z (notebook 07).

    The encoder is :class:`VAE`'s. The decoder adds two logits per pixel: one from z (VAE's MLP decoder)
    and one from a small PixelCNN (van den Oord et al. 2016) over the image itself: masked convolutions
    whose output at pixel i sees only pixels before i in raster order (a 7x7 mask "A" that hides the
    centre, then 3x3 masks "B" that keep it). So ``p(x|z) = prod_i p(x_i | x_<i, z)``, autoregressive,
    and the decoder needs the image: ``decode(z, x) = code_logits(z) + pixel_context(x)`` -> logits (B, 784)
    (teacher forcing; training and the ELBO need nothing else; the context does not depend on z, so it can
    be computed once for many codes). Sampling would take 784 passes and is not provided.
    """

    def __init__(self, input_dim: int = IMAGE_PIXELS, hidden_dim: int = 400, latent_dim: int = 20,
                 channels: int = 32, layers: int = 4):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self._config.update(channels=channels, layers=layers)
        self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else channels, channels, 7 if i == 0 else 3,
                                             padding=3 if i == 0 else 1) for i in range(layers))
        self.conv_out = nn.Conv2d(channels, 1, 1)
        for i, conv in enumerate(self.convs):
            k = conv.kernel_size[0]
            mask = torch.ones_like(conv.weight)
            mask[:, :, k // 2, k // 2 + (i > 0):] = 0  # the centre (mask A, first layer only) and right of it
            mask[:, :, k // 2 + 1:] = 0  # rows below
            self.register_buffer(f"mask{i}", mask, persistent=False)

    def pixel_context(self, x: torch.Tensor) -> torch.Tensor:
        """The PixelCNN's logits (B, 784): entry i depends on x[:, :i] only."""
        h = x.reshape(-1, 1, 28, 28)
        for i, conv in enumerate(self.convs):
            h = torch.relu(nn.functional.conv2d(h, conv.weight * getattr(self, f"mask{i}"), conv.bias,
                                                padding=conv.padding))
        return _flatten(self.conv_out(h))

    def code_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The MLP path from the code: z (B, latent_dim) -> logits (B, 784): :class:`VAE`'s decoder."""
        return super().decode(z)

    def decode(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim), x: (B, 784) -> logits (B, 784) of p(x_i | x_<i, z): code plus pixel context."""
        return self.code_logits(z) + self.pixel_context(x)

    def forward(self, x: torch.Tensor):
        """x: (B, 784) -> (logits (B, 784), mu, logvar (B, latent_dim))."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar), x), mu, logvar

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError("PixelCNNVAE: sampling needs 784 sequential passes; the course does not use it.")


MODELS = {cls.__name__: cls for cls in (Autoencoder, VAE, ConvVAE, DeepConvVAE, MLPVAE, ConditionalVAE, PixelCNNVAE)}
