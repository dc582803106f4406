"""Check for notebook 05 (latent space), Exercise 5.4: the Monte Carlo terms of ELBO surgery.

The student writes ``elbo_surgery_terms(mu, logvar, z)`` (the reference is
:func:`vae_course.posteriors.elbo_surgery_terms`): for codes z[s, n] drawn from q(z | x_n), the
terms log q(z | x_n) - log q(z) and log q(z) - log p(z), with q(z) the mixture of all N posteriors.
Wrong answers are recognised by their values (:func:`_variant` computes each known mistake).
"""

from __future__ import annotations

import math

import torch

from .. import posteriors
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._run import exercise

NOTEBOOK = "05_latent_space"
LOG_2PI = math.log(2 * math.pi)


def _inputs(n: int, d: int, samples: int, seed: int, *, spread: float = 1.5, logvar_shift: float = -0.5):
    """mu, logvar (n, d) with different rows, and z (samples, n, d) drawn from each row's Gaussian."""
    g = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(n, d, generator=g)
    logvar = logvar_shift + 0.6 * torch.randn(n, d, generator=g)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(samples, n, d, generator=g)
    return mu, logvar, z


def _variant(mu, logvar, z, *, var=None, const=True, logdet=1.0, scaled=True, own_var=False, agg="lse",
             prior_const=True):
    """(info, mismatch) in float64, with one piece of the computation replaced (the known mistakes).

    var: the variance used in every Gaussian (default exp(logvar)); const: the -D/2 log 2 pi of the
    mixture's components; logdet: the factor of sum(logvar) in -1/2 (...); scaled: the squared
    distance divided by the variance; own_var: every component with the variance of the code's own
    image; agg: how the component log densities (S, N, M) become log q(z).
    """
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    samples, n, d = z.shape
    variance = logvar.exp() if var is None else var.double()
    log_var = variance.log()

    def log_normal(diff, v, lv, constant=True):
        maha = (diff.pow(2) / v if scaled else diff.pow(2)).sum(-1)
        return -0.5 * (maha + logdet * lv.sum(-1) + (d * LOG_2PI if constant else 0.0))

    own = log_normal(z - mu, variance, log_var)                                          # (S, N)
    if own_var:
        comps = log_normal(z[:, :, None] - mu, variance[None, :, None], log_var[None, :, None], const)
    else:
        comps = log_normal(z[:, :, None] - mu, variance, log_var, const)                  # (S, N, M)
    prior = -0.5 * (z.pow(2).sum(-1) + (d * LOG_2PI if prior_const else 0.0))
    aggregate = {
        "lse": lambda: torch.logsumexp(comps, -1) - math.log(n),
        "mean": lambda: comps.mean(-1),
        "no log N": lambda: torch.logsumexp(comps, -1),
        "log S": lambda: torch.logsumexp(comps, -1) - math.log(samples),
        "dim 1": lambda: torch.logsumexp(comps, 1) - math.log(n),
        "prior": lambda: prior,
        "own": lambda: own,
        "others": lambda: torch.logsumexp(comps.masked_fill(torch.eye(n, dtype=torch.bool, device=comps.device), -math.inf), -1)
        - math.log(n - 1),
        "max": lambda: comps.max(-1).values - math.log(n),
    }[agg]()
    return own - aggregate, aggregate - prior


