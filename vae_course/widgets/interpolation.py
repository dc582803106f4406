"""The interpolation explorer: one slider that walks along a precomputed path of latent points.

Interpolating between the codes of two real digits (``z_a`` -> ``z_b``) shows whether the
latent space is *smooth*: in a well-trained VAE every intermediate point decodes to a
plausible digit, whereas a plain autoencoder often produces garbage between training codes.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from .rendering import (DISPLAY_SCALE, SLIDER_LAYOUT, ArrayLike, Decoder, as_float_tensor, caption, check_decode,
                        check_positive_int, column, decode_pixels, describe_z, image_widget, render_png, row)


def interpolation_explorer(decode: Decoder, path: ArrayLike, image_size: int = 28, *,
                           method: str = "") -> widgets.VBox:
    """Step through ``path: (steps, latent_dim)`` with one slider; the start, current and end images side by side.

    ``decode`` is as for :func:`~.latent_explorer.latent_explorer` (``(1, latent_dim)`` ->
    pixel probabilities, called under ``torch.no_grad()``). ``path`` is e.g.
    ``latent.slerp(z_a, z_b, torch.linspace(0, 1, 21))``; ``method`` names it (``"lerp"``,
    ``"slerp"``) in the slider's label and the caption.

    Shown: the slider over the steps (``0 .. steps-1``, t = step / (steps - 1) from 0 to 1),
    a label with the current ``z``, the decoded start (t = 0), current and end (t = 1)
    images, and a caption under the current one (CSS class ``vae-decoded-caption``) with the
    method, t and the step. Decoded frames are cached, so scrubbing back and forth is instant.

    Returns a ``VBox`` (CSS class ``vae-interpolation-explorer``): the slider, the label and
    the row of images. Attributes: ``.slider``, ``.image`` (``.value`` = current PNG bytes),
    ``.caption``, ``.path`` (float32 CPU tensor) and ``.current_z()`` (shape ``(1, latent_dim)``).
    A ``ValueError`` says what to change if ``path`` is not a non-empty 2-D array of finite
    numbers, or ``decode`` returns the wrong shape or range.
    """
    check_decode(decode)
    check_positive_int(image_size, "image_size", " (28 for MNIST)")
    path_t = _path(path)
    steps = len(path_t)
    cache: dict[int, bytes] = {}

    def frame(i: int) -> bytes:
        if i not in cache:
            cache[i] = render_png(decode_pixels(decode, path_t[i:i + 1], image_size))
        return cache[i]

    def caption_text(i: int) -> str:
        t = i / (steps - 1) if steps > 1 else 0.0
        return f"{method + ': ' if method else ''}t = {t:.2f} (step {i + 1} of {steps})"

    side = image_size * DISPLAY_SCALE
    slider = widgets.IntSlider(value=0, min=0, max=steps - 1, step=1, description=f"step along the {method or 'path'}",
                               continuous_update=True, style={"description_width": "initial"},
                               layout=widgets.Layout(**SLIDER_LAYOUT))
    label = widgets.Label(value=describe_z(path_t[0]))
    image = image_widget(frame(0), side)
    text = caption(caption_text(0))
    ends = [column([image_widget(frame(i), side, "vae-path-end"), caption(name)])
            for i, name in ((0, "start, t = 0"), (steps - 1, "end, t = 1"))]
    images = row([ends[0], column([image, text]), ends[1]])

    def _update(change) -> None:
        i = int(change["new"])
        image.value = frame(i)
        label.value = describe_z(path_t[i])
        text.value = caption_text(i)

    slider.observe(_update, names="value")

    box = widgets.VBox(children=[slider, label, images])
    box.add_class("vae-interpolation-explorer")
    box.slider, box.image, box.caption, box.path = slider, image, text, path_t
    box.current_z = lambda: path_t[slider.value:slider.value + 1].clone()
    return box


def _path(path: ArrayLike) -> torch.Tensor:
    """``path`` as a float32 tensor ``(steps, latent_dim)``, or a ``ValueError`` that says how to fix it."""
    try:
        path_t = as_float_tensor(path)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"path must be a numeric (steps, latent_dim) array: {exc}") from None
    if path_t.dim() != 2:
        hint = (" For a single point use path.unsqueeze(0); for a list of (latent_dim,) points "
                "use torch.stack(points).") if path_t.dim() == 1 else ""
        raise ValueError(f"path must have shape (steps, latent_dim) (2 dimensions), got shape "
                         f"{tuple(path_t.shape)} with {path_t.dim()} dimension(s).{hint}")
    if path_t.shape[0] < 1 or path_t.shape[1] < 1:
        raise ValueError(f"path must contain at least one point with at least one latent dimension, "
                         f"got shape {tuple(path_t.shape)}.")
    if not torch.isfinite(path_t).all():
        raise ValueError("path contains NaN or infinite values.")
    return path_t
