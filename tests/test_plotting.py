"""Tests for vae_course.plotting: every function returns a Figure, accepts ax=, and leaves global state alone."""

from __future__ import annotations

import inspect

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vae_course import plotting
from vae_course.train import History

G = torch.Generator().manual_seed(0)
HISTORY = History(train={"recon": [3.0, 2.0, 1.5], "kl": [1.0, 1.2, 1.3], "loss": [4.0, 3.2, 2.8]},
                  val={"recon": [3.2, 2.2, 1.9], "kl": [1.1, 1.3, 1.4]})


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rcparams_unchanged():
    before = dict(matplotlib.rcParams)
    yield
    after = dict(matplotlib.rcParams)
    changed = {k for k in before if before[k] != after[k]}
    assert not changed, f"plotting changed global rcParams: {sorted(changed)}"


def images(n: int) -> torch.Tensor:
    return torch.rand(n, 784, generator=G)


CALLS = {  # name -> a call drawing a small figure, with or without ax
    "image_grid": lambda ax=None: plotting.image_grid(images(12), ncols=4, ax=ax, title="grid"),
    "reconstruction_rows": lambda ax=None: plotting.reconstruction_rows(images(5), images(5), ax=ax),
    "training_curves": lambda ax=None: plotting.training_curves(HISTORY, ax=ax),
    "latent_scatter": lambda ax=None: plotting.latent_scatter(torch.randn(50, 2, generator=G),
                                                              torch.arange(50) % 10, ax=ax),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_returns_a_new_figure_without_ax(name, rcparams_unchanged):
    open_before = len(plt.get_fignums())
    fig = CALLS[name]()
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 1
    assert len(plt.get_fignums()) == open_before + 1


@pytest.mark.parametrize("name", list(CALLS))
def test_draws_on_the_given_ax(name, rcparams_unchanged):
    fig, (left, right) = plt.subplots(1, 2)
    out = CALLS[name](ax=right)
    assert out is fig
    assert len(plt.get_fignums()) == 1, "no extra figure when ax= is given"
    assert right.has_data() and not left.has_data()


def test_every_public_plotting_function_takes_ax():
    functions = [f for name, f in vars(plotting).items()
                 if inspect.isfunction(f) and not name.startswith("_") and f.__module__ == plotting.__name__]
    assert functions
    missing = [f.__name__ for f in functions if "ax" not in inspect.signature(f).parameters]
    assert not missing, f"these plotting functions have no ax= parameter: {missing}"


def test_image_grid_tiles_images_and_writes_labels():
    fig = plotting.image_grid(images(12), ncols=5, labels=list(range(12)), title="twelve")
    ax = fig.axes[0]
    (image,) = ax.get_images()
    pad = 2
    assert image.get_array().shape == (3 * (28 + pad) + pad, 5 * (28 + pad) + pad)  # 3 rows of 5
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(12)]
    assert ax.get_title() == "twelve"
    assert image.get_cmap().name == "gray" and image.get_clim() == (0.0, 1.0)


def test_image_grid_accepts_numpy_and_image_shaped_input():
    fig = plotting.image_grid(np.zeros((3, 1, 28, 28)))
    (image,) = fig.axes[0].get_images()
    assert image.get_array().shape == (28 + 4, 3 * 30 + 2)
    # the images themselves are black, the padding white
    assert float(image.get_array()[2:30, 2:30].max()) == 0.0


def test_reconstruction_rows_labels_two_rows():
    fig = plotting.reconstruction_rows(images(8), images(8), n=6, title="rec")
    ax = fig.axes[0]
    (image,) = ax.get_images()
    assert image.get_array().shape[1] == 6 * 30 + 2, "only the first n images"
    assert image.get_array().shape[0] == 2 * 30 + 2, "two rows"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["original", "reconstruction"]
    assert ax.get_title() == "rec"


def test_training_curves_one_line_per_series():
    fig = plotting.training_curves(HISTORY)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train recon", "val recon", "train kl", "val kl"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles["train recon"] == "-" and styles["val recon"] == "--"
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3], "epochs are counted from 1"
    assert ax.get_xlabel() == "epoch"

    fig = plotting.training_curves(HISTORY, keys=("loss",), title=None)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train loss"]
    assert fig.axes[0].get_title() == ""


def test_latent_scatter_one_group_per_digit():
    z = torch.randn(60, 2, generator=G)
    labels = torch.arange(60) % 3
    fig = plotting.latent_scatter(z, labels, title="codes")
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3, "each digit has its own colour"
    assert ax.get_title() == "codes"
