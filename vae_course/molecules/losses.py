"""The ELBO of a sequence VAE: a categorical log-likelihood over the real tokens, minus the Gaussian KL.

Like :mod:`vae_course.losses`, every function returns one value **per example** ``(B,)``. Shapes:
``logits: (B, L, V)`` from :meth:`SequenceVAE.decode`; ``targets: (B, L)`` token ids with ``<pad>``
after ``<eos>``; ``mu, logvar: (B, D)``. The KL is the one of notebook 02 (:func:`vae_course.losses.gaussian_kl`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..references import reference_implementation
from ..losses import gaussian_kl
from .tokens import PAD


@reference_implementation
def sequence_log_likelihood(logits: torch.Tensor, targets: torch.Tensor, pad_index: int = PAD) -> torch.Tensor:
    """log p(x|z) = sum over the real positions t of log softmax(logits[:, t])[targets[:, t]] -> (B,).

    The tokens of a sequence are generated one after another, so their log-probabilities add up (the
    chain rule); positions holding ``pad_index`` are not part of the molecule and contribute nothing.
    ``<eos>`` is a real token: the model must learn where a molecule ends. ``logits[:, t]`` already
    predicts ``targets[:, t]`` (the decoder was fed the tokens shifted right), so there is no shift here.
    """
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none", ignore_index=pad_index)  # (B, L)
    return -nll.sum(dim=-1)


@reference_implementation
def sequence_elbo(logits: torch.Tensor, targets: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0, pad_index: int = PAD) -> torch.Tensor:
    """ELBO per molecule -> (B,): sequence_log_likelihood - beta * KL(q(z|x) || N(0, I)), in nats."""
    return sequence_log_likelihood(logits, targets, pad_index) - beta * gaussian_kl(mu, logvar)


@reference_implementation
def molecule_elbo(model, tokens: torch.Tensor, eps: torch.Tensor, pad_index: int = PAD) -> torch.Tensor:
    """Monte Carlo ELBO of each molecule -> (B,): (1/K) sum_k log p(x | z_k) - KL(q(z|x) || N(0, I)), in nats.

    ``tokens``: (B, L) int64, laid out as *tokens, <eos>, pad_index...*; ``eps``: (K, B, D) standard normal
    noise, one draw per sample and molecule, so that the estimate is reproducible. Each code is the
    reparameterized sample z_k = mu + exp(logvar / 2) * eps[k] of q(z|x) = N(mu, diag(exp(logvar))) (notebook
    03), decoded with teacher forcing (``model.decode(z_k, tokens)`` shifts the tokens itself). The
    reconstruction term is averaged over the K samples; the KL is the closed form of notebook 02, once.
    """
    mu, logvar = model.encode(tokens)                                       # (B, D) each
    n_samples, batch = eps.shape[:2]
    z = (mu + torch.exp(0.5 * logvar) * eps).reshape(n_samples * batch, -1)  # (K*B, D): the K samples stacked
    repeated = tokens.repeat(n_samples, 1)                                  # (K*B, L), in the same order
    log_likelihood = sequence_log_likelihood(model.decode(z, repeated), repeated, pad_index)
    return log_likelihood.view(n_samples, batch).mean(dim=0) - gaussian_kl(mu, logvar)


def sequence_vae_loss(model, tokens: torch.Tensor, beta: float = 1.0) -> dict:
    """Loss for :func:`vae_course.train.fit`: negative (beta-)ELBO, batch means of "recon" and "kl" in nats.

    ``fit(model, tokens, loss_fn=functools.partial(sequence_vae_loss, beta=0.5))``; tokens (N, L) int64.
    The decoder runs only up to the batch's longest molecule: the positions after it are all padding
    and contribute nothing (the same loss, about 10% less work).
    """
    mu, logvar = model.encode(tokens)
    z = model.reparameterize(mu, logvar)
    used = tokens[:, :int((tokens != PAD).sum(dim=1).max())]        # (B, T) with T <= L
    recon = -sequence_log_likelihood(model.decode(z, used), used).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}
