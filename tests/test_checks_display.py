"""How a check result reads: one short pass sentence per exercise, the status words of the
gradebook, a generic mismatch message that says where the values differ, and the HTML that
Jupyter shows (coloured status word, wrapped text, code in monospace, "already fine" folded)."""

from __future__ import annotations

import html.parser
import textwrap

import pytest
import torch

from vae_course import checks
from vae_course.checks import REGISTRY, CheckFailed, Checker, Code, Result, Status
from vae_course.checks._mistakes import mismatch_detail


def kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)


def broken_kl(mu, logvar):
    """A KL that is wrong on one example only (not a catalogued mistake)."""
    return kl(mu, logvar) + torch.tensor([0.0, 0.0, 0.5, 0.0])


@pytest.fixture(scope="module")
def results():
    """One passing, one wrong-values and one unanswered result of Exercise 2.1 (shared: checks take ~0.1 s)."""
    def stub(mu, logvar):
        raise NotImplementedError
    return {"passed": checks.gaussian_kl(kl), "failed": checks.gaussian_kl(broken_kl),
            "stub": checks.gaussian_kl(stub)}


COURSE_EXERCISES = sorted(i for i, e in REGISTRY.items() if e.body.__module__.startswith("vae_course.checks."))


def test_every_course_notebook_has_its_exercises_registered():
    assert {i.split(".")[0] for i in COURSE_EXERCISES} >= {str(n) for n in range(9)}


@pytest.mark.parametrize("ex_id", COURSE_EXERCISES)
def test_every_pass_message_is_one_sentence_of_at_most_two_lines(ex_id):
    entry = REGISTRY[ex_id]
    assert entry.verified.endswith(".") and entry.verified.count(". ") == 0, entry.verified
    assert "(batch" not in entry.verified, "use the contracts' vocabulary: (B,), not (batch)"
    first_line = Result(entry, Status.PASSED, checks=["returns a float tensor"]).text().splitlines()[0]
    assert len(textwrap.wrap(first_line, 100)) <= 2, first_line


def test_plain_text_uses_the_status_words_and_no_emoji(results):
    for result in results.values():
        text = result.text()
        assert text.startswith(f"[{result.status}] Exercise 2.1 (gaussian_kl): ")
        assert all(ord(c) < 0x2000 for c in text), text  # no emoji: boxes without an emoji font
    assert results["passed"].text() == "[passed] Exercise 2.1 (gaussian_kl): " + REGISTRY["2.1"].verified
    assert results["stub"].text().startswith("[failed] Exercise 2.1 (gaussian_kl): not answered yet")


def test_wrong_values_say_how_much_where_and_expected_vs_got(results):
    failed = results["failed"]
    assert (failed.status, failed.code) == (Status.FAILED, Code.WRONG_VALUES)
    assert "1 of 4 values differ; the largest difference is 0.5 at `[2]` (expected " in failed.message
    assert "Mismatched elements" not in failed.message
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert mismatch_detail(expected + torch.tensor([[0.0, 0.0], [0.0, 0.25]]), expected) == \
        ": 1 of 4 values differ; the largest difference is 0.25 at `[1, 1]` (expected 4, got 4.25)"
    assert "at `[0, 1]` (expected 2, got nan)" in mismatch_detail(torch.tensor([[1.0, float("nan")], [3, 4]]),
                                                                 expected)
    assert mismatch_detail(torch.zeros(3), torch.zeros(2)) == ": got shape `(3,)`, the reference has `(2,)`"


def test_shapes_are_named_as_in_the_contracts(results):
    assert "shape `(B,)`" in results["failed"].checks
    check = Checker(kl, REGISTRY["2.1"])
    with pytest.raises(CheckFailed, match=r"expected `\(B=4, 784\)`, got `\(4, 3\)`"):
        check.shape(torch.zeros(4, 3), (4, 784), ["batch", "pixels"])


class _Parsed(html.parser.HTMLParser):
    """Tags and text of an HTML fragment (checks that it is well formed: every tag closed)."""

    def __init__(self):
        super().__init__()
        self.open, self.tags, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.open.pop() == tag, f"</{tag}> closes another tag"

    def handle_data(self, data):
        self.text.append(data)


def parse(fragment: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(fragment)
    assert parsed.open == [], f"unclosed tags {parsed.open}"
    return parsed


def test_html_shows_a_coloured_status_word_wrapped_text_and_folded_checks(results):
    failed = parse(results["failed"]._repr_html_())
    outer = failed.tags[0][1]
    assert "vae-check-failed" in outer["class"] and "overflow-wrap:break-word" in outer["style"]
    assert "word-break:normal" in outer["style"] and "var(--jp-error-color1, #" in outer["style"]
    badge = next(attrs for tag, attrs in failed.tags if attrs.get("class") == "vae-check-status")
    assert "background:var(--jp-error-color1" in badge["style"] and "color:#fff" in badge["style"]
    assert "failed" in failed.text and "Hint:" in failed.text
    assert [tag for tag, _ in failed.tags].count("details") == 1 and "Already fine (4)" in failed.text
    assert ("code", {}) in failed.tags  # `[2]` and `(B,)` set in monospace
    passed = parse(results["passed"]._repr_html_())
    assert "passed" in passed.text and not any(tag == "details" for tag, _ in passed.tags)
    assert "var(--jp-success-color0" in passed.tags[0][1]["style"]


def test_html_escapes_what_the_student_wrote():
    def sneaky(mu, logvar):
        raise ValueError("<script>alert(1)</script>")
    shown = checks.gaussian_kl(sneaky)._repr_html_()
    assert "<script>" not in shown and "&lt;script&gt;" in shown
