"""The teacher's CSV files (``--roster``, ``--overrides``): read once, the same way, with errors that say what to do.

Spreadsheets save CSV as UTF-8 with or without a byte-order mark, and with commas, semicolons (European
locales) or tabs; blank rows are common at the end. :func:`read_rows` accepts all of these and numbers each
row by its line in the file, so a problem can be reported as "roster.csv, line 7: ...".
"""

from __future__ import annotations

import csv
from pathlib import Path


def read_rows(path, *, what: str, error: type[Exception]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows of a CSV file, each as ``(line number, cells)``.

    ``what`` names the file in messages ("roster", "overrides file"); problems raise ``error``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{what} {path} cannot be read ({getattr(err, 'strerror', None) or err}); "
                    "save it as a UTF-8 CSV file.") from None
    lines = text.splitlines()
    try:
        dialect = csv.Sniffer().sniff(lines[0] if text.strip() else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(lines, dialect))
    if not rows or not any(cell.strip() for cell in rows[0]):
        return [], []
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    return rows[0], body
