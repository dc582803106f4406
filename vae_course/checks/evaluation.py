"""Checks for notebook 08 (evaluating a VAE honestly): the IWAE bound and conditional sampling."""

import math

import torch

from .. import applications, diagnostics
from ..models import ConditionalVAE
from ..results import Code
from ._failures import CheckFailed, FunctionRaised
from ._mistakes import Mistake
from ._run import exercise
from ._sampling import call_decoding, require_any_device, require_fresh_codes, require_standard_normal


@exercise("8.1", "08_evaluation", "iwae_bound", points=2,
          delegates=[diagnostics.iwae_bound],
          title="the importance-weighted bound, computed stably",
          contract="iwae_bound(log_weights: (B, K)) -> (B,): log (1/K) sum_k exp(log_weights[:, k]) = "
                   "logsumexp over the K samples (dim=1) minus log K, in nats; finite even for log-weights "
                   "like -1e4 or +1e3",
          verified="the `(B,)` bounds match logsumexp minus log K and stay finite for log-weights of -1e4 and +1e3.")
def iwae_bound(fn, check):
    log_weights = (2.0 * torch.randn(4, 7) - 1.0).requires_grad_(True)
    try:
        out = check.tensor(check.call(log_weights), like=log_weights)
    except FunctionRaised as failed:
        if "must be Tensor, not int" in failed.message:
            raise CheckFailed(f"{failed.message.rstrip('.')} - K is a Python int, and torch functions take tensors.",
                              "For the log of a plain number use math.log (or turn K into a float tensor first).",
                              code="torch-function-on-a-python-int") from None
        if "must match the size of tensor" not in failed.message:
            raise
        raise CheckFailed(f"{failed.message.rstrip('.')} - a `(B=4,)` and a `(B=4, K=7)` tensor were combined.",
                          "A per-row maximum subtracted from a (B, K) tensor must keep its reduced dimension "
                          "(keepdim=True), and it is taken over the samples, dim=1.",
                          code="max-trick-shapes-do-not-broadcast") from None
    if tuple(out.shape) == (7,):
        raise CheckFailed("the result has one value per sample `(K=7,)`, expected one per image `(B=4,)`.",
                          "Combine the K samples of each image: reduce over dim=1, not dim=0.")
    if out.dim() == 0:
        raise CheckFailed("the result is a single number, expected one bound per image `(B=4,)`.",
                          "Reduce over the K samples only (dim=1); don't average over the batch.")
    if tuple(out.shape) == (4, 1):
        raise CheckFailed("the result has shape `(4, 1)`, expected `(B=4,)`: the reduced dimension was kept.",
                          "Drop keepdim (or squeeze dimension 1) so that there is one number per image.",
                          code="keepdim-left-a-dimension")
    if tuple(out.shape) == (4, 4):
        raise CheckFailed("the result has shape `(4, 4)`, expected `(B=4,)`: a `(B, 1)` maximum was added to a `(B,)` "
                          "tensor and broadcast to `(B, B)`.", "Bring the kept maximum back to shape (B,) before adding "
                          "it to the per-image log-mean (or keep both at (B, 1) and drop the dimension at the end).",
                          code="max-kept-its-dimension")
    check.shape(out, (4,), ["batch"])
    check.finite(out)
    check.gradient(out, {"log_weights": log_weights})
    with torch.no_grad():
        lw = log_weights.detach()
        expected = diagnostics.iwae_bound(lw)
        lse = torch.logsumexp(lw, dim=1)
    check.values(out, expected, "the bounds", mistakes=[
        Mistake("the ELBO (the mean of the log-weights)", lw.mean(1),
                "The mean of the log-weights is the K-sample average of the ELBO, not the IWAE bound: "
                "average the *weights* (inside the log), i.e. logsumexp over k minus log K."),
        Mistake("a log-sum-exp without the - log K", lse,
                "Average, don't sum, the K weights: subtract math.log(K) after the logsumexp."),
        Mistake("a log-sum-exp minus K", lse - 7,
                "Subtract log K (math.log(K)), not K."),
        Mistake("the largest log-weight", lw.max(1).values,
                "The max is only the dominant term of the log-sum-exp: add log sum_k exp(lw_k - max) "
                "(or use torch.logsumexp) and subtract log K."),
        Mistake("a log-sum-exp minus log(K - 1)", lse - math.log(6),
                "The mean of K weights divides by K: subtract math.log(K), not log(K - 1)."),
        Mistake("the mean of the weights without the log", lw.exp().mean(1),
                "The bound is the *log* of the mean weight: logsumexp over k minus log K."),
        Mistake("the max trick without adding the maximum back",
                torch.log(torch.exp(lw - lw.max(1, keepdim=True).values).mean(1)),
                "log mean exp(lw) = max + log mean exp(lw - max): add the maximum back (or use torch.logsumexp)."),
        Mistake("a log-sum-exp divided by K", lse / 7,
                "Averaging the weights inside the log means subtracting log K, not dividing the log by K."),
        Mistake("a log-sum-exp + log K", lse + math.log(7),
                "Average the weights: subtract log K (math.log(K)), don't add it."),
        Mistake("a log-sum-exp minus log B, the batch size, instead of log K", lse - math.log(4),
                "K is the number of samples, the size of dim 1: len(log_weights) and shape[0] are the batch size B."),
        Mistake("a log-sum-exp minus log(B K), the number of all entries", lse - math.log(28),
                "Each image averages its own K weights: subtract log K, not the log of all B * K entries."),
        Mistake("the negative of the bound (an NLL)", -(lse - math.log(7)),
                "Return the bound log (1/K) sum_k w_k itself; the notebook negates it where it prints nats."),
        Mistake("the log-sum-exp of the log-weights divided by K", torch.logsumexp(lw / 7, dim=1),
                "Dividing a weight by K is subtracting log K from its log-weight, not dividing the log-weight by K."),
    ])
    # numerical stability: realistic VAEs have log-weights around -100 nats per image, and worse.
    extreme = torch.stack([-1e4 + 3.0 * torch.randn(7), 1e3 + 3.0 * torch.randn(7)])
    result = check.tensor(check.call(extreme), "the result for log-weights near -1e4 and +1e3")
    if tuple(result.shape) != (2,) or not torch.isfinite(result).all():
        raise CheckFailed("for log-weights near -1e4 and +1e3 the result is not finite: "
                          f"{[round(v, 1) for v in result.detach().flatten().tolist()[:2]]}.",
                          "exp(-1e4) underflows to 0 and exp(1e3) overflows to inf in floating point, so "
                          "log(mean(exp(...))) breaks. Use torch.logsumexp(log_weights, dim=1), which subtracts "
                          "the maximum before exponentiating.")
    check.values(result.detach(), diagnostics.iwae_bound(extreme), "the bounds for extreme log-weights",
                 atol=1e-2, rtol=1e-5)
    check.ok("numerically stable for log-weights near -1e4 and +1e3")


