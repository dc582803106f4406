"""Catalogue entries (see tests/test_checks_catalogue.py) for exercises 1.1, 2.3, 3.1, 3.2, 4.1 and 4.2.

Each exercise: ``{"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}``.
The wrong answers are the ways students really fail (sign, reduction axis, sum vs mean, a missing 1/2,
log sigma vs log sigma^2, std vs variance, reused or badly shaped noise, detached tensors, gradients not
zeroed, ...); the correct ones are written differently from the solution (another library call,
``model(x)`` instead of encode/decode, chunks, float64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Laplace, Normal, kl_divergence

# --------------------------------------------------------------------------- 1.1 autoencoder_forward


def _logits(encoder, decoder, x):
    return decoder(encoder(x))


def _forward_in_chunks(encoder, decoder, x):
    return torch.cat([torch.sigmoid(decoder(encoder(chunk))) for chunk in x.split(3)])


def _forward_no_grad(encoder, decoder, x):
    with torch.no_grad():
        return torch.sigmoid(decoder(encoder(x)))


AUTOENCODER_FORWARD = {
    "correct": {
        "method sigmoid": lambda enc, dec, x: dec(enc(x)).sigmoid(),
        "by hand": lambda enc, dec, x: 1 / (1 + torch.exp(-_logits(enc, dec, x))),
        "sequential": lambda enc, dec, x: torch.nn.Sequential(enc, dec, torch.nn.Sigmoid())(x),
        "chunks": _forward_in_chunks,
        "float64": lambda enc, dec, x: torch.sigmoid(_logits(enc, dec, x).double()),
    },
    "wrong": {
        "no sigmoid": (_logits, "without the sigmoid"),
        "sigmoid twice": (lambda enc, dec, x: torch.sigmoid(torch.sigmoid(_logits(enc, dec, x))),
                          "sigmoid applied twice"),
        "clamp": (lambda enc, dec, x: _logits(enc, dec, x).clamp(0, 1), "clipped to [0, 1]"),
        "sigmoid on the code": (lambda enc, dec, x: torch.sigmoid(dec(torch.sigmoid(enc(x)))), "sigmoid on the code"),
        "the code": (lambda enc, dec, x: enc(x), "that is the code z"),
        "decoder on the image": (lambda enc, dec, x: torch.sigmoid(dec(x)), "passes the image itself to the decoder"),
        "encoder never called": (lambda enc, dec, x: x.clone(), "never calls the encoder"),
        "tanh": (lambda enc, dec, x: torch.tanh(_logits(enc, dec, x)), "tanh"),
        "softmax over pixels": (lambda enc, dec, x: torch.softmax(_logits(enc, dec, x), dim=1), "softmax"),
        "relu": (lambda enc, dec, x: torch.relu(_logits(enc, dec, x)), "ReLU"),
        "exp": (lambda enc, dec, x: torch.exp(_logits(enc, dec, x)), "exp"),
        "sigmoid of minus the logits": (lambda enc, dec, x: torch.sigmoid(-_logits(enc, dec, x)), "minus the logits"),
        "rounded": (lambda enc, dec, x: (torch.sigmoid(_logits(enc, dec, x)) > 0.5).float(), "rounded to 0 or 1"),
        "code detached": (lambda enc, dec, x: torch.sigmoid(dec(enc(x).detach())), "detach"),
        "no_grad": (_forward_no_grad, "torch.no_grad()"),
        "mean code for the batch": (lambda enc, dec, x: torch.sigmoid(dec(enc(x).mean(0, keepdim=True))).expand(
            len(x), -1), "same reconstruction"),
        "image shape": (lambda enc, dec, x: torch.sigmoid(_logits(enc, dec, x)).reshape(-1, 1, 28, 28), "(B, 784)"),
    },
}


# --------------------------------------------------------------------------- 2.3 elbo

# A student's unfinished Exercises 2.1 and 2.2: the check of 2.3 binds the references in their place.
def gaussian_kl(mu, logvar):
    raise NotImplementedError("Exercise 2.1")


def bernoulli_log_likelihood(logits, x):
    raise NotImplementedError("Exercise 2.2")


def _rec(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def _kl(mu, lv):
    return (0.5 * (mu**2 + lv.exp() - 1 - lv)).sum(1)


def _naive_rec(logits, x):
    p = torch.sigmoid(logits)
    return (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)


ELBO = {
    "correct": {
        "with the earlier exercises": lambda l, x, mu, lv: bernoulli_log_likelihood(l, x) - gaussian_kl(mu, lv),
        "distributions": lambda l, x, mu, lv: (Bernoulli(logits=l).log_prob(x).sum(1)
                                               - kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0)).sum(1)),
        "minus the loss": lambda l, x, mu, lv: -(F.binary_cross_entropy_with_logits(l, x, reduction="none").sum(-1)
                                                 - 0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=-1)),
        "softplus": lambda l, x, mu, lv: (x * l - F.softplus(l)).sum(1) - _kl(mu, lv),
        "float64": lambda l, x, mu, lv: _rec(l.double(), x.double()) - _kl(mu.double(), lv.double()),
    },
    "wrong": {
        "negative ELBO": (lambda l, x, mu, lv: _kl(mu, lv) - _rec(l, x), "negative ELBO (the loss)"),
        "KL added": (lambda l, x, mu, lv: _rec(l, x) + _kl(mu, lv), "KL added instead of subtracted"),
        "BCE as reconstruction": (lambda l, x, mu, lv: -_rec(l, x) - _kl(mu, lv), "binary cross-entropy used"),
        "KL missing": (lambda l, x, mu, lv: _rec(l, x), "the KL term missing"),
        "reconstruction missing": (lambda l, x, mu, lv: -_kl(mu, lv), "reconstruction term missing"),
        "KL averaged over the batch": (lambda l, x, mu, lv: _rec(l, x) - _kl(mu, lv).mean(),
                                       "KL term reduced over the batch"),
        "reconstruction averaged over the batch": (lambda l, x, mu, lv: _rec(l, x).mean() - _kl(mu, lv),
                                                   "reconstruction term reduced over the batch"),
        "KL not summed": (lambda l, x, mu, lv: _rec(l, x) - 0.5 * (mu**2 + lv.exp() - 1 - lv),
                          "KL term still has one value per latent dimension"),
        "reconstruction not summed": (lambda l, x, mu, lv: -F.binary_cross_entropy_with_logits(l, x, reduction="none")
                                      - _kl(mu, lv).unsqueeze(1), "Sum the log-probabilities of the pixels"),
        "pixels averaged": (lambda l, x, mu, lv: -F.binary_cross_entropy_with_logits(l, x, reduction="none").mean(1)
                            - _kl(mu, lv), "mean over pixels instead of a sum"),
        "KL without 1/2": (lambda l, x, mu, lv: _rec(l, x) - 2 * _kl(mu, lv), "without its factor 1/2"),
        "KL halved twice": (lambda l, x, mu, lv: _rec(l, x) - 0.5 * _kl(mu, lv), "factor 1/2 applied twice"),
        "logvar as log sigma": (lambda l, x, mu, lv: _rec(l, x) - (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).sum(1),
                                "log(sigma) instead of log(sigma^2)"),
        "reverse KL": (lambda l, x, mu, lv: _rec(l, x) - (0.5 * ((1 + mu**2) / lv.exp() - 1 + lv)).sum(1),
                       "wrong direction"),
        "batch mean": (lambda l, x, mu, lv: (_rec(l, x) - _kl(mu, lv)).mean(), "single number"),
        "naive logs": (lambda l, x, mu, lv: _naive_rec(l, x) - _kl(mu, lv), "no log(sigmoid)"),
        "sigmoid twice": (lambda l, x, mu, lv: _rec(torch.sigmoid(l), x) - _kl(mu, lv), "sigmoid applied twice"),
        "KL given the variance": (lambda l, x, mu, lv: bernoulli_log_likelihood(l, x) - gaussian_kl(mu, lv.exp()),
                                  "variance exp(logvar) as its logvar"),
        "KL given log sigma": (lambda l, x, mu, lv: bernoulli_log_likelihood(l, x) - gaussian_kl(mu, 0.5 * lv),
                               "log(sigma) = logvar / 2"),
        "KL arguments swapped": (lambda l, x, mu, lv: bernoulli_log_likelihood(l, x) - gaussian_kl(lv, mu),
                                 "arguments of gaussian_kl swapped"),
        "likelihood arguments swapped": (lambda l, x, mu, lv: bernoulli_log_likelihood(x, l) - gaussian_kl(mu, lv),
                                         "swapped"),
    },
}


# --------------------------------------------------------------------------- 3.1 reparameterize

def _std(lv):
    return torch.exp(0.5 * lv)


_STORED_NOISE: dict = {}


def _reused_noise(mu, lv):
    """Draws eps once per shape and reuses it on every later call."""
    eps = _STORED_NOISE.setdefault(tuple(mu.shape), torch.randn(mu.shape))
    return mu + _std(lv) * eps


def _reseeded(mu, lv):
    torch.manual_seed(0)
    return mu + _std(lv) * torch.randn_like(mu)


REPARAMETERIZE = {
    "correct": {
        "rsample": lambda mu, lv: Normal(mu, lv.exp().sqrt()).rsample(),
        "sqrt of exp": lambda mu, lv: mu + torch.sqrt(torch.exp(lv)) * torch.randn(mu.shape),
        "minus the noise": lambda mu, lv: mu - _std(lv) * torch.randn_like(mu),
        "power": lambda mu, lv: torch.randn_like(lv) * lv.exp() ** 0.5 + mu,
        "float64": lambda mu, lv: mu.double() + _std(lv.double()) * torch.randn_like(mu, dtype=torch.float64),
    },
    "wrong": {
        "logvar as std": (lambda mu, lv: mu + lv * torch.randn_like(mu), "logvar was used as the standard deviation"),
        "variance as std": (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "the variance, not the standard"),
        "flipped exponent": (lambda mu, lv: mu + torch.exp(-0.5 * lv) * torch.randn_like(mu), "sign of the exponent"),
        "half outside the exp": (lambda mu, lv: mu + 0.5 * lv.exp() * torch.randn_like(mu), "0.5 * exp(logvar)"),
        "unscaled": (lambda mu, lv: mu + torch.randn_like(mu), "the noise is not scaled"),
        "mu only": (lambda mu, lv: mu + 0 * lv, "z is exactly mu"),
        "uniform noise": (lambda mu, lv: mu + _std(lv) * torch.rand_like(mu), "torch.rand"),
        "scalar noise": (lambda mu, lv: mu + _std(lv) * torch.randn(()), "share one random number"),
        "one noise row": (lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape[1]), "every row of z is the same"),
        "one noise column": (lambda mu, lv: mu + _std(lv) * torch.randn(mu.shape[0], 1), "share one noise value"),
        "reused noise": (_reused_noise, "returned the same z"),
        "re-seeded": (_reseeded, "returned the same z"),
        "sample()": (lambda mu, lv: Normal(mu, _std(lv)).sample(), "rsample"),
        "torch.normal": (lambda mu, lv: torch.normal(mu, _std(lv)), "not reparameterized"),
        "std detached": (lambda mu, lv: mu + _std(lv).detach() * torch.randn_like(mu), "no gradient reaches `logvar`"),
        "laplace noise": (lambda mu, lv: mu + _std(lv) * Laplace(0.0, 2**-0.5).sample(mu.shape), "noise-not-normal"),
        "sqrt of logvar": (lambda mu, lv: mu + torch.sqrt(lv) * torch.randn_like(mu), "logvar can be negative"),
        "mu times the noise": (lambda mu, lv: mu * _std(lv) * torch.randn_like(mu), "mu multiplied"),
        "half too many": (lambda mu, lv: mu + 0.5 * torch.exp(0.5 * lv) * torch.randn_like(mu), "factor 1/2 too many"),
        "detached z": (lambda mu, lv: (mu + _std(lv) * torch.randn_like(mu)).detach(), "detached"),
        "centred uniform noise": (lambda mu, lv: mu + _std(lv) * (torch.rand_like(mu) - 0.5), "uniform"),
        "mu missing": (lambda mu, lv: _std(lv) * torch.randn_like(mu), "the mean is not added"),
    },
}


# --------------------------------------------------------------------------- 3.2 score_function_gradient

def _draws(mu, log_sigma, n, sigma=None):
    sigma = log_sigma.exp() if sigma is None else sigma
    return sigma, mu + sigma * torch.randn(n, len(mu))


def _score(f, mu, log_sigma, n, *, sigma=None, power=2, sign=1.0, reduce="mean"):
    sigma, z = _draws(mu, log_sigma, n, sigma)
    terms = sign * f(z)[:, None] * (z - mu) / sigma**power
    return terms.mean(0) if reduce == "mean" else terms.sum(0)


def _score_from_eps(f, mu, log_sigma, n):
    sigma = torch.exp(log_sigma)
    eps = torch.randn(n, mu.shape[0])
    return (f(mu + sigma * eps).unsqueeze(1) * eps / sigma).mean(dim=0)


def _score_with_log_prob(f, mu, log_sigma, n):
    mu = mu.detach().requires_grad_(True)
    q = Normal(mu, log_sigma.exp())
    z = q.sample((n,))
    surrogate = (f(z).detach() * q.log_prob(z).sum(1)).mean()
    return torch.autograd.grad(surrogate, mu)[0]


def _score_with_baseline(f, mu, log_sigma, n):
    sigma, z = _draws(mu, log_sigma, n)
    fz = f(z)
    return ((fz - fz.mean())[:, None] * (z - mu) / sigma**2).mean(0)


def _pathwise(f, mu, log_sigma, n):
    mu = mu.detach().requires_grad_(True)
    z = mu + log_sigma.exp() * torch.randn(n, len(mu))
    out = f(z)
    return torch.autograd.grad(out.mean(), mu)[0] if out.requires_grad else torch.zeros_like(mu)


def _two_draws(f, mu, log_sigma, n):
    sigma, z = _draws(mu, log_sigma, n)
    _, z_other = _draws(mu, log_sigma, n)
    return (f(z_other)[:, None] * (z - mu) / sigma**2).mean(0)


def _fixed_sample_count(f, mu, log_sigma, n):
    return _score(f, mu, log_sigma, 1000)


SCORE_FUNCTION_GRADIENT = {
    "correct": {
        "from eps": _score_from_eps,
        "log_prob and autograd": _score_with_log_prob,
        "mean baseline": _score_with_baseline,
        "float64": lambda f, mu, ls, n: _score(f, mu.double(), ls.double(), n),
    },
    "wrong": {
        "sign": (lambda f, mu, ls, n: _score(f, mu, ls, n, sign=-1.0), "wrong sign"),
        "divided by sigma": (lambda f, mu, ls, n: _score(f, mu, ls, n, power=1), "sigma times too large"),
        "not divided": (lambda f, mu, ls, n: _score(f, mu, ls, n, power=0), "sigma^2 times too large"),
        "variance as spread": (lambda f, mu, ls, n: _score(f, mu, ls, n, sigma=ls.exp() ** 2, power=1),
                               "sigma^2 times too large"),
        "missing f": (lambda f, mu, ls, n: ((_draws(mu, ls, n)[1] - mu) / ls.exp() ** 2).mean(0), "f(z) is missing"),
        "f on other draws": (_two_draws, "same draws"),
        "sum over samples": (lambda f, mu, ls, n: _score(f, mu, ls, n, reduce="sum"), "n_samples times too large"),
        "pathwise": (_pathwise, "pathwise"),
        "log_sigma as sigma": (lambda f, mu, ls, n: _score(f, mu, ls, n, sigma=ls), "log_sigma was used as sigma"),
        "log_sigma as log variance": (lambda f, mu, ls, n: _score(f, mu, ls, n, sigma=(0.5 * ls).exp()),
                                      "log variance"),
        "n_samples ignored": (_fixed_sample_count, "n-samples-ignored"),
        "f(z) not broadcast": (lambda f, mu, ls, n: (f(_draws(mu, ls, n)[1]) * (_draws(mu, ls, n)[1] - mu)
                                                     / ls.exp() ** 2).mean(0), "f(z)[:, None]"),
        "per-sample terms": (lambda f, mu, ls, n: f(_draws(mu, ls, n)[1])[:, None] * torch.ones(1, len(mu)),
                             "one row per sample"),
    },
}


# --------------------------------------------------------------------------- 4.1 training_step

def _step(model, optimizer, x, *, parts, zero_grad="before", backward_sign=1.0, backward_scale=1.0, step=True):
    """A training step whose loss terms come from ``parts(model, x) -> (recon, kl)`` (batch scalars)."""
    if zero_grad == "before":
        optimizer.zero_grad()
    recon, kl = parts(model, x)
    loss = recon + kl
    (backward_sign * backward_scale * loss).backward()
    if zero_grad == "between":
        optimizer.zero_grad()
    if step:
        optimizer.step()
    return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def _terms(model, x):
    logits, mu, lv = model(x)
    return _bce(logits, x).mean(), _kl(mu, lv).mean()


def _terms_encode_decode(model, x):
    mu, lv = model.encode(x)
    logits = model.decode(mu + torch.exp(0.5 * lv) * torch.randn_like(mu))
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x), \
        -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp()) / len(x)


def _step_tensors_model_zero_grad(model, optimizer, x):
    model.zero_grad(set_to_none=False)
    recon, kl = _terms(model, x)
    loss = recon + kl
    loss.backward()
    optimizer.step()
    return dict(loss=loss.detach(), recon=recon.detach(), kl=kl.detach())


def _step_returned(**out):
    """The right step, but with returned numbers rebuilt from ``recon`` and ``kl`` by ``out``'s lambdas."""
    def step(model, optimizer, x):
        optimizer.zero_grad()
        recon, kl = _terms(model, x)
        (recon + kl).backward()
        optimizer.step()
        values = {"loss": recon + kl, "recon": recon, "kl": kl}
        return {key: out[key](recon, kl).item() if key in out else values[key].item() for key in values}
    return step


