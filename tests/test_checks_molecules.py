"""Check of notebook 09: the reference and correct-but-different answers pass, and each catalogued
mistake fails with its own hint."""

import inspect
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical

from vae_course import checks
from vae_course.checks import STATUS_ERROR, STATUS_FAILED, STATUS_PASSED, STATUS_TIMEOUT
from vae_course.molecules import losses as molecule_losses
from vae_course.molecules import sequence_elbo, sequence_log_likelihood


def assert_fails_with(result, hint):
    assert result.status == STATUS_FAILED, result.text()
    assert hint in result.hint, result.text()


def logp_of_targets(logits, targets):
    """(B, L) log-probability of each target token."""
    return F.log_softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1)


def flat_cross_entropy(logits, targets, pad):
    b, length, v = logits.shape
    nll = F.cross_entropy(logits.reshape(b * length, v), targets.reshape(-1), reduction="none")
    return -nll.view(b, length).masked_fill(targets == pad, 0.0).sum(dim=1)


CORRECT = {
    "reference": sequence_log_likelihood,
    "cross_entropy with ignore_index": lambda l, t, p: -F.cross_entropy(l.transpose(1, 2), t, ignore_index=p,
                                                                         reduction="none").sum(-1),
    "log_softmax, gather, mask": lambda l, t, p: (logp_of_targets(l, t) * (t != p)).sum(dim=-1),
    "torch.distributions.Categorical": lambda l, t, p: torch.where(t != p, Categorical(logits=l).log_prob(t),
                                                                   torch.zeros(())).sum(1),
    "flattened, masked_fill": flat_cross_entropy,
    "nll_loss on log_softmax": lambda l, t, p: -F.nll_loss(F.log_softmax(l, -1).transpose(1, 2), t, ignore_index=p,
                                                           reduction="none").sum(-1),
    "logits minus logsumexp": lambda l, t, p: ((l.gather(2, t[..., None])[..., 0] - l.logsumexp(-1))
                                               * (t != p).float()).sum(-1),
}


@pytest.mark.parametrize("name", CORRECT)
def test_correct_variants_pass(name):
    result = checks.sequence_log_likelihood(CORRECT[name], allow_reference_calls=True)
    assert result.status == STATUS_PASSED, result.text()


def masked(values, targets, pad):
    return values * (targets != pad)


def picked(values, targets):
    """values (B, L, V) at the target tokens -> (B, L)."""
    return values.gather(2, targets[..., None])[..., 0]