def _mistakes(mu, logvar, z) -> list[Mistake]:
    """The known wrong answers' values on these inputs, stacked as (2, S, N): info, then mismatch."""
    right_info, right_mismatch = _variant(mu, logvar, z)

    def m(name, pair, hint):
        return Mistake(name, torch.stack(pair), hint)

    def v(**kw):
        return _variant(mu, logvar, z, **kw)

    return [
        m("the mean of the components' log densities in place of the log of their mean", v(agg="mean"),
          "log q(z) is the log of an average of densities; the average of log densities is smaller (Jensen). "
          "Combine the N component log densities with a log-sum-exp, then subtract log N."),
        m("log q(z) without the - log N (a sum of the components, not their average)", v(agg="no log N"),
          "q(z) is the average (1/N) sum_n of the posteriors: after the log-sum-exp over the N components, "
          "subtract log N."),
        m("- log S (the number of samples) where - log N belongs", v(agg="log S"),
          "The mixture averages over the N images (components), so subtract log N; S only counts the draws."),
        m("the log-sum-exp over the codes' image index instead of over the components", v(agg="dim 1"),
          "For each code z[s, n] you need its density under every component m: reduce over the component "
          "dimension (the one that indexes mu's rows), keeping the code's own (s, n)."),
        m("the prior p(z) in place of the aggregate posterior q(z)", v(agg="prior"),
          "Both terms hinge on log q(z), the mixture of the N posteriors: the mismatch must not be zero. "
          "Evaluate z under every posterior N(mu_m, exp(logvar_m)) and average the densities."),
        m("the code's own posterior q(z | x_n) in place of the aggregate q(z)", v(agg="own"),
          "The information term compares the own posterior with the mixture q(z) of *all* N posteriors; "
          "with q(z | x_n) in both places it is zero."),
        m("a mixture that leaves out each code's own component", v(agg="others"),
          "q(z) averages over all N posteriors, the code's own image included (then divide by N, not N - 1)."),
        m("the largest component in place of the log-sum-exp", v(agg="max"),
          "A maximum is only the biggest term of the sum; the log-sum-exp adds up all N components stably."),
        m("the -D/2 log 2 pi constant in one density but not in the other", v(const=False),
          "The constants cancel only when every density carries them: give log q(z | x_n), each component of "
          "q(z) and log p(z) the same -D/2 log 2 pi (or drop it from all three)."),
        m("the prior's density without its -D/2 log 2 pi", v(prior_const=False),
          "log p(z) for N(0, I) is -1/2 (||z||^2 + D log 2 pi): keep the constant as the other densities do."),
        m("the standard deviation where the variance belongs", v(var=torch.exp(0.5 * logvar)),
          "logvar is log sigma^2: the variance is exp(logvar), and exp(logvar / 2) is sigma."),
        m("the Gaussian log density without the - 1/2 sum(logvar) term", v(logdet=0.0),
          "A diagonal Gaussian's log density is -1/2 sum_d ((z_d - mu_d)^2 / sigma_d^2 + log sigma_d^2 + log 2 pi): "
          "the log-variance term differs between components and does not cancel."),
        m("- sum(logvar) without the factor 1/2", v(logdet=2.0),
          "The normaliser of N(mu, sigma^2) contributes -1/2 log sigma^2 per dimension."),
        m("squared distances not divided by the variance", v(scaled=False),
          "Each dimension's squared distance (z_d - mu_d)^2 is divided by that component's variance sigma_d^2."),
        m("every component given the variance of the code's own image", v(own_var=True),
          "Component m of the mixture is N(mu_m, exp(logvar_m)): pair mu's row m with logvar's row m, "
          "not with the row of the code's image."),
        m("the two terms returned in the other order", (right_mismatch, right_info),
          "Return (info, mismatch): first log q(z | x_n) - log q(z), then log q(z) - log p(z)."),
        m("the information term with its sign flipped", (-right_info, right_mismatch),
          "The information term is log q(z | x_n) minus log q(z) (own posterior first)."),
        m("the whole KL term where the mismatch belongs", (right_info, right_info + right_mismatch),
          "The mismatch compares the aggregate q(z) with the prior: log q(z) - log p(z), not log q(z | x_n) - log p(z)."),
    ]


def _pair(check, out, what: str, like: torch.Tensor):
    """The two tensors of the student's result, or a failure naming what came back instead."""
    if isinstance(out, dict):
        raise CheckFailed(f"{what} is a dict, expected a tuple `(info, mismatch)` of two tensors.",
                          "Return the two tensors themselves, info first, separated by a comma.",
                          code="returned-dict")
    if isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} is one tensor of shape `{tuple(out.shape)}`, expected a tuple "
                          "`(info, mismatch)` of two tensors.",
                          "Return both terms, info first, as a tuple - not their sum, not a stack.",
                          code="returned-one-tensor")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{what} is a {type(out).__name__}"
                          + (f" of {len(out)} items" if isinstance(out, (tuple, list)) else "")
                          + ", expected a tuple `(info, mismatch)` of two tensors.",
                          "Return exactly two tensors: the information terms, then the mismatch terms.",
                          code="not-a-pair")
    return [check.tensor(t, f"{what}'s {name}", like=like) for t, name in zip(out, ("info", "mismatch"))]


PARTS = ("info term", "mismatch term")


def _judge(check, out, expected, atol: float = 1e-4) -> None:
    """Judge each returned term on its own (partial credit: each is half the points)."""
    pair = out if isinstance(out, (tuple, list)) and len(out) == 2 else (None, None)
    for name, actual, right in zip(PARTS, pair, expected):
        check.part(name, actual, right, atol=atol)


