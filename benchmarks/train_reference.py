"""Train the course's reference VAE and write the checkpoint that ships with the package.

    python benchmarks/train_reference.py                 # seed 0, 2 threads, 150 epochs -> vae_course/pretrained/reference_vae.pt

The recipe (:data:`REFERENCE`) is a :class:`vae_course.models.DeepConvVAE` (ConvVAE's encoder, a decoder
with extra 3x3 convolutions at 14x14 and 28x28) trained on the 4,500 embedded MNIST training images
only, with the course's training tricks from ``benchmarks/benchmark_vae.py``: small batches (32: four
times the updates per epoch of batch 128), cosine learning-rate decay, KL warm-up, random shifts of up
to +-1 pixel, an exponential moving average of the weights, and the decoder's output bias started at
logit(mean image). The run has a fixed number of epochs (not a time budget), so the same seed gives the
same schedule on any machine.

After training it scores the model the way the benchmark does - the single-sample negative ELBO in
nats per image (:func:`vae_course.train.elbo_per_image`, seed 0) on the grey-level images of the
embedded validation split and, when present, the official MNIST test split - plus the
importance-sampled NLL (IWAE bound, ``--iwae-k`` samples on the first ``--iwae-n`` test images), and
stores those numbers, the recipe, the command and the times in the checkpoint's ``meta``
(:func:`vae_course.zoo.reference_vae_info`). Results: ``benchmarks/README.md``, section "Model quality".
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from benchmark_vae import COURSE, load_data, recipe_with, train  # noqa: E402
from vae_course import data as vdata  # noqa: E402
from vae_course.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from vae_course.evaluation import importance_sampled_nll  # noqa: E402
from vae_course.train import elbo_per_image  # noqa: E402
from vae_course.zoo import PRETRAINED_DIR, REFERENCE_VAE  # noqa: E402

REFERENCE = replace(
    COURSE, name="reference", model="DeepConvVAE",
    config=dict(latent_dim=32, channels=32, hidden_dim=256, fine=16),
    lr=1e-3, batch_size=32, kl_warmup=0.1, max_shift=1, ema_decay=0.995, fused_adam=True)
"""The reference recipe (see benchmarks/README.md for what each part buys)."""

EPOCHS = 150


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (default 2, as for the shipped model; results differ slightly with "
                             "another count, because sums are split differently)")
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR / REFERENCE_VAE)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change a field of the reference recipe (ablations)")
    parser.add_argument("--eval-every", type=int, default=40,
                        help="print the held-out score every N epochs (0: never; its time is not counted)")
    parser.add_argument("--iwae-k", type=int, default=1000, help="importance samples for the IWAE bound")
    parser.add_argument("--iwae-n", type=int, default=500, help="test images scored by the IWAE bound")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = recipe_with(REFERENCE, args.overrides)
    train_images, _, _ = load_data("val")
    val = vdata.load_mnist("val", source="embedded", verbose=False).images
    official = vdata.default_official_test_dir()
    test = vdata.load_official_test(official, verbose=False).images if official is not None else None
    print(f"reference recipe: {recipe.describe()}; {args.epochs} epochs; seed {args.seed}; "
          f"{args.threads} thread(s); {len(train_images):,} embedded training images")

    eval_cpu = 0.0

    def log(epoch, model):
        nonlocal eval_cpu
        if args.eval_every and epoch % args.eval_every == 0:
            t0 = time.process_time()
            scores = f"val {elbo_per_image(model, val, seed=0, device='cpu'):.2f}"
            if test is not None:
                scores += f", official test {elbo_per_image(model, test, seed=0, device='cpu'):.2f}"
            eval_cpu += time.process_time() - t0
            print(f"  epoch {epoch}: {scores} nats/image", flush=True)

    run = train(recipe, train_images, seed=args.seed, epochs=args.epochs, on_epoch=log)
    cpu_s = run.cpu_s - eval_cpu
    # Ship the weights in float16 (half the file size); score the model as it loads from the file.
    save_checkpoint(copy.deepcopy(run.model).half(), args.out)
    model = load_checkpoint(args.out, device="cpu")
    scores = {"val": round(elbo_per_image(model, val, seed=0, device="cpu"), 3),
              "train": round(elbo_per_image(model, train_images, seed=0, device="cpu"), 3)}
    if test is not None:
        scores["official_test"] = round(elbo_per_image(model, test, seed=0, device="cpu"), 3)
        subset = test[:args.iwae_n]
        scores[f"official_test_first{len(subset)}"] = round(elbo_per_image(model, subset, seed=0, device="cpu"), 3)
        scores[f"official_test_first{len(subset)}_iwae_k{args.iwae_k}"] = round(
            importance_sampled_nll(model, subset, k=args.iwae_k, seed=0), 3)
    scores["val_iwae_k%d" % args.iwae_k] = round(importance_sampled_nll(model, val, k=args.iwae_k, seed=0), 3)
    meta = dict(recipe={k: v for k, v in asdict(recipe).items()}, description=recipe.describe(),
                command="python benchmarks/train_reference.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                seed=args.seed, epochs=run.epochs, threads=args.threads,
                train_seconds=dict(cpu=round(cpu_s, 1), wall=round(run.wall_s, 1)),
                scores=scores, score="single-sample negative ELBO (IWAE: importance-sampled NLL), nats per image, "
                                    "grey-level targets")
    save_checkpoint(copy.deepcopy(run.model).half(), args.out, **meta)
    print(f"trained in {cpu_s:.0f} s CPU, {run.wall_s:.0f} s wall (held-out logging excluded from CPU)")
    for key, value in scores.items():
        print(f"  {key}: {value:.2f}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return meta


if __name__ == "__main__":
    main()
