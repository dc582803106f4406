"""Checks for notebook 09 (molecules), Exercise 9.1: the reconstruction term of a sequence VAE (9.2 is in molecules_elbo)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..molecules import losses as molecule_losses
from ._checker import Crash, gradient_of
from ._failures import CheckFailed
from ._mistakes import Mistake, match_mistake
from ._run import exercise

BATCH, LENGTH, VOCAB = 4, 7, 6
EOS = 1


def _inputs(hard: bool, pad_index: int = 0):
    """logits (B, L, V) requiring grad, targets (B, L): tokens, <eos>, then pad_index.

    Sequences of 7, 5, 3 and 1 real positions (the last is only <eos>), so padding fills 0 to 6 positions.
    ``hard``: logits of +-100 and +-300 with targets the model gives almost no probability to.
    """
    generator = torch.Generator().manual_seed(9)
    real_ids = [i for i in range(VOCAB) if i not in (pad_index, EOS)]
    targets = torch.full((BATCH, LENGTH), pad_index, dtype=torch.long)
    for row, length in enumerate((7, 5, 3, 1)):
        picks = torch.randint(len(real_ids), (length - 1,), generator=generator)
        targets[row, :length - 1] = torch.tensor(real_ids)[picks]
        targets[row, length - 1] = EOS
    if hard:
        logits = torch.full((BATCH, LENGTH, VOCAB), -100.0)
        wrong = (targets + 1) % VOCAB                              # the model is sure of the wrong token
        logits.scatter_(2, wrong[..., None], 200.0)
        logits[1] *= 1.5                                           # logits of +-150 and +-300
    else:
        logits = 2.0 * torch.randn(BATCH, LENGTH, VOCAB, generator=generator)
    return logits.requires_grad_(True), targets


def _reference(logits, targets, pad_index):
    nll = F.cross_entropy(logits.detach().transpose(1, 2), targets, reduction="none", ignore_index=pad_index)
    return -nll.sum(dim=-1)


def _mistakes(logits, targets, pad_index):
    """Wrong answers (B,) on these inputs, each with its own hint."""
    logits = logits.detach()
    logp = F.log_softmax(logits, dim=-1)
    picked = logp.gather(2, targets[..., None])[..., 0]          # (B, L) log-prob of each target
    real = (targets != pad_index).float()
    n_real = real.sum(dim=-1)

    def shifted(lp, tg):
        value = lp.gather(2, tg[..., None])[..., 0]
        return (value * (tg != pad_index)).sum(dim=-1)

    return [
        Mistake("the cross-entropy (a log-likelihood with the wrong sign)", -(picked * real).sum(-1),
                "The log-likelihood is *minus* the cross-entropy: return the sum of log-probabilities (<= 0)."),
        Mistake("padding positions counted", picked.sum(-1),
                "Positions after <eos> hold pad_index and are not part of the molecule: leave them out with a mask "
                "(targets != pad_index), or pass ignore_index=pad_index to F.cross_entropy."),
        Mistake("the cross-entropy with padding counted", -picked.sum(-1),
                "Two fixes: return minus the cross-entropy, and leave out the positions that hold pad_index."),
        Mistake("a mean over the real tokens instead of a sum", (picked * real).sum(-1) / n_real,
                "The tokens are generated one after another, so their log-probabilities add up (chain rule): sum over "
                "the real positions; don't divide by the length."),
        Mistake("a mean over all positions (padding included) instead of a sum", (picked * real).mean(-1),
                "Sum over the positions (.sum(dim=-1)), don't average: .mean(dim=-1) divides by every position, "
                "padding included."),
        Mistake("a mean over all positions with padding counted", picked.mean(-1),
                "Sum, don't average, and leave out the positions that hold pad_index."),
        Mistake("targets shifted by one (logits[:, :-1] scored against targets[:, 1:])",
                shifted(logp[:, :-1], targets[:, 1:]),
                "No shift is needed here: the decoder was fed the tokens shifted right, so logits[:, t] already "
                "predicts targets[:, t]. Score every position against its own target."),
        Mistake("targets shifted by one (logits[:, 1:] scored against targets[:, :-1])",
                shifted(logp[:, 1:], targets[:, :-1]),
                "No shift is needed here: logits[:, t] already predicts targets[:, t]."),
        Mistake("probabilities summed instead of log-probabilities",
                (torch.softmax(logits, -1).gather(2, targets[..., None])[..., 0] * real).sum(-1),
                "Take the log of each token's probability before summing: use F.log_softmax (or F.cross_entropy)."),
        Mistake("the logits used as log-probabilities (no log-softmax)",
                (logits.gather(2, targets[..., None])[..., 0] * real).sum(-1),
                "Logits are unnormalised scores: turn them into log-probabilities with F.log_softmax(logits, dim=-1) "
                "(F.nll_loss expects log-probabilities, F.cross_entropy takes logits)."),
        Mistake("a softmax over the positions (dim=1) instead of the vocabulary",
                (F.log_softmax(logits, dim=1).gather(2, targets[..., None])[..., 0] * real).sum(-1),
                "The distribution at each position is over the vocabulary, the last dimension: "
                "F.log_softmax(logits, dim=-1)."),
        Mistake("the number of correctly guessed tokens (argmax) instead of log-probabilities",
                ((logits.argmax(-1) == targets).float() * real).sum(-1),
                "The likelihood scores the probability the model gives to the true token, not whether its top "
                "guess is right (argmax has no gradient): sum the log-probabilities of the targets."),
        Mistake("<eos> left out (only the tokens before it summed)", (picked * real * (targets != EOS)).sum(-1),
                "<eos> is a real token of the molecule: the model must learn where a molecule ends, so its "
                "log-probability belongs to the sum. Leave out only the positions that hold pad_index."),
        Mistake("<eos> masked instead of the padding", (picked * (targets != EOS)).sum(-1),
                "Mask the positions that hold pad_index, not <eos>: <eos> is part of the molecule (the model must "
                "learn where it ends), the padding after it is not."),
        Mistake("log-probabilities gathered along the positions (dim=1) instead of the vocabulary",
                (logp[..., 0].gather(1, targets) * real).sum(-1),
                "The token ids index the vocabulary, the last dimension of the logits: pick along dim=-1 "
                "(gather along dim=1 reads the scores of other positions)."),
        Mistake("the log-probabilities of every token summed, not only of the target token",
                (logp * real[..., None]).sum(dim=(-1, -2)),
                "At each position only the true token counts: pick its log-probability (one entry of the "
                "vocabulary dimension), then sum those over the positions."),
        Mistake("a softmax over the batch (dim=0) instead of the vocabulary",
                (F.log_softmax(logits, dim=0).gather(2, targets[..., None])[..., 0] * real).sum(-1),
                "The distribution at each position is over the vocabulary, the last dimension: "
                "F.log_softmax(logits, dim=-1)."),
    ]


def _pad_mistakes(logits, targets, pad_index):
    """Mistakes that show only when the padding id is not 0."""
    picked = F.log_softmax(logits.detach(), dim=-1).gather(2, targets[..., None])[..., 0]
    return [Mistake("the padding id hard-coded as 0 (this vocabulary pads with 5)",
                    (picked * (targets != 0)).sum(-1),
                    "Use the pad_index argument (targets != pad_index, or ignore_index=pad_index): vocabularies "
                    "number their tokens differently.")]


def _shape_for(out: torch.Tensor) -> None:
    """Turn a typical wrong shape into a named mistake; (B,) passes through."""
    shape = tuple(out.shape)
    if out.dim() == 0:
        raise CheckFailed(f"the result is a single number, expected one value per sequence: shape (batch={BATCH},).",
                          "Don't reduce over the batch. F.cross_entropy averages over everything by default: pass "
                          "reduction='none', then sum over the positions (dim=-1).", code="reduced-over-the-batch")
    if shape == (BATCH, LENGTH):
        raise CheckFailed(f"the result has shape {shape} = (batch, positions), expected (batch={BATCH},).",
                          "Sum the log-probabilities of the real positions: .sum(dim=-1) after masking the padding.",
                          code="not-summed-over-positions")
    if shape == (LENGTH,):
        raise CheckFailed(f"the result has shape {shape}: one value per position, expected (batch={BATCH},).",
                          "You reduced over the batch (dim=0); sum over the positions (dim=-1) instead.",
                          code="summed-over-the-batch-dimension")
    if shape in ((BATCH, LENGTH, VOCAB), (BATCH, VOCAB, LENGTH), (BATCH, VOCAB)):
        raise CheckFailed(f"the result has shape {shape}: it still has a vocabulary dimension, expected "
                          f"(batch={BATCH},).",
                          "Pick the log-probability of each target token (logp.gather(-1, targets[..., None]) or "
                          "F.cross_entropy), then sum over the positions.", code="vocabulary-dimension-left")


#: What a student's function raises for a known reason: (:class:`~._checker.Crash`). First match wins.
_RAISED = [
    Crash.any_of(("expected target size", "expected target"),
     "F.cross_entropy wants the classes in dimension 1: pass the logits as (B, V, L) with targets (B, L), or "
     "flatten both to (B*L, V) and (B*L,).", "cross-entropy-classes-not-in-dim-1"),
    Crash.any_of(("index tensor must have the same number of dimensions",),
     "Tensor.gather needs an index with as many dimensions as the tensor it picks from: give the (B, L) targets a "
     "last dimension of size 1, and remove it from the result.", "gather-index-without-the-last-dimension"),
    Crash.any_of(("for index", "only applicable to index tensor", "expected scalar type long", "expected long",
      "must be long", "expected floating point type for target"),
     "Token ids are integers: keep targets int64 when you use them to pick log-probabilities (multiplying them by "
     "a float mask or calling .float() turns them into floats).", "token-ids-used-as-floats"),
    Crash.any_of(("out of bounds", "index out of range"),
     "The token ids index the vocabulary, the last dimension of the logits: pick along dim=-1 (along dim 0 or 1 "
     "they index molecules or positions, and run out of range).", "picked-along-the-wrong-dimension"),
]


def _call(check, logits, targets, pad_index):
    """Run the student's function; an error with a known cause gets that cause named instead of a traceback."""
    return check.call_naming(_RAISED, logits, targets, pad_index)


