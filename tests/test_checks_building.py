"""The build-the-VAE exercises (3.3 MyVAE, 4.3 train_vae, 4.4 MyConvVAE): realistic wrong answers are rejected
*and named* (the code of the result), differently written correct answers pass, and an answer that uses the
course's own model or fit scores 0 (``called-reference``). ``python tests/test_checks_building.py`` prints
the coverage per exercise.

Each wrong answer is the correct one with one method written the way students get it wrong.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import _catalogue_03
import _catalogue_04
from vae_course import checks, losses, models, train
from vae_course.grading.protocol import Code, Status


# --------------------------------------------------------------------------- 3.3 MyVAE


class GoodVAE(nn.Module):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden = nn.Linear(input_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))

    def encode(self, x):
        h = torch.relu(self.hidden(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class OneHeadChunked(nn.Module):
    """Correct: one layer hidden -> 2 * latent, split in two (the same parameters as two heads)."""

    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))

    def encode(self, x):
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(self, mu, logvar):
        return torch.distributions.Normal(mu, logvar.mul(0.5).exp()).rsample() if self.training else mu

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


class FunctionalVAE(GoodVAE):
    """Correct: F.relu, the std as sqrt(exp(logvar)), forward spelled out, float64 noise cast back."""

    def encode(self, x):
        h = F.relu(self.hidden(x.view(x.size(0), -1)))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        if self.training:
            eps = torch.randn(mu.shape, dtype=torch.float64).to(mu.dtype)
            return mu + torch.sqrt(torch.exp(logvar)) * eps
        return mu

    def forward(self, x):
        mu, logvar = self.encode(x)
        if self.training:
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar
        return self.decode(mu), mu, logvar


class TanhVAE(GoodVAE):
    """Correct in behaviour (the contract's layers, another hidden nonlinearity is not tested)."""

    def encode(self, x):
        h = torch.tanh(self.hidden(x))
        return self.fc_mu(h), self.fc_logvar(h)


def _variant(base, **methods):
    return type(f"{base.__name__}Variant", (base,), methods)


def _sample(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class Hardcoded(GoodVAE):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__(input_dim, hidden_dim, 20)


class HiddenIgnored(GoodVAE):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__(input_dim, 64, latent_dim)


class SharedHead(GoodVAE):
    def encode(self, x):
        h = torch.relu(self.hidden(x))
        return self.fc_mu(h), self.fc_mu(h)


class LinearDecoder(GoodVAE):
    def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.Linear(hidden_dim, input_dim))


class SubclassesTheCourse(models.VAE):
    pass


class PositionalOnly(GoodVAE):
    def __init__(self, latent_dim, hidden_dim):
        super().__init__(784, hidden_dim, latent_dim)


class InlineSample(GoodVAE):
    """The sample drawn inside forward, no reparameterize method."""

    reparameterize = None

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.decode(z), mu, logvar


MLP_WRONG = {
    "sigmoid in decode": (_variant(GoodVAE, decode=lambda self, z: torch.sigmoid(self.decoder(z))),
                          "returns-probabilities"),
    "variance as std": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu + torch.exp(lv) * torch.randn_like(mu)
                                 if self.training else mu), "variance-as-std"),
    "logvar as std": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu + lv * torch.randn_like(mu)
                               if self.training else mu), "logvar-as-std"),
    "samples in eval mode": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: _sample(mu, lv)),
                             "samples-in-eval-mode"),
    "switch inverted": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu if self.training else _sample(mu, lv)),
                        "samples-in-eval-mode"),
    "never samples": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu), "no-sample-in-training"),
    "shared head": (SharedHead, "shared-head"),
    "decoder output (B, 1, 28, 28)": (_variant(GoodVAE, decode=lambda self, z: self.decoder(z).reshape(-1, 1, 28, 28)),
                                      Code.WRONG_SHAPE),
    "detached sample": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: _sample(mu, lv).detach()
                                 if self.training else mu), "no-gradient-to-encoder"),
    "torch.normal": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: torch.normal(mu, torch.exp(0.5 * lv))
                              if self.training else mu), "no-gradient-to-encoder"),
    "Normal.sample": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: torch.distributions.Normal(
        mu, torch.exp(0.5 * lv)).sample() if self.training else mu), "no-gradient-to-encoder"),
    "one noise row for the batch": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu + torch.exp(0.5 * lv)
                                             * torch.randn(mu.shape[1]) if self.training else mu),
                                    "same-noise-for-every-row"),
    "uniform noise": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu + torch.exp(0.5 * lv)
                               * torch.rand_like(mu) if self.training else mu), "uniform-noise"),
    "1 / sigma": (_variant(GoodVAE, reparameterize=lambda self, mu, lv: mu + torch.exp(-0.5 * lv)
                           * torch.randn_like(mu) if self.training else mu), "inverse-sigma"),
    "latent_dim ignored": (Hardcoded, "ignores-latent-dim"),
    "hidden_dim ignored": (HiddenIgnored, "wrong-parameter-count"),
    "ReLU on logvar": (_variant(GoodVAE, encode=lambda self, x: (self.fc_mu(torch.relu(self.hidden(x))),
                                                                 torch.relu(self.fc_logvar(torch.relu(self.hidden(x)))))),
                       "activation-on-logvar-head"),
    "returns sigma": (_variant(GoodVAE, encode=lambda self, x: (self.fc_mu(torch.relu(self.hidden(x))),
                                                                torch.exp(0.5 * self.fc_logvar(torch.relu(self.hidden(x)))))),
                      "logvar-not-a-log"),
    "ReLU on mu": (_variant(GoodVAE, encode=lambda self, x: (torch.relu(self.fc_mu(torch.relu(self.hidden(x)))),
                                                             self.fc_logvar(torch.relu(self.hidden(x))))),
                   "activation-on-mu-head"),
    "ReLU on the logits": (_variant(GoodVAE, decode=lambda self, z: torch.relu(self.decoder(z))), "activation-on-logits"),
    "linear encoder": (_variant(GoodVAE, encode=lambda self, x: (self.fc_mu(self.hidden(x)), self.fc_logvar(self.hidden(x)))),
                       "linear-encoder"),
    "linear decoder": (LinearDecoder, "linear-decoder"),
    "forward returns logits only": (_variant(GoodVAE, forward=lambda self, x: GoodVAE.forward(self, x)[0]),
                                    "forward-returns-one-tensor"),
    "forward returns z": (_variant(GoodVAE, forward=lambda self, x: (lambda mu, lv: (lambda z: (self.decode(z), z, lv))(
        self.reparameterize(mu, lv)))(*self.encode(x))), "forward-returns-z-not-mu"),
    "outputs in the wrong order": (_variant(GoodVAE, forward=lambda self, x: GoodVAE.forward(self, x)[::-1]),
                                   "outputs-in-wrong-order"),
    "subclasses the course's VAE": (SubclassesTheCourse, Code.CALLED_REFERENCE),
    "other constructor signature": (PositionalOnly, "wrong-constructor-signature"),
    "no reparameterize method": (InlineSample, "missing-method"),
}
MLP_CORRECT = {"two heads": GoodVAE, "one head, chunked, rsample": OneHeadChunked, "functional": FunctionalVAE,
               "tanh": TanhVAE}


