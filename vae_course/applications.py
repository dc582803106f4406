"""Plumbing for notebook 06 (what VAEs are good for) and conditional generation in notebook 08.

Shapes: images ``x: (B, 784)`` with pixels in [0, 1]; masks ``(B, 784)`` or ``(784,)``
with 1 = pixel known (visible) and 0 = pixel missing. Models are those of
:mod:`vae_course.models` (decoders return logits).

* corruptions: :func:`add_gaussian_noise`, :func:`add_salt_and_pepper`, :func:`half_mask`;
* scores: :func:`anomaly_score` (reference of Exercise 6.1), :func:`sampled_neg_elbo`, :func:`roc_auc`;
* inpainting: :func:`inpaint_step` (reference of Exercise 6.2), :func:`inpaint_chain` (reference of Exercise 6.3);
* conditional generation: :func:`sample_digit` (reference of Exercise 8.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import losses
from .references import reference_implementation


# --------------------------------------------------------------------------- corruptions

def add_gaussian_noise(x: torch.Tensor, std, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + std * eps with eps ~ N(0, I), clipped to [0, 1]: (B, 784) -> (B, 784).

    ``std``: a float, or a tensor (B, 1) for one noise level per image.
    """
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    return (x + std * noise).clamp(0.0, 1.0)


def add_salt_and_pepper(x: torch.Tensor, amount: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a fraction ``amount`` of the pixels to 0 or 1 (each with probability 1/2): (B, 784) -> (B, 784)."""
    hit = torch.rand(x.shape, generator=generator).to(x.device) < amount
    salt = (torch.rand(x.shape, generator=generator).to(x.device) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)


def half_mask(which: str = "lower", n: int | None = None) -> torch.Tensor:
    """A 0/1 mask of the visible pixels: ``"lower"`` hides the lower half (rows 14-27), ``"upper"``,
    ``"left"`` and ``"right"`` likewise. Returns (784,) or, with ``n``, (n, 784)."""
    grid = torch.ones(28, 28)
    hidden = {"lower": (slice(14, 28), slice(None)), "upper": (slice(0, 14), slice(None)),
              "left": (slice(None), slice(0, 14)), "right": (slice(None), slice(14, 28))}
    if which not in hidden:
        raise ValueError(f"which must be one of {sorted(hidden)}, got {which!r}.")
    grid[hidden[which]] = 0.0
    mask = grid.reshape(784)
    return mask if n is None else mask.expand(n, 784).clone()


# --------------------------------------------------------------------------- scores

@reference_implementation
@torch.no_grad()
def anomaly_score(model, x: torch.Tensor) -> torch.Tensor:
    """Mean-code anomaly score per image (deterministic), in nats: (B, 784) -> (B,).

    score = BCE(x, sigmoid(decode(mu))) summed over pixels + KL(q(z|x) || N(0, I)); larger = more
    anomalous. Not a negative ELBO: decoding only the mean code skips the spread of q (the score is
    several nats lower), and on grey pixels the BCE is not -log p(x|z). The reference answer of Exercise 6.1.
    """
    mu, logvar = model.encode(x)
    logits = model.decode(mu)
    return -losses.bernoulli_log_likelihood(logits, x) + losses.gaussian_kl(mu, logvar)


@torch.no_grad()
def reconstruction_error(model, x: torch.Tensor) -> torch.Tensor:
    """Squared error between x and its reconstruction from the mean code, summed over pixels: (B,)."""
    mu, _ = model.encode(x)
    return (torch.sigmoid(model.decode(mu)) - x).pow(2).reshape(len(x), -1).sum(-1)


@torch.no_grad()
def sampled_neg_elbo(model, x: torch.Tensor, draws: int = 8, seed: int = 0) -> torch.Tensor:
    """-ELBO of each image with z *sampled* from q(z|x), averaged over ``draws`` draws: (B, 784) -> (B,), nats.

    The draws come from a generator of their own, seeded with ``seed``, so other random numbers stay as they were.
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    mu, logvar = model.encode(x)
    per_draw = []
    for _ in range(draws):
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=mu.device)  # mu + sigma * eps
        per_draw.append(-losses.elbo(model.decode(z), x, mu, logvar))
    return torch.stack(per_draw).mean(dim=0)


def roc_auc(normal_scores, anomalous_scores) -> float:
    """Area under the ROC curve when larger scores should flag the anomalies (1 = perfect, 0.5 = chance).

    It is the probability that a random anomaly scores higher than a random normal example
    (computed by ``sklearn.metrics.roc_auc_score``).
    """
    from sklearn.metrics import roc_auc_score

    normal = torch.as_tensor(normal_scores).detach().cpu().flatten()
    anomalous = torch.as_tensor(anomalous_scores).detach().cpu().flatten()
    labels = torch.cat([torch.zeros(len(normal)), torch.ones(len(anomalous))])
    return float(roc_auc_score(labels.numpy(), torch.cat([normal, anomalous]).double().numpy()))


# --------------------------------------------------------------------------- inpainting

@reference_implementation
@torch.no_grad()
def inpaint_step(model, x_known: torch.Tensor, mask: torch.Tensor, x_current: torch.Tensor) -> torch.Tensor:
    """One encode-decode step that keeps the known pixels: all (B, 784) -> (B, 784) in [0, 1].

    x_next = mask * x_known + (1 - mask) * sigmoid(decode(mu(x_current))).
    The reference answer of Exercise 6.2.
    """
    mu, _ = model.encode(x_current)
    filled = torch.sigmoid(model.decode(mu))
    return mask * x_known + (1 - mask) * filled


@reference_implementation
@torch.no_grad()
def inpaint_chain(model, x_known: torch.Tensor, mask: torch.Tensor, x_start: torch.Tensor, steps: int) -> torch.Tensor:
    """The stochastic inpainting chain of Rezende et al. (2014): its ``steps`` states, (steps, B, 784).

    Each step encodes the current image x^(t), draws z ~ q(z|x^(t)) = N(mu, diag(exp(logvar))) with fresh
    noise, draws every missing pixel from Bernoulli(sigmoid(decode(z))) (0 or 1) and keeps the known ones:
    x^(t+1) = mask * x_known + (1 - mask) * sample. Unlike :func:`inpaint_step` it samples, so repeated
    runs give different completions. Random numbers come from torch's global generator (seed it to
    repeat a run). x_known, mask, x_start: (B, 784). The reference answer of Exercise 6.3.
    """
    states, x = [], x_start
    for _ in range(steps):
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        pixels = torch.bernoulli(torch.sigmoid(model.decode(z)))
        x = mask * x_known + (1 - mask) * pixels
        states.append(x)
    return torch.stack(states)


# --------------------------------------------------------------------------- conditional generation

@reference_implementation
@torch.no_grad()
def sample_digit(model, digit: int, n: int) -> torch.Tensor:
    """n images of one chosen digit from a conditional VAE: z ~ N(0, I), probabilities (n, 784).

    The reference answer of Exercise 8.2; ``model.decode(z, y)`` takes a one-hot label y: (n, 10).
    """
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim).to(device)
    y = F.one_hot(torch.full((n,), int(digit), dtype=torch.long), model.num_classes).float().to(device)
    return torch.sigmoid(model.decode(z, y))
