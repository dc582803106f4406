"""Checks for notebook 04 (training a VAE): one optimisation step, and sampling from the prior.

The training step is checked against a reference step on a tiny seeded VAE with plain SGD: the check
replays the same random numbers (the same z), so the loss and the parameter update must match the
reference exactly, and each way they can differ points to one mistake.
"""

from __future__ import annotations

import math

import torch

from .. import losses
from ..models import VAE
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise
from ._sampling import call_decoding, require_fresh_codes, require_standard_normal

LR = 0.01
STEP_SEEDS = (10, 11)  # the global seed before the first and the second training step
KEYS = ("loss", "recon", "kl")


def tiny_vae(seed: int = 0) -> VAE:
    """A small seeded VAE (784-16-3) in training mode; the global RNG is left as it was."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = VAE(hidden_dim=16, latent_dim=3)
    with torch.no_grad():  # a KL term of a few nats, so leaving it out shows
        model.fc_mu.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
        model.fc_logvar.bias.copy_(torch.tensor([-1.0, 0.5, -0.3]))
    torch.set_rng_state(state)
    return model.train()


def _batch(size: int = 8) -> torch.Tensor:
    """A fixed binary batch (size, 784) with about 20% ink."""
    return (torch.rand(size, 784, generator=torch.Generator().manual_seed(3)) < 0.2).float()


def _params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def _variant_step(model, optimizer, x, zero_grad=True, step=True, sign=1.0, reduce="mean", kl=True):
    """The reference step (defaults) or one of its known mistakes; returns {"loss", "recon", "kl"} floats."""
    if zero_grad:
        optimizer.zero_grad()
    logits, mu, logvar = model(x)
    recon_each = -losses.bernoulli_log_likelihood(logits, x)
    kl_each = losses.gaussian_kl(mu, logvar)
    recon, kl_term = (recon_each.mean(), kl_each.mean()) if reduce == "mean" else (recon_each.sum(), kl_each.sum())
    loss = recon + kl_term if kl else recon
    (sign * loss).backward()
    if step:
        optimizer.step()
    return {"loss": float(sign * loss.detach()), "recon": float(recon.detach()), "kl": float(kl_term.detach())}


def _run(step_fn, calls: int = 2, **variant):
    """Run ``calls`` steps on a fresh tiny model; returns (outputs per call, parameters after each call)."""
    model = tiny_vae()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x = _batch()
    outs, params = [], [_params(model)]
    for seed in STEP_SEEDS[:calls]:
        torch.manual_seed(seed)
        outs.append(step_fn(model, optimizer, x, **variant))
        params.append(_params(model))
    return outs, params


def _scalar(value, key: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"out['{key}'] is a tensor of shape {tuple(value.shape)}, expected one number.",
                              "Average the per-image values over the batch (.mean()), so the loss is a scalar.")
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(f"out['{key}'] is a {type(value).__name__}, expected a number (float or 0-dim tensor).",
                      "Return e.g. {'loss': loss.item(), 'recon': recon.item(), 'kl': kl.item()}.")


def _read(out) -> dict:
    if out is None:
        raise CheckFailed("your function returned None.", "Did you forget the `return` statement?")
    if not isinstance(out, dict):
        raise CheckFailed(f"your function returned a {type(out).__name__}, expected a dict.",
                          "Return dict(loss=..., recon=..., kl=...).")
    missing = [k for k in KEYS if k not in out]
    if missing:
        raise CheckFailed(f"the returned dict has no key {', '.join(repr(k) for k in missing)}.",
                          "Return dict(loss=..., recon=..., kl=...): the negative ELBO and its two terms.")
    return {k: _scalar(out[k], k) for k in KEYS}


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-3, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol)


@exercise("4.1", "04_training_a_vae", "training_step", points=3,
          title="one training step of a VAE",
          contract="training_step(model, optimizer, x: (B, 784) in [0, 1]) -> dict(loss=..., recon=..., kl=...): "
                   "one optimisation step that lowers the batch mean of the negative ELBO from one forward pass; "
                   "recon = (1/B) sum_i -log p(x_i|z_i) (Bernoulli, summed over the 784 pixels), "
                   "kl = (1/B) sum_i KL(q(z|x_i) || N(0, I)), the loss recon + kl; each call works on its own "
                   "whatever the steps before it left behind; values are floats or 0-dim tensors",
          verified="one step returns the loss recon + kl (the negative ELBO), updates the parameters and resets "
                   "gradients.")
def training_step(fn, check):
    ref_outs, ref_params = _run(_variant_step)
    outs, params = [], [ref_params[0]]
    model = tiny_vae()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x = _batch()
    for seed in STEP_SEEDS:
        torch.manual_seed(seed)
        outs.append(_read(check.call(model, optimizer, x)))
        params.append(_params(model))
        if len(outs) == 1:
            check.ok("returns dict(loss, recon, kl) of numbers")
    got = torch.tensor([outs[0][k] for k in KEYS])
    if not torch.isfinite(got).all():
        raise CheckFailed(f"the returned values are not finite: {outs[0]}.",
                          "Compute the likelihood from the logits (F.binary_cross_entropy_with_logits), never log(0).")
    check.ok("finite values")

    # -- the values of the first step (same random numbers as the reference)
    ref = ref_outs[0]
    with torch.no_grad():
        torch.manual_seed(STEP_SEEDS[0])
        logits, mu, logvar = tiny_vae()(_batch())
        probs = torch.sigmoid(logits)
        x0 = _batch()
        double_sigmoid = torch.nn.functional.binary_cross_entropy_with_logits(probs, x0, reduction="none").sum(1).mean()
        mse = (probs - x0).pow(2).sum(1).mean()
        mean_code_recon = -losses.bernoulli_log_likelihood(tiny_vae().decode(mu), x0).mean()
    kl_ref = ref["kl"]
    check.values(torch.tensor(outs[0]["loss"]), torch.tensor(ref["loss"]), "the loss values", rtol=1e-4, atol=1e-3,
                 mistakes=[
                 Mistake("the ELBO instead of the negative ELBO", torch.tensor(-ref["loss"]),
                         "The optimizer *minimises*: the loss is the negative ELBO, recon + kl, where recon = "
                         "-log p(x|z) is positive. Minimising the ELBO itself makes the model worse."),
                 Mistake("a sum over the batch instead of a mean", torch.tensor(len(x0) * ref["loss"]),
                         "Average the per-image terms over the batch (.mean()), as fit does: a sum makes the "
                         "loss and the gradients B times larger, so the learning rate would depend on the batch size."),
                 Mistake("the reconstruction term alone (KL missing)", torch.tensor(ref["recon"]),
                         "The negative ELBO has two terms: add the KL term (per image from losses.gaussian_kl, averaged over the "
                         "batch) to the reconstruction term."),
                 Mistake("a loss with the sigmoid applied twice", torch.tensor(float(double_sigmoid) + kl_ref),
                         "model(x) returns logits: pass them straight to F.binary_cross_entropy_with_logits "
                         "(or losses.bernoulli_log_likelihood), without torch.sigmoid."),
                 Mistake("a squared error instead of the Bernoulli log-likelihood", torch.tensor(float(mse) + kl_ref),
                         "The VAE's reconstruction term is the Bernoulli negative log-likelihood "
                         "-losses.bernoulli_log_likelihood(logits, x), not a squared error."),
                 Mistake("the KL subtracted instead of added", torch.tensor(ref["recon"] - kl_ref),
                         "The negative ELBO is recon + kl: the KL is a penalty, it is added to the loss."),
                 Mistake("a KL summed over the batch (and the reconstruction averaged)",
                         torch.tensor(ref["recon"] + len(x0) * kl_ref),
                         "Average both terms over the batch: kl = KL per image (summed over latent dimensions), "
                         "then .mean() over the batch."),
                 Mistake("a reconstruction term averaged over the pixels (mean over pixels instead of a sum)",
                         torch.tensor(ref["recon"] / 784 + kl_ref),
                         "log p(x|z) is a sum over the 784 independent pixels: sum over pixels, then average "
                         "over the batch (reduction='mean' of F.binary_cross_entropy_with_logits averages both)."),
                 Mistake("a loss that decodes the mean code mu instead of a sampled z",
                         torch.tensor(float(mean_code_recon) + kl_ref),
                         "Training decodes a sample z = mu + sigma * eps: call model(x) in training mode and use "
                         "its logits, not model.decode(mu)."),
             ],
                 hint="Call model(x) once (the check replays the same random z). The loss is the batch mean of "
                      "two per-image terms, each of shape (B,): minus the Bernoulli log-likelihood of x under the "
                      "logits (summed over pixels) plus the KL of q(z|x) from N(0, I) (summed over dimensions).")
    if not math.isclose(outs[0]["recon"], ref["recon"], rel_tol=1e-4, abs_tol=1e-3):
        if math.isclose(outs[0]["recon"], ref["kl"], rel_tol=1e-4, abs_tol=1e-3):
            raise CheckFailed(f"out['recon'] is {outs[0]['recon']:.3f}, the KL term: recon and kl are swapped.",
                              "out['recon'] is the reconstruction term, out['kl'] the KL term.",
                              code="recon-and-kl-swapped")
        if math.isclose(outs[0]["recon"], -ref["recon"], rel_tol=1e-4, abs_tol=1e-3):
            raise CheckFailed(f"out['recon'] is {outs[0]['recon']:.3f}: the log-likelihood, not the reconstruction "
                              "loss.", "recon is the positive reconstruction term, -log p(x|z) (the binary "
                              "cross-entropy summed over pixels), averaged over the batch.",
                              code="recon-is-the-log-likelihood")
        raise CheckFailed(f"out['recon'] is {outs[0]['recon']:.3f}, expected {ref['recon']:.3f}.",
                          "recon is the positive reconstruction term, -log p(x|z) summed over pixels and averaged "
                          "over the batch.")
    if not math.isclose(outs[0]["kl"], ref["kl"], rel_tol=1e-4, abs_tol=1e-3):
        raise CheckFailed(f"out['kl'] is {outs[0]['kl']:.3f}, expected {ref['kl']:.3f}.",
                          "kl is the KL term summed over the latent dimensions (per image) and then averaged "
                          "over the batch.")
    check.ok("the loss recon + kl matches the negative ELBO")

    # -- the parameter update of the first step
    delta, ref_delta = params[1] - params[0], ref_params[1] - ref_params[0]
    if not torch.any(delta != 0):
        raise CheckFailed("the parameters did not change after a training step.",
                          "Backpropagate the loss, then let the optimizer take its step, in that order (resetting the gradients comes before "
                          "the backward pass, otherwise it erases the gradient).")
    if not _close(delta, ref_delta):
        _, sign_params = _run(_variant_step, calls=1, sign=-1.0)
        _, sum_params = _run(_variant_step, calls=1, reduce="sum")
        _, recon_params = _run(_variant_step, calls=1, kl=False)  # = the KL detached: no gradient from it
        if _close(delta, 2 * ref_delta):
            raise CheckFailed("the parameters moved twice as far as one SGD step: the optimizer stepped twice.",
                              "Let the optimizer step once per training step.", code="optimizer-step-twice")
        if _close(delta, recon_params[1] - recon_params[0]):
            raise CheckFailed("the parameter update ignores the KL term: only the reconstruction term was "
                              "backpropagated, or mu and logvar were detached in the KL.",
                              "Call .backward() on the whole loss, recon + kl, with the KL computed from mu and "
                              "logvar as model(x) returns them (no .detach(), .item() or torch.no_grad()).",
                              code="kl-term-not-backpropagated")
        if _close(delta, sign_params[1] - sign_params[0]):
            raise CheckFailed("the parameters moved the wrong way: the step *increased* the negative ELBO.",
                              "Call .backward() on the negative ELBO (recon + kl), not on the ELBO.")
        if _close(delta, sum_params[1] - sum_params[0]):
            raise CheckFailed("the parameter update is B times too large: the loss you backpropagate is summed "
                              "over the batch.",
                              "Backpropagate the batch *mean* of the negative ELBO, the same loss you return.")
        raise CheckFailed("the parameter update differs from one SGD step on the negative ELBO.",
                          "Backpropagate the loss you return (recon + kl) once, then let the optimizer step once.")
    check.ok("parameters updated by one step on the negative ELBO")

    # -- the second step: gradients must not accumulate
    delta2, ref_delta2 = params[2] - params[1], ref_params[2] - ref_params[1]
    if not _close(delta2, ref_delta2):
        _, acc_params = _run(_variant_step, zero_grad=False)
        if _close(delta2, acc_params[2] - acc_params[1]):
            raise CheckFailed("the second step used the gradients of both steps: they accumulated.",
                              "PyTorch adds new gradients to the old ones: reset the optimizer's gradients (its zero_grad method) at the start "
                              "of every step, before the backward pass.")
        raise CheckFailed("the second training step does not match the reference.",
                          "Every call must do the same thing: zero_grad, forward once, loss, backward, step.")
    check.ok("gradients reset between steps")


# --------------------------------------------------------------------------- 4.2 sampling from the prior


PRIOR_HINT = "The prior is N(0, I) in model.latent_dim dimensions: one standard normal code per image, (n, D)."


class _RecordingVAE(VAE):
    """A tiny VAE that remembers every code it decodes."""

    def __init__(self, latent_dim: int = 3):
        super().__init__(hidden_dim=16, latent_dim=latent_dim)
        self.decoded = []

    def decode(self, z):
        self.decoded.append(z.detach().clone())
        return super().decode(z)


def _recording_vae(seed: int = 0) -> _RecordingVAE:
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = _RecordingVAE()
    with torch.no_grad():
        model.fc_decode_out.weight.mul_(4.0)  # pixel probabilities well spread over (0, 1)
    torch.set_rng_state(state)
    return model.eval()


@exercise("4.2", "04_training_a_vae", "sample_from_prior", points=1,
          title="decode codes drawn from the prior N(0, I)",
          contract="sample_from_prior(model, n: int) -> (n, 784): n new images from the generative model "
                   "p(z) p(x|z) with p(z) = N(0, I) of dimension model.latent_dim, as pixel probabilities in [0, 1] "
                   "(model.decode gives logits); codes come from torch's global random generator",
          verified="the `(n, 784)` samples are probabilities decoded from codes drawn from N(0, I).")
def sample_from_prior(fn, check):
    model = _recording_vae()
    out = check.tensor(call_decoding(check, model, 5, codes=model.decoded, latent_dim=model.latent_dim, n=5))
    check.shape(out, (5, 784), ["n", "pixels"], hint="Draw n codes, one row of model.latent_dim numbers each, and decode "
                                                      "them all at once.")
    check.finite(out)
    if not model.decoded:
        raise CheckFailed("model.decode was never called.", "The images come from the decoder: decode the codes you drew, then turn logits into probabilities.")
    if out.min() < 0 or out.max() > 1:
        raise CheckFailed("some values are outside [0, 1]: these are logits, not probabilities.",
                          "model.decode returns logits: apply torch.sigmoid.")
    if torch.all((out == 0) | (out == 1)):
        raise CheckFailed("every value is exactly 0 or 1: this is a binary sample of the pixels.",
                          "Return the pixel probabilities themselves (the mean of p(x|z)); a Bernoulli draw from "
                          "them (torch.bernoulli) is a noisier picture of the same thing.")
    check.ok("probabilities in [0, 1]")

    model = _recording_vae()
    out = check.tensor(check.call(model, 4000)).detach()
    z = torch.cat(model.decoded) if model.decoded else None  # codes decoded in chunks are fine
    if z is None or tuple(z.shape) != (4000, 3):
        raise CheckFailed("the codes passed to model.decode do not have shape (n, latent_dim).",
                          "One code per image, each of model.latent_dim numbers: codes of shape (n, D).")
    check.shape(out, (4000, 784), ["n", "pixels"])
    with torch.no_grad():
        expected = torch.sigmoid(_recording_vae().decode(z))
    if not _close(out, expected, rtol=1e-4, atol=1e-5):
        raise CheckFailed("the result is not sigmoid(model.decode(z)) of the codes that were decoded.",
                          "Return the decoder's probabilities for exactly the codes you drew, without changing them.")
    if z.std() < 1e-6:
        raise CheckFailed("every code is the same: z is not random.", "Draw the codes at random from the prior N(0, I).")
    again = _recording_vae()
    check.call(again, 4000)
    require_fresh_codes(z, torch.cat(again.decoded) if again.decoded else z[:0], PRIOR_HINT)
    mean, std = z.mean(dim=0), z.std(dim=0)
    if 0.4 < float(mean.mean()) < 0.6 and float(z.min()) >= 0:
        raise CheckFailed("the codes are uniform in [0, 1) (torch.rand), not standard normal.",
                          "The prior is N(0, I): use torch.randn, not torch.rand.")
    if (mean.abs() > 0.1).any() or ((std - 1).abs() > 0.08).any():
        raise CheckFailed(f"the codes have mean {[round(v, 2) for v in mean.tolist()]} and std "
                          f"{[round(v, 2) for v in std.tolist()]}, expected 0 and 1 (the prior N(0, I)).",
                          "Sample from the prior itself, standard normal codes with no shift or scale.")
    require_standard_normal(z, PRIOR_HINT)
    check.ok("codes drawn from N(0, I): normal, independent across entries, rows and calls")
