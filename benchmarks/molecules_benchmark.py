"""The MOSES table for the shipped molecule VAEs and two trivial baselines, beside the MOSES paper's rows.

    python benchmarks/molecules_benchmark.py                      # 30,000 samples per model (the MOSES protocol)
    python benchmarks/molecules_benchmark.py --samples 2000       # quick: FCD is biased upwards at small N
    python benchmarks/molecules_benchmark.py --samples 200 --json # the JSON on stdout, nothing written

    python benchmarks/molecules_benchmark.py --moses-train train.csv.gz --models smiles_vae --update
    python benchmarks/molecules_benchmark.py --moses-train train.csv.gz --models "" --checkpoint mine=/tmp/mine.pt

Models (all fitted on the same training molecules: the shipped VAEs' own, ``train_molecules`` in their
checkpoints - the first ones of MOSES's ``train.csv.gz`` from the molsets wheel, ``--moses-train``, or the
50,000 embedded ones, ``load_molecules("train")``, for models trained on those):

* ``smiles_vae``, ``selfies_vae``: the shipped checkpoints (``load_molecule_vae``), z ~ N(0, I), temperature 1;
  also ``kl`` (mean KL(q(z|x) || N(0, I)) in nats per molecule) and ``recon_exact`` (fraction of the
  5,000 embedded test molecules that greedy decoding of their mean code writes back token for token);
* ``unigram``: SMILES characters drawn independently with their training frequencies (the end of the
  string is a character too) - what a model knows that has learnt only which characters occur;
* ``ngram``: a character n-gram model: each character drawn given the ``--context`` (default 10) characters
  before it, with the counts of the training molecules - MOSES's NGram baseline (context of up to 10
  tokens) on our training data, without its additive smoothing;
* ``train_copy``: N training molecules drawn at random - not a generator but the yardstick: the FCD a
  perfect model of the training distribution scores at this N (novelty 0 by construction);
* ``moses_copy`` (with ``--moses-train`` only): N molecules drawn at random from the whole of MOSES's
  ``train.csv.gz`` - the same yardstick for the full training distribution. The file is not in random order:
  its first 400,000 rows score a much larger FCD/Test than a draw from all of it (benchmarks/README.md).

Metrics: :func:`vae_course.molecules.metrics.moses_table` against the MOSES test set (176,074 molecules) and
scaffold test set, and the Wasserstein distances of logP, SA, QED and weight to the test set's; novelty
against the same training molecules. Writes ``benchmarks/results/molecules.json`` (``--out``) unless
``--json``; ``--models`` measures some rows only, and ``--update`` keeps the other rows of the file (so
that rows can be measured by separate processes, one per core).
"""

from __future__ import annotations

import argparse
import bisect
import json
import platform
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vae_course.molecules import latent_scores, load_molecule_vae, load_molecules, molecule_vae_info  # noqa: E402
from vae_course.molecules.metrics import moses_table  # noqa: E402
from train_molecules import training_draw  # noqa: E402  (the same directory: a model's molecules, drawn as it drew them)

RESULTS = Path(__file__).resolve().parent / "results" / "molecules.json"
START, END = "\0", "\n"    # the baselines' start and end marks (never inside a SMILES)

PAPER = {  # Polykovskiy et al. 2020 (30,000 samples, MOSES training set of 1.6M): the means of the MOSES README
#           (molecularsets/moses at dd7ed6a); issue 27 quoted NGram's Filters as 0.901, near HMM's 0.902
    "MOSES VAE (paper)": {"valid": 0.977, "fcd_test": 0.099, "snn_test": 0.626, "frag_test": 0.999,
                          "scaf_test": 0.939, "filters": 0.997, "novelty": 0.695},
    "MOSES CharRNN (paper)": {"valid": 0.975, "fcd_test": 0.073, "snn_test": 0.601, "frag_test": 1.000,
                              "scaf_test": 0.924, "filters": 0.994, "novelty": 0.842},
    "MOSES NGram (paper)": {"valid": 0.238, "fcd_test": 5.51, "snn_test": 0.521, "frag_test": 0.985,
                            "scaf_test": 0.530, "filters": 0.958, "novelty": 0.969},
}
COLUMNS = ["valid", "unique_10k", "novelty", "fcd_test", "fcd_testsf", "snn_test", "frag_test", "scaf_test",
           "intdiv1", "intdiv2", "filters", "logP", "SA", "QED", "weight", "kl", "recon_exact"]


