"""Checks of notebook 05: references pass, each catalogued mistake gets its own hint, bad returns are explained."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vae_course import checks, latent
from vae_course.latent import as_time


def run(check, fn, **kwargs):
    """Run a check; answers built on the package's references are allowed (delegation: test_checks_integrity)."""
    result = check(fn, **{"allow_reference_calls": True, **kwargs})
    return result, result.text()


def assert_hint(check, fn, needle):
    result, text = run(check, fn)
    assert not result.passed, text
    assert needle in text, text


def angle(z0, z1):
    """Per-row angle (..., 1) between z0 and z1, as a student would write it."""
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    return torch.acos(cos.clamp(-1, 1))


def shoemake(z0, z1, t, omega):
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def with_fallback(z0, z1, t, omega):
    """The per-row lerp fallback around any spherical formula."""
    sin = torch.sin(omega)
    safe = torch.where(sin < 1e-4, torch.ones_like(sin), sin)
    spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe
    return torch.where(sin < 1e-4, (1 - t) * z0 + t * z1, spherical)


def malformed_cases(reference):
    return {
        (lambda *a: None): "forget the `return`",
        (lambda *a: reference(*a).numpy()): "NumPy array",
        (lambda *a: (reference(*a),)): "tuple",
        (lambda *a: float(reference(*a).flatten()[0])): "expected a torch tensor",
        (lambda *a: reference(*a).round().long()): "floating-point",
    }


# --------------------------------------------------------------------------- 5.1 lerp

def test_lerp_reference_and_variants_pass():
    def with_torch_lerp(z0, z1, t):
        if isinstance(t, float):
            return torch.lerp(z0, z1, t)
        return torch.lerp(z0, z1, t.reshape(-1, *[1] * z0.dim()))

    def offset_form(z0, z1, t):
        t = as_time(t, z0)
        return z0 + t * (z1 - z0)

    def with_unsqueeze(z0, z1, t):
        if not torch.is_tensor(t):
            return (1 - t) * z0 + t * z1
        for _ in range(z0.dim()):
            t = t.unsqueeze(-1)
        return (1 - t) * z0 + t * z1

    for fn in (latent.lerp, with_torch_lerp, offset_form, with_unsqueeze):
        result, text = run(checks.lerp, fn)
        assert result.passed, text


def test_lerp_mistakes_get_their_own_hints():
    def reversed_t(z0, z1, t):
        t = as_time(t, z0)
        return t * z0 + (1 - t) * z1

    def missing_one_minus_t(z0, z1, t):
        t = as_time(t, z0)
        return z0 + t * z1

    def midpoint(z0, z1, t):
        t = as_time(t, z0)
        return (z0 + z1) / 2 + 0 * t

    def start_only_wrong(z0, z1, t):  # an endpoint mistake not in the catalogue
        t = as_time(t, z0)
        return (1 - t) * 0.5 * z0 + t * z1

    def batch_rows_mixed(z0, z1, t):  # right for (D,), pairs the wrong rows for (B, D)
        t = as_time(t, z0)
        return (1 - t) * z0 + t * (z1.flip(0) if z1.dim() == 2 else z1)

    assert_hint(checks.lerp, reversed_t, "Weight z0 by (1 - t) and z1 by t")
    assert_hint(checks.lerp, missing_one_minus_t, "the factor 1 - t on z0 is missing")
    assert_hint(checks.lerp, midpoint, "not (z0 + z1) / 2")
    assert_hint(checks.lerp, start_only_wrong, "t=0 must give z0")
    assert_hint(checks.lerp, batch_rows_mixed, "Each row of z0 must be interpolated with the same row of z1")


