"""Check of Exercise 4.3: the training loop (epochs over shuffled batches, a validation score per epoch).

The loop calls the student's ``training_step`` (Exercise 4.1) for every batch. The check puts the
reference step in its place (so a mistake in 4.1 costs no points here) and gives the loop a small
VAE that records every call of its encoder: which images, in which mode, with or without gradients,
inside a training step or outside one. From that record each way a loop goes wrong is told apart:
the order of the images, the batches, the modes, the validation, and the numbers returned.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from .. import losses, models, train
from ._delegation import InjectedReference
from ._failures import CheckFailed
from ._mistakes import Mistake
from ._registry import REGISTRY
from ._run import exercise

# 20 validation images in batches of 16: a loop that validates batch by batch meets a partial last batch
EPOCHS, BATCH, N_TRAIN, N_VAL = 3, 16, 40, 20
LR = 0.05


def reference_step(model, optimizer, x):
    """One step on the mean negative ELBO of x: (B, 784) -> dict(loss, recon, kl) (the answer to 4.1)."""
    optimizer.zero_grad()
    logits, mu, logvar = model(x)
    recon = -losses.bernoulli_log_likelihood(logits, x).mean()
    kl = losses.gaussian_kl(mu, logvar).mean()
    loss = recon + kl
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}


class PlainSGD:
    """The optimizer the check hands to the loop: SGD written out, counting its steps.

    (torch.optim's first use imports torch's compiler, seconds a check's time limit cannot afford.)
    """

    def __init__(self, params, lr: float = LR):
        self.params, self.lr, self.steps = list(params), lr, 0
        self.param_groups = [{"params": self.params, "lr": lr}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for p in self.params:
            if p.grad is not None:
                p -= self.lr * p.grad


class RecordingVAE(models.VAE):
    """A tiny VAE that records each call of its encoder: (kind, image indices, training, grad enabled).

    ``kind`` is ``"step"`` inside a training step and ``"val"`` outside one. At the first call outside
    a step after some steps, it also records the reference validation score of its current weights.
    """

    def __init__(self, train_images: torch.Tensor, val_images: torch.Tensor):
        state = torch.get_rng_state()
        torch.manual_seed(0)
        super().__init__(hidden_dim=8, latent_dim=2)
        torch.set_rng_state(state)
        self.index = {row.numpy().tobytes(): ("train", i) for i, row in enumerate(train_images)}
        self.index.update({row.numpy().tobytes(): ("val", i) for i, row in enumerate(val_images)})
        self.val_images = val_images
        self.events, self.step_losses, self.val_reference = [], [], []
        self.in_step, self.quiet = False, False

    def encode(self, x):
        if not self.quiet:
            rows = [self.index.get(row.detach().numpy().tobytes(), ("other", -1)) for row in x.reshape(len(x), -1)]
            kind = "step" if self.in_step else "val"
            if kind == "val" and (not self.events or self.events[-1][0] == "step"):
                self.val_reference.append(self.reference_scores())
            self.events.append((kind, rows, self.training, torch.is_grad_enabled()))
        return super().encode(x)

    @torch.no_grad()
    def reference_scores(self) -> dict:
        """The validation score of the current weights, and its known wrong variants."""
        self.quiet, training = True, self.training
        self.eval()
        logits, mu, logvar = self(self.val_images)
        recon = -losses.bernoulli_log_likelihood(logits, self.val_images)
        kl = losses.gaussian_kl(mu, logvar)
        self.train(training)
        self.quiet = False
        each = recon + kl
        batch_means = torch.stack([chunk.mean() for chunk in each.split(BATCH)]).mean()
        return {"val": each.mean(), "recon": recon.mean(), "each": each, "batch_means": batch_means}


@contextmanager
def _reference_step_in_place(fn, model: RecordingVAE, entry):
    """Bind ``training_step`` in the loop's namespace to the reference step (recording), restore it after."""
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return

    def step(m, optimizer, x):
        model.in_step = True
        try:
            out = reference_step(m, optimizer, x)
        finally:
            model.in_step = False
        model.step_losses.append((out["loss"], len(x)))
        # Exercise 4.1 allows floats or 0-dim tensors: the loop gets both, alternately (float(...) reads both)
        if len(model.step_losses) % 2:
            out = {key: torch.tensor(value, device=x.device) for key, value in out.items()}
        return out

    step_exercise = REGISTRY.get("4.1", entry)
    missing = object()
    saved = namespace.get("training_step", missing)
    namespace["training_step"] = InjectedReference(step, step_exercise, entry)
    try:
        yield
    finally:
        if saved is missing:
            namespace.pop("training_step", None)
        else:
            namespace["training_step"] = saved


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(f"{what} is a {type(value).__name__}, expected a number (a float or a 0-dim tensor).",
                      "Store one number per epoch, e.g. float(...) of the epoch's average.", code="not-a-number")


def _history(out) -> tuple[list, list]:
    if out is None:
        raise CheckFailed("your function returned None.", "Return dict(train=[...], val=[...]).", code="returned-none")
    if not isinstance(out, dict) or not {"train", "val"} <= set(out):
        raise CheckFailed(f"your function returned {type(out).__name__} "
                          f"{sorted(out) if isinstance(out, dict) else ''}, expected dict(train=[...], val=[...]).",
                          "Return dict(train=train_losses, val=val_losses): one number per epoch in each list.",
                          code="not-a-history")
    lists = []
    for key in ("train", "val"):
        values = list(out[key]) if isinstance(out[key], (list, tuple)) else None
        if values is None or len(values) != EPOCHS:
            got = len(values) if values is not None else type(out[key]).__name__
            raise CheckFailed(f"out['{key}'] has {got} entries for epochs={EPOCHS}; expected one per epoch.",
                              "Loop `for epoch in range(epochs)` and append one number per epoch.",
                              code="wrong-number-of-epochs")
        lists.append([_number(v, f"out['{key}'][{i}]") for i, v in enumerate(values)])
    return lists[0], lists[1]


def _epochs_of_steps(events) -> list[list]:
    """The training steps' image indices, epoch by epoch (each epoch ends at a validation call)."""
    epochs, current = [], []
    for kind, rows, _, _ in events:
        if kind == "step":
            current.append(rows)
        elif current:
            epochs.append(current)
            current = []
    return epochs + ([current] if current else [])


def _batches(check, model: RecordingVAE, optimizer: PlainSGD) -> None:
    steps = [e for e in model.events if e[0] == "step"]
    if any(where == "val" for _, rows, _, _ in steps for where, _ in rows):
        raise CheckFailed("training_step was called on validation images: the loop trains on them.",
                          "Call training_step only on batches of train_images; the validation images are only scored.",
                          code="trains-on-validation-images")
    sizes = [len(rows) for _, rows, _, _ in steps]
    if sizes == [N_TRAIN] * EPOCHS:
        raise CheckFailed("each epoch is one training step on all the images: batch_size is ignored.",
                          "Split each epoch's shuffled images into batches of batch_size.", code="ignores-batch-size")
    if sizes and set(sizes) == {1}:
        raise CheckFailed("each training step got one image: batch_size is ignored.",
                          "Pass batches of batch_size images to training_step, not single images.",
                          code="ignores-batch-size")
    if model.events and model.events[0][0] == "val":
        raise CheckFailed("the validation score is computed before the epoch's training steps.",
                          "In each epoch: first the training steps over all batches, then the validation score of "
                          "the updated model.", code="validation-before-training")
    epochs = _epochs_of_steps(model.events)
    expected_sizes = [BATCH] * (N_TRAIN // BATCH) + ([N_TRAIN % BATCH] if N_TRAIN % BATCH else [])
    for epoch in epochs:
        seen = [i for rows in epoch for _, i in rows]
        got_sizes = [len(rows) for rows in epoch]
        if got_sizes == expected_sizes[:-1]:
            raise CheckFailed(f"each epoch trains on {sum(got_sizes)} of the {N_TRAIN} images: the last, smaller "
                              "batch is dropped.", "Loop over start positions range(0, N, batch_size); the last "
                              "batch may be smaller.", code="drops-last-batch")
        if sorted(seen) != list(range(N_TRAIN)):
            raise CheckFailed(f"an epoch's batches (sizes {got_sizes}) do not cover each training image exactly "
                              f"once ({len(set(seen))} distinct of {N_TRAIN}).",
                              "Slice the shuffled order as order[start:start + batch_size] for start in "
                              "range(0, N, batch_size).", code="batches-skip-images")
    if len(epochs) != EPOCHS:
        raise CheckFailed(f"the training steps form {len(epochs)} epochs, expected {EPOCHS}.",
                          "Each epoch: all the batches, then one validation.", code="wrong-number-of-epochs")
    orders = [[i for rows in epoch for _, i in rows] for epoch in epochs]
    if orders[0] == list(range(N_TRAIN)):
        raise CheckFailed("the images are visited in their stored order: no shuffling.",
                          "Draw a fresh random order of the images every epoch (a random permutation of their indices).",
                          code="not-shuffled")
    if all(order == orders[0] for order in orders):
        raise CheckFailed("every epoch visits the images in the same order: shuffled once, not every epoch.",
                          "Draw the random order inside the epoch loop.", code="same-order-every-epoch")
    if not all(training for kind, _, training, _ in model.events if kind == "step"):
        raise CheckFailed("some training steps ran in eval mode (no sampled z): after the validation, or from the "
                          "start, the model is not put back in training mode.",
                          "Call model.train() at the start of every epoch (the validation switched to eval mode).",
                          code="trains-in-eval-mode")
    if optimizer.steps != len(steps):
        raise CheckFailed(f"the optimizer made {optimizer.steps} steps for {len(steps)} training steps.",
                          "training_step already calls optimizer.step(): don't call it again in the loop.",
                          code="extra-optimizer-steps")
    check.ok("every epoch: all images once, shuffled afresh, in batches, in training mode")


def _validation(check, model: RecordingVAE) -> None:
    vals = [e for e in model.events if e[0] == "val"]
    if any(where == "train" for _, rows, _, _ in vals for where, _ in rows):
        raise CheckFailed("the validation score is computed on training images.",
                          "Score val_images, not train_images.", code="validates-on-training-images")
    if any(training for _, _, training, _ in vals):
        raise CheckFailed("the validation runs in training mode: model.eval() is not called before it, so its codes "
                          "are random samples instead of mu.",
                          "Score in eval mode (model.eval()), where the model decodes the mean code, as fit does.",
                          code="validation-in-training-mode")
    if any(grad for _, _, _, grad in vals):
        raise CheckFailed("the validation runs with gradients enabled (no torch.no_grad() around it): it builds a "
                          "graph it never uses.",
                          "Wrap the validation in `with torch.no_grad():`.", code="validation-with-gradients")
    check.ok("validation in eval mode without gradients")


def _values(check, model: RecordingVAE, train_history: list, val_history: list) -> None:
    per_epoch = [len(rows) for rows in _epochs_of_steps(model.events)]
    losses_, start = [], 0
    for count in per_epoch:
        losses_.append(model.step_losses[start:start + count])
        start += count
    batch_mean = torch.tensor([sum(v for v, _ in e) / len(e) for e in losses_], dtype=torch.float64)
    image_mean = torch.tensor([sum(v * n for v, n in e) / sum(n for _, n in e) for e in losses_], dtype=torch.float64)
    got = torch.tensor(train_history, dtype=torch.float64)
    if not (torch.allclose(got, batch_mean, rtol=1e-4) or torch.allclose(got, image_mean, rtol=1e-4)):
        check.values(got, batch_mean, "the training losses per epoch", rtol=1e-4, mistakes=[
            Mistake("the loss of the epoch's last batch", torch.tensor([e[-1][0] for e in losses_]),
                    "Average the losses training_step returns over all the batches of the epoch.",
                    code="train-value-is-last-batch"),
            Mistake("a sum over the batches", torch.tensor([sum(v for v, _ in e) for e in losses_]),
                    "Divide by the number of batches: one average per epoch, comparable across batch sizes.",
                    code="train-sum-not-mean"),
        ])
    check.ok("training loss per epoch: the average of the steps' losses")
    reference = model.val_reference[:EPOCHS]
    expected = torch.tensor([float(r["val"]) for r in reference], dtype=torch.float64)
    check.values(torch.tensor(val_history, dtype=torch.float64), expected, "the validation scores", rtol=1e-4,
                 mistakes=[
                     Mistake("the ELBO instead of the negative ELBO", -expected,
                             "Report the loss the training minimises: recon + kl, a positive number of nats.",
                             code="val-elbo-sign"),
                     Mistake("a mean of the batch means (the partial last batch counts as much as a full one)",
                             torch.tensor([float(r["batch_means"]) for r in reference], dtype=torch.float64),
                             "Average over the images, not over the batches: with 20 images in batches of 16 the "
                             "last batch has 4 images. Sum the per-image values of every batch and divide by M.",
                             code="val-mean-of-batch-means"),
                     Mistake("a sum over the validation images", expected * N_VAL,
                             "Average over the images: the mean negative ELBO per image.", code="val-sum-not-mean"),
                     Mistake("the reconstruction term alone (KL missing)",
                             torch.tensor([float(r["recon"]) for r in reference], dtype=torch.float64),
                             "The validation score is the whole negative ELBO: recon + kl per image, averaged.",
                             code="val-without-kl"),
                 ], hint="Per image: -log p(x|z=mu) summed over pixels + KL(q(z|x) || N(0, I)); then the mean over "
                         "all validation images (chunked or not).")
    check.ok("validation score: mean negative ELBO per image")


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    images = (torch.rand(N_TRAIN + N_VAL, 784, generator=torch.Generator().manual_seed(7)) < 0.2).float()
    return images[:N_TRAIN], images[N_TRAIN:]


@exercise("4.3", "04_training_a_vae", "train_vae", points=3, title="the training loop",
          contract="train_vae(model, optimizer, train_images: (N, 784), val_images: (M, 784), epochs: int, "
                   "batch_size: int) -> dict(train=[...], val=[...]), one number per epoch: every epoch trains on all "
                   "N images once, in a fresh random order, in batches of batch_size (the last may be smaller), with "
                   "training_step(model, optimizer, batch) (Exercise 4.1) in training mode, whose numbers may be floats or "
                   "0-dim tensors (read them with float); train = the average of the epoch's step losses; val = the "
                   "mean-code loss after the epoch: -log p(x|z=mu) + KL(q(z|x) || N(0, I)) averaged over the M "
                   "validation images (not over batches), in eval mode (z = mu) without gradients",
          delegates=[train.fit, train.evaluate],
          verified="all images once per epoch, shuffled afresh, in batches, in training mode; validation in eval mode "
                   "without gradients; the right numbers.")
def train_vae(fn, check):
    train_images, val_images = _data()
    model = RecordingVAE(train_images, val_images).eval()  # the loop must switch to training mode itself
    optimizer = PlainSGD(model.parameters())
    with _reference_step_in_place(fn, model, check.exercise):
        try:
            out = check.call(model, optimizer, train_images, val_images, EPOCHS, BATCH)
        except CheckFailed as failed:
            if "object has no attribute 'item'" in failed.message:
                raise CheckFailed(f"{failed.message.removeprefix('your function raised ')} - the loop calls .item() "
                                  "on a number training_step returned as a float.",
                                  "training_step may return its numbers as floats or as 0-dim tensors (Exercise 4.1 "
                                  "allows both): read them with float(...), which takes either.",
                                  code="step-values-read-with-item") from None
            raise
    train_history, val_history = _history(out)
    check.ok("returns dict(train, val) with one number per epoch")
    if not model.step_losses:
        raise CheckFailed("training_step was never called.",
                          "Call training_step(model, optimizer, batch) for every batch.", code="no-training-steps")
    if not any(kind == "val" for kind, _, _, _ in model.events):
        raise CheckFailed("the model never saw the validation images.",
                          "After each epoch's steps, score val_images.", code="no-validation")
    _batches(check, model, optimizer)
    _validation(check, model)
    if not all(math.isfinite(v) for v in train_history + val_history):
        raise CheckFailed("the history contains NaN or inf.", "Average finite losses.", code="not-finite")
    _values(check, model, train_history, val_history)
