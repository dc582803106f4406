"""Integrity: an answer that delegates to the course's own reference of the exercise fails with a clear message.

The package's references (``vae_course.losses.elbo``, ``latent.slerp``, ...) record their calls while a
check runs the student's function; the exercise's ``delegates`` say which of them do its work. A
reference the *check* injects for a dependent exercise (2.3 runs with the references of 2.1 and 2.2)
never counts, and a teacher can allow delegation (``allow_reference_calls``, ``--allow-reference-calls``).
"""

import importlib
import inspect

import pytest
import torch

from _exercise_data import gathered
from hostile import submissions as hostile
from vae_course import checks, latent, losses, references
from vae_course.grading import integrity
from vae_course.results import Code, Status


# One delegating answer per (exercise, reference), from the exercise's own test module (tests/_exercise_data.py):
# the reference called with the exercise's own arguments, or, where the signatures differ, the way a student
# would reach for it.
DELEGATIONS = gathered("DELEGATIONS")


def _check(ex_id):
    return getattr(checks, checks.REGISTRY[ex_id].function)


def test_every_delegate_is_a_marked_reference_and_every_one_has_a_case():
    named = {(ex_id, name) for ex_id, entry in checks.REGISTRY.items() for name in entry.delegates}
    assert named == set(DELEGATIONS)
    for entry in checks.REGISTRY.values():
        for name, function in zip(entry.delegates, entry.delegate_functions()):
            assert function is not None, f"{entry.id}: cannot resolve {name}"
            assert function.reference_name == name


@pytest.mark.parametrize("ex_id, reference", sorted(DELEGATIONS), ids=lambda v: str(v))
def test_delegating_to_the_reference_fails_and_names_it(ex_id, reference):
    result = _check(ex_id)(DELEGATIONS[(ex_id, reference)])
    assert (result.status, result.code) == (Status.FAILED, Code.CALLED_REFERENCE), result.text()
    assert f"you called `{reference}`" in result.message and "write it yourself" in result.message
    assert result.points == 0


def test_indirect_delegation_is_seen():
    def elbo(logits, x, mu, logvar):
        return getattr(importlib.import_module("vae_course.losses"), "elbo")(logits, x, mu, logvar)

    result = checks.elbo(elbo)
    assert result.code == Code.CALLED_REFERENCE and "`vae_course.losses.elbo`" in result.message


def test_a_delegation_that_also_gives_wrong_values_is_named_as_delegation():
    result = checks.slerp(lambda z0, z1, t: latent.slerp(z0, z1, 1 - t if isinstance(t, float) else 1 - t))
    assert result.code == Code.CALLED_REFERENCE


def test_references_injected_by_the_check_do_not_count():
    """2.3's check puts the references of 2.1 and 2.2 where the student's functions are: calling them is fine,
    even when the student's namespace got them from the package (``from vae_course.losses import gaussian_kl``)."""
    namespace = {"gaussian_kl": losses.gaussian_kl, "bernoulli_log_likelihood": losses.bernoulli_log_likelihood}
    exec("def elbo(logits, x, mu, logvar):\n"
         "    return bernoulli_log_likelihood(logits, x) - gaussian_kl(mu, logvar)\n", namespace)
    result = checks.elbo(namespace["elbo"])
    assert result.passed, result.text()
    assert namespace["gaussian_kl"] is losses.gaussian_kl  # the student's names come back


def test_the_teacher_can_allow_delegation_and_the_note_says_so():
    result = checks.slerp(lambda z0, z1, t: latent.slerp(z0, z1, t), allow_reference_calls=True)
    assert result.passed, result.text()
    assert any("`vae_course.latent.slerp`" in note and "allowed by your teacher" in note for note in result.notes)


def test_own_answers_and_other_package_functions_are_not_delegation():
    own = checks.slerp(_own_slerp)
    assert own.passed, own.text()
    # 6.1 may use the KL of notebook 02 from the package: only anomaly_score itself is this exercise's answer
    score = checks.anomaly_score(lambda model, x: _score_with_package_kl(model, x))
    assert score.passed, score.text()


def _own_slerp(z0, z1, t):
    t = latent.as_time(t, z0)
    cos = ((z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True)))
    omega = torch.acos(cos.clamp(-1, 1))
    sin = torch.sin(omega)
    safe = torch.where(sin < 1e-4, torch.ones_like(sin), sin)
    spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe
    return torch.where(sin < 1e-4, (1 - t) * z0 + t * z1, spherical)


def _score_with_package_kl(model, x):
    with torch.no_grad():
        mu, logvar = model.encode(x)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(model.decode(mu), x, reduction="none").sum(1)
        return bce + losses.gaussian_kl(mu, logvar)


def test_marked_references_keep_their_name_signature_and_values_outside_checks():
    assert latent.slerp.__name__ == "slerp" and "Shoemake" in latent.slerp.__doc__
    assert list(inspect.signature(losses.elbo).parameters) == ["logits", "x", "mu", "logvar", "beta"]
    assert not hasattr(losses.elbo, "__wrapped__")
    mu, lv = torch.zeros(2, 3), torch.zeros(2, 3)
    assert torch.equal(losses.gaussian_kl(mu, lv), torch.zeros(2))
    with references.watch_reference_calls() as calls:
        losses.elbo(torch.zeros(2, 4), torch.ones(2, 4), mu, lv)
    assert calls[0] == "vae_course.losses.elbo"


# Issue 24: two easy ways around the delegation rule (the same code as the hostile suite's), and what was behind them.
UNWATCHED, CLOSURE = hostile.SLERP_UNWATCHED, hostile.SLERP_CLOSURE
UNREFERENCED = ("import gc\nfrom vae_course import latent\n\ndef slerp(z0, z1, t):\n"  # whatever holds it
                "    found = [o for o in gc.get_referents(latent.slerp) if callable(o)] or [latent.slerp]\n"
                "    return found[-1](z0, z1, t) if found[-1].__name__ == 'slerp' else latent.slerp(z0, z1, t)\n")
OWN_INJECTION = ("from vae_course import checks, latent\n\ndef slerp(z0, z1, t):\n"  # a check's exemption, made up
                 "    fake = checks.InjectedReference(latent.slerp, checks.REGISTRY['5.2'], checks.REGISTRY['5.2'])\n"
                 "    return fake(z0, z1, t)\n")


@pytest.mark.parametrize("source", [UNWATCHED, CLOSURE, UNREFERENCED, OWN_INJECTION],
                         ids=["unwatched", "closure", "referents", "own-injection"])
def test_no_way_around_the_delegation_rule_passes(source):
    namespace = {}
    exec(source, namespace)
    result = checks.slerp(namespace["slerp"])
    assert (result.status, result.code) == (Status.FAILED, Code.CALLED_REFERENCE), result.text()


def test_the_references_are_the_functions_themselves_and_the_escape_hatch_is_gone():
    assert not hasattr(integrity, "unwatched") and not hasattr(references, "unwatched")
    assert latent.slerp.__closure__ is None and losses.elbo.__closure__ is None
