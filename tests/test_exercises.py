"""solved_or_reference: the student's function once its check passed, the reference with a one-line notice before."""

import pytest
import torch

from vae_course import checks, losses
from vae_course.exercises import forget_checks, record_check, solved_or_reference


@pytest.fixture(autouse=True)
def fresh_kernel():
    """Each test starts as a fresh notebook kernel: no check has run yet."""
    forget_checks()
    yield
    forget_checks()


def reference(x):
    return 2 * x


def stub(x):
    raise NotImplementedError("Exercise 9.9: double x")


def student(x):
    return 3 * x  # differs from the reference, so we can tell which one ran


def test_unsolved_uses_the_reference_and_says_so_once(capsys):
    record_check("9.9", stub, passed=False, answered=False)
    use = solved_or_reference(stub, reference, exercise="9.9")
    assert use.solved is None
    assert [use(1), use(2)] == [2, 4]
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "the notice is printed once, not on every call"
    assert "Exercise 9.9 is not solved yet" in out and "`stub`" in out
    assert use.solved is False


def test_a_passed_answer_is_used_silently(capsys):
    record_check("9.9", student, passed=True)
    use = solved_or_reference(student, reference, exercise="9.9")
    assert use(2) == 6
    assert capsys.readouterr().out == ""
    assert use.solved is True
    assert use.__name__ == "student"


def test_a_failed_answer_never_feeds_the_notebook(capsys):
    record_check("9.9", student, passed=False)
    use = solved_or_reference(student, reference, exercise="9.9")
    assert use(2) == 4, "the reference ran, not the wrong answer"
    out = capsys.readouterr().out
    assert "Exercise 9.9 has not passed its check yet (fix your answer and run its check again)" in out
    assert "reference `reference` instead of your `student`" in out
    assert use.solved is False


def test_an_unchecked_or_redefined_answer_is_not_used(capsys):
    use = solved_or_reference(student, reference, exercise="9.9")
    assert use(2) == 4
    assert "Exercise 9.9 has not been checked yet (run the check right below your answer)" in capsys.readouterr().out

    record_check("9.9", lambda x: 3 * x, passed=True)  # the check passed on an earlier definition
    use = solved_or_reference(student, reference, exercise="9.9")
    assert use(2) == 4 and use.solved is False, "a passing check of another function does not count"


def test_an_answer_whose_earlier_exercise_failed_is_not_used(capsys):
    record_check("9.9", stub, passed=False, answered=True)
    record_check("9.10", student, passed=True, uses=("9.9",))
    use = solved_or_reference(student, reference, exercise="9.10")
    assert use(5) == 10
    assert "Exercise 9.9, which your `student` calls, has not passed its check yet" in capsys.readouterr().out


def test_a_passed_answer_that_reaches_a_stub_falls_back_naming_the_stub(capsys):
    def calls_stub(x):
        return stub(x) + 1

    record_check("9.10", calls_stub, passed=True)
    use = solved_or_reference(calls_stub, reference, exercise="9.10")
    assert use(5) == 10
    assert "Exercise 9.9 is not solved yet" in capsys.readouterr().out, "the notice names the stub that raised"


@pytest.mark.parametrize("error", [ValueError("shapes"), NotImplementedError("aten::foo is not implemented for MPS")])
def test_other_errors_of_a_passed_answer_are_raised(error):
    def broken(x):
        raise error

    record_check("9.9", broken, passed=True)
    use = solved_or_reference(broken, reference, exercise="9.9")
    with pytest.raises(type(error), match=str(error)):
        use(1)


def test_arguments_that_are_not_functions_are_refused():
    with pytest.raises(TypeError, match="two functions"):
        solved_or_reference(reference, 3, exercise="9.9")


def test_the_notice_can_name_a_reference_that_has_no_name(capsys):
    use = solved_or_reference(stub, lambda x: 2 * x, exercise="9.9", reference_name="the model's forward pass")
    assert use(4) == 8
    assert "reference `the model's forward pass` instead of your `stub`" in capsys.readouterr().out


def test_the_course_checks_record_their_verdicts(capsys):
    """End to end with a real check: a sign error is caught and the notebook goes on with the reference."""
    def gaussian_kl(mu, logvar):
        return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)

    def wrong_kl(mu, logvar):
        return -gaussian_kl(mu, logvar)

    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert not checks.gaussian_kl(wrong_kl).passed
    use = solved_or_reference(wrong_kl, losses.gaussian_kl, exercise="2.1")
    assert torch.allclose(use(mu, logvar), losses.gaussian_kl(mu, logvar))
    assert "Exercise 2.1 has not passed its check yet" in capsys.readouterr().out

    assert checks.gaussian_kl(gaussian_kl).passed
    use = solved_or_reference(gaussian_kl, lambda mu, logvar: mu.new_full(mu.shape[:1], -1.0), exercise="2.1")
    assert torch.allclose(use(mu, logvar), losses.gaussian_kl(mu, logvar)) and use.solved