# --------------------------------------------------------------------------- 4.4 MyConvVAE


class GoodConv(nn.Module):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__()
        c = channels
        self.latent_dim, self.c = latent_dim, c
        self.enc = nn.Sequential(nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(2 * c * 49, hidden_dim), nn.ReLU())
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 2 * c * 49), nn.ReLU())
        self.dec = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, 1, 4, 2, 1))

    def encode(self, x):
        h = self.enc(x.reshape(-1, 1, 28, 28))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu

    def decode(self, z):
        return self.dec(self.fc(z).reshape(-1, 2 * self.c, 7, 7)).reshape(len(z), -1)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class ConvUnflatten(nn.Module):
    """Correct: nn.Unflatten, one head chunked, F.relu written out, view(len(x), 1, 28, 28)."""

    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__()
        c = channels
        self.latent_dim = latent_dim
        self.conv1, self.conv2 = nn.Conv2d(1, c, 4, stride=2, padding=1), nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)
        self.fc_enc = nn.Linear(2 * c * 7 * 7, hidden_dim)
        self.heads = nn.Linear(hidden_dim, 2 * latent_dim)
        self.fc_dec = nn.Linear(latent_dim, hidden_dim)
        self.fc_map = nn.Linear(hidden_dim, 2 * c * 7 * 7)
        self.unflatten = nn.Unflatten(1, (2 * c, 7, 7))
        self.up1 = nn.ConvTranspose2d(2 * c, c, kernel_size=4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(c, 1, kernel_size=4, stride=2, padding=1)

    def encode(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x.view(len(x), 1, 28, 28)))))
        return self.heads(F.relu(self.fc_enc(h.flatten(1)))).chunk(2, dim=-1)

    def reparameterize(self, mu, logvar):
        if self.training:
            return mu + logvar.mul(0.5).exp() * torch.randn_like(logvar)
        return mu

    def decode(self, z):
        h = self.unflatten(F.relu(self.fc_map(F.relu(self.fc_dec(z)))))
        return self.up2(F.relu(self.up1(h))).flatten(1)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class ConvRsample(GoodConv):
    """Correct: rsample from torch.distributions, the decoder's output reshaped with view."""

    def reparameterize(self, mu, logvar):
        if not self.training:
            return mu
        return torch.distributions.Normal(mu, torch.exp(logvar / 2)).rsample()

    def decode(self, z):
        return self.dec(self.fc(z).view(z.shape[0], 2 * self.c, 7, 7)).view(z.shape[0], 784)


