"""Interactive ipywidgets explorers for a VAE's latent space (used in notebook 05).

Why this module exists
----------------------
A static grid of decoded images shows *what* a decoder produces; moving a
slider and watching the digit morph shows *how* the latent space is organised
(which directions change stroke width, slant, digit identity, ...).  The two
explorers here give students that hands-on feel with almost no code:

* :func:`latent_explorer` -- one slider per latent dimension, the decoded image
  updates whenever a slider moves.
* :func:`interpolation_explorer` -- one slider that walks along a precomputed
  path of latent points (e.g. a straight line between the codes of two digits).

Design notes
------------
* Images are rendered to PNG bytes with Pillow (:func:`render_png`), not with
  matplotlib: a slider drag fires many updates and a PIL render of a 28x28
  image takes well under a millisecond.
* Every decode runs under :func:`torch.no_grad` (no autograd graph is built).
* Everything works without a browser: building an explorer renders the first
  image immediately and keeps the PNG bytes on ``explorer.image.value`` (ipywidgets
  stores them as a ``memoryview``; ``bytes(explorer.image.value)`` gives plain
  bytes), so the notebooks can be executed headless (nbval, nbclient) and the
  behaviour can be unit-tested by setting ``slider.value`` from Python.
* The returned boxes carry handy attributes for tests and curious students:
  ``explorer.image`` (the :class:`ipywidgets.Image`), ``explorer.sliders``
  (latent explorer) or ``explorer.slider`` (interpolation explorer), and
  ``explorer.current_z()`` (the latent point currently shown, shape
  ``(1, latent_dim)``).

Shapes used throughout (MNIST defaults, ``image_size=28``)
------------------------------------------------------------
* ``z`` passed to ``decode``: ``(1, latent_dim)`` float32 tensor.
* ``decode(z)`` must return pixel probabilities in ``[0, 1]`` with shape
  ``(1, 784)``, ``(1, 28, 28)`` or ``(1, 1, 28, 28)``.
* ``path`` for the interpolation explorer: ``(steps, latent_dim)``.
"""

from __future__ import annotations

import io
import math
from numbers import Integral, Real
from typing import Callable, Optional, Sequence, Tuple, Union

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image as PILImage

__all__ = ["latent_explorer", "interpolation_explorer", "render_png", "DISPLAY_SCALE"]

#: Each image pixel is drawn as a DISPLAY_SCALE x DISPLAY_SCALE block, so a
#: 28x28 MNIST digit is shown as a crisp 140x140 image.
DISPLAY_SCALE = 5

Decoder = Callable[[torch.Tensor], torch.Tensor]
ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[float]]


