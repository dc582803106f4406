"""The MOSES metrics: how valid, new, diverse and test-set-like a sample of generated molecules is.

Each function follows ``moses/metrics/metrics.py`` and ``utils.py`` of MOSES (Polykovskiy et al. 2020,
molsets 0.3.1, MIT licence) line for line; :func:`moses_table` computes the paper's table. The reference
set is the MOSES test set (``"test"``, 176,074 molecules) or its scaffold split (``"test_scaffolds"``:
molecules whose Bemis-Murcko scaffolds are absent from the training set). Its statistics are stored in
``data/moses_<name>_stats.npz``, written once by ``scripts/moses_reference_stats.py`` from the molsets
wheel, so nothing here needs MOSES itself (which no longer installs).

* **valid**: RDKit parses and sanitises the string (an empty string is invalid).
* **unique@k**: distinct canonical SMILES among the first k valid molecules.
* **novelty**: distinct valid molecules not in the training set (the model's own training data).
* **FCD** (Frechet ChemNet Distance, Preuer et al. 2018): the Frechet distance between Gaussians fitted to
  ChemNet's penultimate activations of the sample and of the reference - chemistry *and* biology
  (ChemNet was trained to predict bioactivities) in one number; 0 for identical distributions. It is
  biased upwards at small samples: compare it only between samples of equal size.
* **SNN** (similarity to a nearest neighbour): the mean, over the sample, of the Tanimoto similarity of
  each molecule's Morgan fingerprint (radius 2, 1024 bits) to its closest reference molecule; 1 when every
  molecule is in the reference. Low: the molecules are unlike any real one.
* **Frag** / **Scaf**: the cosine similarity of the counts of BRICS fragments / of Bemis-Murcko scaffolds
  (those with at least 2 rings) in the sample and in the reference: are the building blocks used as often?
* **IntDiv1** / **IntDiv2**: 1 - the mean (IntDiv2: root-mean-square) Tanimoto similarity of all pairs in
  the sample, pairs of a molecule with itself included; 0 when all molecules are the same (mode collapse).
* **Filters**: the fraction of valid molecules that pass the medicinal-chemistry filters MOSES used to build
  its data set (MCF and PAINS substructures, allowed atoms C N S O F Cl Br H, no charge, no ring of 8 or more).
* **logP, SA, QED, weight**: the Wasserstein-1 distance between the sample's and the test set's distribution
  of each property (octanol/water partition, synthetic accessibility, drug-likeness, molecular weight).
"""

from __future__ import annotations

import csv
import functools
import gzip
import warnings
from collections import Counter

import numpy as np
import scipy.linalg
import scipy.stats
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from .chem import canonical, to_molecule
from .data import DATA_DIR

REFERENCES = ("test", "test_scaffolds")
FINGERPRINT_BITS = 1024


def reference_path(name: str):
    """Where the stored statistics of a MOSES reference set (``"test"`` or ``"test_scaffolds"``) live."""
    if name not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {name!r}.")
    return DATA_DIR / f"moses_{name}_stats.npz"


@functools.lru_cache(maxsize=None)
def reference_statistics(name: str = "test") -> dict:
    """The stored statistics of a reference set: ``fcd_mu`` (512,), ``fcd_sigma`` (512, 512) (float64),
    ``frag`` and ``scaf`` (Counters), ``n`` (molecules), and for ``"test"`` also ``fps`` (n, 1024) uint8 and
    the values of each of :data:`PROPERTIES` (n,) (``data/moses_test_properties.npz``)."""
    with np.load(reference_path(name), allow_pickle=False) as stored:
        stats = {"fcd_mu": stored["fcd_mu"].astype(np.float64), "fcd_sigma": stored["fcd_sigma"].astype(np.float64),
                 "frag": Counter(dict(zip(stored["frag_keys"].tolist(), stored["frag_counts"].tolist()))),
                 "scaf": Counter(dict(zip(stored["scaf_keys"].tolist(), stored["scaf_counts"].tolist()))),
                 "n": int(stored["n"])}
        if "fps_packed" in stored:
            stats["fps"] = np.unpackbits(stored["fps_packed"], axis=1, count=FINGERPRINT_BITS)
    if name == "test":
        with np.load(DATA_DIR / "moses_test_properties.npz", allow_pickle=False) as stored:
            stats.update({prop: stored[prop].astype(np.float64) for prop in PROPERTIES})
    return stats