class ConvNoPadding(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, channels, hidden_dim)
        c = channels
        self.enc[0] = nn.Conv2d(1, c, 4, 2, 0)


class ConvNoFlatten(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, channels, hidden_dim)
        self.enc[4] = nn.Identity()


class ConvKernel3(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, channels, hidden_dim)
        c = channels
        self.dec = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 3, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, 1, 3, 2, 1))


class ConvChannelsIgnored(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, 8, hidden_dim)


class ConvLinearDecoder(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, channels, hidden_dim)
        c = channels
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.Linear(hidden_dim, 2 * c * 49))
        self.dec = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ConvTranspose2d(c, 1, 4, 2, 1))


class ConvSharedHead(GoodConv):
    def encode(self, x):
        h = self.enc(x.reshape(-1, 1, 28, 28))
        return self.fc_mu(h), self.fc_mu(h)


class ConvWrapsTheCourse(GoodConv):
    def __init__(self, latent_dim=20, channels=32, hidden_dim=256):
        super().__init__(latent_dim, channels, hidden_dim)
        self.course = models.ConvVAE(latent_dim, channels, hidden_dim)
        for name in ("enc", "fc_mu", "fc_logvar", "fc", "dec"):
            delattr(self, name)

    def encode(self, x):
        return self.course.encode(x)

    def decode(self, z):
        return self.course.decode(z)


CONV_WRONG = {
    "sigmoid at the end": (_variant(GoodConv, decode=lambda self, z: torch.sigmoid(GoodConv.decode(self, z))),
                           "returns-probabilities"),
    "output not flattened": (_variant(GoodConv, decode=lambda self, z: self.dec(self.fc(z).reshape(-1, 2 * self.c, 7, 7))),
                             Code.WRONG_SHAPE),
    "no channel dimension": (_variant(GoodConv, encode=lambda self, x: (lambda h: (self.fc_mu(h), self.fc_logvar(h)))(
        self.enc(x.reshape(-1, 28, 28)))), "missing-channel-dimension"),
    "padding 0": (ConvNoPadding, "feature-map-size-mismatch"),
    "no flatten": (ConvNoFlatten, "feature-map-size-mismatch"),
    "kernel 3 in the decoder": (ConvKernel3, Code.WRONG_SHAPE),
    "channels ignored": (ConvChannelsIgnored, "wrong-parameter-count"),
    "linear decoder": (ConvLinearDecoder, "linear-decoder"),
    "shared head": (ConvSharedHead, "shared-head"),
    "variance as std": (_variant(GoodConv, reparameterize=lambda self, mu, lv: mu + torch.exp(lv) * torch.randn_like(mu)
                                 if self.training else mu), "variance-as-std"),
    "samples in eval mode": (_variant(GoodConv, reparameterize=lambda self, mu, lv: _sample(mu, lv)),
                             "samples-in-eval-mode"),
    "detached sample": (_variant(GoodConv, reparameterize=lambda self, mu, lv: _sample(mu, lv).detach()
                                 if self.training else mu), "no-gradient-to-encoder"),
    "ReLU on the logits": (_variant(GoodConv, decode=lambda self, z: torch.relu(GoodConv.decode(self, z))),
                           "activation-on-logits"),
    "wraps the course's ConvVAE": (ConvWrapsTheCourse, Code.CALLED_REFERENCE),
}
CONV_CORRECT = {"sequential": GoodConv, "unflatten, chunked": ConvUnflatten, "rsample, view": ConvRsample}


