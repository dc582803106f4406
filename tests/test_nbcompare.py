"""Toleranced comparison of notebook outputs (vae_course.nbcompare) and the prose guards (vae_course.claims)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest

from vae_course import claims, nbcompare, numerics
from vae_course.nbcompare import Rule, ToleranceError, compare_text, parse_rules, reconcile


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


# --------------------------------------------------------------------------- parse_rules

def test_no_tolerance_means_exact():
    assert parse_rules({}) == []
    assert compare_text("ELBO 108.1\n", "ELBO 108.2\n", []) != []


def test_rules_parse_a_dict_or_a_list():
    assert parse_rules({"tolerance": {"abs": 0.5, "why": "trained"}}) == [Rule(abs=0.5, why="trained")]
    rules = parse_rules({"tolerance": [{"line": "KL", "rel": 0.1, "why": "a"}, {"ulp": 1, "why": "b"}]})
    assert [r.line for r in rules] == ["KL", None]


@pytest.mark.parametrize("spec, message", [
    ({"abs": 0.5}, "why"),
    ({"abs": -1, "why": "x"}, ">= 0"),
    ({"abs": "a lot", "why": "x"}, "numbers"),
    ({"tol": 1, "why": "x"}, "keys"),
    ("0.5", "dict"),
])
def test_malformed_tolerances_are_refused_with_what_to_write(spec, message):
    with pytest.raises(ToleranceError, match=message):
        parse_rules({"tolerance": spec})


# --------------------------------------------------------------------------- compare_text

def test_numbers_within_abs_or_rel_match():
    assert compare_text("-ELBO 108.1 nats\n", "-ELBO 108.4 nats\n", [Rule(abs=0.5, why="w")]) == []
    assert compare_text("-ELBO 108.1 nats\n", "-ELBO 109.1 nats\n", [Rule(rel=0.01, why="w")]) == []


def test_a_number_beyond_the_tolerance_is_named_with_both_values_and_the_bound():
    [problem] = compare_text("D = 110.2, R = 25.0\n", "D = 110.3, R = 27.9\n", [Rule(abs=0.5, why="12 epochs")])
    assert "number 2" in problem and "stored 25.0" in problem and "fresh 27.9" in problem
    assert "±0.5" in problem and "12 epochs" in problem


def test_ulp_allows_a_flip_of_the_last_printed_digit_only():
    rule = [Rule(ulp=1, why="rounding")]
    assert compare_text("0.0188\n", "0.0189\n", rule) == []
    assert compare_text("0.0188\n", "0.0190\n", rule) != []
    assert compare_text("19%\n", "20%\n", rule) == []
    assert compare_text("4,500 images\n", "4,501 images\n", rule) == []


def test_words_must_match_exactly_even_when_numbers_are_toleranced():
    [problem] = compare_text("labels 3 and 6\n", "labels 3 or 6\n", [Rule(abs=10, why="w")])
    assert "line differs" in problem


def test_a_wider_number_may_shift_a_column():
    assert compare_text("2      -4.9 to   4.2\n", "2     -10.1 to   4.2\n", [Rule(abs=6, why="w")]) == []


def test_line_rules_pick_the_quantity_and_other_lines_stay_exact():
    rules = parse_rules({"tolerance": [{"line": "^KL", "abs": 1, "why": "w"}]})
    assert compare_text("KL 25.0\nshape (500, 2)\n", "KL 25.9\nshape (500, 2)\n", rules) == []
    [problem] = compare_text("KL 25.0\nbatch 64\n", "KL 25.0\nbatch 65\n", rules)
    assert "compared exactly" in problem


def test_a_different_number_of_lines_is_reported():
    assert "3 lines printed, 2 stored" in compare_text("a 1\nb 2\n", "a 1\nb 2\nc 3\n", [Rule(abs=1, why="w")])[0]


def test_digits_inside_words_are_not_numbers():
    # "z2" and "β2" carry no number to tolerate: a change there is a change of text
    assert compare_text("z2 = 1.0\n", "z3 = 1.0\n", [Rule(abs=5, why="w")]) != []


# --------------------------------------------------------------------------- reconcile (nbval outputs)

def test_reconcile_copies_matching_texts_so_an_exact_comparison_then_passes():
    stored = [stream("ELBO 108.1\n"), {"output_type": "execute_result", "data": {"text/plain": "tensor(0.51)"}}]
    fresh = [stream("ELBO 108.3\n"), {"output_type": "execute_result", "data": {"text/plain": "tensor(0.52)"}}]
    assert reconcile(stored, copy.deepcopy(fresh), [Rule(abs=0.5, why="w")]) == []
    reconciled = copy.deepcopy(fresh)
    reconcile(stored, reconciled, [Rule(abs=0.5, why="w")])
    assert reconciled == stored


def test_reconcile_reports_what_is_beyond_tolerance_and_leaves_it_unchanged():
    stored, fresh = [stream("ELBO 108.1\n")], [stream("ELBO 118.1\n")]
    problems = reconcile(stored, fresh, [Rule(abs=0.5, why="w")])
    assert problems and problems[0].startswith("[stdout]")
    assert fresh[0]["text"] == "ELBO 118.1\n"


# --------------------------------------------------------------------------- numerics configurations

def test_configurations_replace_the_managed_variables_only():
    env = numerics.kernel_environment("native", {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "HOME": "/h"})
    assert env["HOME"] == "/h" and env["OMP_NUM_THREADS"] == "1"
    assert "MKL_CBWR" not in env and "ATEN_CPU_CAPABILITY" not in env


def test_the_foreign_configuration_differs_from_the_stored_one_in_every_numeric_setting():
    stored, foreign = numerics.CONFIGURATIONS["stored"], numerics.CONFIGURATIONS["foreign"]
    for name in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", "VAE_COURSE_ONEDNN"):
        assert stored[name] != foreign[name]
    assert "MKL_CBWR" not in foreign


def test_kernels_under_a_configuration_that_chooses_backends_apply_it_before_their_first_cell():
    stored = numerics.kernel_environment("stored", {"HOME": "/h"})
    assert stored["PYTHONSTARTUP"] == numerics.KERNEL_STARTUP
    assert "PYTHONSTARTUP" not in numerics.kernel_environment("native", stored)
    assert numerics.kernel_environment("native", {"PYTHONSTARTUP": "mine.py"})["PYTHONSTARTUP"] == "mine.py"
    probe = ("import runpy, torch\n"
             f"names = runpy.run_path({numerics.KERNEL_STARTUP!r})\n"
             "print(torch.backends.mkldnn.enabled, sorted(n for n in names if not n.startswith('__')))")
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "VAE_COURSE_ONEDNN": "0"},
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "[]"], done.stderr[-2000:]


def test_importing_the_models_changes_no_backend():
    probe = ("import torch\nbefore = torch.backends.mkldnn.enabled\nimport vae_course.models\n"
             "print(torch.backends.mkldnn.enabled == before)")
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "VAE_COURSE_ONEDNN": "0"},
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "True", done.stderr[-2000:]


def test_an_unknown_configuration_names_the_choices():
    with pytest.raises(ValueError, match="stored, native, foreign"):
        numerics.kernel_environment("fast")


# --------------------------------------------------------------------------- claims

def test_claim_is_silent_when_true_and_quotes_the_sentence_when_false():
    claims.claim("slerp keeps the norm", True)
    claims.claim("about 20% are holes", 0.19, between=(0.15, 0.25))
    with pytest.raises(claims.ClaimBroken, match='"about 20% are holes".*0.4'):
        claims.claim("about 20% are holes", 0.4, between=(0.15, 0.25))
    with pytest.raises(claims.ClaimBroken, match="slerp is sharper"):
        claims.claim("slerp is sharper", False)


def test_claim_with_nan_fails():
    with pytest.raises(claims.ClaimBroken):
        claims.claim("a finite value", float("nan"), between=(0, 1))


def test_a_claim_fed_by_a_students_passed_answer_notes_instead_of_failing(monkeypatch, capsys):
    """In a student's run a guard must not fail because of their answer; in a test run it always fails."""
    from vae_course.exercises import forget_checks, record_check, solved_or_reference

    def answer(x):
        return x + 1

    forget_checks()
    try:
        record_check("5.1", answer, passed=True)
        solved_or_reference(answer, lambda x: x, exercise="5.1")(1)
        monkeypatch.delenv("VAE_COURSE_STRICT_CLAIMS", raising=False)
        claims.claim("slerp is sharper", False)
        out = capsys.readouterr().out
        assert out.startswith('Note: The notebook says "slerp is sharper"') and "Exercise 5.1" in out
        monkeypatch.setenv("VAE_COURSE_STRICT_CLAIMS", "1")
        with pytest.raises(claims.ClaimBroken):
            claims.claim("slerp is sharper", False)
        forget_checks()
        monkeypatch.delenv("VAE_COURSE_STRICT_CLAIMS")
        with pytest.raises(claims.ClaimBroken):  # no student answer fed it: the course's own error
            claims.claim("slerp is sharper", False)
    finally:
        forget_checks()


def test_nbcompare_number_pattern_reads_signs_commas_and_exponents():
    assert nbcompare.NUMBER.findall("-4.9 to 4,500 and 1e-3, z2") == ["-4.9", "4,500", "1e-3"]
