"""Pretrained models that ship with the package: load them instantly instead of training.

>>> from vae_course.zoo import load_reference_vae, reference_vae_info
>>> model = load_reference_vae()          # the course's best VAE, in eval mode
>>> reference_vae_info()["scores"]        # its held-out numbers, in nats per image

The checkpoint lives in ``vae_course/pretrained/`` and loads with ``weights_only=True``
(:func:`vae_course.checkpoints.load_checkpoint`). ``benchmarks/train_reference.py`` produced it;
``benchmarks/README.md`` gives the exact command, seed and an ablation of the recipe.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoints import load_checkpoint

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
REFERENCE_VAE = "reference_vae.pt"


def reference_checkpoint_path() -> Path:
    """Path of the shipped reference VAE checkpoint (raises FileNotFoundError with advice if missing)."""
    path = PRETRAINED_DIR / REFERENCE_VAE
    if not path.exists():
        raise FileNotFoundError(
            f"The reference VAE checkpoint {path} is missing from this installation. Reinstall the "
            "package (`pip install -e .`) or recreate it with `python benchmarks/train_reference.py`.")
    return path


def load_reference_vae(device=None) -> torch.nn.Module:
    """The course's best VAE, trained on the 4,500 embedded MNIST images, in eval mode.

    It has the five methods of every course model: ``encode(x) -> (mu, logvar)``, ``reparameterize``,
    ``decode(z) -> logits (B, 784)``, ``forward(x) -> (logits, mu, logvar)`` and ``sample(n)``.
    device: where to put it (default: :func:`vae_course.train.get_device`).
    """
    return load_checkpoint(reference_checkpoint_path(), device=device)


def reference_vae_info() -> dict:
    """What the shipped reference VAE is and how it scores, without building the model.

    Keys: ``model_class``, ``config``, ``parameters`` (count), ``size_bytes`` of the file, and the
    training metadata recorded by ``benchmarks/train_reference.py``: ``recipe`` (its settings),
    ``command``, ``seed``, ``train_seconds``, ``epochs`` and ``scores`` (nats per image on the
    held-out sets, lower is better).
    """
    path = reference_checkpoint_path()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    info = {
        "model_class": payload["model_class"],
        "config": dict(payload["config"]),
        "parameters": sum(t.numel() for t in payload["state_dict"].values()),
        "size_bytes": path.stat().st_size,
    }
    info.update(payload.get("meta") or {})
    return info
