"""Check for notebook 09 (molecules), Exercise 9.2: the Monte Carlo ELBO of each molecule of a sequence VAE.

The check builds a tiny seeded :class:`~vae_course.molecules.model.SequenceVAE`, molecules of lengths 25 (no
padding at all) down to 1 (only ``<eos>``), and K = 3 draws of the noise; it computes the ELBO with its own
formula and names the mistakes of the catalogue below by their values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..molecules import losses as molecule_losses
from ..molecules.model import SequenceVAE
from ..molecules.tokens import BOS, EOS, PAD
from ._checker import Crash, gradient_of
from ._failures import CheckFailed
from ._mistakes import Mistake, match_mistake
from ._run import exercise
from ._sampling import require_any_device

VOCAB, LENGTH, LATENT, SAMPLES = 6, 25, 3, 3
LENGTHS = (25, 12, 6, 2, 1)          # real positions of each molecule, <eos> included
BATCH = len(LENGTHS)


def _model() -> SequenceVAE:
    """A tiny SequenceVAE (V=6, L=25, D=3) in eval mode whose codes matter: varied sigma, sharp logits."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(9)
        model = SequenceVAE(VOCAB, LENGTH, embed_dim=4, channels=4, hidden_dim=8, latent_dim=LATENT)
        with torch.no_grad():
            model.fc_mu.bias.copy_(torch.tensor([0.8, -1.0, 0.3]))
            model.fc_logvar.bias.copy_(torch.tensor([-0.6, 0.7, -1.5]))
            model.fc_hidden.weight.mul_(4.0)
            model.fc_out.weight.mul_(4.0)
    return model.eval()


def _tokens(pad_index: int = PAD) -> torch.Tensor:
    """(B, L) int64: random real tokens (3..5), <eos>, then pad_index."""
    generator = torch.Generator().manual_seed(3)
    tokens = torch.full((BATCH, LENGTH), pad_index, dtype=torch.long)
    for row, length in enumerate(LENGTHS):
        tokens[row, :length - 1] = torch.randint(3, VOCAB, (length - 1,), generator=generator)
        tokens[row, length - 1] = EOS
    return tokens


def _log_likelihood(model, z, tokens, *, inputs=None, mask=None):
    """log p(tokens | z) (B,): teacher forcing on ``inputs`` (default: tokens), summed over ``mask`` (default: real)."""
    logits = model.decode(z, tokens if inputs is None else inputs)
    picked = F.log_softmax(logits, dim=-1).gather(-1, tokens[..., None])[..., 0]
    return (picked * (tokens != PAD if mask is None else mask)).sum(-1)


