"""Checks for notebook 00 (welcome): the warm-up exercise."""

import torch

from ._core import Mistake, exercise


@exercise("0.1", "00_welcome", "average_image", points=1,
          title="the average image of a batch",
          contract="average_image(images: (B, 784) in [0, 1]) -> (784,): the pixel-wise mean over the batch",
          verified="the `(784,)` result is the pixel-wise mean over the batch.")
def average_image(fn, t):
    images = torch.rand(6, 784)
    out = t.tensor(t.call(images), like=images)
    t.shape(out, (784,), ["pixels"],
            hint="Average over the batch dimension (dim=0), not over the pixels (dim=1).")
    t.finite(out)
    t.values(out, images.mean(dim=0), "the pixel values", mistakes=[
        Mistake("a sum instead of a mean", images.sum(dim=0),
                "Divide by the number of images: use .mean(dim=0) instead of .sum(dim=0)."),
        Mistake("the per-pixel maximum", images.max(dim=0).values, "You want the mean, not the maximum."),
    ])
