"""Checks for notebook 05 (latent space): lerp, slerp and the attribute vector."""

from __future__ import annotations

import torch

from .. import latent as ref
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise

NOTEBOOK = "05_latent_space"

BROADCAST_HINT = ("A (T,) tensor t does not broadcast against codes of shape (D,) or (B, D): give it one "
                  "trailing 1 per code dimension first, t.reshape(T, 1) or t.reshape(T, 1, 1); "
                  "`t = as_time(t, z0)` does exactly that (and leaves a float alone).")
TIME_FIRST_HINT = ("With a (T,) tensor t the result must have the time dimension first: (T, D) for "
                   "codes (D,), (T, B, D) for codes (B, D). `t = as_time(t, z0)` shapes t so that "
                   "`(1 - t) * z0 + t * z1` broadcasts to exactly that.")


def _call(check, *args, hint: str):
    """check.call, but a broadcasting error gets ``hint`` instead of the generic advice."""
    try:
        return check.call(*args)
    except CheckFailed as failed:
        text = failed.message
        if "must match the size" in text or "broadcast" in text or "size mismatch" in text:
            raise CheckFailed(failed.message, hint) from None
        raise


def _shape_hint(out: torch.Tensor, z: torch.Tensor, steps: int | None) -> str:
    """Name the likely reason for a wrong interpolation shape."""
    if steps is None:
        return "With a float t the result has the shape of z0 (one interpolated code per row of z0)."
    if tuple(out.shape) == tuple(z.shape) + (steps,):
        return "The time dimension came out last; put it first. " + TIME_FIRST_HINT
    if tuple(out.shape) == tuple(z.shape):
        return "The result has no time dimension: one code per value of t is expected. " + TIME_FIRST_HINT
    return TIME_FIRST_HINT


def _interpolation(fn_name: str, check, z0, z1, times, names):
    """Call an interpolation, require a float tensor of the contract's shape; return it."""
    steps = None if isinstance(times, float) else len(times)
    out = check.tensor(_call(check, z0, z1, times, hint=BROADCAST_HINT), like=z0)
    expected = tuple(z0.shape) if steps is None else (steps, *z0.shape)
    check.shape(out, expected, names, what=f"{fn_name}(z0, z1, t)", hint=_shape_hint(out, z0, steps))
    return out


def _endpoint_hint(out: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, fn_name: str) -> str:
    """A hint about the endpoints when they are wrong (time runs from out[0] to out[-1])."""
    start_ok = torch.allclose(out[0], z0, atol=1e-4, rtol=1e-4)
    end_ok = torch.allclose(out[-1], z1, atol=1e-4, rtol=1e-4)
    if start_ok and end_ok:
        return ""
    if torch.allclose(out[0], z1, atol=1e-4, rtol=1e-4) and torch.allclose(out[-1], z0, atol=1e-4, rtol=1e-4):
        return (f"The path runs backwards: {fn_name}(z0, z1, 0) must be z0 and {fn_name}(z0, z1, 1) must be z1. "
                "Swap t and 1 - t.")
    which = "t=0 must give z0" if not start_ok else "t=1 must give z1"
    return (f"The endpoints are wrong ({which}, exactly). Evaluate your formula by hand at t=0 and t=1: "
            "every weight must be 0 or 1 there.")


# --------------------------------------------------------------------------- 5.1 lerp

@exercise("5.1", NOTEBOOK, "lerp", points=1,
          delegates=[ref.lerp],
          title="linear interpolation between two codes",
          contract="lerp(z0, z1, t) -> (1 - t) * z0 + t * z1. z0, z1: (D,) or (B, D), same shape; "
                   "t: a float or a (T,) tensor. Returns z0.shape for a float t and (T, *z0.shape) for a "
                   "(T,) tensor (time first). t=0 gives z0, t=1 gives z1.",
          verified="the codes match (1 - t) z0 + t z1 for a float t and a `(T,)` t, for `(D,)` and `(B, D)` codes.")
