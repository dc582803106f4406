"""Molecules (notebook 09): a sequence VAE that reads and writes SMILES or SELFIES.

One job per module:

* ``data``       - :func:`load_molecules`: the shipped MOSES subset (offline) or your own SMILES files
* ``tokens``     - SMILES characters and SELFIES tokens, :class:`Vocabulary` (ids, padding)
* ``model``      - :class:`SequenceVAE` (GRU encoder, GRU decoder with teacher forcing)
* ``losses``     - the categorical log-likelihood over real tokens and the sequence ELBO
* ``latent``     - :func:`latent_scores`: what the code carries (KL per molecule, exact reconstruction)
* ``chem``       - RDKit: validity, canonical SMILES, QED/logP/weight, validity/uniqueness/novelty, drawings
* ``metrics``    - the full MOSES table (FCD, SNN, Frag, Scaf, IntDiv, Filters) against the stored MOSES test
  statistics: ``from vae_course.molecules.metrics import moses_table`` (needs ``fcd-torch`` for FCD)
* ``pretrained`` - :func:`load_molecule_vae`: the shipped SMILES and SELFIES models
* ``plotting``   - :func:`molecule_grid`: molecules drawn by RDKit in a matplotlib figure
"""

import importlib

# Loaded on first use (PEP 562): `import vae_course.molecules.losses` (the check of Exercise 9.1, which every
# grading process imports) must not pay for RDKit and matplotlib.
_HOME = {
    "chem": ["canonical", "draw_molecules", "is_valid", "largest_ring", "moses_metrics", "properties", "similarity",
             "to_molecule"],
    "data": ["MoleculeDataError", "load_molecules"],
    "latent": ["latent_scores"],
    "losses": ["molecule_elbo", "sequence_elbo", "sequence_log_likelihood", "sequence_vae_loss"],
    "model": ["SequenceVAE"],
    "plotting": ["molecule_grid"],
    "pretrained": ["checkpoint_path", "load_molecule_vae", "molecule_vae_info", "save_molecule_vae"],
    "tokens": ["REPRESENTATIONS", "TokenError", "Vocabulary", "detokenize", "tokenize"],
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = [
    "MoleculeDataError", "REPRESENTATIONS", "SequenceVAE", "TokenError", "Vocabulary", "canonical",
    "checkpoint_path", "detokenize", "draw_molecules", "is_valid", "largest_ring", "latent_scores", "load_molecule_vae",
    "load_molecules", "molecule_elbo", "molecule_grid", "molecule_vae_info", "moses_metrics", "properties",
    "save_molecule_vae", "sequence_elbo", "sequence_log_likelihood", "sequence_vae_loss", "similarity", "to_molecule",
    "tokenize",
]