MISTAKES = {
    "wrong sign (cross-entropy)": (lambda l, t, p: F.cross_entropy(l.transpose(1, 2), t, ignore_index=p,
                                                                   reduction="none").sum(-1),
                                   "*minus* the cross-entropy"),
    "padding counted (no ignore_index)": (lambda l, t, p: -F.cross_entropy(l.transpose(1, 2), t,
                                                                           reduction="none").sum(-1),
                                          "pass ignore_index=pad_index"),
    "padding counted, wrong sign": (lambda l, t, p: F.cross_entropy(l.transpose(1, 2), t, reduction="none").sum(-1),
                                    "Two fixes: return minus the cross-entropy, and leave out"),
    "mean over real tokens": (lambda l, t, p: masked(logp_of_targets(l, t), t, p).sum(-1) / (t != p).sum(-1),
                              "don't divide by the length"),
    "mean over all positions": (lambda l, t, p: masked(logp_of_targets(l, t), t, p).mean(-1),
                                "divides by every position, padding included"),
    "mean with padding": (lambda l, t, p: logp_of_targets(l, t).mean(-1),
                          "Sum, don't average, and leave out"),
    "off-by-one shift (teacher-forcing style)": (lambda l, t, p: masked(logp_of_targets(l[:, :-1], t[:, 1:]),
                                                                        t[:, 1:], p).sum(-1),
                                                 "No shift is needed here"),
    "shift the other way": (lambda l, t, p: masked(logp_of_targets(l[:, 1:], t[:, :-1]), t[:, :-1], p).sum(-1),
                            "already predicts targets[:, t]"),
    "probabilities, not log": (lambda l, t, p: masked(torch.softmax(l, -1).gather(2, t[..., None])[..., 0],
                                                      t, p).sum(-1),
                               "Take the log of each token's probability"),
    "logits as log-probabilities": (lambda l, t, p: -F.nll_loss(l.transpose(1, 2), t, ignore_index=p,
                                                                reduction="none").sum(-1),
                                    "Logits are unnormalised scores"),
    "softmax over positions": (lambda l, t, p: masked(F.log_softmax(l, dim=1).gather(2, t[..., None])[..., 0],
                                                      t, p).sum(-1),
                               "over the vocabulary, the last dimension"),
    "softmax over the batch": (lambda l, t, p: masked(F.log_softmax(l, dim=0).gather(2, t[..., None])[..., 0],
                                                      t, p).sum(-1),
                               "over the vocabulary, the last dimension"),
    "padding id hard-coded": (lambda l, t, p: masked(logp_of_targets(l, t), t, 0).sum(-1),
                              "Use the pad_index argument"),
    "default reduction (a scalar)": (lambda l, t, p: -F.cross_entropy(l.transpose(1, 2), t, ignore_index=p),
                                     "reduction='none'"),
    "summed over the batch too": (lambda l, t, p: masked(logp_of_targets(l, t), t, p).sum(),
                                  "reduction='none'"),
    "no sum over positions": (lambda l, t, p: masked(logp_of_targets(l, t), t, p),
                              "Sum the log-probabilities of the real positions"),
    "sum over the batch dimension": (lambda l, t, p: masked(logp_of_targets(l, t), t, p).sum(0),
                                     "You reduced over the batch (dim=0)"),
    "per-token log-softmax returned": (lambda l, t, p: F.log_softmax(l, -1),
                                       "Pick the log-probability of each target token"),
    "cross_entropy without transposing": (lambda l, t, p: -F.cross_entropy(l, t, reduction="none").sum(-1),
                                          "wants the classes in dimension 1"),
    "log of softmax (unstable)": (lambda l, t, p: masked(picked(torch.log(torch.softmax(l, -1)), t), t, p).sum(-1),
                                  "Compute log-probabilities directly"),
    "epsilon in the log": (lambda l, t, p: masked(picked(torch.log(torch.softmax(l, -1) + 1e-12), t), t, p).sum(-1),
                           "Right for moderate logits, wrong for extreme ones"),
    "detached": (lambda l, t, p: sequence_log_likelihood(l.detach(), t, p), "Don't use .detach()"),
    "argmax accuracy": (lambda l, t, p: masked((l.argmax(-1) == t).float(), t, p).sum(-1),
                        "not whether its top guess is right"),
    "<eos> left out": (lambda l, t, p: (logp_of_targets(l, t) * ((t != p) & (t != 1))).sum(-1),
                       "<eos> is a real token of the molecule"),
    "<eos> masked instead of the padding": (lambda l, t, p: masked(logp_of_targets(l, t), t, 1).sum(-1),
                                            "Mask the positions that hold pad_index, not <eos>"),
    "gathered along the positions": (lambda l, t, p: masked(F.log_softmax(l, -1).gather(1, t[..., None])[..., 0],
                                                            t, p).sum(-1),
                                     "gather along dim=1 reads the scores of other positions"),
    "every token's log-probability summed": (lambda l, t, p: (F.log_softmax(l, -1) * (t != p)[..., None]).sum((1, 2)),
                                             "At each position only the true token counts"),
}


@pytest.mark.parametrize("answer, code", [
    (lambda l, t, p: masked(F.log_softmax(l, -1).gather(-1, t), t, p).sum(-1), "gather-index-without-the-last-dimension"),
    (lambda l, t, p: masked(F.log_softmax(l, -1).gather(-1, t[..., None].float())[..., 0], t, p).sum(-1),
     "token-ids-used-as-floats"),
    (lambda l, t, p: masked(F.log_softmax(l, -1).gather(0, t[..., None])[..., 0], t, p).sum(-1),
     "picked-along-the-wrong-dimension"),
    (lambda l, t, p: -F.cross_entropy(l, t, reduction="none").sum(-1), "cross-entropy-classes-not-in-dim-1"),
])
def test_errors_with_a_known_cause_are_named_not_shown_raw(answer, code):
    result = checks.sequence_log_likelihood(answer)
    assert result.status == STATUS_FAILED and result.code == code, result.text()
    assert "Run it on a small input" not in result.hint