def lerp(fn, check):
    g = torch.Generator().manual_seed(51)
    z0, z1 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    Z0, Z1 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    times = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.8, 0.9, 1.0])               # T=7, not equal to D=5

    out_float = _interpolation("lerp", check, z0, z1, 0.25, ["latent"])
    out_path = _interpolation("lerp", check, z0, z1, times, ["time", "latent"])
    out_batch = _interpolation("lerp", check, Z0, Z1, times, ["time", "batch", "latent"])
    out_batch_float = _interpolation("lerp", check, Z0, Z1, 0.7, ["batch", "latent"])
    for out in (out_float, out_path, out_batch, out_batch_float):
        check.finite(out)

    tc = times.view(-1, 1)
    mistakes = [
        Mistake("t applied in reverse", tc * z0 + (1 - tc) * z1,
                "The path runs backwards: lerp(z0, z1, 0) must be z0 and lerp(z0, z1, 1) must be z1. "
                "Weight z0 by (1 - t) and z1 by t."),
        Mistake("z0 + t * z1 (the factor 1 - t on z0 is missing)", z0 + tc * z1,
                "At t=1 the result must be z1 alone: weight z0 by (1 - t), i.e. (1 - t) * z0 + t * z1."),
        Mistake("the midpoint for every t", ((z0 + z1) / 2).expand(len(times), -1),
                "The result must move with t: (1 - t) * z0 + t * z1, not (z0 + z1) / 2."),
        Mistake("t * z0 + t * z1 (t on both codes)", tc * z0 + tc * z1,
                "The two weights must add up to 1: (1 - t) on z0 and t on z1."),
        Mistake("(1 - t) * z0 + z1 (the factor t on z1 is missing)", (1 - tc) * z0 + z1,
                "At t=0 the result must be z0 alone: weight z1 by t, i.e. (1 - t) * z0 + t * z1."),
        Mistake("a step along z0 - z1 (the wrong direction)", z0 + tc * (z0 - z1),
                "Move from z0 towards z1: z0 + t * (z1 - z0)."),
        Mistake("t^2 in place of t", (1 - tc**2) * z0 + tc**2 * z1,
                "lerp moves at constant speed: the weights are 1 - t and t, not t^2."),
        Mistake("a normalised result (unit-length codes)",
                torch.nn.functional.normalize((1 - tc) * z0 + tc * z1, dim=-1),
                "Don't normalise: lerp is the straight line between the codes, lengths included."),
        Mistake("the sum z0 + z1 for every t", (z0 + z1).expand(len(times), -1),
                "Weight the codes by (1 - t) and t: (1 - t) * z0 + t * z1."),
        Mistake("evenly spaced times (the values of t are ignored)", ref.lerp(z0, z1, torch.linspace(0, 1, len(times))),
                "Use the times you are given, not torch.linspace(0, 1, T): here they are not evenly spaced."),
        Mistake("the time steps in reverse order", ref.lerp(z0, z1, times).flip(0),
                "Row k of the result belongs to t[k]: don't flip or reverse the time dimension."),
        Mistake("(1 - t) * z0 - t * z1 (a minus sign on z1)", (1 - tc) * z0 - tc * z1,
                "Both weights are positive and add up to 1: the second term is +t * z1."),
        Mistake("a path that starts at z1 and moves away from z0", z1 + tc * (z1 - z0),
                "The offset form starts at z0: z0 + t * (z1 - z0)."),
        Mistake("the weight (1 - t) on both codes", (1 - tc) * (z0 + z1),
                "z1 gets the weight t, z0 the weight 1 - t."),
        Mistake("square-root weights", (1 - tc).sqrt() * z0 + tc.sqrt() * z1,
                "lerp's weights are 1 - t and t themselves, not their square roots."),
        Mistake("z0 for every t (t ignored)", z0.expand(len(times), -1),
                "The result must move with t: at t=1 it is z1."),
        Mistake("z1 for every t (t ignored)", z1.expand(len(times), -1),
                "The result must move with t: at t=0 it is z0."),
        Mistake("a product of the two weighted codes", (1 - tc) * z0 * tc * z1,
                "Add the two weighted codes, don't multiply them."),
        Mistake("half of the interpolation (a factor 1/2 too many)", 0.5 * ((1 - tc) * z0 + tc * z1),
                "The weights 1 - t and t already add up to 1: no extra factor 1/2."),
    ]
    check.values(out_path, ref.lerp(z0, z1, times), "the interpolated codes", mistakes=mistakes,
                 hint=_endpoint_hint(out_path, z0, z1, "lerp") or "Compute (1 - t) * z0 + t * z1.")
    check.values(out_float, ref.lerp(z0, z1, 0.25), "the codes for a float t")
    check.values(out_batch, ref.lerp(Z0, Z1, times), "the codes for a batch (B, D)",
                 hint="Each row of z0 must be interpolated with the same row of z1, for every t.")
    check.values(out_batch_float, ref.lerp(Z0, Z1, 0.7), "the codes for a batch with a float t")