# --------------------------------------------------------------------------- 4.3 train_vae


def _val_score(model, val_images):
    logits, mu, logvar = model(val_images)
    return (-losses.bernoulli_log_likelihood(logits, val_images) + losses.gaussian_kl(mu, logvar)).mean()


def make_loop(*, shuffle="every epoch", batches="all", train_mode=True, val_mode="eval", val_grad=False,
              val_on="val", val_value=_val_score, train_value="mean", epochs_offset=0, validate_first=False,
              extra_step=False, train_on_val=False):
    """A training loop written as a student would, with one knob per known mistake (defaults: correct)."""

    def train_vae(model, optimizer, train_images, val_images, epochs, batch_size):
        history = {"train": [], "val": []}
        fixed = torch.randperm(len(train_images))

        def validate():
            model.train(val_mode == "train")
            images = val_images if val_on == "val" else train_images[:len(val_images)]
            with torch.set_grad_enabled(val_grad):
                history["val"].append(val_value(model, images).item())

        for _ in range(epochs + epochs_offset):
            if validate_first:
                validate()
            if train_mode:
                model.train()
            order = {"every epoch": torch.randperm(len(train_images)), "once": fixed,
                     "never": torch.arange(len(train_images))}[shuffle]
            size = len(train_images) if batches == "whole" else batch_size
            stop = len(train_images) - size + 1 if batches == "drop last" else len(train_images)
            end = -1 if batches == "off by one" else 0
            steps = [training_step(model, optimizer, train_images[order[i:i + size + end]]) for i in range(0, stop, size)]
            if train_on_val:
                steps.append(training_step(model, optimizer, val_images))
            if extra_step:
                optimizer.step()
            losses_ = [s["loss"] for s in steps]
            history["train"].append({"mean": sum(losses_) / len(losses_), "last": losses_[-1],
                                     "sum": sum(losses_)}[train_value])
            if not validate_first:
                validate()
        return history

    return train_vae


def training_step(model, optimizer, x):  # the loops above call it; the check puts the reference in its place
    raise NotImplementedError


def _chunked_loop(model, optimizer, train_images, val_images, epochs, batch_size):
    """Correct: validation in chunks of 5 weighted by size, encode/decode by hand, an image-weighted train mean."""
    history = {"train": [], "val": []}
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for batch in train_images[torch.randperm(len(train_images))].split(batch_size):
            total += training_step(model, optimizer, batch)["loss"] * len(batch)
            count += len(batch)
        history["train"].append(torch.tensor(total / count))
        model.eval()
        score = 0.0
        with torch.no_grad():
            for chunk in val_images.split(5):
                mu, logvar = model.encode(chunk)
                logits = model.decode(mu)
                score += float((-losses.bernoulli_log_likelihood(logits, chunk) + losses.gaussian_kl(mu, logvar)).sum())
        history["val"].append(score / len(val_images))
    return history