PRIOR_HINT = "The codes are standard normal noise (torch.randn) of shape (n, model.latent_dim), nothing else."


class _RecordingCVAE(ConditionalVAE):
    """A tiny conditional VAE that remembers every (z, y) its decoder receives."""

    def __init__(self):
        super().__init__(hidden_dim=16, latent_dim=4)
        self.seen_z, self.seen_y = [], []

    def decode(self, z, y):
        self.seen_z.append(z.detach().clone())
        self.seen_y.append(self.one_hot(y).detach().clone())
        return super().decode(z, y)


def _recording_cvae() -> _RecordingCVAE:
    state = torch.get_rng_state()
    torch.manual_seed(0)
    model = _RecordingCVAE()
    with torch.no_grad():
        model.fc_decode_hidden.weight[:, 4:].mul_(20.0)  # make the label matter a lot
    torch.set_rng_state(state)
    return model.eval()


@exercise("8.2", "08_evaluation", "sample_digit", points=2,
          delegates=[applications.sample_digit],
          title="generate a chosen digit with a conditional VAE",
          contract="sample_digit(model, digit: int, n: int) -> (n, 784) pixel probabilities in [0, 1]: n new "
                   "images of `digit` from p(z) p(x|z, y), a code z ~ N(0, I) (model.latent_dim) for each image "
                   "from torch's global random generator, y the float one-hot label (n, 10); model.decode(z, y) "
                   "gives logits",
          verified="the `(n, 784)` probabilities decode N(0, I) codes with the digit's one-hot label, for any digit and "
                   "n.")
