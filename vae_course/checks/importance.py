"""Check of notebook 08's Exercise 8.3: the log importance weights log p(x, z_k) - log q(z_k|x) of a VAE.

The answer draws its own noise, so the check cannot rerun a reference on the same random numbers.
Its model records every code z the decoder receives instead, and its encoder puts the means of its
images much farther apart than the spread of q(z|x), so each code belongs to the image whose mean
is nearest. The check then knows the codes z_bk the answer used and tests, in this order:

* the codes: eps = (z - mu) / sigma must be standard normal, fresh for every image, sample, latent
  dimension and call (the mean code, one eps shared by the K samples, sigma^2 as the standard
  deviation, uniform noise ... are named);
* the values at exactly those codes, each row compared as a sorted list (the order of the K samples
  is free), with the catalogue of formula mistakes computed on the same codes;
* the gradient of the sum with respect to the encoder's and decoder's parameters: the
  reparameterized one (a detached z is named);
* log p(x|z) from confident logits (about +-100): finite and not clamped;
* the device: the answer runs with the model and x on PyTorch's 'meta' device (shapes without data,
  with a device's rules: a tensor created without a device lands on the CPU and fails there, as it
  would next to a GPU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import evaluation
from ..models import VAE
from ..results import Code
from ._failures import CheckFailed, FunctionRaised
from ._mistakes import Mistake
from ._run import exercise
from ._sampling import require_any_device, require_standard_normal

B, K, D = 8, 60, 3
LOG_2PI = math.log(2 * math.pi)
NOISE_HINT = "Each z_bk is mu_b + sigma_b * eps_bk with its own standard normal eps_bk, where sigma = exp(logvar / 2)."


class _RecordingVAE(VAE):
    """A tiny VAE that remembers the codes its decoder receives; ``logit_scale`` makes its logits confident."""

    def __init__(self, logit_scale: float = 1.0):
        super().__init__(hidden_dim=16, latent_dim=D)
        self.codes: list[torch.Tensor] = []
        self.logit_scale = logit_scale

    def decode(self, z):
        self.codes.append(z.detach().reshape(-1, z.shape[-1]).clone())
        return self.logit_scale * VAE.decode(self, z)

    def logits(self, z):
        """The decoder's logits, not recorded (for the check's own computations)."""
        return self.logit_scale * VAE.decode(self, z)


def _model(logit_scale: float = 1.0) -> tuple[_RecordingVAE, torch.Tensor]:
    """The check's model and B binary images: means at least 12 apart, sigma between about 0.35 and 0.8."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _RecordingVAE(logit_scale)
        x = torch.bernoulli(torch.full((B, 784), 0.3))
        with torch.no_grad():
            model.fc_logvar.weight.mul_(0.05)
            model.fc_logvar.bias.copy_(torch.linspace(-2.0, -0.5, D))
            mu = model.encode(x)[0]
            scale = 12.0 / torch.pdist(mu).min().item()
            model.fc_mu.weight.mul_(scale)
            model.fc_mu.bias.mul_(scale)
            model.fc_decode_hidden.weight.div_(scale)  # the decoder sees codes of the usual size
    return model, x


