"""Checks for notebook 03 (the reparameterization trick): sampling z with gradients, and REINFORCE.

Both functions are random, so they are checked *statistically*: on many samples drawn with the
check's fixed seed, their averages must agree with the exact answers to within a few standard
errors (a correct function passes every time; the wrong ones miss by dozens of standard errors).
"""

from __future__ import annotations

import math

import torch

from .. import estimators
from ..estimators import score_terms
from ._failures import CheckFailed
from ._run import exercise
from ._noise import noise_dependence
from ._sampling import ks_distance

# --------------------------------------------------------------------------- 3.1 reparameterize

MU = torch.tensor([1.0, -2.0, 0.5])
LOGVAR = torch.tensor([1.0, -1.5, 0.6])   # std = exp(logvar / 2) = [1.65, 0.47, 1.35]
N_ROWS = 20_000                            # rows for the statistical part
NOISE_HINT = ("Draw fresh standard normal noise for every entry, a tensor of the shape of mu (torch.randn_like draws "
              "noise shaped like its argument).")
BUILD_Z = ("Build z yourself with torch operations, z = mu + sigma * eps: sigma from logvar (logvar = log sigma^2), "
           "eps standard normal noise of the shape of mu.")
SAMPLE_HINT = ("torch.distributions.Normal(...).sample() draws z outside autograd, so z has no grad_fn. "
               "Use .rsample() (the reparameterized sample) or, better here, " + BUILD_Z[0].lower() + BUILD_Z[1:])
NORMAL_HINT = ("torch.normal(mu, std) gives zero gradients with respect to mu and std: it is not "
               "reparameterized. " + BUILD_Z)
MU_ONLY_HINT = ("z equals mu: no noise was added. Returning mu is what a VAE does in eval mode; while training "
                "add noise scaled by the standard deviation, z = mu + sigma * eps, with sigma = exp(logvar / 2).")


def _same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=1e-5)


@exercise("3.1", "03_reparameterization", "reparameterize", points=2,
          title="sample z = mu + sigma * eps with the reparameterization trick",
          contract="reparameterize(mu: (B, D), logvar: (B, D)) -> z: (B, D), a sample of N(mu, diag(exp(logvar))) "
                   "written as a differentiable function of mu and logvar and of parameter-free noise, fresh for "
                   "every entry and every call; gradients flow from z to mu and logvar",
          verified="z has mean mu and std exp(logvar / 2), fresh noise per entry and call, and the right gradients.")
