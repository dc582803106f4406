"""Training: seeds, devices, the ``fit`` loop and evaluation.

``fit`` trains any model of :mod:`vae_course.models` with a loss function
``loss_fn(model, x) -> dict`` that returns at least ``"loss"`` (a scalar to
minimise) and, for VAEs, ``"recon"`` and ``"kl"`` (batch means, in nats).
Provided: :func:`vae_loss` (negative ELBO), :func:`autoencoder_loss` (MSE), and the two remedies against
posterior collapse of notebook 07, :func:`free_bits_loss` and :func:`annealed_vae_loss` (KL warm-up).
Saving, loading and caching trained models: :mod:`vae_course.checkpoints`.
"""

from __future__ import annotations

import math
import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import losses
from .references import reference_implementation


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message suggests what to change."""


# --------------------------------------------------------------------------- seeds and devices

def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a notebook gives the same numbers every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Pick where to train: ``device`` if given, else ``$VAE_COURSE_DEVICE``, else CUDA, then MPS, then CPU."""
    choice = device or os.environ.get("VAE_COURSE_DEVICE")
    if choice:
        choice = torch.device(choice)
        if choice.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda' was requested but no CUDA GPU is available here; use device='cpu'.")
        if choice.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device='mps' was requested but Apple MPS is not available here; use device='cpu'.")
        return choice
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# --------------------------------------------------------------------------- train/eval mode

@contextmanager
def model_mode(model: torch.nn.Module, training: bool):
    """Put ``model`` in training mode (a VAE samples z) or eval mode (it uses the mean) for a block,
    and restore the mode it had afterwards, even if the block raises.

    >>> with model_mode(model, training=False):
    ...     codes, _ = model.encode(x)
    """
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


# --------------------------------------------------------------------------- losses for fit

def vae_loss(model, x: torch.Tensor, beta: float = 1.0) -> dict:
    """Negative ELBO of a VAE on a batch x: (B, 784): ``loss = recon + beta * kl`` (batch means)."""
    logits, mu, logvar = model(x)
    recon = -losses.bernoulli_log_likelihood(logits, x).mean()
    kl = losses.gaussian_kl(mu, logvar).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def autoencoder_loss(model, x: torch.Tensor) -> dict:
    """Mean squared error of an autoencoder's sigmoid output: ``loss = recon = mse.mean()``."""
    recon = losses.mse(torch.sigmoid(model(x)), x).mean()
    return {"loss": recon, "recon": recon}


def free_bits_loss(model, x: torch.Tensor, beta: float = 1.0, free_bits: float = 0.5) -> dict:
    """Negative ELBO with **free bits** (Kingma et al., 2016) on a batch x: (B, 784) -> dict of batch values.

    ``loss = recon + beta * sum_j max(free_bits, KL_j)``: ``recon`` is the batch mean of -log p(x|z) (summed
    over pixels), ``KL_j`` the batch mean of latent dimension j's KL term (nats), so a dimension carrying
    less than ``free_bits`` nats on the batch average is not penalised. ``"kl"`` is the true KL, without the
    floor. The loss of :func:`vae_course.losses.annealed_free_bits_loss` without a warm-up, as a
    ``loss_fn(model, x)`` for :func:`fit` (notebook 07 trains its free-bits models with it).
    """
    logits, mu, logvar = model(x)
    out = losses.annealed_free_bits_loss(logits, x, mu, logvar, 0, beta=beta, free_bits=free_bits)
    return {"loss": out["loss"], "recon": out["recon"], "kl": out["kl"]}


def annealed_vae_loss(beta: float, warmup_steps: int) -> Callable:
    """A ``loss_fn(model, x)`` for :func:`fit` with **KL annealing** (Bowman et al., 2016): a warm-up of beta.

    The returned function computes :func:`vae_loss` with ``beta_t = beta * min(1, t / warmup_steps)``, where
    t counts the batches it has seen in training mode (``model.training``; evaluation batches do not count;
    ``warmup_steps=0``: no warm-up), and adds ``"beta": beta_t`` to the dict. A fresh one starts at t = 0:
    make one per model. Notebook 07 trains its annealed model with it;
    :func:`vae_course.losses.annealed_free_bits_loss` is the same objective (without a floor) for a given step.
    """
    step = 0

    def loss_fn(model, x):
        nonlocal step
        beta_now = beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else beta
        if model.training:
            step += 1
        out = vae_loss(model, x, beta=beta_now)
        out["beta"] = beta_now
        return out

    return loss_fn


def default_loss(model) -> Callable:
    """VAE loss for models that return (logits, mu, logvar), MSE for autoencoders."""
    return autoencoder_loss if model.__class__.__name__ == "Autoencoder" else vae_loss


# --------------------------------------------------------------------------- history

@dataclass
class History:
    """Per-epoch averages. ``train`` and ``val`` map a name ("loss", "recon", "kl", "elbo") to a list."""

    train: dict = field(default_factory=dict)
    val: dict = field(default_factory=dict)

    def log(self, split: str, values: dict) -> None:
        for key, value in values.items():
            getattr(self, split).setdefault(key, []).append(float(value))

    @property
    def epochs(self) -> int:
        return len(self.train.get("loss", []))

    def as_dict(self) -> dict:
        return {"train": self.train, "val": self.val}

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(train={k: list(v) for k, v in data.get("train", {}).items()},
                   val={k: list(v) for k, v in data.get("val", {}).items()})

    def __repr__(self) -> str:
        last = {k: round(v[-1], 2) for k, v in self.train.items() if v}
        return f"History(epochs={self.epochs}, last train={last})"


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def progress_enabled(progress: bool | None) -> bool:
    """Progress bars unless asked not to, in CI (``CI=true``) or with ``VAE_COURSE_PROGRESS=0``.

    The test suite sets ``VAE_COURSE_PROGRESS=0`` so that a notebook's outputs do not depend on
    whether its models were trained (bars shown) or loaded from the cache (no bars).
    """
    if progress is not None:
        return progress
    if os.environ.get("VAE_COURSE_PROGRESS", "").lower() in ("0", "false", "no"):
        return False
    return os.environ.get("CI", "").lower() not in ("true", "1")