def _dataloader_loop(model, optimizer, train_images, val_images, epochs, batch_size):
    """Correct: a DataLoader over a TensorDataset, train.model_mode for the validation, 0-dim tensors."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_images), batch_size=batch_size,
                                         shuffle=True)
    train_losses, val_losses = [], []
    for _ in range(epochs):
        model.train()
        steps = [training_step(model, optimizer, x) for (x,) in loader]
        train_losses.append(torch.tensor([s["loss"] for s in steps]).mean())
        with train.model_mode(model, training=False), torch.inference_mode():
            val_losses.append(_val_score(model, val_images))
    return {"train": train_losses, "val": val_losses}


def _delegates_to_fit(model, optimizer, train_images, val_images, epochs, batch_size):
    history = train.fit(model, train_images, epochs=epochs, batch_size=batch_size, val_data=val_images,
                        optimizer=optimizer, progress=False, device="cpu")
    return {"train": history.train["loss"], "val": history.val["loss"]}


LOOP_WRONG = {
    "never shuffled": (make_loop(shuffle="never"), "not-shuffled"),
    "shuffled once": (make_loop(shuffle="once"), "same-order-every-epoch"),
    "drops the last batch": (make_loop(batches="drop last"), "drops-last-batch"),
    "slices one short": (make_loop(batches="off by one"), "batches-skip-images"),
    "whole data set as one batch": (make_loop(batches="whole"), "ignores-batch-size"),
    "never model.train()": (make_loop(train_mode=False), "trains-in-eval-mode"),
    "validation in training mode": (make_loop(val_mode="train"), "validation-in-training-mode"),
    "validation with gradients": (make_loop(val_grad=True), "validation-with-gradients"),
    "validation on training images": (make_loop(val_on="train"), "validates-on-training-images"),
    "validation before training": (make_loop(validate_first=True), "validation-before-training"),
    "trains on the validation images": (make_loop(train_on_val=True), "trains-on-validation-images"),
    "extra optimizer step": (make_loop(extra_step=True), "extra-optimizer-steps"),
    "one epoch short": (make_loop(epochs_offset=-1), "wrong-number-of-epochs"),
    "train value: last batch": (make_loop(train_value="last"), "train-value-is-last-batch"),
    "train value: sum": (make_loop(train_value="sum"), "train-sum-not-mean"),
    "val: the ELBO": (make_loop(val_value=lambda m, x: -_val_score(m, x)), "val-elbo-sign"),
    "val: sum over images": (make_loop(val_value=lambda m, x: _val_score(m, x) * len(x)), "val-sum-not-mean"),
    "val: no KL": (make_loop(val_value=lambda m, x: -losses.bernoulli_log_likelihood(m(x)[0], x).mean()),
                   "val-without-kl"),
    "calls train.fit": (_delegates_to_fit, Code.CALLED_REFERENCE),
}
LOOP_CORRECT = {"plain": make_loop(), "chunked validation": _chunked_loop, "DataLoader": _dataloader_loop}


CATALOGUE = {  # with the answers of the gaps closed in issue 22 (tests/_catalogue_03.py, tests/_catalogue_04.py)
    "3.3": {"wrong": {**MLP_WRONG, **_catalogue_03.MLP_WRONG}, "correct": {**MLP_CORRECT, **_catalogue_03.MLP_CORRECT}},
    "4.3": {"wrong": {**LOOP_WRONG, **_catalogue_04.LOOP_WRONG}, "correct": {**LOOP_CORRECT, **_catalogue_04.LOOP_CORRECT}},
    "4.4": {"wrong": {**CONV_WRONG, **_catalogue_04.CONV_WRONG}, "correct": {**CONV_CORRECT, **_catalogue_04.CONV_CORRECT}},
}
WRONG = [(ex, name) for ex, entry in CATALOGUE.items() for name in entry["wrong"]]
CORRECT = [(ex, name) for ex, entry in CATALOGUE.items() for name in entry["correct"]]


def _check(ex_id):
    return getattr(checks, checks.REGISTRY[ex_id].function)


def _run(ex_id, answer):
    return _check(ex_id)(answer, timeout=None)  # the machine running the tests may be busy: no time limit here


@pytest.mark.parametrize("ex_id, name", CORRECT, ids=[f"{e}-{n}" for e, n in CORRECT])
def test_correct_answers_pass(ex_id, name):
    result = _run(ex_id, CATALOGUE[ex_id]["correct"][name])
    assert result.passed, result.text()


@pytest.mark.parametrize("ex_id, name", WRONG, ids=[f"{e}-{n}" for e, n in WRONG])
def test_wrong_answers_fail_and_are_named(ex_id, name):
    answer, code = CATALOGUE[ex_id]["wrong"][name]
    result = _run(ex_id, answer)
    assert not result.passed and result.points == 0, f"{name}: accepted"
    assert result.code == code, f"{name}: expected {code}, got {result.code}: {result.text()}"


def test_every_exercise_has_ten_wrong_and_three_correct_answers():
    for ex_id, entry in CATALOGUE.items():
        assert len(entry["wrong"]) >= 10 and len(entry["correct"]) >= 3, ex_id


def test_a_stub_is_not_answered_and_a_stubbed_training_step_is_replaced_by_the_reference():
    class Stub(nn.Module):
        def __init__(self, input_dim=784, hidden_dim=400, latent_dim=20):
            super().__init__()
            raise NotImplementedError("Exercise 3.3: the VAE as an nn.Module")

    assert _run("3.3", Stub).code == Code.NOT_ANSWERED
    # training_step in this module is a stub: the loop check runs with the reference step in its place
    assert _run("4.3", make_loop()).passed
    assert training_step.__name__ == "training_step" and globals()["training_step"] is training_step


def test_teacher_can_allow_the_course_model():
    result = _check("3.3")(SubclassesTheCourse, timeout=None, allow_reference_calls=True)
    assert result.status == Status.PASSED, result.text()
    assert any("vae_course.models._VAEBase.forward" in note for note in result.notes)


def coverage() -> list[tuple]:
    """(exercise, named, rejected, wrong, correct accepted, correct) per exercise."""
    rows = []
    for ex_id, entry in CATALOGUE.items():
        results = [(_run(ex_id, answer), code) for answer, code in entry["wrong"].values()]
        rejected = sum(not r.passed for r, _ in results)
        named = sum(not r.passed and r.code == code for r, code in results)
        accepted = sum(_run(ex_id, answer).passed for answer in entry["correct"].values())
        rows.append((ex_id, named, rejected, len(results), accepted, len(entry["correct"])))
    return rows


if __name__ == "__main__":
    print("exercise  named/rejected/wrong  correct accepted")
    for ex_id, named, rejected, total, accepted, n_correct in coverage():
        print(f"{ex_id:8}  {named}/{rejected}/{total}  {accepted}/{n_correct}")


# --------------------------------------------------------------------------- delegation (tests/test_checks_integrity.py)


def _own_mlp_encode(self, x):
    h = torch.relu(self.course.fc_hidden(x))
    return self.course.fc_mu(h), self.course.fc_logvar(h)


def _own_mlp_decode(self, z):
    return self.course.fc_decode_out(torch.relu(self.course.fc_decode_hidden(z)))


def _own_conv_encode(self, x):
    h = self.course.conv(x.reshape(-1, 1, 28, 28))
    return self.course.fc_mu(h), self.course.fc_logvar(h)


def _own_conv_decode(self, z):
    return self.course.deconv(self.course.fc_decode(z).reshape(len(z), -1, 7, 7)).reshape(len(z), -1)


def _wrapping(course, *, encode=None, decode=None, reparameterize=None):
    """A student's class that keeps a course model inside and takes some of its methods (the others its own)."""

    class Wrapper(nn.Module):
        def __init__(self, **config):
            super().__init__()
            if course is models.MLPVAE:
                config["hidden_dims"] = (config.pop("hidden_dim"),)
            self.course = course(**config)
            self.latent_dim = self.course.latent_dim

        def forward(self, x):
            mu, logvar = self.encode(x)
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    Wrapper.encode = encode or (lambda self, x: self.course.encode(x))
    Wrapper.decode = decode or (lambda self, z: self.course.decode(z))
    Wrapper.reparameterize = reparameterize or GoodVAE.reparameterize
    return Wrapper


