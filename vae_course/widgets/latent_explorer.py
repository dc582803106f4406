"""The latent explorer: one slider per latent coordinate, the decoded image live, and for a 2-D code a map.

Moving a slider and watching the digit morph shows *how* the latent space is organised
(which directions change stroke width, slant, digit identity, ...). For a 2-D code the
explorer also shows the latent plane (:mod:`.latent_map`) with a red ring where the
sliders are, so the student sees where on the map the decoded image comes from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import ipywidgets as widgets
import torch

from .latent_map import latent_map
from .rendering import (DISPLAY_SCALE, SLIDER_LAYOUT, ArrayLike, Decoder, as_float_tensor, caption, check_decode,
                        check_positive_int, column, decode_pixels, describe_z, image_widget, render_png, row)

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def latent_explorer(decode: Decoder, latent_dim: int, value_range: tuple[float, float] = (-3.0, 3.0),
                    step: float = 0.1, initial: ArrayLike | None = None, image_size: int = 28, *,
                    labels: Sequence[str] | None = None, codes: ArrayLike | None = None,
                    code_labels: ArrayLike | None = None) -> widgets.VBox:
    """Sliders for every latent coordinate, the decoded image updated live, and for a 2-D code the map.

    ``decode`` maps ``z: (1, latent_dim)`` (float32, on the decoder's device when it is an
    ``nn.Module``; called under ``torch.no_grad()``, so put the model in ``eval()`` first) to
    pixel probabilities in [0, 1] of shape ``(1, image_size**2)``, ``(1, image_size,
    image_size)`` or ``(1, 1, image_size, image_size)``. Every slider covers ``value_range``
    in steps of ``step``: the prior is N(0, I), so (-3, 3) covers ~99.7% of its mass per
    coordinate. ``initial: (latent_dim,)`` or ``(1, latent_dim)`` is the starting point
    (default: the origin, the prior mean).

    Each slider is long (one step is several pixels) and says what it moves (``labels``,
    default ``z₁``, ``z₂``, ...; for a 2-D code ``z₁ (horizontal axis of the latent map)``
    and ``z₂ (vertical axis ...)``); its readout shows the current value, and a caption
    under the decoded image (CSS class ``vae-decoded-caption``) says which ``z`` it is.

    For ``latent_dim == 2`` the decoded image sits next to the latent map (CSS class
    ``vae-latent-map``) with a red ring at the sliders' position, moved with them: the map
    shows ``codes: (N, 2)`` coloured by ``code_labels: (N,)`` when given (e.g. the mean
    codes of the validation digits), else the decoded manifold.

    Returns a ``VBox`` (CSS class ``vae-latent-explorer``): the sliders, then the image(s).
    Attributes: ``.sliders``, ``.image`` (``.value`` holds the current PNG bytes),
    ``.caption``, ``.current_z()`` (shape ``(1, latent_dim)``) and, for a 2-D code,
    ``.map`` (a :class:`~.latent_map.LatentMap`: ``.marker``, ``.marker_pixel``).
    A ``ValueError`` says what to change for invalid arguments, or when ``decode`` returns
    the wrong shape or range (checked at once, on the initial point).
    """
    check_decode(decode)
    check_positive_int(latent_dim, "latent_dim", " (the size of z)")
    latent_dim = int(latent_dim)
    low, high = _value_range(value_range)
    if isinstance(step, bool) or not isinstance(step, Real) or not step > 0:
        raise ValueError(f"step must be a positive number, got {step!r}.")
    check_positive_int(image_size, "image_size", " (28 for MNIST)")
    start = _start(initial, latent_dim, low, high)
    if latent_dim != 2 and (codes is not None or code_labels is not None):
        raise ValueError(f"codes are drawn on the map of a 2-D latent space; latent_dim is {latent_dim}.")

    names = _slider_labels(labels, latent_dim)
    sliders = tuple(
        widgets.FloatSlider(value=start[i], min=low, max=high, step=step, description=names[i],
                            readout_format="+.2f", continuous_update=True,
                            style={"description_width": "initial"}, layout=widgets.Layout(**SLIDER_LAYOUT))
        for i in range(latent_dim)
    )

    def current_z() -> torch.Tensor:
        return torch.tensor([[s.value for s in sliders]], dtype=torch.float32)

    # Render once up front: validates `decode` and gives headless runs an image.
    image = image_widget(render_png(decode_pixels(decode, current_z(), image_size)), image_size * DISPLAY_SCALE)
    text = caption(f"decoded image of {describe_z(current_z()[0])}")
    the_map = (latent_map(decode, (low, high), tuple(start), image_size, codes=codes, code_labels=code_labels)
               if latent_dim == 2 else None)

    def _update(_change=None) -> None:
        z = current_z()
        image.value = render_png(decode_pixels(decode, z, image_size))
        text.value = f"decoded image of {describe_z(z[0])}"
        if the_map is not None:
            the_map.move_to(*z[0].tolist())

    for slider in sliders:
        slider.observe(_update, names="value")

    if the_map is None:
        shown = [image, text]
    else:
        shown = [row([column([the_map.image, the_map.caption]), column([image, text])])]
    box = widgets.VBox(children=[*sliders, *shown])
    box.add_class("vae-latent-explorer")
    box.sliders, box.image, box.caption, box.map, box.current_z = sliders, image, text, the_map, current_z
    return box


def _value_range(value_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair of numbers (low, high), got {value_range!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must satisfy low < high (finite), got {value_range!r}.")
    return low, high


def _start(initial, latent_dim: int, low: float, high: float) -> list[float]:
    """The sliders' first values: ``initial`` checked against the range, else the origin (clipped to it)."""
    if initial is None:
        return [min(max(0.0, low), high)] * latent_dim
    start = as_float_tensor(initial)
    if start.numel() != latent_dim or start.dim() not in (1, 2):
        raise ValueError(f"initial must hold latent_dim={latent_dim} values (shape ({latent_dim},) or "
                         f"(1, {latent_dim})), got shape {tuple(start.shape)}.")
    values = [float(v) for v in start.reshape(-1)]
    bad = [i for i, v in enumerate(values) if not (low <= v <= high)]
    if bad:
        raise ValueError(f"initial values for z{bad} lie outside value_range ({low}, {high}); "
                         "widen value_range or clip the starting point.")
    return values


def _slider_labels(labels: Sequence[str] | None, latent_dim: int) -> list[str]:
    """The sliders' labels: ``labels`` as given, else ``z₁ .. z_D`` (the axes of the map for a 2-D code)."""
    if labels is not None:
        labels = [str(label) for label in labels]
        if len(labels) != latent_dim:
            raise ValueError(f"labels must name each of the latent_dim={latent_dim} sliders, got {len(labels)}.")
        return labels
    names = [f"z{str(i + 1).translate(_SUBSCRIPTS)}" for i in range(latent_dim)]
    if latent_dim == 2:
        names = [f"{names[0]} (horizontal axis of the latent map)", f"{names[1]} (vertical axis of the latent map)"]
    return names