class NGramSampler:
    """Characters drawn one at a time given the ``context`` before them, with the counts of the training
    strings (context 0: a unigram model). Every string starts with ``context`` start marks and ends with END.
    A context seen in sampling was always seen in training (it was followed by something there), so no
    back-off is needed."""

    def __init__(self, smiles: list[str], *, context: int):
        self.context = context
        counts: dict[str, Counter] = defaultdict(Counter)
        for s in smiles:
            padded = START * context + s + END
            for t in range(context, len(padded)):
                counts[padded[t - context:t]][padded[t]] += 1
        self.table = {before: (list(c), np.cumsum(list(c.values())) / sum(c.values())) for before, c in counts.items()}
        self.max_len = max(map(len, smiles)) + 1

    def sample(self, n: int, *, rng: np.random.Generator) -> list[str]:
        out = []
        for _ in range(n):
            text = START * self.context
            while len(text) < self.max_len + self.context:
                chars, cumulative = self.table[text[len(text) - self.context:]]
                char = chars[min(bisect.bisect(cumulative, rng.random()), len(chars) - 1)]
                if char == END:
                    break
                text += char
            out.append(text[self.context:])
        return out


@torch.no_grad()
def vae_samples(model, vocab, n: int, *, seed: int, batch: int = 1000) -> list[str]:
    generator = torch.Generator().manual_seed(seed)
    return [s for start in range(0, n, batch) for s in vocab.decode(model.sample(min(batch, n - start),
                                                                                  generator=generator))]


def vae_row(source: str | Path, n: int, *, seed: int, train: set, test: list[str]) -> dict:
    """The metric table of ``n`` prior samples of a VAE (a shipped representation or a checkpoint path), with
    its ``kl`` and ``recon_exact`` on the ``test`` molecules."""
    model, vocab = load_molecule_vae(source, device="cpu")
    return {**moses_table(vae_samples(model, vocab, n, seed=seed), train=train),
            **latent_scores(model, vocab.encode(test))}


MODELS = ["smiles_vae", "selfies_vae", "unigram", "ngram", "train_copy", "moses_copy"]


def _draws(info: dict) -> tuple:
    """How a checkpoint's training molecules were taken from MOSES train: ((count, "first" or "random"), ...) -
    its own, then those of the checkpoint it was fine-tuned from (``--init``), if any."""
    own = (info.get("train_molecules", 50_000), info.get("recipe", {}).get("draw", "first"))
    start = info.get("init")
    return (own, *_draws(start)) if start else (own,)


def training_molecules(moses_train: Path | None, models=("smiles", "selfies")) -> list[str]:
    """The VAEs' training molecules: ``train_molecules`` of MOSES train (its first ones, or drawn at random with
    seed 0 when the recipe says ``draw="random"``, as benchmarks/train_molecules.py loads them; a fine-tuned model's
    and its starting checkpoint's together, each molecule once), or the embedded ones. ``models``: shipped
    representations or checkpoint paths, all trained on the same molecules."""
    ways = {tuple(dict.fromkeys(_draws(molecule_vae_info(model)))) for model in models}   # a draw seen twice: once
    if len(ways) != 1:
        raise SystemExit(f"the VAEs were trained on different molecules ({sorted(ways)}).")
    draws = ways.pop()
    molecules = [training_draw(moses_train, size, draw) for size, draw in draws]
    size, held = max(size for size, _ in draws), max(map(len, molecules))
    if moses_train is None and size > held:
        print(f"warning: the VAEs were trained on {size:,} MOSES molecules, the embedded set holds "
              f"{held:,}: the baselines are fitted on those, and novelty is measured against them only "
              "(too high). Pass --moses-train (MOSES's train.csv.gz, inside the molsets wheel) for the real "
              "table.", file=sys.stderr)
    return list(dict.fromkeys(s for part in molecules for s in part))


