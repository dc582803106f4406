"""The lines of a solution notebook's answers, to make sure no failure hint prints one (issue 22, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def solution_lines(stem: str, min_length: int = 12) -> set[str]:
    """Every line of ``min_length``+ characters (stripped) between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    cells = json.loads((SOLUTIONS / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    lines, inside = set(), False
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            if "### BEGIN SOLUTION" in line or "### END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) >= min_length:
                lines.add(line.strip())
    return lines


def printed_solution_lines(text: str, stem: str) -> list[str]:
    """The solution lines of notebook ``stem`` that ``text`` contains verbatim."""
    return [line for line in solution_lines(stem) if line in text]
