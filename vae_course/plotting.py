"""Figures used across the notebooks.

Every function takes ``ax=None`` (draws on a new figure when omitted), returns
the :class:`~matplotlib.figure.Figure`, and sets no global matplotlib state.
Images use the grey colormap; categorical colours come from Paul Tol's
colour-blind-safe "muted" palette.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

IMAGE_CMAP = "gray"
# Paul Tol's "muted" qualitative palette (colour-blind safe) plus a neutral grey: 10 classes.
CLASS_COLORS = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
                "#DDCC77", "#CC6677", "#882255", "#AA4499", "#777777"]
SERIES_COLORS = ["#0077BB", "#EE7733", "#009988", "#CC3311", "#33BBEE", "#EE3377", "#BBBBBB"]


def _to_images(images, image_shape=(28, 28)) -> np.ndarray:
    """(N, 784) or (N, 1, 28, 28) tensor/array -> (N, 28, 28) NumPy array."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    return images.reshape(-1, *image_shape)


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def image_grid(images, ncols: int | None = None, ax=None, title: str | None = None,
               labels=None, vmin: float = 0.0, vmax: float = 1.0, pad: int = 2):
    """Show images (N, 784) in [0, 1] as one tiled grid. ``labels`` (N,) are written under the grid rows."""
    imgs = _to_images(images)
    n = len(imgs)
    ncols = ncols or min(n, 10)
    nrows = math.ceil(n / ncols)
    h, w = imgs.shape[1:]
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), vmax, dtype=np.float32)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    fig, ax = _axes(ax, (ncols * 0.8, nrows * 0.8 + (0.4 if title else 0)))
    ax.imshow(canvas, cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if labels is not None:
        for i, label in enumerate(list(labels)[:n]):
            r, c = divmod(i, ncols)
            ax.text(pad + c * (w + pad) + 1, pad + r * (h + pad) + 5, str(label), color="#EE7733", fontsize=7)
    if title:
        ax.set_title(title)
    return fig


def reconstruction_rows(originals, reconstructions, n: int = 10, ax=None, title: str | None = None,
                        row_labels=("original", "reconstruction")):
    """Two rows: originals (top) over their reconstructions (bottom), both (N, 784) in [0, 1]."""
    top, bottom = _to_images(originals)[:n], _to_images(reconstructions)[:n]
    fig = image_grid(np.concatenate([top, bottom]), ncols=len(top), ax=ax, title=title)
    ax = fig.axes[0] if ax is None else ax
    ax.set_yticks([15, 45])
    ax.set_yticklabels(row_labels)
    return fig


def training_curves(history, keys=("recon", "kl"), ax=None, title: str | None = "Training curves",
                    ylabel: str = "nats per image"):
    """Plot per-epoch curves from a :class:`~vae_course.train.History` (train solid, validation dashed)."""
    fig, ax = _axes(ax, (6, 3.5))
    for color, key in zip(SERIES_COLORS, keys):
        if key in history.train:
            values = history.train[key]
            ax.plot(range(1, len(values) + 1), values, color=color, label=f"train {key}")
        if key in history.val:
            values = history.val[key]
            ax.plot(range(1, len(values) + 1), values, color=color, linestyle="--", label=f"val {key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return fig


def latent_scatter(z, labels, ax=None, title: str | None = None, s: float = 4.0):
    """Scatter of 2-D codes z: (N, 2) coloured by digit label (N,), with a legend."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    fig, ax = _axes(ax, (5, 5))
    for digit in np.unique(labels):
        pts = z[labels == digit]
        ax.scatter(pts[:, 0], pts[:, 1], s=s, color=CLASS_COLORS[int(digit) % 10], label=str(digit))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(markerscale=3, frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title)
    return fig


ESTIMATOR_LABELS = {"pathwise": "reparameterization (pathwise)", "score": "score function (REINFORCE)",
                    "score+baseline": "REINFORCE with a baseline"}


def estimator_spread(results: dict, true_value: float, component: int = 0, ax=None,
                     title: str | None = "Gradient estimates vs number of samples", labels: dict | None = None):
    """Mean and 10-90% band of gradient estimates vs sample size (log x), with the true gradient dashed.

    ``results`` comes from :func:`vae_course.estimators.estimator_spread`; ``component`` picks a dimension;
    ``labels`` (method -> legend text) overrides :data:`ESTIMATOR_LABELS`.
    """
    labels = {**ESTIMATOR_LABELS, **(labels or {})}
    fig, ax = _axes(ax, (6, 3.5))
    for color, marker, (method, r) in zip(SERIES_COLORS, "os^D", results.items()):
        n = np.asarray(r["n"])
        low, high = r["low"][:, component].numpy(), r["high"][:, component].numpy()
        for edge in (low, high):                            # band edges only: overlapping fills hide the narrow band
            ax.plot(n, edge, color=color, linewidth=1.4, linestyle="--")
        ax.plot(n, r["mean"][:, component].numpy(), color=color, marker=marker, markersize=4, linewidth=1,
                label=labels.get(method, method))
    ax.axhline(true_value, color="black", linestyle="--", linewidth=1, label="true gradient")
    ax.set_xscale("log")
    ax.set_xlabel("samples per estimate $n$")
    ax.set_ylabel("estimate (mean; dashed: 10-90% band)")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def estimator_variance(results: dict, component: int = 0, ax=None,
                       title: str | None = "Variance of the estimates", labels: dict | None = None):
    """Variance of gradient estimates vs sample size on log-log axes (one line per estimator; ``labels`` as above)."""
    labels = {**ESTIMATOR_LABELS, **(labels or {})}
    fig, ax = _axes(ax, (6, 3.5))
    for color, (method, r) in zip(SERIES_COLORS, results.items()):
        ax.plot(r["n"], r["variance"][:, component].numpy(), color=color, marker="o", markersize=3,
                label=labels.get(method, method))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples per estimate $n$")
    ax.set_ylabel("variance over repeats")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def outline_cells(ax, indices, ncols: int, color: str = "#CC3311", side: int = 28, pad: int = 2,
                  linewidth: float = 1.5):
    """Draw a frame around cells of an :func:`image_grid` (same ``ncols`` and ``pad``), e.g. to flag some images.

    ``indices``: positions in the grid, counted row by row from the top left.
    """
    from matplotlib.patches import Rectangle

    for i in indices:
        r, c = divmod(int(i), ncols)
        ax.add_patch(Rectangle((pad + c * (side + pad) - 1, pad + r * (side + pad) - 1), side + 1, side + 1,
                               fill=False, edgecolor=color, linewidth=linewidth))
    return ax.figure