# --------------------------------------------------------------------------- #
# Pure helpers (no widgets involved -- easy to test)
# --------------------------------------------------------------------------- #
def render_png(pixels: ArrayLike, scale: int = DISPLAY_SCALE) -> bytes:
    """Encode a grey-scale image with values in ``[0, 1]`` as PNG bytes.

    Args:
        pixels: 2-D array-like of shape ``(H, W)`` (a torch tensor, numpy array
            or nested lists).  Values are clipped to ``[0, 1]``; ``0`` is black
            and ``1`` is white, as for MNIST.
        scale: integer up-scaling factor (nearest neighbour, so pixels stay
            sharp instead of being blurred by the browser).  The output image
            has shape ``(H * scale, W * scale)``.

    Returns:
        The PNG file content as ``bytes`` (what ``ipywidgets.Image.value``
        expects).

    Raises:
        ValueError: if ``pixels`` is not 2-D or ``scale`` is not a positive
            integer.
    """
    if isinstance(pixels, torch.Tensor):
        array = pixels.detach().to("cpu", torch.float32).numpy()
    else:
        array = np.asarray(pixels, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(
            f"render_png expects a 2-D (height, width) image, got shape {tuple(array.shape)}. "
            "Reshape a flat MNIST vector with pixels.reshape(28, 28) first."
        )
    if isinstance(scale, bool) or not isinstance(scale, Integral) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}.")
    array = np.nan_to_num(array, nan=0.0)
    grey = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    image = PILImage.fromarray(grey)  # uint8 (H, W) -> mode "L"
    if scale != 1:
        image = image.resize((grey.shape[1] * scale, grey.shape[0] * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _decoder_device(decode: Decoder) -> torch.device:
    """Device on which ``decode`` expects its input (CPU unless it is a Module on GPU)."""
    if isinstance(decode, torch.nn.Module):
        for tensor in decode.parameters():
            return tensor.device
        for tensor in decode.buffers():
            return tensor.device
    return torch.device("cpu")


def _decode_pixels(decode: Decoder, z: torch.Tensor, image_size: int) -> torch.Tensor:
    """Run ``decode`` on one latent point and return a CPU ``(image_size, image_size)`` image.

    Args:
        decode: the student's decoder callable.
        z: latent point of shape ``(1, latent_dim)``.
        image_size: side length of the square output image.

    Raises:
        ValueError: if the decoder output has the wrong type/shape or values
            outside ``[0, 1]`` -- with a message explaining how to fix it.
    """
    latent_dim = z.shape[1]
    expected = (
        f"(1, {image_size * image_size}), (1, {image_size}, {image_size}) "
        f"or (1, 1, {image_size}, {image_size})"
    )
    with torch.no_grad():
        out = decode(z.to(_decoder_device(decode)))
    if isinstance(out, (tuple, list)):
        raise ValueError(
            f"decode(z) returned a {type(out).__name__} of {len(out)} items; expected a single "
            f"tensor of pixel probabilities with shape {expected}. If your model returns several "
            "values, pass a small wrapper, e.g. decode=lambda z: model.decode(z)[0]."
        )
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out))
    out = out.detach().to("cpu", torch.float32)
    n_pixels = image_size * image_size
    ok_shapes = {(1, n_pixels), (1, image_size, image_size), (1, 1, image_size, image_size)}
    if tuple(out.shape) not in ok_shapes:
        raise ValueError(
            f"decode(z) returned shape {tuple(out.shape)} for z of shape (1, {latent_dim}); "
            f"expected {expected} (one image of {image_size}x{image_size} pixel probabilities). "
            "Check that decode takes a (1, latent_dim) batch and returns the decoder's "
            "per-pixel Bernoulli means; if your images are not "
            f"{image_size}x{image_size}, pass image_size=... to the explorer."
        )
    if not torch.isfinite(out).all():
        raise ValueError("decode(z) returned NaN or infinite values; check the decoder weights.")
    lo, hi = float(out.min()), float(out.max())
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(
            f"decode(z) returned values in [{lo:.3g}, {hi:.3g}], but pixel probabilities must lie "
            "in [0, 1]. If your decoder outputs logits, wrap it: "
            "decode=lambda z: torch.sigmoid(model.decode(z))."
        )
    return out.reshape(image_size, image_size)


def _check_decode(decode: Decoder) -> None:
    if not callable(decode):
        raise ValueError(
            f"decode must be a callable mapping a (1, latent_dim) tensor to pixel probabilities, "
            f"got {type(decode).__name__}. Pass e.g. model.decode or a trained decoder module."
        )


def _check_image_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, Integral) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer (28 for MNIST), got {image_size!r}.")


# --------------------------------------------------------------------------- #
# Widgets
# --------------------------------------------------------------------------- #
def _make_image(png: bytes, image_size: int, css_class: str = "vae-decoded-image") -> widgets.Image:
    """PNG image widget shown at its natural size (``image_size * DISPLAY_SCALE`` px).

    The explicit size and ``align_self`` stop the surrounding flex box from
    stretching (and blurring) the picture to the full notebook width.
    """
    side = f"{image_size * DISPLAY_SCALE}px"
    image = widgets.Image(
        value=png,
        format="png",
        layout=widgets.Layout(width=side, height=side, align_self="flex-start"),
    )
    image.add_class(css_class)
    return image


