"""Another floating dtype (issue 11 item 4): a correct answer that returns float64 passes every check.

Before, comparing a float64 result with the float32 reference raised inside the check, and the
student read "make sure the function has the signature described above" (status ``error``) on 17
of 18 exercises. ``Checker.tensor`` now carries on in the inputs' dtype and ``Checker.values``
compares in the wider dtype, so the answer is judged on its values.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from vae_course import checks
from vae_course.results import exercise_key


def _kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar)


def _time(t, z0):
    return t.reshape(-1, *[1] * z0.dim()) if torch.is_tensor(t) and t.dim() == 1 else t


def _slerp(z0, z1, t):
    t = _time(t, z0)
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    safe = torch.where(sin < 1e-4, torch.ones_like(sin), sin)
    return torch.where(sin < 1e-4, (1 - t) * z0 + t * z1,
                       (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe)


# Correct answers written plainly; each is checked as it is and with its result in float64.
CORRECT = {
    "0.1": lambda images: images.mean(dim=0),
    "1.1": lambda encoder, decoder, x: torch.sigmoid(decoder(encoder(x))),
    "1.2": lambda x_hat, x: ((x_hat - x) ** 2).mean(dim=1),
    "2.1": lambda mu, logvar: _kl(mu, logvar).sum(dim=1),
    "2.2": lambda logits, x: -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1),
    "2.3": lambda logits, x, mu, logvar: (-F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
                                          - _kl(mu, logvar).sum(1)),
    "3.1": lambda mu, logvar: mu + torch.exp(0.5 * logvar) * torch.randn_like(mu),
    "3.2": lambda f, mu, log_sigma, n: _score(f, mu, log_sigma, n),
    "4.2": lambda model, n: torch.sigmoid(model.decode(torch.randn(n, model.latent_dim))),
    "5.1": lambda z0, z1, t: (1 - _time(t, z0)) * z0 + _time(t, z0) * z1,
    "5.2": _slerp,
    "5.3": lambda z_with, z_without: z_with.mean(dim=0) - z_without.mean(dim=0),
    "6.1": lambda model, x: _anomaly(model, x),
    "6.2": lambda model, x_known, mask, x_current: (mask * x_known + (1 - mask) * torch.sigmoid(
        model.decode(model.encode(x_current)[0]))),
    "7.1": lambda mu, logvar: _kl(mu, logvar).mean(dim=0),
    "8.1": lambda lw: torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]),
    "8.2": lambda model, digit, n: torch.sigmoid(model.decode(
        torch.randn(n, model.latent_dim), F.one_hot(torch.full((n,), digit), 10).float())),
}


def _score(f, mu, log_sigma, n):
    sigma = log_sigma.exp()
    z = mu + sigma * torch.randn(n, len(mu))
    return (f(z)[:, None] * (z - mu) / sigma**2).mean(dim=0)


def _anomaly(model, x):
    mu, logvar = model.encode(x)
    bce = F.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="none").sum(1)
    return bce + _kl(mu, logvar).sum(1)


def _in_float64(fn):
    def answer(*args, **kwargs):
        return fn(*args, **kwargs).double()
    return answer


def test_every_tensor_exercise_but_the_training_step_and_9_1_is_covered():
    """4.1 returns floats, 7.2 an int, 9.1 has its own catalogue (tests/test_checks_molecules.py); 3.3 and 4.4
    (classes) and 4.3 (a loop) have theirs in tests/test_checks_building.py."""
    assert set(CORRECT) == set(checks.REGISTRY) - {"3.3", "4.1", "4.3", "4.4", "7.2", "9.1"}


@pytest.mark.parametrize("ex_id", sorted(CORRECT, key=exercise_key))
def test_a_float64_result_is_judged_on_its_values(ex_id):
    check = getattr(checks, checks.REGISTRY[ex_id].function)
    plain, wide = check(CORRECT[ex_id]), check(_in_float64(CORRECT[ex_id]))
    assert plain.passed, plain.text()
    assert wide.passed, wide.text()


def test_a_wrong_float64_result_is_named_not_blamed_on_the_signature():
    result = checks.gaussian_kl(lambda mu, logvar: (-_kl(mu, logvar).sum(1)).double())
    assert result.status == "failed" and result.code != "check-broke"
    assert "sign" in result.message, result.text()