def run(n: int, *, seed: int = 0, context: int = 10, models=tuple(MODELS), moses_train: Path | None = None,
        checkpoints: dict | None = None, log=print) -> dict:
    """The rows of ``models``, then one row per ``checkpoints`` entry (name: path of a checkpoint that
    benchmarks/train_molecules.py wrote; its novelty against its own training molecules)."""
    train = training_molecules(moses_train) if set(models) & set(MODELS) else []  # only the listed rows use it
    test = load_molecules("test", verbose=False)
    train_set = set(train)
    samplers = {
        "smiles_vae": None,
        "selfies_vae": None,
        "unigram": lambda: NGramSampler(train, context=0),
        "ngram": lambda: NGramSampler(train, context=context),
        "train_copy": None,
        "moses_copy": None,
    }
    results = {}
    for name, build in samplers.items():
        if name not in models:
            continue
        if name == "moses_copy" and moses_train is None:
            log("moses_copy: skipped (it needs --moses-train)", file=sys.stderr, flush=True)
            continue
        start = time.perf_counter()
        rng = np.random.default_rng([seed, MODELS.index(name)])     # each row its own stream: rows run apart agree
        if name.endswith("_vae"):
            table = vae_row(name.removesuffix("_vae"), n, seed=seed, train=train_set, test=test)
        elif name == "train_copy":
            table = moses_table([train[i] for i in rng.choice(len(train), n, replace=False)], train=train_set)
        elif name == "moses_copy":
            table = moses_table(load_molecules("train", moses_train, sample=n, seed=int(rng.integers(2**31)),
                                               verbose=False), train=train_set)
        else:
            table = moses_table(build().sample(n, rng=rng), train=train_set)
        results[name] = {**table, "train_molecules": len(train), "seconds": round(time.perf_counter() - start, 1)}
        log(f"{name}: {results[name]['seconds']:.0f} s", file=sys.stderr, flush=True)
    for name, path in (checkpoints or {}).items():
        start = time.perf_counter()
        own = training_molecules(moses_train, models=(path,))
        results[name] = {**vae_row(path, n, seed=seed, train=set(own), test=test),
                         "train_molecules": len(own), "checkpoint": str(path),
                         "seconds": round(time.perf_counter() - start, 1)}
        log(f"{name}: {results[name]['seconds']:.0f} s", file=sys.stderr, flush=True)
    return results


def format_table(results: dict, n: int) -> str:
    """The measured rows and the paper's rows as a Markdown table."""
    head = "| model | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in [*((f"{k} (N={n:,})", v) for k, v in results.items()), *PAPER.items()]:
        cells = ["-" if row.get(c) is None or row.get(c) != row.get(c) else f"{row[c]:.3f}" for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30000, help="molecules per model (MOSES: 30,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", type=int, default=10, help="characters the n-gram baseline conditions on")
    parser.add_argument("--json", action="store_true", help="print the JSON to stdout and write nothing")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--models", default=",".join(MODELS), help=f"rows to measure, of {','.join(MODELS)}")
    parser.add_argument("--moses-train", type=Path, default=None,
                        help="MOSES's train.csv.gz, when the shipped VAEs were trained on more than the embedded set")
    parser.add_argument("--update", action="store_true", help="keep the other rows of --out")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="also measure the checkpoint at PATH (from train_molecules.py --out) as row NAME")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if unknown := set(models) - set(MODELS):
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODELS)}")
    checkpoints = {}
    for item in args.checkpoint:
        name, _, path = item.partition("=")
        if not name or not path or not Path(path).is_file():
            parser.error(f"--checkpoint wants NAME=PATH of an existing file, got {item!r}")
        checkpoints[name] = Path(path)
    start = time.perf_counter()
    results = run(args.samples, seed=args.seed, context=args.context, models=models, moses_train=args.moses_train,
                  checkpoints=checkpoints)
    for row in results.values():
        row["n_samples"] = args.samples
    results = {name: {k: None if v != v else v for k, v in row.items()} for name, row in results.items()}  # NaN: null
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(format_table(results, args.samples))
    print(f"\n{time.perf_counter() - start:.0f} s on {platform.node() or 'this machine'}; paper rows: "
          "Polykovskiy et al. 2020 at 30,000 samples (FCD is not comparable at other N).")
    if args.update and args.out.exists():
        results = {**json.loads(args.out.read_text()), **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
