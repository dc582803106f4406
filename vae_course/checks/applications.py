"""Checks for notebook 06 (what VAEs are good for): the anomaly score and one inpainting step.

The stochastic inpainting chain (Exercise 6.3) has its own module, :mod:`.inpainting`.
"""

import torch
import torch.nn.functional as F

from .. import applications, losses
from ..models import VAE
from ._checker import Crash
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise
from .elbo import _kl_mistakes


def tiny_vae(seed: int = 0) -> VAE:
    """A small seeded VAE (784-16-3) in eval mode whose KL term and pixel probabilities are far from trivial."""
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = VAE(hidden_dim=16, latent_dim=3)
    with torch.no_grad():
        model.fc_mu.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
        model.fc_logvar.bias.copy_(torch.tensor([-1.0, 0.5, -0.3]))
        model.fc_decode_out.weight.mul_(8.0)
    torch.set_rng_state(generator_state)
    return model.eval()


# Errors of torch.distributions and torch.bernoulli that point to one mistake (:class:`~._checker.Crash`): a
# Bernoulli or Normal refuses values outside its support with a ValueError that does not say why.
_DISTRIBUTION_CRASHES = [
    Crash.any_of(
        ["Expected parameter probs"], message="a Bernoulli got logits as its probabilities",
        hint="The decoder returns logits (any real number), while a Bernoulli's first positional argument is "
             "`probs`, which must lie in [0, 1]: pass the logits by name (logits=...) or turn them into "
             "probabilities first.",
        code="logits-passed-as-probs"),
    Crash.any_of(
        ["within the support (Boolean())"],
        message="torch.distributions.Bernoulli refused grey pixels: its log_prob accepts only 0 or 1",
        hint="The images have grey levels in [0, 1], outside a Bernoulli's support {0, 1}. The cross-entropy "
             "-[x log p + (1 - x) log(1 - p)] is defined for them: compute it from the logits with "
             "F.binary_cross_entropy_with_logits, or create the distribution with validate_args=False.",
        code="bernoulli-log-prob-of-grey-pixels"),
    Crash.any_of(
        ["p_in >= 0 && p_in <= 1"],
        message="torch.bernoulli got values outside [0, 1]: logits where probabilities belong",
        hint="torch.bernoulli(p) draws 1 with probability p, so p must be a probability: the decoder returns "
             "logits, turn them into probabilities first.",
        code="bernoulli-of-logits"),
    Crash.any_of(
        ["Expected parameter scale"], message="a Normal got a scale that is not positive",
        hint="Normal(loc, scale) takes the standard deviation sigma = exp(logvar / 2), which is always positive; "
             "logvar itself is negative whenever sigma < 1.",
        code="normal-with-logvar-as-scale"),
]



def call_naming_crashes(check, *args):
    """``check.call(*args)``, with the errors of :data:`_DISTRIBUTION_CRASHES` named by their likely cause."""
    return check.call_naming(_DISTRIBUTION_CRASHES, *args)


def _check_inputs(batch: int = 5) -> torch.Tensor:
    x = torch.rand(batch, 784)
    x[:, :300] = (x[:, :300] > 0.5).float()  # a mix of binary and grey pixels
    return x


@exercise("6.1", "06_applications", "anomaly_score", points=2,
          delegates=[applications.anomaly_score],
          title="the anomaly score (mean-code BCE + KL per image)",
          contract="anomaly_score(model, x: (B, 784) in [0, 1]) -> (B,): the score of each image in nats, "
                   "BCE(x, x_hat(mu)) + KL(q(z|x) || N(0, I)), with the mean code z = mu (deterministic), "
                   "cross-entropy summed over pixels; larger = more anomalous",
          verified="the `(B,)` scores match BCE(x, x_hat(mu)) + KL, the reference score.")