def sample_digit(fn, check):
    digit, n = 7, 2000
    model = _recording_cvae()
    try:
        out = call_decoding(check, model, digit, n, codes=model.seen_z, latent_dim=model.latent_dim, n=n)
    except CheckFailed as failed:
        y = model.seen_y[-1] if model.seen_y else None
        if failed.code == Code.RAISED and y is not None and tuple(y.shape) != (n, 10):
            raise CheckFailed(f"{failed.message} - the label passed to the decoder has shape {tuple(y.shape)}, "
                              f"expected (n={n}, 10).", "One one-hot row per sample: n rows of 10 columns, built from an integer tensor of n "
                              "copies of digit (num_classes=10 whatever the digit).",
                              code="label-shape-wrong") from None
        raise
    out = check.tensor(out)
    check.shape(out, (n, 784), ["n", "pixels"], hint="Return one image (784 probabilities) per sample: (n, 784).")
    check.finite(out)
    if not model.seen_z:
        raise CheckFailed("your function never called model.decode(z, y).",
                          "Decode codes drawn from the prior with the label, and turn the logits into probabilities.")
    z, y = torch.cat(model.seen_z), torch.cat(model.seen_y)
    if tuple(z.shape) != (n, model.latent_dim):
        raise CheckFailed(f"the decoder received codes of shape {tuple(z.shape)}, expected (n={n}, latent={model.latent_dim}).",
                          "Draw one code per sample: n rows of model.latent_dim entries.")
    labels = y.argmax(1)
    if not torch.allclose(y.sum(1), torch.ones(n)) or not (labels == digit).all():
        got = sorted(set(labels.tolist()))[:5]
        raise CheckFailed(f"the label passed to the decoder is not a one-hot {digit} (it encodes {got}).",
                          "Build the label from n copies of `digit` with F.one_hot (10 classes, as floats): every row one-hot at `digit`.")
    check.ok("the one-hot label reaches the decoder")
    mean, std = z.mean().item(), z.std(0).mean().item()
    if std < 1e-3:
        raise CheckFailed("all your codes z are the same, so every sample is the same image.",
                          "Draw a fresh code per sample: standard normal noise with n rows.")
    again = _recording_cvae()
    check.call(again, digit, n)
    require_fresh_codes(z, torch.cat(again.seen_z) if again.seen_z else z[:0], PRIOR_HINT)
    if abs(mean - 0.5) < 0.05 and z.min() >= 0 and abs(std - math.sqrt(1 / 12)) < 0.05:
        raise CheckFailed("your codes look uniform on [0, 1) (torch.rand), not standard normal.",
                          "The prior is N(0, I): use torch.randn, not torch.rand.")
    if abs(mean) > 0.1 or abs(std - 1) > 0.1:
        raise CheckFailed(f"your codes have mean {mean:.2f} and standard deviation {std:.2f}; "
                          "codes from the prior N(0, I) have mean 0 and standard deviation 1.",
                          "Use the standard normal draws as they are (no scaling or shifting).")
    require_standard_normal(z, PRIOR_HINT)
    check.ok("z ~ N(0, I): normal, independent across entries, rows and calls")
    with torch.no_grad():
        logits = ConditionalVAE.decode(model, z, y)
    if z.shape[0] == out.shape[0]:
        if torch.allclose(out, logits, atol=1e-5):
            raise CheckFailed("you returned the decoder's logits.",
                              "Apply torch.sigmoid to turn logits into pixel probabilities in [0, 1].")
        if torch.all((out == 0) | (out == 1)):
            raise CheckFailed("every value is exactly 0 or 1: this is a binary sample of the pixels.",
                              "Return the pixel probabilities (the sigmoid of the decoder's logits); a Bernoulli draw "
                              "from them (torch.bernoulli) is a noisier picture of the same thing.",
                              code="binary-sample-instead-of-probabilities")
        check.values(out, torch.sigmoid(logits), "the pixel probabilities", atol=1e-5,
                     hint="Return the sigmoid of the decoder's logits for the codes you drew.")
    other = _recording_cvae()
    small = check.tensor(check.call(other, 2, 5), "the result for digit=2, n=5")
    check.shape(small, (5, 784), ["n", "pixels"], "the result for digit=2, n=5",
                hint="Use the arguments `digit` and `n` rather than fixed values.")
    if not other.seen_y or not (torch.cat(other.seen_y).argmax(1) == 2).all():
        raise CheckFailed("for digit=2 the decoder did not receive the label 2.",
                          "Build the label from the `digit` argument rather than a fixed value.")
    check.ok("works for other digits and sample sizes")
    require_any_device(check, _recording_cvae().to("meta"), 3, 4)
