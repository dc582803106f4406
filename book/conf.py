"""Sphinx configuration of the course website (built by ``make book``; see vae_course/book.py)."""

import importlib.util
from pathlib import Path

project = "vae-course: learn Variational Autoencoders by building one"
author = "the vae-course authors"
copyright = "2026, the vae-course authors (MIT licence)"

extensions = ["myst_nb"]
nb_execution_mode = "off"             # publish the stored outputs; nothing runs while building
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$ and $$...$$ as in the notebooks
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]  # ipywidgets' live state: the widgets need a kernel

# MathJax ships with the site instead of loading from its CDN, so the math is typeset offline (a
# classroom without internet, CI). The files are MathJax 3's own distribution as packaged by
# sphinx-mathjax-offline; Sphinx copies them into _static/mathjax/. (Its extension is not listed in
# `extensions`: it does not declare itself safe for the parallel build, which -W turns into an error.)
_MATHJAX_PACKAGE = importlib.util.find_spec("sphinx-mathjax-offline")
if _MATHJAX_PACKAGE is None:
    raise ImportError("the book needs MathJax from sphinx-mathjax-offline: run `make setup` "
                      "(or pip install -r requirements.lock)")
html_static_path = [str(Path(_MATHJAX_PACKAGE.origin).parent / "static")]  # its static/mathjax/
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_title = "vae-course"
html_theme_options = {
    "repository_url": "https://github.com/vae-course/vae-course",
    "use_repository_button": False,
    "show_toc_level": 2,
}
