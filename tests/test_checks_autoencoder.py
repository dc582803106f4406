"""Checks of notebooks 00 (0.1's gaps) and 01: references pass, each catalogued mistake fails with its own hint."""

import time

import numpy as np
import pytest
import torch

import _catalogue_01
from _solution_lines import printed_solution_lines
from vae_course import checks, losses, metrics
from vae_course.checks import STATUS_ERROR, STATUS_FAILED, STATUS_PASSED, STATUS_TIMEOUT


# --------------------------------------------------------------------------- 1.1 autoencoder_forward

def forward_reference(encoder, decoder, x):
    return torch.sigmoid(decoder(encoder(x)))


FORWARD_CORRECT = {
    "reference": forward_reference,
    "step by step": lambda e, d, x: (lambda z: (lambda logits: 1 / (1 + torch.exp(-logits)))(d(z)))(e(x)),
    "Sequential": lambda e, d, x: torch.nn.Sequential(e, d, torch.nn.Sigmoid())(x),
    "forward methods": lambda e, d, x: d.forward(e.forward(x)).sigmoid(),
    "an extra, unused call": lambda e, d, x: (e(x), d(e(x)), torch.sigmoid(d(e(x))))[2],
}


@pytest.mark.parametrize("name", FORWARD_CORRECT)
def test_forward_correct_variants_pass(name):
    result = checks.autoencoder_forward(FORWARD_CORRECT[name])
    assert result.status == STATUS_PASSED, result.text()


FORWARD_MISTAKES = {
    "no sigmoid": (lambda e, d, x: d(e(x)), "squash them into pixel values in (0, 1)"),
    "sigmoid twice": (lambda e, d, x: torch.sigmoid(torch.sigmoid(d(e(x)))), "Apply torch.sigmoid once"),
    "clamp": (lambda e, d, x: d(e(x)).clamp(0, 1), "Clipping is not the sigmoid"),
    "sigmoid on code": (lambda e, d, x: torch.sigmoid(d(torch.sigmoid(e(x)))), "goes into the decoder as it is"),
    "returns the code": (lambda e, d, x: e(x), "not the code the encoder returned"),
    "decoder twice": (lambda e, d, x: torch.sigmoid(d(d(e(x)))), "Decode exactly once"),
    "decodes the image": (lambda e, d, x: torch.sigmoid(d(x)), "Encode first"),
    "encoder twice": (lambda e, d, x: torch.sigmoid(d(e(x) + e(x))), "Encode exactly once"),
    "detached": (lambda e, d, x: torch.sigmoid(d(e(x))).detach(), "gradients through both networks"),
    "no grad": (lambda e, d, x: forward_with_no_grad(e, d, x), "gradients through both networks"),
}


def forward_with_no_grad(e, d, x):
    with torch.no_grad():
        return torch.sigmoid(d(e(x)))


@pytest.mark.parametrize("name", FORWARD_MISTAKES)
def test_forward_mistakes_get_their_own_hint(name):
    fn, hint = FORWARD_MISTAKES[name]
    result = checks.autoencoder_forward(fn)
    assert result.status == STATUS_FAILED, result.text()
    assert hint in result.hint, result.text()


def test_forward_hints_are_distinct():
    hints = {checks.autoencoder_forward(fn).hint for name, (fn, _) in FORWARD_MISTAKES.items()
             if name not in ("detached", "no grad")}
    assert len(hints) == len(FORWARD_MISTAKES) - 2


def test_forward_never_calling_the_encoder_is_named():
    result = checks.autoencoder_forward(lambda e, d, x: torch.sigmoid(d(torch.zeros(len(x), 3))))
    assert result.status == STATUS_FAILED
    assert "never calls the encoder" in result.message


# --------------------------------------------------------------------------- 1.2 mse_loss

MSE_CORRECT = {
    "reference": losses.mse,
    "pow mean": lambda x_hat, x: ((x_hat - x) ** 2).mean(dim=1),
    "functional": lambda x_hat, x: torch.nn.functional.mse_loss(x_hat, x, reduction="none").mean(-1),
    "sum divided": lambda x_hat, x: (x - x_hat).square().sum(1) / x.shape[1],
}


