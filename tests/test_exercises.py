"""solved_or_reference: the student's function once solved, the reference with a one-line notice before."""

import pytest

from vae_course.exercises import solved_or_reference


def reference(x):
    return 2 * x


def stub(x):
    raise NotImplementedError("Exercise 9.9: double x")


def test_unsolved_uses_the_reference_and_says_so_once(capsys):
    use = solved_or_reference(stub, reference, exercise="9.9")
    assert use.solved is None
    assert [use(1), use(2)] == [2, 4]
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "the notice is printed once, not on every call"
    assert "Exercise 9.9 is not solved yet" in out and "`stub`" in out
    assert use.solved is False


def test_solved_uses_the_students_function_silently(capsys):
    def student(x):
        return 3 * x  # differs from the reference, so we can tell which one ran

    use = solved_or_reference(student, reference, exercise="9.9")
    assert use(2) == 6
    assert capsys.readouterr().out == ""
    assert use.solved is True
    assert use.__name__ == "student"


def test_a_stub_of_an_earlier_exercise_also_falls_back(capsys):
    def student(x):
        return stub(x) + 1  # solved, but calls the unsolved Exercise 9.9

    use = solved_or_reference(student, reference, exercise="9.10")
    assert use(5) == 10
    assert "Exercise 9.9 is not solved yet" in capsys.readouterr().out, "the notice names the stub that raised"


@pytest.mark.parametrize("error", [ValueError("shapes"), NotImplementedError("aten::foo is not implemented for MPS")])
def test_other_errors_of_the_students_function_are_raised(error):
    def student(x):
        raise error

    use = solved_or_reference(student, reference, exercise="9.9")
    with pytest.raises(type(error), match=str(error)):
        use(1)


def test_arguments_that_are_not_functions_are_refused():
    with pytest.raises(TypeError, match="two functions"):
        solved_or_reference(reference, 3, exercise="9.9")


def test_the_notice_can_name_a_reference_that_has_no_name(capsys):
    use = solved_or_reference(stub, lambda x: 2 * x, exercise="9.9", reference_name="the model's forward pass")
    assert use(4) == 8
    assert "reference `the model's forward pass` instead of your `stub`" in capsys.readouterr().out