def latent_explorer(
    decode: Decoder,
    latent_dim: int,
    value_range: Tuple[float, float] = (-3.0, 3.0),
    step: float = 0.1,
    initial: Optional[ArrayLike] = None,
    image_size: int = 28,
    *,
    labels: Optional[Sequence[str]] = None,
) -> widgets.VBox:
    """Build sliders for every latent coordinate and show the decoded image live.

    Each slider is long (one step is several pixels) and says what it moves
    (``labels``, default ``z₁``, ``z₂``, ...; for a 2-D code ``z₁ (horizontal
    axis of the latent map)`` and ``z₂ (vertical axis ...)``, the axes of the
    notebooks' maps); its readout shows the current value, and a caption under
    the decoded image (CSS class ``vae-decoded-caption``) says which ``z`` it is.

    What: one :class:`ipywidgets.FloatSlider` per latent dimension (labelled
    ``z[0]``, ``z[1]``, ...) followed by an :class:`ipywidgets.Image` with
    ``decode(z)``.  Moving any slider decodes the new point and replaces the
    image.

    Why: the prior of a VAE is a standard normal, so ``value_range=(-3, 3)``
    covers ~99.7% of the prior mass per coordinate; walking a single
    coordinate while keeping the others fixed reveals what that latent
    direction encodes.

    Args:
        decode: callable mapping ``z`` of shape ``(1, latent_dim)`` (float32,
            on the decoder's device when ``decode`` is an ``nn.Module``) to
            pixel probabilities in ``[0, 1]`` of shape ``(1, image_size**2)``,
            ``(1, image_size, image_size)`` or ``(1, 1, image_size, image_size)``.
            It is called under ``torch.no_grad()``.  Put your model in
            ``eval()`` mode first if it uses dropout/batch-norm.
        latent_dim: number of latent dimensions (>= 1) -- one slider each.
        value_range: ``(low, high)`` range of every slider, ``low < high``.
        step: slider resolution (> 0).
        initial: optional starting point, ``latent_dim`` values (shape
            ``(latent_dim,)`` or ``(1, latent_dim)``), each inside
            ``value_range``.  Defaults to the origin (the prior mean).
        image_size: side length of the decoded square image (28 for MNIST).

    Returns:
        An :class:`ipywidgets.VBox` with CSS class ``vae-latent-explorer`` whose
        children are the sliders followed by the image (CSS class
        ``vae-decoded-image``, shown at ``DISPLAY_SCALE`` x size).  Extra
        attributes: ``.sliders`` (tuple of sliders), ``.image`` (the Image,
        whose ``.value`` holds the current PNG bytes) and ``.current_z()``
        (tensor of shape ``(1, latent_dim)``).

    Raises:
        ValueError: for invalid arguments, or when ``decode`` returns the wrong
            shape/range (checked immediately on the initial point).
    """
    _check_decode(decode)
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, Integral) or latent_dim < 1:
        raise ValueError(
            f"latent_dim must be a positive integer (the size of z), got {latent_dim!r}."
        )
    latent_dim = int(latent_dim)
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"value_range must be a pair of numbers (low, high), got {value_range!r}."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must satisfy low < high (finite), got {value_range!r}.")
    if isinstance(step, bool) or not isinstance(step, Real) or not step > 0:
        raise ValueError(f"step must be a positive number, got {step!r}.")
    _check_image_size(image_size)

    if initial is None:
        start = [min(max(0.0, low), high)] * latent_dim
    else:
        start_t = torch.as_tensor(
            initial.detach().cpu() if isinstance(initial, torch.Tensor) else np.asarray(initial),
            dtype=torch.float32,
        )
        if start_t.numel() != latent_dim or start_t.dim() not in (1, 2):
            raise ValueError(
                f"initial must hold latent_dim={latent_dim} values (shape ({latent_dim},) or "
                f"(1, {latent_dim})), got shape {tuple(start_t.shape)}."
            )
        start = [float(v) for v in start_t.reshape(-1)]
        bad = [i for i, v in enumerate(start) if not (low <= v <= high)]
        if bad:
            raise ValueError(
                f"initial values for z{bad} lie outside value_range ({low}, {high}); "
                "widen value_range or clip the starting point."
            )

    names = _slider_labels(labels, latent_dim)
    sliders = tuple(
        widgets.FloatSlider(
            value=start[i],
            min=low,
            max=high,
            step=step,
            description=names[i],
            readout_format="+.2f",
            continuous_update=True,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="min(100%, 640px)"),
        )
        for i in range(latent_dim)
    )

    def current_z() -> torch.Tensor:
        return torch.tensor([[s.value for s in sliders]], dtype=torch.float32)

    # Render once up front: validates `decode` and gives headless runs an image.
    image = _make_image(render_png(_decode_pixels(decode, current_z(), image_size)), image_size)
    caption = _caption(f"decoded image of {_describe_z(current_z()[0])}")

    def _update(_change=None) -> None:
        z = current_z()
        image.value = render_png(_decode_pixels(decode, z, image_size))
        caption.value = f"decoded image of {_describe_z(z[0])}"

    for slider in sliders:
        slider.observe(_update, names="value")

    box = widgets.VBox(children=[*sliders, image, caption])
    box.add_class("vae-latent-explorer")
    box.sliders = sliders
    box.image = image
    box.caption = caption
    box.current_z = current_z
    return box


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _slider_labels(labels: Optional[Sequence[str]], latent_dim: int) -> list:
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


def _describe_z(z: torch.Tensor, most: int = 8) -> str:
    """``z = (+0.50, -1.20)`` (the first ``most`` values)."""
    values = ", ".join(f"{v:+.2f}" for v in z.tolist()[:most])
    return f"z = ({values}{', ...' if z.numel() > most else ''})"


def _caption(text: str) -> widgets.Label:
    """The line under a decoded image (CSS class ``vae-decoded-caption``)."""
    caption = widgets.Label(value=text)
    caption.add_class("vae-decoded-caption")
    return caption


