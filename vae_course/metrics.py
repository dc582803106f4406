"""Image measurements used in the notebooks (notebook 01: how blurry is a reconstruction?).

Sharpness measures look at how fast pixel values change from one pixel to the next:
a crisp stroke jumps from 0 to 1 within a pixel or two, a blurred one ramps up slowly.
Each sharpness function takes images ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` with
pixels in [0, 1] and returns one number per image, shape ``(N,)``. Higher means sharper.

Why squared error blurs (notebook 01): for equally plausible images x_1..x_N and one prediction c,
the expected squared error splits exactly into the spread of the images around their mean
(no prediction can remove it) and the distance of c from that mean, :func:`blur_decomposition`;
the pixel-wise mean (:func:`average_image`) is therefore the MSE-optimal - and blurry - prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .references import reference_implementation

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


@reference_implementation
def average_image(images: torch.Tensor) -> torch.Tensor:
    """The pixel-wise mean of a batch: images (B, 784) -> (784,) (notebook 00)."""
    return images.mean(dim=0)


@reference_implementation
def blur_decomposition(candidates: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """E_n[MSE(c, x_n)] = variance + bias^2, per case: candidates (B, N, 784), prediction (B, 784) -> (B, 3).

    For each of the B cases, N equally plausible images and one prediction c; all three columns are
    averages over the 784 pixels: [:, 0] the expected squared error of c over the N images, [:, 1] the
    spread of the images around their mean m (variance with 1/N; the same for every c), [:, 2] the squared
    distance of c from m. Column 0 = column 1 + column 2 exactly, so c = m is the best prediction.
    """
    mean = candidates.mean(dim=1, keepdim=True)                             # (B, 1, 784)
    expected = (candidates - prediction.unsqueeze(1)).pow(2).mean(dim=(1, 2))
    spread = (candidates - mean).pow(2).mean(dim=(1, 2))
    bias = (prediction - mean.squeeze(1)).pow(2).mean(dim=1)
    return torch.stack([expected, spread, bias], dim=1)
