"""Check for notebook 02, section 1.1: the log-evidence estimated by sampling the prior (Exercise 2.4).

log p(x) = log E_{z ~ p(z)}[p(x|z)] ~ logsumexp_k log p(x|z_k) - log K, with every image scored against
every one of the K codes. The check runs three stages:

1. binary images, a decoder whose codes move each log p(x|z_k) by about a nat: the naive exp underflows
   (log p(x|z) is about -200 nats), and each catalogued mistake (no -log K, the mean of the logs, the best
   code alone, ...) gives its own recognisable value;
2. grey images (the notebook feeds grey digits) and log-likelihoods thousands of nats apart, about
   -1,000 nats: only a log-sum-exp stays finite, even in float64;
3. logits of +-100 and +-300: only a log-likelihood computed from the logits stays finite and right.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import evaluation
from ._failures import CheckFailed
from ._mistakes import Mistake
from .elbo import finite_for
from ._run import exercise

BATCH, CODES, LATENT, PIXELS = 5, 7, 3, 784

_PAIRING_HINT = ("Every image must be scored against every code: for B images and K codes that is a table of "
                 "B x K log-likelihoods log p(x_b | z_k), which you then reduce over the codes.")


# --------------------------------------------------------------------------- inputs

def _decoder(spread: float, extreme: bool = False) -> nn.Linear:
    """codes (K, 3) -> logits (K, 784): a bias of about +-3 per pixel plus ``spread`` times a code-dependent part.

    ``extreme``: a quarter of the pixels get biases of +-100 and +-300.
    """
    decoder = nn.Linear(LATENT, PIXELS)
    with torch.no_grad():
        decoder.weight.copy_(spread * torch.randn(PIXELS, LATENT))
        decoder.bias.copy_(3.0 * torch.randn(PIXELS))
        if extreme:
            pick = torch.rand(PIXELS) < 0.25
            extremes = torch.tensor([-300.0, -100.0, 100.0, 300.0])[torch.randint(0, 4, (PIXELS,))]
            decoder.bias.copy_(torch.where(pick, extremes, decoder.bias))
    return decoder.requires_grad_(False)


def _table(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x_b | z_k) for every pair, in float64: logits (K, 784), x (B, 784) -> (B, K)."""
    logits, x = logits.double(), x.double()
    return (x[:, None, :] * logits[None] - F.softplus(logits)[None]).sum(dim=-1)


