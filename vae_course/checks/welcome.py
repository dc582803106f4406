"""Checks for notebook 00 (welcome): the warm-up exercise."""

import torch

from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise


@exercise("0.1", "00_welcome", "average_image", points=1,
          title="the average image of a batch",
          contract="average_image(images: (B, 784) in [0, 1]) -> (784,): the pixel-wise mean over the batch",
          verified="the `(784,)` result is the pixel-wise mean over the batch.")
def average_image(fn, check):
    images = torch.rand(6, 784)
    out = check.tensor(check.call(images), like=images)
    if tuple(out.shape) == (1, 784):
        raise CheckFailed("the result has shape `(1, 784)`: the batch dimension is still there, with size 1.",
                          "Drop keepdim=True (or .squeeze(0) the result): the average image has shape (784,).",
                          code="kept-the-batch-dimension")
    if out.dim() == 0:
        raise CheckFailed("the result is a single number: the mean of all pixels of all images.",
                          "Average over the batch only (dim=0), so each of the 784 pixels keeps its own mean.",
                          code="mean-of-everything")
    check.shape(out, (784,), ["pixels"],
                hint="Average over the batch dimension (dim=0), not over the pixels (dim=1).")
    check.finite(out)
    batch = len(images)
    check.values(out, images.mean(dim=0), "the pixel values", mistakes=[
        Mistake("a sum instead of a mean", images.sum(dim=0),
                "Divide by the number of images: use .mean(dim=0) instead of .sum(dim=0)."),
        Mistake("the per-pixel maximum", images.max(dim=0).values, "You want the mean, not the maximum."),
        Mistake("the per-pixel median", images.median(dim=0).values, "You want the mean, not the median."),
        Mistake("the sum divided by the number of pixels (784)", images.sum(dim=0) / 784,
                "Divide by the number of images B = images.shape[0], not by the number of pixels."),
        Mistake("the sum divided by B - 1", images.sum(dim=0) / (batch - 1),
                "The mean divides by B (the number of images), not B - 1."),
        Mistake("the first image instead of the mean", images[0],
                "Average over all images (dim=0), not just images[0]."),
        Mistake("the standard deviation", images.std(dim=0),
                "You want the mean (.mean(dim=0)), not the standard deviation."),
        Mistake("floor division (//) by the number of images", images.sum(dim=0) // batch,
                "`//` rounds down to whole numbers: divide with `/` (or use .mean(dim=0))."),
        Mistake("the mean of all pixels repeated", images.mean().expand(784),
                "Average over the batch only (dim=0): each pixel has its own mean."),
    ])
