"""Models on disk: checkpoints, and the model cache behind the notebooks' ``cached_fit``.

* :func:`save_checkpoint` / :func:`load_checkpoint`: a model's weights plus what rebuilds it (class,
  config, training history), loadable with ``torch.load(..., weights_only=True)``, so opening a
  checkpoint never runs code.
* :func:`cached_fit`: :func:`vae_course.train.fit` once per recipe (model, data, seed, fit arguments),
  then the saved result - from the user's cache, else from the models the course ships for its
  notebooks (:data:`SHIPPED_MODELS`). A notebook re-run loads in a second what took minutes to train.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import tempfile
from pathlib import Path

import torch
from filelock import FileLock

from .models import MODELS
from .train import History, fit, get_device, set_seed


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
