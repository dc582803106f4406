"""The shipped molecule VAEs: one trained on SMILES characters, one on SELFIES tokens (notebook 09).

>>> from vae_course.molecules import load_molecule_vae
>>> model, vocab = load_molecule_vae("selfies")      # in eval mode, with its vocabulary
>>> vocab.decode(model.sample(5))                     # five SMILES decoded from the prior

Checkpoints live in ``vae_course/molecules/pretrained/`` and load with ``torch.load(weights_only=True)``:
tensors, numbers, strings and lists only (the vocabulary is stored as a list of tokens).
``benchmarks/train_molecules.py`` wrote them; ``benchmarks/README.md`` ("Molecules") gives the command,
the training time and the scores.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoints import save_checkpoint
from ..train import History, get_device
from .model import SequenceVAE
from .tokens import REPRESENTATIONS, Vocabulary

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def checkpoint_path(representation: str) -> Path:
    """Where the shipped model of a representation ("smiles" or "selfies") lives."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}.")
    return PRETRAINED_DIR / f"molecule_vae_{representation}.pt"


def _path_of(representation_or_path: str | Path) -> Path:
    """The shipped checkpoint of a representation ("smiles" or "selfies"), or the path itself."""
    if str(representation_or_path) in REPRESENTATIONS:
        return checkpoint_path(str(representation_or_path))
    return Path(representation_or_path)


def save_molecule_vae(model: SequenceVAE, vocab: Vocabulary, path, history: History | None = None, *,
                      half: bool = True, **meta) -> Path:
    """Save model, vocabulary and ``meta`` (numbers, strings, lists) with :func:`vae_course.checkpoints.save_checkpoint`.

    half: store the weights in float16 (half the size; :func:`load_molecule_vae` converts them back). Score
    a model after loading it again, so that the numbers are those of what ships.
    """
    return save_checkpoint(model, path, history=history, half=half, vocabulary=vocab.to_dict(), **meta)


def _payload(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"No molecule VAE checkpoint at {path}. Reinstall the package (`pip install -e .`) "
                                "or train one with `python benchmarks/train_molecules.py`.")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("model_class") != SequenceVAE.__name__:
        raise ValueError(f"{path} is not a molecule VAE checkpoint (model_class {payload.get('model_class')!r}).")
    return payload


def load_molecule_vae(representation_or_path: str | Path = "selfies", device=None) -> tuple[SequenceVAE, Vocabulary]:
    """(model in eval mode, its vocabulary) from the shipped checkpoint of a representation, or from a path."""
    payload = _payload(_path_of(representation_or_path))
    model = SequenceVAE(**payload["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    vocab = Vocabulary.from_dict(payload["meta"]["vocabulary"])
    return model.to(get_device(device)).eval(), vocab


def molecule_vae_info(representation_or_path: str | Path) -> dict:
    """What a shipped molecule VAE (or the checkpoint at a path) is, how it was trained and how it scores,
    without building it.

    Keys: ``config``, ``parameters``, ``size_bytes``, ``history`` (a :class:`~vae_course.train.History`
    of the per-epoch training averages) and the metadata ``benchmarks/train_molecules.py`` recorded
    (``recipe``, ``command``, ``seed``, ``train_seconds``, ``train_cpu_seconds``, ``epochs``, ``scores``, ...).
    """
    path = _path_of(representation_or_path)
    payload = _payload(path)
    info = {"config": dict(payload["config"]),
            "parameters": sum(t.numel() for t in payload["state_dict"].values()),
            "size_bytes": path.stat().st_size,
            "history": History.from_dict(payload.get("history") or {})}
    info.update({k: v for k, v in (payload.get("meta") or {}).items() if k != "vocabulary"})
    return info