def _step_recon_backward(model, optimizer, x):
    optimizer.zero_grad()
    recon, kl = _terms(model, x)
    recon.backward()
    optimizer.step()
    return {"loss": (recon + kl).item(), "recon": recon.item(), "kl": kl.item()}


def _terms_with(recon_fn=None, kl_fn=None, decode_mean=False):
    def parts(model, x):
        logits, mu, lv = model(x)
        if decode_mean:
            logits = model.decode(mu)
        recon = recon_fn(logits, x) if recon_fn else _bce(logits, x).mean()
        kl = kl_fn(mu, lv) if kl_fn else _kl(mu, lv).mean()
        return recon, kl
    return parts


def _step_with(**options):
    parts = options.pop("parts", _terms)
    return lambda model, optimizer, x: _step(model, optimizer, x, parts=parts, **options)


TRAINING_STEP = {
    "correct": {
        "encode/decode, sums over B": _step_with(parts=_terms_encode_decode),
        "model.zero_grad, tensors": _step_tensors_model_zero_grad,
        "zero_grad at the end": lambda model, opt, x: (_step(model, opt, x, parts=_terms, zero_grad="never"),
                                                        opt.zero_grad())[0],
        "float64 values": lambda model, opt, x: {k: torch.tensor(v, dtype=torch.float64)
                                                 for k, v in _step(model, opt, x, parts=_terms).items()},
    },
    "wrong": {
        "ELBO not negated": (_step_with(parts=_terms_with(recon_fn=lambda l, x: -_bce(l, x).mean(),
                                                          kl_fn=lambda mu, lv: -_kl(mu, lv).mean())),
                             "ELBO instead of the negative ELBO"),
        "sum over the batch": (_step_with(parts=_terms_with(recon_fn=lambda l, x: _bce(l, x).sum(),
                                                            kl_fn=lambda mu, lv: _kl(mu, lv).sum())),
                               "sum over the batch instead of a mean"),
        "KL missing": (_step_with(parts=_terms_with(kl_fn=lambda mu, lv: torch.zeros(()))), "KL missing"),
        "KL subtracted": (_step_with(parts=_terms_with(kl_fn=lambda mu, lv: -_kl(mu, lv).mean())), "KL subtracted"),
        "KL summed over the batch": (_step_with(parts=_terms_with(kl_fn=lambda mu, lv: _kl(mu, lv).sum())),
                                     "KL summed over the batch"),
        "pixels averaged": (_step_with(parts=_terms_with(recon_fn=lambda l, x: F.binary_cross_entropy_with_logits(
            l, x))), "mean over pixels"),
        "sigmoid twice": (_step_with(parts=_terms_with(recon_fn=lambda l, x: _bce(torch.sigmoid(l), x).mean())),
                          "sigmoid applied twice"),
        "squared error": (_step_with(parts=_terms_with(
            recon_fn=lambda l, x: (torch.sigmoid(l) - x).pow(2).sum(1).mean())),
                          "squared error"),
        "decoded the mean": (_step_with(parts=_terms_with(decode_mean=True)), "the mean code"),
        "no zero_grad": (_step_with(zero_grad="never"), "accumulated"),
        "zero_grad between backward and step": (_step_with(zero_grad="between"), "did not change"),
        "no step": (_step_with(step=False), "did not change"),
        "backward on the ELBO": (_step_with(backward_sign=-1.0), "wrong way"),
        "backward on the sum": (_step_with(backward_scale=8.0), "B times too large"),
        "KL detached": (_step_with(parts=_terms_with(kl_fn=lambda mu, lv: _kl(mu.detach(), lv.detach()).mean())),
                        "detached"),
        "step twice": (lambda model, opt, x: (_step(model, opt, x, parts=_terms), opt.step())[0], "the optimizer stepped twice"),
        "backward on recon only": (_step_recon_backward, "ignores the KL term"),
        "eval mode": (lambda model, opt, x: _step(model.eval(), opt, x, parts=_terms), "the mean code"),
        "recon and kl swapped": (_step_returned(recon=lambda r, k: k, kl=lambda r, k: r), "swapped"),
        "recon as a log-likelihood": (_step_returned(recon=lambda r, k: -r), "log-likelihood"),
    },
}


