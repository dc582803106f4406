"""Check of Exercise 7.3 (notebook 07): the beta-VAE loss with a KL warm-up and free bits.

Inputs are built so that every known mistake changes the value: the batch-averaged KL of some latent
dimensions is below the floor and of others above it, while single examples cross it both ways (a floor per
example differs from the floor on the batch average); the warm-up is checked before, at and after its end.
"""

from __future__ import annotations

import torch

from .. import losses
from ._failures import CheckFailed, FunctionRaised
from ._mistakes import Mistake
from ._run import exercise

KEYS = ("beta", "recon", "kl", "loss")  # in the order they are compared


def _inputs():
    """logits, x (7, 784) and mu, logvar (7, 4): batch-mean KL per dimension about 0.1, 0.4, 0.9 and 2 nats."""
    logits = 3 * torch.randn(7, 784)
    x = torch.rand(7, 784)
    x[:, :400] = (x[:, :400] > 0.6).float()
    mu = torch.randn(7, 4) * torch.tensor([0.3, 0.6, 1.0, 1.6]) + torch.tensor([0.0, 0.3, 0.4, 0.8])
    logvar = 0.4 * torch.randn(7, 4) - torch.tensor([0.1, 0.2, 0.5, 1.0])
    return logits.requires_grad_(True), x, mu.requires_grad_(True), logvar.requires_grad_(True)


def _call(check, args, options):
    """The student's dict for one setting, each value a 0-d tensor (``beta`` a number); names what is wrong."""
    try:
        out = check.call(*args, **options)
    except FunctionRaised as raised:
        if "ZeroDivisionError" in raised.message and options.get("warmup_steps") == 0:
            raise CheckFailed("with warmup_steps=0 the function divides by zero.",
                              "warmup_steps=0 means no warm-up: beta_t is beta from the first step; treat that case "
                              "before dividing.", code="warmup-steps-zero-divides") from None
        raise
    if not isinstance(out, dict):
        raise CheckFailed(f"the result is a {type(out).__name__}, expected a dict with the keys {', '.join(KEYS)}.",
                          "Return the loss with the terms fit records: a dict whose values are the batch numbers.",
                          code="loss-not-a-dict")
    missing = [key for key in KEYS if key not in out]
    if missing:
        raise CheckFailed(f"the dict has no key {missing[0]!r} (it has {', '.join(map(repr, out)) or 'none'}).",
                          f"Return the four keys {', '.join(KEYS)}.", code="loss-dict-key-missing")
    values = {}
    for key in KEYS:
        value = out[key]
        if key == "beta" and not isinstance(value, torch.Tensor):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckFailed(f"out['beta'] is a {type(value).__name__}, expected a number.",
                                  "Return beta_t of this step as a float.", code="beta-not-a-number")
            value = torch.tensor(float(value))
        value = check.tensor(value, f"out[{key!r}]", like=args[0] if key != "beta" else None)
        if value.dim() != 0:
            raise CheckFailed(f"out[{key!r}] has shape {tuple(value.shape)}, expected a single number (shape ()).",
                              "Average over the batch and sum over the pixels and the latent dimensions: fit "
                              "records one number per batch.", code="loss-term-not-a-scalar")
        values[key] = value
    return values


def _terms(logits, x, mu, logvar):
    """The parts a loss is made of: recon (), KL per example and dimension (B, D), its batch mean (D,)."""
    recon = -losses.bernoulli_log_likelihood(logits, x).mean()
    per_entry = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    return recon, per_entry, per_entry.mean(0)


