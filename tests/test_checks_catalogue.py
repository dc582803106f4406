"""Diagnosis coverage, measured (issue 11 item 5): realistic wrong answers and differently written correct ones.

For each exercise in ``CATALOGUE``: every wrong answer must be rejected *and* its message (with the
hint) must name that very mistake - each entry gives a phrase the text must contain, or the code the
result must carry; every correct answer must pass. ``python tests/test_checks_catalogue.py`` prints
the coverage per exercise (named / rejected / total wrong, correct accepted).

The entries live beside this file, one module per notebook or group (``tests/_catalogue_01_04.py``,
``_catalogue_05_08.py``, ``_catalogue_01.py`` ... ``_catalogue_09.py``), each merged into ``CATALOGUE`` below;
the class exercises 3.3, 4.3 and 4.4 keep theirs in ``tests/test_checks_building.py``. Each wrong answer's
feedback must also not print a line of the exercise's solution.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

import _catalogue_01
import _catalogue_01_04
import _catalogue_02
import _catalogue_03
import _catalogue_05
import _catalogue_05_08
import _catalogue_05b
import _catalogue_06
import _catalogue_07
import _catalogue_08
import _catalogue_09
from vae_course import checks
from vae_course.conventions import CODE_BEGIN, CODE_END
from vae_course.notebooks import exercise_id
from vae_course.results import exercise_key


def _kl_terms(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv)


def _chunked_mean(images):
    total = torch.zeros(images.shape[1])
    for chunk in images.split(4):
        total = total + chunk.sum(dim=0)
    return total / len(images)


def _t(t, z0):
    """t as a float, or a (T,) tensor shaped to broadcast time-first against z0."""
    return t.reshape(-1, *[1] * z0.dim()) if torch.is_tensor(t) and t.dim() == 1 else t


def _lerp_unsqueeze(z0, z1, t):
    if torch.is_tensor(t):
        for _ in range(z0.dim()):
            t = t.unsqueeze(-1)
    return (1 - t) * z0 + t * z1


def _probs(model, x):
    return torch.sigmoid(model.decode(model.encode(x)[0]))


def _sampled_probs(model, x):
    mu, logvar = model.encode(x)
    return torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)))


def _inpaint_no_grad(model, x_known, mask, x_current):
    with torch.no_grad():
        mu, _ = model.encode(x_current)
        filled = torch.sigmoid(model.decode(mu))
    return mask * x_known + (1 - mask) * filled


def _logmeanexp_by_hand(lw):
    top = lw.max(dim=1, keepdim=True).values
    return top.squeeze(1) + torch.log(torch.exp(lw - top).mean(dim=1))


# {exercise id: {"correct": {name: fn}, "wrong": {name: (fn, phrase or code the result must name)}}}
CATALOGUE = {
    "0.1": {
        "correct": {
            "torch.mean": lambda images: torch.mean(images, dim=0),
            "sum over count": lambda images: images.sum(dim=0) / images.shape[0],
            "matrix product": lambda images: (torch.ones(1, len(images)) @ images / len(images)).squeeze(0),
            "chunks": _chunked_mean,
            "transposed": lambda images: images.T.mean(dim=1),
        },
        "wrong": {
            "sum": (lambda images: images.sum(dim=0), "a sum instead of a mean"),
            "max": (lambda images: images.max(dim=0).values, "maximum"),
            "mean over pixels": (lambda images: images.mean(dim=1), "not over the pixels (dim=1)"),
            "median": (lambda images: images.median(dim=0).values, "median"),
            "keepdim": (lambda images: images.mean(dim=0, keepdim=True), "keepdim"),
            "divided by the pixel count": (lambda images: images.sum(dim=0) / images.shape[1], "number of pixels"),
            "divided by B - 1": (lambda images: images.sum(dim=0) / (len(images) - 1), "B - 1"),
            "mean of everything": (lambda images: images.mean(), "single number"),
            "first image": (lambda images: images[0], "first image"),
            "standard deviation": (lambda images: images.std(dim=0), "standard deviation"),
            "floor division": (lambda images: images.sum(dim=0) // len(images), "floor division"),
            "all-pixel mean repeated": (lambda images: images.mean().expand(784), "mean of all pixels"),
            "numpy": (lambda images: images.numpy().mean(0), "returned-numpy"),
        },
    },
    "1.2": {
        "correct": {
            "F.mse_loss none": lambda x_hat, x: F.mse_loss(x_hat, x, reduction="none").mean(dim=1),
            "sum over count": lambda x_hat, x: (x_hat - x).pow(2).sum(dim=1) / x.shape[1],
            "other order": lambda x_hat, x: torch.mean((x - x_hat) ** 2, dim=-1),
            "product": lambda x_hat, x: ((x_hat - x) * (x_hat - x)).mean(1),
            "float64": lambda x_hat, x: ((x_hat.double() - x.double()) ** 2).mean(1),
        },
        "wrong": {
            "sum": (lambda x_hat, x: ((x_hat - x) ** 2).sum(1), "sum over pixels instead of a mean"),
            "absolute": (lambda x_hat, x: (x_hat - x).abs().mean(1), "mean absolute error"),
            "no square": (lambda x_hat, x: (x_hat - x).mean(1), "without a square"),
            "root": (lambda x_hat, x: ((x_hat - x) ** 2).mean(1).sqrt(), "root mean squared error"),
            "square of the sum": (lambda x_hat, x: (x_hat - x).sum(1) ** 2 / 784, "squared *sum*"),
            "scalar": (lambda x_hat, x: ((x_hat - x) ** 2).mean(), "single number"),
            "F.mse_loss default": (lambda x_hat, x: F.mse_loss(x_hat, x), "single number"),
            "over the batch": (lambda x_hat, x: ((x_hat - x) ** 2).mean(0), "averaged over the batch"),
            "keepdim": (lambda x_hat, x: ((x_hat - x) ** 2).mean(1, keepdim=True), "keepdim"),
            "half": (lambda x_hat, x: 0.5 * ((x_hat - x) ** 2).mean(1), "half the mean squared error"),
            "detached": (lambda x_hat, x: ((x_hat - x) ** 2).mean(1).detach(), "no-gradient"),
            "binary cross-entropy": (lambda x_hat, x: F.binary_cross_entropy(x_hat, x, reduction="none").mean(1),
                                     "binary cross-entropy"),
            "difference of squares": (lambda x_hat, x: (x_hat**2 - x**2).mean(1), "difference of the squares"),
        },
    },
    "2.2": {
        "correct": {
            "logsigmoid": lambda l, x: (x * F.logsigmoid(l) + (1 - x) * F.logsigmoid(-l)).sum(1),
            "softplus": lambda l, x: (x * l - F.softplus(l)).sum(dim=-1),
            "distributions": lambda l, x: torch.distributions.Bernoulli(logits=l).log_prob(x).sum(1),
            "float64": lambda l, x: -F.binary_cross_entropy_with_logits(l.double(), x.double(),
                                                                        reduction="none").sum(1),
        },
        "wrong": {
            "positive BCE": (lambda l, x: F.binary_cross_entropy_with_logits(l, x, reduction="none").sum(1), "sign"),
            "mean over pixels": (lambda l, x: -F.binary_cross_entropy_with_logits(l, x, reduction="none").mean(1),
                                 "mean"),
            "over the batch": (lambda l, x: -F.binary_cross_entropy_with_logits(l, x, reduction="none").sum(0),
                               "reduced over the batch"),
            "scalar": (lambda l, x: -F.binary_cross_entropy_with_logits(l, x, reduction="sum"), "single number"),
            "naive logs": (lambda l, x: (x * torch.log(torch.sigmoid(l)) + (1 - x) * torch.log(1 - torch.sigmoid(l))
                                         ).sum(1), "logits"),
            "sigmoid twice": (lambda l, x: -F.binary_cross_entropy_with_logits(torch.sigmoid(l), x,
                                                                               reduction="none").sum(1), "sigmoid"),
            "arguments swapped": (lambda l, x: -F.binary_cross_entropy_with_logits(x, l, reduction="none").sum(1),
                                  "swapped"),
            "only the x term": (lambda l, x: (x * F.logsigmoid(l)).sum(1), "(1 - x)"),
            "squared error": (lambda l, x: -((torch.sigmoid(l) - x) ** 2).sum(1), "squared error"),
            "logits as log-probabilities": (lambda l, x: (x * l + (1 - x) * (1 - l)).sum(1), "not log-probabilities"),
        },
    },
    "2.1": {
        "correct": {
            "distributions": lambda mu, lv: kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0)).sum(1),
            "sigma squared": lambda mu, lv: 0.5 * (mu.pow(2) + (0.5 * lv).exp() ** 2 - 1 - lv).sum(-1),
            "minus half": lambda mu, lv: -0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=1),
            "float64": lambda mu, lv: _kl_terms(mu.double(), lv.double()).sum(1),
        },
        "wrong": {
            "sign": (lambda mu, lv: -_kl_terms(mu, lv).sum(1), "sign"),
            "no 1/2": (lambda mu, lv: 2 * _kl_terms(mu, lv).sum(1), "1/2"),
            "std for variance": (lambda mu, lv: (0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv)).sum(1),
                                 "standard deviation"),
            "over the batch": (lambda mu, lv: _kl_terms(mu, lv).sum(0), "latent dimension"),
            "mean over dimensions": (lambda mu, lv: _kl_terms(mu, lv).mean(1), "averaged over latent dimensions"),
            "no -1": (lambda mu, lv: (0.5 * (mu**2 + lv.exp() - lv)).sum(1), "- 1"),
            "no - logvar": (lambda mu, lv: (0.5 * (mu**2 + lv.exp() - 1)).sum(1), "without the - logvar"),
            "mu for mu^2": (lambda mu, lv: (0.5 * (mu + lv.exp() - 1 - lv)).sum(1), "mu^2"),
            "reverse KL": (lambda mu, lv: (0.5 * ((1 + mu**2) / lv.exp() - 1 + lv)).sum(1), "wrong direction"),
            "logvar read as log sigma": (lambda mu, lv: (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).sum(1),
                                         "log(sigma)"),
            "scalar": (lambda mu, lv: _kl_terms(mu, lv).sum(), "single number"),
            "batch mean": (lambda mu, lv: _kl_terms(mu, lv).sum(1).mean(), "batch average comes later"),
        },
    },
    "5.1": {
        "correct": {
            "offset form": lambda z0, z1, t: z0 + _t(t, z0) * (z1 - z0),
            "torch.lerp": lambda z0, z1, t: torch.lerp(z0, z1, _t(t, z0)),
            "unsqueeze loop": lambda z0, z1, t: _lerp_unsqueeze(z0, z1, t),
            "float64": lambda z0, z1, t: (1 - _t(t, z0)) * z0.double() + _t(t, z0) * z1.double(),
        },
        "wrong": {
            "reversed t": (lambda z0, z1, t: _t(t, z0) * z0 + (1 - _t(t, z0)) * z1, "in reverse"),
            "both times t": (lambda z0, z1, t: _t(t, z0) * z0 + _t(t, z0) * z1, "t on both codes"),
            "z0 plus t z1": (lambda z0, z1, t: z0 + _t(t, z0) * z1, "z0 + t * z1"),
            "no t on z1": (lambda z0, z1, t: (1 - _t(t, z0)) * z0 + z1, "factor t on z1 is missing"),
            "midpoint": (lambda z0, z1, t: ((z0 + z1) / 2) * torch.ones_like(_t(t, z0) * z0), "midpoint"),
            "difference reversed": (lambda z0, z1, t: z0 + _t(t, z0) * (z0 - z1), "wrong direction"),
            "t squared": (lambda z0, z1, t: (1 - _t(t, z0) ** 2) * z0 + _t(t, z0) ** 2 * z1, "t^2"),
            "time last": (lambda z0, z1, t: ((1 - _t(t, z0)) * z0 + _t(t, z0) * z1).movedim(0, -1)
                          if torch.is_tensor(t) else (1 - t) * z0 + t * z1, "time dimension came out last"),
            "normalised": (lambda z0, z1, t: F.normalize((1 - _t(t, z0)) * z0 + _t(t, z0) * z1, dim=-1),
                           "normalised result"),
            "z1 to z0": (lambda z0, z1, t: (1 - _t(t, z0)) * z1 + _t(t, z0) * z0, "in reverse"),
            "sum not blend": (lambda z0, z1, t: z0 + z1 + 0 * _t(t, z0), "the sum z0 + z1"),
        },
    },
    "5.3": {
        "correct": {
            "torch.mean": lambda a, b: torch.mean(a, dim=0) - torch.mean(b, dim=0),
            "sums over counts": lambda a, b: a.sum(0) / len(a) - b.sum(0) / len(b),
            "keepdim then squeeze": lambda a, b: (a.mean(0, keepdim=True) - b.mean(0, keepdim=True)).squeeze(0),
            "float64": lambda a, b: a.double().mean(0) - b.double().mean(0),
        },
        "wrong": {
            "reversed": (lambda a, b: b.mean(0) - a.mean(0), "reversed sign"),
            "sums": (lambda a, b: a.sum(0) - b.sum(0), "sum instead of a mean"),
            "with alone": (lambda a, b: a.mean(0), "mean of z_with alone"),
            "unit vector": (lambda a, b: F.normalize(a.mean(0) - b.mean(0), dim=0), "unit vector"),
            "per image": (lambda a, b: a - b, "one vector per image"),
            "scalar": (lambda a, b: a.mean() - b.mean(), ".mean() without dim"),
            "over dimensions": (lambda a, b: a.mean(1) - b.mean(1), "dim=1 averages over the latent dimensions"),
            "midpoint": (lambda a, b: (a.mean(0) + b.mean(0)) / 2, "midpoint"),
            "sum of means": (lambda a, b: a.mean(0) + b.mean(0), "sum of the two mean codes"),
            "median": (lambda a, b: a.median(0).values - b.median(0).values, "median"),
            "without twice": (lambda a, b: b.mean(0) - b.mean(0), "zero vector"),
            "pooled mean": (lambda a, b: a.mean(0) - torch.cat([a, b]).mean(0), "all codes together"),
        },
    },
    "6.2": {
        "correct": {
            "where": lambda model, known, mask, cur: torch.where(
                mask.bool(), known, torch.sigmoid(model.decode(model.encode(cur)[0]))),
            "current's known pixels": lambda model, known, mask, cur: (
                mask * cur + (1 - mask) * torch.sigmoid(model.decode(model.encode(cur)[0]))),
            "no grad, unpacked": lambda model, known, mask, cur: _inpaint_no_grad(model, known, mask, cur),
            "float64 blend": lambda model, known, mask, cur: (
                mask.double() * known.double()
                + (1 - mask.double()) * torch.sigmoid(model.decode(model.encode(cur)[0])).double()),
        },
        "wrong": {
            "mask reversed": (lambda model, known, mask, cur: (1 - mask) * known + mask * _probs(model, cur),
                              "wrong way round"),
            "not clamped": (lambda model, known, mask, cur: _probs(model, cur), "not clamped"),
            "logits filled": (lambda model, known, mask, cur: mask * known + (1 - mask) * model.decode(
                model.encode(cur)[0]), "logits in the missing pixels"),
            "raw logits": (lambda model, known, mask, cur: model.decode(model.encode(cur)[0]), "unclamped logits"),
            "x_known encoded": (lambda model, known, mask, cur: mask * known + (1 - mask) * _probs(model, known),
                                "x_known instead of x_current"),
            "sampled code": (lambda model, known, mask, cur: mask * known + (1 - mask) * _sampled_probs(model, cur),
                             "sampled code"),
            "binarised": (lambda model, known, mask, cur: (mask * known
                                                           + (1 - mask) * (_probs(model, cur) > 0.5).float()),
                          "rounded to 0 or 1"),
            "no update": (lambda model, known, mask, cur: cur.clone(), "x_current returned unchanged"),
            "known pixels dropped": (lambda model, known, mask, cur: (1 - mask) * _probs(model, cur),
                                     "known pixels are missing"),
            "no (1 - mask)": (lambda model, known, mask, cur: mask * known + _probs(model, cur),
                              "without (1 - mask)"),
            "one image": (lambda model, known, mask, cur: (mask * known + (1 - mask) * _probs(model, cur))[0],
                          "full image per input"),
            "averaged with the current": (lambda model, known, mask, cur: 0.5 * cur + 0.5 * (
                mask * known + (1 - mask) * _probs(model, cur)), "averaged with x_current"),
        },
    },
    "7.1": {
        "correct": {
            "distributions": lambda mu, lv: kl_divergence(Normal(mu, (0.5 * lv).exp()), Normal(0.0, 1.0)).mean(0),
            "sum over count": lambda mu, lv: _kl_terms(mu, lv).sum(dim=0) / mu.shape[0],
            "sigma squared": lambda mu, lv: (0.5 * (mu**2 + (0.5 * lv).exp() ** 2 - torch.log((0.5 * lv).exp() ** 2)
                                                    - 1)).mean(0),
            "float64": lambda mu, lv: _kl_terms(mu.double(), lv.double()).mean(0),
        },
        "wrong": {
            "sum over the batch": (lambda mu, lv: _kl_terms(mu, lv).sum(0), "sum over the batch"),
            "no 1/2": (lambda mu, lv: 2 * _kl_terms(mu, lv).mean(0), "without the factor 1/2"),
            "sign": (lambda mu, lv: -_kl_terms(mu, lv).mean(0), "sign flipped"),
            "std for variance": (lambda mu, lv: (0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv)).mean(0),
                                 "standard deviation where the variance belongs"),
            "per example": (lambda mu, lv: _kl_terms(mu, lv).sum(1), "not over the latent dimensions"),
            "scalar": (lambda mu, lv: _kl_terms(mu, lv).sum(1).mean(), "single number"),
            "not reduced": (lambda mu, lv: _kl_terms(mu, lv), "Average over the batch"),
            "no -1": (lambda mu, lv: (0.5 * (mu**2 + lv.exp() - lv)).mean(0), "without the - 1"),
            "no - logvar": (lambda mu, lv: (0.5 * (mu**2 + lv.exp() - 1)).mean(0), "without the - logvar"),
            "logvar for variance": (lambda mu, lv: (0.5 * (mu**2 + lv - 1 - lv)).mean(0),
                                    "logvar where the variance exp(logvar) belongs"),
            "mu for mu^2": (lambda mu, lv: (0.5 * (mu + lv.exp() - 1 - lv)).mean(0), "mu where mu^2 belongs"),
            "reverse KL": (lambda mu, lv: (0.5 * ((1 + mu**2) / lv.exp() - 1 + lv)).mean(0), "wrong direction"),
            "logvar read as log sigma": (lambda mu, lv: (0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv)).mean(0),
                                         "log sigma"),
        },
    },
    "8.1": {
        "correct": {
            "max trick by hand": _logmeanexp_by_hand,
            "logsumexp minus log K": lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]),
            "log of K as a tensor": lambda lw: torch.logsumexp(lw, dim=-1) - torch.log(torch.tensor(float(lw.size(1)))),
            "logsumexp of shifted": lambda lw: torch.logsumexp(lw - math.log(lw.shape[1]), dim=1),
        },
        "wrong": {
            "mean of log-weights": (lambda lw: lw.mean(1), "the ELBO"),
            "no - log K": (lambda lw: torch.logsumexp(lw, 1), "without the - log K"),
            "minus K": (lambda lw: torch.logsumexp(lw, 1) - lw.shape[1], "minus K"),
            "max": (lambda lw: lw.max(1).values, "largest log-weight"),
            "over the samples of the batch": (lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0]),
                                              "reduce over dim=1, not dim=0"),
            "averaged over the batch": (lambda lw: (torch.logsumexp(lw, 1) - math.log(lw.shape[1])).mean(),
                                        "don't average over the batch"),
            "naive log-mean-exp": (lambda lw: torch.log(torch.exp(lw).mean(1)), "torch.logsumexp"),
            "minus log (K - 1)": (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1] - 1), "log(K - 1)"),
            "mean of exp without the log": (lambda lw: torch.exp(lw).mean(1), "without the log"),
            "log of the mean weight, max trick missing the max": (
                lambda lw: torch.log(torch.exp(lw - lw.max(1, keepdim=True).values).mean(1)), "add the maximum back"),
            "divided by K": (lambda lw: torch.logsumexp(lw, 1) / lw.shape[1], "divided by K"),
            "log K added": (lambda lw: torch.logsumexp(lw, 1) + math.log(lw.shape[1]), "+ log K"),
        },
    },
}
CATALOGUE.update(_catalogue_01_04.ENTRIES)
CATALOGUE.update(_catalogue_05_08.ENTRIES)
CATALOGUE.update(_catalogue_01.entries(CATALOGUE) | _catalogue_02.entries(CATALOGUE))
CATALOGUE.update({**_catalogue_03.ENTRIES, **_catalogue_05.entries(CATALOGUE)})
_catalogue_06.merge_into(CATALOGUE)
_catalogue_07.merge_into(CATALOGUE)
_catalogue_08.register(CATALOGUE)
CATALOGUE.update(_catalogue_09.ENTRIES)
CATALOGUE.update(_catalogue_05b.ENTRIES)

# The first optimizer of a process imports torch._dynamo (seconds, more on a loaded machine): do it here,
# not inside the 10 s time limit of the first training-step check.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def _check(ex_id):
    return getattr(checks, checks.REGISTRY[ex_id].function)


def _names(result, needle: str) -> bool:
    return needle in (result.message + " " + result.hint) or result.code == needle


CORRECT = [(ex, name) for ex, entry in CATALOGUE.items() for name in entry["correct"]]
WRONG = [(ex, name) for ex, entry in CATALOGUE.items() for name in entry["wrong"]]


@pytest.mark.parametrize("ex_id, name", CORRECT, ids=[f"{e}-{n}" for e, n in CORRECT])
def test_correct_answers_pass(ex_id, name):
    result = _check(ex_id)(CATALOGUE[ex_id]["correct"][name])
    assert result.passed, result.text()


@pytest.mark.parametrize("ex_id, name", WRONG, ids=[f"{e}-{n}" for e, n in WRONG])
def test_wrong_answers_fail_and_are_named(ex_id, name):
    fn, needle = CATALOGUE[ex_id]["wrong"][name]
    result = _check(ex_id)(fn)
    assert not result.passed, f"{name}: accepted"
    assert _names(result, needle), f"{name}: {needle!r} not in: {result.text()}"
    given_away = [line for line in _solution_lines(ex_id) if line in result.text()]
    assert not given_away, f"{name}: the feedback prints a line of the solution: {given_away}"


@functools.cache
def _solution_lines(ex_id: str) -> tuple:
    """The lines (12+ characters) of Exercise ``ex_id``'s answer in its solution notebook."""
    from test_student_notebooks import MIN_LENGTH

    entry = checks.REGISTRY[ex_id]
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "solutions" / f"{entry.notebook}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and exercise_id(c) == ex_id)
    region = cell.source.split(CODE_BEGIN, 1)[1].split(CODE_END, 1)[0]
    return tuple(line.strip() for line in region.splitlines()
                 if len(line.strip()) >= MIN_LENGTH and not line.strip().startswith("#"))


def test_every_catalogued_exercise_has_ten_wrong_and_three_correct_answers():
    for ex_id, entry in CATALOGUE.items():
        assert len(entry["wrong"]) >= 10 and len(entry["correct"]) >= 3, ex_id


def coverage() -> list[tuple]:
    """(exercise, named, rejected, wrong, correct accepted, correct) for each catalogued exercise."""
    rows = []
    for ex_id in sorted(CATALOGUE, key=exercise_key):
        entry, check = CATALOGUE[ex_id], _check(ex_id)
        results = [(check(fn), needle) for fn, needle in entry["wrong"].values()]
        rejected = sum(not r.passed for r, _ in results)
        named = sum(not r.passed and _names(r, needle) for r, needle in results)
        accepted = sum(check(fn).passed for fn in entry["correct"].values())
        rows.append((ex_id, named, rejected, len(results), accepted, len(entry["correct"])))
    return rows


if __name__ == "__main__":
    print("exercise  named/rejected/wrong  correct accepted")
    for ex_id, named, rejected, total, accepted, n_correct in coverage():
        print(f"{ex_id:8}  {named}/{rejected}/{total}  {accepted}/{n_correct}")
