"""Extract the molecule subset that ships with vae-course from the MOSES benchmark (notebook 09).

    pip download molsets==0.3.1 --no-deps -d /tmp/molsets      # the wheel is a zip; nothing is installed
    python scripts/extract_moses_subset.py /tmp/molsets/molsets-0.3.1-py3-none-any.whl

MOSES (Polykovskiy et al. 2020, MIT licence, copyright 2018 Insilico Medicine) ships its data sets
inside the ``molsets`` wheel: ``moses/dataset/data/train.csv.gz`` (1,584,663 SMILES) and ``test.csv.gz``
(176,074 SMILES), one column ``SMILES``. This script

1. reads both files straight from the wheel (``zipfile``; the ``molsets`` package is never imported),
2. draws ``--train`` (50,000) and ``--test`` (5,000) rows uniformly without replacement with
   ``numpy.random.default_rng(--seed)`` (seed 0), **in the order drawn**: MOSES's files are not in random
   order (neighbouring rows are alike; vae_course/molecules/data/README.md), so the subsets are shuffled
   and any prefix of them (``load_molecules(..., limit=n)``) is a random sample,
3. writes each SMILES as RDKit's canonical SMILES (MOSES wrote them with a 2019 RDKit; today's
   RDKit spells about 1 in 5,000 differently, and novelty compares canonical strings),
4. writes ``vae_course/molecules/data/moses_{train,test}.csv.gz`` (gzip with ``mtime=0``, so the
   files are byte-identical on every run) and the wheel's licence as ``LICENSE``.

The printed SHA-256 of the wheel and of the outputs are recorded in vae_course/molecules/data/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger, rdBase

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "vae_course" / "molecules" / "data"
MEMBERS = {"train": "moses/dataset/data/train.csv.gz", "test": "moses/dataset/data/test.csv.gz"}
LICENSE_MEMBER = "molsets-0.3.1.dist-info/LICENSE"


def read_smiles(wheel: zipfile.ZipFile, member: str) -> list[str]:
    """The SMILES column of a gzipped one-column CSV inside the wheel (header ``SMILES``)."""
    lines = gzip.decompress(wheel.read(member)).decode().splitlines()
    if lines[0].strip() != "SMILES":
        raise ValueError(f"{member}: expected the header 'SMILES', got {lines[0]!r}")
    return [line.strip() for line in lines[1:] if line.strip()]


def canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse the MOSES SMILES {smiles!r}")
    return Chem.MolToSmiles(mol)


def write_csv_gz(path: Path, smiles: list[str]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(("SMILES\n" + "\n".join(smiles) + "\n").encode())
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="molsets-0.3.1-py3-none-any.whl")
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    RDLogger.DisableLog("rdApp.*")

    print(f"wheel {args.wheel.name} sha256 {hashlib.sha256(args.wheel.read_bytes()).hexdigest()}")
    print(f"RDKit {rdBase.rdkitVersion}")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    with zipfile.ZipFile(args.wheel) as wheel:
        (args.out / "LICENSE").write_bytes(wheel.read(LICENSE_MEMBER))
        for split, size in (("train", args.train), ("test", args.test)):
            smiles = read_smiles(wheel, MEMBERS[split])
            keep = rng.choice(len(smiles), size=size, replace=False)        # random order, not file order
            chosen = [smiles[i] for i in keep]
            canon = [canonical(s) for s in chosen]
            changed = sum(a != b for a, b in zip(chosen, canon))
            data = write_csv_gz(args.out / f"moses_{split}.csv.gz", canon)
            print(f"{split}: {size:,} of {len(smiles):,} SMILES ({changed} re-canonicalised), "
                  f"{len(data) / 1e3:.0f} kB, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
