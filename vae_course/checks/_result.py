"""What one check found, as a student sees it: text in a terminal, HTML in Jupyter, a record for the grader."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..results import Code, ExerciseOutcome, Status, points_earned

if TYPE_CHECKING:
    from ._registry import Exercise

@dataclass
class Result:
    """The outcome of one check. Its text (``repr``) is what the notebook shows."""

    exercise: Exercise
    status: Status
    message: str = ""
    hint: str = ""
    checks: list = field(default_factory=list)
    code: str = Code.OK
    notes: list = field(default_factory=list)
    credit: float = 0.0  # failed: the fraction of the exercise's parts right (Exercise.parts; 0 without parts)

    @property
    def passed(self) -> bool:
        return self.status == Status.PASSED

    @property
    def points(self) -> float:
        """All the exercise's points if it passed, else the share of its parts right (:func:`points_earned`)."""
        return points_earned(self.exercise.points, self.status, self.credit)

    @property
    def headline(self) -> str:
        """The result in one sentence after the status word: what passed, or what is wrong."""
        if self.passed and self.code == Code.CHECKED_IN_PART:
            return "checked so far: " + "; ".join(self.checks) + "."
        if self.passed:
            return self.exercise.verified or ("checked: " + "; ".join(self.checks) + ".")
        if self.code == Code.NOT_ANSWERED:
            return NOT_ANSWERED_TEXT
        return self.message

    def text(self) -> str:
        """The plain-text display (terminals, logs, ``repr``): status word, exercise, message, hint."""
        lines = [f"[{self.status}] Exercise {self.exercise.id} ({self.exercise.function}): {self.headline}"]
        if not self.passed and self.code != Code.NOT_ANSWERED:
            if self.hint:
                lines.append(f"   Hint: {self.hint}")
            if self.checks:
                lines.append("   Already fine: " + "; ".join(self.checks) + ".")
            if self.credit:
                lines.append(f"   Partial credit: {self.partial_credit()}")
        return "\n".join(lines + [f"   Note: {note}" for note in self.notes])

    def partial_credit(self) -> str:
        """"2 of 3 parts right: 1.33 of 2 points." for a failed answer some of whose parts are right (they are
        listed with what is already fine)."""
        parts = self.exercise.parts
        right = round(self.credit * len(parts))
        return (f"{right} of {len(parts)} parts right: "
                f"{self.points:g} of {self.exercise.points} point{'s' if self.exercise.points != 1 else ''}.")

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """The display in Jupyter: a coloured status word (no emoji font needed), text that wraps
        between words, code in monospace and the "already fine" list folded in ``<details>``.

        Colours come from JupyterLab's theme variables, with fallbacks for classic Notebook and
        VS Code; the status word is white on its colour, readable on light and dark themes.
        """
        colour = _STATUS_COLOURS.get(self.status, _STATUS_COLOURS[Status.ERROR])
        head = (f'<span class="vae-check-status" style="display:inline-block;padding:0 0.5em;'
                f'border-radius:3px;background:{colour};color:#fff;font-weight:bold;'
                f'text-transform:uppercase;letter-spacing:0.03em">{self.status}</span> '
                f'<strong>Exercise {html.escape(self.exercise.id)}</strong> '
                f'(<code>{html.escape(self.exercise.function)}</code>): {_inline_html(self.headline)}')
        parts = [f'<div class="vae-check-headline">{head}</div>']
        if not self.passed and self.code != Code.NOT_ANSWERED:
            if self.hint:
                parts.append(f'<div class="vae-check-hint"><strong>Hint:</strong> {_inline_html(self.hint)}</div>')
            if self.checks:
                items = "".join(f"<li>{_inline_html(c)}</li>" for c in self.checks)
                parts.append(f'<details class="vae-check-fine"><summary>Already fine ({len(self.checks)})</summary>'
                             f'<ul style="margin:0.2em 0">{items}</ul></details>')
            if self.credit:
                parts.append(f'<div class="vae-check-credit"><strong>Partial credit:</strong> '
                             f'{_inline_html(self.partial_credit())}</div>')
        parts += [f'<div class="vae-check-note"><em>Note:</em> {_inline_html(n)}</div>' for n in self.notes]
        return (f'<div class="vae-check vae-check-{self.status}" style="border-left:4px solid {colour};'
                'padding:0.3em 0.7em;max-width:100%;box-sizing:border-box;white-space:normal;'
                'overflow-wrap:break-word;word-break:normal;line-height:1.5;'
                'color:var(--jp-content-font-color1, inherit);'
                'font-family:var(--jp-content-font-family, system-ui, sans-serif)">' + "".join(parts) + "</div>")

    def outcome(self) -> ExerciseOutcome:
        """The result as the grader records it."""
        message, hint = self.message, self.hint
        if self.code == Code.NOT_ANSWERED:
            message = "not answered yet: the function still raises NotImplementedError."
            hint = "Replace `raise NotImplementedError(...)` with your code."
        return ExerciseOutcome(status=self.status, message=message, hint=hint, code=str(self.code),
                               checks=list(self.checks), notes=list(self.notes), credit=self.credit)

    def to_dict(self) -> dict:
        return {"exercise": self.exercise.id, "function": self.exercise.function, "points": self.points,
                "max_points": self.exercise.points, **self.outcome().to_json()}


NOT_ANSWERED_TEXT = ("not answered yet: replace `raise NotImplementedError(...)` with your code, "
                     "run the cell, then run this check again.")

# Status colours: JupyterLab's theme variables, with fallbacks for other front-ends (a white
# word on each of them stays readable on light and dark backgrounds).
_STATUS_COLOURS = {
    Status.PASSED: "var(--jp-success-color0, #2e7d32)",  # color1 is too light for white text in JupyterLab Dark
    Status.FAILED: "var(--jp-error-color1, #d32f2f)",
    Status.ERROR: "var(--jp-error-color0, #b71c1c)",
    Status.TIMEOUT: "var(--jp-warn-color0, #e65100)",
    Status.MISSING: "var(--jp-warn-color0, #e65100)",
    Status.INVALID: "var(--jp-error-color0, #b71c1c)",
}

_BACKTICKS = re.compile(r"`([^`]+)`")


def _inline_html(text: str) -> str:
    """Escape ``text`` for HTML and set its `backticked` code in monospace."""
    return _BACKTICKS.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))
