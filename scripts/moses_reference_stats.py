"""Write the MOSES reference statistics that vae_course.molecules.metrics reads, once, from the molsets wheel.

    pip install --no-deps molsets==0.3.1          # data only: `import moses` fails (pomegranate does not build)
    python scripts/moses_reference_stats.py       # -> vae_course/molecules/data/moses_{test,test_scaffolds}_stats.npz
                                                  #    and vae_course/molecules/data/moses_filters.csv.gz

For the test set (176,074 molecules) and the scaffold test set (176,225) it computes, from their SMILES
with today's RDKit and the package's own functions, the BRICS fragment counts and the Bemis-Murcko scaffold
counts, and for the test set the Morgan fingerprints (packed bits, for SNN/Test); it compares each with
the statistics MOSES shipped in the wheel (``test_stats.npz``, computed in 2019 with MOSES's code) and prints
how many differ. The FCD statistics (ChemNet mean and covariance) are taken from the shipped files: ChemNet
reads about 70 molecules per second on 2 CPU cores, so recomputing them for 352,000 molecules takes 1.5 hours
(``--recompute-fcd`` does it; minutes on a GPU). They are checked instead on a random subset of ``--check``
molecules, whose mean must lie as close to the shipped mean as sampling allows. The covariance is stored in
float32 (the FCD changes by less than 1e-4). The MCF and PAINS SMARTS (``mcf.csv``, ``wehi_pains.csv``) are
copied, stripped of their padding, into one file. The test set's logP, SA, QED and weight values (for the
property distances) are the shipped ones in float32, checked by recomputing them on ``--check`` molecules.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vae_course.molecules import metrics as mm  # noqa: E402
from vae_course.molecules.chem import to_molecule  # noqa: E402
from vae_course.molecules.data import DATA_DIR  # noqa: E402


def molsets_dir() -> Path:
    """The installed ``moses`` package folder, found without importing it."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("molsets is not installed: pip install --no-deps molsets==0.3.1")
    return Path(list(spec.submodule_search_locations)[0])