def _name_the_mistake(out: torch.Tensor, mistakes) -> None:
    """Raise the first catalogued mistake whose values ``out`` has; return if none matches."""
    mistake = match_mistake(out, mistakes)
    if mistake is not None:
        raise mistake.failure()


@exercise("9.1", "09_molecules", "sequence_log_likelihood", points=2,
          reference=molecule_losses.sequence_log_likelihood,
          delegates=[molecule_losses.sequence_log_likelihood],
          title="the categorical log-likelihood of padded token sequences",
          contract="sequence_log_likelihood(logits: (B, L, V), targets: (B, L) int64, pad_index: int) -> (B,): "
                   "log p(x|z) = sum over the positions t with targets[b, t] != pad_index of "
                   "log softmax(logits[b, t])[targets[b, t]]; logits[:, t] predicts targets[:, t] (no shift); "
                   "<eos> is a real token; summed, not averaged; <= 0; finite for logits of +-300",
          verified="the `(B,)` log-likelihoods match the reference, skip pad_index and stay finite for logits of "
                   "+-300.")
def sequence_log_likelihood(fn, check):
    logits, targets = _inputs(hard=False)
    out = check.tensor(_call(check, logits, targets, 0), like=logits)
    _shape_for(out)
    check.shape(out, (BATCH,), ["batch"], hint="Sum over the positions (dim=-1) only.")
    check.finite(out, hint="Are you taking the log of a softmax? Use F.log_softmax(logits, dim=-1), which is stable.")
    mistakes = _mistakes(logits, targets, 0)
    grad = gradient_of(out, logits)
    if grad is None or not torch.any(grad != 0):
        _name_the_mistake(out, mistakes)             # e.g. probabilities of a detached softmax: say which
    check.gradient(out, {"logits": logits})
    reference = _reference(logits, targets, 0)
    if not torch.allclose(out.detach(), reference, atol=1e-4, rtol=1e-4) and torch.any(grad[targets == 0] != 0):
        _name_the_mistake(out, mistakes)
        raise CheckFailed("the logits at padding positions change your result, but those positions are not part of "
                          "the molecule.", mistakes[1].hint, code="padding-counted")
    check.values(out, reference, "the log-likelihoods", mistakes=mistakes)
    check.ok("padding left out")

    logits, targets = _inputs(hard=False, pad_index=5)
    out = check.tensor(_call(check, logits, targets, 5), like=logits)
    check.shape(out, (BATCH,), ["batch"])
    check.values(out, _reference(logits, targets, 5), "the log-likelihoods for a vocabulary that pads with id 5",
                 mistakes=_pad_mistakes(logits, targets, 5) + _mistakes(logits, targets, 5))
    check.ok("uses pad_index")

    logits, targets = _inputs(hard=True)
    out = check.tensor(_call(check, logits, targets, 0), like=logits)
    check.shape(out, (BATCH,), ["batch"])
    check.finite(out, "the result for logits of +-100 and +-300",
                 hint="softmax(300 - (-100)) rounds to exactly 0 for the other tokens in float32, and log(0) = -inf "
                      "(times a 0 mask: nan). Compute log-probabilities directly: F.log_softmax(logits, dim=-1) "
                      "or F.cross_entropy.")
    check.values(out, _reference(logits, targets, 0), "the log-likelihoods for logits of +-100 and +-300",
                 hint="Right for moderate logits, wrong for extreme ones: a clamp or an epsilon inside the log caps "
                      "the penalty. A confidently wrong token costs about 300 nats here: use F.log_softmax.")
    check.ok("stable for logits of +-100 and +-300")
