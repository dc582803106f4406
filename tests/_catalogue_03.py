"""Catalogue answers of notebook 03 (Exercises 3.1 and 3.3) for the gaps closed in issue 22.

``ENTRIES["3.1"]`` is the catalogue of ``tests/_catalogue_01_04.py`` plus noise that keeps its mean and
spread but is not independent across rows (antithetic halves, pairs, a mirrored batch, a centred batch);
``tests/test_checks_catalogue.py`` registers it. ``MLP_WRONG`` / ``MLP_CORRECT`` are the new 3.3 answers
(noise broadcast over the latent dimensions, rows paired, the combined head split along the batch,
a crash inside backward), merged into the catalogue of ``tests/test_checks_building.py``.

The contract of 3.3 accepts **one** head ``Linear(hidden, 2 * latent)`` split in halves (mu first): it is
the same function with the same parameters as two heads, a check that tests behaviour cannot tell them
apart, and refusing it would grade the source, not the model. So the chunked head is a correct answer
(two spellings below); splitting it along the wrong dimension is a wrong one.
"""

from __future__ import annotations

import torch
from torch import nn

import _catalogue_01_04

# --------------------------------------------------------------------------- 3.1 reparameterize


def _std(lv):
    return torch.exp(0.5 * lv)


def _antithetic_halves(mu, lv):
    half = torch.randn((len(mu) + 1) // 2, mu.shape[1])
    return mu + _std(lv) * torch.cat([half, -half])[: len(mu)]


def _antithetic_pairs(mu, lv):
    eps = torch.randn((len(mu) + 1) // 2, mu.shape[1])
    return mu + _std(lv) * torch.stack([eps, -eps], dim=1).reshape(-1, mu.shape[1])[: len(mu)]


def _mirrored(mu, lv):
    half = torch.randn((len(mu) + 1) // 2, mu.shape[1])
    return mu + _std(lv) * torch.cat([half, -half.flip(0)])[: len(mu)]


def _centred(mu, lv):
    eps = torch.randn_like(mu)
    return mu + _std(lv) * (eps - eps.mean(0)) if len(mu) > 1 else mu + _std(lv) * eps


def _repeated_halves(mu, lv):
    half = torch.randn((len(mu) + 1) // 2, mu.shape[1])
    return mu + _std(lv) * torch.cat([half, half])[: len(mu)]


_BASE = _catalogue_01_04.REPARAMETERIZE
REPARAMETERIZE = {
    "correct": {**_BASE["correct"],
                "randn with the shape": lambda mu, lv: mu + _std(lv) * torch.randn(*mu.shape, device=mu.device)},
    "wrong": {**_BASE["wrong"],
              "antithetic halves": (_antithetic_halves, "antithetic-noise"),
              "antithetic pairs": (_antithetic_pairs, "antithetic-noise"),
              "mirrored batch": (_mirrored, "antithetic-noise"),
              "noise centred over the batch": (_centred, "noise-centred-across-rows"),
              "halves repeated": (_repeated_halves, "row i + B/2"),
              },
}


# --------------------------------------------------------------------------- 3.3 MyVAE


class TwoHeads(nn.Module):
    """The contract's MLP VAE: the base every answer below changes in one place."""

    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.dec_hidden = nn.Linear(latent_dim, hidden_dim)
        self.dec_out = nn.Linear(hidden_dim, input_dim)

    def encode(self, x):
        h = torch.relu(self.hidden(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def noise(self, mu):
        return torch.randn_like(mu)

    def reparameterize(self, mu, logvar):
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * self.noise(mu)

    def decode(self, z):
        return self.dec_out(torch.relu(self.dec_hidden(z)))

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def _with_noise(base, noise):
    return type(f"{base.__name__}Noise", (base,), {"noise": lambda self, mu: noise(mu)})


def _halves(mu):
    half = torch.randn((len(mu) + 1) // 2, mu.shape[1])
    return torch.cat([half, -half])[: len(mu)]


class OneHeadChunkedLastDim(TwoHeads):
    """Correct: one head Linear(hidden, 2 * latent), torch.chunk along the last dimension."""

    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__(input_dim, hidden_dim, latent_dim)
        del self.fc_mu, self.fc_logvar
        self.heads = nn.Linear(hidden_dim, 2 * latent_dim)

    def encode(self, x):
        return torch.chunk(self.heads(torch.relu(self.hidden(x))), 2, dim=-1)


class OneHeadSliced(OneHeadChunkedLastDim):
    """Correct: the same head, sliced by hand."""

    def encode(self, x):
        both = self.heads(torch.relu(self.hidden(x)))
        return both[:, : self.latent_dim], both[:, self.latent_dim:]


class OneHeadChunkedOverTheBatch(OneHeadChunkedLastDim):
    """Wrong: the combined head split along the batch (dim 0)."""

    def encode(self, x):
        return self.heads(torch.relu(self.hidden(x))).chunk(2, dim=0)


class InPlaceReLU(TwoHeads):
    """Wrong: the hidden layer's output changed in place after it was used (backward fails)."""

    def decode(self, z):
        h = self.dec_hidden(z).sigmoid()
        out = self.dec_out(h)
        h.mul_(2.0)
        return out


MLP_WRONG = {
    "noise (B, 1) broadcast over the dimensions": (_with_noise(TwoHeads, lambda mu: torch.randn(len(mu), 1)),
                                                   "noise-shared-across-dims"),
    "antithetic halves of the batch": (_with_noise(TwoHeads, _halves), "antithetic-noise"),
    "noise centred over the batch": (_with_noise(TwoHeads, lambda mu: (lambda e: e - e.mean(0))(torch.randn_like(mu))),
                                     "noise-centred-across-rows"),
    "combined head chunked over the batch": (OneHeadChunkedOverTheBatch, "head-split-along-the-batch"),
    "in-place change of a saved tensor": (InPlaceReLU, "in-place-operation"),
}
MLP_CORRECT = {"one head, torch.chunk(dim=-1)": OneHeadChunkedLastDim, "one head, sliced": OneHeadSliced}

ENTRIES = {"3.1": REPARAMETERIZE}
