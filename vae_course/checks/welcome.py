"""Checks for notebook 00 (welcome): the warm-up exercise."""

import torch

from .. import metrics
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise

BATCH, PIXELS = 6, 784


@exercise("0.1", "00_welcome", "average_image", points=1, reference=metrics.average_image,
          delegates=[metrics.average_image],
          title="the average image of a batch",
          contract="average_image(images: (B, 784) in [0, 1]) -> (784,): the pixel-wise mean over the batch",
          verified="the `(784,)` result is the pixel-wise mean over the batch.")
def average_image(fn, check):
    images = torch.rand(BATCH, PIXELS)
    out = check.tensor(check.call(images), like=images)
    if tuple(out.shape) == (1, PIXELS):
        raise CheckFailed("the result has shape `(1, 784)`: the batch dimension is still there, with size 1.",
                          "Drop keepdim=True (or squeeze the result): the average image has shape (784,).",
                          code="kept-the-batch-dimension")
    if out.dim() == 0:
        raise CheckFailed("the result is a single number: the mean of all pixels of all images.",
                          "Average over the batch only (dim=0), so each of the 784 pixels keeps its own mean.",
                          code="mean-of-everything")
    if tuple(out.shape) in ((BATCH,), (BATCH, 1)):
        raise CheckFailed(f"the result has the wrong shape `{tuple(out.shape)}`: one value per image - each image was "
                          "averaged over the pixels, so its 784 values became one number.",
                          "Average over the images (the batch dimension, dim=0), not over the pixels (dim=1): the "
                          "average image keeps one value for each of the 784 pixels.", code="averaged-over-the-pixels")
    check.shape(out, (PIXELS,), ["pixels"],
                hint="Average over the batch dimension (dim=0), not over the pixels (dim=1).")
    check.finite(out)
    check.values(out, images.mean(dim=0), "the pixel values", mistakes=[
        Mistake("a sum instead of a mean", images.sum(dim=0),
                "Divide by the number of images B: a mean, not a sum."),
        Mistake("the per-pixel maximum", images.max(dim=0).values, "You want the mean, not the maximum."),
        Mistake("the per-pixel median", images.median(dim=0).values, "You want the mean, not the median."),
        Mistake("the sum divided by the number of pixels (784)", images.sum(dim=0) / PIXELS,
                "Divide by the number of images B (the first dimension), not by the number of pixels."),
        Mistake("the sum divided by B - 1", images.sum(dim=0) / (BATCH - 1),
                "The mean divides by B (the number of images), not B - 1."),
        Mistake("the first image instead of the mean", images[0],
                "Average over all B images, not just the first one."),
        Mistake("the standard deviation", images.std(dim=0),
                "You want each pixel's mean over the images, not its standard deviation."),
        Mistake("floor division (//) by the number of images", images.sum(dim=0) // BATCH,
                "`//` rounds down to whole numbers: divide with `/`."),
        Mistake("the mean of all pixels repeated", images.mean().expand(PIXELS),
                "Average over the batch only (dim=0): each pixel has its own mean."),
    ])