# --------------------------------------------------------------------------- 5.2 slerp

def _unit(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=-1, keepdim=True)


def _shoemake(z0, z1, times, omega):
    """Shoemake's formula with a given angle (no parallel fallback): the shape of the mistakes."""
    tt = ref.as_time(times, z0)
    return (torch.sin((1 - tt) * omega) * z0 + torch.sin(tt * omega) * z1) / torch.sin(omega)


def _angle(z0, z1):
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    return torch.acos(cos.clamp(-1, 1))


def _slerp_mistakes(z0, z1, times) -> list[Mistake]:
    tt = ref.as_time(times, z0)
    omega = _angle(z0, z1)
    raw_dot = torch.acos((z0 * z1).sum(-1, keepdim=True).clamp(-1, 1))
    norm_lerp = (1 - tt) * z0.norm(dim=-1, keepdim=True) + tt * z1.norm(dim=-1, keepdim=True)
    mistakes = [
        Mistake("t applied in reverse", ref.slerp(z0, z1, 1 - times),
                "The path runs backwards: slerp(z0, z1, 0) must be z0 and slerp(z0, z1, 1) must be z1. "
                "z0 gets the weight sin((1 - t) Omega) / sin Omega, z1 gets sin(t Omega) / sin Omega."),
        Mistake("an angle computed from the raw dot product (not divided by the norms)",
                _shoemake(z0, z1, times, raw_dot),
                "Omega is the angle between the directions: cos Omega = <z0, z1> / (||z0|| ||z1||). "
                "Divide the dot product by both norms before taking arccos (and clamp to [-1, 1])."),
        Mistake("linear interpolation (lerp) instead of slerp", ref.lerp(z0, z1, times),
                "That is lerp. Slerp weights z0 by sin((1 - t) Omega) / sin Omega and z1 by "
                "sin(t Omega) / sin Omega, where Omega is the angle between z0 and z1."),
        Mistake("slerp of the unit vectors (the norms are lost)", ref.slerp(_unit(z0), _unit(z1), times),
                "Your path stays on the unit sphere, so its endpoints are z0/||z0|| and z1/||z1||, "
                "not z0 and z1: the norms are not interpolated. Normalise only to compute the angle, then "
                "apply the weights to z0 and z1 themselves."),
        Mistake("a direction slerp times a linearly interpolated norm", norm_lerp * ref.slerp(_unit(z0), _unit(z1), times),
                "That is a sensible variant, but the contract asks for Shoemake's formula applied to z0 and "
                "z1 themselves: sin((1 - t) Omega) / sin Omega * z0 + sin(t Omega) / sin Omega * z1."),
        Mistake("the weights not divided by sin Omega", _shoemake(z0, z1, times, omega) * torch.sin(omega),
                "The endpoints are off: divide both weights by sin Omega, so that at t=0 the weight of z0 is "
                "sin(Omega) / sin(Omega) = 1."),
        Mistake("cos in place of sin in the weights",
                (torch.cos((1 - tt) * omega) * z0 + torch.cos(tt * omega) * z1) / torch.sin(omega),
                "Shoemake's weights are sines: sin((1 - t) Omega) / sin Omega and sin(t Omega) / sin Omega "
                "(at t=0 they are 1 and 0)."),
        Mistake("the angle in degrees (arccos gives radians)", _shoemake(z0, z1, times, torch.rad2deg(omega)),
                "torch.acos returns radians, which torch.sin expects: don't convert Omega to degrees."),
    ]
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    dot = (z0 * z1).sum(-1, keepdim=True)
    cos = (dot / (n0 * n1)).clamp(-1, 1)
    sin = torch.sin(omega)
    mistakes += [
        Mistake("the cosine used as the angle (arccos missing)", _shoemake(z0, z1, times, cos),
                "Omega is an angle: take torch.acos of the cosine <z0, z1> / (||z0|| ||z1||)."),
        Mistake("an angle from the norm of one code twice (||z0||^2 instead of ||z0|| ||z1||)",
                _shoemake(z0, z1, times, torch.acos((dot / (n0 * n0)).clamp(-1, 1))),
                "Divide the dot product by the product of the two *different* norms, ||z0|| * ||z1||."),
        Mistake("an angle from the sum of the norms (||z0|| + ||z1|| instead of their product)",
                _shoemake(z0, z1, times, torch.acos((dot / (n0 + n1)).clamp(-1, 1))),
                "cos Omega = <z0, z1> / (||z0|| * ||z1||): multiply the norms."),
        Mistake("half the angle", _shoemake(z0, z1, times, omega / 2),
                "Omega is arccos of the cosine itself, not half of it."),
        Mistake("twice the angle", _shoemake(z0, z1, times, 2 * omega),
                "Omega is arccos of the cosine itself, not twice it."),
        Mistake("sin^2 Omega in the denominator", _shoemake(z0, z1, times, omega) / sin,
                "Divide the weights by sin Omega once: at t=0 the weight of z0 is sin(Omega) / sin(Omega) = 1."),
        Mistake("sin(1 - t Omega) in place of sin((1 - t) Omega)",
                (torch.sin(1 - tt * omega) * z0 + torch.sin(tt * omega) * z1) / sin,
                "The parenthesis: z0's weight is sin((1 - t) * Omega) / sin Omega, (1 - t) times the angle."),
        Mistake("a normalised result (unit-length codes)",
                torch.nn.functional.normalize(ref.slerp(z0, z1, times), dim=-1),
                "Don't normalise: slerp's endpoints are z0 and z1 themselves, with their lengths."),
    ]
    if z0.dim() == 2:  # one angle for the whole batch instead of one per row
        flat = torch.acos((z0.flatten() @ z1.flatten() / (z0.norm() * z1.norm())).clamp(-1, 1))
        mistakes.append(Mistake("one angle for the whole batch", _shoemake(z0, z1, times, flat),
                                "Compute the angle per row: sum over the last dimension only, "
                                "(z0 * z1).sum(dim=-1, keepdim=True), and the norms with dim=-1, keepdim=True."))
    return mistakes