def _mlpvae_encode(self, x):
    h = self.course.encoder(x)
    return self.course.fc_mu(h), self.course.fc_logvar(h)


def _loop_with_evaluate(model, optimizer, train_images, val_images, epochs, batch_size):
    history = make_loop()(model, optimizer, train_images, val_images, epochs, batch_size)
    history["val"] = [train.evaluate(model, val_images, device="cpu")["loss"]] * epochs
    return history


#: Exercises without a float64 case, and why.
NOT_FLOAT_TENSORS = {"3.3": "a class", "4.3": "a training loop (its history holds floats)", "4.4": "a class"}

#: One answer per (exercise, reference it must not call) that calls it (tests/test_checks_integrity.py):
# {(exercise, the reference named first): an answer that uses it}
DELEGATIONS = {
    ("3.3", "vae_course.models._VAEBase.forward"): SubclassesTheCourse,
    ("3.3", "vae_course.models._VAEBase.reparameterize"):
        _variant(GoodVAE, reparameterize=models.VAE.reparameterize),
    ("3.3", "vae_course.models.VAE.encode"): _wrapping(models.VAE, decode=_own_mlp_decode),
    ("3.3", "vae_course.models.VAE.decode"): _wrapping(models.VAE, encode=_own_mlp_encode),
    ("3.3", "vae_course.models.MLPVAE.encode"):
        _wrapping(models.MLPVAE, decode=lambda self, z: self.course.decoder(z)),
    ("3.3", "vae_course.models.MLPVAE.decode"): _wrapping(models.MLPVAE, encode=_mlpvae_encode),
    ("4.3", "vae_course.train.fit"): _delegates_to_fit,
    ("4.3", "vae_course.train.evaluate"): _loop_with_evaluate,
    ("4.4", "vae_course.models._VAEBase.forward"): type("ConvSubclass", (models.ConvVAE,), {}),
    ("4.4", "vae_course.models._VAEBase.reparameterize"):
        _variant(GoodConv, reparameterize=models.ConvVAE.reparameterize),
    ("4.4", "vae_course.models.ConvVAE.encode"): _wrapping(models.ConvVAE, decode=_own_conv_decode),
    ("4.4", "vae_course.models.ConvVAE.decode"): _wrapping(models.ConvVAE, encode=_own_conv_encode),
}