# --------------------------------------------------------------------------- 4.2 sample_from_prior

def _prior_probs(model, z):
    return torch.sigmoid(model.decode(z))


def _prior_in_chunks(model, n):
    return torch.cat([_prior_probs(model, torch.randn(len(chunk), model.latent_dim))
                      for chunk in torch.arange(n).split(1000)])


def _prior_reseeded(model, n):
    torch.manual_seed(0)
    return _prior_probs(model, torch.randn(n, model.latent_dim))


def _prior_no_grad(model, n):
    with torch.no_grad():
        return _prior_probs(model, Normal(0.0, 1.0).sample((n, model.latent_dim)))


SAMPLE_FROM_PRIOR = {
    "correct": {
        "no_grad, distributions": _prior_no_grad,
        "chunks": _prior_in_chunks,
        "randn with a size tuple": lambda model, n: model.decode(torch.randn((n, model.latent_dim))).sigmoid(),
        "float64": lambda model, n: _prior_probs(model, torch.randn(n, model.latent_dim)).double(),
    },
    "wrong": {
        "uniform codes": (lambda model, n: _prior_probs(model, torch.rand(n, model.latent_dim)), "torch.rand"),
        "logits": (lambda model, n: model.decode(torch.randn(n, model.latent_dim)), "logits"),
        "binary sample": (lambda model, n: torch.bernoulli(_prior_probs(model, torch.randn(n, model.latent_dim))),
                          "binary sample"),
        "zero codes": (lambda model, n: _prior_probs(model, torch.zeros(n, model.latent_dim)),
                       "every code is the same"),
        "one code repeated": (lambda model, n: _prior_probs(model, torch.randn(1, model.latent_dim).expand(n, -1)),
                              "same code"),
        "scaled codes": (lambda model, n: _prior_probs(model, 2 * torch.randn(n, model.latent_dim)),
                         "no shift or scale"),
        "shifted codes": (lambda model, n: _prior_probs(model, torch.randn(n, model.latent_dim) + 1),
                          "no shift or scale"),
        "latent size hard-coded": (lambda model, n: _prior_probs(model, torch.randn(n, 20)), "model.latent_dim"),
        "n ignored": (lambda model, n: _prior_probs(model, torch.randn(64, model.latent_dim)), "Draw n codes"),
        "re-seeded": (_prior_reseeded, "same codes"),
        "one number per code": (lambda model, n: _prior_probs(model, torch.randn(n, 1).expand(n, model.latent_dim)),
                                "correlated"),
        "laplace codes": (lambda model, n: _prior_probs(model, Laplace(0.0, 2**-0.5).sample((n, model.latent_dim))),
                          "codes-not-normal"),
        "sizes swapped": (lambda model, n: _prior_probs(model, torch.randn(model.latent_dim, n)), "swapped"),
        "float64 codes": (lambda model, n: _prior_probs(model, torch.randn(n, model.latent_dim, dtype=torch.float64)),
                          "codes-in-another-dtype"),
        "image shape": (lambda model, n: _prior_probs(model, torch.randn(n, model.latent_dim)).reshape(n, 1, 28, 28),
                        "n=5, 784"),
    },
}

ENTRIES = {"1.1": AUTOENCODER_FORWARD, "2.3": ELBO, "3.1": REPARAMETERIZE, "3.2": SCORE_FUNCTION_GRADIENT,
           "4.1": TRAINING_STEP, "4.2": SAMPLE_FROM_PRIOR}
