"""What a molecule VAE's code carries: the KL per molecule and exact reconstruction of held-out molecules.

A sequence VAE with a strong autoregressive decoder can ignore z (posterior collapse, Bowman et al. 2016) and
still sample plausible molecules; these two numbers say whether the latent is informative, beside the sampling
metrics of :mod:`vae_course.molecules.metrics` (issue 27).
"""

from __future__ import annotations

import torch

from ..losses import gaussian_kl


@torch.no_grad()
def latent_scores(model, tokens: torch.Tensor, *, batch: int = 500) -> dict:
    """KL and exact reconstruction of held-out molecules.

    model: a :class:`~vae_course.molecules.SequenceVAE` (put it in eval mode first); tokens: (N, L) token ids,
    ``vocab.encode(smiles)``. Returns ``{"kl": mean KL(q(z|x) || N(0, I)) in nats per molecule,
    "recon_exact": fraction of the N molecules whose greedy decoding of their mean code mu reproduces every
    token}`` - the code must carry a molecule for the second to be high.
    """
    if tokens.ndim != 2 or len(tokens) == 0:
        raise ValueError(f"tokens must be (N, L) token ids of at least one molecule, got shape {tuple(tokens.shape)}.")
    kl, exact = [], 0
    for chunk in tokens.split(batch):
        mu, logvar = model.encode(chunk)
        kl.append(gaussian_kl(mu, logvar))
        exact += int((model.generate(mu, greedy=True) == chunk).all(dim=1).sum())
    return {"kl": float(torch.cat(kl).mean()), "recon_exact": exact / len(tokens)}