@pytest.mark.parametrize("ex_id, reference", sorted(DELEGATIONS), ids=lambda v: str(v))
def test_an_answer_that_uses_the_course_model_or_fit_scores_zero(ex_id, reference):
    result = _run(ex_id, DELEGATIONS[(ex_id, reference)])
    assert (result.status, result.code) == (Status.FAILED, Code.CALLED_REFERENCE), result.text()
    assert f"you called `{reference}`" in result.message and result.points == 0


# --------------------------------------------------------------------------- the grader


@pytest.mark.slow
def test_the_grader_grades_the_classes_of_a_notebook(tmp_path):
    """`vae-course grade --no-execute` takes MyVAE (a class) out of notebook 03 and grades it: the solution gets the
    points of 3.3, a copy whose decode applies a sigmoid gets 0 with the mistake's code, an unanswered one 0."""
    import csv
    import os
    import subprocess
    import sys
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    solution = nbformat.read(root / "solutions" / "03_reparameterization.ipynb", as_version=4)
    cell = next(c for c in solution.cells if "exercise-3.3" in c.metadata.get("tags", []))
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(solution, folder / "ann.ipynb")
    cell.source = cell.source.replace("return self.fc_decode_out(torch.relu(self.fc_decode_hidden(z)))",
                                      "return torch.sigmoid(self.fc_decode_out(torch.relu(self.fc_decode_hidden(z))))")
    nbformat.write(solution, folder / "ben.ipynb")
    nbformat.write(nbformat.read(root / "notebooks" / "03_reparameterization.ipynb", as_version=4),
                   folder / "cat.ipynb")
    done = subprocess.run([sys.executable, "-m", "vae_course", "grade", str(folder), "--out", str(tmp_path / "g.csv"),
                           "--no-execute", "--workers", "1", "--timeout", "120"], cwd=root, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode in (0, 1), done.stderr[-2000:]
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as handle:
        rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(handle)}
    assert (rows["ann", "3.3"]["points"], rows["ann", "3.3"]["status"]) == ("4", "passed")
    assert (rows["ben", "3.3"]["points"], rows["ben", "3.3"]["code"]) == ("0", "returns-probabilities")
    assert (rows["cat", "3.3"]["points"], rows["cat", "3.3"]["code"]) == ("0", "not-answered")
    assert rows["ben", "3.1"]["status"] == "passed"  # the other exercises of the notebook are graded as before
