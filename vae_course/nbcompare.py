"""Compare a notebook cell's stored output with a fresh run: exactly, or numbers within a tolerance.

nbval compares every output text exactly. That is right for what is exact by construction (shapes,
counts on fixed inputs, closed-form math, check messages) and wrong for numbers that come out of
training, sampling or a float32 evaluation of a trained model: their last printed digit depends on
the CPU (see :mod:`vae_course.numerics`). A cell whose output holds such numbers states its
tolerance in its metadata, next to the reason::

    "tolerance": {"abs": 0.5, "rel": 0.01, "why": "trained live for 4 epochs"}

A fresh number ``new`` matches the stored ``old`` when ``|new - old| <= abs + rel * |old| + ulp * u``,
where ``u`` is one unit in the last printed place of ``old`` (``"ulp": 1`` lets ``108.1`` become
``108.2``, ``0.0188`` become ``0.0189``: a rounding flip). Everything that is not a number must match
exactly (runs of spaces count as one, so a wider number may shift a column). Several quantities in
one cell: give a list of rules, each with a ``"line"`` regular expression searched in the stored line;
the first rule that matches a line applies to all numbers on it, and a line no rule matches is exact::

    "tolerance": [{"line": "-ELBO", "abs": 1.0, "why": "..."}, {"line": "active", "abs": 1, "why": "..."}]

The lesson itself is protected separately: prose claims are asserted in the notebook
(:func:`vae_course.claims.claim`), so a loose comparison cannot hide a broken lesson.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")
"""A printed number: ``-4.9``, ``4,500``, ``1e-3``, ``19`` (in ``19%``); not the ``2`` of ``x2`` or ``β2``."""

TEXT_KEYS = ("text", "text/plain", "text/html", "text/markdown", "text/latex")
_RULE_KEYS = {"abs", "rel", "ulp", "line", "why"}


class ToleranceError(ValueError):
    """A cell's ``tolerance`` metadata is malformed; the message says what to write instead."""


@dataclass(frozen=True)
class Rule:
    """How far a fresh number may be from the stored one, on the lines ``line`` matches (None: all)."""

    abs: float = 0.0
    rel: float = 0.0
    ulp: float = 0.0
    line: str | None = None
    why: str = ""

    def allows(self, old: str, new: str) -> bool:
        a, b = _value(old), _value(new)
        return abs(b - a) <= self.bound(old) * (1 + 1e-9)

    def bound(self, old: str) -> float:
        return self.abs + self.rel * abs(_value(old)) + self.ulp * _last_place(old)

    def describe(self, old: str) -> str:
        parts = [f"{name} {value:g}" for name, value in (("abs", self.abs), ("rel", self.rel), ("ulp", self.ulp))
                 if value]
        return f"±{self.bound(old):.3g} ({', '.join(parts) or 'exact'})"


def parse_rules(metadata: dict) -> list[Rule]:
    """The tolerance rules of a cell's metadata; an empty list means "compare exactly"."""
    spec = metadata.get("tolerance")
    if spec is None:
        return []
    specs = spec if isinstance(spec, list) else [spec]
    rules = []
    for item in specs:
        if not isinstance(item, dict) or not item.keys() <= _RULE_KEYS:
            raise ToleranceError(f"tolerance must be a dict (or a list of dicts) with keys {sorted(_RULE_KEYS)}; "
                                 f"got {item!r}")
        if not item.get("why"):
            raise ToleranceError(f"every tolerance says why the numbers vary: add \"why\" to {item!r}")
        try:
            rule = Rule(**{k: (float(v) if k in ("abs", "rel", "ulp") else v) for k, v in item.items()})
        except (TypeError, ValueError):
            raise ToleranceError(f"abs, rel and ulp must be numbers in {item!r}") from None
        if min(rule.abs, rule.rel, rule.ulp) < 0:
            raise ToleranceError(f"abs, rel and ulp must be >= 0 in {item!r}")
        if rule.line is not None:
            re.compile(rule.line)
        rules.append(rule)
    return rules


def compare_text(stored: str, fresh: str, rules: list[Rule]) -> list[str]:
    """Why ``fresh`` does not match ``stored`` under ``rules`` (an empty list: it matches)."""
    if stored == fresh:
        return []
    old_lines, new_lines = stored.splitlines(), fresh.splitlines()
    if len(old_lines) != len(new_lines):
        return [f"{len(new_lines)} lines printed, {len(old_lines)} stored"]
    problems = []
    for old_line, new_line in zip(old_lines, new_lines):
        if old_line == new_line:
            continue
        rule = next((r for r in rules if r.line is None or re.search(r.line, old_line)), None)
        old_numbers, new_numbers = NUMBER.findall(old_line), NUMBER.findall(new_line)
        if rule is None or _skeleton(old_line) != _skeleton(new_line) or len(old_numbers) != len(new_numbers):
            problems.append(f"line differs{' (compared exactly)' if rule is None else ''}:\n"
                            f"    stored: {old_line}\n    fresh:  {new_line}")
            continue
        for index, (old, new) in enumerate(zip(old_numbers, new_numbers), start=1):
            if old != new and not rule.allows(old, new):
                problems.append(f"number {index} on the line {old_line.strip()!r}: stored {old}, fresh {new}, "
                                f"allowed {rule.describe(old)}" + (f" - {rule.why}" if rule.why else ""))
    return problems


def reconcile(stored_outputs: list[dict], fresh_outputs: list[dict], rules: list[Rule]) -> list[str]:
    """Replace each fresh output text that matches its stored one within ``rules`` by the stored text.

    Outputs are paired by kind (stream name or MIME type) in order, as nbval pairs them; after this,
    nbval's own exact comparison passes where the tolerance allowed the difference and reports the
    rest. Returns the problems of the texts that do not match (an empty list: all matched).
    """
    stored_texts = _texts(stored_outputs)
    problems = []
    for key, fresh_refs in _texts(fresh_outputs).items():
        for (holder, field), (old_holder, old_field) in zip(fresh_refs, stored_texts.get(key, [])):
            old, new = _join(old_holder[old_field]), _join(holder[field])
            found = compare_text(old, new, rules)
            if found:
                problems += [f"[{key}] {p}" for p in found]
            else:
                holder[field] = old_holder[old_field]
    return problems


def _texts(outputs: list[dict]) -> dict[str, list[tuple[dict, str]]]:
    """Where each output's texts live, by kind: ``{"stdout": [(output, "text")], "text/plain": [...]}``."""
    found: dict[str, list[tuple[dict, str]]] = {}
    for output in outputs:
        if output.get("output_type") == "stream":
            found.setdefault(output.get("name", "stdout"), []).append((output, "text"))
        for mime in TEXT_KEYS:
            if mime in output.get("data", {}):
                found.setdefault(mime, []).append((output["data"], mime))
    return found


def _join(text) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def _skeleton(line: str) -> str:
    return " ".join(NUMBER.sub("#", line).split())


def _value(number: str) -> float:
    return float(number.replace(",", "").replace("−", "-"))


def _last_place(number: str) -> float:
    """One unit in the last printed place: ``108.1`` -> 0.1, ``4,500`` -> 1, ``1.5e-3`` -> 1e-4."""
    mantissa, _, exponent = number.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))

