"""vae_course.metrics: sharpness measures give one number per image and fall when images blur."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vae_course.metrics import gradient_energy, laplacian_variance

MEASURES = [gradient_energy, laplacian_variance]


def stroke_images(n=3):
    """n images with a crisp vertical bar of ink (value 1) on black."""
    images = torch.zeros(n, 28, 28)
    for i in range(n):
        images[i, 4:24, 10 + i: 13 + i] = 1.0
    return images


def box_blur(images, size=5):
    kernel = torch.ones(1, 1, size, size) / size**2
    return F.conv2d(images.reshape(-1, 1, 28, 28), kernel, padding=size // 2).reshape(len(images), 28, 28)


@pytest.mark.parametrize("measure", MEASURES)
def test_constant_images_score_zero(measure):
    images = torch.stack([torch.zeros(784), torch.full((784,), 0.7)])
    assert torch.allclose(measure(images), torch.zeros(2))


@pytest.mark.parametrize("measure", MEASURES)
def test_blurring_lowers_sharpness(measure):
    sharp = stroke_images()
    blurred = box_blur(sharp)
    assert (measure(blurred) < 0.6 * measure(sharp)).all()


@pytest.mark.parametrize("measure", MEASURES)
def test_accepts_the_usual_layouts_and_numpy(measure):
    images = stroke_images(2)
    expected = measure(images.reshape(2, 784))
    assert expected.shape == (2,)
    for layout in (images, images.reshape(2, 1, 28, 28), images.numpy()):
        assert torch.allclose(measure(layout), expected)


@pytest.mark.parametrize("measure", MEASURES)
def test_rejects_a_single_flat_image(measure):
    with pytest.raises(ValueError, match="batch"):
        measure(torch.zeros(784))


def test_gradient_energy_of_known_edges():
    """A step from 0 to 1 has squared gradient 1 on one column of the 27 x 27 forward differences;
    the same step spread as a ramp over 4 columns has 4 steps of 1/4: a quarter of the energy."""
    step = torch.zeros(1, 28, 28)
    step[0, :, 14:] = 1.0
    ramp = torch.zeros(1, 28, 28)
    ramp[0, :, 11:] = torch.tensor([0.25, 0.5, 0.75] + [1.0] * 14)
    assert gradient_energy(step).item() == pytest.approx(1 / 27)
    assert gradient_energy(ramp).item() == pytest.approx(1 / 27 / 4)


def test_measures_ignore_gradients_of_the_input():
    images = stroke_images(2).requires_grad_()
    assert not gradient_energy(images).requires_grad
    assert np.isfinite(laplacian_variance(images).numpy()).all()