def test_lerp_shape_mistakes_are_explained():
    def no_broadcast(z0, z1, t):  # a (T,) t against (D,) codes: RuntimeError
        return (1 - t) * z0 + t * z1

    def reshape_for_vectors_only(z0, z1, t):  # (T, 1) works for (D,) codes, not for (B, D)
        if isinstance(t, float):
            return (1 - t) * z0 + t * z1
        t = t.reshape(-1, 1)
        return (1 - t) * z0 + t * z1

    def time_last(z0, z1, t):
        t = as_time(t, z0)
        return torch.movedim((1 - t) * z0 + t * z1, 0, -1)

    def only_first_time(z0, z1, t):
        t = as_time(t, z0)
        out = (1 - t) * z0 + t * z1
        return out if out.shape == z0.shape else out[0]

    assert_hint(checks.lerp, no_broadcast, "t.reshape(T, 1)")
    assert_hint(checks.lerp, reshape_for_vectors_only, "t.reshape(T, 1, 1)")
    assert_hint(checks.lerp, time_last, "The time dimension came out last")
    assert_hint(checks.lerp, only_first_time, "The result has no time dimension")


def test_lerp_malformed_returns_and_slow_function():
    for fn, needle in malformed_cases(latent.lerp).items():
        assert_hint(checks.lerp, fn, needle)

    def crashes(z0, z1, t):
        return z0.undefined_method()

    assert_hint(checks.lerp, crashes, "AttributeError")

    def slow(z0, z1, t):
        time.sleep(3)

    assert checks.lerp(slow, timeout=0.5).status == "timeout"

    def stub(z0, z1, t):
        raise NotImplementedError("Exercise 5.1: linear interpolation between two codes")

    assert checks.lerp(stub).code == "not-answered"


# --------------------------------------------------------------------------- 5.2 slerp

def test_slerp_reference_and_variants_pass():
    def atan2_angle(z0, z1, t):
        t = as_time(t, z0)
        u0, u1 = F.normalize(z0, dim=-1), F.normalize(z1, dim=-1)
        cross = (u1 - (u0 * u1).sum(-1, keepdim=True) * u0).norm(dim=-1, keepdim=True)
        omega = torch.atan2(cross, (u0 * u1).sum(-1, keepdim=True))
        return with_fallback(z0, z1, t, omega)

    def cosine_similarity_threshold(z0, z1, t):  # |cos| > 0.9995 as the parallel test
        t = as_time(t, z0)
        cos = F.cosine_similarity(z0, z1, dim=-1).unsqueeze(-1)
        omega = torch.acos(cos.clamp(-1, 1))
        near = cos.abs() > 0.9995
        spherical = shoemake(z0, z1, t, torch.where(near, torch.ones_like(omega), omega))
        return torch.where(near, (1 - t) * z0 + t * z1, spherical)

    def double_precision_inside(z0, z1, t):
        return latent.slerp(z0.double(), z1.double(), t if isinstance(t, float) else t.double()).float()

    for fn in (latent.slerp, atan2_angle, cosine_similarity_threshold, double_precision_inside):
        result, text = run(checks.slerp, fn)
        assert result.passed, text


