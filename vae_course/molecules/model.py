"""A sequence VAE for molecules: convolutions read the tokens into q(z|x), a GRU writes them back from z.

Shapes: ``tokens: (B, L)`` int64 ids laid out as *tokens, <eos>, <pad>...* (see
:class:`~vae_course.molecules.tokens.Vocabulary`); ``z, mu, logvar: (B, latent_dim)``; the decoder
returns **logits** ``(B, L, V)``: ``logits[b, t]`` scores the vocabulary for position ``t`` of sequence
``b``. The methods mirror the image VAEs of :mod:`vae_course.models`:

* ``encode(tokens)``             -> ``(mu, logvar)``
* ``reparameterize(mu, logvar)`` -> ``z`` (a sample while training, ``mu`` in eval mode; the same code)
* ``decode(z, tokens)``          -> logits ``(B, L, V)`` with **teacher forcing**: the decoder's input at
  position ``t`` is the true token ``t - 1`` (``<bos>`` at ``t = 0``), so one pass scores a whole sequence
* ``forward(tokens)``            -> ``(logits, mu, logvar)``
* ``generate(z)``                -> token ids ``(B, L)``: the decoder feeds its own samples back in
* ``sample(n)``                  -> ``generate`` from ``z ~ N(0, I)``
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import _VAEBase
from .tokens import BOS, EOS, PAD


class SequenceVAE(nn.Module):
    """1-D convolutional encoder (Gómez-Bombarelli et al. 2018), GRU decoder that sees z at every step (MOSES).

    Encoder: embedding (B, L, E) -> two stride-2 convolutions along the sequence (kernel 9) -> a linear
    layer -> mu, logvar. Decoder: h_0 = tanh(W z); input at step t = [embedding of token t-1, z]; a GRU,
    then a linear layer to the vocabulary. Feeding z at every step keeps the decoder from forgetting it.
    (A GRU encoder reads sequences well too, but costs as much as the decoder on a CPU; the convolutions
    cost a tenth of it.)
    """

    reparameterize = _VAEBase.reparameterize

    def __init__(self, vocab_size: int, max_len: int, embed_dim: int = 32, channels: int = 64,
                 hidden_dim: int = 256, latent_dim: int = 32):
        super().__init__()
        self._config = dict(vocab_size=vocab_size, max_len=max_len, embed_dim=embed_dim, channels=channels,
                            hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.latent_dim = latent_dim
        self.max_len = max_len
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        length = max_len
        for _ in range(2):
            length = (length - 9) // 2 + 1              # a stride-2 convolution with kernel 9, no padding
        if length < 1:
            raise ValueError(f"SequenceVAE needs max_len >= 25 for its two convolutions, got {max_len}.")
        self.encoder = nn.Sequential(
            nn.Conv1d(embed_dim, channels, 9, stride=2), nn.SiLU(),      # (B, channels, (L - 9) // 2 + 1)
            nn.Conv1d(channels, channels, 9, stride=2), nn.SiLU(),       # (B, channels, length)
            nn.Flatten(), nn.Linear(channels * length, hidden_dim), nn.SiLU(),
        )
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc_hidden = nn.Linear(latent_dim, hidden_dim)
        self.decoder = nn.GRU(embed_dim + latent_dim, hidden_dim, batch_first=True)
        self.fc_out = nn.Linear(hidden_dim, vocab_size)

    @property
    def config(self) -> dict:
        """Constructor arguments, so a checkpoint can rebuild the model."""
        return dict(self._config)

    def encode(self, tokens: torch.Tensor):
        """tokens (B, max_len) -> mu, logvar (B, latent_dim) of q(z|x) = N(mu, diag(exp(logvar)))."""
        h = self.encoder(self.embedding(tokens).transpose(1, 2))       # (B, embed, L) -> (B, hidden)
        return self.fc_mu(h), self.fc_logvar(h)

    def _decoder_inputs(self, z: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """z (B, D), previous tokens (B, T) -> decoder inputs (B, T, embed + D)."""
        return torch.cat([self.embedding(previous), z[:, None, :].expand(-1, previous.shape[1], -1)], dim=-1)

    def decode(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: z (B, D), the true tokens (B, L) -> logits (B, L, V) for every position."""
        previous = torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], dim=1)  # shifted right
        h0 = torch.tanh(self.fc_hidden(z))[None]                                            # (1, B, hidden)
        out, _ = self.decoder(self._decoder_inputs(z, previous), h0)                        # (B, L, hidden)
        return self.fc_out(out)

    def forward(self, tokens: torch.Tensor):
        """tokens (B, L) -> (logits (B, L, V), mu (B, D), logvar (B, D))."""
        mu, logvar = self.encode(tokens)
        return self.decode(self.reparameterize(mu, logvar), tokens), mu, logvar

    @torch.no_grad()
    def generate(self, z: torch.Tensor, *, greedy: bool = False, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode codes z (B, D) token by token -> ids (B, max_len): tokens, <eos>, then <pad>.

        Each step feeds the previous output back in. ``greedy``: take the most likely token; otherwise
        draw it from softmax(logits / temperature) (MOSES samples with temperature 1). ``<pad>`` and
        ``<bos>`` are never produced (they are not outputs of the model's distribution).
        """
        n = z.shape[0]
        h = torch.tanh(self.fc_hidden(z))[None]
        token = torch.full((n, 1), BOS, dtype=torch.long, device=z.device)
        out = torch.full((n, self.max_len), PAD, dtype=torch.long, device=z.device)
        finished = torch.zeros(n, dtype=torch.bool, device=z.device)
        for t in range(self.max_len):
            step, h = self.decoder(self._decoder_inputs(z, token), h)
            logits = self.fc_out(step[:, 0])                                  # (B, V)
            logits[:, [PAD, BOS]] = float("-inf")
            if greedy:
                token = logits.argmax(dim=-1, keepdim=True)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                if generator is not None and generator.device != probs.device:  # a CPU generator, a GPU model
                    probs = probs.cpu()
                token = torch.multinomial(probs, 1, generator=generator).to(z.device)
            if t == self.max_len - 1:
                token = torch.full_like(token, EOS)                           # the last position ends the string
            out[:, t] = torch.where(finished, torch.full_like(token[:, 0], PAD), token[:, 0])
            finished |= token[:, 0] == EOS
            if finished.all():
                break
        return out

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
        """Token ids (n, max_len) decoded from ``z ~ N(0, I)`` (``generator`` seeds both z and the tokens)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.generate(z, generator=generator, **kwargs)
