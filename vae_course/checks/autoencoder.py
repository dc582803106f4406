"""Checks for notebook 01 (autoencoders): the forward pass, the MSE loss, and why the MSE-optimal output blurs."""

from __future__ import annotations

import torch
from torch import nn

from .. import losses, metrics
from ._failures import CheckFailed
from ._mistakes import Mistake, match_mistake
from ._run import exercise

BATCH, PIXELS, LATENT = 4, 784, 3


class _Recorded(nn.Module):
    """Wraps a module and writes down every call (name, input shape) in a shared log."""

    def __init__(self, name: str, module: nn.Module, log: list):
        super().__init__()
        self.name, self.module, self.log = name, module, log

    def forward(self, x):
        self.log.append((self.name, tuple(x.shape) if isinstance(x, torch.Tensor) else None))
        return self.module(x)


def _forward_diagnosis(log: list, finished: bool = True) -> CheckFailed | None:
    """Name a wrong order of calls (decoder twice, image decoded, ...) from the call log, if any.

    ``finished=False`` (the student's function raised): only name calls that did happen.
    """
    names = [name for name, _ in log]
    decoder_inputs = [shape for name, shape in log if name == "decoder"]
    encoder_inputs = [shape for name, shape in log if name == "encoder"]
    if names.count("decoder") > 1:
        return CheckFailed("your function calls the decoder more than once.",
                           "Decode exactly once: the image goes through the encoder, its code through the decoder, and "
                           "the decoder's logits through a sigmoid. Decoding the decoder's output again feeds 784 pixels "
                           "where a code is expected.")
    if any(shape and shape[-1] == PIXELS for shape in decoder_inputs):
        return CheckFailed("your function passes the image itself to the decoder.",
                           "Encode first, then decode the code the encoder returned (not the image).")
    if any(shape and shape[-1] == LATENT for shape in encoder_inputs):
        return CheckFailed("your function passes the code to the encoder.",
                           "The encoder takes the image x (B, 784); the decoder takes the code z (B, latent_dim).")
    if names.count("encoder") > 1:
        return CheckFailed("your function calls the encoder more than once.",
                           "Encode exactly once: one code per image is all the decoder needs.")
    if not finished:
        return None
    if "encoder" not in names:
        return CheckFailed("your function never calls the encoder.",
                           "The reconstruction goes through the code: encode the image first, then decode its code.")
    if "decoder" not in names:
        return CheckFailed("your function never calls the decoder.",
                           "Decode the code the encoder returned, and turn the decoder's logits into pixel values.")
    return None


@exercise("1.1", "01_autoencoders", "autoencoder_forward", points=1,
          title="the autoencoder forward pass",
          contract="autoencoder_forward(encoder, decoder, x: (B, 784) in [0, 1]) -> x_hat: (B, 784) in (0, 1): "
                   "the reconstruction of each image through its own code (encoder: (B, 784) -> (B, latent_dim); "
                   "decoder: codes -> logits (B, 784)), as pixel values in (0, 1)",
          verified="the `(B, 784)` result is sigmoid(decoder(encoder(x))), with gradients to both networks.")