# ----------------------------------------------------------------------------- validity, uniqueness, novelty
def fraction_valid(generated: list[str]) -> float:
    """Fraction of strings that are molecules (MOSES ``fraction_valid``)."""
    return sum(to_molecule(s) is not None for s in generated) / len(generated)


def valid_canonical(generated: list[str]) -> list[str]:
    """Canonical SMILES of the valid strings, in order, duplicates kept (MOSES ``remove_invalid``)."""
    return [c for c in map(canonical, generated) if c is not None]


def fraction_unique(valid: list[str], k: int | None = None) -> float:
    """unique@k: distinct molecules among the first ``k`` valid canonical SMILES (all of them when fewer:
    MOSES warns and does the same)."""
    if k is not None and len(valid) < k:
        warnings.warn(f"unique@{k} computed on only {len(valid)} valid molecules.", stacklevel=2)
    first = valid[:k]
    return len(set(first)) / len(first)


def novelty(valid: list[str], train) -> float:
    """Fraction of the distinct valid molecules that are not in ``train`` (canonical SMILES)."""
    distinct = set(valid)
    return len(distinct - set(train)) / len(distinct)


# ----------------------------------------------------------------------------- fingerprints: SNN, IntDiv
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FINGERPRINT_BITS)


def fingerprints(mols) -> np.ndarray:
    """Morgan fingerprints, radius 2, 1024 bits -> (N, 1024) uint8 (MOSES ``fingerprints(fp_type="morgan")``;
    the same bits as RDKit's ``GetMorganFingerprintAsBitVect(mol, 2, nBits=1024)`` that MOSES called)."""
    return np.array([_MORGAN.GetFingerprintAsNumPy(m) for m in mols], dtype=np.uint8).reshape(-1, FINGERPRINT_BITS)


def average_agg_tanimoto(reference: np.ndarray, generated: np.ndarray, *, agg: str = "max", p: int = 1,
                         batch_size: int = 5000) -> float:
    """For each generated fingerprint, the max (or the power-``p`` mean) of its Tanimoto similarities to the
    reference fingerprints; the mean of those. Tanimoto = |a & b| / (|a| + |b| - |a & b|), two empty
    fingerprints count as 1 (MOSES ``average_agg_tanimoto``). Batched matrix products: (5000 x 5000) at a time."""
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}.")
    best = torch.zeros(len(generated), dtype=torch.float64)
    for j in range(0, len(reference), batch_size):
        ref = torch.from_numpy(reference[j:j + batch_size]).float()                  # (R, 1024)
        for i in range(0, len(generated), batch_size):
            gen = torch.from_numpy(generated[i:i + batch_size]).float()             # (G, 1024)
            both = ref @ gen.T                                                       # (R, G) common bits
            jac = (both / (ref.sum(1, keepdim=True) + gen.sum(1)[None] - both)).nan_to_num(nan=1.0) ** p
            rows = slice(i, i + len(gen))
            best[rows] = torch.maximum(best[rows], jac.max(0).values) if agg == "max" else best[rows] + jac.sum(0)
    if agg == "mean":
        best /= len(reference)
    return float((best ** (1 / p)).mean())


def snn(generated_fps: np.ndarray, reference_fps: np.ndarray) -> float:
    """Similarity to a nearest neighbour: mean over generated molecules of the max Tanimoto to the reference."""
    return average_agg_tanimoto(reference_fps, generated_fps, agg="max")


def internal_diversity(fps: np.ndarray, *, p: int = 1) -> float:
    """IntDiv_p = 1 - mean_i (mean_j T(i, j)^p)^(1/p) over all pairs of the sample (i = j included)."""
    return 1 - average_agg_tanimoto(fps, fps, agg="mean", p=p)


# ----------------------------------------------------------------------------- fragments and scaffolds: Frag, Scaf
def fragments(mols) -> Counter:
    """Counts of BRICS fragments (SMILES with their attachment points, e.g. ``[16*]c1ccccc1``) over the molecules."""
    counts = Counter()
    for mol in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return counts


