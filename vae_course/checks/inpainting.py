"""Check of Exercise 6.3 (notebook 06): the stochastic inpainting chain of Rezende et al. (2014).

The check's model records every call of ``encode`` and ``decode``, so the check follows the chain step by
step: which image each step encoded, which code it decoded (and so the noise behind that code), and which
probabilities the missing pixels were drawn from. Random draws are judged by their distribution, with
thresholds of six standard errors (a correct answer passes with any seed), and every known mistake is named.
"""

from __future__ import annotations

import math

import torch

from .. import applications
from ._failures import CheckFailed
from ._run import exercise
from ._sampling import require_any_device, require_standard_normal
from .applications import call_naming_crashes, require_known_pixels_exact, tiny_vae

STEPS, BATCH = 4, 64


def _recording_model():
    """A tiny VAE (latent size 3, log-variances far from 0) whose encode/decode calls are logged in ``events``."""
    model = tiny_vae(seed=2)
    with torch.no_grad():
        model.fc_logvar.bias.copy_(torch.tensor([-2.0, 1.0, -1.5]))
    events: list[tuple] = []
    encode, decode = model.encode, model.decode

    def recording_encode(x):
        mu, logvar = encode(x)
        events.append(("encode", x.detach().clone(), mu.detach(), logvar.detach()))
        return mu, logvar

    def recording_decode(z):
        logits = decode(z)
        events.append(("decode", z.detach().clone(), logits.detach()))
        return logits

    model.encode, model.decode = recording_encode, recording_decode
    return model, events


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.to(b.dtype), b, atol=1e-6)


def _steps(out, x_start, x_known, events) -> list[tuple]:
    """(mu, logvar, z, logits) of each step: the step encodes the previous state and decodes (last) its code."""
    starts, previous, position = [], x_start, 0
    encodes = [i for i, event in enumerate(events) if event[0] == "encode"]
    for t in range(len(out)):
        start = next((i for i in encodes if i >= position and _same(events[i][1], previous)), None)
        if start is None:
            if any(_same(events[i][1], x_known) for i in encodes):
                raise CheckFailed("the chain encodes x_known, the masked image, instead of its current state.",
                                  "Each step starts from the image the previous step returned (the first from "
                                  "x_start): that is what makes it a chain that refines its own samples.",
                                  code="chain-encodes-x-known")
            if t > 0 and sum(_same(events[i][1], x_start) for i in encodes) >= len(out):
                raise CheckFailed("every step encodes x_start: the chain never moves on from its first state.",
                                  "Feed each new state back in: step t + 1 encodes the state of step t.",
                                  code="chain-encodes-x-start-every-step")
            raise CheckFailed(f"step {t + 1} did not encode the state x^({t}) that the chain returned"
                              f"{' (x_start)' if t == 0 else ''}.",
                              "Encode the current image, the one whose known pixels you just put back, and "
                              "return that same image as the state of the step.", code="chain-state-not-encoded")
        starts.append(start)
        previous, position = out[t], start + 1
    steps = []
    for start, end in zip(starts, starts[1:] + [len(events)]):
        segment = events[start:end]
        encoded = [e for e in segment if e[0] == "encode"][-1]
        decoded = [e for e in segment if e[0] == "decode"]
        if not decoded:
            raise CheckFailed("a step of the chain never called model.decode.",
                              "Each step decodes a code drawn from q(z|x) to get the pixel probabilities.",
                              code="chain-step-without-decode")
        steps.append((encoded[2], encoded[3], decoded[-1][1], decoded[-1][2]))
    return steps


def _standard(eps: torch.Tensor) -> bool:
    """Whether ``eps`` (N, D) has mean 0 and standard deviation 1 in every column (six standard errors)."""
    n = len(eps)
    return bool((eps.mean(0).abs() < 6 / math.sqrt(n)).all() and ((eps.std(0) - 1).abs() < 6 / math.sqrt(2 * n)).all())


# Codes drawn with the wrong spread: (name, the scale they used in place of exp(logvar / 2), hint, code).
_SCALE_MISTAKES = [
    ("the variance exp(logvar) used as the standard deviation", lambda lv: lv.exp(),
     "logvar is log sigma^2: sigma = exp(logvar / 2), the square root of the variance.", "noise-scaled-by-the-variance"),
    ("logvar used as the standard deviation", lambda lv: lv,
     "logvar is a log-variance (often negative): the standard deviation is exp(logvar / 2).", "noise-scaled-by-logvar"),
    ("noise that is not scaled at all (z = mu + eps)", torch.ones_like,
     "q(z|x) has standard deviation sigma = exp(logvar / 2): scale the noise by it.", "noise-not-scaled"),
]


