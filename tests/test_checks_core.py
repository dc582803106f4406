"""The check machinery every exercise shares: one vocabulary of statuses, stable mistake codes,
fair grading of dependent exercises (references injected by the check), and student copies of
a teacher's check file that hide the reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vae_course import checks, losses
from vae_course.checks import Code, HiddenCheck, Status, injected_call, student_copy
from vae_course.checks._hidden import HIDDEN_LINE


def kl(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(-1)


def rec(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def student_namespace(**functions) -> dict:
    """A notebook's namespace holding the student's functions (as the kernel's globals would)."""
    namespace = {"torch": torch, "F": F, **functions}
    exec("def elbo(logits, x, mu, logvar):\n    return bernoulli_log_likelihood(logits, x) - gaussian_kl(mu, logvar)\n",
         namespace)
    return namespace


# --------------------------------------------------------------------------- one vocabulary, stable codes


def test_results_use_the_gradebook_statuses_and_codes():
    assert checks.gaussian_kl(losses.gaussian_kl, allow_reference_calls=True).status == Status.PASSED == "passed"
    stub = checks.gaussian_kl(lambda mu, lv: (_ for _ in ()).throw(NotImplementedError("stub")))
    assert (stub.status, stub.code) == (Status.FAILED, Code.NOT_ANSWERED)
    assert stub.text().startswith("[failed] Exercise 2.1 (gaussian_kl): not answered yet")
    crash = checks.gaussian_kl(lambda mu, lv: mu @ mu)  # (4, 3) @ (4, 3): the function itself raises
    assert (crash.status, crash.code) == (Status.ERROR, Code.RAISED) and "RuntimeError" in crash.message
    shape = checks.gaussian_kl(lambda mu, lv: kl(mu, lv).sum())
    assert (shape.status, shape.code) == (Status.FAILED, "reduced-over-the-batch")
    wrong_sign = checks.gaussian_kl(lambda mu, lv: -kl(mu, lv))
    assert (wrong_sign.status, wrong_sign.code) == (Status.FAILED, "kl-with-the-wrong-sign")
    assert wrong_sign.outcome().to_json()["code"] == "kl-with-the-wrong-sign"


def test_catalogued_mistakes_have_distinct_codes():
    from vae_course.checks.elbo import _kl_mistakes, _latent_inputs, _loglik_mistakes, _pixel_inputs

    kl_codes = [checks.Mistake(name, value, hint).code for name, value, hint in _kl_mistakes(*_latent_inputs(False))]
    loglik_codes = [checks.Mistake(n, v, h).code for n, v, h in _loglik_mistakes(*_pixel_inputs(False))]
    for codes in (kl_codes, loglik_codes):
        assert len(set(codes)) == len(codes), codes
        assert all(code and code == code.lower() and " " not in code for code in codes)
    assert "kl-averaged-over-latent-dimensions-instead-of-summed" in kl_codes


# --------------------------------------------------------------------------- dependent exercises


def test_a_correct_elbo_passes_whatever_the_earlier_answers_are():
    namespace = student_namespace(gaussian_kl=lambda mu, lv: kl(mu, lv).mean() * 7,   # both wrong
                                  bernoulli_log_likelihood=lambda logits, x: torch.zeros(len(x)))
    result = checks.elbo(namespace["elbo"])
    assert result.passed, result.text()
    assert "reference `gaussian_kl` (2.1) and `bernoulli_log_likelihood` (2.2)" in result.notes[0]


def test_errors_that_cancel_out_do_not_pass():
    namespace = {"torch": torch, "F": F, "bernoulli_log_likelihood": rec, "gaussian_kl": lambda mu, lv: -kl(mu, lv)}
    exec("def elbo(logits, x, mu, logvar):\n    return bernoulli_log_likelihood(logits, x) + gaussian_kl(mu, logvar)\n",
         namespace)
    mu, lv, logits, x = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 784), torch.ones(4, 784)
    assert torch.allclose(namespace["elbo"](logits, x, mu, lv), losses.elbo(logits, x, mu, lv))  # right, by luck
    assert checks.gaussian_kl(namespace["gaussian_kl"]).code == "kl-with-the-wrong-sign"
    result = checks.elbo(namespace["elbo"])
    assert (result.status, result.code) == (Status.FAILED, "kl-added-instead-of-subtracted"), result.text()