def _loss_mistakes(recon, per_entry, kl_dims, logits, x, beta_t, beta, lam):
    """Known wrong losses for one setting (beta_t the right beta of the step, beta the final one)."""
    floored = kl_dims.clamp(min=lam).sum()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return [
        Mistake("a floor on each example's KL instead of on the batch average",
                recon + beta_t * per_entry.clamp(min=lam).mean(0).sum(),
                "Free bits (Kingma et al., 2016) floors the batch average of each dimension's KL: average over the "
                "batch first, then take the maximum with lambda.", code="free-bits-per-example"),
        Mistake("a floor on the total KL instead of on each dimension",
                recon + beta_t * torch.clamp(kl_dims.sum(), min=lam),
                "The floor applies to each latent dimension separately: max(lambda, KL_j) for every j, then the sum.",
                code="free-bits-on-the-total-kl"),
        Mistake("a floor of lambda times D on the total KL",
                recon + beta_t * torch.clamp(kl_dims.sum(), min=lam * kl_dims.numel()),
                "The floor applies to each latent dimension separately: a dimension above lambda cannot pay for "
                "one below it.", code="free-bits-on-the-total-kl-times-d"),
        Mistake("the minimum of lambda and the KL instead of the maximum",
                recon + beta_t * kl_dims.clamp(max=lam).sum(),
                "Below lambda the KL term must not change (no gradient): that is max(lambda, KL_j).",
                code="free-bits-minimum-instead-of-maximum"),
        Mistake("a hinge (KL_j - lambda)+ instead of max(lambda, KL_j)",
                recon + beta_t * (kl_dims - lam).clamp(min=0).sum(),
                "Same gradients, but another value: the contract's term is max(lambda, KL_j), which adds lambda "
                "for every dimension below the floor.", code="free-bits-hinge"),
        Mistake("a loss without the free-bits floor", recon + beta_t * kl_dims.sum(),
                "Use free_bits: each dimension's batch-averaged KL is replaced by max(free_bits, KL_j).",
                code="free-bits-ignored"),
        Mistake("a beta that is not annealed", recon + beta * floored,
                "During the warm-up beta_t = beta * step / warmup_steps; only from step = warmup_steps on is it beta.",
                code="beta-not-annealed"),
        Mistake("the KL summed over the batch instead of averaged",
                recon + beta_t * per_entry.sum(0).clamp(min=lam).sum(),
                "KL_j is the batch *mean* of dimension j's KL, like the reconstruction term.",
                code="kl-summed-over-the-batch"),
        Mistake("a reconstruction term averaged over the pixels", bce.mean(1).mean() + beta_t * floored,
                "-log p(x|z) is a sum over the 784 pixels; only the batch is averaged.",
                code="recon-averaged-over-pixels"),
        Mistake("a reconstruction term summed over the batch", bce.sum() + beta_t * floored,
                "Average the per-image reconstruction term over the batch (the loss is a batch mean).",
                code="recon-summed-over-the-batch"),
        Mistake("beta applied to the reconstruction term too", beta_t * (recon + floored),
                "Only the KL term is weighted: loss = recon + beta_t * (sum of the floored KL terms).",
                code="beta-on-the-reconstruction"),
    ]


SETTINGS = [  # (step, options): during and after the warm-up, without one, without free bits, a floor above all KL_j
    (30, dict(beta=4.0, warmup_steps=100, free_bits=0.5)),
    (250, dict(beta=4.0, warmup_steps=100, free_bits=0.5)),
    (0, dict(beta=2.0, warmup_steps=0, free_bits=0.7)),
    (5, dict(beta=3.0, warmup_steps=100, free_bits=0.0)),
    (60, dict(beta=1.5, warmup_steps=100, free_bits=10.0)),
]
SETTINGS_TEXT = ("during and after a warm-up, without one (warmup_steps=0), without free bits (free_bits=0) and with "
                 "a floor above every KL_j")


def _stacked(mistakes_per_setting: list[list[Mistake]]) -> list[Mistake]:
    """One Mistake per known mistake, its values over all settings stacked: a mistake is named only when the
    answer matches it in every setting (in one setting, two mistakes can give the same number)."""
    return [Mistake(first.name, torch.stack([m[i].value.reshape(()) for m in mistakes_per_setting]), first.hint,
                    first.code) for i, first in enumerate(mistakes_per_setting[0])]