ANGLE_NAN_HINT = ("NaN for codes that are far from parallel usually means arccos got a value outside [-1, 1]: "
                  "divide the dot product by both norms, ||z0|| * ||z1||, and clamp it with "
                  ".clamp(-1, 1) against rounding.")
PARALLEL_HINT = ("For parallel codes the angle Omega is 0 and sin(Omega) / sin(Omega) is 0/0. "
                 "Fall back to lerp where sin(Omega) is tiny (e.g. below 1e-4).")
ANTIPARALLEL_HINT = ("For anti-parallel codes (z1 = -z0) Omega is pi and sin(Omega) is 0 as well: decide the lerp "
                     "fallback on sin(Omega) < 1e-4 (or |cos Omega| close to 1), not only on cos Omega close to 1.")
NEAR_PARALLEL_HINT = ("For a tiny angle the cosine rounds to almost 1: clamp it to [-1, 1] before arccos, and use "
                      "the lerp fallback only where sin(Omega) < 1e-4 - above that, Shoemake's formula is accurate.")
ROUNDING_HINT = ("For identical codes the cosine dot / (||z0|| ||z1||) can round to 1.0000001, and arccos of "
                 "that is NaN: clamp the cosine to [-1, 1] before torch.acos.")
BATCH_PARALLEL_HINT = ("One row of this batch is parallel, the others are not: the fallback must be decided "
                       "per row. Compute both paths and pick per row with torch.where(sin_omega < 1e-4, "
                       "linear, spherical) (replace the 0 in sin(Omega) before dividing so no NaN leaks in).")


@exercise("5.2", NOTEBOOK, "slerp", points=3,
          delegates=[ref.slerp],
          title="spherical interpolation between two codes",
          contract="slerp(z0, z1, t) -> sin((1 - t) Omega) / sin(Omega) * z0 + sin(t Omega) / sin(Omega) * z1, "
                   "Omega = arccos(<z0, z1> / (||z0|| ||z1||)) the angle between z0 and z1 (per row). "
                   "Shapes as lerp: z0, z1 (D,) or (B, D); t a float -> z0.shape, t (T,) -> (T, *z0.shape). "
                   "t=0 gives z0, t=1 gives z1. Where sin(Omega) < 1e-4 (parallel rows) return lerp instead. "
                   "Codes are nonzero (a zero code has no angle).",
          verified="the codes match the reference slerp for float and `(T,)` t, `(D,)` and `(B, D)` codes and parallel "
                   "rows.")
