"""Molecules (notebook 09): a sequence VAE that reads and writes SMILES or SELFIES.

One job per module:

* ``data``       - :func:`load_molecules`: the shipped MOSES subset (offline) or your own SMILES files
* ``tokens``     - SMILES characters and SELFIES tokens, :class:`Vocabulary` (ids, padding)
* ``model``      - :class:`SequenceVAE` (GRU encoder, GRU decoder with teacher forcing)
* ``losses``     - the categorical log-likelihood over real tokens and the sequence ELBO
* ``chem``       - RDKit: validity, canonical SMILES, QED/logP/weight, MOSES metrics, drawings
* ``pretrained`` - :func:`load_molecule_vae`: the shipped SMILES and SELFIES models
* ``plotting``   - :func:`molecule_grid`: molecules drawn by RDKit in a matplotlib figure
"""

from .chem import (canonical, draw_molecules, is_valid, largest_ring, moses_metrics, properties, similarity,
                   to_molecule)
from .data import MoleculeDataError, load_molecules
from .losses import sequence_elbo, sequence_log_likelihood, sequence_vae_loss
from .model import SequenceVAE
from .plotting import molecule_grid
from .pretrained import checkpoint_path, load_molecule_vae, molecule_vae_info, save_molecule_vae
from .tokens import REPRESENTATIONS, TokenError, Vocabulary, detokenize, tokenize

__all__ = [
    "MoleculeDataError", "REPRESENTATIONS", "SequenceVAE", "TokenError", "Vocabulary", "canonical",
    "checkpoint_path", "detokenize", "draw_molecules", "is_valid", "largest_ring", "load_molecule_vae",
    "load_molecules", "molecule_grid", "molecule_vae_info", "moses_metrics", "properties", "save_molecule_vae",
    "sequence_elbo", "sequence_log_likelihood", "sequence_vae_loss", "similarity", "to_molecule", "tokenize",
]