@exercise("5.4", NOTEBOOK, "elbo_surgery_terms", points=3, parts=PARTS,
          delegates=[posteriors.elbo_surgery_terms, posteriors.log_aggregate_posterior],
          reference=posteriors.elbo_surgery_terms,
          title="ELBO surgery: the information and the mismatch of the aggregate posterior",
          contract="elbo_surgery_terms(mu: (N, D), logvar: (N, D), z: (S, N, D)) -> (info, mismatch), each (S, N): "
                   "for z[s, n] ~ q(z | x_n), info = log q(z | x_n) - log q(z) and mismatch = log q(z) - log p(z), "
                   "with q(z) = (1/N) sum_m N(z; mu_m, exp(logvar_m)) and p = N(0, I); in nats; finite for any "
                   "codes (the log-densities may be far below -100)",
          verified="both `(S, N)` terms match the reference for N != S, including codes whose densities "
                   "underflow in float32; the result does not depend on randomness.")
def elbo_surgery_terms(fn, check):
    mu, logvar, z = _inputs(7, 3, 4, seed=54)
    out = check.call(mu, logvar, z)
    expected_info, expected_mismatch = posteriors.elbo_surgery_terms(mu, logvar, z)
    _judge(check, out, (expected_info, expected_mismatch))
    info, mismatch = _pair(check, out, "the result", like=mu)
    shapes = {
        (7,): "You averaged over the S draws: return one term per draw, shape (S, N).",
        (4,): "You averaged over the N images: return one term per draw and image, shape (S, N).",
        (): "You averaged everything to one number: return the terms per draw and image, shape (S, N); "
            "the notebook averages them itself.",
        (4, 7, 7): "You kept the component dimension: combine the N component log densities of each code into "
                   "one log q(z) (a log-sum-exp over the components, minus log N).",
        (4, 7, 3): "You kept the latent dimension: a diagonal Gaussian's log density sums over the D dimensions.",
    }
    for term, name in ((info, "info"), (mismatch, "mismatch")):
        check.shape(term, (4, 7), ["S", "N"], what=f"the result's {name}",
                    hint=shapes.get(tuple(term.shape), "One value per draw and image: shape (S, N) like z[..., 0]."))
    for term, name in ((info, "info"), (mismatch, "mismatch")):
        check.finite(term, what=f"the result's {name}")
    again = _pair(check, check.call(mu, logvar, z), "the result of a second call", like=mu)
    if not all(torch.equal(a, b) for a, b in zip((info, mismatch), again)):
        raise CheckFailed("two calls with the same mu, logvar and z gave different results: your function draws "
                          "random numbers.",
                          "Use the codes z you are given (z[s, n] was drawn from q(z | x_n)); draw nothing yourself.",
                          code="draws-its-own-codes")
    check.ok("no randomness of its own")
    check.values(torch.stack([info, mismatch]), torch.stack([expected_info, expected_mismatch]),
                 "the (info, mismatch) terms", mistakes=_mistakes(mu, logvar, z))

    # Far-apart components in 60 dimensions: every density is below exp(-103), 0 in float32.
    mu, logvar, z = _inputs(5, 60, 3, seed=55, spread=3.0, logvar_shift=2.0)
    expected = posteriors.elbo_surgery_terms(mu, logvar, z)
    far = check.call(mu, logvar, z)
    _judge(check, far, expected, atol=1e-3)
    far = _pair(check, far, "the result for 60-dimensional codes", like=mu)
    for term, name in zip(far, ("info", "mismatch")):
        check.shape(term, (3, 5), ["S", "N"], what=f"the {name} for 60-dimensional codes")
        check.finite(term, what=f"the {name} for 60-dimensional codes (log-densities near -150)",
                     hint="exp of a log-density near -150 is 0 in float32, and log(0) = -inf: never leave log "
                          "space - combine the component log densities with torch.logsumexp.")
    check.values(torch.stack(far), torch.stack(expected), "the terms for 60-dimensional codes", atol=1e-3,
                 hint="Your terms were right for the small codes but not for these, whose log-densities lie far "
                      "below -100: stay in log space throughout (no exp before the log-sum-exp) and let every "
                      "Gaussian keep its own variance in every dimension.")
    check.ok("stable where the densities underflow")
