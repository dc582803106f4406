"""Train the two molecule VAEs that ship with the package (notebook 09): one on SMILES, one on SELFIES.

    python benchmarks/train_molecules.py          # both, side by side (one thread each), seed 0
                                                  # -> vae_course/molecules/pretrained/molecule_vae_{smiles,selfies}.pt
    python benchmarks/train_molecules.py --representation selfies --out /tmp/selfies.pt   # one of them

The recipe (:data:`RECIPE`) is a :class:`vae_course.molecules.SequenceVAE` (convolutional encoder, GRU
decoder with teacher forcing) trained on the 50,000 embedded MOSES training molecules with
:func:`vae_course.train.fit` (Adam), one epoch per call, so that each epoch gets its own KL weight and
learning rate: the KL weight rises linearly from 0 to ``beta`` over the first ``kl_warmup`` epochs
(KL annealing, Bowman et al. 2016), the learning rate falls from ``lr`` to ``lr / 10`` along a cosine.
Both models get the same recipe and the same number of epochs; the two runs are independent
processes, so ``--representation both`` uses two cores.

After training, each model is scored as in the notebook: validity, uniqueness and novelty (MOSES
definitions, :func:`vae_course.molecules.moses_metrics`, novelty against the 50,000 training molecules)
of 1,000 molecules decoded from z ~ N(0, I) (seed 0, temperature 1), the ELBO and the greedy
reconstruction accuracy of the 5,000 test molecules. The numbers, the recipe, the command and the
times go into the checkpoint's ``meta`` (:func:`vae_course.molecules.molecule_vae_info`);
``benchmarks/README.md`` ("Molecules") reports them.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vae_course.molecules import (SequenceVAE, Vocabulary, checkpoint_path, load_molecule_vae,  # noqa: E402
                                  load_molecules, moses_metrics, save_molecule_vae, sequence_elbo,
                                  sequence_vae_loss, tokenize)
from vae_course.train import History, fit, model_mode, set_seed  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the shipped models (besides the seed and the data)."""

    embed_dim: int = 32
    channels: int = 64
    hidden_dim: int = 256
    latent_dim: int = 32
    epochs: int = 7
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 0.3        # final KL weight (1: the true ELBO; MOSES's VAE ends at 0.05)
    kl_warmup: float = 2.0   # epochs over which the KL weight rises from 0 to beta

    def beta_at(self, epoch: float) -> float:
        return self.beta * min(1.0, epoch / self.kl_warmup) if self.kl_warmup > 0 else self.beta

    def lr_at(self, epoch: int) -> float:
        progress = epoch / max(1, self.epochs - 1)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


RECIPE = Recipe()


def recipe_with(recipe: Recipe, overrides: list[str]) -> Recipe:
    """``["epochs=3", "beta=0.5"]`` -> a recipe with those fields changed (for ablations)."""
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in Recipe.__dataclass_fields__:
            raise SystemExit(f"unknown recipe field {key!r}; choose from {', '.join(Recipe.__dataclass_fields__)}")
        changes[key] = type(getattr(recipe, key))(value)
    return replace(recipe, **changes)


@torch.no_grad()
def score(model: SequenceVAE, vocab: Vocabulary, train_smiles: list[str], test_tokens: torch.Tensor,
          n_samples: int = 1000, seed: int = 0) -> dict:
    """Prior-sample metrics (MOSES), test ELBO (nats per molecule, z sampled) and greedy reconstruction."""
    with model_mode(model, training=False):
        samples = vocab.decode(model.sample(n_samples, generator=torch.Generator().manual_seed(seed)))
        metrics = moses_metrics(samples, set(train_smiles))
        torch.manual_seed(seed)
        elbos, exact = [], 0
        for chunk in test_tokens.split(500):
            mu, logvar = model.encode(chunk)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            elbos.append(sequence_elbo(model.decode(z, chunk), chunk, mu, logvar))
            exact += int((model.generate(mu, greedy=True) == chunk).all(dim=1).sum())
    elbo = torch.cat(elbos)
    return {"valid": metrics["valid"], "unique": metrics["unique"], "novel": metrics["novel"],
            "test_elbo": float(elbo.mean()), "test_reconstructed": exact / len(test_tokens),
            "n_samples": n_samples}


