"""Image measurements used in the notebooks (notebook 01: how blurry is a reconstruction?).

Sharpness measures look at how fast pixel values change from one pixel to the next:
a crisp stroke jumps from 0 to 1 within a pixel or two, a blurred one ramps up slowly.
Each function takes images ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` with
pixels in [0, 1] and returns one number per image, shape ``(N,)``. Higher means sharper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0],
                           [1.0, -4.0, 1.0],
                           [0.0, 1.0, 0.0]])


def _as_batch(images, side: int = 28) -> torch.Tensor:
    """(N, 784) / (N, 28, 28) / (N, 1, 28, 28) tensor or array -> float tensor (N, 1, 28, 28)."""
    images = torch.as_tensor(images).detach().float()
    if images.dim() == 1:
        raise ValueError("expected a batch of images (N, 784); got a single vector - use images[None].")
    return images.reshape(len(images), 1, side, side)


def gradient_energy(images, side: int = 28) -> torch.Tensor:
    """Mean squared gradient magnitude per image -> (N,).

    The gradient is taken with forward differences, dx = x[i, j+1] - x[i, j] and
    dy = x[i+1, j] - x[i, j]; the result is the average of dx^2 + dy^2 over pixels.
    It is *squared* on purpose: a blurred edge that ramps from 0 to 1 over k pixels has k
    steps of 1/k, whose absolute values still add up to 1 but whose squares add up to 1/k -
    so the score falls as edges widen. A constant image scores 0.
    """
    x = _as_batch(images, side)
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.pow(2) + dy.pow(2)).flatten(1).mean(dim=1)


def laplacian_variance(images, side: int = 28) -> torch.Tensor:
    """Variance of the Laplacian per image -> (N,) (the classic "variance of Laplacian" focus measure).

    The Laplacian (a 3x3 second-difference filter) is large where intensity bends sharply,
    i.e. at crisp edges; its variance over the image is high for sharp images, low for blurry ones.
    """
    x = _as_batch(images, side)
    response = F.conv2d(x, _LAPLACIAN.to(x.device).view(1, 1, 3, 3))  # valid convolution: (N, 1, 26, 26)
    return response.flatten(1).var(dim=1)