def autoencoder_forward(fn, check):
    torch.manual_seed(0)
    log: list = []
    encoder = _Recorded("encoder", nn.Linear(PIXELS, LATENT), log)
    decoder = _Recorded("decoder", nn.Linear(LATENT, PIXELS), log)
    with torch.no_grad():  # spread the logits over roughly [-4, 4] so a missing sigmoid is obvious
        decoder.module.weight.mul_(8.0)
    x = torch.rand(BATCH, PIXELS)
    try:
        out = check.call(encoder, decoder, x)
    except CheckFailed as failed:
        raise _forward_diagnosis(log, finished=False) or failed from None
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (BATCH, LATENT):
        raise CheckFailed(f"the result has shape {tuple(out.shape)} = `(B, D)`: that is the code z, "
                          "not the reconstruction.",
                          "Return the decoded image (the decoder's logits through a sigmoid), not the code the encoder returned.")
    out = check.tensor(out, like=x)
    check.shape(out, (BATCH, PIXELS), ["batch", "pixels"],
                hint="The reconstruction has one value per pixel of every image: (B, 784).")
    check.finite(out)
    with torch.no_grad():
        z = encoder.module(x)
        logits = decoder.module(z)
    mistakes = [
        Mistake("the decoder's logits without the sigmoid", logits,
                "The decoder returns logits (any real number); squash them into pixel values in (0, 1) with the logistic sigmoid."),
        Mistake("a sigmoid applied twice", torch.sigmoid(torch.sigmoid(logits)),
                "Apply torch.sigmoid once: the decoder's output is a logit, sigmoid(logit) is already a pixel value in (0, 1)."),
        Mistake("logits clipped to [0, 1] instead of a sigmoid", logits.clamp(0, 1),
                "Clipping is not the sigmoid: the logistic sigmoid is smooth and has gradients everywhere."),
        Mistake("a sigmoid on the code before decoding", torch.sigmoid(decoder.module(torch.sigmoid(z))),
                "The encoder's code goes into the decoder as it is; the sigmoid belongs on the decoder's output."),
        Mistake("tanh instead of the sigmoid", torch.tanh(logits),
                "tanh maps to (-1, 1), not to pixel values in (0, 1): use the logistic sigmoid."),
        Mistake("a softmax over the pixels instead of the sigmoid", torch.softmax(logits, dim=-1),
                "Each pixel gets its own value in (0, 1): a sigmoid per pixel, not a softmax that "
                "makes the 784 values of an image sum to 1."),
        Mistake("a ReLU instead of the sigmoid", torch.relu(logits),
                "ReLU leaves large logits above 1: squash them into (0, 1) with the logistic sigmoid."),
        Mistake("exp instead of the sigmoid", torch.exp(logits),
                "exp(logits) is not in (0, 1) (it exceeds 1): the sigmoid is 1 / (1 + exp(-logit))."),
        Mistake("the sigmoid of minus the logits (1 - the pixel values)", torch.sigmoid(-logits),
                "The sigmoid is 1 / (1 + exp(-logit)): check the sign of the logits you pass it."),
        Mistake("pixel values rounded to 0 or 1", (torch.sigmoid(logits) > 0.5).float(),
                "Return the values themselves: rounding them stops the gradient and throws away the grey levels."),
    ]
    reference = torch.sigmoid(logits)
    if not any(torch.allclose(out.detach(), value, atol=1e-4, rtol=1e-4)
               for value in [reference] + [m.value for m in mistakes]):
        wrong_calls = _forward_diagnosis(log)  # extra calls are fine as long as the result is right
        if wrong_calls is not None:
            raise wrong_calls
    if (out - out[:1]).abs().max() < 1e-6 and (reference - reference[:1]).abs().max() > 1e-3:
        raise CheckFailed("every image got the same reconstruction: the codes were averaged (or one code reused) "
                          "for the whole batch.", "Decode each image's own code: the encoder returns one row per "
                          "image, don't average or reuse them.", code="one-code-for-the-batch")
    if not out.requires_grad and match_mistake(out, mistakes) is not None:  # e.g. rounded: name it, not the graph
        raise match_mistake(out, mistakes).failure("the reconstructions")
    check.gradient(out, {"the encoder's weights": encoder.module.weight,
                         "the decoder's weights": decoder.module.weight},
                   hint="Don't use .detach() or torch.no_grad(): training needs gradients through both networks.")
    check.values(out, reference, "the reconstructions", mistakes=mistakes)


@exercise("1.2", "01_autoencoders", "mse_loss", points=1,
          delegates=[losses.mse],
          title="the mean squared error per image",
          contract="mse_loss(x_hat: (B, 784), x: (B, 784)) -> (B,): for each image, the mean over its 784 pixels "
                   "of (x_hat - x)^2 (average it with .mean() for a batch loss)",
          verified="the `(B,)` result is each image's mean squared error over its 784 pixels, with gradients to "
                   "x_hat.")
def mse_loss(fn, check):
    torch.manual_seed(1)
    x = torch.rand(BATCH + 1, PIXELS)
    x_hat = torch.rand(BATCH + 1, PIXELS, requires_grad=True)
    out = check.tensor(check.call(x_hat, x), like=x)
    if out.dim() == 0:
        raise CheckFailed("the result is a single number, expected one value per image: shape `(B=5,)`.",
                          "Average over the pixels only (dim=1), not over everything: the batch average comes later, in the training loss.")
    if tuple(out.shape) == (PIXELS,):
        raise CheckFailed("the result has shape (784,): one value per pixel, expected one per image `(B=5,)`.",
                          "You averaged over the batch (dim=0); average over the pixels (dim=1) instead.")
    if tuple(out.shape) == (BATCH + 1, 1):
        raise CheckFailed("the result has shape `(5, 1)`: one value per image, but with a pixel dimension of size 1.",
                          "Drop keepdim=True (or squeeze the result): it is one number per image, shape (B,).",
                          code="kept-the-pixel-dimension")
    check.shape(out, (BATCH + 1,), ["batch"], hint="Average over the pixels (dim=1) so each image gets one number.")
    check.finite(out)
    check.gradient(out, {"x_hat": x_hat})
    diff = (x_hat - x).detach()
    check.values(out, diff.pow(2).mean(dim=1), "the per-image errors", mistakes=[
        Mistake("a sum over pixels instead of a mean", diff.pow(2).sum(dim=1),
                "A mean divides the sum over the pixels by their number, 784."),
        Mistake("the mean absolute error (no square)", diff.abs().mean(dim=1),
                "Square the differences, don't take their absolute value."),
        Mistake("the mean difference without a square", diff.mean(dim=1),
                "Square the differences before averaging; otherwise positive and negative errors cancel out."),
        Mistake("the root mean squared error", diff.pow(2).mean(dim=1).sqrt(),
                "Don't take the square root: the MSE is the mean of the squares itself."),
        Mistake("a mean of the squared *sum* of differences", diff.sum(dim=1).pow(2) / PIXELS,
                "Square each pixel's difference first, then average the squares over the pixels."),
        Mistake("half the mean squared error", 0.5 * diff.pow(2).mean(dim=1),
                "Leave out the factor 1/2: the MSE is the plain mean of the squared differences."),
        Mistake("the binary cross-entropy instead of the squared error",
                torch.nn.functional.binary_cross_entropy(x_hat.detach(), x, reduction="none").mean(dim=1),
                "This exercise is the mean *squared* error of the pixel differences, not a cross-entropy."),
        Mistake("the difference of the squares (x_hat^2 - x^2)", (x_hat.detach().pow(2) - x.pow(2)).mean(dim=1),
                "Square the difference of the two images, not each image separately."),
    ])



