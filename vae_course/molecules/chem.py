"""Chemistry by RDKit: validity, canonical SMILES, properties, the MOSES metrics, pictures of molecules.

Nothing chemical is written by hand here: RDKit parses and sanitises (valence, aromaticity), writes
canonical SMILES and computes the properties. The metrics follow the MOSES definitions
(Polykovskiy et al. 2020, ``moses/metrics/metrics.py``):

* **validity**: the fraction of generated strings that RDKit parses and sanitises (an empty string is invalid);
* **uniqueness** (unique@k): among the valid ones, the fraction of distinct canonical SMILES;
* **novelty**: among the distinct valid ones, the fraction not in the training set (canonical SMILES).
"""

from __future__ import annotations

import io
from typing import Iterable

import numpy as np
from PIL import Image
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator
from rdkit.Chem.Draw import rdMolDraw2D

PROPERTIES = {
    "QED": QED.qed,                   # drug-likeness in [0, 1] (Bickerton et al. 2012)
    "logP": Crippen.MolLogP,          # octanol/water partition coefficient (Wildman & Crippen 1999)
    "weight": Descriptors.MolWt,      # molecular weight in daltons
}
"""Property name -> RDKit function of a molecule."""


def to_molecule(smiles: str):
    """An RDKit molecule, or None when ``smiles`` is empty or not a valid molecule (MOSES's ``get_mol``)."""
    if not smiles:
        return None
    with rdBase.BlockLogs():              # RDKit explains every parse error on stderr; we only need yes/no
        mol = Chem.MolFromSmiles(smiles)  # parses and sanitises
    return mol


def is_valid(smiles: str) -> bool:
    """True when RDKit parses and sanitises ``smiles`` (a non-empty string)."""
    return to_molecule(smiles) is not None


def canonical(smiles: str) -> str | None:
    """RDKit's canonical SMILES (one spelling per molecule), or None for an invalid string."""
    mol = to_molecule(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def moses_metrics(generated: list[str], train: Iterable[str]) -> dict:
    """Validity, uniqueness and novelty of generated SMILES, as MOSES defines them.

    train: canonical SMILES of the training set (a set is fastest). Returns ``valid``, ``unique``
    (unique@n with n = the number of valid strings) and ``novel`` as fractions, plus the counts
    ``n``, ``n_valid``, ``n_unique``, ``n_novel``.
    """
    if not generated:
        raise ValueError("moses_metrics needs at least one generated string.")
    train = train if isinstance(train, (set, frozenset)) else set(train)
    canon = [c for c in map(canonical, generated) if c is not None]
    distinct = set(canon)
    novel = distinct - train
    n_valid = len(canon)
    return {
        "valid": n_valid / len(generated),
        "unique": len(distinct) / n_valid if n_valid else 0.0,
        "novel": len(novel) / len(distinct) if distinct else 0.0,
        "n": len(generated), "n_valid": n_valid, "n_unique": len(distinct), "n_novel": len(novel),
    }


def properties(smiles: list[str], names: Iterable[str] = tuple(PROPERTIES)) -> dict[str, np.ndarray]:
    """Properties of each molecule -> {name: array (N,)}; NaN for invalid strings.

    names: any of :data:`PROPERTIES` ("QED", "logP", "weight"; default all three). QED is the slow one
    (about 1.5 ms per molecule; logP and weight take a fraction of that).
    """
    unknown = set(names) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"unknown properties {sorted(unknown)}; choose from {list(PROPERTIES)}.")
    out = {name: np.full(len(smiles), np.nan) for name in names}
    for i, s in enumerate(smiles):
        mol = to_molecule(s)
        if mol is not None:
            for name in names:
                out[name][i] = PROPERTIES[name](mol)
    return out


def largest_ring(smiles: str) -> int:
    """Atoms in the molecule's largest ring (RDKit's smallest set of smallest rings); 0 without rings, -1 if invalid.

    Drug-like molecules rarely have rings of more than 7 atoms (macrocycles).
    """
    mol = to_molecule(smiles)
    if mol is None:
        return -1
    return max((len(ring) for ring in mol.GetRingInfo().AtomRings()), default=0)


def similarity(a: str, b: str) -> float:
    """Tanimoto similarity of two molecules' Morgan fingerprints (radius 2, 2048 bits): 1 for the same
    molecule, near 0 for unrelated ones; NaN if either string is not a molecule."""
    mols = [to_molecule(a), to_molecule(b)]
    if None in mols:
        return float("nan")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fa, fb = (generator.GetFingerprint(m) for m in mols)
    return DataStructs.TanimotoSimilarity(fa, fb)


def draw_molecules(smiles: list[str], legends: list[str] | None = None, *, per_row: int = 5,
                   size: tuple[int, int] = (220, 180)):
    """A grid picture (PIL image) of the molecules, drawn by RDKit; an invalid string leaves an empty cell."""
    mols = [to_molecule(s) or Chem.Mol() for s in smiles]
    rows = -(-len(mols) // per_row)
    canvas = rdMolDraw2D.MolDraw2DCairo(per_row * size[0], rows * size[1], size[0], size[1])
    canvas.drawOptions().legendFontSize = 18
    canvas.DrawMolecules(mols, legends=list(legends) if legends is not None else None)
    canvas.FinishDrawing()
    return Image.open(io.BytesIO(canvas.GetDrawingText()))
