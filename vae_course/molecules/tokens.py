"""Molecules as token sequences: SMILES characters or SELFIES tokens, and the vocabulary that numbers them.

A sequence VAE reads and writes integer tokens. Two ways to spell a molecule as tokens:

* ``"smiles"``: one token per SMILES character, as in the character VAE of Gómez-Bombarelli et al.
  (2018): ``"CC(=O)O"`` -> ``C C ( = O ) O``; chlorine ``Cl`` is the two tokens ``C``, ``l``. Most strings
  of these characters are *not* molecules (an unclosed ring or bracket, an atom with too many bonds).
* ``"selfies"``: SELFIES tokens (Krenn et al. 2020, the ``selfies`` package), e.g. ``[C][C][=Branch1]
  [C][=O][O]``. Their grammar is built so that *every* token sequence decodes to a valid molecule.

:class:`Vocabulary` numbers the tokens. Ids 0, 1, 2 are special: ``<pad>`` fills the positions after
the end, ``<eos>`` ends every sequence (the model must learn where to stop), ``<bos>`` is the decoder's
first input. ``encode`` gives ``(N, max_len)`` int64 tensors laid out as *tokens, <eos>, <pad>...*.
"""

from __future__ import annotations

from dataclasses import dataclass

import selfies as sf
import torch

REPRESENTATIONS = ("smiles", "selfies")
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>")
PAD, EOS, BOS = 0, 1, 2


class TokenError(ValueError):
    """A molecule cannot be written with a vocabulary's tokens; the message names the molecule."""


def tokenize(smiles: str, representation: str) -> list[str]:
    """The tokens of one molecule: SMILES characters, or the SELFIES tokens of its SELFIES string.

    >>> tokenize("CCl", "smiles")
    ['C', 'C', 'l']
    >>> tokenize("CCl", "selfies")
    ['[C]', '[Cl]']
    """
    _check_representation(representation)
    if representation == "smiles":
        return list(smiles)
    try:
        return list(sf.split_selfies(sf.encoder(smiles, strict=True)))
    except sf.EncoderError as err:
        raise TokenError(f"SELFIES cannot encode {smiles!r}: {err}") from None


def detokenize(tokens: list[str], representation: str) -> str:
    """Tokens -> a SMILES string. For SELFIES the tokens are decoded, so the result is always a molecule
    (possibly the empty string); for SMILES characters it is just the joined string, valid or not."""
    _check_representation(representation)
    if representation == "smiles":
        return "".join(tokens)
    return sf.decoder("".join(tokens))


def _check_representation(representation: str) -> None:
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}.")


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id for one representation; ``max_len`` positions per sequence (the tokens and ``<eos>``)."""

    representation: str
    tokens: tuple[str, ...]   # tokens[i] is the token with id i; the first three are SPECIAL_TOKENS
    max_len: int

    pad_index = PAD
    eos_index = EOS
    bos_index = BOS

    def __post_init__(self):
        _check_representation(self.representation)
        if tuple(self.tokens[:3]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}, got {tuple(self.tokens[:3])}.")
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "_ids", {token: i for i, token in enumerate(self.tokens)})

    @classmethod
    def build(cls, smiles: list[str], representation: str, *, max_len: int | None = None) -> "Vocabulary":
        """The vocabulary of a list of SMILES: every token they use, sorted; ``max_len`` defaults to the
        longest molecule's token count plus one (for ``<eos>``)."""
        return cls.from_sequences([tokenize(s, representation) for s in smiles], representation, max_len=max_len)

    @classmethod
    def from_sequences(cls, sequences: list[list[str]], representation: str, *,
                       max_len: int | None = None) -> "Vocabulary":
        """:meth:`build` from molecules already split into tokens (saves tokenising twice)."""
        tokens = sorted({t for seq in sequences for t in seq})
        longest = max(len(seq) for seq in sequences) + 1
        return cls(representation, SPECIAL_TOKENS + tuple(tokens), max_len or longest)

    def __len__(self) -> int:
        return len(self.tokens)

    def fits(self, sequence: list[str]) -> bool:
        """Whether a molecule's tokens can be encoded: every token known, and ``<eos>`` within ``max_len``."""
        return len(sequence) < self.max_len and all(token in self._ids for token in sequence)

    def encode(self, smiles: list[str]) -> torch.Tensor:
        """SMILES strings (N) -> token ids (N, max_len): the molecule's tokens, ``<eos>``, then ``<pad>``."""
        return self.encode_sequences([tokenize(s, self.representation) for s in smiles], smiles)

    def encode_sequences(self, sequences: list[list[str]], smiles: list[str] | None = None) -> torch.Tensor:
        """:meth:`encode` for molecules already split into tokens; ``smiles`` only names them in errors."""
        out = torch.full((len(sequences), self.max_len), PAD, dtype=torch.long)
        for row, seq in enumerate(sequences):
            if not self.fits(seq):
                s = smiles[row] if smiles is not None else detokenize(seq, self.representation)
                if unknown := [t for t in seq if t not in self._ids]:
                    raise TokenError(f"molecule {row} ({s!r}) uses {self.representation} tokens the vocabulary does "
                                     f"not have: {sorted(set(unknown))}. Build a vocabulary from data that "
                                     "contains them (Vocabulary.build), or leave this molecule out.")
                raise TokenError(f"molecule {row} ({s!r}) has {len(seq)} {self.representation} tokens; this "
                                 f"vocabulary holds at most {self.max_len - 1} (max_len={self.max_len} with <eos>).")
            out[row, :len(seq)] = torch.tensor([self._ids[t] for t in seq], dtype=torch.long)
            out[row, len(seq)] = EOS
        return out

    def tokens_of(self, ids: torch.Tensor) -> list[list[str]]:
        """Token ids (N, L) -> the tokens of each row up to its first ``<eos>`` (special tokens dropped)."""
        rows = []
        for row in ids.tolist():
            seq = []
            for i in row:
                if i == EOS:
                    break
                if i >= len(SPECIAL_TOKENS):
                    seq.append(self.tokens[i])
            rows.append(seq)
        return rows

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Token ids (N, L) -> N SMILES strings (for SELFIES decoded by ``selfies``, so always molecules)."""
        return [detokenize(seq, self.representation) for seq in self.tokens_of(ids)]

    def to_dict(self) -> dict:
        """Plain lists and strings, so a checkpoint holding it loads with ``torch.load(weights_only=True)``."""
        return {"representation": self.representation, "tokens": list(self.tokens), "max_len": self.max_len}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(data["representation"], tuple(data["tokens"]), int(data["max_len"]))

    def __repr__(self) -> str:
        return (f"Vocabulary({self.representation}: {len(self)} tokens including {len(SPECIAL_TOKENS)} special, "
                f"max_len={self.max_len})")