def _batches(data, batch_size: int, shuffle: bool, generator: torch.Generator):
    """Yield x: (b, 784) batches from a DigitDataset, a tensor, or any (x, y) dataset."""
    if isinstance(data, torch.Tensor):
        images = data
        binarize = "none"
    elif hasattr(data, "images"):
        images, binarize = data.images, getattr(data, "binarize", "none")
    else:
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
        for batch in loader:
            yield batch[0] if isinstance(batch, (list, tuple)) else batch
        return
    order = torch.randperm(len(images), generator=generator) if shuffle else torch.arange(len(images))
    for start in range(0, len(images), batch_size):
        x = images[order[start:start + batch_size]]
        yield torch.bernoulli(x, generator=generator) if binarize == "dynamic" else x


def _check_finite(value: torch.Tensor, epoch: int, batch: int, lr: float) -> None:
    if not torch.isfinite(value):
        raise TrainingDiverged(
            f"The loss became {value.item()} at epoch {epoch + 1}, batch {batch + 1}. "
            f"Training diverged: try a smaller learning rate (e.g. lr={lr / 10:g}), check that the loss "
            "never takes log(0) (compute it from logits), and that logvar is not exponentiated twice.")


@reference_implementation  # Exercise 4.3 asks students to write the loop: calling fit there is delegation
def fit(model: torch.nn.Module, train_data, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3,
        loss_fn: Callable | None = None, val_data=None, optimizer: torch.optim.Optimizer | None = None,
        device: str | torch.device | None = None, seed: int = 0, progress: bool | None = None,
        history: History | None = None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data`` with Adam; return a :class:`History`.

    train_data / val_data: a :class:`~vae_course.data.DigitDataset`, a tensor (N, 784), or any
    dataset of (x, y) pairs. loss_fn(model, x) -> dict with "loss" (default: negative ELBO for
    VAEs, MSE for autoencoders). Shuffling depends only on ``seed``. Raises
    :class:`TrainingDiverged` as soon as the loss is NaN or infinite.
    """
    device = get_device(device)
    model.to(device)
    loss_fn = loss_fn or default_loss(model)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    lr = optimizer.param_groups[0]["lr"]
    history = history or History()
    generator = torch.Generator().manual_seed(seed)
    show = progress_enabled(progress)
    epoch_bar = _progress(range(epochs), show, desc="epochs", unit="epoch")
    for epoch in epoch_bar:
        model.train()
        sums, count = {}, 0
        for batch, x in enumerate(_batches(train_data, batch_size, True, generator)):
            x = x.to(device)
            out = loss_fn(model, x)
            _check_finite(out["loss"].detach(), epoch, batch, lr)
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()
            for key, value in out.items():
                value = value.detach() if isinstance(value, torch.Tensor) else value
                sums[key] = sums.get(key, 0.0) + float(value) * len(x)
            count += len(x)
        train_means = _with_elbo({k: v / count for k, v in sums.items()})
        history.log("train", train_means)
        if val_data is not None:
            history.log("val", evaluate(model, val_data, loss_fn=loss_fn, batch_size=512, device=device))
        if show and hasattr(epoch_bar, "set_postfix"):
            epoch_bar.set_postfix(loss=f"{train_means['loss']:.2f}")
    model.eval()
    return history


def _with_elbo(means: dict) -> dict:
    if "recon" in means and "kl" in means:
        means["elbo"] = -(means["recon"] + means["kl"])
    return means


@torch.no_grad()
@reference_implementation
def evaluate(model: torch.nn.Module, data, loss_fn: Callable | None = None, batch_size: int = 512,
             device=None) -> dict:
    """Average of ``loss_fn`` over ``data`` in eval mode (z = mu for VAEs). Returns floats per key.

    For a VAE, eval mode decodes the *mean* code, so ``recon`` is the mean-code reconstruction
    term and ``loss`` = recon + KL is *not* a negative ELBO (it is lower, by several nats on MNIST:
    the decoder never sees the spread of q). That is why no ``"elbo"`` key is returned here; the
    ELBO is :func:`elbo_per_image`, with z sampled from q(z|x).
    """
    device = get_device(device)
    model.to(device)
    loss_fn = loss_fn or default_loss(model)
    sums, count = {}, 0
    with model_mode(model, training=False):
        for x in _batches(data, batch_size, False, torch.Generator().manual_seed(0)):
            out = loss_fn(model, x.to(device))
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value) * len(x)
            count += len(x)
    return {k: v / count for k, v in sums.items()}


@torch.no_grad()
def elbo_per_image(model: torch.nn.Module, data, samples: int = 1, batch_size: int = 1000, seed: int = 0,
                   device=None) -> float:
    """Average negative ELBO in nats per image, with z *sampled* from q(z|x) (``samples`` draws averaged).

    This is the number papers and the benchmark report (lower is better).
    """
    device = get_device(device)
    model.to(device)
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    total, count = 0.0, 0
    with model_mode(model, training=True):  # sample z
        for x in _batches(data, batch_size, False, torch.Generator().manual_seed(seed)):
            x = x.to(device)
            mu, logvar = model.encode(x)
            for _ in range(samples):
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                total -= float(losses.elbo(model.decode(z), x, mu, logvar).sum()) / samples
            count += len(x)
    torch.set_rng_state(torch_state)
    return total / count


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits (divide by ln 2)."""
    return nats / math.log(2)
