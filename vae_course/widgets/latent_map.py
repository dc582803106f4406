"""The 2-D latent map of the latent explorer, with a marker where its sliders are.

The map is a square picture of the part of the latent plane the sliders cover,
``value_range x value_range``: z₁ grows to the right, z₂ upwards, as on the notebooks'
scatter plots. Its background is either the codes of real images (``codes: (N, 2)``,
coloured by ``code_labels: (N,)``, as in notebook 05's scatter plot) or, without codes,
the decoded manifold: a grid of ``tiles x tiles`` decoded images, each drawn where its
code lies. A red ring marks the sliders' position; only the ring is redrawn when a slider
moves (the background is rendered once).

Where the marker is, is data (:func:`map_pixel`, ``LatentMap.marker`` and
``LatentMap.marker_pixel``), so tests check it without reading pixels.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw

from .rendering import Decoder, as_float_tensor, caption, decode_pixels, decoder_device, image_widget, png_bytes

#: Side of the map in screen pixels.
MAP_SIZE = 280
#: Radius of the red ring that marks the sliders' position, in pixels.
MARKER_RADIUS = 7
MARKER_COLOUR = (228, 26, 28)


def map_pixel(z1: float, z2: float, value_range: tuple[float, float], size: int = MAP_SIZE) -> tuple[float, float]:
    """Where the code ``(z1, z2)`` lies on a ``size`` x ``size`` map of ``value_range`` -> ``(x, y)`` in pixels.

    ``x`` grows with z₁ (0 at ``low``, ``size`` at ``high``); ``y`` grows *downwards* as in
    every image, so it shrinks as z₂ grows (``size`` at ``low``, 0 at ``high``).
    """
    low, high = value_range
    return (z1 - low) / (high - low) * size, (high - z2) / (high - low) * size


def _manifold(decode: Decoder, value_range, image_size: int, tiles: int, size: int) -> PILImage.Image:
    """``tiles x tiles`` decoded images; tile ``(row, col)`` shows the code at its centre on the map."""
    low, high = value_range
    centres = torch.linspace(low, high, tiles + 1)[:-1] + (high - low) / (2 * tiles)
    z1, z2 = torch.meshgrid(centres, centres.flip(0), indexing="xy")  # the top row has the largest z2
    grid = torch.stack([z1.flatten(), z2.flatten()], dim=1)  # (tiles**2, 2), row by row
    pixels = _decode_grid(decode, grid, image_size)  # (tiles**2, image_size, image_size)
    sheet = pixels.reshape(tiles, tiles, image_size, image_size).permute(0, 2, 1, 3).reshape(
        tiles * image_size, tiles * image_size)
    grey = PILImage.fromarray((sheet.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
    # Dimmed a little, so the red marker stands out on white strokes.
    return grey.resize((size, size), PILImage.BILINEAR).point(lambda v: 40 + v * 0.7).convert("RGB")


def _decode_grid(decode: Decoder, grid: torch.Tensor, image_size: int) -> torch.Tensor:
    """``decode`` of every code of ``grid: (N, 2)`` -> ``(N, image_size, image_size)``.

    One batched call when ``decode`` accepts a batch (100 single calls to a small decoder take
    about a second, one call of 100 a few milliseconds); one call per code otherwise, as the
    explorer's contract promises only ``(1, latent_dim)`` inputs.
    """
    try:
        with torch.no_grad():
            out = as_float_tensor(decode(grid.to(decoder_device(decode))))
        if out.numel() == len(grid) * image_size**2 and len(out) == len(grid) and torch.isfinite(out).all() \
                and out.min() >= -1e-4 and out.max() <= 1 + 1e-4:
            return out.reshape(len(grid), image_size, image_size)
    except Exception:  # noqa: BLE001 - a decoder written for one code at a time: decode them one by one
        pass
    return torch.stack([decode_pixels(decode, z[None], image_size) for z in grid])


def _scatter(codes: torch.Tensor, code_labels: torch.Tensor | None, value_range, size: int) -> PILImage.Image:
    """The codes as small dots on white (colour by label: matplotlib's tab10), with the axes z = 0 in grey."""
    image = PILImage.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    x0, y0 = map_pixel(0.0, 0.0, value_range, size)
    draw.line([(x0, 0), (x0, size)], fill=(190, 190, 190))
    draw.line([(0, y0), (size, y0)], fill=(190, 190, 190))
    palette = matplotlib.colormaps["tab10"]
    for i, (z1, z2) in enumerate(codes.tolist()):
        x, y = map_pixel(z1, z2, value_range, size)
        label = int(code_labels[i]) if code_labels is not None else 0
        colour = tuple(int(255 * c) for c in palette(label % 10)[:3])
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=colour)
    return image


class LatentMap:
    """The map widget (``.image``, CSS class ``vae-latent-map``) and its caption, with a movable marker.

    ``move_to(z1, z2)`` redraws the marker; ``.marker`` is the code it marks and
    ``.marker_pixel`` its ``(x, y)`` on the map (see :func:`map_pixel`).
    """

    def __init__(self, background: PILImage.Image, value_range: tuple[float, float], z1: float, z2: float):
        self.background, self.value_range, self.size = background, value_range, background.width
        self.image = image_widget(b"", self.size, "vae-latent-map")
        self.caption = caption("", "vae-latent-map-caption")
        self.move_to(z1, z2)

    @property
    def marker_pixel(self) -> tuple[float, float]:
        return map_pixel(*self.marker, self.value_range, self.size)

    def move_to(self, z1: float, z2: float) -> None:
        self.marker = (float(z1), float(z2))
        x, y = self.marker_pixel
        image = self.background.copy()
        draw = ImageDraw.Draw(image)
        r = MARKER_RADIUS
        draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], outline="white", width=1)  # seen on dark too
        draw.ellipse([x - r, y - r, x + r, y + r], outline=MARKER_COLOUR, width=3)
        draw.point([(x, y)], fill=MARKER_COLOUR)
        self.image.value = png_bytes(image)
        # Short enough to fit under the map (the sliders' labels say which axis is which).
        self.caption.value = f"red ring = the sliders, z = ({z1:+.2f}, {z2:+.2f})"


def latent_map(decode: Decoder, value_range: tuple[float, float], start: tuple[float, float], image_size: int, *,
               codes=None, code_labels=None, tiles: int = 10, size: int = MAP_SIZE) -> LatentMap:
    """The map of a 2-D latent space with the marker at ``start``: the codes if given, else the decoded manifold.

    ``codes: (N, 2)``, e.g. the mean codes of validation images; ``code_labels: (N,)`` their
    digit classes (colours). Without codes, ``decode`` is called once per tile (``tiles**2``
    calls, once, when the explorer is built).
    """
    if codes is None:
        if code_labels is not None:
            raise ValueError("code_labels colour the codes: pass codes=... (shape (N, 2)) with them.")
        background = _manifold(decode, value_range, image_size, tiles, size)
    else:
        codes = as_float_tensor(codes)
        if codes.dim() != 2 or codes.shape[1] != 2:
            raise ValueError(f"codes must have shape (N, 2) (one 2-D code per image), got {tuple(codes.shape)}.")
        if code_labels is not None:
            code_labels = as_float_tensor(code_labels).reshape(-1)
            if len(code_labels) != len(codes):
                raise ValueError(f"code_labels must hold one label per code: {len(codes)} codes, "
                                 f"{len(code_labels)} labels.")
        background = _scatter(codes, code_labels, value_range, size)
    return LatentMap(background, value_range, *start)