def slerp(fn, check):
    g = torch.Generator().manual_seed(52)
    # small codes (norms 0.6 and 0.9): a raw dot product stays inside [-1, 1], so that mistake is finite
    z0 = _unit(torch.randn(6, generator=g)) * 0.6
    z1 = _unit(torch.randn(6, generator=g)) * 0.9
    times = torch.linspace(0, 1, 7)
    # codes of a 20-D VAE: norms around sqrt(20)
    Z0, Z1 = torch.randn(4, 20, generator=g), 1.3 * torch.randn(4, 20, generator=g)
    times_b = torch.tensor([0.0, 0.2, 0.5, 0.7, 1.0])

    out = _interpolation("slerp", check, z0, z1, times, ["time", "latent"])
    out_float = _interpolation("slerp", check, z0, z1, 0.3, ["latent"])
    try:
        out_batch = _interpolation("slerp", check, Z0, Z1, times_b, ["time", "batch", "latent"])
    except CheckFailed as failed:
        if "must match the size" in failed.message or "broadcast" in failed.message:
            raise CheckFailed(failed.message,
                              "With codes (B, D), compute one angle per row with keepdim=True, so Omega has "
                              "shape (B, 1) and broadcasts against t (T, 1, 1) and z0 (B, D).") from None
        raise
    check.finite(out)
    check.finite(out_float)
    check.finite(out_batch, hint=ANGLE_NAN_HINT)

    check.values(out, ref.slerp(z0, z1, times), "the interpolated codes", mistakes=_slerp_mistakes(z0, z1, times),
                 hint=_endpoint_hint(out, z0, z1, "slerp")
                 or "Compare with sin((1 - t) Omega) / sin Omega * z0 + sin(t Omega) / sin Omega * z1.")
    check.values(out_float, ref.slerp(z0, z1, 0.3), "the codes for a float t")
    check.values(out_batch, ref.slerp(Z0, Z1, times_b), "the codes for a batch (B, D)",
                 mistakes=_slerp_mistakes(Z0, Z1, times_b),
                 hint="Each row of z0 must be interpolated with the same row of z1, with its own angle.")

    # parallel codes (exactly: cos Omega rounds to 1): identical, and one twice the other
    a = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0, 0.0])
    for partner, name in ((a.clone(), "identical codes"), (2 * a, "parallel codes (z1 = 2 z0)")):
        out_parallel = check.tensor(_call(check, a, partner, times, hint=BROADCAST_HINT), like=a)
        check.shape(out_parallel, (len(times), len(a)), ["time", "latent"], what=f"slerp of {name}")
        check.finite(out_parallel, what=f"slerp of {name}", hint=PARALLEL_HINT)
        check.values(out_parallel, ref.lerp(a, partner, times), f"the codes for {name}",
                     hint="For parallel codes slerp must equal lerp: " + PARALLEL_HINT)
    # anti-parallel codes (Omega = pi: sin Omega is 0 again) and nearly parallel ones (a tiny angle, where
    # arccos of a cosine that rounds near 1 is imprecise): both must give the reference (lerp, or close to it)
    near = a + torch.tensor([0.0, 0.0, 1e-3, 0.0, 0.0, 0.0])
    for partner, name, hint in ((-a, "anti-parallel codes (z1 = -z0)", ANTIPARALLEL_HINT),
                                (near, "nearly parallel codes (angle 2e-4)", NEAR_PARALLEL_HINT)):
        out_edge = check.tensor(_call(check, a, partner, times, hint=BROADCAST_HINT), like=a)
        check.shape(out_edge, (len(times), len(a)), ["time", "latent"], what=f"slerp of {name}")
        check.finite(out_edge, what=f"slerp of {name}", hint=hint)
        check.values(out_edge, ref.slerp(a, partner, times), f"the codes for {name}", hint=hint)
    check.ok("anti-parallel and nearly parallel codes")

    # a batch whose middle row is exactly parallel (cos Omega rounds to 1), the other rows are not
    P0, P1 = Z0[:3].clone(), Z1[:3].clone()
    P0[1] = 0.0
    P0[1, :2] = torch.tensor([3.0, 4.0])
    P1[1] = 2 * P0[1]
    out_mixed = check.tensor(_call(check, P0, P1, times_b, hint=BROADCAST_HINT), like=P0)
    check.shape(out_mixed, (len(times_b), 3, 20), ["time", "batch", "latent"],
                what="slerp of a batch with a parallel row")
    check.finite(out_mixed, what="slerp of a batch with one parallel row", hint=BATCH_PARALLEL_HINT)
    check.values(out_mixed, ref.slerp(P0, P1, times_b), "the codes for a batch with one parallel row",
                 hint=BATCH_PARALLEL_HINT)
    # identical random codes: on some rows the cosine dot / (||z0|| ||z1||) rounds past 1 (arccos gives NaN)
    same = torch.randn(8, 20, generator=torch.Generator().manual_seed(7))
    out_same = check.tensor(_call(check, same, same.clone(), times_b, hint=BROADCAST_HINT), like=same)
    check.shape(out_same, (len(times_b), 8, 20), ["time", "batch", "latent"], what="slerp of identical codes")
    check.finite(out_same, what="slerp of identical random codes", hint=ROUNDING_HINT)
    check.values(out_same, ref.slerp(same, same, times_b), "the codes for identical random codes", hint=ROUNDING_HINT)
    check.ok("falls back to lerp for parallel codes")


