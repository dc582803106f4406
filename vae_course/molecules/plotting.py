"""Pictures of molecules in matplotlib figures (RDKit draws them; the figures follow vae_course.plotting)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from .chem import draw_molecules, is_valid


def molecule_grid(smiles: list[str], legends: list[str] | None = None, *, per_row: int = 5,
                  title: str | None = None, cell_inches: tuple[float, float] = (2.2, 1.9)):
    """A figure of the molecules drawn by RDKit, ``per_row`` per row, each with its legend below it.

    A string that is not a molecule gets an empty cell with its legend in grey in the middle.
    Returns the :class:`~matplotlib.figure.Figure`.
    """
    if not smiles:
        raise ValueError("molecule_grid needs at least one molecule.")
    per_row = min(per_row, len(smiles))
    rows = math.ceil(len(smiles) / per_row)
    width, height = 300, 260
    image = draw_molecules(smiles, legends, per_row=per_row, size=(width, height))
    fig, ax = plt.subplots(figsize=(cell_inches[0] * per_row, cell_inches[1] * rows + (0.4 if title else 0)))
    ax.imshow(image)
    for i, s in enumerate(smiles):
        if not is_valid(s):                  # RDKit draws nothing, not even the legend, for an empty molecule
            ax.text((i % per_row + 0.5) * width, (i // per_row + 0.5) * height,
                    legends[i] if legends is not None else "(not a molecule)", ha="center", va="center",
                    color="#777777", fontsize=9)
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
