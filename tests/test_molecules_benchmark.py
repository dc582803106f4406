"""benchmarks/train_molecules.py: the schedules, recipe overrides, and a smoke run that writes a loadable checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import train_molecules as tm  # noqa: E402
from vae_course.molecules import load_molecule_vae  # noqa: E402


def test_kl_weight_rises_linearly_then_stays():
    recipe = tm.Recipe(beta=0.3, kl_warmup=2.0)
    assert [recipe.beta_at(e) for e in (0, 1, 2, 3, 7)] == pytest.approx([0.0, 0.15, 0.3, 0.3, 0.3])
    assert tm.Recipe(beta=0.5, kl_warmup=0).beta_at(1) == 0.5


def test_learning_rate_falls_from_lr_to_a_tenth_along_a_cosine():
    recipe = tm.Recipe(lr=2e-3, epochs=7)
    rates = [recipe.lr_at(e) for e in range(7)]
    assert rates[0] == pytest.approx(2e-3) and rates[-1] == pytest.approx(2e-4)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_recipe_overrides_parse_and_unknown_fields_fail():
    recipe = tm.recipe_with(tm.RECIPE, ["epochs=3", "beta=0.5"])
    assert (recipe.epochs, recipe.beta, recipe.hidden_dim) == (3, 0.5, tm.RECIPE.hidden_dim)
    with pytest.raises(SystemExit, match="unknown recipe field 'betta'"):
        tm.recipe_with(tm.RECIPE, ["betta=1"])


@pytest.mark.slow
def test_smoke_run_writes_a_checkpoint_with_its_scores(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tm, "checkpoint_path", lambda rep: pytest.fail("must not touch the shipped checkpoint"))
    out = tmp_path / "tiny.pt"
    tm.main(["--representation", "selfies", "--out", str(out), "--limit", "300", "--set", "epochs=1",
             "--set", "hidden_dim=16", "--set", "channels=8", "--set", "embed_dim=8", "--set", "latent_dim=4"])
    model, vocab = load_molecule_vae(out, device="cpu")
    assert model.config["hidden_dim"] == 16 and vocab.representation == "selfies"
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["train_molecules"] == 300 and meta["recipe"]["epochs"] == 1
    scores = meta["scores"]
    assert scores["n_samples"] == 1000 and all(0 <= scores[k] <= 1 for k in ("valid", "unique", "novel"))
    assert scores["valid"] > 0.5         # SELFIES: only samples without a single atom (e.g. just <eos>) fail
    assert "epoch 1/1" in capsys.readouterr().out
