"""vae_course.latent: interpolation references, encoding/decoding helpers and image attributes."""

import math

import pytest
import torch

from vae_course import latent
from vae_course.models import VAE, Autoencoder


# --------------------------------------------------------------------------- as_time, lerp, slerp

@pytest.mark.parametrize("shape", [(5,), (3, 5)])
def test_as_time_shapes_broadcast_to_the_contract(shape):
    z = torch.zeros(shape)
    assert latent.as_time(0.3, z).shape == ()
    assert latent.as_time(torch.tensor(0.3), z).shape == ()
    assert latent.as_time(torch.linspace(0, 1, 7), z).shape == (7, *([1] * len(shape)))
    assert latent.lerp(z, z, torch.linspace(0, 1, 7)).shape == (7, *shape)
    assert latent.slerp(z + 1, z + 2, 0.5).shape == shape
    with pytest.raises(ValueError, match="1-D tensor"):
        latent.as_time(torch.zeros(2, 2), z)


def test_as_time_follows_dtype_and_device_of_the_codes():
    z = torch.zeros(4, dtype=torch.float64)
    assert latent.as_time(0.5, z).dtype == torch.float64
    assert latent.as_time(torch.linspace(0, 1, 3), z).dtype == torch.float64


def test_lerp_endpoints_and_midpoint():
    z0, z1 = torch.randn(2, 8), torch.randn(2, 8)
    path = latent.lerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[1], (z0 + z1) / 2)
    torch.testing.assert_close(path[2], z1)


def test_slerp_keeps_the_norm_for_codes_of_equal_norm_and_hits_the_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(20, generator=g), torch.randn(20, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    path = latent.slerp(z0, z1, torch.linspace(0, 1, 11))
    torch.testing.assert_close(path[0], z0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(path[-1], z1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(path.norm(dim=-1), z0.norm().expand(11), atol=1e-4, rtol=1e-4)
    # the lerp path between the same codes dips towards the origin
    assert latent.lerp(z0, z1, 0.5).norm() < 0.9 * z0.norm()


def test_slerp_of_orthogonal_unit_vectors_is_a_quarter_circle():
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = latent.slerp(e0, e1, 0.5)
    torch.testing.assert_close(mid, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))


def test_slerp_falls_back_to_lerp_for_parallel_and_antiparallel_rows():
    z0 = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    z1 = torch.tensor([[6.0, 8.0], [-1.0, 0.0], [2.0, 0.0]])   # parallel, anti-parallel, orthogonal
    t = torch.linspace(0, 1, 5)
    path = latent.slerp(z0, z1, t)
    assert torch.isfinite(path).all()
    expected_lerp = latent.lerp(z0, z1, t)
    torch.testing.assert_close(path[:, :2], expected_lerp[:, :2])
    assert not torch.allclose(path[:, 2], expected_lerp[:, 2])   # the orthogonal row stays spherical


# --------------------------------------------------------------------------- attribute_vector

def test_attribute_vector_is_the_difference_of_means():
    z_with, z_without = torch.ones(3, 4) * 2, torch.ones(7, 4) * -1
    torch.testing.assert_close(latent.attribute_vector(z_with, z_without), torch.full((4,), 3.0))


# --------------------------------------------------------------------------- models

def test_encode_means_and_decode_probs_use_eval_mode_and_return_cpu_tensors():
    torch.manual_seed(0)
    model = VAE(hidden_dim=16, latent_dim=3).train()
    x = torch.rand(7, 784)
    codes = latent.encode_means(model, x, batch_size=3)
    assert codes.shape == (7, 3) and codes.device.type == "cpu"
    torch.testing.assert_close(codes, model.encode(x)[0].detach())   # the mean, no sampling
    assert model.training                                             # mode restored
    probs = latent.decode_probs(model, codes)
    assert probs.shape == (7, 784) and not probs.requires_grad
    assert probs.min() >= 0 and probs.max() <= 1
    ae = Autoencoder(hidden_dim=16, latent_dim=2)
    assert latent.encode_means(ae, x).shape == (7, 2)


# --------------------------------------------------------------------------- attributes

def _line(slope: float) -> torch.Tensor:
    """A one-pixel stroke through the centre whose column moves `slope` pixels per row upwards."""
    img = torch.zeros(28, 28)
    for row in range(4, 24):
        img[row, round(14 + slope * (14 - row))] = 1.0
    return img.reshape(1, 784)


def test_slant_sign_and_size():
    assert abs(latent.slant(_line(0.0)).item()) < 1e-6
    right, left = latent.slant(_line(0.5)).item(), latent.slant(_line(-0.5)).item()
    assert right == pytest.approx(0.5, abs=0.05)
    assert left == pytest.approx(-0.5, abs=0.05)
    assert latent.slant(torch.zeros(2, 784)).tolist() == [0.0, 0.0]   # blank images: no NaN


def test_ink_counts_the_pixel_mass():
    images = torch.zeros(2, 784)
    images[0, :10] = 1.0
    images[1, :10] = 0.5
    assert latent.ink(images).tolist() == [10.0, 5.0]


def test_extremes_per_class_balances_the_classes():
    labels = torch.tensor([0] * 8 + [1] * 4)
    values = torch.cat([torch.arange(8.0), torch.arange(4.0) * 100])
    low, high = latent.extremes_per_class(values, labels, fraction=0.25)
    assert sorted(low.tolist()) == [0, 1, 8]
    assert sorted(high.tolist()) == [6, 7, 11]
    with pytest.raises(ValueError):
        latent.extremes_per_class(values, labels, fraction=0.7)


def test_pixel_entropy_is_zero_for_crisp_images_and_log2_per_grey_pixel():
    crisp = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    grey = torch.full((1, 4), 0.5)
    assert latent.pixel_entropy(crisp).item() < 1e-3
    assert latent.pixel_entropy(grey).item() == pytest.approx(4 * math.log(2), rel=1e-5)


def test_nearest_neighbour_labels_votes_among_the_closest_references():
    refs = torch.cat([torch.zeros(3, 784), torch.ones(3, 784)])
    ref_labels = torch.tensor([4, 4, 4, 7, 7, 7])
    queries = torch.stack([torch.full((784,), 0.1), torch.full((784,), 0.9)])
    assert latent.nearest_neighbour_labels(queries, refs, ref_labels, k=3).tolist() == [4, 7]


def test_nearest_neighbour_votes_counts_the_neighbours_that_agree_with_the_majority():
    refs = torch.cat([torch.zeros(3, 784), torch.full((2, 784), 0.2), torch.ones(3, 784)])
    ref_labels = torch.tensor([4, 4, 4, 1, 1, 7, 7, 7])
    queries = torch.stack([torch.full((784,), 0.05), torch.full((784,), 0.95)])
    labels, votes = latent.nearest_neighbour_votes(queries, refs, ref_labels, k=5)
    assert labels.tolist() == [4, 7]
    assert votes.tolist() == [3, 3]
    assert latent.nearest_neighbour_votes(queries, refs, ref_labels, k=3)[1].tolist() == [3, 3]
