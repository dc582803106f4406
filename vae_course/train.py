"""Training: seeds, devices, the ``fit`` loop, evaluation, checkpoints and a model cache.

``fit`` trains any model of :mod:`vae_course.models` with a loss function
``loss_fn(model, x) -> dict`` that returns at least ``"loss"`` (a scalar to
minimise) and, for VAEs, ``"recon"`` and ``"kl"`` (batch means, in nats).
Two are provided: :func:`vae_loss` (negative ELBO) and :func:`autoencoder_loss` (MSE).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import random
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock

from . import losses
from .grading.integrity import reference_implementation
from .models import MODELS


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


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(model: torch.nn.Module, path, history: History | None = None, *, half: bool = False,
                    **meta) -> Path:
    """Save a state dict plus what is needed to rebuild the model; loads with ``weights_only=True``.

    ``half``: store floating tensors as float16 (half the size; loading converts them back).
    Written atomically (temp file + rename), so an interrupted save never leaves a broken file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model_class": model.__class__.__name__,
        "config": model.config,
        "state_dict": {k: _maybe_half(v.detach().cpu(), half) for k, v in model.state_dict().items()},
        "history": history.as_dict() if history is not None else None,
        "meta": meta,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _maybe_half(tensor: torch.Tensor, half: bool) -> torch.Tensor:
    return tensor.half() if half and tensor.is_floating_point() else tensor


def load_checkpoint(path, device=None, with_history: bool = False):
    """Rebuild a model saved by :func:`save_checkpoint` (safe: ``weights_only=True``), in eval mode."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint at {path}.") from None
    except Exception as err:
        raise ValueError(f"{path} is not a readable vae-course checkpoint ({type(err).__name__}); "
                         "delete it and train again.") from None
    if not isinstance(payload, dict) or payload.get("model_class") not in MODELS:
        raise ValueError(f"{path} is not a vae-course checkpoint (no known model_class).")
    try:
        model = MODELS[payload["model_class"]](**payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as err:
        raise ValueError(f"{path} does not match the current {payload['model_class']} "
                         f"({type(err).__name__}); delete it and train again.") from None
    model.to(get_device(device)).eval()
    if with_history:
        return model, History.from_dict(payload.get("history") or {})
    return model


# --------------------------------------------------------------------------- cache

def cache_dir() -> Path:
    """Where trained models are cached: ``$VAE_COURSE_CACHE`` or ``~/.cache/vae-course``."""
    env = os.environ.get("VAE_COURSE_CACHE")  # unset or empty: the default (as for $VAE_COURSE_DATA)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vae-course"


def _fingerprint(value, depth: int = 0):
    """A stable, JSON-friendly description of a :func:`cached_fit` argument, with no memory addresses.

    Tensors and datasets are described by their content (a hash), functions by name, code
    and the values they capture (two lambdas with different ``beta`` differ), and
    ``functools.partial`` by its function and arguments. Anything else by ``repr``.
    """
    if depth > 3:
        return type(value).__name__
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().contiguous().numpy()
        return {"tensor": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()[:16]}
    if isinstance(getattr(value, "images", None), torch.Tensor):  # a DigitDataset
        return {"dataset": len(value), "source": getattr(value, "source", ""),
                "binarize": getattr(value, "binarize", "none"), "images": _fingerprint(value.images, depth + 1)}
    if isinstance(value, functools.partial):
        return {"partial": _fingerprint(value.func, depth + 1),
                "args": [_fingerprint(a, depth + 1) for a in value.args],
                "keywords": {k: _fingerprint(v, depth + 1) for k, v in sorted(value.keywords.items())}}
    code = getattr(value, "__code__", None)
    if code is not None:
        captured = []
        for cell in value.__closure__ or ():
            try:
                captured.append(_fingerprint(cell.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                captured.append(None)
        globals_used = {name: repr(value.__globals__[name]) for name in code.co_names
                        if isinstance(value.__globals__.get(name), (bool, int, float, str))}
        return {"function": f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}",
                "code": hashlib.sha256(_source_or_bytecode(value)).hexdigest()[:16], "captured": captured,
                "globals": globals_used, "defaults": [_fingerprint(d, depth + 1) for d in value.__defaults__ or ()]}
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def _source_or_bytecode(function) -> bytes:
    """A function's source text (the same on every Python version, so shipped models match), else its bytecode."""
    try:
        return inspect.getsource(function).encode()
    except (OSError, TypeError):
        return function.__code__.co_code


