"""Checks for notebook 02 (the ELBO): the Gaussian KL, the Bernoulli log-likelihood and the ELBO.

Each check runs twice: first on inputs where every catalogued mistake gives a finite,
recognisable value (so the message can name it), then on hard inputs - negative log-variances,
logits of +-100 and +-300 - where only a numerically sound answer stays finite and right.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from .. import diagnostics, losses
from ._failures import CheckFailed
from ._mistakes import Mistake, match_mistake
from ._run import exercise

BATCH, LATENT, PIXELS = 4, 3, 784

KL_FORMULA = "KL = 1/2 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)"


# --------------------------------------------------------------------------- inputs

def _latent_inputs(hard: bool):
    """mu, logvar (B, D). Easy: logvar in [0.2, 1.5] (log(logvar) is defined); hard: logvar in [-4, 3]."""
    mu = torch.randn(BATCH, LATENT) * (2.0 if hard else 1.0)
    low, high = (-4.0, 3.0) if hard else (0.2, 1.5)
    logvar = low + (high - low) * torch.rand(BATCH, LATENT)
    return mu.requires_grad_(), logvar.requires_grad_()


def _pixel_inputs(hard: bool):
    """logits (B, 784), x (B, 784) binary. Hard logits include +-100 and +-300 on both pixel values."""
    x = torch.bernoulli(torch.full((BATCH, PIXELS), 0.3))
    logits = 3.0 * torch.randn(BATCH, PIXELS)
    if hard:
        extremes = torch.tensor([-300.0, -100.0, 100.0, 300.0])
        pick = torch.rand(BATCH, PIXELS) < 0.25
        logits = torch.where(pick, extremes[torch.randint(0, 4, (BATCH, PIXELS))], logits)
    return logits.requires_grad_(), x


# --------------------------------------------------------------------------- references and mistakes

def _kl_terms(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def _reference_kl(mu, logvar):
    return _kl_terms(mu, logvar).sum(dim=-1)


def _reference_loglik(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def _kl_mistakes(mu, logvar):
    """Wrong KLs (B,) on the easy inputs as (name, value, hint); 2.3 reuses them inside the ELBO."""
    mu, logvar = mu.detach(), logvar.detach()
    sq = mu.pow(2)
    ref = _reference_kl(mu, logvar)
    return [
        ("the KL averaged over latent dimensions instead of summed", _kl_terms(mu, logvar).mean(dim=-1),
         "The latent dimensions are independent, so their KLs add up: sum over the last dimension, don't average."),
        ("the KL without its factor 1/2", 2.0 * ref,
         "Multiply by 1/2: " + KL_FORMULA + "."),
        ("the KL with the wrong sign", -ref,
         "A KL divergence is never negative. " + KL_FORMULA + "."),
        ("logvar used as the standard deviation sigma",
         0.5 * (sq + logvar.pow(2) - 1.0 - torch.log(logvar.pow(2))).sum(dim=-1),
         "logvar is log(sigma^2), not sigma: the variance is exp(logvar) and log(sigma^2) is logvar itself."),
        ("logvar used as the variance sigma^2",
         0.5 * (sq + logvar - 1.0 - torch.log(logvar)).sum(dim=-1),
         "logvar is already the *log* of the variance: sigma^2 = exp(logvar), log(sigma^2) = logvar."),
        ("logvar used as log(sigma) instead of log(sigma^2)",
         0.5 * (sq + torch.exp(2.0 * logvar) - 1.0 - 2.0 * logvar).sum(dim=-1),
         "logvar = log(sigma^2), so sigma^2 = exp(logvar) - not exp(2 * logvar)."),
        ("the standard deviation exp(logvar / 2) used where the variance belongs",
         0.5 * (sq + torch.exp(0.5 * logvar) - 1.0 - logvar).sum(dim=-1),
         "The KL needs the variance sigma^2 = exp(logvar), not the standard deviation exp(logvar / 2)."),
        ("the KL without the -1 term", 0.5 * (sq + logvar.exp() - logvar).sum(dim=-1),
         "Don't forget the -1 in each term: " + KL_FORMULA + " (it makes KL = 0 when mu = 0, logvar = 0)."),
        ("mu instead of mu^2", 0.5 * (mu + logvar.exp() - 1.0 - logvar).sum(dim=-1),
         "Square the mean: the term is mu_j^2, which is never negative."),
        ("the KL without the mu^2 term", 0.5 * (logvar.exp() - 1.0 - logvar).sum(dim=-1),
         "Include mu_j^2: the KL grows as the mean moves away from the prior's mean 0."),
        ("+logvar instead of -logvar", 0.5 * (sq + logvar.exp() - 1.0 + logvar).sum(dim=-1),
         "The last term is minus logvar: " + KL_FORMULA + "."),
        ("the KL without the - logvar term", 0.5 * (sq + logvar.exp() - 1.0).sum(dim=-1),
         "Subtract logvar (= log sigma^2) in each term: " + KL_FORMULA + "."),
        ("the KL in the wrong direction, KL(N(0, I) || q)",
         0.5 * ((1.0 + sq) / logvar.exp() - 1.0 + logvar).sum(dim=-1),
         "The VAE's term is KL(q(z|x) || N(0, I)): " + KL_FORMULA + ", not KL(N(0, I) || q)."),
    ]


def _loglik_mistakes(logits, x):
    """Wrong log-likelihoods (B,) on the easy inputs, each with its own hint."""
    logits = logits.detach()
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return [
        ("the binary cross-entropy (a log-likelihood with the wrong sign)", bce.sum(dim=-1),
         "The log-likelihood is *minus* the binary cross-entropy: return -BCE (it is <= 0)."),
        ("a mean over pixels instead of a sum", -bce.mean(dim=-1),
         "Pixels are independent given z, so their log-probabilities add up: sum over the pixels, don't average."),
        ("the binary cross-entropy averaged over pixels", bce.mean(dim=-1),
         "Two fixes: return minus the BCE, and sum over the pixels instead of averaging."),
        ("probabilities used as logits (a sigmoid applied twice)",
         -F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").sum(dim=-1),
         "The input already is a logit: don't apply torch.sigmoid before a function that expects logits "
         "(binary_cross_entropy_with_logits applies the sigmoid itself)."),
        ("the arguments of binary_cross_entropy_with_logits swapped",
         -F.binary_cross_entropy_with_logits(x, logits, reduction="none").sum(dim=-1),
         "binary_cross_entropy_with_logits takes the prediction (the logits) first and the target (the pixels) second."),
        ("only the x * log(pi) term", (x * F.logsigmoid(logits)).sum(dim=-1),
         "Add the term for the pixels that are 0: x * log(pi) + (1 - x) * log(1 - pi)."),
        ("minus the squared error of the probabilities", -(torch.sigmoid(logits) - x).pow(2).sum(dim=-1),
         "This is a Bernoulli log-likelihood, not a squared error: x * log(pi) + (1 - x) * log(1 - pi)."),
        ("the logits used as log-probabilities", (x * logits + (1 - x) * (1 - logits)).sum(dim=-1),
         "Logits are not log-probabilities: log(pi) = F.logsigmoid(logits), log(1 - pi) = F.logsigmoid(-logits)."),
    ]


_SCALAR_HINTS = {
    "kl": "Don't reduce over the batch: each example has its own KL, a sum over its latent dimensions only. "
          "The batch average comes later, in the training loss.",
    "loglik": "Don't reduce over the batch: each example has its own log-likelihood, a sum over its pixels only. "
              "The batch average comes later, in the training loss.",
    "elbo": "Don't reduce over the batch: each example has its own ELBO (its log-likelihood minus its KL, both "
            "of shape (B,)). The batch average comes later, in the training loss -elbo(...).mean().",
}


def _shape_for(out: torch.Tensor, per_latent: bool, per_pixel: bool, kind: str):
    """Turn a typical wrong shape into a named mistake; (B,) passes through. ``kind``: "kl", "loglik" or "elbo"."""
    shape = tuple(out.shape)
    inside = "The KL term inside your elbo" if kind == "elbo" else "The KL"
    if out.dim() == 0:
        raise CheckFailed(f"the result is a single number, expected one value per example: shape `(B={BATCH},)`.",
                          _SCALAR_HINTS[kind], code="reduced-over-the-batch")
    if per_latent and shape == (BATCH, LATENT):
        raise CheckFailed(f"the result has shape {shape} = `(B, D)`, expected `(B={BATCH},)`.",
                          f"{inside} still has one value per latent dimension. Sum the KL terms over the latent "
                          "dimensions (the last one).", code="not-summed-over-latents")
    if per_pixel and shape == (BATCH, PIXELS):
        raise CheckFailed(f"the result has shape {shape} = `(B, 784)`, expected `(B={BATCH},)`.",
                          "Sum the log-probabilities of the pixels (the last dimension).", code="not-summed-over-pixels")
    if per_latent and shape == (LATENT,):
        raise CheckFailed(f"the result has shape {shape}: one value per latent dimension, expected `(B={BATCH},)`.",
                          "You reduced over the batch (dim=0); sum over the latent dimensions (the last one) instead.",
                          code="summed-over-the-batch")
    if per_pixel and shape == (PIXELS,):
        raise CheckFailed(f"the result has shape {shape}: one value per pixel, expected `(B={BATCH},)`.",
                          "You reduced over the batch (dim=0); sum over the pixels (the last dimension) instead.",
                          code="summed-over-the-batch")


def _as_mistakes(items, prefix: str = "", hint_prefix: str = ""):
    return [Mistake(prefix + name, value, hint_prefix + hint) for name, value, hint in items]


def _gradient(check, out, inputs: dict, mistakes, hint: str = "") -> None:
    """``check.gradient``, but when no gradient reaches an input because a whole term is missing
    (e.g. no mu^2 in the KL), name that mistake rather than blaming .detach()."""
    try:
        check.gradient(out, inputs, hint=hint)
    except CheckFailed:
        mistake = match_mistake(out, mistakes)
        if mistake is not None:
            raise mistake.failure() from None
        raise


def finite_for(check, out: torch.Tensor, inputs: str, what: str = "the result", hint: str = "") -> None:
    """``check.finite``, recorded as "finite values <inputs>": a check with an easy and a hard stage then
    never says "contains NaN" (hard inputs) next to "already fine: finite values" (easy ones)."""
    check.finite(out, what, hint=hint)
    check.passed[check.passed.index("finite values")] = f"finite values {inputs}"


# --------------------------------------------------------------------------- 2.1

@exercise("2.1", "02_elbo", "gaussian_kl", points=2, reference=losses.gaussian_kl,
          delegates=[losses.gaussian_kl, diagnostics.kl_per_dimension],
          title="the KL divergence from a diagonal Gaussian to N(0, I)",
          contract="gaussian_kl(mu: (B, D), logvar: (B, D)) -> (B,): KL(N(mu, diag(exp(logvar))) || N(0, I)) "
                   "= 1/2 * sum over the D latent dimensions of (mu^2 + exp(logvar) - 1 - logvar); "
                   "logvar is log(sigma^2); one value per example, >= 0",
          verified="the `(B,)` KL values match the reference, for negative logvar too, with gradients to mu and "
                   "logvar.")
def gaussian_kl(fn, check):
    mu, logvar = _latent_inputs(hard=False)
    out = check.tensor(check.call(mu, logvar), like=mu)
    _shape_for(out, per_latent=True, per_pixel=False, kind="kl")
    check.shape(out, (BATCH,), ["batch"], hint="Sum over the latent dimensions (the last one) only.")
    finite_for(check, out, "for positive logvar", hint="Look for the log of a negative number or of zero: logvar is already a log, "
                           "so log(sigma^2) is logvar itself.")
    mistakes = _as_mistakes(_kl_mistakes(mu, logvar))
    _gradient(check, out, {"mu": mu, "logvar": logvar}, mistakes)
    check.values(out, _reference_kl(mu, logvar), "the KL values", mistakes=mistakes)

    mu, logvar = _latent_inputs(hard=True)
    out = check.tensor(check.call(mu, logvar), like=mu)
    check.shape(out, (BATCH,), ["batch"])
    finite_for(check, out, "for negative logvar", "the result for negative logvar",
                 hint="logvar can be negative (sigma < 1). Never take log(logvar): log(sigma^2) is logvar itself, "
                      "and sigma^2 = exp(logvar) is always positive.")
    check.values(out, _reference_kl(mu, logvar), "the KL values for negative and positive logvar",
                 hint="Your function is right for some inputs only. Use exp(logvar) for sigma^2 and logvar for "
                      "log(sigma^2), with no special cases: " + KL_FORMULA + ".")
    check.ok("right for negative logvar too")


# --------------------------------------------------------------------------- 2.2

_PROBABILITY_HINT = ("F.binary_cross_entropy expects probabilities in [0, 1], but you get logits (any real number). "
                     "Its sibling for logits, F.binary_cross_entropy_with_logits, is also stable (mind its default "
                     "reduction and its sign).")


def _call_loglik(fn_call, *args):
    try:
        return fn_call(*args)
    except CheckFailed as failed:
        if "between 0 and 1" in failed.message:
            raise CheckFailed(failed.message, _PROBABILITY_HINT, code="probabilities-expected-got-logits") from None
        raise


@exercise("2.2", "02_elbo", "bernoulli_log_likelihood", points=2, reference=losses.bernoulli_log_likelihood,
          delegates=[losses.bernoulli_log_likelihood],
          title="the Bernoulli log-likelihood from logits",
          contract="bernoulli_log_likelihood(logits: (B, 784), x: (B, 784) in {0, 1}) -> (B,): "
                   "log p(x|z) = sum over pixels of x*log(pi) + (1-x)*log(1-pi) with pi = sigmoid(logits), "
                   "i.e. minus the binary cross-entropy, summed (not averaged) over pixels; <= 0; "
                   "computed from the logits so that logits of +-100 stay finite",
          verified="the `(B,)` log-likelihoods match the reference, stay finite for logits of +-300 and pass "
                   "gradients.")
def bernoulli_log_likelihood(fn, check):
    logits, x = _pixel_inputs(hard=False)
    out = check.tensor(_call_loglik(check.call, logits, x), like=logits)
    _shape_for(out, per_latent=False, per_pixel=True, kind="loglik")
    check.shape(out, (BATCH,), ["batch"], hint="Sum over the pixels (the last dimension) only.")
    finite_for(check, out, "for moderate logits", hint="Are you taking the log of the logits? They can be negative: pi = sigmoid(logits) "
                           "is the probability, and the stable way is F.binary_cross_entropy_with_logits.")
    mistakes = _as_mistakes(_loglik_mistakes(logits, x))
    _gradient(check, out, {"logits": logits}, mistakes)
    check.values(out, _reference_loglik(logits, x), "the log-likelihoods", mistakes=mistakes)

    logits, x = _pixel_inputs(hard=True)
    out = check.tensor(_call_loglik(check.call, logits, x), like=logits)
    check.shape(out, (BATCH,), ["batch"])
    finite_for(check, out, "for logits of +-300", "the result for logits of +-100 and +-300",
                 hint="log(sigmoid(l)) breaks for large |l|: sigmoid(100) is exactly 1.0 in float32, so "
                      "log(1 - sigmoid(100)) = log(0) = -inf (and 0 * -inf = nan). Work with the logits: "
                      "log(pi) = -softplus(-l), log(1 - pi) = -softplus(l), or use F.binary_cross_entropy_with_logits.")
    check.values(out, _reference_loglik(logits, x), "the log-likelihoods for logits of +-100 and +-300",
                 hint="Right for moderate logits, wrong for extreme ones: clamping or adding an epsilon inside the log "
                      "(and F.binary_cross_entropy, which clips log at -100) caps the penalty. A pixel with x = 1 and "
                      "logit -300 has log-likelihood -300. Compute from the logits: x * l - softplus(l).")
    check.ok("stable for logits of +-100 and +-300")


# --------------------------------------------------------------------------- 2.3

def _broadcast_diagnosis(failed: CheckFailed) -> CheckFailed:
    """Shapes that do not line up (B,) vs (B, D) usually mean a forgotten sum; say which one."""
    if "must match the size" not in failed.message:
        return failed
    sizes = {int(n) for n in re.findall(r"\((\d+)\)", failed.message)}
    if LATENT in sizes:
        return CheckFailed(failed.message, "The KL term still has one value per latent dimension: "
                                           "sum it over them so it has shape (B,).", code="kl-term-not-summed")
    if PIXELS in sizes:
        return CheckFailed(failed.message, "The log-likelihood term still has one value per pixel: "
                                           "sum it over them so it has shape (B,).",
                           code="reconstruction-term-not-summed")
    return failed


@exercise("2.3", "02_elbo", "elbo", points=2, reference=losses.elbo, uses=("2.1", "2.2"),
          delegates=[losses.elbo, losses.gaussian_kl, losses.bernoulli_log_likelihood],
          title="the evidence lower bound",
          contract="elbo(logits: (B, 784), x: (B, 784) in {0, 1}, mu: (B, D), logvar: (B, D)) -> (B,): "
                   "the log-likelihood of Exercise 2.2 minus the KL of Exercise 2.1, one value per example "
                   "(a log-probability bound, <= 0, to be *maximised*; the training loss is -elbo(...).mean())",
          verified="the `(B,)` ELBO values match the reference, for extreme logits and negative logvar too, with "
                   "gradients.")
def elbo(fn, check):
    logits, x = _pixel_inputs(hard=False)
    mu, logvar = _latent_inputs(hard=False)
    try:
        out = check.call(logits, x, mu, logvar)
    except CheckFailed as failed:
        raise _broadcast_diagnosis(failed) from None
    out = check.tensor(out, like=mu)
    _shape_for(out, per_latent=True, per_pixel=True, kind="elbo")
    check.shape(out, (BATCH,), ["batch"], hint="The ELBO has one value per example, and so has each of its two terms "
                                               "(Exercises 2.1 and 2.2): combine them without reducing over anything.")
    finite_for(check, out, "for moderate logits")
    rec = _reference_loglik(logits, x).detach()
    kl = _reference_kl(mu, logvar).detach()
    # The check runs elbo with the reference gaussian_kl and bernoulli_log_likelihood (uses= above): a wrong
    # term here was written inside elbo itself.
    kl_hint = "The KL term computed inside your elbo is off (compare it with Exercise 2.1): "
    rec_hint = "The reconstruction term computed inside your elbo is off (compare it with Exercise 2.2): "
    mistakes = [
        Mistake("the negative ELBO (the loss) instead of the ELBO", kl - rec,
                "Return the ELBO itself, log-likelihood minus KL (<= 0). The *loss* -elbo is what training minimises."),
        Mistake("the KL added instead of subtracted", rec + kl,
                "ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)): subtract the KL."),
        Mistake("the binary cross-entropy used as the reconstruction term", -rec - kl,
                "The reconstruction term is the log-likelihood, i.e. *minus* the binary cross-entropy."),
        Mistake("the KL term missing", rec,
                "Subtract the KL term: the ELBO is the reconstruction log-likelihood minus the KL (formula above)."),
        Mistake("the reconstruction term missing", -kl,
                "Add the reconstruction term, the log-likelihood of Exercise 2.2."),
        Mistake("a KL term reduced over the batch", rec - kl.mean(),
                "Each example has its own KL: gaussian_kl must return shape (B,), not one number for the batch."),
        Mistake("a KL term summed over the batch", rec - kl.sum(),
                "Each example has its own KL: gaussian_kl must return shape (B,), not one number for the batch."),
        Mistake("a KL term with the factor 1/2 applied twice", rec - 0.5 * kl,
                kl_hint + "the 1/2 belongs once, in front of the sum: " + KL_FORMULA + "."),
        Mistake("gaussian_kl called with the variance exp(logvar) as its logvar argument",
                rec - _reference_kl(mu, logvar.exp()).detach(),
                "gaussian_kl expects logvar itself (the log of the variance): pass it on unchanged."),
        Mistake("gaussian_kl called with the standard deviation exp(logvar / 2) as its logvar argument",
                rec - _reference_kl(mu, (0.5 * logvar).exp()).detach(),
                "gaussian_kl expects logvar itself (the log of the variance): pass it on unchanged."),
        Mistake("gaussian_kl called with log(sigma) = logvar / 2 as its logvar argument",
                rec - _reference_kl(mu, 0.5 * logvar).detach(),
                "gaussian_kl expects logvar = log(sigma^2) as it is: pass it on unchanged."),
        Mistake("the arguments of gaussian_kl swapped", rec - _reference_kl(logvar, mu).detach(),
                "gaussian_kl takes the mean first, then the log-variance."),
        Mistake("a reconstruction term reduced over the batch", rec.mean() - kl,
                "Each example has its own log-likelihood: return shape (B,), not one number for the batch."),
    ]
    mistakes += _as_mistakes([(name, rec - value, hint) for name, value, hint in _kl_mistakes(mu, logvar)],
                             prefix="a KL term with ", hint_prefix=kl_hint)
    mistakes += _as_mistakes([(name, value - kl, hint) for name, value, hint in _loglik_mistakes(logits, x)
                              if "cross-entropy (a log-likelihood" not in name],
                             prefix="a reconstruction term with ", hint_prefix=rec_hint)
    _gradient(check, out, {"logits": logits, "mu": mu, "logvar": logvar}, mistakes,
              hint="The ELBO must depend on the decoder's logits (reconstruction term) and on mu and logvar "
                   "(KL term); don't detach either.")
    check.values(out, rec - kl, "the ELBO values", mistakes=mistakes)

    logits, x = _pixel_inputs(hard=True)
    mu, logvar = _latent_inputs(hard=True)
    try:
        out = check.call(logits, x, mu, logvar)
    except CheckFailed as failed:
        raise _broadcast_diagnosis(failed) from None
    out = check.tensor(out, like=mu)
    check.shape(out, (BATCH,), ["batch"])
    finite_for(check, out, "for extreme logits and negative logvar", "the ELBO for extreme logits and negative logvar",
                 hint="Make both parts numerically safe: the log-likelihood from logits (no log(sigmoid)), "
                      "and the KL with exp(logvar) and logvar (no log(logvar)).")
    check.values(out, _reference_loglik(logits, x) - _reference_kl(mu, logvar),
                 "the ELBO values for extreme logits and negative logvar",
                 hint="Right on easy inputs, wrong on hard ones: check that bernoulli_log_likelihood has no clamp or "
                      "epsilon (logit -300 on an inked pixel costs 300 nats) and gaussian_kl has no special cases.")
    check.ok("stable for extreme logits and negative logvar")
