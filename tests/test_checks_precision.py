"""Another floating dtype (issue 11 item 4): a correct answer that returns float64 passes every check.

Before, comparing a float64 result with the float32 reference raised inside the check, and the
student read "make sure the function has the signature described above" (status ``error``) on 17
of 18 exercises. ``Checker.tensor`` now carries on in the inputs' dtype and ``Checker.values``
compares in the wider dtype, so the answer is judged on its values.
"""

import pytest

from _exercise_data import gathered
from vae_course import checks
from vae_course.results import exercise_key

# A plain correct answer per exercise, from the exercise's own test module (tests/_exercise_data.py); each is
# checked as it is and with its result in float64.
CORRECT = gathered("FLOAT64_ANSWERS")
NOT_FLOAT_TENSORS = gathered("NOT_FLOAT_TENSORS")


def _in_float64(fn):
    def answer(*args, **kwargs):
        return fn(*args, **kwargs).double()
    return answer


def test_every_tensor_exercise_is_covered():
    """Every exercise has a float64 case in its own test module, or says there why not (NOT_FLOAT_TENSORS:
    4.1 returns floats, 7.2 an int, 9.1 has its own catalogue; 3.3 and 4.4 are classes, 4.3 a loop)."""
    assert not set(CORRECT) & set(NOT_FLOAT_TENSORS)
    assert set(CORRECT) == set(checks.REGISTRY) - set(NOT_FLOAT_TENSORS)


@pytest.mark.parametrize("ex_id", sorted(CORRECT, key=exercise_key))
def test_a_float64_result_is_judged_on_its_values(ex_id):
    check = getattr(checks, checks.REGISTRY[ex_id].function)
    plain, wide = check(CORRECT[ex_id]), check(_in_float64(CORRECT[ex_id]))
    assert plain.passed, plain.text()
    assert wide.passed, wide.text()


def test_a_wrong_float64_result_is_named_not_blamed_on_the_signature():
    result = checks.gaussian_kl(lambda mu, logvar: (-0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).double())
    assert result.status == "failed" and result.code != "check-broke"
    assert "sign" in result.message, result.text()
