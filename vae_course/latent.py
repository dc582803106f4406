"""Latent-space plumbing for notebook 05: encode, decode, interpolate, measure digit attributes.

Shapes: images ``x: (N, 784)`` in [0, 1]; codes ``z: (N, D)``; decoded
pixel probabilities ``(N, 784)``. Functions that run a model do so in eval
mode and without gradients, and return CPU tensors.

``lerp``, ``slerp`` and ``attribute_vector`` are the reference answers of
exercises 5.1-5.3: the notebook uses them after the exercises, so it runs
top to bottom even while an exercise is unfinished.
"""

from __future__ import annotations

import torch

from .train import model_mode
from .references import reference_implementation

# slerp falls back to lerp where sin(angle) is below this (nearly parallel or anti-parallel codes)
PARALLEL_EPS = 1e-4


# --------------------------------------------------------------------------- running a model

def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_means(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mean code mu(x) of q(z|x) for every image: images (N, 784) -> (N, latent_dim) on the CPU.

    Works for VAEs (``encode`` returns ``(mu, logvar)``) and plain autoencoders (``encode`` returns z).
    """
    device = _device_of(model)
    codes = []
    with model_mode(model, training=False):
        for start in range(0, len(images), batch_size):
            out = model.encode(images[start:start + batch_size].to(device))
            codes.append((out[0] if isinstance(out, tuple) else out).cpu())
    return torch.cat(codes)


@torch.no_grad()
def decode_probs(model: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities sigmoid(decode(z)): z (N, latent_dim) -> (N, 784) on the CPU."""
    with model_mode(model, training=False):
        return torch.sigmoid(model.decode(z.to(_device_of(model)))).cpu()


# --------------------------------------------------------------------------- interpolation

def as_time(t, like: torch.Tensor) -> torch.Tensor:
    """Shape the interpolation time ``t`` so that it broadcasts against codes shaped like ``like``.

    A float (or 0-d tensor) becomes a 0-d tensor; a (T,) tensor becomes (T, 1, ..., 1) with one
    trailing 1 per dimension of ``like``. Then ``(1 - t) * z0 + t * z1`` has shape ``like.shape``
    for a float t and ``(T, *like.shape)`` for a (T,) tensor. dtype and device follow ``like``.
    """
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() > 1:
        raise ValueError(f"t must be a float or a 1-D tensor of times (T,), got shape {tuple(t.shape)}.")
    if t.dim() == 0:
        return t
    return t.reshape(-1, *([1] * like.dim()))


@reference_implementation
def lerp(z0: torch.Tensor, z1: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1 (reference for exercise 5.1).

    z0, z1: (D,) or (B, D), same shape; t: a float or a (T,) tensor.
    Returns z0.shape for a float t, (T, *z0.shape) for a (T,) tensor; t=0 gives z0, t=1 gives z1.
    """
    t = as_time(t, z0)
    return (1 - t) * z0 + t * z1


@reference_implementation
def slerp(z0: torch.Tensor, z1: torch.Tensor, t, eps: float = PARALLEL_EPS) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985) of the codes themselves (reference for exercise 5.2).

        slerp(z0, z1, t) = sin((1 - t) Omega) / sin(Omega) * z0 + sin(t Omega) / sin(Omega) * z1,

    with Omega the angle between z0 and z1 (per row for (B, D) inputs). Where sin(Omega) < eps
    (nearly parallel or anti-parallel rows) it returns ``lerp`` instead. Shapes as for :func:`lerp`.
    """
    t = as_time(t, z0)
    norms = z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)   # (..., 1)
    cos = (z0 * z1).sum(dim=-1, keepdim=True) / norms.clamp_min(1e-12)
    omega = torch.acos(cos.clamp(-1.0, 1.0))                                 # (..., 1), in [0, pi]
    sin = torch.sin(omega)
    parallel = sin < eps
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)             # no 0/0 in the unused branch
    spherical = torch.sin((1 - t) * omega) / safe_sin * z0 + torch.sin(t * omega) / safe_sin * z1
    linear = (1 - t) * z0 + t * z1
    return torch.where(parallel, linear, spherical)


# --------------------------------------------------------------------------- attributes

