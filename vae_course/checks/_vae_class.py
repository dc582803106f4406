"""The behavioural check of a student's VAE class (Exercises 3.3 and 4.4 in :mod:`vae_course.checks.building`).

A class is checked against the contract of :mod:`vae_course.models` (``_VAEBase``), never its source:
it is built with the sizes a check chooses, its outputs measured for several batch sizes, its noise
tested as a distribution, its modes compared, its gradients followed to every parameter, its
parameters counted, and a few Adam steps on one batch must lower its loss. Each method runs through
:func:`run`, as ``Checker.call`` runs a student's function: errors become named failures, a stub is
"not answered", and calls of the course's own models count as delegation.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .. import losses, models
from ..results import Code
from ._checker import Checker
from ._failures import CheckFailed, FunctionRaised
from ._noise import noise_dependence
from ._vae_run import run

PIXELS = models.IMAGE_PIXELS
LOGVARS = (-2.0, 0.0, 1.5)  # a log-variance per latent dimension for the test of the noise
DRAWS = 4000


def _batch(size: int, seed: int = 3) -> torch.Tensor:
    """A fixed binary batch (size, 784) with about 20% ink."""
    return (torch.rand(size, PIXELS, generator=torch.Generator().manual_seed(seed)) < 0.2).float()


METHODS = ("encode", "reparameterize", "decode", "forward")

#: the hint for logits of the wrong shape, by exercise (the MLP's is the default)
LOGITS_HINTS = {"4.4": "The decoder ends with 784 logits per image, flattened to (B, 784): transposed convolutions with "
                       "kernel 4, stride 2, padding 1 take 7x7 to 14x14 to 28x28, and the (B, 1, 28, 28) map is "
                       "flattened at the end."}


def _build(check: Checker, config: dict) -> nn.Module:
    """The student's class built with ``config`` (keywords), with the contract's methods and ``latent_dim``."""
    keywords = ", ".join(f"{k}={v}" for k, v in config.items())
    try:
        model = check.call(**config)
    except FunctionRaised as raised:
        if "TypeError" in raised.message and "argument" in raised.message:
            raise CheckFailed(f"`{check.exercise.function}({keywords})` fails: "
                              f"{raised.message.removeprefix('your function raised ')}",
                              "Keep the constructor's signature of the contract (these keyword names, with "
                              "defaults): the check builds the class with other sizes.",
                              code="wrong-constructor-signature") from None
        raise
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"`{check.exercise.function}(...)` gave a {type(model).__name__}, expected an nn.Module.",
                          f"Write `class {check.exercise.function}(nn.Module)` and call `super().__init__()` first.",
                          code="not-a-module")
    if not list(model.parameters()):
        raise CheckFailed("the model has no parameters.",
                          "Create the layers in __init__ as attributes (self.fc = nn.Linear(...)), after "
                          "super().__init__().", code="no-parameters")
    missing = [name for name in METHODS if not callable(getattr(model, name, None))
               or (name == "forward" and type(model).forward is nn.Module.forward)]
    if missing:
        raise CheckFailed(f"the model has no method `{missing[0]}`.",
                          "Write the four methods of the contract, with these names: encode, reparameterize, decode "
                          "and forward (the course's helpers call them).", code="missing-method")
    found = getattr(model, "latent_dim", None)
    if isinstance(found, int) and found != config["latent_dim"]:
        raise CheckFailed(f"built with latent_dim={config['latent_dim']}, the model has latent_dim {found}: the "
                          "constructor ignores its argument.",
                          "Use the constructor's latent_dim (and hidden_dim) everywhere, not fixed numbers.",
                          code="ignores-latent-dim")
    if found != config["latent_dim"]:
        raise CheckFailed(f"`model.latent_dim` is {getattr(model, 'latent_dim', None)!r}, expected "
                          f"{config['latent_dim']} (the constructor's latent_dim).",
                          "Store the constructor's latent_dim as the attribute latent_dim (sampling from the prior reads it).",
                          code="no-latent-dim-attribute")
    return model


def _encode(check: Checker, model: nn.Module, x: torch.Tensor, latent: int) -> None:
    """encode(x) alone: a combined head split along the batch gives halves of the batch, named before decode crashes."""
    out = run(check, model.encode, x)
    if isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(v, torch.Tensor) for v in out):
        mu, logvar = out
        if mu.dim() == 2 and mu.shape[-1] == 2 * latent and mu.shape[0] + logvar.shape[0] == len(x):
            raise CheckFailed(f"encode returns mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} for {len(x)} images: "
                              "the combined head was split along the batch, not along the features.",
                              "Split the (B, 2 * latent_dim) output of the head along its last dimension (dim=-1): "
                              "the first latent_dim numbers are mu, the last latent_dim are logvar.",
                              code="head-split-along-the-batch")


def _forward(check: Checker, model: nn.Module, x: torch.Tensor, latent: int) -> tuple:
    """model(x) -> (logits, mu, logvar), checked for type and shapes."""
    try:
        out = run(check, model, x)
    except CheckFailed as failed:
        if failed.code != Code.CALLED_REFERENCE:
            _encode(check, model, x, latent)  # a crash of decode may come from how encode split its head
        raise
    if isinstance(out, torch.Tensor):
        raise CheckFailed("forward returns one tensor, expected the tuple (logits, mu, logvar).",
                          "Return all three: `return self.decode(z), mu, logvar` (the loss needs mu and logvar).",
                          code="forward-returns-one-tensor")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed(f"forward returns {type(out).__name__}"
                          f"{f' of {len(out)} items' if isinstance(out, (tuple, list)) else ''}, "
                          "expected the tuple (logits, mu, logvar).",
                          "Return exactly `logits, mu, logvar`.", code="forward-returns-wrong-tuple")
    logits, mu, logvar = (check.tensor(v, what, like=x) for v, what in zip(out, ("logits", "mu", "logvar")))
    size = len(x)
    if logits.shape == (size, latent) and (size, PIXELS) in (mu.shape, logvar.shape):
        raise CheckFailed("forward returns the logits after the codes: the outputs are in the wrong order.",
                          "Return them as the course's models do: `logits, mu, logvar`.", code="outputs-in-wrong-order")
    if mu.shape != (size, latent) or logvar.shape != (size, latent):
        _encode(check, model, x, latent)
        got = f"mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)}"
        ignores = mu.dim() == 2 and mu.shape[0] == size and mu.shape[1] != latent
        raise CheckFailed(f"built with latent_dim={latent}, forward gives {got}; expected `(B={size}, D={latent})` each.",
                          "Use the constructor's latent_dim for the sizes of the two heads, not a fixed number."
                          if ignores else "Each head is a layer hidden -> latent_dim, applied to the whole batch.",
                          code="ignores-latent-dim" if ignores else "wrong-code-shape")
    check.shape(logits, (size, PIXELS), ["B", "784"], "the logits", hint=LOGITS_HINTS.get(
        check.exercise.id, "The decoder's last layer gives input_dim = 784 outputs, one logit per pixel, for each of "
                           "the B codes: a (B, 784) matrix."))
    return logits, mu, logvar


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def _eval_mode(check: Checker, model: nn.Module, x: torch.Tensor, latent: int) -> tuple:
    """Eval mode: deterministic, and the code decoded is mu."""
    model.eval()
    with torch.no_grad():
        logits, mu, logvar = _forward(check, model, x, latent)
        again, _, _ = _forward(check, model, x, latent)
        from_mean = check.tensor(run(check, model.decode, mu), "decode(mu)", like=x)
    check.finite(torch.cat([logits, mu, logvar], dim=1), "the outputs")
    if _same(mu, logvar):
        raise CheckFailed("mu and logvar are identical: one head computes both.",
                          "Give the encoder two separate layers hidden -> latent_dim: one for mu, one for logvar.",
                          code="shared-head")
    with torch.no_grad():
        far = check.tensor(run(check, model.decode, 30 * torch.randn(16, latent)), "decode(z)", like=x)
    if (far >= 0).all() and (far == 0).any():
        raise CheckFailed("the decoder's outputs are never negative and often exactly 0: a ReLU after its last layer.",
                          "Logits can be any real number (negative for pixels that are probably white): no "
                          "activation after the decoder's last layer.", code="activation-on-logits")
    if _same(logits, torch.sigmoid(from_mean)) or ((far >= 0) & (far <= 1)).all():
        raise CheckFailed("every output of the decoder lies in [0, 1]: these are probabilities, not logits.",
                          "Return the last layer's raw output (logits); the loss applies the sigmoid itself "
                          "(binary_cross_entropy_with_logits), and torch.sigmoid turns logits into pictures.",
                          code="returns-probabilities")
    probe = 5 * torch.randn(64, x.shape[1])  # varied inputs: raw heads give both signs on them
    with torch.no_grad():
        mu, logvar = run(check, model.encode, probe)
    if (logvar >= 0).all() and (logvar == 0).any():
        raise CheckFailed("logvar is never negative and often exactly 0: a ReLU on the log-variance head.",
                          "log sigma^2 is any real number (negative for sigma < 1): no activation on the heads.",
                          code="activation-on-logvar-head")
    if (logvar > 0).all():
        raise CheckFailed("logvar is always positive: this looks like sigma or sigma^2, not log sigma^2.",
                          "Return the head's raw output as logvar; sigma = exp(logvar / 2) is computed only where "
                          "the sample is drawn.", code="logvar-not-a-log")
    if (mu >= 0).all() and (mu == 0).any():
        raise CheckFailed("mu is never negative: an activation (ReLU) on the mean head.",
                          "The mean of q(z|x) can be any real number: no activation after the mu layer.",
                          code="activation-on-mu-head")
    if not _same(logits, again):
        raise CheckFailed("in eval mode two calls on the same images give different logits: the model still samples.",
                          "In eval mode (not self.training) reparameterize returns mu itself, with no noise.",
                          code="samples-in-eval-mode")
    if not _same(logits, from_mean):
        raise CheckFailed("in eval mode the logits are not decode(mu): the decoder does not get the mean code.",
                          "forward is decode(reparameterize(mu, logvar)), and reparameterize returns mu in eval mode.",
                          code="eval-mode-not-the-mean")
    check.ok("eval mode: deterministic, decodes mu")


def _noise(check: Checker, model: nn.Module, x: torch.Tensor) -> None:
    """Training mode: reparameterize draws mu + exp(logvar / 2) * eps, eps ~ N(0, I), fresh per entry and call."""
    model.train()
    mu = torch.tensor([1.0, -2.0, 0.5]).repeat(DRAWS, 1)
    logvar = torch.tensor(LOGVARS).repeat(DRAWS, 1)
    z = check.tensor(run(check, model.reparameterize, mu, logvar), "reparameterize(mu, logvar)", like=mu)
    check.shape(z, (DRAWS, 3), ["B", "D"], "reparameterize(mu, logvar)")
    if _same(z, mu):
        raise CheckFailed("in training mode reparameterize returns mu: no sample is drawn.",
                          "While training (self.training is True) return mu + exp(logvar / 2) * eps with "
                          "eps standard normal noise of the shape of mu; only eval mode returns mu.",
                          code="no-sample-in-training")
    eps = (z - mu).detach()
    if torch.allclose(eps, eps[:1].expand_as(eps)):
        raise CheckFailed("every row got the same noise.",
                          "Draw one eps per entry: torch.randn_like(mu), not torch.randn(latent_dim).",
                          code="same-noise-for-every-row")
    noise_dependence(eps / torch.exp(0.5 * torch.tensor(LOGVARS)), "In reparameterize, draw eps with the shape "
                     "of mu (B, D): one independent standard normal number per entry.")
    again = check.tensor(run(check, model.reparameterize, mu, logvar), "reparameterize(mu, logvar)", like=mu)
    if _same(again, z):
        raise CheckFailed("two calls gave the same sample: the noise is drawn once and reused.",
                          "Draw fresh noise inside reparameterize at every call, not in __init__.",
                          code="noise-reused-across-calls")
    std = eps.std(dim=0)
    expected = torch.exp(0.5 * torch.tensor(LOGVARS))
    ratio = std / expected
    if eps.min() >= 0 and abs(float(eps[:, 1].mean()) - 0.5) < 0.05:
        raise CheckFailed("the noise is uniform on [0, 1) (torch.rand), not standard normal.",
                          "eps ~ N(0, I): torch.randn_like(mu).", code="uniform-noise")
    if torch.allclose(std, torch.exp(torch.tensor(LOGVARS)), rtol=0.08):
        raise CheckFailed("the spread of the samples is exp(logvar) = sigma^2: the variance used as the standard "
                          "deviation.", "sigma = exp(logvar / 2) = sqrt(sigma^2).", code="variance-as-std")
    if torch.allclose(std, torch.tensor(LOGVARS).abs(), rtol=0.08, atol=0.02):
        raise CheckFailed("the spread of the samples is |logvar|: logvar used as the standard deviation.",
                          "logvar is log sigma^2: sigma = exp(logvar / 2).", code="logvar-as-std")
    if torch.allclose(std, 1 / expected, rtol=0.08):
        raise CheckFailed("the spread of the samples is exp(-logvar / 2) = 1 / sigma: the sign of the exponent.",
                          "sigma = exp(+logvar / 2).", code="inverse-sigma")
    if not ((ratio - 1).abs() < 0.08).all() or (eps.mean(dim=0).abs() > 0.1 * expected).any():
        raise CheckFailed(f"the samples have standard deviations {[round(v, 2) for v in std.tolist()]} around mu, "
                          f"expected exp(logvar / 2) = {[round(v, 2) for v in expected.tolist()]}.",
                          "z = mu + exp(logvar / 2) * eps with eps standard normal, of the shape of mu.", code="wrong-noise-scale")
    check.ok("training mode: z = mu + exp(logvar / 2) * eps, fresh noise")
    logits1, _, _ = _forward(check, model, x, model.latent_dim)
    logits2, _, _ = _forward(check, model, x, model.latent_dim)
    if _same(logits1, logits2):
        raise CheckFailed("in training mode forward gives the same logits twice: it does not decode a sample.",
                          "forward must decode z = self.reparameterize(mu, logvar), not mu.",
                          code="forward-decodes-mu-in-training")
    with torch.no_grad():
        _, mu_forward, _ = _forward(check, model, x, model.latent_dim)
        mu_encoder, _ = run(check, model.encode, x)
    if not _same(mu_forward, mu_encoder):
        raise CheckFailed("in training mode the second output of forward is not encode(x)'s mu: it returns the sample z.",
                          "Return mu itself (the loss needs the mean and the log-variance of q(z|x)), not z.",
                          code="forward-returns-z-not-mu")
    check.ok("training mode: forward decodes a sample")


def _gradients(check: Checker, model: nn.Module, x: torch.Tensor) -> None:
    """The reconstruction term alone must reach every parameter (through the sample), the loss too."""
    model.train()
    model.zero_grad()
    logits, mu, logvar = _forward(check, model, x, model.latent_dim)
    recon = -losses.bernoulli_log_likelihood(logits, x).mean()
    if not recon.requires_grad:
        raise CheckFailed("no gradient flows from the logits to the parameters.",
                          "Don't use torch.no_grad(), .detach() or .item() inside the model.", code="no-gradient")
    run(check, recon.backward)  # an in-place change of a saved tensor raises here: named like any crash
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    if missing:
        raise CheckFailed(f"the reconstruction term sends no gradient to {', '.join(f'`{n}`' for n in missing[:4])}"
                          f"{' ...' if len(missing) > 4 else ''}.",
                          "The encoder learns only through the sample z = mu + sigma * eps: build it with torch "
                          "operations from mu and logvar (no .detach(), no .sample(), no torch.normal), and use "
                          "every layer you create.", code="no-gradient-to-encoder")
    check.ok("gradients reach every parameter")


def _linear(f: Callable, inputs: torch.Tensor) -> bool:
    """True if f is affine on these inputs: f(a) + f(b) - f(a + b) - f(0) == 0."""
    a, b = inputs[:2], inputs[2:4]
    zero = torch.zeros_like(a)
    return torch.allclose(f(a) + f(b) - f(a + b) - f(zero), torch.zeros(()), atol=1e-4)


def _nonlinear(check: Checker, model: nn.Module, x: torch.Tensor) -> None:
    model.eval()
    with torch.no_grad():
        if _linear(lambda v: run(check, model.encode, v)[0], x[:4] * 3):
            raise CheckFailed("mu is an affine function of x: the encoder has no nonlinearity.",
                              "Put a ReLU after the encoder's hidden layer.", code="linear-encoder")
        z = torch.randn(4, model.latent_dim) * 3
        if _linear(lambda v: run(check, model.decode, v), z):
            raise CheckFailed("the logits are an affine function of z: the decoder has no nonlinearity.",
                              "Put a ReLU after the decoder's hidden layer (not after the last layer).",
                              code="linear-decoder")
        for part, f, inputs in (("encoder", model.encode, x), ("decoder", model.decode, z)):
            _nonlinear_between_layers(check, model, part, f, inputs)
    check.ok("nonlinear encoder and decoder, a nonlinearity between consecutive layers")


_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def _copy(value):
    """A detached copy of a tensor (an in-place ReLU after the layer must not change what was recorded)."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _nonlinear_between_layers(check: Checker, model: nn.Module, part: str, f: Callable, inputs: torch.Tensor) -> None:
    """Fail when one layer of ``part`` feeds the next one its output unchanged (up to a reshape): no nonlinearity.

    Measured, not read from the source: hooks record what every linear or convolutional layer receives and
    returns during one call of ``f``, in call order. A ReLU (or any nonlinearity) between two layers changes
    the numbers; a flatten or an unflatten only rearranges them. The two heads both read the hidden layer, so
    the second head's input is never the first head's output. (A whole map that is affine is caught before.)
    """
    calls: list = []
    names = {module: name for name, module in model.named_modules()}
    hooks = [module.register_forward_hook(
        lambda module, args, out: calls.append((module, _copy(args[0]) if args else None, _copy(out))))
        for module in model.modules() if isinstance(module, _LAYERS)]
    try:
        run(check, f, inputs)
    finally:
        for hook in hooks:
            hook.remove()
    for (first, _, out), (second, given, _) in zip(calls, calls[1:]):
        if not (isinstance(out, torch.Tensor) and isinstance(given, torch.Tensor)) or out.numel() != given.numel():
            continue
        if torch.allclose(out.reshape(-1), given.reshape(-1)):
            label = lambda m: f"`{names.get(m, '?')}` ({type(m).__name__})"  # noqa: E731
            raise CheckFailed(f"in the {part}, {label(second)} gets the output of {label(first)} unchanged: there is no "
                              "nonlinearity between these two layers.",
                              "Two linear maps (convolutions are linear too) in a row are one linear map: put a ReLU "
                              "after every layer except the two heads and the decoder's last layer.",
                              code="missing-nonlinearity-between-layers")


