"""vae_course.molecules.metrics (the MOSES metrics) against hand-computed values and the stored MOSES references;
the pieces of benchmarks/molecules_benchmark.py."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from fcd_torch.utils import calculate_frechet_distance
from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from vae_course.losses import gaussian_kl
from vae_course.molecules import checkpoint_path, latent_scores, load_molecule_vae, load_molecules
from vae_course.molecules import metrics as mm
from vae_course.molecules.chem import to_molecule

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import molecules_benchmark as bench  # noqa: E402

TEST = load_molecules("test", limit=300, verbose=False)        # a random sample of the MOSES test set


def fps_of(smiles):
    return mm.fingerprints([to_molecule(s) for s in smiles])


def test_validity_uniqueness_and_novelty_count_as_moses_does():
    generated = ["CCO", "OCC", "C1CC", "", "c1ccccc1", "C(C)(C)(C)(C)C"]   # an open ring; a pentavalent carbon
    valid = mm.valid_canonical(generated)
    assert mm.fraction_valid(generated) == pytest.approx(3 / 6)
    assert valid == ["CCO", "CCO", "c1ccccc1"]                      # canonical, duplicates kept, in order
    assert mm.fraction_unique(valid, 2) == 0.5                         # unique@2: the first two are one molecule
    assert mm.fraction_unique(valid) == pytest.approx(2 / 3)
    with pytest.warns(UserWarning, match="unique@1000 computed on only 3"):
        assert mm.fraction_unique(valid, 1000) == pytest.approx(2 / 3)
    assert mm.novelty(valid, {"CCO"}) == 0.5                            # of the 2 distinct, 1 is new


def test_tanimoto_matches_rdkit_and_snn_is_the_mean_nearest_neighbour():
    ref, gen = TEST[:40], TEST[40:60]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    ref_bits = [generator.GetFingerprint(to_molecule(s)) for s in ref]
    expected = np.mean([max(DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(to_molecule(s)), ref_bits))
                        for s in gen])
    assert mm.snn(fps_of(gen), fps_of(ref)) == pytest.approx(expected, abs=1e-6)
    assert mm.average_agg_tanimoto(fps_of(ref), fps_of(gen), batch_size=7) == pytest.approx(expected, abs=1e-6)


def test_snn_of_a_set_against_itself_and_the_stored_test_set_is_one():
    fps = fps_of(TEST[:100])
    assert mm.snn(fps, fps) == pytest.approx(1.0)
    assert mm.snn(fps, mm.reference_statistics("test")["fps"]) == pytest.approx(1.0)   # they are MOSES test molecules


def test_internal_diversity_is_zero_for_copies_and_hand_computed_for_two():
    assert mm.internal_diversity(fps_of(["c1ccccc1CCO"] * 5)) == pytest.approx(0.0)
    a, b = fps_of(["CCO"]), fps_of(["CCCO"])
    t = float((a & b).sum() / (a | b).sum())
    pair = np.vstack([a, b])                      # pairs (a,a), (a,b), (b,a), (b,b): T = 1, t, t, 1
    assert mm.internal_diversity(pair) == pytest.approx(1 - (2 + 2 * t) / 4)
    assert mm.internal_diversity(pair, p=2) == pytest.approx(1 - math.sqrt((1 + t * t) / 2))


def test_cosine_similarity_of_counts():
    assert mm.cosine_similarity({"a": 1, "b": 1}, {"a": 2}) == pytest.approx(1 / math.sqrt(2))
    assert mm.cosine_similarity({"a": 3}, {"a": 1}) == pytest.approx(1.0)
    assert math.isnan(mm.cosine_similarity({}, {"a": 1}))


def test_fragments_and_scaffolds():
    ester = to_molecule("CCOC(=O)c1ccccc1")                        # cut at its 3 BRICS bonds, counted per copy
    assert mm.fragments([ester, ester]) == {"[4*]CC": 2, "[3*]O[3*]": 2, "[1*]C([6*])=O": 2, "[16*]c1ccccc1": 2}
    assert mm.scaffold(to_molecule("Cc1ccc2ccccc2c1")) == "c1ccc2ccccc2c1"
    assert mm.scaffold(to_molecule("Cc1ccccc1")) is None            # MOSES counts scaffolds of 2+ rings only
    assert mm.scaffolds([to_molecule("CCc1ccc(-c2ccccc2)cc1"), to_molecule("c1ccc(-c2ccccc2)cc1O")]) == \
        {"c1ccc(-c2ccccc2)cc1": 2}


def test_filters_reject_what_moses_rejects_and_pass_the_test_set():
    assert mm.passes_filters(to_molecule("CC(=O)Nc1ccc(O)cc1"))
    for smiles in ["C[N+](C)(C)C", "CC[Si](C)(C)C", "C1CCCCCCC1", "O=C1NC(=S)SC1=Cc1ccccc1"]:  # charge, atom,
        assert not mm.passes_filters(to_molecule(smiles)), smiles                               # 8-ring, PAINS
    assert len(mm._filters()) == 502 and None not in mm._filters()
    assert all(mm.passes_filters(to_molecule(s)) for s in TEST[:200])   # MOSES built its data with these filters


def test_filter_failures_name_every_rule_and_agree_with_passes_filters():
    assert mm.filter_failures(to_molecule("CC(=O)Nc1ccc(O)cc1")) == []
    assert mm.filter_failures(to_molecule("C1CCCCCCC1")) == ["ring of 8+ atoms"]
    assert mm.filter_failures(to_molecule("C[N+](C)(C)C")) == ["charge or atom not allowed"]
    assert "MCF7" in mm.filter_failures(to_molecule("O=Cc1ccccc1"))                   # an aldehyde
    pains = mm.filter_failures(to_molecule("O=C1NC(=S)SC1=Cc1ccccc1"))
    assert pains and all(not name.startswith("<") for name in pains)                   # names unwrapped
    for smiles in TEST[:30] + ["C1CCCCCCC1", "O=Cc1ccccc1", "O=C1NC(=S)SC1=Cc1ccccc1", "CC[Si](C)(C)C"]:
        mol = to_molecule(smiles)
        assert (not mm.filter_failures(mol)) == mm.passes_filters(mol), smiles


def test_frechet_distance_by_hand_and_of_a_sample_against_itself():
    one = {"mu": np.zeros(1), "sigma": np.eye(1)}
    other = {"mu": np.ones(1), "sigma": 4 * np.eye(1)}
    assert mm.frechet_distance(one, other) == pytest.approx(1 + 1 + 4 - 2 * 2)
    stats = mm.chemnet_statistics(TEST[:100])
    assert stats["mu"].shape == (512,) and stats["sigma"].shape == (512, 512)
    assert abs(mm.frechet_distance(stats, stats)) < 1e-4              # sqrtm of a rank-99 product: ~5e-6
    test = mm.reference_statistics("test")
    to_test = mm.frechet_distance({"mu": test["fcd_mu"], "sigma": test["fcd_sigma"]}, stats)
    assert 8 < to_test < 20      # test molecules themselves: only the small-sample bias, about 1,230 / n (n = 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = calculate_frechet_distance(test["fcd_mu"], test["fcd_sigma"], stats["mu"], stats["sigma"])
    assert to_test == pytest.approx(expected, rel=1e-9)             # fcd_torch's own function


def test_stored_references_are_the_full_moses_sets():
    test, scaffolds = mm.reference_statistics("test"), mm.reference_statistics("test_scaffolds")
    assert test["n"] == 176_074 and test["fps"].shape == (176_074, 1024)
    assert set(np.unique(test["fps"][:1000])) <= {0, 1}
    assert test["fcd_mu"].shape == (512,) and scaffolds["fcd_sigma"].shape == (512, 512)
    assert "fps" not in scaffolds and sum(scaffolds["scaf"].values()) > 0


def test_moses_table_of_test_molecules():
    table = mm.moses_table(TEST[:150] + ["C1CC", "xyz"], train=set(load_molecules("train", verbose=False)),
                           fcd=False)
    assert table["valid"] == pytest.approx(150 / 152) and table["n_valid"] == 150
    assert table["unique_1k"] == 1.0 and table["novelty"] == 1.0     # test molecules are not training molecules
    assert table["snn_test"] == pytest.approx(1.0) and table["filters"] == 1.0
    assert 0.8 < table["frag_test"] <= 1 and 0 < table["scaf_test"] <= 1 and 0.8 < table["intdiv1"] < 1


def test_ngram_baseline_learns_its_training_strings():
    rng = np.random.default_rng(0)
    long_context = bench.NGramSampler(["CCO", "c1ccccc1"], context=8).sample(50, rng=rng)
    assert set(long_context) == {"CCO", "c1ccccc1"}                   # every context has one continuation
    unigram = bench.NGramSampler(["CCO", "CCN"], context=0).sample(200, rng=rng)
    assert set("".join(unigram)) <= {"C", "O", "N"} and len(set(unigram)) > 5


def test_format_table_lists_measured_and_paper_rows():
    text = bench.format_table({"ngram": {"valid": 0.2, "fcd_test": float("nan")}}, 2000)
    assert "| ngram (N=2,000) | 0.200 | - |" in text and "MOSES VAE (paper)" in text


def test_vae_rows_sample_reproducibly_and_measure_the_latent():
    model, vocab = load_molecule_vae("smiles", device="cpu")
    samples = bench.vae_samples(model, vocab, 30, seed=0, batch=16)
    assert len(samples) == 30 and samples == bench.vae_samples(model, vocab, 30, seed=0, batch=16)
    tokens = vocab.encode(TEST[:40])
    scores = latent_scores(model, tokens, batch=16)
    assert 5 < scores["kl"] < 40 and 0 <= scores["recon_exact"] <= 1     # shipped: about 21 nats per molecule
    with torch.no_grad():                                                 # the same numbers by hand, one batch
        mu, logvar = model.encode(tokens)
        exact = (model.generate(mu, greedy=True) == tokens).all(dim=1).float().mean()
    assert scores["kl"] == pytest.approx(float(gaussian_kl(mu, logvar).mean()), rel=1e-5)
    assert scores["recon_exact"] == pytest.approx(float(exact))


def test_latent_scores_refuses_tokens_that_are_not_a_batch_of_molecules():
    model, vocab = load_molecule_vae("smiles", device="cpu")
    with pytest.raises(ValueError, match=r"\(N, L\) token ids"):
        latent_scores(model, vocab.encode(["CCO"])[0])


def test_moses_table_without_enough_valid_molecules_is_nan_not_an_error():
    train = {"CCO"}
    nothing = mm.moses_table(["C1CC", ""], train=train)
    assert nothing["valid"] == 0 and nothing["n_valid"] == 0
    assert all(math.isnan(nothing[k]) for k in mm.METRICS[1:])
    one = mm.moses_table(["CCO", "xyz"], train=train)
    assert one["valid"] == 0.5 and one["novelty"] == 0 and math.isnan(one["fcd_test"])


@pytest.mark.slow
def test_benchmark_json_quick_run_end_to_end(capsys):
    assert bench.main(["--samples", "200", "--json"]) == 0        # about 25 s on 2 cores
    results = json.loads(capsys.readouterr().out)
    assert list(results) == ["smiles_vae", "selfies_vae", "unigram", "ngram", "train_copy"]
    assert results["selfies_vae"]["valid"] == 1.0 and results["train_copy"]["novelty"] == 0.0
    # the shipped SMILES VAE: 0.837 valid at 10k samples (binomial s.e. at 200: 0.026), 28.9% reconstructed
    assert 0.7 < results["smiles_vae"]["valid"] < 0.95 and results["smiles_vae"]["recon_exact"] > 0.2
    assert results["smiles_vae"]["fcd_test"] < results["ngram"]["fcd_test"]


def test_moses_copy_draws_from_the_whole_training_file_and_needs_it(tmp_path, monkeypatch):
    path = tmp_path / "train.csv"
    path.write_text("SMILES\n" + "\n".join(TEST) + "\n")           # stands in for MOSES's train.csv.gz
    # the shipped models' two draws (400,000 each of the real file) scaled to this stand-in: all its 300 rows
    # first, then 100 of them at random - so every molecule of the file is a training molecule
    info = {"train_molecules": 100, "recipe": {"draw": "random"}, "init": {"train_molecules": 300, "recipe": {}}}
    monkeypatch.setattr(bench, "molecule_vae_info", lambda model: info)
    logged = []
    rows = bench.run(60, models=("moses_copy",), moses_train=path, log=lambda *a, **k: logged.append(a[0]))
    assert list(rows) == ["moses_copy"] and rows["moses_copy"]["valid"] == 1.0
    assert rows["moses_copy"]["novelty"] == 0.0            # drawn from the training molecules themselves
    assert bench.run(60, models=("moses_copy",), log=lambda *a, **k: logged.append(a[0])) == {}
    assert "moses_copy: skipped (it needs --moses-train)" in logged


@pytest.mark.slow
def test_a_checkpoint_row_measures_a_file_as_the_shipped_row_measures_the_shipped_model(tmp_path):
    copy = tmp_path / "mine.pt"
    copy.write_bytes(checkpoint_path("smiles").read_bytes())
    rows = bench.run(40, models=("smiles_vae",), checkpoints={"mine": copy}, log=lambda *a, **k: None)
    mine, shipped = rows["mine"], rows["smiles_vae"]
    assert mine.pop("checkpoint") == str(copy)
    assert {k: v for k, v in mine.items() if k != "seconds"} == pytest.approx(
        {k: v for k, v in shipped.items() if k != "seconds"}, nan_ok=True)
    with pytest.raises(SystemExit):                       # argparse: a missing file is named before anything runs
        bench.main(["--samples", "10", "--json", "--checkpoint", f"mine={tmp_path / 'nope.pt'}"])


def test_property_distances_are_wasserstein_distances_to_the_stored_test_values():
    mols = [to_molecule(s) for s in TEST[:50]]
    values = {name: [f(m) for m in mols] for name, f in mm.PROPERTIES.items()}
    assert mm.property_distances(mols, values) == pytest.approx(dict.fromkeys(mm.PROPERTIES, 0.0), abs=1e-12)
    shifted = {name: np.array(v) + 1.5 for name, v in values.items()}    # every value moved by 1.5
    assert mm.property_distances(mols, shifted) == pytest.approx(dict.fromkeys(mm.PROPERTIES, 1.5))
    test = mm.reference_statistics("test")
    assert all(len(test[name]) == 176_074 for name in mm.PROPERTIES)
    distances = mm.property_distances(mols, test)                 # a sample of the test set itself: close
    assert distances["QED"] < 0.05 and distances["logP"] < 0.5 and distances["weight"] < 15


def test_a_fine_tuned_checkpoint_was_trained_on_its_own_draw_and_its_starting_checkpoints(tmp_path, monkeypatch):
    path = tmp_path / "train.csv"
    path.write_text("SMILES\n" + "\n".join(TEST) + "\n")           # stands in for MOSES's train.csv.gz
    infos = {"start": {"train_molecules": 50, "recipe": {}},        # an old checkpoint: no draw recorded, so "first"
             "tuned": {"train_molecules": 80, "recipe": {"draw": "random"},
                       "init": {"train_molecules": 50, "recipe": {}}}}
    monkeypatch.setattr(bench, "molecule_vae_info", lambda model: infos[model])
    assert bench._draws(infos["tuned"]) == ((80, "random"), (50, "first"))
    molecules = bench.training_molecules(path, models=("tuned",))
    drawn = load_molecules("train", path, sample=80, verbose=False)
    assert molecules == list(dict.fromkeys(drawn + TEST[:50]))     # both draws, each molecule once
    assert len(molecules) < 130                                     # the two overlap (80 of 300 and the first 50)
    with pytest.raises(SystemExit, match="different molecules"):
        bench.training_molecules(path, models=("tuned", "start"))
    infos["again"] = {"train_molecules": 80, "recipe": {"draw": "random"}, "init": infos["tuned"]}  # same draw twice
    assert bench.training_molecules(path, models=("again", "tuned")) == molecules