def scaffold(mol, *, min_rings: int = 2) -> str | None:
    """The Bemis-Murcko scaffold (ring systems and their linkers) as canonical SMILES; None with < 2 rings."""
    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(core)
    return smiles if smiles and core.GetRingInfo().NumRings() >= min_rings else None


def scaffolds(mols) -> Counter:
    """Counts of Bemis-Murcko scaffolds with at least 2 rings over the molecules (MOSES ``compute_scaffolds``)."""
    counts = Counter(scaffold(m) for m in mols)
    counts.pop(None, None)
    return counts


def cosine_similarity(reference: Counter, generated: Counter) -> float:
    """<r, g> / (|r| |g|) of two count vectors indexed by fragment (absent = 0); NaN if either is empty."""
    if not reference or not generated:
        return float("nan")
    keys = list(set(reference) | set(generated))
    r = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([generated.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / np.linalg.norm(r) / np.linalg.norm(g))


# ----------------------------------------------------------------------------- Filters
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


@functools.lru_cache(maxsize=1)
def _named_filters() -> tuple:
    """(name, pattern) of the MCF and PAINS SMARTS MOSES filtered its data with (``data/moses_filters.csv.gz``,
    from molsets); PAINS names lose their ``<regId=...>`` wrapping."""
    with gzip.open(DATA_DIR / "moses_filters.csv.gz", "rt", newline="") as handle:
        return tuple((row["name"].removeprefix("<regId=").removesuffix(">"), Chem.MolFromSmarts(row["smarts"]))
                     for row in csv.DictReader(handle))


@functools.lru_cache(maxsize=1)
def _filters() -> tuple:
    return tuple(pattern for _, pattern in _named_filters())


def passes_filters(mol) -> bool:
    """MOSES ``mol_passes_filters``: no ring of 8+ atoms, no charge, only allowed atoms, no MCF/PAINS match
    (matched with explicit hydrogens, as some PAINS patterns name them)."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 or a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(pattern) for pattern in _filters()):
        return False
    return to_molecule(Chem.MolToSmiles(mol, isomericSmiles=False)) is not None


def filter_failures(mol) -> list[str]:
    """Every MOSES filter rule a molecule fails (empty when it passes :func:`passes_filters`): "ring of 8+ atoms",
    "charge or atom not allowed", and the name of each matching MCF (``MCF<k>``) or PAINS pattern - to see *why*
    samples fail, where :func:`passes_filters` stops at the first rule."""
    failed = []
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        failed.append("ring of 8+ atoms")
    if any(a.GetFormalCharge() != 0 or a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        failed.append("charge or atom not allowed")
    with_h = Chem.AddHs(mol)
    failed += [name for name, pattern in _named_filters() if with_h.HasSubstructMatch(pattern)]
    if not failed and to_molecule(Chem.MolToSmiles(mol, isomericSmiles=False)) is None:
        failed.append("SMILES does not parse back")
    return failed


# ----------------------------------------------------------------------------- FCD
@functools.lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD          # ChemNet's weights ship in the fcd-torch wheel
    return FCD(device="cpu", n_jobs=1, batch_size=512)


def chemnet_statistics(smiles: list[str]) -> dict:
    """Mean (512,) and covariance (512, 512) of ChemNet's penultimate activations (``fcd_torch.FCD.precalc``).
    About 70 molecules per second on 2 CPU cores: ChemNet reads every SMILES padded to 350 characters."""
    if len(smiles) < 2:
        raise ValueError(f"FCD needs at least 2 molecules, got {len(smiles)}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        activations = _chemnet().get_predictions(list(smiles))
    return {"mu": activations.mean(0), "sigma": np.cov(activations.T)}


def frechet_distance(reference: dict, generated: dict, *, eps: float = 1e-6) -> float:
    """||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), the Frechet distance of two Gaussians: fcd_torch's
    ``calculate_frechet_distance``, whose ``sqrtm(..., disp=False)`` call fails with SciPy >= 1.16 for 1 x 1
    matrices. A product too singular for the square root gets ``eps`` on the diagonals, as there."""
    mu_r, mu_g = np.atleast_1d(reference["mu"]), np.atleast_1d(generated["mu"])
    s_r, s_g = np.atleast_2d(reference["sigma"]), np.atleast_2d(generated["sigma"])
    root = scipy.linalg.sqrtm(s_r @ s_g)
    if not np.isfinite(root).all():
        offset = eps * np.eye(len(s_r))
        root = scipy.linalg.sqrtm((s_r + offset) @ (s_g + offset))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f"the square root has an imaginary part of {np.abs(root.imag).max():.2g}")
        root = root.real
    diff = mu_r - mu_g
    return float(diff @ diff + np.trace(s_r) + np.trace(s_g) - 2 * np.trace(root))


# ----------------------------------------------------------------------------- property distances
def _sa(mol) -> float:
    from rdkit.Contrib.SA_Score import sascorer      # RDKit's copy of the SA score MOSES ships
    return sascorer.calculateScore(mol)


PROPERTIES = {"logP": Crippen.MolLogP, "SA": _sa, "QED": QED.qed, "weight": Descriptors.MolWt}
"""The four properties whose distributions MOSES compares (``moses/metrics/utils.py``)."""


def property_distances(mols, reference: dict) -> dict:
    """Wasserstein-1 distance between the sample's and the reference's distribution of each property
    (logP, SA score, QED, molecular weight): how far the mass must move, in the property's own units."""
    return {name: float(scipy.stats.wasserstein_distance(reference[name], [f(m) for m in mols]))
            for name, f in PROPERTIES.items()}