def anomaly_score(fn, check):
    model = tiny_vae()
    x = _check_inputs()
    out = check.tensor(call_naming_crashes(check, model, x), like=x)
    if out.dim() == 0:
        raise CheckFailed("the result is a single number (shape ()), expected one score per image `(B=5,)`.",
                          "Don't average over the batch: sum over the pixels (dim=1) only, so each image "
                          "keeps its own score.")
    if tuple(out.shape) == (5, 784):
        raise CheckFailed("the result has one value per pixel (5, 784), expected one score per image `(B=5,)`.",
                          "Sum the per-pixel terms over the pixels (dim=1).")
    check.shape(out, (5,), ["batch"])
    check.finite(out)
    again = check.tensor(call_naming_crashes(check, model, x), like=x)
    if again.shape == out.shape and not torch.allclose(out.detach(), again.detach(), rtol=1e-5, atol=1e-4):
        raise CheckFailed("two calls with the same images gave different scores: the score decodes a sampled code.",
                          "Decode the mean code mu (model.encode(x)[0]), not a reparameterized sample: the "
                          "anomaly score is deterministic.", code="anomaly-score-with-a-sampled-code")
    with torch.no_grad():
        mu, logvar = model.encode(x)
        logits = model.decode(mu)
        nll = -losses.bernoulli_log_likelihood(logits, x)
        kl = losses.gaussian_kl(mu, logvar)
        expected = applications.anomaly_score(model, x)
        bce_pixels = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    mse_logits = (logits - x).pow(2).sum(1)
    mse_probs = (torch.sigmoid(logits) - x).pow(2).sum(1)
    logits_hint = ("You compared logits with pixels: the decoder returns logits, and the Bernoulli likelihood is "
                   "computed from them with F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(1) "
                   "- not a squared error.")
    check.values(out, expected, "the scores", rtol=1e-4, atol=1e-3, mistakes=[
        Mistake("reconstruction log-likelihood minus KL (the sign is flipped)", -expected,
                "An anomaly score must be *large* for unusual images: return reconstruction loss + KL, "
                "not its negative."),
        Mistake("the reconstruction term only (the KL term is missing)", nll,
                "Add the KL term: like the negative ELBO it mimics, the score is "
                "reconstruction loss + KL (losses.gaussian_kl(mu, logvar))."),
        Mistake("the KL term only", kl, "Add the reconstruction term -log p(x | z = mu), summed over pixels."),
        Mistake("reconstruction loss minus the KL term", nll - kl,
                "The score is reconstruction loss *plus* KL, as in the negative ELBO: -(log p(x|z) - KL) = -log p(x|z) + KL."),
        Mistake("a squared error on the logits (+ KL)", mse_logits + kl, logits_hint),
        Mistake("a squared error on the logits", mse_logits, logits_hint),
        Mistake("a squared error on the probabilities (+ KL)", mse_probs + kl,
                "A squared error is not the Bernoulli likelihood the VAE was trained with: use "
                "F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(1)."),
        Mistake("a mean over pixels instead of a sum", bce_pixels.mean(1) + kl,
                "log p(x|z) is a sum over the 784 independent pixels: use .sum(1), not .mean(1)."),
        Mistake("a KL term averaged over the latent dimensions instead of summed", nll + kl / mu.shape[1],
                "The KL of independent latent dimensions is their sum: .sum(dim=1), not .mean(dim=1)."),
        Mistake("a KL term without its factor 1/2", nll + 2 * kl,
                "KL = 1/2 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j): keep the 1/2."),
        Mistake("a KL term averaged over the batch", nll + kl.mean(),
                "Each image has its own KL: keep the (B,) values of losses.gaussian_kl(mu, logvar), don't .mean() "
                "them."),
        Mistake("a reconstruction term with the sigmoid applied twice",
                F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none").sum(1) + kl,
                "model.decode returns logits: pass them straight to F.binary_cross_entropy_with_logits, "
                "without torch.sigmoid."),
        Mistake("the arguments of binary_cross_entropy_with_logits swapped",
                F.binary_cross_entropy_with_logits(x, logits, reduction="none").sum(1) + kl,
                "The order is F.binary_cross_entropy_with_logits(logits, x): prediction first, target second."),
        Mistake("a KL term summed over the batch", nll + kl.sum(),
                "Each image has its own KL: keep the (B,) values of losses.gaussian_kl(mu, logvar), don't .sum() "
                "them over the batch."),
        Mistake("a reconstruction term summed over the whole batch", bce_pixels.sum() + kl,
                "Sum the binary cross-entropy over the pixels only (reduction='none', then .sum(dim=1)): "
                "reduction='sum' adds up the whole batch."),
        Mistake("only the x * log(pi) term of the cross-entropy",
                -(x * F.logsigmoid(logits)).sum(1) + kl,
                "Add the term for the pixels that are 0: -(x log pi + (1 - x) log(1 - pi)), or use "
                "F.binary_cross_entropy_with_logits(logits, x, reduction='none')."),
        Mistake("a reconstruction of the decoded logvar instead of the mean code mu",
                F.binary_cross_entropy_with_logits(model.decode(logvar), x, reduction="none").sum(1) + kl,
                "model.encode returns (mu, logvar): decode the first, the mean code."),
    ] + [Mistake("a KL term with " + name, nll + value, hint) for name, value, hint in _kl_mistakes(mu, logvar)],
        hint="Decode the mean code (not a sample); score the reconstruction with the cross-entropy from the logits, "
             "summed over the pixels, and add the KL of q(z|x) to the prior, summed over the latent dimensions.")