def test_slerp_mistakes_get_their_own_hints():
    def reversed_t(z0, z1, t):
        return latent.slerp(z0, z1, 1 - (t if isinstance(t, float) else t))

    def raw_dot_angle(z0, z1, t):  # the dot product not divided by the norms
        t = as_time(t, z0)
        return with_fallback(z0, z1, t, torch.acos((z0 * z1).sum(-1, keepdim=True).clamp(-1, 1)))

    def lerp_as_slerp(z0, z1, t):
        return latent.lerp(z0, z1, t)

    def unit_vectors(z0, z1, t):
        return latent.slerp(F.normalize(z0, dim=-1), F.normalize(z1, dim=-1), t)

    def norm_lerp_variant(z0, z1, t):
        norms = latent.lerp(z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True), t)
        return norms * latent.slerp(F.normalize(z0, dim=-1), F.normalize(z1, dim=-1), t)

    def no_division(z0, z1, t):
        t = as_time(t, z0)
        omega = angle(z0, z1)
        return torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1

    def cos_instead_of_sin(z0, z1, t):  # an endpoint mistake not in the catalogue
        t = as_time(t, z0)
        omega = angle(z0, z1)
        return (torch.cos((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)

    assert_hint(checks.slerp, reversed_t, "z0 gets the weight sin((1 - t) Omega) / sin Omega")
    assert_hint(checks.slerp, raw_dot_angle, "Divide the dot product by both norms")
    assert_hint(checks.slerp, lerp_as_slerp, "That is lerp")
    assert_hint(checks.slerp, unit_vectors, "the norms are not interpolated")
    assert_hint(checks.slerp, norm_lerp_variant, "Shoemake's formula applied to z0 and z1 themselves")
    assert_hint(checks.slerp, no_division, "divide both weights by sin Omega")
    assert_hint(checks.slerp, cos_instead_of_sin, "t=0 must give z0")


def test_slerp_batch_mistakes_get_their_own_hints():
    def one_angle_for_the_batch(z0, z1, t):
        t = as_time(t, z0)
        cos = (z0.flatten() @ z1.flatten()) / (z0.norm() * z1.norm())
        return with_fallback(z0, z1, t, torch.acos(cos.clamp(-1, 1)).reshape(1))

    def angle_without_keepdim(z0, z1, t):
        t = as_time(t, z0)
        cos = (z0 * z1).sum(-1) / (z0.norm(dim=-1) * z1.norm(dim=-1))
        return shoemake(z0, z1, t, torch.acos(cos.clamp(-1, 1)))

    def unnormalised_unclamped(z0, z1, t):  # NaN from arccos(>1) for latent-sized codes
        t = as_time(t, z0)
        omega = torch.acos((z0 * z1).sum(-1, keepdim=True))
        return shoemake(z0, z1, t, omega)

    assert_hint(checks.slerp, one_angle_for_the_batch, "Compute the angle per row")
    assert_hint(checks.slerp, angle_without_keepdim, "compute one angle per row with keepdim=True")
    assert_hint(checks.slerp, unnormalised_unclamped, "arccos got a value outside [-1, 1]")


def test_slerp_parallel_codes_are_diagnosed():
    def no_fallback(z0, z1, t):
        return shoemake(z0, z1, as_time(t, z0), angle(z0, z1))

    def whole_batch_fallback(z0, z1, t):  # a Python `if` decides for every row at once
        t = as_time(t, z0)
        omega = angle(z0, z1)
        if (torch.sin(omega) < 1e-4).any():
            return (1 - t) * z0 + t * z1
        return shoemake(z0, z1, t, omega)

    def fallback_with_nan_leak(z0, z1, t):  # a 0/1 mask times 0/0 is still NaN
        t = as_time(t, z0)
        omega = angle(z0, z1)
        sin = torch.sin(omega)
        weight = torch.where(sin < 1e-4, torch.zeros_like(sin), torch.ones_like(sin))
        return weight * shoemake(z0, z1, t, omega) + (1 - weight) * ((1 - t) * z0 + t * z1)

    assert_hint(checks.slerp, no_fallback, "Fall back to lerp where sin(Omega) is tiny")
    assert_hint(checks.slerp, whole_batch_fallback, "the fallback must be decided per row")
    result, text = run(checks.slerp, fallback_with_nan_leak)
    assert not result.passed and "contains NaN" in text and "Fall back to lerp" in text, text


def test_slerp_malformed_returns_and_slow_function():
    for fn, needle in malformed_cases(latent.slerp).items():
        assert_hint(checks.slerp, fn, needle)

    def slow(z0, z1, t):
        while True:
            pass

    assert checks.slerp(slow, timeout=0.5).status == "timeout"


# --------------------------------------------------------------------------- 5.3 attribute_vector

def test_attribute_vector_reference_and_variants_pass():
    def explicit_sums(z_with, z_without):
        return z_with.sum(0) / len(z_with) - z_without.sum(0) / z_without.shape[0]

    def torch_mean(z_with, z_without):
        return torch.mean(z_with, dim=0) - torch.mean(z_without, dim=0)

    def keepdim_then_squeeze(z_with, z_without):
        return (z_with.mean(0, keepdim=True) - z_without.mean(0, keepdim=True)).squeeze(0)

    for fn in (latent.attribute_vector, explicit_sums, torch_mean, keepdim_then_squeeze):
        result, text = run(checks.attribute_vector, fn)
        assert result.passed, text


def test_attribute_vector_mistakes_get_their_own_hints():
    mistakes = {
        (lambda a, b: b.mean(0) - a.mean(0)): "mean of z_with minus mean of z_without",
        (lambda a, b: a.sum(0) - b.sum(0)): "Use .mean(dim=0): sums grow",
        (lambda a, b: a.mean(0)): "Subtract the mean code of the images without",
        (lambda a, b: F.normalize(a.mean(0) - b.mean(0), dim=0)): "Don't normalise",
        (lambda a, b: a - b): "average over the batch (dim=0) to get a single direction",
        (lambda a, b: a.mean(1) - b.mean(1)): "dim=1 averages over the latent dimensions",
        (lambda a, b: a.mean() - b.mean()): ".mean() without dim averages everything",
        (lambda a, b: a[: len(b)].mean(0) - b[: len(a)].mean(0) if len(a) == len(b) else a - b):
            "may have different numbers of images",
        (lambda a, b: (a.mean(0) - b.mean(0)) if len(a) == len(b) else (a[:1] - b[:1])):
            "the result must still be one vector",
    }
    for fn, needle in mistakes.items():
        assert_hint(checks.attribute_vector, fn, needle)


def test_attribute_vector_malformed_returns_and_slow_function():
    for fn, needle in malformed_cases(latent.attribute_vector).items():
        assert_hint(checks.attribute_vector, fn, needle)
    assert_hint(checks.attribute_vector, lambda a, b: a.mean(0) * float("nan"), "contains NaN")

    def slow(a, b):
        time.sleep(3)

    assert checks.attribute_vector(slow, timeout=0.5).status == "timeout"
    assert checks.attribute_vector("not a function").status == "error"


@pytest.mark.parametrize("exercise_id, function", [("5.1", "lerp"), ("5.2", "slerp"), ("5.3", "attribute_vector")])
def test_exercises_are_registered_for_notebook_05(exercise_id, function):
    entry = checks.REGISTRY[exercise_id]
    assert entry.notebook == "05_latent_space" and entry.function == function
    assert [e.id for e in checks.exercises_for("05_latent_space")] == ["5.1", "5.2", "5.3", "5.4"]
    assert np.isclose(sum(e.points for e in checks.exercises_for("05_latent_space")), 8)


def test_slerp_is_tried_on_anti_parallel_and_nearly_parallel_codes():
    """A fallback decided on cos Omega ~ 1 only misses anti-parallel codes (sin pi = 0 too): named."""
    def fallback_on_cosine_only(z0, z1, t):
        t = as_time(t, z0)
        cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
        omega = torch.acos(cos.clamp(-1, 1))
        parallel = cos > 1 - 1e-6
        safe = torch.where(parallel, torch.ones_like(omega), torch.sin(omega))
        spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe
        return torch.where(parallel, (1 - t) * z0 + t * z1, spherical)

    result, text = run(checks.slerp, fallback_on_cosine_only)
    assert not result.passed and "anti-parallel codes" in result.message and "sin(Omega) < 1e-4" in text, text

    def fallback_on_sine(z0, z1, t):  # correct: sin(Omega) < 1e-4 catches both
        t = as_time(t, z0)
        cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
        omega = torch.acos(cos.clamp(-1, 1))
        degenerate = torch.sin(omega) < 1e-4
        safe = torch.where(degenerate, torch.ones_like(omega), torch.sin(omega))
        spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe
        return torch.where(degenerate, (1 - t) * z0 + t * z1, spherical)

    result, text = run(checks.slerp, fallback_on_sine)
    assert result.passed and "anti-parallel and nearly parallel codes" in result.checks, text

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

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


#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "5.1": lambda z0, z1, t: (1 - _time(t, z0)) * z0 + _time(t, z0) * z1,
    "5.2": _slerp,
    "5.3": lambda z_with, z_without: z_with.mean(dim=0) - z_without.mean(dim=0),
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("5.1", "vae_course.latent.lerp"): lambda z0, z1, t: latent.lerp(z0, z1, t),
    ("5.2", "vae_course.latent.slerp"): lambda z0, z1, t: latent.slerp(z0, z1, t),
    ("5.3", "vae_course.latent.attribute_vector"): lambda a, b: latent.attribute_vector(a, b),
}