def reparameterize(fn, check):
    # -- type, shape, finite values on a small batch
    mu = torch.randn(4, 3)
    logvar = 0.5 * torch.randn(4, 3)
    out = check.tensor(check.call(mu, logvar), like=mu)
    check.shape(out, (4, 3), ["batch", "latent"],
                hint="z has the shape of mu: one noise value per entry of mu.")
    check.finite(out, hint="Compute the standard deviation as exp(logvar / 2): logvar can be negative, "
                           "so torch.sqrt(logvar) or torch.log(...) of it gives NaN.")

    # -- gradients reach mu and logvar
    mu_g, logvar_g = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    out = check.tensor(check.call(mu_g, logvar_g), like=mu)
    if not out.requires_grad:
        raise CheckFailed("no gradient flows through z (it has no grad_fn): z was detached (.detach(), "
                          "torch.no_grad(), .numpy()) or drawn with .sample().",
                          "Don't detach z. " + SAMPLE_HINT, code="z-has-no-gradient")
    grad_mu, grad_logvar = torch.autograd.grad(out.sum(), [mu_g, logvar_g], allow_unused=True)
    z = out.detach()
    # -- statistics over many rows: mean mu, std exp(logvar / 2), independent noise
    big_mu, big_logvar = MU.expand(N_ROWS, 3).clone(), LOGVAR.expand(N_ROWS, 3).clone()
    z1 = check.tensor(check.call(big_mu, big_logvar), like=big_mu).detach()
    check.shape(z1, (N_ROWS, 3), ["batch", "latent"], hint="z has the shape of mu: one noise value per entry.")
    z2 = check.tensor(check.call(big_mu, big_logvar), like=big_mu).detach()
    std = torch.exp(0.5 * LOGVAR)
    if _same(z1, big_mu):
        raise CheckFailed("z is exactly mu.", MU_ONLY_HINT)
    e1, e2 = (z1 - MU) / std, (z2 - MU) / std  # the noise the student used (rescaled)
    if e1.std() < 1e-6:
        if _same(z1, z2):
            raise CheckFailed("eps is not random: every entry of z is mu shifted by the same fixed amount.",
                              "eps must be random standard normal noise, not torch.ones_like(mu) or a constant.")
        raise CheckFailed("all entries of z share one random number (eps is a scalar).",
                          "torch.randn(1) or torch.randn(()) draws a single number for the whole batch. "
                          + NOISE_HINT)
    if (e1 - e1[:1]).abs().max() < 1e-5:
        raise CheckFailed("every row of z is the same: all examples in the batch share one noise vector.",
                          "eps has shape (1, D) or (D,) and is broadcast over the batch; each example needs its "
                          "own noise. " + NOISE_HINT)
    if (e1 - e1[:, :1]).abs().max() < 1e-5:
        raise CheckFailed("all latent dimensions of a row share one noise value.",
                          "eps has shape (B, 1) and is broadcast over the latent dimensions; each dimension "
                          "needs its own noise. " + NOISE_HINT)
    if _same(z1, z2):
        raise CheckFailed("two calls with the same inputs returned the same z.",
                          "Don't re-seed (torch.manual_seed) or reuse a stored eps inside the function: "
                          "every call must draw new noise. " + NOISE_HINT)

    sample_std = z1.std(dim=0)
    mean_err = (z1.mean(dim=0) - MU).abs()
    if (mean_err > 5 * sample_std / math.sqrt(N_ROWS) + 1e-3).any():
        shift = ((z1.mean(dim=0) - MU) / std).mean()
        if (z1.mean(dim=0).abs() < 5 * z1.std(dim=0) / math.sqrt(N_ROWS) + 1e-3).all():
            spread = z1.std(dim=0)
            if bool(((spread - MU.abs() * std).abs() <= 0.04 * MU.abs() * std).all()):
                raise CheckFailed("z has mean 0 and spread |mu| * sigma: mu multiplied the noise instead of being "
                                  "added to it.", "z = mu + std * eps: add the mean, don't multiply by it.",
                                  code="mu-multiplied-by-the-noise")
            raise CheckFailed("z has mean 0 instead of mu: the mean is not added.",
                              "z = mu + std * eps: shift the scaled noise by mu.", code="mu-not-added")
        hint = ("torch.rand draws uniform numbers in [0, 1) with mean 0.5; eps must be standard normal: "
                "torch.randn / torch.randn_like.") if 0.3 < shift < 0.7 else (
               "The mean of z must be mu: z = mu + sigma * eps with eps of mean 0 (standard normal).")
        raise CheckFailed(f"the mean of z over {N_ROWS} draws is off by up to {mean_err.max():.2f} "
                          "(should be mu).", hint)
    check.ok("mean of z = mu")
    if grad_mu is None or not torch.any(grad_mu != 0):  # after the mean, so a z without mu is named as such
        raise CheckFailed("no gradient reaches `mu`.", NORMAL_HINT if grad_mu is not None else
                          "z must be computed from mu with torch operations (don't .detach() mu). " + BUILD_Z)
    check.ok("gradients reach mu")
    close = lambda a, b: bool(((a - b).abs() <= 0.04 * b.abs() + 1e-3).all())  # noqa: E731 (5 std errors)
    if not close(sample_std, std):
        if close(sample_std, LOGVAR.abs()):
            raise CheckFailed("the spread of z is |logvar|: logvar was used as the standard deviation.",
                              "logvar is the *log of the variance*: the standard deviation is "
                              "exp(logvar / 2), the square root of exp(logvar).")
        if close(sample_std, torch.exp(LOGVAR)):
            raise CheckFailed("the spread of z is exp(logvar), which is the variance, not the standard deviation.",
                              "Take the square root of the variance: sigma = sqrt(exp(logvar)) = exp(logvar / 2).")
        if close(sample_std, torch.exp(-0.5 * LOGVAR)):
            raise CheckFailed("the spread of z is exp(-logvar / 2): the sign of the exponent is flipped.",
                              "sigma = exp(+logvar / 2): the variance grows with logvar, and so does the spread.")
        if close(sample_std, 0.5 * torch.exp(LOGVAR)):
            raise CheckFailed("the spread of z is 0.5 * exp(logvar): the 1/2 multiplies the exp instead of "
                              "standing inside it.", "sigma = exp(logvar / 2), the square root of exp(logvar): the 1/2 goes in the exponent.",
                              code="half-outside-the-exp")
        if close(sample_std, 0.5 * std):
            raise CheckFailed("the spread of z is exp(logvar / 2) / 2: a factor 1/2 too many.",
                              "The 1/2 belongs inside the exp only (sigma = exp(logvar / 2)); the noise itself is not halved.",
                              code="spread-halved")
        if close(sample_std, std / math.sqrt(12)):
            raise CheckFailed("the spread of z is exp(logvar / 2) / sqrt(12): the noise is uniform (torch.rand), "
                              "centred but not standard normal.", "eps must be standard normal: "
                              "torch.randn draws it, torch.rand_like(mu) - 0.5 is uniform.", code="noise-uniform")
        if close(sample_std, torch.ones(3)):
            raise CheckFailed("z has standard deviation 1 whatever logvar is: the noise is not scaled.",
                              "Multiply the noise by the standard deviation sigma = exp(logvar / 2) before adding mu.")
        raise CheckFailed(f"the standard deviation of z over {N_ROWS} draws is "
                          f"{[round(v, 2) for v in sample_std.tolist()]}, expected "
                          f"{[round(v, 2) for v in std.tolist()]} = exp(logvar / 2).",
                          "z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, 1).")
    check.ok("std of z = exp(logvar / 2)")
    if grad_logvar is None or not torch.any(grad_logvar != 0):
        raise CheckFailed("no gradient reaches `logvar`, although z has the right spread.",
                          "Don't .detach() the standard deviation (or compute it with NumPy/.item()): "
                          "sigma = exp(logvar / 2) must stay in the graph so the encoder learns logvar.")
    check.ok("gradients reach logvar")
    corr = torch.corrcoef(torch.cat([e1, e2], dim=1).T)
    if (corr - torch.eye(6)).abs().max() > 0.05:
        raise CheckFailed("the noise is correlated across latent dimensions or across calls.",
                          "Draw all of eps at once with the shape of mu: independent entries, new each call.")
    # rows: not paired (antithetic halves, neighbours, mirror), not correlated with the next, not centred
    noise_dependence(e1, NOISE_HINT)
    # the distribution itself, not only its mean and spread: Kolmogorov-Smirnov distance of the rescaled
    # noise from N(0, 1) (2.7 / sqrt(n) is exceeded by normal noise with probability about 1e-6)
    n = e1.numel() + e2.numel()
    distance = ks_distance(torch.cat([e1.flatten(), e2.flatten()]))
    if distance > 2.7 / math.sqrt(n):
        raise CheckFailed(f"the noise has the right mean and spread but is not normally distributed (its "
                          f"Kolmogorov-Smirnov distance from N(0, 1) over {n} draws is {distance:.3f}).",
                          "eps must be standard *normal* (torch.randn) - not rescaled uniform "
                          "(torch.rand), Laplace or +-1 noise.", code="noise-not-normal")
    check.ok("the noise is standard normal (Kolmogorov-Smirnov)")
    check.ok("noise independent across rows, dimensions and calls")

    # -- the gradient has the values of the trick: dz/dmu = 1, dz/dlogvar = (z - mu) / 2
    if not _same(grad_mu, torch.ones_like(mu), atol=1e-5):
        raise CheckFailed("dz/dmu is not 1 for every entry.", "z = mu + std * eps: mu enters with weight 1.")
    if not _same(grad_logvar, 0.5 * (z - mu), atol=1e-4):
        raise CheckFailed("dz/dlogvar is not (z - mu) / 2, as it is for z = mu + exp(logvar / 2) * eps.",
                          "Compute z from mu and logvar with differentiable torch operations only, "
                          "sigma = exp(logvar / 2); don't detach any part of it.")
    check.ok("dz/dmu = 1 and dz/dlogvar = (z - mu) / 2")


