"""Helpers of the checks whose exercises draw codes: is a batch of draws standard normal and independent?

Mean and standard deviation are not enough: Laplace or rescaled uniform noise has the right
moments, and so do codes whose latent dimensions share one random number. The tests here look at
the distribution itself (Kolmogorov-Smirnov distance from N(0, 1)), at independence across
entries, rows and calls, and name what they find. Thresholds are many standard errors wide, so
correct answers pass with any seed. :func:`call_decoding` names a latent size written as a number.
"""

from __future__ import annotations

import math

import torch

from ..results import Code
from ._failures import CheckFailed, _NotImplementedYet


def ks_distance(samples: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance of the pooled ``samples`` (any shape) from N(0, 1).

    Normal samples exceed ``2.7 / sqrt(n)`` with probability about 1e-6.
    """
    pooled = samples.detach().flatten().double().sort().values
    n = len(pooled)
    cdf = torch.special.ndtr(pooled)
    steps = torch.arange(1, n + 1, dtype=torch.float64) / n
    return float(torch.maximum(steps - cdf, cdf - (steps - 1 / n)).max())


def require_fresh_codes(z: torch.Tensor, z_again: torch.Tensor, hint: str) -> None:
    """Fail when the codes ``z`` (N, D) repeat: one code for every row, one number for every entry of a
    row, or the same codes again on a second call with the same arguments (``z_again``)."""
    if len(z) > 1 and (z - z[:1]).abs().max() < 1e-6:
        raise CheckFailed("every sample decodes the same code: one code was drawn and repeated for all rows.",
                          "Draw a fresh code per sample. " + hint, code="same-code-for-every-row")
    if z.shape[1] > 1 and (z - z[:, :1]).abs().max() < 1e-6:
        raise CheckFailed("the latent dimensions of each code are perfectly correlated: they share one random "
                          "number.", "Draw every entry independently. " + hint, code="codes-correlated-across-dims")
    if z_again.shape == z.shape and torch.allclose(z, z_again):
        raise CheckFailed("two calls with the same arguments decoded the same codes.",
                          "Don't re-seed (torch.manual_seed) or reuse stored codes inside the function: every "
                          "call must draw new ones. " + hint, code="same-codes-on-every-call")


def require_standard_normal(z: torch.Tensor, hint: str, what: str = "codes") -> None:
    """Fail when the ``what`` ``z`` (N, D), already of mean 0 and std 1, are correlated or not normal."""
    n = len(z)
    limit = 6 / math.sqrt(n)  # six standard errors of a correlation coefficient
    if z.shape[1] > 1:
        corr = torch.corrcoef(z.T.double())
        if (corr - torch.eye(z.shape[1], dtype=torch.float64)).abs().max() > limit:
            raise CheckFailed(f"the latent dimensions of the {what} are correlated.",
                              "Draw every entry independently. " + hint, code="codes-correlated-across-dims")
    lagged = torch.corrcoef(torch.cat([z[:-1], z[1:]], dim=1).T.double())[: z.shape[1], z.shape[1]:]
    if lagged.diagonal().abs().max() > limit:
        raise CheckFailed(f"each row of the {what} is correlated with the next row.",
                          "Each sample needs its own independent code. " + hint, code="codes-correlated-across-rows")
    distance = ks_distance(z)
    if distance > 2.7 / math.sqrt(z.numel()):
        raise CheckFailed(f"the {what} have mean 0 and standard deviation 1 but are not normally distributed "
                          f"(their Kolmogorov-Smirnov distance from N(0, 1) over {z.numel()} draws is "
                          f"{distance:.3f}).", "The prior is standard *normal*: " + hint, code="codes-not-normal")


def call_decoding(check, *args, codes: list, latent_dim: int, n: int):
    """``check.call(*args)`` for a function that draws ``n`` codes and decodes them; ``codes`` is the list in
    which the check's model records every z it is asked to decode. When the function raises and the
    last code had the wrong shape or dtype, the message says so: the sizes swapped, the latent size
    hard-coded, or codes in float64 for a float32 model."""
    try:
        return check.call(*args)
    except CheckFailed as failed:
        z = codes[-1] if codes else None
        if z is not None and z.dtype != torch.get_default_dtype() and "dtype" in failed.message:
            raise CheckFailed(f"{failed.message} - the codes are {z.dtype}, the model's weights "
                              f"{torch.get_default_dtype()}.", "Draw the codes in the model's dtype "
                              "(torch's default, float32, unless you ask for another); convert the *result* to "
                              "another dtype if you need one.", code="codes-in-another-dtype") from None
        if z is None or (z.dim() == 2 and z.shape[1] == latent_dim):
            raise
        shape = tuple(z.shape)
        if shape == (latent_dim, n) and latent_dim != n:
            raise CheckFailed(f"{failed.message} - the codes have shape {shape} = (latent_dim, n): the two sizes "
                              "are swapped.", "Draw one row per sample: n rows of model.latent_dim numbers each.",
                              code="code-shape-swapped") from None
        raise CheckFailed(f"{failed.message} - the codes have shape {shape}, expected (n={n}, "
                          f"latent_dim={latent_dim}).", f"Each code must have model.latent_dim entries (here "
                          f"{latent_dim}): read the size from the model, do not write a fixed number.",
                          code="latent-size-hard-coded") from None


def require_any_device(check, *args, what: str = "a model on another device"):
    """Run the answer on ``args`` (a model and inputs on PyTorch's 'meta' device) -> its result there.

    'meta' tensors have shapes and a device but no data, so a CPU-only machine can test device-following:
    a tensor created without a device lands on the CPU and fails next to the model, as it would on a GPU.
    An answer that needs values (``.item()``, printing, a copy to the CPU) cannot run there; then the test says
    nothing (None).
    Checks that use it list their notebook in ``_run.META_DEVICE_NOTEBOOKS`` (the first use of 'meta' is slow).
    """
    validate = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)  # validation reads values, which meta lacks
    try:
        out = check.call(*args)
    except _NotImplementedYet:  # 'meta' cannot do it (e.g. copy to the CPU); the answer ran fine before
        return None
    except CheckFailed as failed:
        if "device" not in failed.message:
            return None
        raise CheckFailed("your function creates a tensor on the CPU whatever the device of its inputs: with "
                          f"{what} (PyTorch's 'meta' device, standing in for a GPU) it fails: {failed.message}",
                          "Create every new tensor where the model and inputs are: give it their device (and "
                          "dtype), e.g. that of a parameter or an input, or use a *_like function.",
                          code="tensor-created-without-device") from None
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
    out = check.tensor(out, f"the result for {what}")
    if out.device.type != "meta":
        raise CheckFailed(f"the result for {what} is on {out.device}, expected the model's device.",
                          "Keep the result where the model is: don't move it to the CPU inside the function.",
                          code=Code.WRONG_DEVICE)
    check.ok("follows the model's device")
    return out