@pytest.mark.parametrize("name", MISTAKES)
def test_mistakes_get_their_own_hint(name):
    fn, hint = MISTAKES[name]
    assert_fails_with(checks.sequence_log_likelihood(fn, allow_reference_calls=True), hint)


@pytest.mark.parametrize("answer", [
    sequence_log_likelihood,
    lambda l, t, p: sequence_log_likelihood(l, t, p) + 0.0,
    lambda l, t, p: sequence_elbo(l, t, torch.zeros(len(l), 2), torch.zeros(len(l), 2), pad_index=p),
])
def test_calling_the_course_reference_is_not_an_answer(answer):
    result = checks.sequence_log_likelihood(answer)
    assert result.status == STATUS_FAILED and result.code == "called-reference", result.text()
    assert "vae_course.molecules.losses.sequence_log_likelihood" in result.message


def test_each_catalogued_mistake_has_its_own_message():
    """No two different mistakes end up with the same message (the diagnosis is specific)."""
    messages = {}
    for name, (fn, _) in MISTAKES.items():
        result = checks.sequence_log_likelihood(fn, allow_reference_calls=True)
        messages.setdefault((result.message, result.hint), []).append(name)
    shared = {names[0]: names for names in messages.values() if len(names) > 1}
    assert list(shared.values()) == [["default reduction (a scalar)", "summed over the batch too"]], shared


def test_moderate_logits_pass_before_the_extreme_ones_fail():
    """The naive log(softmax) is right on moderate logits: the message must say the extreme ones break it."""
    fn, _ = MISTAKES["log of softmax (unstable)"]
    result = checks.sequence_log_likelihood(fn)
    assert "uses pad_index" in result.checks
    assert "+-100" in result.message


@pytest.mark.parametrize("value, message", [
    (lambda: None, "is None"),
    (lambda: np.zeros(4, dtype=np.float32), "NumPy array"),
    (lambda: (torch.zeros(4), torch.zeros(4)), "tuple"),
    (lambda: 1.5, "is a float"),
    (lambda: torch.zeros(4, dtype=torch.long), "dtype"),
    (lambda: torch.zeros(2, 3), "wrong shape"),
    (lambda: torch.full((4,), float("nan")), "NaN"),
])
def test_malformed_returns_are_reported(value, message):
    result = checks.sequence_log_likelihood(lambda l, t, p: value())
    assert result.status == STATUS_FAILED
    assert message in result.message, result.text()


def test_not_implemented_exceptions_and_timeouts():
    def stub(l, t, p):
        raise NotImplementedError("Exercise 9.1: stub")

    def broken(l, t, p):
        raise ValueError("boom")

    def slow(l, t, p):
        time.sleep(5)

    result = checks.sequence_log_likelihood(stub)
    assert result.status == STATUS_FAILED and result.code == "not-answered"
    result = checks.sequence_log_likelihood(broken)
    assert result.status == STATUS_ERROR and "raised ValueError: boom" in result.message
    start = time.perf_counter()
    assert checks.sequence_log_likelihood(slow, timeout=0.5).status == STATUS_TIMEOUT
    assert time.perf_counter() - start < 3


def test_registered_for_notebook_09():
    exercise = checks.REGISTRY["9.1"]
    assert exercise.notebook == "09_molecules" and exercise.function == "sequence_log_likelihood"
    assert [e.id for e in checks.exercises_for("09_molecules")] == ["9.1", "9.2"]
    assert checks.REGISTRY["9.2"].uses == ("9.1",)


# --------------------------------------------------------------------------- 9.2 molecule_elbo (its catalogue of
# realistic answers is tests/_catalogue_09.py; here: what the catalogue does not cover)