# --------------------------------------------------------------------------- 1.3

CASES, CANDIDATES = 4, 5
BLUR_CONTRACT = "expected squared error = variance of the candidates + squared distance of the prediction from their mean"


def _blur_parts(candidates: torch.Tensor, prediction: torch.Tensor, correction: int = 0, pixel_sum: bool = False):
    """(expected, spread, bias^2) per case, (B,) each, in float64; ``correction=1`` divides the spread by N - 1."""
    candidates, prediction = candidates.double(), prediction.double()
    reduce = (lambda t: t.sum(dim=-1)) if pixel_sum else (lambda t: t.mean(dim=-1))
    mean = candidates.mean(dim=1)
    n = candidates.shape[1]
    expected = reduce((candidates - prediction[:, None]).pow(2).mean(dim=1))
    spread = reduce((candidates - mean[:, None]).pow(2).sum(dim=1) / (n - correction))
    bias = reduce((prediction - mean).pow(2))
    return expected, spread, bias


def _blur_mistakes(candidates: torch.Tensor, prediction: torch.Tensor) -> list[Mistake]:
    candidates, prediction = candidates.double(), prediction.double()
    expected, spread, bias = _blur_parts(candidates, prediction)
    mean = candidates.mean(dim=1)
    diff = candidates - prediction[:, None]                                          # (B, N, 784)

    def stack(*columns):
        return torch.stack(columns, dim=1)

    return [
        Mistake("the spread with N - 1 (the unbiased variance) instead of N",
                stack(expected, _blur_parts(candidates, prediction, correction=1)[1], bias),
                "The decomposition averages over the N candidates themselves: divide by N, not N - 1 (torch's "
                "var and std divide by N - 1 unless told otherwise). Only with N the columns add up exactly."),
        Mistake("the variance and the squared-bias columns swapped", stack(expected, bias, spread),
                "The columns are, in this order: the expected squared error, the spread of the candidates "
                "(the variance term), the squared distance of the prediction from their mean."),
        Mistake("the expected error in the last column instead of the first", stack(spread, bias, expected),
                "The first column is the total, the expected squared error; then the variance, then the squared bias."),
        Mistake("sums over the pixels instead of means", stack(*_blur_parts(candidates, prediction, pixel_sum=True)),
                "Like the MSE of Exercise 1.2, every column is a mean over the 784 pixels, not a sum."),
        Mistake("the spread measured around the prediction instead of around the candidates' mean",
                stack(expected, expected, bias),
                "The variance term is the spread of the candidates around their *own* mean, which does not depend "
                "on the prediction - that is why no prediction can remove it."),
        Mistake("the standard deviation of the candidates instead of their variance",
                stack(expected, (candidates - mean[:, None]).pow(2).mean(dim=1).sqrt().mean(dim=-1), bias),
                "The decomposition adds *squared* quantities: use the variance of each pixel (a mean of squared "
                "deviations), not its standard deviation."),
        Mistake("the variance across the pixels of the mean image instead of across the candidates",
                stack(expected, mean.var(dim=-1, unbiased=False), bias),
                "The variance term is, for each pixel, how much the N candidates disagree there, averaged over the "
                "pixels - not how much the pixels of one image differ from each other."),
        Mistake("the bias not squared", stack(expected, spread, (prediction - mean).mean(dim=-1)),
                "The bias term is the mean over pixels of the *squared* difference between the prediction and the "
                "candidates' mean."),
        Mistake("the absolute bias instead of the squared bias", stack(expected, spread, (prediction - mean).abs().mean(-1)),
                "Square the difference between the prediction and the candidates' mean: it is a squared error too."),
        Mistake("the squared error against the candidates' mean as the expected error", stack(bias, spread, bias),
                "The first column compares the prediction with *each* candidate and averages those errors; the "
                "error against their mean is only the bias part."),
        Mistake("the expected error without the square", stack(diff.mean(dim=(1, 2)).neg(), spread, bias),
                "Square each pixel's difference before averaging, or positive and negative errors cancel."),
        Mistake("the square root of the expected error", stack(expected.sqrt(), spread, bias),
                "No square root: the decomposition is about the squared error itself."),
        Mistake("sums over the candidates instead of means",
                stack(expected * CANDIDATES, spread * CANDIDATES, bias),
                "The candidates are equally plausible: the expected error and the variance average over them, "
                "they do not add them up."),
    ]