def _expected_and_mistakes(model, tokens, eps):
    """The reference ELBO (B,) by this module's own formula, and the catalogue of wrong answers on these inputs."""
    with torch.no_grad():
        mu, logvar = model.encode(tokens)
        std = torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)

        def recon(scale=std, noise=eps, **options):              # (K, B): log p(x | z_k), z_k = mu + scale * noise[k]
            return torch.stack([_log_likelihood(model, mu + scale * e, tokens, **options) for e in noise])

        samples = recon()
        expected = samples.mean(0) - kl
        z = mu + std * eps
        log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        shifted = torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], dim=1)
        real = (tokens != PAD).float()
        n = eps.shape[0]
        noise_hint = ("z_k = mu + sigma * eps[k] with sigma = exp(logvar / 2), the standard deviation: logvar is the log "
                      "of the variance sigma^2.")
        kl_hint = "KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2), one value per molecule (notebook 02)."
        mistakes = [
            Mistake("the mean code z = mu (the noise eps unused)", _log_likelihood(model, mu, tokens) - kl,
                    "The ELBO averages log p(x|z) over codes *drawn* from q(z|x): build each z_k from mu, sigma and "
                    "eps[k] yourself (model(tokens) and model.reparameterize draw no noise in eval mode: they return mu)."),
            Mistake("a standard deviation of exp(logvar) (the 1/2 is missing)", recon(logvar.exp()).mean(0) - kl,
                    noise_hint),
            Mistake("logvar used as the standard deviation", recon(logvar).mean(0) - kl, noise_hint),
            Mistake("z = mu + eps (the standard deviation is missing)", recon(1.0).mean(0) - kl, noise_hint),
            Mistake("only the first sample eps[0] used", samples[0] - kl,
                    "eps holds K draws (K, B, D): decode every eps[k] and average the K log-likelihoods."),
            Mistake("the reconstruction summed over the K samples instead of averaged", samples.sum(0) - kl,
                    "The ELBO's first term is an expectation over q(z|x): estimate it by the *mean* of the K "
                    "log-likelihoods, so the estimate does not grow with K."),
            Mistake("the ELBO summed over the K samples (the KL counted K times)", samples.sum(0) - n * kl,
                    "Average the K single-sample ELBOs (or the K log-likelihoods, then subtract the KL once): "
                    "the result must not grow with K."),
            Mistake("the reconstruction term only (the KL is missing)", samples.mean(0),
                    "ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)): subtract the KL of each molecule's q(z|x)."),
            Mistake("the KL added instead of subtracted", samples.mean(0) + kl,
                    "The KL is a penalty: ELBO = E_q[log p(x|z)] *minus* KL."),
            Mistake("minus the ELBO (a loss)", -expected,
                    "Return the ELBO itself (a log-probability bound, <= 0 here), not the loss -ELBO."),
            Mistake("the tokens shifted again before decoding (the decoder shifts them itself)",
                    recon(inputs=shifted).mean(0) - kl,
                    "model.decode(z, tokens) does the teacher forcing: it feeds <bos> and the tokens shifted right "
                    "by itself, and logits[:, t] predicts tokens[:, t]. Pass the tokens as they are."),
            Mistake("the log of the mean likelihood (log-mean-exp over the samples) instead of the mean "
                    "log-likelihood", torch.logsumexp(samples, 0) - math.log(n) - kl,
                    "The ELBO's first term is E_q[log p(x|z)], the mean of the K log-likelihoods; a log-mean-exp "
                    "estimates another quantity (the importance-weighted bound of notebook 08 also needs "
                    "log p(z) - log q(z|x))."),
            Mistake("a Monte Carlo estimate of the KL instead of its closed form",
                    (samples + log_prior - log_q).mean(0),
                    "A valid estimator, but noisier: the KL between two Gaussians has a closed form (notebook 02). "
                    "Use it: " + kl_hint),
            Mistake("one noise vector shared by all molecules", recon(noise=eps[:, :1]).mean(0) - kl,
                    "eps[k] is (B, D): one independent draw per molecule. Use all its rows, not the first one."),
            Mistake("the noise averaged over the K samples before decoding", recon(noise=eps.mean(0, keepdim=True))[0] - kl,
                    "Decode each sample z_k on its own and average the log-likelihoods, not the noise: "
                    "log p(x|z) is not linear in z."),
            Mistake("a KL averaged over the latent dimensions instead of summed", samples.mean(0) - kl / LATENT,
                    "The KL of independent latent dimensions is their sum. " + kl_hint),
            Mistake("a KL without its factor 1/2", samples.mean(0) - 2 * kl, kl_hint),
            Mistake("a KL averaged over the batch", samples.mean(0) - kl.mean(), kl_hint),
            Mistake("a KL summed over the batch", samples.mean(0) - kl.sum(), kl_hint),
            Mistake("padding counted in the reconstruction",
                    recon(mask=torch.ones_like(real)).mean(0) - kl,
                    "Positions holding pad_index are not part of the molecule: leave them out of log p(x|z) "
                    "(your sequence_log_likelihood of Exercise 9.1 does it)."),
            Mistake("<eos> left out of the reconstruction", recon(mask=real * (tokens != EOS)).mean(0) - kl,
                    "<eos> is part of the molecule: the model must learn where it ends. Leave out only the padding."),
            Mistake("a reconstruction averaged over the tokens instead of summed",
                    samples.mean(0) / real.sum(-1) - kl,
                    "log p(x|z) of a molecule is the *sum* of its tokens' log-probabilities (the chain rule): "
                    "don't divide by the length."),
        ]
    return expected, mistakes


def _shape(out: torch.Tensor, n_samples: int) -> None:
    """Name the typical wrong shapes; (B,) passes through."""
    shape = tuple(out.shape)
    named = {
        (): ("a single number: one ELBO per molecule was expected", "Don't average over the molecules: keep one "
             "value per row of tokens.", "reduced-over-the-molecules"),
        (n_samples, BATCH): ("one value per sample and molecule (K, B)", "Average the log-likelihoods over the "
                             "K samples (the first dimension of eps).", "not-averaged-over-the-samples"),
        (n_samples * BATCH,): ("one value per sample and molecule, stacked (K*B,)", "Bring the stacked samples back "
                               "to (K, B) and average over the K samples.", "stacked-samples-not-averaged"),
        (BATCH, LENGTH): ("one value per molecule and position (B, L)", "Sum the log-probabilities over the "
                          "positions (your sequence_log_likelihood returns (B,)).", "not-summed-over-positions"),
    }
    if shape in named and shape != (BATCH,):
        what, hint, code = named[shape]
        raise CheckFailed(f"the result has shape {shape}, {what}; expected (B={BATCH},).", hint, code=code)