def _require_sampled_codes(steps) -> None:
    mu, logvar, z = (torch.stack([s[i] for s in steps]) for i in range(3))  # (S, B, D) each
    if torch.allclose(z, mu, atol=1e-6):
        raise CheckFailed("every step decoded the mean code mu: nothing was sampled from q(z|x).",
                          "model.reparameterize returns mu when the model is in eval mode (as here and in the "
                          "notebook): draw the noise yourself, fresh at every step.", code="chain-decodes-the-mean-code")
    if z.shape != mu.shape:
        raise CheckFailed(f"the decoded codes have shape {tuple(z.shape[1:])}, expected one code per image "
                          f"{tuple(mu.shape[1:])}.", "Draw one code per image, with the shape of mu.",
                          code="chain-code-shape")
    flat = lambda t: t.reshape(-1, t.shape[-1])  # noqa: E731 - (S * B, D)
    eps = (z - mu) / (0.5 * logvar).exp()
    if not _standard(flat(eps)):
        if ((eps - 1).abs() < 1e-4).all():
            raise CheckFailed("the codes are mu + sigma, without any noise.",
                              "Multiply sigma by fresh standard normal noise (torch.randn_like).",
                              code="code-without-noise")
        if ((eps >= 0) & (eps < 1)).all() or ((z - mu >= 0) & (z - mu < 1)).all():
            raise CheckFailed("the noise of the codes is uniform on [0, 1), not standard normal.",
                              "torch.rand_like draws uniform numbers; torch.randn_like draws N(0, 1).",
                              code="uniform-noise-in-the-codes")
        for name, scale, hint, code in _SCALE_MISTAKES:
            if _standard(flat((z - mu) / scale(logvar))):
                raise CheckFailed(f"the codes do not follow q(z|x) - this looks like {name}.", hint, code=code)
        if _standard(flat(z)):
            raise CheckFailed("the codes are drawn from the prior N(0, I), not from q(z|x): they ignore the image.",
                              "Sample around the encoder's output: mean mu, standard deviation exp(logvar / 2).",
                              code="chain-samples-the-prior")
        raise CheckFailed("the codes are not samples of q(z|x) = N(mu, diag(exp(logvar))).",
                          "z = mu + sigma * eps with sigma = exp(logvar / 2) and eps standard normal, drawn fresh.",
                          code="codes-not-from-q")
    if len(eps) > 1 and torch.allclose(eps[1:], eps[:1].expand_as(eps[1:]), atol=1e-5):
        raise CheckFailed("every step used the same noise eps: it was drawn once, before the loop.",
                          "Draw fresh noise inside the loop, at every step.", code="same-noise-every-step")
    require_standard_normal(flat(eps), "Draw eps with torch.randn_like(mu) at every step.", what="noise of the codes")


def _require_sampled_pixels(out, mask, steps) -> None:
    missing = ~mask.bool()
    probs = torch.sigmoid(torch.stack([s[3] for s in steps]))  # (S, B, 784)
    drawn = out[:, missing]                                   # (S, n) one value per missing pixel and step
    p = probs[:, missing] if probs.shape == out.shape else None
    if not ((drawn == 0) | (drawn == 1)).all():
        if p is not None and torch.allclose(drawn, p, atol=1e-5):
            raise CheckFailed("the missing pixels are probabilities: the chain fills in sigmoid(decode(z)) "
                              "instead of drawing pixels.",
                              "Draw each missing pixel: 1 with probability p, else 0 (a Bernoulli sample).",
                              code="chain-fills-probabilities")
        if p is not None and torch.allclose(drawn, torch.stack([s[3] for s in steps])[:, missing], atol=1e-5):
            raise CheckFailed("the missing pixels are the decoder's logits.",
                              "Turn the logits into probabilities, then draw 0 or 1 with them.",
                              code="chain-fills-logits")
        raise CheckFailed("the missing pixels are not all 0 or 1: they must be Bernoulli samples.",
                          "Draw each missing pixel as 1 with probability p = sigmoid(logit), else 0.",
                          code="chain-pixels-not-binary")
    if p is None:
        raise CheckFailed("the last decoded probabilities of a step do not have the shape of the images.",
                          "Decode one code per image: the logits are (B, 784).", code="chain-logits-shape")
    if torch.equal(drawn, (p > 0.5).to(drawn.dtype)):
        raise CheckFailed("the missing pixels are the probabilities rounded to 0 or 1, not samples.",
                          "Rounding keeps only the likeliest pixel; a sample is 1 with probability p (a pixel with "
                          "p = 0.3 is 1 in three draws of ten).", code="chain-rounds-instead-of-sampling")
    spread = (p * (1 - p)).sum().sqrt()  # standard deviation of the number of ones, for correct draws

    def calibrated(q):
        return abs(float((drawn - q).sum())) < 6 * float(spread) + 1

    if not calibrated(p):
        if calibrated(1 - p):
            raise CheckFailed("the missing pixels are 1 with probability 1 - p: the comparison is the wrong way round.",
                              "A Bernoulli(p) sample is 1 when a uniform number falls *below* p.",
                              code="chain-pixels-drawn-with-1-minus-p")
        if calibrated(torch.sigmoid(p)):
            raise CheckFailed("the missing pixels are drawn with probability sigmoid(p): the sigmoid is applied twice.",
                              "model.decode returns logits: one sigmoid turns them into probabilities.",
                              code="chain-sigmoid-applied-twice")
        raise CheckFailed(f"the missing pixels are 1 in {float(drawn.mean()):.3f} of the draws, but their "
                          f"probabilities average {float(p.mean()):.3f}: they are not drawn with p = "
                          "sigmoid(decode(z)).", "Draw each missing pixel as 1 with probability p, else 0.",
                          code="chain-pixels-not-drawn-with-p")