def train_one(representation: str, recipe: Recipe, seed: int, out: Path, threads: int, command: str,
              limit: int | None = None) -> dict:
    """Train one model, save it to ``out`` with its metadata and scores; returns the scores.

    limit: train on the first ``limit`` molecules only and score on as many test molecules (smoke tests).
    """
    torch.set_num_threads(threads)
    train_smiles = load_molecules("train", limit=limit, verbose=False)
    test_smiles = load_molecules("test", limit=limit, verbose=False)
    start = time.perf_counter()
    sequences = [tokenize(s, representation) for s in train_smiles]
    vocab = Vocabulary.from_sequences(sequences, representation)
    tokens = vocab.encode_sequences(sequences, train_smiles)
    test_tokens = vocab.encode(test_smiles)
    tokenize_seconds = time.perf_counter() - start
    print(f"[{representation}] {vocab}; {len(tokens):,} training molecules tokenised in {tokenize_seconds:.0f} s",
          flush=True)

    set_seed(seed)
    model = SequenceVAE(len(vocab), vocab.max_len, embed_dim=recipe.embed_dim, channels=recipe.channels,
                        hidden_dim=recipe.hidden_dim, latent_dim=recipe.latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    history = History()
    train_start, cpu_start = time.perf_counter(), time.process_time()
    loads = []                                 # the machine's 1-minute load average after each epoch
    for epoch in range(recipe.epochs):
        beta = recipe.beta_at(epoch + 1)       # the epoch's KL weight (the first epoch already has a little KL)
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        fit(model, tokens, epochs=1, batch_size=recipe.batch_size, optimizer=optimizer, history=history,
            loss_fn=functools.partial(sequence_vae_loss, beta=beta), seed=seed + epoch, progress=False,
            device="cpu")
        last = {k: v[-1] for k, v in history.train.items()}
        loads.append(os.getloadavg()[0])
        print(f"[{representation}] epoch {epoch + 1}/{recipe.epochs}: beta {beta:.2f}, lr {recipe.lr_at(epoch):.1e}, "
              f"recon {last['recon']:.2f}, KL {last['kl']:.2f} nats, {time.perf_counter() - train_start:.0f} s "
              f"({time.process_time() - cpu_start:.0f} CPU s), load {loads[-1]:.1f}",
              flush=True)
    train_seconds = time.perf_counter() - train_start
    cpu_seconds = time.process_time() - cpu_start

    meta = {"recipe": asdict(recipe), "representation": representation, "seed": seed, "command": command,
            "threads": threads, "epochs": recipe.epochs, "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1), "load_average": round(sum(loads) / len(loads), 2),
            "tokenize_seconds": round(tokenize_seconds, 1), "train_molecules": len(tokens),
            "torch": torch.__version__.split("+")[0]}
    save_molecule_vae(model, vocab, out, history=history, **meta)
    model, vocab = load_molecule_vae(out, device="cpu")        # score exactly what ships
    scores = score(model, vocab, train_smiles, test_tokens)
    save_molecule_vae(model, vocab, out, history=history, **meta, scores=scores)
    print(f"[{representation}] {train_seconds:.0f} s training ({cpu_seconds:.0f} CPU s); {out} "
          f"({out.stat().st_size / 1e6:.1f} MB); " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    return scores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--representation", choices=["smiles", "selfies", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model (default 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint path (one representation only; default: the shipped location)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change a field of the recipe (ablations)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training and test molecules (quick trials; not for shipping)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    recipe = recipe_with(RECIPE, args.overrides)
    if args.representation == "both":
        if args.out is not None:
            raise SystemExit("--out needs --representation smiles or selfies")
        start = time.perf_counter()
        common = ["--seed", str(args.seed), "--threads", str(args.threads)]
        common += ["--limit", str(args.limit)] if args.limit is not None else []
        common += [arg for override in args.overrides for arg in ("--set", override)]
        children = [subprocess.Popen([sys.executable, __file__, "--representation", rep, *common],
                                     env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
                    for rep in ("smiles", "selfies")]
        codes = [child.wait() for child in children]
        print(f"both models: {time.perf_counter() - start:.0f} s wall time")
        return max(codes)
    out = args.out or checkpoint_path(args.representation)
    command = "python benchmarks/train_molecules.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"[{args.representation}] recipe {recipe}; seed {args.seed}; {args.threads} thread(s)", flush=True)
    train_one(args.representation, recipe, args.seed, out, args.threads, command.strip(), limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