# ----------------------------------------------------------------------------- the table
METRICS = ("valid", "unique_1k", "unique_10k", "novelty", "fcd_test", "fcd_testsf", "snn_test", "frag_test",
           "frag_testsf", "scaf_test", "scaf_testsf", "intdiv1", "intdiv2", "filters", "logP", "SA", "QED", "weight")


def moses_table(generated: list[str], *, train, fcd: bool = True, properties: bool = True) -> dict:
    """All metrics of one sample of generated strings against the stored MOSES references, as MOSES's
    ``get_all_metrics`` computes them. ``train``: the training molecules (canonical SMILES) for novelty.
    ``fcd=False`` skips the two FCD values (ChemNet is the slow part), ``properties=False`` the Wasserstein
    distances of logP, SA, QED and weight (about 2 ms per molecule). Keys: :data:`METRICS`, ``n`` and
    ``n_valid``; NaN where a metric is undefined (no valid molecule; FCD of fewer than 2; Scaf without
    a scaffold of 2+ rings)."""
    valid = valid_canonical(generated)
    if not valid:                      # MOSES would divide by zero; every other metric is undefined
        return {"valid": 0.0, **dict.fromkeys(METRICS[1:], float("nan")), "n": len(generated), "n_valid": 0}
    mols = [to_molecule(s) for s in valid]
    test, test_sf = reference_statistics("test"), reference_statistics("test_scaffolds")
    with rdBase.BlockLogs(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fps, frag, scaf = fingerprints(mols), fragments(mols), scaffolds(mols)
        table = {"valid": len(valid) / len(generated), "unique_1k": fraction_unique(valid, 1000),
                 "unique_10k": fraction_unique(valid, 10000), "novelty": novelty(valid, train)}
        if fcd and len(valid) < 2:       # as fcd_torch: a covariance needs two molecules
            table.update(fcd_test=float("nan"), fcd_testsf=float("nan"))
        elif fcd:
            stats = chemnet_statistics(valid)
            table["fcd_test"] = frechet_distance({"mu": test["fcd_mu"], "sigma": test["fcd_sigma"]}, stats)
            table["fcd_testsf"] = frechet_distance({"mu": test_sf["fcd_mu"], "sigma": test_sf["fcd_sigma"]}, stats)
        table.update(snn_test=snn(fps, test["fps"]),
                     frag_test=cosine_similarity(test["frag"], frag), frag_testsf=cosine_similarity(test_sf["frag"], frag),
                     scaf_test=cosine_similarity(test["scaf"], scaf), scaf_testsf=cosine_similarity(test_sf["scaf"], scaf),
                     intdiv1=internal_diversity(fps), intdiv2=internal_diversity(fps, p=2),
                     filters=float(np.mean([passes_filters(m) for m in mols])))
        if properties:
            table.update(property_distances(mols, test))
    table.update(n=len(generated), n_valid=len(valid))
    return table
