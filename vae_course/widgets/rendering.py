"""What every explorer shares: turning a decoder's output into a PNG, and the checks on the arguments.

Images are rendered to PNG bytes with Pillow (:func:`render_png`), not with matplotlib: a
slider drag fires many updates and a PIL render of a 28x28 image takes well under a
millisecond. Every decode runs under :func:`torch.no_grad` (no autograd graph is built).

Shapes (MNIST defaults, ``image_size=28``): ``decode`` receives ``z: (1, latent_dim)``
float32 and returns pixel probabilities in [0, 1] of shape ``(1, 784)``, ``(1, 28, 28)``
or ``(1, 1, 28, 28)``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from numbers import Integral

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image as PILImage

#: Each image pixel is drawn as a DISPLAY_SCALE x DISPLAY_SCALE block, so a
#: 28x28 MNIST digit is shown as a crisp 140x140 image.
DISPLAY_SCALE = 5

Decoder = Callable[[torch.Tensor], torch.Tensor]
ArrayLike = torch.Tensor | np.ndarray | Sequence[float]

#: Width of the sliders: long enough that one step of a 61-step slider is several pixels.
SLIDER_LAYOUT = {"width": "min(100%, 640px)"}


def render_png(pixels: ArrayLike, scale: int = DISPLAY_SCALE) -> bytes:
    """A grey-scale image ``pixels: (H, W)`` in [0, 1] as PNG bytes of ``(H * scale, W * scale)`` pixels.

    ``pixels`` may be a tensor, an array or nested lists; values are clipped to [0, 1]
    (0 black, 1 white, as for MNIST; NaN becomes 0). Up-scaling is nearest neighbour, so
    pixels stay sharp instead of being blurred by the browser. The bytes are what
    ``ipywidgets.Image.value`` expects. A ``ValueError`` says what to change when
    ``pixels`` is not 2-D or ``scale`` is not a positive integer.
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
    check_positive_int(scale, "scale")
    grey = (np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return png_bytes(PILImage.fromarray(grey), scale)  # uint8 (H, W) -> mode "L"


def png_bytes(image: PILImage.Image, scale: int = 1) -> bytes:
    """A PIL image, enlarged ``scale`` times (nearest neighbour), as PNG bytes."""
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), PILImage.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def check_positive_int(value, name: str, what: str = "") -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is an integer >= 1 (``True`` is not)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer{what}, got {value!r}.")


def check_decode(decode) -> None:
    if not callable(decode):
        raise ValueError(
            f"decode must be a callable mapping a (1, latent_dim) tensor to pixel probabilities, "
            f"got {type(decode).__name__}. Pass e.g. model.decode or a trained decoder module."
        )


def as_float_tensor(values: ArrayLike) -> torch.Tensor:
    """``values`` (tensor, array or nested lists) as a float32 CPU tensor."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float32)
    return torch.as_tensor(np.asarray(values), dtype=torch.float32)


def decoder_device(decode: Decoder) -> torch.device:
    """Device on which ``decode`` expects its input (CPU unless it is a Module on GPU)."""
    if isinstance(decode, torch.nn.Module):
        for tensor in decode.parameters():
            return tensor.device
        for tensor in decode.buffers():
            return tensor.device
    return torch.device("cpu")


def decode_pixels(decode: Decoder, z: torch.Tensor, image_size: int) -> torch.Tensor:
    """``decode`` run on one latent point ``z: (1, latent_dim)`` -> a CPU image ``(image_size, image_size)``.

    A ``ValueError`` explains how to fix a decoder output of the wrong type or shape, or
    with values outside [0, 1] (logits instead of probabilities).
    """
    latent_dim = z.shape[1]
    expected = (
        f"(1, {image_size * image_size}), (1, {image_size}, {image_size}) "
        f"or (1, 1, {image_size}, {image_size})"
    )
    with torch.no_grad():
        out = decode(z.to(decoder_device(decode)))
    if isinstance(out, (tuple, list)):
        raise ValueError(
            f"decode(z) returned a {type(out).__name__} of {len(out)} items; expected a single "
            f"tensor of pixel probabilities with shape {expected}. If your model returns several "
            "values, pass a small wrapper, e.g. decode=lambda z: model.decode(z)[0]."
        )
    out = as_float_tensor(out)
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


def image_widget(png: bytes, side: int, css_class: str = "vae-decoded-image") -> widgets.Image:
    """A PNG image widget shown at its natural size, ``side`` x ``side`` px.

    The explicit size and ``align_self`` stop the surrounding flex box from stretching (and
    blurring) the picture to the full notebook width.
    """
    image = widgets.Image(value=png, format="png",
                          layout=widgets.Layout(width=f"{side}px", height=f"{side}px", align_self="flex-start"))
    image.add_class(css_class)
    return image


def caption(text: str, css_class: str = "vae-decoded-caption") -> widgets.Label:
    """The line under an image (CSS class ``vae-decoded-caption`` by default)."""
    label = widgets.Label(value=text)
    label.add_class(css_class)
    return label


def describe_z(z: torch.Tensor, most: int = 8) -> str:
    """``z = (+0.50, -1.20)`` for ``z: (latent_dim,)`` (the first ``most`` values, then ``...``)."""
    values = ", ".join(f"{v:+.2f}" for v in z.tolist()[:most])
    return f"z = ({values}{', ...' if z.numel() > most else ''})"


def column(children: list) -> widgets.VBox:
    """An image over its caption, with room to its right (ipywidgets 8's Layout has no ``gap``)."""
    return widgets.VBox(children, layout=widgets.Layout(margin="0 16px 8px 0"))


def row(columns: list) -> widgets.HBox:
    """Columns side by side, wrapping onto the next line in a narrow notebook."""
    return widgets.HBox(columns, layout=widgets.Layout(flex_flow="row wrap"))
