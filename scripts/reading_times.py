"""Write each notebook's reading time into its first cell and into the welcome notebook's table.

    python scripts/reading_times.py           # after changing a notebook's prose; then `make student`

The estimate is :func:`vae_course.notebooks.reading_minutes`; ``tests/test_reading_time.py`` fails when a
stated time is more than 15% (or 5 minutes) away from it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae_course.notebooks import READING_TIME, reading_minutes  # noqa: E402

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def main() -> int:
    paths = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    minutes = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        minutes[path.name[:2]] = n = reading_minutes(nb)
        new = READING_TIME.sub(f"Reading time: about {n} minutes", nb.cells[0].source)
        if new != nb.cells[0].source:
            nb.cells[0].source = new
            nbformat.write(nb, path)
            print(f"{path.name}: {n} minutes")
    welcome_path = SOLUTIONS / "00_welcome.ipynb"
    welcome = nbformat.read(welcome_path, as_version=4)
    others = [v for k, v in minutes.items() if k != "00"]
    intro = re.sub(r"nine notebooks \(\d+ to \d+ minutes", f"nine notebooks ({min(others)} to {max(others)} minutes",
                   welcome.cells[0].source)
    table = re.sub(r"^\| (\d\d) \| (.*) \| \d+ min \|$", lambda m: f"| {m[1]} | {m[2]} | {minutes[m[1]]} min |",
                   welcome.cells[1].source, flags=re.M)
    if (intro, table) != (welcome.cells[0].source, welcome.cells[1].source):
        welcome.cells[0].source, welcome.cells[1].source = intro, table
        nbformat.write(welcome, welcome_path)
        print(f"{welcome_path.name}: table and range updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