@exercise("7.3", "07_beta_vae", "annealed_free_bits_loss", points=3, uses=["7.1"],
          delegates=[losses.annealed_free_bits_loss],
          title="the beta-VAE loss with a KL warm-up and free bits",
          contract="annealed_free_bits_loss(logits, x, mu, logvar, step, *, beta=1.0, warmup_steps=0, free_bits=0.0) "
                   "-> dict: 'loss' = recon + beta_t * sum_j max(free_bits, KL_j), 'recon' the batch mean of the BCE "
                   "summed over pixels, 'kl' = sum_j KL_j (no floor), KL_j the batch mean of dimension j's KL, "
                   "'beta' = beta_t = beta * min(1, step / warmup_steps) (beta if warmup_steps = 0)",
          verified="loss, recon, kl and beta_t match the reference during and after the warm-up, without one and "
                   "without free bits; gradients reach logits, mu, logvar.")
def annealed_free_bits_loss(fn, check):
    logits, x, mu, logvar = _inputs()
    with torch.no_grad():
        recon, per_entry, kl_dims = _terms(logits, x, mu, logvar)
    found = {key: [] for key in KEYS}
    expected = {key: [] for key in KEYS}
    mistakes = {key: [] for key in KEYS}
    for step, options in SETTINGS:
        out = _call(check, (logits, x, mu, logvar, step), options)
        if not found["loss"]:  # during the warm-up, with some dimensions above the floor
            check.gradient(out["loss"], {"logits": logits, "mu": mu, "logvar": logvar},
                           hint="Compute the loss from the arguments with torch operations (no .item(), no "
                                ".detach()), so that fit can train with it.")
        for key in KEYS:
            found[key].append(out[key].detach())
        beta, lam, warmup = options["beta"], options["free_bits"], options["warmup_steps"]
        beta_t = beta * min(1.0, step / warmup) if warmup else beta
        expected["beta"].append(torch.tensor(beta_t))
        expected["recon"].append(recon)
        expected["kl"].append(kl_dims.sum())
        expected["loss"].append(recon + beta_t * kl_dims.clamp(min=lam).sum())
        mistakes["beta"].append([
            Mistake("a beta that is not annealed", torch.tensor(beta),
                    "During the warm-up beta_t = beta * step / warmup_steps.", code="beta-not-annealed"),
            Mistake("a schedule without the factor beta", torch.tensor(min(1.0, step / warmup) if warmup else 1.0),
                    "The warm-up goes from 0 to beta: beta_t = beta * min(1, step / warmup_steps).",
                    code="warmup-without-the-factor-beta"),
            Mistake("a beta that keeps growing after the warm-up",
                    torch.tensor(beta * step / warmup if warmup else beta),
                    "Cap the schedule: beta_t = beta * min(1, step / warmup_steps).", code="beta-warmup-not-capped"),
        ])
        mistakes["recon"].append([
            Mistake("a reconstruction term averaged over the pixels", recon / 784,
                    "-log p(x|z) is a sum over the 784 pixels; only the batch is averaged.",
                    code="recon-averaged-over-pixels"),
            Mistake("a reconstruction term summed over the batch", recon * len(x),
                    "Average the per-image reconstruction term over the batch.", code="recon-summed-over-the-batch"),
        ])
        mistakes["kl"].append([
            Mistake("the floored KL reported as 'kl'", kl_dims.clamp(min=lam).sum(),
                    "out['kl'] is the true KL, sum_j KL_j without the floor: it is what the code costs (the rate), "
                    "while the floor only changes what the optimiser sees.", code="kl-reported-with-the-floor"),
            Mistake("the KL summed over the batch instead of averaged", per_entry.sum(),
                    "KL_j is the batch *mean* of dimension j's KL.", code="kl-summed-over-the-batch"),
        ])
        mistakes["loss"].append(_loss_mistakes(recon, per_entry, kl_dims, logits.detach(), x, beta_t, beta, lam))
    for key in KEYS:
        check.values(torch.stack(found[key]), torch.stack(expected[key]), f"the values of out[{key!r}]",
                     mistakes=_stacked(mistakes[key]),
                     hint=f"Compare with the formula above, in each setting: {SETTINGS_TEXT}.")
    check.ok("right " + SETTINGS_TEXT)
