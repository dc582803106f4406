"""Molecules that work offline: a fixed MOSES subset ships with the package; the full set on request.

:func:`load_molecules` returns canonical SMILES strings (RDKit's spelling, so that equal molecules
are equal strings). Sources:

* ``"embedded"`` (default): 50,000 training and 5,000 test molecules drawn once from MOSES
  (Polykovskiy et al. 2020, MIT licence) by ``scripts/extract_moses_subset.py``; see
  ``vae_course/molecules/data/README.md``.
* a path: a CSV file (plain or ``.gz``) with a ``SMILES`` column - e.g. MOSES's own ``train.csv.gz``
  and ``test.csv.gz`` (1.6M and 176k molecules, inside the ``molsets`` wheel) - a ``.smi`` file (one
  SMILES per line, optionally followed by a name), or a folder holding ``<split>.csv.gz`` /
  ``<split>.csv``. Every line is checked with RDKit; a line that is not a molecule stops the load
  with an error naming the file and the line.
"""

from __future__ import annotations

import csv
import gzip
import os
import random
from pathlib import Path

from .chem import canonical

DATA_DIR = Path(__file__).resolve().parent / "data"
SPLITS = ("train", "test")


class MoleculeDataError(ValueError):
    """Molecule data could not be read; the message names the file and line and says what to do."""


def load_molecules(split: str = "train", source: str | os.PathLike = "embedded", *, limit: int | None = None,
                   sample: int | None = None, seed: int = 0, verbose: bool = True) -> list[str]:
    """Canonical SMILES of one split: ``"train"`` or ``"test"``.

    source: ``"embedded"`` (the shipped MOSES subset) or a path (file or folder, see the module doc).
    limit: read only the first ``limit`` molecules. Prints one line saying what was loaded.
    sample: instead, ``sample`` molecules drawn at random (without replacement, ``seed``) from the whole
        split, kept in file order. A file's first rows need not be typical of it - MOSES's ``train.csv.gz``
        is not in random order - so a training subset should be drawn, not cut.
    A file is checked and canonicalised by RDKit line by line: about 0.3 ms per molecule, so the full
    MOSES training set (1.6M) takes several minutes - use ``limit`` or ``sample`` (only the drawn lines are
    checked).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if limit is not None and sample is not None:
        raise ValueError("give limit= (the first molecules) or sample= (a random draw), not both.")
    if str(source) == "embedded":
        path = DATA_DIR / f"moses_{split}.csv.gz"
        with gzip.open(path, "rt") as handle:        # canonical and checked when it was extracted: no RDKit pass
            smiles = handle.read().split()[1:]
        smiles = _draw(smiles, sample, seed, path) if sample is not None else smiles[:limit]
        what = f"the embedded MOSES subset ({path.name})"
    else:
        path = _resolve(Path(source).expanduser(), split)
        smiles = _read(path, limit, sample, seed)
        what = str(path)
    if verbose:
        how = f", drawn at random (seed {seed})" if sample is not None else ""
        print(f"Molecules: {len(smiles):,} {split} SMILES from {what}{how}.")
    return smiles


def _draw(items: list, sample: int, seed: int, path: Path) -> list:
    """``sample`` of ``items`` drawn without replacement, in their original order."""
    if not 0 < sample <= len(items):
        raise MoleculeDataError(f"cannot draw {sample:,} molecules from {path}: it holds {len(items):,}. "
                                f"Ask for between 1 and {len(items):,}.")
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), sample))]


def _resolve(path: Path, split: str) -> Path:
    if path.is_dir():
        for name in (f"{split}.csv.gz", f"{split}.csv", f"{split}.smi"):
            if (path / name).exists():
                return path / name
        raise MoleculeDataError(f"{path} is a folder without {split}.csv.gz, {split}.csv or {split}.smi. "
                                "Point source= at the file itself, or put the MOSES files there.")
    if not path.exists():
        raise MoleculeDataError(f"No molecule file at {path}. Use source='embedded' for the shipped subset, or "
                                "the path of a CSV/.smi file (MOSES's train.csv.gz is inside the molsets wheel: "
                                "`pip download molsets --no-deps`, then unzip it).")
    return path


def _read(path: Path, limit: int | None, sample: int | None = None, seed: int = 0) -> list[str]:
    """Canonical SMILES of a file (its first ``limit``, or ``sample`` drawn at random), checking each with RDKit."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        text = handle.read()
    lines = text.splitlines()
    column, start = _smiles_column(lines[0] if lines else "", path)
    numbered = [(number, line) for number, line in enumerate(lines[start:], start=start + 1) if line.strip()]
    if sample is not None:
        numbered = _draw(numbered, sample, seed, path)
    out = []
    for number, line in numbered:
        if limit is not None and len(out) >= limit:
            break
        if column is not None:                  # blank lines were dropped above: a row has fields
            fields = next(csv.reader([line]))
            if column >= len(fields):
                raise MoleculeDataError(f"{path}, line {number}: no SMILES column (only {len(fields)} fields).")
            smiles = fields[column].strip()
        else:
            smiles = line.split()[0]
        canon = canonical(smiles)
        if canon is None:
            raise MoleculeDataError(f"{path}, line {number}: {smiles!r} is not a valid molecule (RDKit cannot "
                                    "parse or sanitise it). Fix or delete that line.")
        out.append(canon)
    if not out:
        raise MoleculeDataError(f"{path} holds no molecules.")
    return out


def _smiles_column(first_line: str, path: Path) -> tuple[int | None, int]:
    """(index of the SMILES column, first data line) for a CSV with a header; (None, 0) for a .smi file."""
    fields = [f.strip().lower() for f in next(csv.reader([first_line]), [])]
    if "smiles" in fields:
        return fields.index("smiles"), 1
    if path.name.endswith((".csv", ".csv.gz")) and len(fields) > 1:
        raise MoleculeDataError(f"{path}, line 1: a CSV file needs a header with a column named SMILES; "
                                f"found {first_line.strip()!r}.")
    return None, 0