# --------------------------------------------------------------------------- 5.3 attribute vector

@exercise("5.3", NOTEBOOK, "attribute_vector", points=1,
          delegates=[ref.attribute_vector],
          title="the attribute vector: difference of mean codes",
          contract="attribute_vector(z_with: (N, D), z_without: (M, D)) -> (D,): the mean code of the images "
                   "with the attribute minus the mean code of those without. N and M may differ.",
          verified="the `(D,)` result is the mean code with the attribute minus the mean code without, for N != M.")
def attribute_vector(fn, check):
    g = torch.Generator().manual_seed(53)
    same_with, same_without = torch.randn(6, 4, generator=g) + 1.0, torch.randn(6, 4, generator=g)
    z_with, z_without = torch.randn(5, 4, generator=g) + 0.5, torch.randn(8, 4, generator=g) - 0.25

    out = check.tensor(check.call(same_with, same_without), like=same_with)
    shape_hint = "Average each set of codes over its rows (dim=0): the result is one vector of length D."
    if out.dim() == 2:
        shape_hint = ("You returned one vector per image: average over the batch (dim=0) to get a single "
                      "direction, z_with.mean(dim=0) - z_without.mean(dim=0).")
    elif out.dim() == 0:
        shape_hint = ".mean() without dim averages everything to one number: use .mean(dim=0) (over the images)."
    elif out.shape == (6,):
        shape_hint = "dim=1 averages over the latent dimensions; average over the images instead (dim=0)."
    check.shape(out, (4,), ["latent"], hint=shape_hint)

    try:
        out = check.tensor(check.call(z_with, z_without), like=z_with)
    except CheckFailed as failed:
        raise CheckFailed(failed.message + " (z_with has 5 rows, z_without 8)",
                          "The two sets may have different numbers of images: average each over dim=0 first, "
                          "then subtract the two means.") from None
    check.shape(out, (4,), ["latent"], hint="With 5 and 8 rows the result must still be one vector (D,): "
                                            "average each set over dim=0, then subtract.")
    check.finite(out)
    expected = ref.attribute_vector(z_with, z_without)
    check.values(out, expected, "the entries of the attribute vector", mistakes=[
        Mistake("the reversed sign (without minus with)", -expected,
                "Adding the vector must *add* the attribute: mean of z_with minus mean of z_without."),
        Mistake("a sum instead of a mean", z_with.sum(dim=0) - z_without.sum(dim=0),
                "Use .mean(dim=0): sums grow with the number of images (and here 5 and 8 differ)."),
        Mistake("the mean of z_with alone", z_with.mean(dim=0),
                "Subtract the mean code of the images without the attribute."),
        Mistake("a unit vector", expected / expected.norm(),
                "Don't normalise: the length of the difference says how far the two groups lie apart."),
        Mistake("the midpoint of the two mean codes", (z_with.mean(dim=0) + z_without.mean(dim=0)) / 2,
                "Subtract the two means (with minus without); don't average them."),
        Mistake("the sum of the two mean codes", z_with.mean(dim=0) + z_without.mean(dim=0),
                "Subtract: mean of z_with minus mean of z_without."),
        Mistake("a difference of medians", z_with.median(dim=0).values - z_without.median(dim=0).values,
                "Use the means (.mean(dim=0)), not the medians."),
        Mistake("a zero vector (the same set subtracted from itself)", torch.zeros(4),
                "Subtract the mean of z_without from the mean of z_with - two different sets."),
        Mistake("the mean of all codes together subtracted",
                z_with.mean(dim=0) - torch.cat([z_with, z_without]).mean(dim=0),
                "Subtract the mean of z_without alone, not of all codes together."),
    ])