def _require_fresh_pixel_noise(out, mask, steps) -> None:
    """The draws of one pixel at consecutive steps are independent: their residuals (draw - p) do not correlate."""
    missing = ~mask.bool()
    probs = torch.sigmoid(torch.stack([s[3] for s in steps]))[:, missing]  # (S, n)
    residual = out[:, missing] - probs
    before, after = residual[:-1].flatten(), residual[1:].flatten()
    corr = float((before * after).mean() / (before.pow(2).mean().sqrt() * after.pow(2).mean().sqrt() + 1e-12))
    if corr > 0.1:  # independent draws: about 0 +- 0.01 here; one uniform number reused at every step: about 0.5
        raise CheckFailed(f"the pixel draws of consecutive steps are correlated ({corr:.2f}): the same uniform "
                          "numbers are reused at every step.",
                          "Every step draws new random numbers for its pixels, as it does for its codes.",
                          code="same-pixel-noise-every-step")


@exercise("6.3", "06_applications", "inpaint_chain", points=3,
          delegates=[applications.inpaint_chain],
          title="a stochastic inpainting chain (sample z from q, sample the missing pixels)",
          contract="inpaint_chain(model, x_known, mask, x_start, steps) -> (steps, B, 784): the states x^(1), ..., "
                   "x^(steps) of a chain that starts at x^(0) = x_start and at each step encodes x^(t), draws "
                   "z ~ q(z|x^(t)) with fresh noise, draws each missing pixel from Bernoulli(sigmoid(decode(z))) "
                   "(0 or 1) and keeps each known pixel exactly as in x_known; x_known, mask, x_start: (B, 784), "
                   "mask 1 = known; random numbers from torch's global generator",
          verified="the `(steps, B, 784)` states keep the known pixels exactly; each step encodes the last state, "
                   "decodes a fresh z ~ q(z|x) and draws 0/1 pixels with p.")
def inpaint_chain(fn, check):
    model, events = _recording_model()
    mask = (torch.rand(BATCH, 784) < 0.5).float()
    x_known = mask * torch.rand(BATCH, 784)
    x_start = torch.rand(BATCH, 784)  # differs from x_known on the known pixels too: those come from x_known
    out = check.tensor(call_naming_crashes(check, model, x_known, mask, x_start, STEPS), like=x_known)
    shapes = {(BATCH, 784): ("one image per input (B=64, 784): only the last state.",
                             "Return every state of the chain, stacked along a new first dimension: (steps, B, 784)."),
              (BATCH, STEPS, 784): ("shape (B=64, steps=4, 784): the steps are the second dimension.",
                                    "Stack the states along a new *first* dimension: (steps, B, 784).")}
    if tuple(out.shape) in shapes:
        message, hint = shapes[tuple(out.shape)]
        raise CheckFailed("the result has " + message, hint, code="chain-states-shape")
    check.shape(out, (STEPS, BATCH, 784), ["steps", "batch", "pixels"],
                hint="One state per step: (steps, B, 784), for the `steps` argument.")
    check.finite(out)
    if torch.equal(out.detach()[:, ~mask.bool()], x_start[~mask.bool()].expand(STEPS, -1)):
        raise CheckFailed("the missing pixels never change: every state is x_start.",
                          "Fill the missing pixels at every step with new draws from the decoder.",
                          code="chain-never-changes")
    require_known_pixels_exact(out, x_known, mask)
    check.ok("known pixels kept exactly")
    out = out.detach()
    steps = _steps(out, x_start, x_known, events)
    check.ok("each step encodes the previous state")
    _require_sampled_codes(steps)
    check.ok("codes drawn from q(z|x)")
    _require_sampled_pixels(out, mask, steps)
    _require_fresh_pixel_noise(out, mask, steps)
    check.ok("pixels drawn from Bernoulli(p), fresh at every step")
    again = call_naming_crashes(check, model, x_known, mask, x_start, STEPS)
    if isinstance(again, torch.Tensor) and again.shape == out.shape and torch.equal(again.detach().to(out.dtype), out):
        raise CheckFailed("two calls with the same arguments gave the same chain: the function re-seeds.",
                          "Don't call torch.manual_seed inside the function: the notebook seeds once, and every "
                          "call must draw new random numbers.", code="chain-re-seeded")
    on_meta = [t.to("meta") for t in (x_known, mask, x_start)]
    require_any_device(check, model.to("meta"), *on_meta, STEPS, what="the model and images on another device")
