"""Helpers of the training and checkpoint tests: a small VAE, and one draw from each global random number
generator the course seeds (Python, NumPy, torch)."""

from __future__ import annotations

import random

import numpy as np
import torch

from vae_course.models import VAE


def small_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(hidden_dim=64, latent_dim=4)


def rng_draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


def same_draws(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
