"""Unit tests for vae_course.widgets (no browser needed).

The explorers must work headless: building them renders a first image and
changing ``slider.value`` from Python must re-render ``explorer.image.value``.
"""

import io

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.widgets import DISPLAY_SCALE, interpolation_explorer, latent_explorer, map_pixel, render_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_decoder(latent_dim: int, seed: int = 0) -> torch.nn.Module:
    """Tiny random decoder: (1, latent_dim) -> (1, 784) probabilities."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(latent_dim, 784), torch.nn.Sigmoid())


def png_size(data: bytes):
    return Image.open(io.BytesIO(data)).size


def descendants(box) -> list:
    """Every widget inside ``box``, depth first, in display order."""
    return [w for child in box.children for w in [child, *(descendants(child) if hasattr(child, "children") else [])]]


# --------------------------------------------------------------------------- #
# render_png
# --------------------------------------------------------------------------- #
def test_render_png_returns_scaled_greyscale_png():
    pixels = torch.zeros(28, 28)
    pixels[0, 0] = 1.0
    data = render_png(pixels)
    assert data.startswith(PNG_MAGIC)
    img = Image.open(io.BytesIO(data))
    assert img.size == (28 * DISPLAY_SCALE, 28 * DISPLAY_SCALE)
    assert img.mode == "L"
    arr = np.asarray(img)
    # Nearest-neighbour upscaling: the white pixel becomes a full white block.
    assert (arr[:DISPLAY_SCALE, :DISPLAY_SCALE] == 255).all()
    assert arr[DISPLAY_SCALE:, :].max() == 0


def test_render_png_accepts_numpy_and_clips_and_scale():
    data = render_png(np.array([[-1.0, 0.5], [2.0, 0.0]]), scale=1)
    arr = np.asarray(Image.open(io.BytesIO(data)))
    assert arr.tolist() == [[0, 128], [255, 0]]


def test_render_png_is_deterministic_and_content_sensitive():
    a = torch.rand(28, 28, generator=torch.Generator().manual_seed(1))
    assert render_png(a) == render_png(a.clone())
    assert render_png(a) != render_png(1 - a)


@pytest.mark.parametrize("bad", [torch.zeros(784), torch.zeros(1, 28, 28)])
def test_render_png_rejects_non_2d(bad):
    with pytest.raises(ValueError, match=r"2-D \(height, width\)"):
        render_png(bad)


def test_render_png_rejects_bad_scale():
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        render_png(torch.zeros(2, 2), scale=0)


# --------------------------------------------------------------------------- #
# latent_explorer
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_latent_explorer_has_one_slider_per_dimension(latent_dim):
    box = latent_explorer(make_decoder(latent_dim), latent_dim)
    assert isinstance(box, widgets.VBox)
    assert "vae-latent-explorer" in box._dom_classes
    sliders = [c for c in box.children if isinstance(c, widgets.FloatSlider)]
    assert len(sliders) == latent_dim
    assert list(box.sliders) == sliders
    expected = {1: ["z₁"], 2: ["z₁ (horizontal axis of the latent map)", "z₂ (vertical axis of the latent map)"],
                5: ["z₁", "z₂", "z₃", "z₄", "z₅"]}[latent_dim]
    assert [s.description for s in sliders] == expected
    assert all((s.min, s.max, s.step) == (-3.0, 3.0, 0.1) for s in sliders)
    assert all(s.value == 0.0 for s in sliders)
    images = [c for c in descendants(box) if isinstance(c, widgets.Image)]
    assert images == ([box.map.image, box.image] if latent_dim == 2 else [box.image])  # the map only in 2-D
    assert (box.map is None) == (latent_dim != 2)
    assert "vae-decoded-image" in box.image._dom_classes
    assert box.image.format == "png"
    assert bytes(box.image.value).startswith(PNG_MAGIC)
    assert png_size(box.image.value) == (28 * DISPLAY_SCALE, 28 * DISPLAY_SCALE)


def test_changing_a_slider_changes_the_image():
    box = latent_explorer(make_decoder(2), 2)
    before = bytes(box.image.value)
    box.sliders[0].value = 1.5
    after_first = bytes(box.image.value)
    assert after_first != before
    assert torch.equal(box.current_z(), torch.tensor([[1.5, 0.0]]))
    box.sliders[1].value = -2.0
    assert bytes(box.image.value) != after_first
    # Going back to the origin reproduces the original image exactly.
    box.sliders[0].value = 0.0
    box.sliders[1].value = 0.0
    assert bytes(box.image.value) == before


def test_image_matches_decoder_output():
    decoder = make_decoder(3)
    box = latent_explorer(decoder, 3, initial=[0.5, -1.0, 2.0])
    z = torch.tensor([[0.5, -1.0, 2.0]])
    with torch.no_grad():
        expected = render_png(decoder(z).reshape(28, 28))
    assert bytes(box.image.value) == expected


def test_decode_is_called_with_expected_shape_without_grad():
    calls = []

    def decode(z):
        calls.append((tuple(z.shape), z.dtype, torch.is_grad_enabled()))
        return torch.full((1, 1, 28, 28), 0.5)

    box = latent_explorer(decode, 4)
    box.sliders[2].value = 0.3
    assert calls == [((1, 4), torch.float32, False)] * 2


@pytest.mark.parametrize("shape", [(1, 784), (1, 28, 28), (1, 1, 28, 28)])
def test_accepted_decoder_output_shapes(shape):
    box = latent_explorer(lambda z: torch.rand(shape), 2)
    assert bytes(box.image.value).startswith(PNG_MAGIC)


def test_custom_range_step_initial_and_image_size():
    box = latent_explorer(
        lambda z: torch.rand(1, 16 * 16),
        2,
        value_range=(-1.0, 1.0),
        step=0.25,
        initial=torch.tensor([[0.5, -0.25]]),
        image_size=16,
    )
    assert [(s.min, s.max, s.step) for s in box.sliders] == [(-1.0, 1.0, 0.25)] * 2
    assert [s.value for s in box.sliders] == [0.5, -0.25]
    assert png_size(box.image.value) == (16 * DISPLAY_SCALE, 16 * DISPLAY_SCALE)


@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True, "2"])
def test_latent_explorer_rejects_bad_latent_dim(latent_dim):
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        latent_explorer(make_decoder(2), latent_dim)


def test_latent_explorer_rejects_non_callable_decode():
    with pytest.raises(ValueError, match="decode must be a callable"):
        latent_explorer(torch.zeros(3), 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"value_range": (3.0, -3.0)}, "low < high"),
        ({"value_range": (0.0, 0.0)}, "low < high"),
        ({"value_range": "ab"}, "pair of numbers"),
        ({"step": 0}, "step must be a positive number"),
        ({"step": -0.1}, "step must be a positive number"),
        ({"initial": [0.0, 0.0, 0.0]}, r"initial must hold latent_dim=2 values"),
        ({"initial": [0.0, 5.0]}, r"outside value_range"),
        ({"image_size": 0}, "image_size must be a positive integer"),
    ],
)
def test_latent_explorer_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        latent_explorer(make_decoder(2), 2, **kwargs)


@pytest.mark.parametrize("shape", [(784,), (2, 784), (1, 783), (1, 3, 28, 28), (1, 10)])
def test_wrong_decoder_output_shape_raises_clear_error(shape):
    with pytest.raises(ValueError) as info:
        latent_explorer(lambda z: torch.rand(shape), 2)
    message = str(info.value)
    assert f"returned shape {shape}" in message
    assert "expected (1, 784), (1, 28, 28) or (1, 1, 28, 28)" in message
    assert "z of shape (1, 2)" in message


def test_decoder_returning_logits_raises_with_sigmoid_hint():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*torch.sigmoid"):
        latent_explorer(lambda z: torch.full((1, 784), 3.0), 2)


def test_decoder_returning_tuple_raises_with_wrapper_hint():
    with pytest.raises(ValueError, match=r"returned a tuple of 2 items.*lambda z"):
        latent_explorer(lambda z: (torch.rand(1, 784), torch.rand(1, 784)), 2)


def test_decoder_returning_nan_raises():
    with pytest.raises(ValueError, match="NaN or infinite"):
        latent_explorer(lambda z: torch.full((1, 784), float("nan")), 2)


# --------------------------------------------------------------------------- #
# interpolation_explorer
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("steps", [1, 2, 10])
def test_interpolation_slider_range_equals_number_of_steps(steps):
    path = torch.randn(steps, 3, generator=torch.Generator().manual_seed(0))
    box = interpolation_explorer(make_decoder(3), path)
    assert isinstance(box, widgets.VBox)
    assert "vae-interpolation-explorer" in box._dom_classes
    slider = box.slider
    assert isinstance(slider, widgets.IntSlider)
    assert slider in box.children
    shown = [w for child in box.children[2].children for w in getattr(child, "children", [child])]
    assert box.image in shown and box.caption in shown and len(shown) == 6  # start, current, end and captions
    assert (slider.min, slider.max, slider.step) == (0, steps - 1, 1)
    assert slider.max - slider.min + 1 == steps
    assert "vae-decoded-image" in box.image._dom_classes


def test_interpolation_slider_changes_image_and_matches_path():
    decoder = make_decoder(2)
    z_a, z_b = torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 2.0])
    path = torch.stack([(1 - t) * z_a + t * z_b for t in torch.linspace(0, 1, 5)])
    box = interpolation_explorer(decoder, path)
    first = bytes(box.image.value)
    box.slider.value = 4
    assert bytes(box.image.value) != first
    assert torch.equal(box.current_z(), path[4:5])
    with torch.no_grad():
        assert bytes(box.image.value) == render_png(decoder(path[4:5]).reshape(28, 28))
    box.slider.value = 0
    assert bytes(box.image.value) == first


def test_interpolation_accepts_numpy_path():
    box = interpolation_explorer(make_decoder(2), np.zeros((3, 2)))
    assert box.slider.max == 2


@pytest.mark.parametrize(
    "path, message",
    [
        (torch.zeros(2), r"shape \(steps, latent_dim\).*1 dimension.*unsqueeze"),
        (torch.zeros(2, 2, 2), r"shape \(steps, latent_dim\).*3 dimension"),
        (torch.zeros(0, 2), "at least one point"),
        (torch.tensor([[0.0, float("inf")]]), "NaN or infinite"),
    ],
)
def test_interpolation_rejects_bad_path(path, message):
    with pytest.raises(ValueError, match=message):
        interpolation_explorer(make_decoder(2), path)


def test_interpolation_wrong_decoder_output_shape():
    with pytest.raises(ValueError, match=r"returned shape \(1, 10\).*expected \(1, 784\)"):
        interpolation_explorer(lambda z: torch.rand(1, 10), torch.zeros(3, 2))


def test_latent_explorer_caption_follows_the_sliders_and_labels_can_be_given():
    box = latent_explorer(make_decoder(2), 2, labels=["stroke", "slant"])
    assert [s.description for s in box.sliders] == ["stroke", "slant"]
    assert box.caption.value == "decoded image of z = (+0.00, +0.00)"
    shown = descendants(box)
    assert "vae-decoded-caption" in box.caption._dom_classes and shown.index(box.caption) == shown.index(box.image) + 1
    box.sliders[0].value = 1.5
    assert box.caption.value == "decoded image of z = (+1.50, +0.00)"
    with pytest.raises(ValueError, match="labels must name each of the latent_dim=2 sliders, got 1"):
        latent_explorer(make_decoder(2), 2, labels=["only one"])


def test_interpolation_explorer_shows_both_ends_t_and_the_method():
    path = torch.stack([torch.full((2,), v) for v in (-2.0, 0.0, 2.0)])
    box = interpolation_explorer(make_decoder(2), path, method="slerp")
    start, middle, end = box.children[2].children
    assert bytes(start.children[0].value) == bytes(box.image.value)  # at t = 0 the current image is the start
    assert (start.children[1].value, end.children[1].value) == ("start, t = 0", "end, t = 1")
    assert box.caption.value == "slerp: t = 0.00 (step 1 of 3)"
    box.slider.value = 2
    assert box.caption.value == "slerp: t = 1.00 (step 3 of 3)"
    assert bytes(end.children[0].value) == bytes(box.image.value)
    assert box.slider.description == "step along the slerp"


# --------------------------------------------------------------------------- #
# the 2-D latent map and its marker
# --------------------------------------------------------------------------- #
def test_map_pixel_puts_z1_to_the_right_and_z2_up():
    assert map_pixel(0.0, 0.0, (-3.0, 3.0), 300) == (150.0, 150.0)
    assert map_pixel(-3.0, 3.0, (-3.0, 3.0), 300) == (0.0, 0.0)  # top left: smallest z1, largest z2
    assert map_pixel(3.0, -3.0, (-3.0, 3.0), 300) == (300.0, 300.0)
    assert map_pixel(1.0, 0.5, (0.0, 2.0), 100) == (50.0, 75.0)


def test_the_marker_follows_the_sliders():
    box = latent_explorer(make_decoder(2), 2, initial=[0.5, -1.0])
    size = png_size(box.map.image.value)[0]
    assert box.map.marker == (0.5, -1.0)
    assert box.map.marker_pixel == map_pixel(0.5, -1.0, (-3.0, 3.0), size)
    assert "vae-latent-map" in box.map.image._dom_classes
    assert box.map.caption._dom_classes == ("vae-latent-map-caption",)  # not taken for the image's caption
    first = bytes(box.map.image.value)
    box.sliders[0].value = 2.0
    assert box.map.marker == (2.0, -1.0) and bytes(box.map.image.value) != first
    box.sliders[1].value = 1.5
    x, y = box.map.marker_pixel
    assert box.map.marker == (2.0, 1.5) and x > size / 2 and y < size / 2  # right of and above the origin
    assert box.map.caption.value.endswith("z = (+2.00, +1.50)")
    box.sliders[0].value, box.sliders[1].value = 0.5, -1.0
    assert bytes(box.map.image.value) == first  # only the marker moved: the same picture back


def test_the_marker_is_drawn_where_it_is_said_to_be():
    box = latent_explorer(make_decoder(2), 2, initial=[-1.5, 2.0])
    x, y = (round(v) for v in box.map.marker_pixel)
    picture = Image.open(io.BytesIO(bytes(box.map.image.value))).convert("RGB")
    ring = [picture.getpixel((x + dx, y)) for dx in range(-8, 9)]  # a row through the ring
    assert any(r > 200 and g < 60 and b < 60 for r, g, b in ring)


def test_map_of_codes_coloured_by_label():
    codes = torch.tensor([[-2.0, -2.0], [2.0, 2.0], [0.0, 1.0]])
    calls = []
    box = latent_explorer(lambda z: calls.append(z) or torch.rand(1, 784), 2, codes=codes,
                          code_labels=torch.tensor([0, 1, 2]))
    assert len(calls) == 1  # with codes, only the image is decoded (no manifold)
    picture = Image.open(io.BytesIO(bytes(box.map.image.value))).convert("RGB")
    size = picture.width
    x, y = (round(v) for v in map_pixel(2.0, 2.0, (-3.0, 3.0), size))
    assert picture.getpixel((x, y)) != (255, 255, 255)  # a dot where the code is
    with pytest.raises(ValueError, match=r"codes must have shape \(N, 2\)"):
        latent_explorer(make_decoder(2), 2, codes=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="one label per code: 3 codes, 2 labels"):
        latent_explorer(make_decoder(2), 2, codes=codes, code_labels=[0, 1])
    with pytest.raises(ValueError, match="map of a 2-D latent space; latent_dim is 3"):
        latent_explorer(make_decoder(3), 3, codes=codes)


def test_without_codes_the_map_is_the_decoded_manifold():
    """A 10 x 10 grid of codes over the sliders' range, decoded in one batch (or one by one if need be)."""
    calls = []

    def decode(z):  # accepts a batch
        calls.append(z.clone())
        return torch.full((len(z), 784), 0.5)

    latent_explorer(decode, 2, value_range=(-2.0, 2.0))
    grid = calls[1]  # the first call decodes the sliders' point
    assert len(calls) == 2 and grid.shape == (100, 2) and grid.min() > -2.0 and grid.max() < 2.0
    assert grid[0].tolist() == pytest.approx([-1.8, 1.8])  # top left tile: smallest z1, largest z2
    assert grid[9].tolist() == pytest.approx([1.8, 1.8]) and grid[99].tolist() == pytest.approx([1.8, -1.8])

    singles = []

    def decode_one(z):  # the explorer's contract: (1, latent_dim) only
        assert z.shape == (1, 2), "a batch"
        singles.append(z.clone())
        return torch.full((1, 784), 0.5)

    latent_explorer(decode_one, 2, value_range=(-2.0, 2.0))
    assert torch.equal(torch.cat(singles[1:]), grid)