#: Errors that a student's function raises for a known reason: (:class:`~._checker.Crash`).
_RAISED = [
    Crash.any_of(("hx should also be", "tensors must have same number of dimensions", "expected hidden size",
      "input.size(-1) must be equal", "input must have 3 dimensions", "expected hidden",
      "the number of sizes provided"),
     "model.decode takes one code per molecule, z (B, D), with tokens (B, L): decode the K samples one at a time "
     "(a loop over k), or stack them into the batch as (K*B, D) with the tokens repeated to (K*B, L).",
     "decoded-all-samples-at-once"),
    Crash.any_of(("must match the size of tensor",),
     "eps is (K, B, D): eps[k] is the (B, D) noise of sample k for every molecule, the shape of mu and logvar.",
     "noise-indexed-with-the-wrong-layout"),
]


def _call(check, model, tokens, eps):
    return check.call_naming(_RAISED, model, tokens, eps, PAD)


@exercise("9.2", "09_molecules", "molecule_elbo", points=3, uses=["9.1"],
          reference=molecule_losses.molecule_elbo,
          delegates=[molecule_losses.molecule_elbo, molecule_losses.sequence_elbo],
          title="the Monte Carlo ELBO of each molecule",
          contract="molecule_elbo(model, tokens: (B, L) int64, eps: (K, B, D), pad_index: int) -> (B,): "
                   "(1/K) sum_k log p(x | z_k) - KL(q(z|x) || N(0, I)) with z_k = mu + exp(logvar / 2) * eps[k], "
                   "(mu, logvar) = model.encode(tokens), log p(x | z_k) = sequence_log_likelihood of "
                   "model.decode(z_k, tokens) (teacher forcing, no shift of yours); the KL in closed form; "
                   "no noise of your own; differentiable; any new tensor on the inputs' device",
          verified="the `(B,)` ELBOs match (1/K) sum_k log p(x|z_k) - KL for K = 3 and K = 1, with gradients "
                   "reaching eps.")
def molecule_elbo(fn, check):
    model, tokens = _model(), _tokens()
    eps = torch.randn(SAMPLES, BATCH, LATENT).requires_grad_(True)
    out = check.tensor(_call(check, model, tokens, eps), like=eps)
    _shape(out, SAMPLES)
    check.shape(out, (BATCH,), ["batch"], hint="One ELBO per molecule: average over the samples, sum over the "
                "positions and latent dimensions.")
    check.finite(out)
    again = check.tensor(_call(check, model, tokens, eps.detach()), like=eps)
    if again.shape == out.shape and not torch.allclose(out.detach(), again.detach(), rtol=1e-5, atol=1e-4):
        raise CheckFailed("two calls with the same tokens and eps gave different ELBOs: your function draws noise "
                          "of its own.", "Build every code from the given eps (z_k = mu + sigma * eps[k]), so "
                          "that the estimate is reproducible; draw no random numbers.", code="draws-its-own-noise")
    expected, mistakes = _expected_and_mistakes(model, tokens, eps.detach())
    grad = gradient_of(out, eps)
    if grad is None or not torch.any(grad != 0):
        mistake = match_mistake(out, mistakes)       # z = mu has no gradient to eps: say which mistake it is
        if mistake is not None:
            raise mistake.failure("the ELBOs")
    check.gradient(out, {"eps": eps}, hint="Compute z_k from eps with torch operations, outside torch.no_grad(): "
                   "a training loss built on this ELBO needs its gradients.")
    check.values(out, expected, "the ELBOs", mistakes=mistakes)
    check.ok("averaged over K = 3 samples")

    eps = torch.randn(1, BATCH, LATENT)
    out = check.tensor(_call(check, model, tokens, eps), like=eps)
    _shape(out, 1)
    check.shape(out, (BATCH,), ["batch"])
    expected, mistakes = _expected_and_mistakes(model, tokens, eps)
    check.values(out, expected, "the ELBOs for K = 1 sample", mistakes=mistakes)
    check.ok("right for K = 1")
    require_any_device(check, model.to("meta"), tokens.to("meta"), eps.to("meta"), PAD,
                       what="the model, tokens and eps on another device")
