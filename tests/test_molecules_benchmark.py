"""benchmarks/train_molecules.py: the schedules, the KL controller, the length buckets, recipe overrides, and a
smoke run that writes a loadable checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import train_molecules as tm  # noqa: E402
from vae_course.molecules import load_molecule_vae  # noqa: E402


def test_learning_rate_warms_up_then_falls_along_a_cosine_to_a_twentieth():
    recipe = tm.Recipe(lr=2e-3, presentations=128 * 1000, batch_size=128, warmup_steps=100)
    assert recipe.steps == 1000
    assert recipe.lr_at(0) == pytest.approx(2e-5) and recipe.lr_at(99) == pytest.approx(2e-3)
    rates = [recipe.lr_at(s) for s in range(100, 1001)]
    assert rates[0] == pytest.approx(2e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_kl_controller_raises_beta_above_the_target_lowers_it_below_and_stays_in_bounds():
    recipe = tm.Recipe(kl_target=30.0, gain=0.02, beta_min=0.01)
    assert recipe.next_beta(0.1, 30.0) == pytest.approx(0.1)
    assert recipe.next_beta(0.1, 60.0) == pytest.approx(0.1 * torch.e ** 0.02)
    assert recipe.next_beta(0.1, 0.0) == pytest.approx(0.1 * torch.e ** -0.02)
    assert recipe.next_beta(1.0, 1000.0) == 1.0 and recipe.next_beta(0.01, 0.0) == 0.01
    beta, kl = 0.1, 45.0                   # a toy model whose KL falls as beta rises: the controller finds 30 nats
    for _ in range(3000):
        kl = 3.0 / beta
        beta = recipe.next_beta(beta, kl)
    assert kl == pytest.approx(30.0, rel=0.02)


def test_length_buckets_cover_every_molecule_once_with_similar_lengths_in_a_batch():
    lengths = torch.randint(10, 60, (5000,), generator=torch.Generator().manual_seed(0))
    batches = list(tm.bucketed_batches(lengths, 32, torch.Generator().manual_seed(1)))
    assert sorted(torch.cat(batches).tolist()) == list(range(5000))
    spread = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in batches]).mean()
    assert spread < 4                      # random batches of 32 would span about 45 positions
    again = list(tm.bucketed_batches(lengths, 32, torch.Generator().manual_seed(1)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_recipe_overrides_parse_and_unknown_fields_fail():
    recipe = tm.recipe_with(tm.RECIPE, ["presentations=3000", "kl_target=20"])
    assert (recipe.presentations, recipe.kl_target, recipe.hidden_dim) == (3000, 20.0, tm.RECIPE.hidden_dim)
    with pytest.raises(SystemExit, match="unknown recipe field 'betta'"):
        tm.recipe_with(tm.RECIPE, ["betta=1"])


@pytest.mark.slow
def test_smoke_run_writes_a_checkpoint_with_its_scores(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tm, "checkpoint_path", lambda rep: pytest.fail("must not touch the shipped checkpoint"))
    out = tmp_path / "tiny.pt"
    tm.main(["--representation", "selfies", "--out", str(out), "--limit", "300", "--set", "molecules=300",
             "--set", "presentations=1280", "--set", "batch_size=64", "--set", "warmup_steps=5",
             "--set", "hidden_dim=16", "--set", "channels=8", "--set", "embed_dim=8", "--set", "latent_dim=4"])
    model, vocab = load_molecule_vae(out, device="cpu")
    assert model.config["hidden_dim"] == 16 and vocab.representation == "selfies"
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["train_molecules"] == 300 and meta["steps"] == 20 and meta["recipe"]["presentations"] == 1280
    scores = meta["scores"]
    assert scores["n_samples"] == 1000 and all(0 <= scores[k] <= 1 for k in ("valid", "unique", "novel"))
    assert scores["valid"] > 0.5         # SELFIES: only samples without a single atom (e.g. just <eos>) fail
    assert scores["test_kl"] >= 0 and 0 <= scores["test_reconstructed"] <= 1
    assert "step 20/20" in capsys.readouterr().out


def test_init_fine_tunes_a_checkpoint_on_the_molecules_its_vocabulary_can_write(tmp_path, capsys):
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    tiny = ["--set", "presentations=640", "--set", "batch_size=64", "--set", "warmup_steps=5", "--set", "hidden_dim=16",
            "--set", "channels=8", "--set", "embed_dim=8", "--set", "latent_dim=4", "--limit", "100"]
    tm.main(["--representation", "smiles", "--out", str(first), "--set", "molecules=200", *tiny])
    trained, vocab = load_molecule_vae(first, device="cpu")
    tm.main(["--representation", "smiles", "--out", str(second), "--init", str(first), "--set", "molecules=400", *tiny])
    tuned, tuned_vocab = load_molecule_vae(second, device="cpu")
    assert tuned_vocab == vocab and tuned.config == trained.config          # the checkpoint's model, not the recipe's
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), tuned.state_dict().values()))
    meta = torch.load(second, weights_only=True)["meta"]
    left_out = int(capsys.readouterr().out.split("fine-tuning")[1].split(":")[1].split(" of ")[0].replace(",", ""))
    assert meta["train_molecules"] == 400 - left_out and meta["init"]["path"] == str(first)
    assert meta["init"]["train_molecules"] == 200 and "--out" in meta["init"]["command"]
    assert meta["init"]["init"] is None                                  # the first model started from scratch
    third = tmp_path / "third.pt"                                        # a fine-tune of a fine-tune keeps the chain
    tm.main(["--representation", "smiles", "--out", str(third), "--init", str(second), "--set", "molecules=300", *tiny])
    chain = torch.load(third, weights_only=True)["meta"]["init"]
    assert chain["path"] == str(second) and chain["init"]["path"] == str(first)
    assert chain["init"]["train_molecules"] == 200 and chain["init"]["init"] is None
    with pytest.raises(SystemExit, match="not selfies"):
        tm.main(["--representation", "selfies", "--out", str(tmp_path / "x.pt"), "--init", str(first), *tiny])


def test_fits_needs_known_tokens_and_room_for_the_end_token():
    vocab = tm.Vocabulary.build(["CCO", "c1ccccc1"], "smiles")          # max_len 9: 8 tokens and <eos>
    assert vocab.fits(list("CCO")) and vocab.fits(list("c1ccccc1"))
    assert not vocab.fits(list("CCN"))                              # N is not in the vocabulary
    assert not vocab.fits(list("CCCCCCCCC"))                        # 9 tokens and <eos> need 10 positions
