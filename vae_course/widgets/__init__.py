"""Interactive ipywidgets explorers of a VAE's latent space (notebook 05).

A static grid of decoded images shows *what* a decoder produces; moving a slider and
watching the digit morph shows *how* the latent space is organised. Two explorers, one
module each, on a module of shared rendering:

* :func:`latent_explorer` (:mod:`.latent_explorer`): one slider per latent coordinate, the
  decoded image updates whenever a slider moves; for a 2-D code a map of the latent plane
  (:mod:`.latent_map`) shows a red ring where the sliders are.
* :func:`interpolation_explorer` (:mod:`.interpolation`): one slider along a precomputed path
  of latent points, with the path's two end images next to the current one.
* :mod:`.rendering`: decoder output -> PNG (Pillow, fast enough for a slider drag), and the
  argument checks the explorers share.

Everything works without a browser: building an explorer renders the first image at once and
keeps the PNG bytes on ``explorer.image.value`` (``bytes(...)`` gives plain bytes), so the
notebooks run headless (nbval, nbclient) and tests set ``slider.value`` from Python.
"""

from .interpolation import interpolation_explorer
from .latent_explorer import latent_explorer
from .latent_map import map_pixel
from .rendering import DISPLAY_SCALE, render_png

__all__ = ["latent_explorer", "interpolation_explorer", "render_png", "map_pixel", "DISPLAY_SCALE"]