def _count(check: Checker, model: nn.Module, config: dict, expected: int, layers: str) -> None:
    count = sum(p.numel() for p in model.parameters())
    if count != expected:
        raise CheckFailed(f"built with {config}, the model has {count:,} parameters; the architecture of the "
                          f"contract has {expected:,}.", f"The layers, in order: {layers}.",
                          code="wrong-parameter-count")
    check.ok("parameter count of the specified architecture")


def _learns(check: Checker, model: nn.Module, steps: int = 10) -> None:
    """Adam on a fixed batch of 16: the negative ELBO must fall by a tenth within ``steps`` steps.

    Adam is written out here (a few lines) rather than taken from torch.optim, whose first use imports
    torch's compiler: seconds that a check's time limit cannot afford.
    """
    x = _batch(16, seed=5)
    params = [p for p in model.parameters() if p.requires_grad]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    model.train()

    def loss_now() -> torch.Tensor:
        logits, mu, logvar = model(x)
        return (-losses.bernoulli_log_likelihood(logits, x) + losses.gaussian_kl(mu, logvar)).mean()

    def descend() -> tuple[float, float]:
        first = None
        for step in range(1, steps + 1):
            loss = loss_now()
            first = float(loss.detach()) if first is None else first
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            with torch.no_grad():
                for p, g, (m, v) in zip(params, grads, moments):
                    if g is None:
                        continue
                    m.mul_(0.9).add_(g, alpha=0.1)
                    v.mul_(0.999).addcmul_(g, g, value=0.001)
                    p -= 3e-2 * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8)
        return first, float(loss_now().detach())

    first, last = run(check, descend)
    if not math.isfinite(last) or last > 0.9 * first:
        raise CheckFailed(f"{steps} Adam steps on one batch took the negative ELBO from {first:.1f} to {last:.1f}; "
                          "a VAE of this size gets it below 90% of the start.",
                          "Check the order of the layers and that nothing is frozen or detached.",
                          code="does-not-learn")
    check.ok(f"the negative ELBO falls within {steps} Adam steps")


def check_vae_class(check: Checker, configs: list[dict], count: Callable[[dict], int], layers: str,
                    inputs: Callable[[torch.Tensor], list[torch.Tensor]] = lambda x: [x]) -> None:
    """The whole behavioural check of a VAE class, for each constructor config (the first one in depth)."""
    for number, config in enumerate(configs):
        model = _build(check, config)
        for size in (5, 1):
            for x in inputs(_batch(size)):
                model.eval()
                with torch.no_grad():
                    _forward(check, model, x, config["latent_dim"])
        check.ok("shapes `(B, 784)`, `(B, D)`, `(B, D)` for several B and D")
        if number == 0:
            x = _batch(8)
            _eval_mode(check, model, x, config["latent_dim"])
            _noise(check, model, x)
            _gradients(check, model, x)
            _nonlinear(check, model, x)
        _count(check, model, config, count(config), layers)
    _learns(check, _build(check, configs[-1]))