# --------------------------------------------------------------------------- 3.2 score function

MU_SF = torch.tensor([0.5, -1.0, 3.0])
SIGMA_SF = torch.tensor([0.5, 2.0, 1.5])
N_SF = 200_000
THRESHOLD = 1.0


def quadratic(z: torch.Tensor) -> torch.Tensor:
    """f(z) = sum_d (z_d - 2)^2: z (n, D) -> (n,). d/dmu E[f] = 2 (mu - 2)."""
    return (z - 2.0).pow(2).sum(dim=-1)


def step(z: torch.Tensor) -> torch.Tensor:
    """f(z) = number of coordinates above 1: z (n, D) -> (n,). Not differentiable (zero gradient a.e.)."""
    return (z.detach() > THRESHOLD).float().sum(dim=-1)


def _normal_pdf(x: float, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(x - mu).pow(2) / (2 * sigma.pow(2))) / (sigma * math.sqrt(2 * math.pi))


def _standard_error(f, mu, sigma, n):
    """Standard error of an n-sample REINFORCE mean, estimated from the reference's own draws: (D,)."""
    eps = torch.randn(50_000, len(mu), generator=torch.Generator().manual_seed(0))
    return score_terms(f, mu, sigma, eps).std(dim=0) / math.sqrt(n)