def read_smiles(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.read().split()[1:]


def compare_counts(name: str, ours, shipped) -> None:
    differ = sum(ours.get(k, 0) != shipped.get(k, 0) for k in set(ours) | set(shipped))
    print(f"  {name}: {len(ours):,} kinds (shipped {len(shipped):,}); {differ:,} with another count; "
          f"cosine similarity to the shipped counts {mm.cosine_similarity(shipped, ours):.6f}")


def reference(name: str, moses: Path, *, check: int, recompute_fcd: bool, seed: int) -> dict:
    smiles = read_smiles(moses / "dataset" / "data" / f"{name}.csv.gz")
    shipped = np.load(moses / "dataset" / "data" / f"{name}_stats.npz", allow_pickle=True)["stats"].item()
    start = time.time()
    mols = [to_molecule(s) for s in smiles]
    if any(m is None for m in mols):
        raise SystemExit(f"{name}: {sum(m is None for m in mols)} SMILES that RDKit cannot read")
    out = {"n": np.int64(len(smiles))}
    print(f"{name}: {len(smiles):,} molecules")
    frag, scaf = mm.fragments(mols), mm.scaffolds(mols)
    compare_counts("BRICS fragments", frag, shipped["Frag"]["frag"])
    compare_counts("scaffolds", scaf, shipped["Scaf"]["scaf"])
    out.update(frag_keys=np.array(list(frag)), frag_counts=np.array(list(frag.values()), dtype=np.int64),
               scaf_keys=np.array(list(scaf)), scaf_counts=np.array(list(scaf.values()), dtype=np.int64))
    if name == "test":
        fps = mm.fingerprints(mols)
        same = (fps == shipped["SNN"]["fps"]).all(axis=1)
        print(f"  Morgan fingerprints: {same.sum():,} of {len(fps):,} equal to the shipped ones")
        out["fps_packed"] = np.packbits(fps, axis=1)
    print(f"  RDKit statistics: {time.time() - start:.0f} s")
    mu, sigma = shipped["FCD"]["mu"], shipped["FCD"]["sigma"]
    if recompute_fcd:
        stats = mm.chemnet_statistics(smiles)
        print(f"  FCD(recomputed, shipped) = {mm.frechet_distance(shipped['FCD'], stats):.2e}")
        mu, sigma = stats["mu"], stats["sigma"]
    if check:
        subset = [smiles[i] for i in np.random.default_rng(seed).choice(len(smiles), check, replace=False)]
        stats = mm.chemnet_statistics(subset)
        gap = float(((stats["mu"] - mu) ** 2).sum())
        expected = float(np.trace(sigma)) / check * (1 - check / len(smiles))
        print(f"  ChemNet check on {check:,} random molecules: |mean - shipped mean|^2 = {gap:.4f} "
              f"(sampling alone: {expected:.4f} on average); FCD(subset, shipped) = "
              f"{mm.frechet_distance({'mu': mu, 'sigma': sigma}, stats):.3f}")
    out.update(fcd_mu=np.asarray(mu, dtype=np.float64), fcd_sigma=np.asarray(sigma, dtype=np.float32))
    loss = mm.frechet_distance({"mu": mu, "sigma": sigma}, {"mu": mu, "sigma": out["fcd_sigma"].astype(np.float64)})
    print(f"  FCD between the float64 and the stored float32 covariance: {loss:.1e}")
    return out


def write_properties(moses: Path, path: Path, *, check: int, seed: int) -> None:
    """The test set's logP, SA, QED and weight as MOSES computed them (float32), checked on ``check`` molecules."""
    smiles = read_smiles(moses / "dataset" / "data" / "test.csv.gz")
    shipped = np.load(moses / "dataset" / "data" / "test_stats.npz", allow_pickle=True)["stats"].item()
    values = {name: np.asarray(shipped[name]["values"], dtype=np.float32) for name in mm.PROPERTIES}
    for name, function in mm.PROPERTIES.items():
        rows = np.random.default_rng(seed).choice(len(smiles), check, replace=False)
        ours = np.array([function(to_molecule(smiles[i])) for i in rows])
        print(f"  {name}: largest difference from the shipped value on {check:,} random molecules "
              f"{np.abs(ours - values[name][rows]).max():.2e}")
    np.savez_compressed(path, **values)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")


def write_filters(moses: Path, path: Path) -> None:
    rows = []
    with open(moses / "metrics" / "mcf.csv", newline="") as handle:
        rows += [(r["names"], r["smarts"]) for r in csv.DictReader(handle)]
    with open(moses / "metrics" / "wehi_pains.csv", newline="") as handle:
        rows += [(names.strip(), smarts.strip()) for smarts, names in csv.reader(handle)]
    bad = [name for name, smarts in rows if mm.Chem.MolFromSmarts(smarts) is None]
    if bad:
        raise SystemExit(f"SMARTS that RDKit cannot read: {bad}")
    with io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), newline="") as handle:   # the same bytes every run
        writer = csv.writer(handle)
        writer.writerow(["name", "smarts"])
        writer.writerows(rows)
    print(f"{path}: {len(rows)} filters")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", type=int, default=1000, help="molecules for the ChemNet check (0: none)")
    parser.add_argument("--recompute-fcd", action="store_true", help="run ChemNet on every molecule (1.5 h on 2 CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=[*mm.REFERENCES, "properties"],
                        help="write one reference set only (and the filters and properties, always)")
    args = parser.parse_args(argv)
    moses = molsets_dir()
    write_filters(moses, DATA_DIR / "moses_filters.csv.gz")
    write_properties(moses, DATA_DIR / "moses_test_properties.npz", check=args.check, seed=args.seed)
    if args.only == "properties":
        return 0
    for name in [args.only] if args.only else mm.REFERENCES:
        stats = reference(name, moses, check=args.check, recompute_fcd=args.recompute_fcd, seed=args.seed)
        path = mm.reference_path(name)
        np.savez_compressed(path, **stats)
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