def _blur_call(check, candidates, prediction):
    """Run the student's function; dimensions that do not line up get their likely cause."""
    try:
        return check.call(candidates, prediction)
    except CheckFailed as failed:
        if any(clash in failed.message for clash in ("must match the size", "size mismatch", "shapes cannot be")):
            raise CheckFailed(failed.message, "The dimensions do not line up: candidates are (B, N, 784), the "
                              "prediction (B, 784). To compare a prediction with each of its N candidates it needs a "
                              "candidate dimension of size 1; the candidates' mean is over the middle dimension (N), "
                              "not over the cases (B).", code="candidates-and-prediction-not-aligned") from None
        raise


BLUR_PARTS = ("expected error", "variance", "squared bias")  # the three columns, each a third of the points


@exercise("1.3", "01_autoencoders", "blur_decomposition", points=2, reference=metrics.blur_decomposition,
          parts=BLUR_PARTS,
          delegates=[metrics.blur_decomposition],
          title="why the MSE-optimal output is a blurry average",
          contract="blur_decomposition(candidates: (B, N, 784), prediction: (B, 784)) -> (B, 3): for each of B cases, "
                   "N equally plausible images and one prediction c; column 0 the expected squared error of c over "
                   "the N images, column 1 the variance of the images around their mean (dividing by N), column 2 "
                   "the squared distance of c from that mean; every column a mean over the 784 pixels, so "
                   "column 0 = column 1 + column 2",
          verified="the `(B, 3)` columns are the expected squared error, the variance and the squared bias, "
                   "and the first is the sum of the other two.")
def blur_decomposition(fn, check):
    torch.manual_seed(2)
    candidates = torch.rand(CASES, CANDIDATES, PIXELS)
    prediction = torch.rand(CASES, PIXELS)
    out = _blur_call(check, candidates, prediction)
    table = isinstance(out, torch.Tensor) and tuple(out.shape) == (CASES, 3)
    for column, (name, right) in enumerate(zip(BLUR_PARTS, _blur_parts(candidates, prediction))):
        check.part(name, out[:, column] if table else None, right, atol=1e-5)
    out = check.tensor(out, like=prediction)
    shape = tuple(out.shape)
    if shape == (3, CASES):
        raise CheckFailed(f"the result has shape {shape}: three rows of {CASES}, expected one row per case `(B={CASES}, 3)`.",
                          "Put the three numbers of a case side by side: one row per case, three columns.",
                          code="columns-as-rows")
    if shape in ((CASES,), (CASES, 1)) or out.dim() == 0:
        raise CheckFailed(f"the result has shape {shape}, expected three numbers per case: `(B={CASES}, 3)`.",
                          "Return all three parts of the decomposition for each case, in three columns: the expected "
                          "error, the variance, the squared bias.", code="not-three-columns")
    if shape in ((CASES, 3, PIXELS), (CASES, PIXELS, 3)):
        raise CheckFailed(f"the result has shape {shape}: one value per pixel, expected `(B={CASES}, 3)`.",
                          "Each part is a mean over the 784 pixels: reduce the pixel dimension too.",
                          code="not-averaged-over-the-pixels")
    check.shape(out, (CASES, 3), ["B", "3"], hint="One row per case, three columns: expected error, variance, bias^2.")
    check.finite(out)
    expected, spread, bias = _blur_parts(candidates, prediction)
    check.values(out, torch.stack([expected, spread, bias], dim=1), "the three parts", atol=1e-5, rtol=1e-4,
                 mistakes=_blur_mistakes(candidates, prediction),
                 hint="Compare each column with the derivation above: " + BLUR_CONTRACT + ", per pixel, then "
                      "averaged over the pixels.")
    check.ok("the first column is the sum of the other two")
