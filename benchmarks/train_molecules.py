"""Train the two molecule VAEs that ship with the package (notebook 09): one on SMILES, one on SELFIES.

    pip download --no-deps molsets==0.3.1 -d /tmp/molsets && unzip -q /tmp/molsets/*.whl -d /tmp/molsets
    python benchmarks/train_molecules.py --moses-train /tmp/molsets/moses/dataset/data/train.csv.gz
        # both, side by side (one thread each), seed 0 -> vae_course/molecules/pretrained/molecule_vae_{smiles,selfies}.pt
    python benchmarks/train_molecules.py --representation selfies --out /tmp/selfies.pt --moses-train ...   # one

The shipped models were trained in two runs: first the default recipe with ``--set draw=first`` (SELFIES), and for
SMILES ``--threads 2 --set draw=first --set kl_target=20 --set batch_size=256 --set presentations=3200000 --set
warmup_steps=200``; then each was fine-tuned (``--init``) on a random 400,000 with ``--set kl_target=16`` (SMILES) or
``15`` (SELFIES) ``--set batch_size=256 --set presentations=800000 --set warmup_steps=100 --set lr=1e-3`` and
``beta_start`` where the first run ended; the SELFIES model was fine-tuned once more on the same 400,000 with
``--set kl_target=10 --set presentations=1000000`` (benchmarks/README.md, "Molecules", has the commands and the
numbers; a checkpoint's ``meta["init"]`` chain records every stage).

The recipe (:data:`RECIPE`): a :class:`vae_course.molecules.SequenceVAE` (convolutional encoder, GRU decoder
that sees z at every step, as in MOSES's VAE) trained on ``molecules`` molecules of the MOSES training set
(drawn at random from its file, seed 0 - its first rows are not typical of it - or with ``--set draw=first``
the first ones, as for both shipped models; without ``--moses-train``, the 50,000 embedded ones) for ``presentations``
molecules in all, with what the field knows works for sequence VAEs:

* **length-bucketed batches**: molecules of similar length share a batch, and the decoder runs only up to the
  batch's longest one (less padding, about a third less work);
* Adam with a linear warm-up and a cosine decay of the learning rate, gradients clipped at norm ``clip``;
* **a KL target instead of a fixed weight**: the KL weight beta follows a multiplicative controller
  (beta <- beta * exp(gain * (KL - target) / target), kept in [beta_min, 1]) so that the code carries about
  ``kl_target`` nats per molecule. A fixed small beta lets a strong autoregressive decoder ignore z (the KL
  collapses, Bowman et al. 2016: a language model with a useless latent); a large one leaves the prior's
  samples where the decoder never learned. The target fixes the middle directly, in nats.

After training, each model is scored as in the notebook: validity, uniqueness and novelty (MOSES definitions)
of 1,000 molecules decoded from z ~ N(0, I) (seed 0, temperature 1), the ELBO, the KL and the greedy
reconstruction of the 5,000 embedded test molecules. The numbers, the recipe, the command and the times go
into the checkpoint's ``meta`` (:func:`vae_course.molecules.molecule_vae_info`); ``benchmarks/README.md``
("Molecules") reports them, and ``benchmarks/molecules_benchmark.py`` measures the full MOSES table.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vae_course.molecules.tokens import PAD  # noqa: E402
from vae_course.molecules import (SequenceVAE, Vocabulary, checkpoint_path, latent_scores,  # noqa: E402
                                  load_molecule_vae, load_molecules, molecule_vae_info, moses_metrics,
                                  save_molecule_vae, sequence_elbo, sequence_vae_loss, tokenize)
from vae_course.train import History, model_mode, set_seed  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the shipped models (besides the seed and the data)."""

    embed_dim: int = 64
    channels: int = 64
    hidden_dim: int = 384
    latent_dim: int = 32
    molecules: int = 400_000        # training molecules taken from MOSES train (the embedded 50,000 without it)
    draw: str = "random"            # "random": drawn from the whole file (seed 0); "first": its first rows
    presentations: int = 1_200_000  # molecules shown in all (steps x batch_size)
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 300
    clip: float = 1.0
    kl_target: float = 30.0         # nats per molecule
    beta_start: float = 0.1
    beta_min: float = 0.01
    gain: float = 0.02

    @property
    def steps(self) -> int:
        return self.presentations // self.batch_size

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def next_beta(self, beta: float, kl: float) -> float:
        return min(1.0, max(self.beta_min, beta * math.exp(self.gain * (kl - self.kl_target) / self.kl_target)))


