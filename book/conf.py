"""Sphinx configuration of the course website (built by ``make book``; see vae_course/book.py)."""

project = "vae-course: learn Variational Autoencoders by building one"
author = "the vae-course authors"
copyright = "2026, the vae-course authors (MIT licence)"

extensions = ["myst_nb"]
nb_execution_mode = "off"             # publish the stored outputs; nothing runs while building
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]  # $...$ and $$...$$ as in the notebooks
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]  # ipywidgets' live state: the widgets need a kernel

html_theme = "sphinx_book_theme"
html_title = "vae-course"
html_theme_options = {
    "repository_url": "https://github.com/vae-course/vae-course",
    "use_repository_button": False,
    "show_toc_level": 2,
}