def test_injected_references_are_marked_and_the_students_functions_come_back():
    seen = []

    def spy_kl(mu, lv):  # stands for the reference: records who is calling
        seen.append(injected_call())
        return losses.gaussian_kl(mu, lv)

    mine = lambda mu, lv: kl(mu, lv)  # noqa: E731
    namespace = student_namespace(gaussian_kl=mine, bernoulli_log_likelihood=rec)
    entry = checks.REGISTRY["2.3"]
    spied = checks.Exercise(**{**entry.__dict__, "id": "2.3-test"})
    dep = checks.REGISTRY["2.1"]
    checks.REGISTRY["2.1"] = checks.Exercise(**{**dep.__dict__, "reference": spy_kl})
    try:
        with checks.injected_references(spied, namespace["elbo"]) as notes:
            injected = namespace["gaussian_kl"]
            namespace["elbo"](torch.randn(2, 784), torch.ones(2, 784), torch.randn(2, 3), torch.randn(2, 3))
    finally:
        checks.REGISTRY["2.1"] = dep
    assert isinstance(injected, checks.InjectedReference) and injected.injected_by.id == "2.3-test"
    assert seen == [injected] and injected_call() is None  # marked while it runs, and only then
    assert namespace["gaussian_kl"] is mine and namespace["bernoulli_log_likelihood"] is rec  # restored
    assert notes and "checked with the reference" in notes[0]
    del namespace["gaussian_kl"]
    with checks.injected_references(entry, namespace["elbo"]):
        assert isinstance(namespace["gaussian_kl"], checks.InjectedReference)
    assert "gaussian_kl" not in namespace  # a name the student never defined is removed again


def test_a_check_does_not_change_the_notebooks_random_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.gaussian_kl(losses.gaussian_kl, allow_reference_calls=True)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- the student copy of a check file


TEACHER_FILE = '''\
import torch
from vae_course.checks import Mistake, exercise

### BEGIN SOLUTION
def _double(x):
    return 2 * x
### END SOLUTION


@exercise("90.1", "90_lab", "double_it", points=1, title="double", contract="double_it(x) -> 2 x",
          reference="_double")
def double_it(fn, check):
    x = torch.arange(4.0)
    out = check.tensor(check.call(x), like=x)
    check.shape(out, (4,), ["n"])
    ### BEGIN SOLUTION
    check.values(out, _double(x), mistakes=[Mistake("x squared", x * x, "Multiply by 2, do not square.")])
    ### END SOLUTION
'''


def test_student_copy_hides_the_reference_and_reports_what_it_could_check():
    copy = student_copy(TEACHER_FILE)
    assert "_double(x)" not in copy and "2 * x" not in copy and "x * x" not in copy
    assert "import Mistake, exercise" in copy  # everything outside the markers stays
    assert "    " + HIDDEN_LINE in copy
    namespace = {}
    exec(compile(copy, "student_checks.py", "exec"), namespace)
    result = namespace["double_it"](lambda x: x * x)  # wrong, but the copy cannot know
    assert result.passed and result.code == "checked-in-part" and "your teacher's grader" in result.notes[0]
    assert "shape `(n,)`" in result.checks
    assert checks.REGISTRY["90.1"].reference_function() is None  # hidden: named by a string that is gone
    result = namespace["double_it"](lambda x: x.long())
    assert (result.status, result.code) == (Status.FAILED, Code.INTEGER_DTYPE)
    del checks.REGISTRY["90.1"]
    assert issubclass(HiddenCheck, Exception)


def test_a_time_limit_never_leaves_a_module_half_imported(tmp_path, monkeypatch):
    """The limit strikes only after an import finishes: an optimizer's first use imports torch._dynamo, and
    a check that timed out in the middle of that left every later check with a broken torch."""
    import sys
    import time

    from vae_course.checks._failures import _TimedOut, time_limit

    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(0.6)\nCOMPLETE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    started = time.monotonic()
    with pytest.raises(_TimedOut):
        with time_limit(0.2):
            import slow_to_import  # noqa: F401
            while True:  # then the student's loop: stopped as soon as the import is over
                pass
    assert 0.6 <= time.monotonic() - started < 2.0
    assert sys.modules["slow_to_import"].COMPLETE is True
    del sys.modules["slow_to_import"]


def test_checks_load_torchs_lazy_modules_before_their_time_limit_starts():
    """The first optimizer imports torch._dynamo (seconds on a busy machine): the checks of the notebooks that
    build optimizers load it before their limit starts, so Exercise 4.1's 10 s are the student's own; other
    checks do not pay for it."""
    import subprocess
    import sys

    probe = ("import sys, torch\nfrom vae_course import checks\n"
             "assert checks.average_image(lambda images: images.mean(dim=0)).passed\n"
             "assert 'torch._dynamo' not in sys.modules\n"
             "result = checks.sample_from_prior(lambda model, n: torch.zeros(n, 784))\n"
             "assert not result.passed, result\nassert 'torch._dynamo' in sys.modules")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

# --------------------------------------------------------------------------- tables gathered by tests/_exercise_data.py

#: A plain correct answer per exercise, also checked with its result in float64 (tests/test_checks_precision.py).
FLOAT64_ANSWERS = {
    "0.1": lambda images: images.mean(dim=0),
}