RECIPE = Recipe()


def recipe_with(recipe: Recipe, overrides: list[str]) -> Recipe:
    """``["presentations=3000", "kl_target=20"]`` -> a recipe with those fields changed (for ablations)."""
    changes = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in Recipe.__dataclass_fields__:
            raise SystemExit(f"unknown recipe field {key!r}; choose from {', '.join(Recipe.__dataclass_fields__)}")
        changes[key] = type(getattr(recipe, key))(value)
    return replace(recipe, **changes)


def bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator):
    """One epoch of index batches (each a LongTensor): shuffled, then sorted by length inside windows of 50
    batches, so that a batch holds molecules of similar length; the batches themselves come in random order."""
    order = torch.randperm(len(lengths), generator=generator)
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += list(chunk.split(batch_size))
    for i in torch.randperm(len(batches), generator=generator).tolist():
        yield batches[i]


@torch.no_grad()
def score(model: SequenceVAE, vocab: Vocabulary, train_smiles: list[str], test_tokens: torch.Tensor,
          n_samples: int = 1000, seed: int = 0) -> dict:
    """Prior-sample metrics (MOSES), test ELBO and KL (nats per molecule, z sampled) and greedy reconstruction."""
    with model_mode(model, training=False):
        samples = vocab.decode(model.sample(n_samples, generator=torch.Generator().manual_seed(seed)))
        metrics = moses_metrics(samples, set(train_smiles))
        torch.manual_seed(seed)
        elbos = []
        for chunk in test_tokens.split(500):
            mu, logvar = model.encode(chunk)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            elbos.append(sequence_elbo(model.decode(z, chunk), chunk, mu, logvar))
        code = latent_scores(model, test_tokens)
    return {"valid": metrics["valid"], "unique": metrics["unique"], "novel": metrics["novel"],
            "test_elbo": float(torch.cat(elbos).mean()), "test_kl": code["kl"],
            "test_reconstructed": code["recon_exact"], "n_samples": n_samples}


def training_draw(moses_train: Path | None, count: int, draw: str) -> list[str]:
    """``count`` training molecules as a recipe takes them: from MOSES's ``train.csv.gz`` drawn at random (seed 0)
    or its first rows (``draw="first"``); without the file, the first of the embedded 50,000 (a random draw
    already). The benchmark takes a model's training molecules again with the same function."""
    if draw not in ("random", "first"):
        raise SystemExit(f"draw must be 'random' or 'first', got {draw!r}")
    if moses_train is None:
        return load_molecules("train", limit=count, verbose=False)
    how = {"sample": count} if draw == "random" else {"limit": count}
    return load_molecules("train", moses_train, **how, verbose=False)