def _log_mean_exp(table: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(table, dim=1) - math.log(table.shape[1])


def _mistakes(decoder: nn.Linear, x: torch.Tensor, z: torch.Tensor) -> list[Mistake]:
    """Wrong estimates (B,) on the stage-1 inputs, each with a hint that teaches the idea."""
    logits = decoder(z).double()
    x = x.double()
    table, log_k = _table(logits, x), math.log(CODES)
    lse = torch.logsumexp(table, dim=1)
    bce = F.binary_cross_entropy_with_logits(logits[None].expand(BATCH, -1, -1), x[:, None].expand(-1, CODES, -1),
                                             reduction="none")
    only_ink = (x[:, None, :] * F.logsigmoid(logits)[None]).sum(-1)
    twice = _table(torch.sigmoid(logits), x)
    log_prior = -0.5 * (z.double().pow(2).sum(-1) + LATENT * math.log(2 * math.pi))   # log N(z_k; 0, I), (K,)
    return [
        Mistake("a log-sum-exp without the - log K", lse,
                "The estimate is the log of an *average* of the K probabilities, not of their sum: an average divides "
                "by K, which in log space is a subtraction."),
        Mistake("the average of the log-likelihoods instead of the log of the average likelihood", table.mean(dim=1),
                "log E[p(x|z)] is not E[log p(x|z)]: averaging the logs gives a lower number (Jensen's inequality). "
                "Average the probabilities themselves - in log space, with a log-sum-exp."),
        Mistake("the largest log-likelihood alone (the best code)", table.max(dim=1).values,
                "All K codes count, not only the best one: average their probabilities p(x|z_k) in log space."),
        Mistake("a log-sum-exp divided by K instead of minus log K", lse / CODES,
                "Dividing the *probabilities* by K subtracts log K from their log; dividing the log by K is "
                "something else."),
        Mistake("a log-sum-exp minus log(K - 1)", lse - math.log(CODES - 1),
                "The average over K codes divides by K (not K - 1): there is no variance correction here."),
        Mistake("a log-sum-exp plus log K", lse + log_k,
                "An average divides the sum by K: in log space, subtract log K."),
        Mistake("a log-sum-exp minus log B (the number of images) instead of log K", lse - math.log(BATCH),
                "Average over the K codes, so the count to divide by is the number of codes, not of images."),
        Mistake("the binary cross-entropy (a log-likelihood with the wrong sign) averaged in log space",
                torch.logsumexp(bce.sum(-1), dim=1) - log_k,
                "log p(x|z) is *minus* the binary cross-entropy, summed over the pixels (it is <= 0)."),
        Mistake("a log-likelihood averaged over the pixels instead of summed", _log_mean_exp(table / PIXELS),
                "The pixels are independent given z, so log p(x|z) is a *sum* over the 784 pixels, not a mean."),
        Mistake("only the x * log(pi) term of the log-likelihood", _log_mean_exp(only_ink),
                "The Bernoulli log-probability has a term for the pixels that are 0 as well: "
                "x log(pi) + (1 - x) log(1 - pi)."),
        Mistake("probabilities used as logits (a sigmoid applied twice)", _log_mean_exp(twice),
                "decode(z) returns logits already: the formula x l - softplus(l) takes them as they are."),
        Mistake("log p(z_k) added to each log-likelihood", _log_mean_exp(table + log_prior[None]),
                "The codes are already drawn from p(z), so the plain average of p(x|z_k) is the integral of "
                "p(x|z) p(z). Weighting by p(z_k) again counts the prior twice (a weight p(z)/q(z) belongs to "
                "sampling from another distribution q)."),
        Mistake("each image scored against one code only (the k-th image with the k-th code)",
                table[:, :BATCH].diagonal(), _PAIRING_HINT),
    ]


# --------------------------------------------------------------------------- calling and shapes

def _call(check, decoder, x, z):
    """Run the student's function; a broadcasting error between B images and K codes gets its likely cause."""
    try:
        return check.call(decoder, x, z)
    except CheckFailed as failed:
        message = failed.message
        if any(clash in message for clash in ("must match the size", "must be the same as input size",
                                              "shapes cannot be multiplied", "size mismatch")):
            raise CheckFailed(message, _PAIRING_HINT + " A (B, 784) and a (K, 784) tensor only combine after "
                              "you give each a dimension of size 1 where the other has B or K.",
                              code="images-and-codes-not-paired") from None
        if "support" in message or "Boolean" in message:
            raise CheckFailed(message, "torch.distributions.Bernoulli only accepts pixels that are exactly 0 or 1, "
                              "but the notebook's digits are grey levels in [0, 1]. Write the log-likelihood from "
                              "the logits with the formula above; it holds for grey levels too.",
                              code="bernoulli-log-prob-on-grey-pixels") from None
        raise


def _shape(check, out: torch.Tensor) -> None:
    """(B,), with the usual wrong shapes named."""
    shape = tuple(out.shape)
    if out.dim() == 0:
        raise CheckFailed(f"the result is a single number, expected one estimate per image: shape `(B={BATCH},)`.",
                          "Each image has its own log p(x): reduce over the K codes only, not over the images.",
                          code="reduced-over-the-images")
    if shape == (CODES,):
        raise CheckFailed(f"the result has shape {shape}: one value per code (K={CODES}), expected one per image "
                          f"`(B={BATCH},)`.", "You reduced over the images; reduce over the K codes instead.",
                          code="reduced-over-the-images-not-the-codes")
    if shape in ((BATCH, CODES), (CODES, BATCH)):
        raise CheckFailed(f"the result has shape {shape}: a log-likelihood for every (image, code) pair, "
                          f"expected `(B={BATCH},)`.", "That table is the middle step: now average the K "
                          "probabilities of each image, in log space.", code="not-reduced-over-the-codes")
    if shape == (BATCH, 1):
        raise CheckFailed(f"the result has shape {shape}: one value per image, but with an extra dimension of size 1.",
                          "Return a (B,) tensor: drop the kept dimension.", code="kept-the-codes-dimension")
    check.shape(out, (BATCH,), ["B"], hint="One value per image: reduce the (B, K) table over the codes.")


# --------------------------------------------------------------------------- 2.4

@exercise("2.4", "02_elbo", "prior_log_evidence", points=2, reference=evaluation.prior_log_evidence,
          delegates=[evaluation.prior_log_evidence],
          title="the log-evidence by sampling the prior",
          contract="prior_log_evidence(decode, x: (B, 784) in [0, 1], z: (K, D) codes drawn from p(z)) -> (B,): "
                   "for each image, log of (1/K) * sum over the K codes of p(x|z_k), with p(x|z) the Bernoulli "
                   "decoder of logits decode(z) (K, 784); every image scored against all K codes; computed in log "
                   "space so that log-likelihoods of about -1,000 nats and logits of +-300 stay finite",
          verified="the `(B,)` estimates match the reference, for grey images, log-likelihoods of -1,000 nats and "
                   "logits of +-300 too.")
def prior_log_evidence(fn, check):
    torch.manual_seed(0)
    z = torch.randn(CODES, LATENT)
    decoder = _decoder(spread=0.04)
    x = torch.bernoulli(torch.sigmoid(decoder.bias).expand(BATCH, -1))   # images the decoder explains fairly well
    out = check.tensor(_call(check, decoder, x, z), like=x)
    _shape(check, out)
    finite_for(check, out, "for log-likelihoods of -200 nats", hint=(
        "Each log p(x|z) is about -200 nats here, and exp(-200) is exactly 0 in float32, so the log of the average "
        "is log(0) = -inf. Never leave log space: a log-sum-exp subtracts the largest term before exponentiating "
        "(torch.logsumexp does it for you)."))
    check.values(out, _log_mean_exp(_table(decoder(z), x)), "the estimates", mistakes=_mistakes(decoder, x, z),
                 atol=1e-3, rtol=1e-5,
                 hint="Compare with the formula: a (B, K) table of log p(x_b|z_k) = sum_j x_bj l_kj - softplus(l_kj), "
                      "then a log-sum-exp over the codes minus log K.")

    decoder = _decoder(spread=0.5)
    x = torch.rand(BATCH, PIXELS)
    out = check.tensor(_call(check, decoder, x, z), like=x)
    _shape(check, out)
    finite_for(check, out, "for grey images and log-likelihoods of -1,000 nats",
            "the result for grey images and log-likelihoods of -1,000 nats", hint=(
                "Here the log-likelihoods are about a thousand nats below 0, and exp of them is 0 even in float64. "
                "Average the probabilities in log space with a log-sum-exp (torch.logsumexp), which subtracts "
                "the largest term first."))
    check.values(out, _log_mean_exp(_table(decoder(z), x)), "the estimates for grey images",
                 hint="Right for binary pixels, wrong for grey levels: use the log-likelihood formula as it is, "
                      "x l - softplus(l) per pixel, with no rounding or thresholding of x.")

    decoder = _decoder(spread=0.04, extreme=True)
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.3))
    out = check.tensor(_call(check, decoder, x, z), like=x)
    _shape(check, out)
    finite_for(check, out, "for logits of +-300", "the result for logits of +-100 and +-300", hint=(
        "log(sigmoid(l)) breaks for large |l|: sigmoid(100) is exactly 1.0 in float32, so log(1 - sigmoid(100)) = "
        "-inf (and 0 * -inf = nan). Compute each pixel's log-probability from the logit itself: x l - softplus(l)."))
    check.values(out, _log_mean_exp(_table(decoder(z), x)), "the estimates for logits of +-100 and +-300",
                 hint="Right for moderate logits, wrong for extreme ones: a clamp or an epsilon inside a log caps the "
                      "penalty of a confidently wrong pixel. Use x l - softplus(l), which is exact for every logit.")
    check.ok("right for grey images and extreme logits too")