@exercise("6.2", "06_applications", "inpaint_step", points=2,
          delegates=[applications.inpaint_step],
          title="one inpainting step that keeps the known pixels",
          contract="inpaint_step(model, x_known, mask, x_current) -> x_next, all (B, 784) in [0, 1]; mask is 1 "
                   "where a pixel is known and 0 where it is missing. Every known pixel exactly as in x_known, "
                   "every missing pixel from the model's reconstruction of x_current from its mean code, as a "
                   "probability (model.decode gives logits)",
          verified="the `(B, 784)` result keeps the known pixels and fills the missing ones from the decoded mean "
                   "code.")
def inpaint_step(fn, check):
    model = tiny_vae(seed=1)
    mask = (torch.rand(4, 784) < 0.5).float()
    x_known = mask * torch.rand(4, 784)                        # missing pixels are 0, as in a masked image
    x_current = mask * x_known + (1 - mask) * torch.rand(4, 784)  # the current guess keeps the known pixels
    out = check.tensor(call_naming_crashes(check, model, x_known, mask, x_current), like=x_known)
    check.shape(out, (4, 784), ["batch", "pixels"], hint="Return a full image per input: (B, 784).")
    check.finite(out)
    again = check.tensor(call_naming_crashes(check, model, x_known, mask, x_current), like=x_known)
    if not torch.allclose(out.detach(), again.detach(), atol=1e-6):
        raise CheckFailed("two calls with the same inputs filled different pixels: the step decodes a sampled code.",
                          "Decode the mean code mu (model.encode(x_current)[0]), not a reparameterized sample: "
                          "one inpainting step is deterministic.", code="inpainting-with-a-sampled-code")
    with torch.no_grad():
        logits = model.decode(model.encode(x_current)[0])
        probs = torch.sigmoid(logits)
        stale = torch.sigmoid(model.decode(model.encode(x_known)[0]))
        expected = applications.inpaint_step(model, x_known, mask, x_current)
    check.values(out, expected, "the pixels", mistakes=[
        Mistake("the mask used the wrong way round", (1 - mask) * x_known + mask * probs,
                "mask is 1 where a pixel is *known*: keep x_known there (mask * x_known) and fill the rest "
                "((1 - mask) * reconstruction)."),
        Mistake("a reconstruction whose known pixels are not clamped", probs,
                "Put the known pixels back after decoding: mask * x_known + (1 - mask) * reconstruction. "
                "Otherwise the visible part drifts too."),
        Mistake("logits in the missing pixels", mask * x_known + (1 - mask) * logits,
                "The decoder returns logits: apply torch.sigmoid to get pixel values in [0, 1]."),
        Mistake("unclamped logits", logits,
                "Apply torch.sigmoid to the decoder's logits, then keep the known pixels: "
                "mask * x_known + (1 - mask) * probabilities."),
        Mistake("a reconstruction of x_known instead of x_current", mask * x_known + (1 - mask) * stale,
                "Encode the current guess x_current (it holds your latest fill of the missing pixels); "
                "encoding x_known every time would never improve the fill."),
        Mistake("pixels rounded to 0 or 1", mask * x_known + (1 - mask) * (probs > 0.5).float(),
                "Keep the probabilities sigmoid(logits) as grey levels; don't threshold them."),
        Mistake("x_current returned unchanged", x_current,
                "Fill the missing pixels with the decoded reconstruction of x_current."),
        Mistake("a result whose known pixels are missing (0)", (1 - mask) * probs,
                "Add the known pixels back: mask * x_known + (1 - mask) * reconstruction."),
        Mistake("the reconstruction added without (1 - mask)", mask * x_known + probs,
                "Multiply the reconstruction by (1 - mask) so it only fills the missing pixels."),
        Mistake("the new fill averaged with x_current", 0.5 * x_current + 0.5 * expected,
                "Return the new image itself: mask * x_known + (1 - mask) * reconstruction."),
    ])
    require_known_pixels_exact(out, x_known, mask)


def require_known_pixels_exact(out: torch.Tensor, x_known: torch.Tensor, mask: torch.Tensor) -> None:
    """Fail unless every known pixel of ``out`` (..., B, 784) is *exactly* its value in ``x_known`` (B, 784).

    A fill written as a correction, x + m * (x_known - x), gives the known pixels back only up to rounding:
    close enough for the values check, but the visible part is then not what was seen.
    """
    known = mask.bool().expand_as(out)
    target = x_known.expand_as(out)
    if torch.equal(out.detach()[known], target[known]):
        return
    wrong = int((out.detach()[known] != target[known]).sum())
    raise CheckFailed(f"{wrong} known pixels differ from x_known (by at most "
                      f"{float((out.detach()[known] - target[known]).abs().max()):.1e}): the known pixels are "
                      "only approximately kept.",
                      "Take every known pixel straight from x_known, not as the result of adding and subtracting "
                      "the reconstruction (that rounds): select with the mask, so that 1 * x_known + 0 * fill "
                      "is x_known bit for bit.", code="known-pixels-only-approximately-kept")