def train_one(representation: str, recipe: Recipe, seed: int, out: Path, threads: int, command: str,
              moses_train: Path | None = None, limit: int | None = None, init: Path | None = None) -> dict:
    """Train one model, save it to ``out`` with its metadata and scores; returns the scores.

    limit: score on the first ``limit`` test molecules only (smoke tests).
    init: go on training the checkpoint at this path (its architecture and vocabulary; the recipe's model fields
    are ignored) instead of a fresh model - a fine-tune, e.g. on other training molecules. Molecules its
    vocabulary cannot encode are left out (the count is printed).
    """
    torch.set_num_threads(threads)
    source = moses_train if moses_train is not None else "embedded"
    train_smiles = training_draw(moses_train, recipe.molecules, recipe.draw)
    test_smiles = load_molecules("test", limit=limit, verbose=False)
    start = time.perf_counter()
    sequences = [tokenize(s, representation) for s in train_smiles]
    if init is not None:
        model, vocab = load_molecule_vae(init, device="cpu")
        before = molecule_vae_info(init)
        if vocab.representation != representation:
            raise SystemExit(f"--init {init} is a {vocab.representation} model, not {representation}")
        kept = [i for i, seq in enumerate(sequences) if vocab.fits(seq)]
        print(f"[{representation}] fine-tuning {init}: {len(sequences) - len(kept):,} of {len(sequences):,} "
              "molecules left out (tokens or length its vocabulary lacks)", flush=True)
        sequences, train_smiles = [sequences[i] for i in kept], [train_smiles[i] for i in kept]
    else:
        longest_test = max(len(tokenize(s, representation)) for s in test_smiles)
        vocab = Vocabulary.from_sequences(sequences + [tokenize(s, representation) for s in test_smiles[:1]],
                                          representation, max_len=max(max(map(len, sequences)), longest_test) + 1)
    tokens = vocab.encode_sequences(sequences, train_smiles)
    test_tokens = vocab.encode(test_smiles)
    lengths = (tokens != PAD).sum(dim=1)
    tokenize_seconds = time.perf_counter() - start
    print(f"[{representation}] {vocab}; {len(tokens):,} training molecules from {source} tokenised in "
          f"{tokenize_seconds:.0f} s; {recipe.steps:,} steps", flush=True)

    set_seed(seed)
    if init is None:
        model = SequenceVAE(len(vocab), vocab.max_len, embed_dim=recipe.embed_dim, channels=recipe.channels,
                            hidden_dim=recipe.hidden_dim, latent_dim=recipe.latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    generator = torch.Generator().manual_seed(seed)
    history, beta, step, epoch = History(), recipe.beta_start, 0, 0
    sums = {"recon": 0.0, "kl": 0.0, "beta": 0.0, "n": 0}
    train_start, cpu_start = time.perf_counter(), time.process_time()
    model.train()
    while step < recipe.steps:
        for index in bucketed_batches(lengths, recipe.batch_size, generator):
            if step >= recipe.steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr_at(step)
            terms = sequence_vae_loss(model, tokens[index], beta=beta)  # the decoder stops at the longest molecule
            loss, recon, kl = terms["loss"], terms["recon"], terms["kl"]
            if not torch.isfinite(loss):
                raise SystemExit(f"[{representation}] the loss became {loss.item()} at step {step}; lower --set lr=")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
            optimizer.step()
            beta = recipe.next_beta(beta, kl.item())
            for key, value in (("recon", recon.item()), ("kl", kl.item()), ("beta", beta), ("n", 1)):
                sums[key] += value
            step += 1
            if step % 500 == 0 or step == recipe.steps:
                n = sums.pop("n")
                means = {k: v / n for k, v in sums.items()}
                history.log("train", means)
                elapsed = time.perf_counter() - train_start
                print(f"[{representation}] step {step:,}/{recipe.steps:,} (epoch {epoch + 1}): recon "
                      f"{means['recon']:.2f}, KL {means['kl']:.2f} nats, beta {means['beta']:.3f}, lr "
                      f"{recipe.lr_at(step):.1e}; {elapsed:.0f} s, {step * recipe.batch_size / elapsed:.0f} mol/s, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                sums = {"recon": 0.0, "kl": 0.0, "beta": 0.0, "n": 0}
        epoch += 1
    train_seconds = time.perf_counter() - train_start
    cpu_seconds = time.process_time() - cpu_start

    meta = {"recipe": asdict(recipe), "representation": representation, "seed": seed, "command": command,
            "threads": threads, "steps": recipe.steps, "train_seconds": round(train_seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1), "final_beta": round(beta, 4),
            "tokenize_seconds": round(tokenize_seconds, 1), "train_molecules": len(tokens),
            "torch": torch.__version__.split("+")[0]}
    if init is not None:
        meta["init"] = {"path": str(init), "command": before.get("command", ""), "recipe": before.get("recipe", {}),
                        "train_molecules": before.get("train_molecules"), "train_cpu_seconds": before.get("train_cpu_seconds"),
                        "init": before.get("init")}               # the starting model's own start: a chain of stages
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
    parser.add_argument("--moses-train", type=Path, default=None,
                        help="MOSES's train.csv.gz (inside the molsets wheel; see above); default: the embedded 50,000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model (default 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint path (one representation only; default: the shipped location)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change a field of the recipe (ablations)")
    parser.add_argument("--init", type=Path, default=None,
                        help="go on training this checkpoint (fine-tune; one representation only)")
    parser.add_argument("--limit", type=int, default=None,
                        help="score on the first N test molecules only (quick trials; not for shipping)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    recipe = recipe_with(RECIPE, args.overrides)
    if args.representation == "both":
        if args.out is not None or args.init is not None:
            raise SystemExit("--out and --init need --representation smiles or selfies")
        start = time.perf_counter()
        common = ["--seed", str(args.seed), "--threads", str(args.threads)]
        common += ["--limit", str(args.limit)] if args.limit is not None else []
        common += ["--moses-train", str(args.moses_train)] if args.moses_train is not None else []
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
    train_one(args.representation, recipe, args.seed, out, args.threads, command.strip(),
              moses_train=args.moses_train, limit=args.limit, init=args.init)
    return 0


if __name__ == "__main__":
    sys.exit(main())