@reference_implementation
def attribute_vector(z_with: torch.Tensor, z_without: torch.Tensor) -> torch.Tensor:
    """Mean code of the images with an attribute minus that of the images without (reference for 5.3).

    z_with: (N, D), z_without: (M, D) -> (D,). Adding it to a code adds the attribute.
    """
    return z_with.mean(dim=0) - z_without.mean(dim=0)


def ink(images: torch.Tensor) -> torch.Tensor:
    """Total ink of each image, the sum of its pixel values: (N, 784) -> (N,). Thick strokes, more ink."""
    return images.reshape(len(images), -1).sum(dim=-1)


def slant(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Slant from the image's second moments: (N, 784) -> (N,). Positive leans right (``/``), negative left.

    With pixel intensities as weights, it is the slope of the horizontal position against
    the height, -cov(col, row) / var(row) (rows count downwards, hence the minus sign):
    0 for an upright stroke, 1 for a stroke at 45 degrees leaning right. Blank images give 0.
    """
    img = images.reshape(-1, size, size)
    mass = img.sum(dim=(1, 2)).clamp_min(1e-8)
    rows = torch.arange(size, dtype=img.dtype, device=img.device).view(1, size, 1)
    cols = torch.arange(size, dtype=img.dtype, device=img.device).view(1, 1, size)
    row_mean = (img * rows).sum(dim=(1, 2)) / mass
    col_mean = (img * cols).sum(dim=(1, 2)) / mass
    drow = rows - row_mean.view(-1, 1, 1)
    dcol = cols - col_mean.view(-1, 1, 1)
    cov = (img * drow * dcol).sum(dim=(1, 2)) / mass
    var = (img * drow ** 2).sum(dim=(1, 2)) / mass
    return -cov / var.clamp_min(1e-8)


def extremes_per_class(values: torch.Tensor, labels: torch.Tensor, fraction: float = 0.25):
    """Indices of the lowest and the highest ``fraction`` of ``values`` within each class.

    values, labels: (N,). Returns (low, high), two index tensors with the same number of
    images from every class, so a difference of their mean codes does not encode the class.
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}.")
    low, high = [], []
    for label in torch.unique(labels):
        index = torch.nonzero(labels == label).flatten()
        order = index[torch.argsort(values[index], stable=True)]
        k = max(1, int(len(order) * fraction))
        low.append(order[:k])
        high.append(order[-k:])
    return torch.cat(low), torch.cat(high)


# --------------------------------------------------------------------------- measuring decoded images

def pixel_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Blur of decoded images: entropy of their Bernoulli pixels in nats, summed over pixels -> (N,).

    0 for a crisp black-and-white image; each pixel at probability 0.5 adds log 2 = 0.69 nats.
    """
    p = probs.reshape(len(probs), -1).clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log()).sum(dim=-1)


@torch.no_grad()
def nearest_neighbour_votes(images: torch.Tensor, ref_images: torch.Tensor, ref_labels: torch.Tensor,
                            k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Majority label of each image's ``k`` nearest reference images (pixel distance), and how many of
    the ``k`` voted for it.

    images: (N, 784), ref_images: (M, 784), ref_labels: (M,) -> labels (N,), votes (N,) in 1..k.
    """
    distances = torch.cdist(images.reshape(len(images), -1).float(), ref_images.reshape(len(ref_images), -1).float())
    nearest = distances.topk(k, dim=1, largest=False).indices           # (N, k)
    neighbour_labels = ref_labels[nearest]
    labels = torch.mode(neighbour_labels, dim=1).values
    return labels, (neighbour_labels == labels[:, None]).sum(dim=1)


def nearest_neighbour_labels(images: torch.Tensor, ref_images: torch.Tensor, ref_labels: torch.Tensor,
                             k: int = 5) -> torch.Tensor:
    """Label each image by a majority vote of its ``k`` nearest reference images (pixel distance).

    images: (N, 784), ref_images: (M, 784), ref_labels: (M,) -> (N,). A classifier that knows
    nothing about the VAE, used to ask "which digit does this decoded image show?".
    """
    return nearest_neighbour_votes(images, ref_images, ref_labels, k)[0]