def _near(value: torch.Tensor, target: torch.Tensor, se: torch.Tensor, k: float = 6.0) -> bool:
    return value.shape == target.shape and bool(((value - target).abs() <= k * se + 1e-3).all())


@exercise("3.2", "03_reparameterization", "score_function_gradient", points=2,
          delegates=[estimators.score_terms, estimators.gradient_estimates],
          title="the score-function (REINFORCE) estimate of d/dmu E[f(z)]",
          contract="score_function_gradient(f, mu: (D,), log_sigma: (D,), n_samples: int) -> (D,): the "
                   "Monte Carlo estimate from n_samples draws z ~ N(mu, diag(exp(log_sigma)^2)) of "
                   "d/dmu E[f(z)] = E[f(z) grad_mu log q(z)], where f maps z: (n, D) -> (n,) and is only "
                   "evaluated, never differentiated",
          verified="the `(D,)` estimate matches 2 (mu - 2) for f(z) = sum (z - 2)^2 and works for a step function f.")
def score_function_gradient(fn, check):
    log_sigma = SIGMA_SF.log()
    # -- contract on a small call
    try:
        out = check.call(quadratic, MU_SF, log_sigma, 10)
    except CheckFailed as failed:
        if "must match the size" in failed.message:
            raise CheckFailed(failed.message, "f(z) has shape (n_samples,) and (z - mu) / sigma**2 has shape "
                              "(n_samples, D): give f(z) a trailing dimension, f(z)[:, None] (or .unsqueeze(1)), "
                              "so that it multiplies every coordinate.", code="f-not-broadcast") from None
        raise
    out = check.tensor(out, like=MU_SF)
    if tuple(out.shape) == (10, 3):
        raise CheckFailed("the result has one row per sample (10, 3), expected one gradient (D=3,).",
                          "Average the per-sample terms over the samples: .mean(dim=0).")
    check.shape(out, (3,), ["D"], hint="Return one partial derivative per coordinate of mu: average over the "
                                       "samples (dim=0) only, not over the coordinates.")
    check.finite(out, hint="sigma = exp(log_sigma) is never 0: divide by its square, not by log_sigma.")
    check.shape(check.tensor(check.call(quadratic, MU_SF, log_sigma, 1), like=MU_SF), (3,), ["D"],
                hint="With n_samples=1 the result is still (D,).")
    true_grad = 2 * (MU_SF - 2.0)
    se = _standard_error(quadratic, MU_SF, SIGMA_SF, N_SF)

    # -- unbiased for a smooth f (many samples, so the average is within a few standard errors)
    f_inputs: list = []

    def recorded_quadratic(z):
        f_inputs.append(tuple(z.shape))
        return quadratic(z)

    est = check.tensor(check.call(recorded_quadratic, MU_SF, log_sigma, N_SF), like=MU_SF).detach()
    rows = [shape[0] if len(shape) == 2 else 1 for shape in f_inputs]
    if f_inputs and sum(rows) != N_SF and N_SF not in rows:  # chunks that add up to n_samples are fine
        raise CheckFailed(f"f received {sum(rows)} samples (shapes {f_inputs[:3]}), expected n_samples={N_SF}.",
                          "Draw n_samples samples, z of shape (n_samples, D), from the `n_samples` argument "
                          "(not a fixed number), and call f once on all of them.", code="n-samples-ignored")
    if not _near(est, true_grad, se):
        found = f"got {[round(v, 2) for v in est.tolist()]}, expected {[round(v, 2) for v in true_grad.tolist()]}"
        if _near(est, SIGMA_SF**2 * true_grad, SIGMA_SF**2 * se):
            raise CheckFailed(f"the estimate is sigma^2 times too large ({found}).",
                              "The score is (z - mu) / sigma^2: divide by the variance, and draw z with standard "
                              "deviation sigma = exp(log_sigma) (not sigma^2).",
                              code="estimate-sigma-squared-too-large")
        if _near(est, -true_grad, se):
            raise CheckFailed(f"the estimate has the wrong sign ({found}).",
                              "The score of mu is d log q / d mu = +(z - mu) / sigma^2; multiply f(z) by it "
                              "(no minus sign).")
        if _near(est, SIGMA_SF * true_grad, SIGMA_SF * se):
            raise CheckFailed(f"the estimate is sigma times too large ({found}).",
                              "d log q / d mu = (z - mu) / sigma^2: divide by the variance sigma**2, not by sigma.")
        if _near(est, torch.zeros(3), se) and f_inputs:
            raise CheckFailed(f"the estimate is about 0 ({found}) although f was called: f(z) and the score "
                              "were computed on different draws.",
                              "Draw z once and use the same draws in both factors: f(z) * (z - mu) / sigma^2 - "
                              "on independent draws the two factors average to 0.", code="f-on-other-draws")
        if _near(est, torch.zeros(3), se):
            raise CheckFailed(f"the estimate is about 0 ({found}): the factor f(z) is missing.",
                              "The score (z - mu) / sigma^2 alone averages to 0; the estimator is "
                              "mean of f(z) * (z - mu) / sigma^2.")
        if _near(est, N_SF * true_grad, N_SF * se):
            raise CheckFailed(f"the estimate is n_samples times too large ({found}).",
                              "Average over the samples (.mean(dim=0)), don't sum.")
        raise CheckFailed(f"with {N_SF} samples the estimate is not close to the exact gradient ({found}).",
                          "Draw z = mu + sigma * eps with sigma = exp(log_sigma) and eps ~ N(0, I) of shape "
                          "(n_samples, D); multiply each f(z_i) by its own score (z_i - mu) / sigma^2 and average over the samples.")
    check.ok("matches 2 (mu - 2) for f(z) = sum (z - 2)^2")

    # -- works for an f that has no gradient (a step function): only values of f may be used
    true_step = _normal_pdf(THRESHOLD, MU_SF, SIGMA_SF)
    se_step = _standard_error(step, MU_SF, SIGMA_SF, N_SF)
    pathwise_hint = ("This is the pathwise (reparameterization) gradient: it differentiates f, which fails for "
                     "an f without gradients (here a step function, whose derivative is 0 almost everywhere). "
                     "The score-function estimator only *evaluates* f: mean of f(z) * (z - mu) / sigma^2.")
    try:
        est = check.tensor(check.call(step, MU_SF, log_sigma, N_SF), like=MU_SF).detach()
    except CheckFailed as failed:
        raise CheckFailed(f"for f(z) = number of coordinates above 1 (no gradient), {failed.message}",
                          pathwise_hint) from None
    found = f"got {[round(v, 3) for v in est.tolist()]}, expected {[round(v, 3) for v in true_step.tolist()]}"
    if not _near(est, true_step, se_step):
        if _near(est, torch.zeros(3), se_step):
            raise CheckFailed(f"for f(z) = number of coordinates above 1 the estimate is 0 ({found}).",
                              pathwise_hint)
        ls = log_sigma.abs()
        if _near(est, _normal_pdf(THRESHOLD, MU_SF, ls), 4 * se_step):  # its own draws spread more
            raise CheckFailed(f"the samples have the wrong spread ({found}): log_sigma was used as sigma.",
                              "sigma = exp(log_sigma), not log_sigma itself.")
        if _near(est, _normal_pdf(THRESHOLD, MU_SF, SIGMA_SF.sqrt()), 4 * se_step):
            raise CheckFailed(f"the samples have the wrong spread ({found}): log_sigma was read as a log variance.",
                              "log_sigma is the log of the standard deviation: sigma = exp(log_sigma), "
                              "not exp(log_sigma / 2).", code="log-sigma-read-as-log-variance")
        raise CheckFailed(f"for f(z) = number of coordinates above 1 the estimate is off ({found}).",
                          "Check how you draw z (sigma = exp(log_sigma)) and that you only evaluate f.")
    check.ok("works for a non-differentiable f (a step function)")