def elbo_loop(model, tokens, eps, pad_index):
    """A plain correct answer of 9.2 (its sequence_log_likelihood is the one the check binds: 9.1's reference)."""
    mu, logvar = model.encode(tokens)
    total = sum(sequence_log_likelihood(model.decode(mu + torch.exp(0.5 * logvar) * e, tokens), tokens, pad_index)
                for e in eps)
    return total / len(eps) - 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def test_molecule_elbo_passes_whatever_9_1_says():
    """The check binds 9.1's reference in place of the student's: a wrong 9.1 costs no points in 9.2."""
    namespace = {"torch": torch, "sequence_log_likelihood": lambda logits, targets, pad: torch.zeros(len(logits))}
    exec(compile(inspect.getsource(elbo_loop), "<student>", "exec"), namespace)
    result = checks.molecule_elbo(namespace["elbo_loop"])
    assert result.status == STATUS_PASSED, result.text()
    assert namespace["sequence_log_likelihood"](torch.zeros(2, 1, 1), None, 0).tolist() == [0.0, 0.0]  # restored


def test_molecule_elbo_mistakes_have_their_own_messages():
    from _catalogue_09 import MOLECULE_ELBO
    messages = {}
    for name, (fn, _) in MOLECULE_ELBO["wrong"].items():
        result = checks.molecule_elbo(fn)
        messages.setdefault(result.message, []).append(name)
    shared = [names for names in messages.values() if len(names) > 1]
    assert shared == [["z = mu via the model's forward", "z = mu"]], shared


def test_molecule_elbo_stub_errors_and_timeouts():
    def stub(model, tokens, eps, pad_index):
        raise NotImplementedError("Exercise 9.2: stub")

    def broken(model, tokens, eps, pad_index):
        raise KeyError("mu")

    def slow(model, tokens, eps, pad_index):
        time.sleep(5)

    assert checks.molecule_elbo(stub).code == "not-answered"
    result = checks.molecule_elbo(broken)
    assert result.status == STATUS_ERROR and "raised KeyError" in result.message
    assert checks.molecule_elbo(slow, timeout=0.5).status == STATUS_TIMEOUT


def test_the_reference_is_unbiased_and_exact_without_noise():
    """molecule_elbo with eps = 0 is sequence_elbo of the mean code; averaged over many draws it does not drift
    with K (the mean of K log-likelihoods, not their sum or log-mean-exp)."""
    from vae_course.checks.molecules_elbo import _model, _tokens
    model, tokens = _model(), _tokens()
    with torch.no_grad():
        mu, logvar = model.encode(tokens)
        at_mu = molecule_losses.molecule_elbo(model, tokens, torch.zeros(1, *mu.shape))
        assert torch.allclose(at_mu, sequence_elbo(model.decode(mu, tokens), tokens, mu, logvar), atol=1e-5)
        generator = torch.Generator().manual_seed(0)
        draws = torch.randn(4000, *mu.shape, generator=generator)
        one = molecule_losses.molecule_elbo(model, tokens, draws)                     # K = 4000
        fours = torch.stack([molecule_losses.molecule_elbo(model, tokens, d) for d in draws.split(4)])  # K = 4
    assert torch.allclose(fours.mean(0), one, atol=1e-4)
    assert torch.allclose(elbo_loop(model, tokens, draws[:3], 0), molecule_losses.molecule_elbo(model, tokens, draws[:3]),
                          atol=1e-5)

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: Exercises without a float64 case here, and why.
NOT_FLOAT_TENSORS = {"9.1": "checked by its own catalogue in this module"}
#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {"9.2": elbo_loop}
#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py).
DELEGATIONS = {
    ("9.1", "vae_course.molecules.losses.sequence_log_likelihood"):
        lambda logits, targets, pad: molecule_losses.sequence_log_likelihood(logits, targets, pad),
    ("9.2", "vae_course.molecules.losses.molecule_elbo"):
        lambda model, tokens, eps, pad: molecule_losses.molecule_elbo(model, tokens, eps, pad),
    ("9.2", "vae_course.molecules.losses.sequence_elbo"):
        lambda model, tokens, eps, pad: sum(molecule_losses.sequence_elbo(
            model.decode(model.encode(tokens)[0] + (0.5 * model.encode(tokens)[1]).exp() * e, tokens), tokens,
            *model.encode(tokens), pad_index=pad) for e in eps) / len(eps),
}
