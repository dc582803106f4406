"""Running a method of a student's model inside a check (Exercises 3.3 and 4.4): :func:`run`.

A crash of the student's model becomes a named failure: PyTorch's shape errors name tensors, so the
known ones (:data:`_KNOWN_CRASHES`) are translated into the layer or reshape that most likely made them.
"""

from __future__ import annotations

from typing import Callable

from ._checker import Checker, Crash


def run(check: Checker, f: Callable, *args):
    """``f(*args)`` (a method of the student's model) run as ``check.call`` runs the student's function.

    Exceptions become a named failure, ``NotImplementedError`` means "not answered", and calls of the
    course's own models inside count as delegation. ``check`` records what passed.
    """
    inner = Checker(f, check.exercise, allow_reference_calls=check.allow_reference_calls)
    inner.passed, inner.reference_calls = check.passed, check.reference_calls
    return inner.call_naming(_KNOWN_CRASHES, *args)


# Errors of the student's model that point to one mistake (:class:`~._checker.Crash`), the first that matches wins.
# PyTorch's own words name a shape; these name the layer or the reshape that made it.
_KNOWN_CRASHES = [
    Crash(
        r"mat1 and mat2 shapes cannot be multiplied",
        message="the features reaching a linear layer do not have the size it expects",
        hint="Follow the sizes: two convolutions with kernel 4, stride 2, padding 1 take 28x28 to 14x14 to 7x7, "
             "so the flattened map has 2c*7*7 numbers per image (flatten the (B, 2c, 7, 7) map to (B, 2c*7*7) "
             "before the linear layer); in the MLP the first layer takes input_dim = 784 numbers per image.",
        code="feature-map-size-mismatch"),
    Crash(
        r"to have 1 channels, but got",
        message="a convolution got images without their channel dimension",
        hint="Conv2d wants (B, 1, 28, 28): give the images a channel dimension of size 1, not (B, 28, 28).",
        code="missing-channel-dimension"),
    Crash(
        r"channels, but got \d+ channels",
        message="a convolution got feature maps with another number of channels than it was built for",
        hint="Follow the channels: 1 -> c -> 2c down, and the decoder's map is unflattened to (B, 2c, 7, 7) "
             "before the transposed convolutions 2c -> c -> 1. Check the in_channels of each layer and the size "
             "you unflatten to.",
        code="channel-count-mismatch"),
    Crash(
        r"Expected 3D \(unbatched\) or 4D \(batched\) input",
        message="a convolution got flat vectors instead of images",
        hint="Convolutions take (B, channels, height, width): unflatten (B, 784) images to (B, 1, 28, 28) and "
             "the decoder's (B, 2c*7*7) features to (B, 2c, 7, 7) before the first (transposed) convolution.",
        code="flat-input-to-a-convolution"),
    Crash(
        r"is invalid for input of size|don't multiply up to",
        message="a reshape (flatten/unflatten) asks for another number of values than the tensor holds",
        hint="Between the convolutions and the linear layers each image has 2c*7*7 numbers: unflatten to (B, "
             "2c, 7, 7) (not 14x14, not c channels) and flatten back to (B, 2c*7*7); keep the batch size as the "
             "first dimension.",
        code="reshape-size-mismatch"),
    Crash(
        r"modified by an inplace operation",
        message="an operation changed a tensor in place that autograd still needed for the gradients",
        hint="Write the model with out-of-place operations (h = h * 2, torch.relu(h)) instead of in-place ones "
             "(h *= 2, .mul_(), .relu_(), nn.ReLU(inplace=True) on a tensor that another layer also uses).",
        code="in-place-operation"),
    Crash(
        r"Kernel size can't be greater than actual input size",
        message="a convolution got a feature map smaller than its kernel: the image was downsampled too often",
        hint="Two convolutions with kernel 4, stride 2, padding 1 take 28 -> 14 -> 7; a third one, or padding "
             "0, shrinks the map below the kernel.",
        code="feature-map-too-small"),
]