def reset_parameters(model: torch.nn.Module) -> torch.nn.Module:
    """Draw fresh initial weights for every layer of ``model`` from the global RNG (seed it first)."""
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


CACHE_RECIPE_VERSION = 3
"""Part of every cache key: raise it when the way cached_fit trains changes, so models trained the old
way are not reused (2: weights re-initialised from the seed before training; 3: functions keyed by
their source, weights stored in float16)."""

SHIPPED_MODELS = Path(__file__).parent / "pretrained" / "notebook-models"
"""The models the notebooks' ``cached_fit`` calls ask for, as the course ships them (see
``scripts/run_notebooks.py --ship``): a laptop loads them instead of training for minutes."""


class ModelNotShipped(RuntimeError):
    """``$VAE_COURSE_REQUIRE_SHIPPED`` is set and a recipe has no shipped model (its recipe changed)."""


def cached_fit(name: str, model: torch.nn.Module, train_data, seed: int = 0, **fit_kwargs):
    """Train ``model`` with :func:`fit` once and reuse the result on later runs.

    The cache key covers the model class and config, the data (a hash of its
    pixels, source, binarization), the seed and every fit argument (a loss
    function by its source code and the values it captures), so changing any of them
    retrains. Training first re-initialises ``model``'s weights from ``seed``, so
    the result is a function of the key alone: two notebooks that ask for the
    same model get the same weights, whichever of them trained it. Weights are
    kept in float16 (half the size; a freshly trained model is rounded the same
    way, so trained and loaded give identical results). Returns ``(model, history)``.

    Where the model comes from, in order: the cache (``$VAE_COURSE_CACHE``), the
    models the course ships for its notebooks (:data:`SHIPPED_MODELS`), else it is
    trained (and cached). Several processes may ask for the same model at once
    (parallel tests): a file lock lets one train while the others wait and load.
    Afterwards the global RNG is re-seeded with ``seed + 1`` either way, so the
    cells that follow give the same results whether the model was trained or loaded.
    """
    key_parts = {
        "recipe": CACHE_RECIPE_VERSION,
        "name": name, "class": model.__class__.__name__, "config": model.config, "seed": seed,
        "data": _fingerprint(train_data),
        "fit": {k: _fingerprint(v) for k, v in sorted(fit_kwargs.items()) if k not in ("progress", "device")},
    }
    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    filename = f"{name}-{digest}.pt"
    path = cache_dir() / "models" / filename
    device = fit_kwargs.get("device")
    _record_use(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        for candidate in (path, SHIPPED_MODELS / filename):
            loaded = _load_cached(candidate, model, device)
            if loaded is not None:
                set_seed(seed + 1)
                return model, loaded
        if os.environ.get("VAE_COURSE_REQUIRE_SHIPPED") == "1":
            raise ModelNotShipped(
                f"cached_fit({name!r}, ...): no shipped model for this recipe ({filename}); its model, data or fit "
                "arguments changed. Run `python scripts/run_notebooks.py --ship <notebook>` to train and ship it.")
        set_seed(seed)
        reset_parameters(model)  # the result must depend on the key only, not on how `model` was initialised
        history = fit(model, train_data, seed=seed, **fit_kwargs)
        _round_to_half(model)
        save_checkpoint(model, path, history=history, key=key_parts, half=True)
    set_seed(seed + 1)
    return model, history


def _load_cached(path: Path, model: torch.nn.Module, device) -> History | None:
    """Load ``path`` into ``model`` and return its history; None if absent (a broken cache file is removed)."""
    if not path.exists():
        return None
    try:
        cached, history = load_checkpoint(path, device=device, with_history=True)
    except (ValueError, RuntimeError):
        if path.parent != SHIPPED_MODELS:
            path.unlink(missing_ok=True)  # stale or broken: train again
        return None
    model.load_state_dict(cached.state_dict())
    model.to(get_device(device)).eval()
    return history


def _round_to_half(model: torch.nn.Module) -> None:
    """Round every floating tensor of ``model`` to float16 precision (kept as float32), as the cache stores it."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half())


def _record_use(filename: str) -> None:
    """Append ``filename`` to ``$VAE_COURSE_USED_MODELS`` if set (scripts/run_notebooks.py --ship reads it)."""
    log = os.environ.get("VAE_COURSE_USED_MODELS")
    if log:
        with open(log, "a") as handle:
            handle.write(filename + "\n")


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits (divide by ln 2)."""
    return nats / math.log(2)