def interpolation_explorer(decode: Decoder, path: ArrayLike, image_size: int = 28, *,
                           method: str = "") -> widgets.VBox:
    """Step through a precomputed path of latent points with one slider.

    Shown: the slider over ``t`` from 0 to 1 (one step per point of the path),
    the decoded start (t = 0), current and end (t = 1) images side by side, and
    a caption (CSS class ``vae-decoded-caption``) with the path's ``method``
    (e.g. ``"slerp"`` or ``"lerp"``), t and the step.

    What: an :class:`ipywidgets.IntSlider` (``0 .. steps-1``) and the image
    ``decode(path[i])``; a label shows the current ``z`` values.

    Why: interpolating between the codes of two real digits (``z_a`` ->
    ``z_b``) shows whether the latent space is *smooth*: in a well-trained VAE
    every intermediate point decodes to a plausible digit, whereas a plain
    autoencoder often produces garbage between training codes.

    Args:
        decode: callable mapping ``(1, latent_dim)`` to pixel probabilities of
            shape ``(1, image_size**2)`` / ``(1, 1, image_size, image_size)``,
            as for :func:`latent_explorer`.  Called under ``torch.no_grad()``.
        path: latent points of shape ``(steps, latent_dim)``, e.g.
            ``torch.stack([(1 - t) * z_a + t * z_b for t in torch.linspace(0, 1, 10)])``.
        image_size: side length of the decoded square image (28 for MNIST).

    Returns:
        An :class:`ipywidgets.VBox` with CSS class
        ``vae-interpolation-explorer`` containing the slider, a label and the
        image (CSS class ``vae-decoded-image``).  Extra attributes: ``.slider``,
        ``.image`` (``.value`` = current PNG bytes), ``.path`` (the path as a
        float32 CPU tensor) and ``.current_z()`` (shape ``(1, latent_dim)``).
        Decoded frames are cached, so scrubbing back and forth is instant.

    Raises:
        ValueError: if ``path`` is not a non-empty 2-D array of finite numbers,
            or ``decode`` returns the wrong shape/range.
    """
    _check_decode(decode)
    _check_image_size(image_size)
    try:
        path_t = torch.as_tensor(
            path.detach().cpu() if isinstance(path, torch.Tensor) else np.asarray(path),
            dtype=torch.float32,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"path must be a numeric (steps, latent_dim) array: {exc}") from None
    if path_t.dim() != 2:
        hint = (
            " For a single point use path.unsqueeze(0); for a list of (latent_dim,) points "
            "use torch.stack(points)."
            if path_t.dim() == 1
            else ""
        )
        raise ValueError(
            f"path must have shape (steps, latent_dim) (2 dimensions), got shape "
            f"{tuple(path_t.shape)} with {path_t.dim()} dimension(s).{hint}"
        )
    steps, latent_dim = path_t.shape
    if steps < 1 or latent_dim < 1:
        raise ValueError(
            f"path must contain at least one point with at least one latent dimension, "
            f"got shape {tuple(path_t.shape)}."
        )
    if not torch.isfinite(path_t).all():
        raise ValueError("path contains NaN or infinite values.")

    cache: dict = {}

    def frame(i: int) -> bytes:
        if i not in cache:
            cache[i] = render_png(_decode_pixels(decode, path_t[i : i + 1], image_size))
        return cache[i]

    def describe(i: int) -> str:
        values = ", ".join(f"{v:+.2f}" for v in path_t[i].tolist()[:8])
        more = ", ..." if latent_dim > 8 else ""
        return f"z = [{values}{more}]"

    def caption_text(i: int) -> str:
        t = i / (steps - 1) if steps > 1 else 0.0
        return f"{method + ': ' if method else ''}t = {t:.2f} (step {i + 1} of {steps})"

    slider = widgets.IntSlider(
        value=0, min=0, max=steps - 1, step=1, description=f"step along the {method or 'path'}",
        continuous_update=True, style={"description_width": "initial"},
        layout=widgets.Layout(width="min(100%, 640px)"),
    )
    label = widgets.Label(value=describe(0))
    image = _make_image(frame(0), image_size)
    caption = _caption(caption_text(0))
    ends = [widgets.VBox([_make_image(frame(i), image_size, "vae-path-end"), _caption(name)])
            for i, name in ((0, "start, t = 0"), (steps - 1, "end, t = 1"))]
    images = widgets.HBox([ends[0], widgets.VBox([image, caption]), ends[1]],
                          layout=widgets.Layout(gap="12px"))

    def _update(change) -> None:
        i = int(change["new"])
        image.value = frame(i)
        label.value = describe(i)
        caption.value = caption_text(i)

    slider.observe(_update, names="value")

    box = widgets.VBox(children=[slider, label, images])
    box.add_class("vae-interpolation-explorer")
    box.slider = slider
    box.image = image
    box.caption = caption
    box.path = path_t
    box.current_z = lambda: path_t[slider.value : slider.value + 1].clone()
    return box