def _codes_by_image(model: _RecordingVAE, mu: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The codes the decoder received, grouped by image in the order received -> ((B, k, D), flat order or None).

    A call that decodes the very same codes again is counted once. The second result maps the codes of
    a single decoder call of B * k rows to their (image, sample) places, for the mistakes of a layout.
    """
    calls: list[torch.Tensor] = []
    for z in model.codes:
        if z.shape[-1] == D and not any(z.shape == c.shape and torch.equal(z, c) for c in calls):
            calls.append(z)
    if not calls:
        raise CheckFailed("your function never called model.decode(z).",
                          "log p(x|z) needs the decoder's logits at each sampled code z_bk.", code="decoder-not-called")
    z = torch.cat(calls)
    owner = torch.cdist(z.double(), mu.detach().double()).argmin(1)
    counts = torch.bincount(owner, minlength=B)
    if not (counts == k).all():
        raise CheckFailed(f"the decoder received {len(z)} codes ({counts.tolist()} per image), expected K={k} for each "
                          f"of the B={B} images.", "Draw K codes for every image and decode each code once.",
                          code="wrong-number-of-codes")
    order = torch.argsort(owner, stable=True)
    return z[order].reshape(B, k, D), (order if len(calls) == 1 else None)


def _terms(model, x, z, mu, logvar) -> dict:
    """The pieces of the log-weights at codes z (B, k, D): each (B, k), or (B, 1) for what depends on the image only."""
    logits = model.logits(z.reshape(-1, D)).reshape(*z.shape[:2], -1)
    target = x[:, None].expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    var = logvar.exp()[:, None]
    return {"ll": -bce.sum(-1), "ll_mean": -bce.mean(-1), "logits": logits, "target": target,
            "quad_p": 0.5 * z.pow(2).sum(-1), "quad_q": 0.5 * ((z - mu[:, None]).pow(2) / var).sum(-1),
            "quad_q_sigma": 0.5 * ((z - mu[:, None]).pow(2) / var.sqrt()).sum(-1),
            "half_logdet": 0.5 * logvar.sum(-1)[:, None], "const": 0.5 * D * LOG_2PI,
            "kl": 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)[:, None]}


def _log_weights(t: dict) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) from the pieces of :func:`_terms`."""
    log_pz = -(t["quad_p"] + t["const"])
    log_qz = -(t["quad_q"] + t["half_logdet"] + t["const"])
    return t["ll"] + log_pz - log_qz


def _rows_sorted(values: torch.Tensor) -> torch.Tensor:
    return values.sort(dim=1).values


def _formula_mistakes(t: dict, f: torch.Tensor, x, z, mu, logvar, model, flat_order) -> list[Mistake]:
    """The catalogue of formula mistakes, as values at the answer's own codes (rows sorted)."""
    c, logdet, quad_q, quad_p, ll = t["const"], t["half_logdet"], t["quad_q"], t["quad_p"], t["ll"]
    log_pz, log_qz = -(quad_p + c), -(quad_q + logdet + c)
    wrong = [
        ("log p(z) without its log(2 pi) constant while log q(z|x) has it", f + c,
         "Both Gaussian log-densities carry -1/2 log(2 pi) per latent dimension; the two constants cancel only "
         "when both are there (or both left out)."),
        ("log q(z|x) without its log(2 pi) constant while log p(z) has it", f - c,
         "Both Gaussian log-densities carry -1/2 log(2 pi) per latent dimension; the two constants cancel only "
         "when both are there (or both left out)."),
        ("log q(z|x) without its log-determinant (the -1/2 sum of logvar)", f - logdet,
         "N(z; mu, sigma^2) is normalised by 1/sigma per dimension: log q(z|x) contains -sum_d log sigma_d."),
        ("log q(z|x) with logvar read as log sigma (-sum logvar instead of -1/2 sum logvar)", f + logdet,
         "logvar is log sigma^2, so log sigma is half of it."),
        ("(z - mu)^2 divided by sigma instead of sigma^2 in log q(z|x)", f - quad_q + t["quad_q_sigma"],
         "The quadratic term of log q is ((z - mu) / sigma)^2 / 2: divide by the variance exp(logvar)."),
        ("the quadratic term of log q(z|x) without its 1/2", f + quad_q,
         "A Gaussian log-density has -1/2 ((z - mu) / sigma)^2 per dimension."),
        ("the quadratic term of log p(z) without its 1/2", f - quad_p,
         "The standard normal log-density has -z^2 / 2 per dimension."),
        ("log q(z|x) - log p(z): the prior and encoder terms with flipped signs", ll - log_pz + log_qz,
         "The weight is p(x|z) p(z) / q(z|x): add log p(z), subtract log q(z|x)."),
        ("the negative log-weights", -f,
         "Return the log-weights themselves (log p(x, z) - log q(z|x)), not their negative as a loss."),
        ("log p(x|z) averaged over the pixels instead of summed", t["ll_mean"] + log_pz - log_qz,
         "The pixels are independent given z: log p(x|z) is the sum of the 784 pixels' log-probabilities."),
        ("the Gaussian log-densities averaged over the latent dimensions instead of summed", ll + (log_pz - log_qz) / D,
         "The latent dimensions are independent: each log-density is a sum over the D dimensions."),
        ("log p(x, z) without - log q(z|x)", ll + log_pz,
         "The importance weight divides by the proposal: subtract log q(z|x) at the same code."),
        ("log p(x|z) - log q(z|x) without the prior", ll - log_qz,
         "The joint p(x, z) = p(x|z) p(z): add the standard normal log-density of z."),
        ("the analytic KL in place of log p(z) - log q(z|x)", ll - t["kl"],
         "The closed-form KL is the *average* of log q - log p over q; each weight needs log p(z_k) - log q(z_k|x) "
         "at its own sample z_k."),
        ("log p(x|z) alone", ll, "Add the prior's and subtract the encoder's log-density at the same code."),
        ("the (K, B) values reshaped to (B, K) instead of transposed", f.T.reshape(B, -1),
         "A reshape keeps the memory order and mixes the images: swap the two dimensions instead."),
    ]
    if flat_order is not None:  # one decoder call: each code compared with the image of a wrong layout
        owner = torch.empty_like(flat_order)
        owner[flat_order] = torch.arange(B).repeat_interleave(z.shape[1])
        i = torch.arange(len(flat_order))
        pair = torch.where(owner == i % B, i // z.shape[1], i % B)[flat_order].reshape(B, -1)
        bce = F.binary_cross_entropy_with_logits(t["logits"], x[pair], reduction="none")
        wrong.append(("each code compared with another image (x repeated in the wrong order)",
                      -bce.sum(-1) + log_pz - log_qz,
                      "Code z_bk must be decoded and compared with its own image x_b: lay out x's copies like the codes."))
    return [Mistake(name, _rows_sorted(value.detach()), hint) for name, value, hint in wrong]


def _call(check, model, x, k):
    try:
        return check.call(model, x, k)
    except FunctionRaised as failed:
        if "mat1 and mat2" in failed.message:
            raise CheckFailed(f"{failed.message} - the decoder received codes of the wrong shape.",
                              "model.decode takes codes with the latent dimension D last; bring the K * B codes "
                              "into (K * B, D) (or (K, B, D)).", code="codes-of-the-wrong-shape") from None
        raise


def _check_noise(eps: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> None:
    """eps (B, k, D) = (z - mu) / sigma must be fresh N(0, 1) draws; name the usual ways it is not."""
    if eps.abs().max() < 1e-4:
        raise CheckFailed("every code is the encoder's mean mu: the codes are not samples from q(z|x).",
                          NOISE_HINT, code="mean-code-instead-of-samples")
    if (eps - eps[:, :1]).abs().max() < 1e-4:
        raise CheckFailed("the K codes of each image are identical: one noise draw is shared by the K samples.",
                          "Draw new noise for every sample k (and image, and latent dimension). " + NOISE_HINT,
                          code="same-eps-for-all-k")
    if (eps - eps[:1]).abs().max() < 1e-4:
        raise CheckFailed("every image uses the same noise eps: one draw of shape (K, 1, D) shared by the images.",
                          "The noise needs one entry per sample, image and latent dimension. " + NOISE_HINT,
                          code="same-eps-for-all-images")
    n = eps.numel()
    mean, std = eps.mean().item(), eps.std().item()
    spread = (z - mu[:, None]).detach()

    def standard(noise):  # mean 0 and std 1 within five standard errors
        return abs(noise.mean().item()) < 5 / math.sqrt(n) and abs(noise.std().item() - 1) < 5 / math.sqrt(2 * n)

    if not standard(eps) and standard(spread / logvar.exp()[:, None]):
        raise CheckFailed(f"the codes spread around mu with standard deviation exp(logvar) = sigma^2, not sigma "
                          f"(the noise (z - mu) / sigma has std {std:.2f}).",
                          "logvar is log sigma^2: sigma = exp(logvar / 2).", code="variance-as-standard-deviation")
    if not standard(eps) and standard(spread):
        raise CheckFailed("the codes spread around mu with standard deviation 1: the noise is not scaled by sigma.",
                          NOISE_HINT, code="noise-not-scaled-by-sigma")
    if abs(mean - 0.5) < 0.1 and eps.min() >= 0:
        raise CheckFailed("the noise (z - mu) / sigma lies in [0, 1) with mean 0.5: uniform noise (torch.rand).",
                          "The noise is standard *normal*: torch.randn (or randn_like), not torch.rand.",
                          code="uniform-noise")
    if not standard(eps):
        raise CheckFailed(f"the noise (z - mu) / sigma has mean {mean:.2f} and standard deviation {std:.2f}, expected "
                          "0 and 1.", NOISE_HINT, code="noise-not-standard-normal")
    require_standard_normal(eps.reshape(-1, D), NOISE_HINT, "noise draws (z - mu) / sigma")


def _gradients(out, model, x, eps):
    """The answer's and the reparameterized gradient of the sum of the log-weights, per group of parameters."""
    groups = {"encoder": [p for n, p in model.named_parameters() if not n.startswith("fc_decode")],
              "decoder": [p for n, p in model.named_parameters() if n.startswith("fc_decode")]}
    params = groups["encoder"] + groups["decoder"]
    got = torch.autograd.grad(out.sum(), params, allow_unused=True)
    got = [torch.zeros_like(p) if g is None else g for p, g in zip(params, got)]
    with torch.enable_grad():
        mu, logvar = VAE.encode(model, x)
        z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
        want = torch.autograd.grad(_log_weights(_terms(model, x, z, mu, logvar)).sum(), params)
    n = len(groups["encoder"])
    return {name: (torch.cat([g.flatten() for g in gs]), torch.cat([w.flatten() for w in ws]))
            for name, gs, ws in (("encoder", got[:n], want[:n]), ("decoder", got[n:], want[n:]))}


@exercise("8.3", "08_evaluation", "log_importance_weights", points=3,
          delegates=[evaluation.log_importance_weights],
          title="the log importance weights of a VAE, from its parts",
          contract="log_importance_weights(model, x: (B, 784), k: int) -> (B, K): entry [b, k] = log p(x_b|z_bk) + "
                   "log p(z_bk) - log q(z_bk|x_b) in nats, z_bk = mu_b + sigma_b * eps_bk with (mu, logvar) = "
                   "model.encode(x), sigma = exp(logvar / 2) and eps_bk ~ N(0, I) fresh for every image, sample and "
                   "latent dimension, from torch's global generator on x's device; log p(x|z) Bernoulli from "
                   "model.decode(z) logits (B, 784), summed over pixels; p(z) = N(0, I), q = N(mu, diag(sigma^2)), "
                   "each summed over the D dimensions; differentiable (don't detach)",
          verified="the `(B, K)` log-weights match p(x|z) p(z) / q(z|x) at your fresh codes z ~ q(z|x), with their "
                   "gradient, on any device.")
def log_importance_weights(fn, check):
    model, x = _model()
    out = check.tensor(_call(check, model, x, K), like=x)
    if tuple(out.shape) == (K, B):
        raise CheckFailed(f"the result has shape `(K={K}, B={B})`: one row per sample; the contract asks for one row "
                          f"per image, `(B={B}, K={K})`.", "Swap the two dimensions at the end.", code="transposed-result")
    if out.dim() == 3 and tuple(out.shape[:2]) in ((B, K), (K, B)) and out.shape[2] in (D, 784):
        what = "the D latent dimensions" if out.shape[2] == D else "the 784 pixels"
        raise CheckFailed(f"the result has shape `{tuple(out.shape)}`: {what} are not summed.",
                          "Each log-density is one number per image and sample: sum over " + what + ".",
                          code="dimension-not-summed")
    check.shape(out, (B, K), ["B", "K"], hint="One log-weight per image (rows) and sample (columns).")
    check.finite(out, hint="Compute log p(x|z) from the logits, not from log(sigmoid(...)), which reaches log 0.")
    with torch.no_grad():
        mu, logvar = VAE.encode(model, x)
        z, flat_order = _codes_by_image(model, mu, K)
        eps = (z - mu[:, None]) / torch.exp(0.5 * logvar)[:, None]
    _check_noise(eps, z, mu, logvar)
    check.ok("fresh N(0, 1) noise for every image, sample and latent dimension")
    if not out.requires_grad:
        raise CheckFailed("no gradient flows through your result (it does not require grad).",
                          "Don't use torch.no_grad(), .detach() or .item(): the IWAE objective trains through "
                          "these log-weights (the notebook turns gradients off itself).", code=Code.NO_GRADIENT)
    with torch.no_grad():
        t = _terms(model, x, z, mu, logvar)
        f = _log_weights(t)
        mistakes = _formula_mistakes(t, f, x, z, mu, logvar, model, flat_order)
    check.values(_rows_sorted(out.detach()), _rows_sorted(f), "the log-weights at your codes", mistakes=mistakes,
                 hint="Write out the three log-densities at the same code z_bk and compare each with the formulas "
                      "above the exercise: constants, the factors 1/2, sums over pixels and latent dimensions.")
    grads = _gradients(out, model, x, eps)
    for name, (got, want) in grads.items():
        if (got - want).norm() > 1e-3 * want.norm():
            detached = name == "encoder" and (grads["decoder"][0] - grads["decoder"][1]).norm() <= 1e-3 * grads["decoder"][1].norm()
            raise CheckFailed(f"the gradient with respect to the {name}'s parameters differs from the reparameterized "
                              "one" + (": the codes z look detached from mu and sigma." if detached else "."),
                              "Build z from mu and logvar with torch operations and keep it in the graph (no .detach(), "
                              "no torch.no_grad()): the gradient must reach the encoder through z.",
                              code="codes-detached" if detached else "gradient-differs")
    check.ok("the reparameterized gradient reaches the encoder and the decoder")
    z_again = _confident_logits(check)
    if torch.cdist(z_again.reshape(-1, D), z.reshape(-1, D)).min() < 1e-6:
        raise CheckFailed("two calls with the same arguments drew the same noise.",
                          "Don't re-seed (torch.manual_seed) inside the function: every call draws new noise.",
                          code="same-codes-on-every-call")
    check.ok("new codes on every call")
    model, x = _model()
    out = require_any_device(check, model.to("meta"), x.to("meta"), 3, what="the model and x on another device")
    if out is not None:
        check.shape(out, (B, 3), ["B", "K"], "the result for the model and x on another device")


def _confident_logits(check) -> torch.Tensor:
    """log p(x|z) must come from the logits: sigmoid rounds to exactly 0 or 1 when |logit| is large.

    The same encoder and images as the first call: returns the codes (B, 4, D), to compare with its codes.
    """
    model, x = _model(logit_scale=500.0)
    out = check.tensor(_call(check, model, x, 4), "the result for confident logits",
                       like=x)
    check.shape(out, (B, 4), ["B", "K"], "the result for confident logits")
    check.finite(out, "the result for a decoder with confident logits (|logit| up to a few hundred)",
                 hint="sigmoid(logit) rounds to exactly 0 or 1 in floating point, and log 0 = -inf: compute "
                      "log p(x|z) from the logits (binary_cross_entropy_with_logits or logsigmoid).")
    with torch.no_grad():
        mu, logvar = VAE.encode(model, x)
        z, _ = _codes_by_image(model, mu, 4)
        t = _terms(model, x, z, mu, logvar)
        f = _log_weights(t)
        clamped = -F.binary_cross_entropy(torch.sigmoid(t["logits"]), t["target"], reduction="none").sum(-1)
        mistake = Mistake("binary_cross_entropy on sigmoid probabilities (clamped at -100 nats per pixel)",
                          _rows_sorted(f - t["ll"] + clamped),
                          "binary_cross_entropy clamps each log-probability at -100, and sigmoid rounds to 0 or 1 "
                          "for confident logits: compute log p(x|z) from the logits (the *_with_logits loss or "
                          "logsigmoid).")
    check.values(_rows_sorted(out.detach()), _rows_sorted(f), "the log-weights for confident logits", mistakes=[mistake],
                 rtol=1e-4, atol=1e-2)
    check.ok("stable for confident logits")
    return z
