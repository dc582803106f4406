"""Catalogue answers of notebook 05 (Exercises 5.1 lerp and 5.2 slerp) for the gaps closed in issue 22.

Each of these wrong answers used to get only "the values do not match the reference"; each is now a
named mistake of the check. :func:`entries` adds them to the catalogue already registered for 5.1
(in ``tests/test_checks_catalogue.py``) and 5.2 (in ``tests/_catalogue_05_08.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _t(t, z0):
    return t.reshape(-1, *[1] * z0.dim()) if torch.is_tensor(t) and t.dim() == 1 else t


def _lerp(z0, z1, t):
    t = _t(t, z0)
    return (1 - t) * z0 + t * z1


def _evenly_spaced(z0, z1, t):
    return _lerp(z0, z1, torch.linspace(0, 1, len(t)) if torch.is_tensor(t) else t)


def _reversed_rows(z0, z1, t):
    out = _lerp(z0, z1, t)
    return out.flip(0) if torch.is_tensor(t) else out


LERP_WRONG = {
    "evenly spaced t": (_evenly_spaced, "values of t are ignored"),
    "rows reversed": (_reversed_rows, "time steps in reverse order"),
    "minus t z1": (lambda z0, z1, t: (1 - _t(t, z0)) * z0 - _t(t, z0) * z1, "minus sign on z1"),
    "starts at z1": (lambda z0, z1, t: z1 + _t(t, z0) * (z1 - z0), "starts at z1"),
    "(1 - t) on both": (lambda z0, z1, t: (1 - _t(t, z0)) * (z0 + z1), "(1 - t) on both codes"),
    "square roots": (lambda z0, z1, t: (1 - _t(t, z0)) ** 0.5 * z0 + _t(t, z0) ** 0.5 * z1, "square-root weights"),
    "z0 only": (lambda z0, z1, t: z0 + 0 * _t(t, z0) * z1, "z0 for every t"),
    "z1 only": (lambda z0, z1, t: z1 + 0 * _t(t, z0) * z0, "z1 for every t"),
    "product": (lambda z0, z1, t: (1 - _t(t, z0)) * z0 * _t(t, z0) * z1, "product of the two weighted codes"),
    "halved": (lambda z0, z1, t: 0.5 * _lerp(z0, z1, t), "factor 1/2 too many"),
}


def _slerp(z0, z1, t, *, angle=lambda omega, cos, n0, n1, dot: omega, w0=None, den=None):
    """Shoemake's slerp with one piece replaced, and the lerp fallback where sin Omega < 1e-4."""
    tt = _t(t, z0)
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    dot = (z0 * z1).sum(-1, keepdim=True)
    cos = (dot / (n0 * n1)).clamp(-1, 1)
    omega = angle(torch.acos(cos), cos=cos, n0=n0, n1=n1, dot=dot)
    sin = torch.sin(torch.acos(cos))
    parallel = sin < 1e-4
    a = torch.sin((1 - tt) * omega) if w0 is None else w0(tt, omega)
    d = torch.sin(omega) if den is None else den(omega)
    out = (a * z0 + torch.sin(tt * omega) * z1) / torch.where(parallel, torch.ones_like(d), d)
    return torch.where(parallel, (1 - tt) * z0 + tt * z1, out)


SLERP_WRONG = {
    "arccos missing": (lambda z0, z1, t: _slerp(z0, z1, t, angle=lambda o, cos, **_: cos), "arccos missing"),
    "one norm twice": (lambda z0, z1, t: _slerp(z0, z1, t, angle=lambda o, n0, dot, **_: torch.acos(
        (dot / (n0 * n0)).clamp(-1, 1))), "norm of one code twice"),
    "norms added": (lambda z0, z1, t: _slerp(z0, z1, t, angle=lambda o, n0, n1, dot, **_: torch.acos(
        (dot / (n0 + n1)).clamp(-1, 1))), "sum of the norms"),
    "half the angle": (lambda z0, z1, t: _slerp(z0, z1, t, angle=lambda o, **_: o / 2), "half the angle"),
    "twice the angle": (lambda z0, z1, t: _slerp(z0, z1, t, angle=lambda o, **_: 2 * o), "twice the angle"),
    "sin squared": (lambda z0, z1, t: _slerp(z0, z1, t, den=lambda o: torch.sin(o) ** 2), "sin^2 Omega"),
    "parenthesis": (lambda z0, z1, t: _slerp(z0, z1, t, w0=lambda tt, o: torch.sin(1 - tt * o)),
                    "sin(1 - t Omega)"),
    "normalised": (lambda z0, z1, t: F.normalize(_slerp(z0, z1, t), dim=-1), "normalised result"),
}


def entries(catalogue: dict) -> dict:
    """The registered entries of 5.1 and 5.2 with the wrong answers above added."""
    return {ex: {"correct": catalogue[ex]["correct"], "wrong": {**catalogue[ex]["wrong"], **extra}}
            for ex, extra in (("5.1", LERP_WRONG), ("5.2", SLERP_WRONG))}