@pytest.mark.parametrize("name", MSE_CORRECT)
def test_mse_correct_variants_pass(name):
    result = checks.mse_loss(MSE_CORRECT[name], allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


MSE_MISTAKES = {
    "sum": (lambda a, b: ((a - b) ** 2).sum(1), "divides the sum over the pixels"),
    "abs": (lambda a, b: (a - b).abs().mean(1), "don't take their absolute value"),
    "no square": (lambda a, b: (a - b).mean(1), "positive and negative errors cancel"),
    "rmse": (lambda a, b: ((a - b) ** 2).mean(1).sqrt(), "Don't take the square root"),
    "square of sum": (lambda a, b: (a - b).sum(1) ** 2 / 784, "Square each pixel's difference first"),
    "batch mean": (lambda a, b: ((a - b) ** 2).mean(), "not over everything"),
    "F.mse_loss default": (lambda a, b: torch.nn.functional.mse_loss(a, b), "not over everything"),
    "swapped dim": (lambda a, b: ((a - b) ** 2).mean(0), "You averaged over the batch (dim=0)"),
    "detached": (lambda a, b: ((a - b) ** 2).mean(1).detach(), "Don't use .detach()"),
}


@pytest.mark.parametrize("name", MSE_MISTAKES)
def test_mse_mistakes_get_their_own_hint(name):
    fn, hint = MSE_MISTAKES[name]
    result = checks.mse_loss(fn)
    assert result.status == STATUS_FAILED, result.text()
    assert hint in result.hint, result.text()


# --------------------------------------------------------------------------- malformed answers

CHECKS = [(checks.autoencoder_forward, 3), (checks.mse_loss, 2)]


def _taking(n_args, value):
    return (lambda a, b, c: value(a, b, c)) if n_args == 3 else (lambda a, b: value(a, b))


@pytest.mark.parametrize("check, n_args", CHECKS)
@pytest.mark.parametrize("value, message", [
    (lambda *a: None, "is None"),
    (lambda *a: np.zeros((4, 784), dtype=np.float32), "NumPy array"),
    (lambda *a: (torch.zeros(4, 784), torch.zeros(4)), "tuple"),
    (lambda *a: 0.5, "is a float"),
    (lambda *a: torch.zeros(4, 784, dtype=torch.long), "dtype"),
    (lambda *a: torch.zeros(2, 7), "wrong shape"),
])
def test_malformed_returns_are_reported(check, n_args, value, message):
    result = check(_taking(n_args, value))
    assert result.status == STATUS_FAILED
    assert message in result.message, result.text()


@pytest.mark.parametrize("check, n_args", CHECKS)
def test_not_implemented_and_exceptions(check, n_args):
    def stub(*args):
        raise NotImplementedError("Exercise: stub")

    def broken(*args):
        raise RuntimeError("boom")

    assert check(stub).status == STATUS_FAILED and check(stub).code == "not-answered"
    result = check(broken)
    assert result.status == STATUS_ERROR and "raised RuntimeError" in result.message


@pytest.mark.parametrize("check, n_args", CHECKS)
def test_slow_functions_time_out(check, n_args):
    def slow(*args):
        time.sleep(5)

    start = time.perf_counter()
    result = check(slow, timeout=0.5)
    assert result.status == STATUS_TIMEOUT
    assert time.perf_counter() - start < 3


def test_nan_is_reported_for_mse():
    result = checks.mse_loss(lambda a, b: ((a - b) ** 2).mean(1) * float("nan"))
    assert result.status == STATUS_FAILED and "NaN" in result.message

# --------------------------------------------------------------------------- 1.3 blur_decomposition

BLUR = _catalogue_01.BLUR_DECOMPOSITION


def test_blur_reference_passes():
    result = checks.blur_decomposition(metrics.blur_decomposition, allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


@pytest.mark.parametrize("name", BLUR["correct"])
def test_blur_correct_variants_pass(name):
    result = checks.blur_decomposition(BLUR["correct"][name])
    assert result.status == STATUS_PASSED, result.text()


@pytest.mark.parametrize("name", BLUR["wrong"])
def test_blur_mistakes_are_named(name):
    fn, needle = BLUR["wrong"][name]
    result = checks.blur_decomposition(fn)
    assert result.status == STATUS_FAILED, result.text()
    assert needle in result.message + " " + result.hint or result.code == needle, result.text()


def test_blur_value_mistakes_get_distinct_hints():
    values_stage = [name for name, (_, needle) in BLUR["wrong"].items() if "-" not in needle]
    hints = {checks.blur_decomposition(BLUR["wrong"][name][0]).hint for name in values_stage}
    assert len(hints) == len(values_stage)


def test_blur_reference_columns_add_up_and_the_mean_is_optimal():
    torch.manual_seed(0)
    candidates = torch.rand(3, 6, 784)
    mean = candidates.mean(1)
    for prediction in (torch.rand(3, 784), mean):
        parts = metrics.blur_decomposition(candidates, prediction)
        assert torch.allclose(parts[:, 0], parts[:, 1] + parts[:, 2], atol=1e-6)
    assert torch.allclose(metrics.blur_decomposition(candidates, mean)[:, 2], torch.zeros(3), atol=1e-12)


@pytest.mark.parametrize("value, message", [
    (lambda: None, "is None"),
    (lambda: np.zeros((4, 3), dtype=np.float32), "NumPy array"),
    (lambda: (torch.zeros(4), torch.zeros(4), torch.zeros(4)), "tuple"),
    (lambda: torch.zeros(4, 3, dtype=torch.long), "dtype"),
    (lambda: torch.zeros(2, 7), "wrong shape"),
    (lambda: torch.full((4, 3), float("nan")), "NaN"),
])
def test_blur_malformed_returns_are_reported(value, message):
    result = checks.blur_decomposition(lambda candidates, prediction: value())
    assert result.status == STATUS_FAILED and message in result.message, result.text()


# --------------------------------------------------------------------------- 0.1: the mean over the pixels is named

@pytest.mark.parametrize("name", _catalogue_01.GAPS["0.1"])
def test_average_over_the_pixels_is_named(name):
    fn, needle = _catalogue_01.GAPS["0.1"][name]
    result = checks.average_image(fn)
    assert result.code == "averaged-over-the-pixels", result.text()
    assert needle in result.message + " " + result.hint or needle == result.code, result.text()


# --------------------------------------------------------------------------- hints teach the idea

def test_no_failure_prints_a_solution_line():
    """No failure of 0.1, 1.1, 1.2 or 1.3 prints a line of the notebooks' answers (tests/_catalogue_*.py)."""
    import test_checks_catalogue

    for ex_id, stem in (("0.1", "00_welcome"), ("1.1", "01_autoencoders"), ("1.2", "01_autoencoders"),
                        ("1.3", "01_autoencoders")):
        check = getattr(checks, checks.REGISTRY[ex_id].function)
        for fn, _ in test_checks_catalogue.CATALOGUE[ex_id]["wrong"].values():
            text = check(fn, allow_reference_calls=True).text()
            assert not printed_solution_lines(text, stem), text


# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "1.1": lambda encoder, decoder, x: torch.sigmoid(decoder(encoder(x))),
    "1.2": lambda x_hat, x: ((x_hat - x) ** 2).mean(dim=1),
    "1.3": _catalogue_01.BLUR_DECOMPOSITION["correct"]["direct"],
}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("1.2", "vae_course.losses.mse"): lambda x_hat, x: losses.mse(x_hat, x),
    ("1.3", "vae_course.metrics.blur_decomposition"): lambda c, p: metrics.blur_decomposition(c, p),
    ("0.1", "vae_course.metrics.average_image"): lambda images: metrics.average_image(images),
}
