"""vae-course: helpers for the Variational Autoencoder course notebooks.

Modules (one job each), in layers - each imports only those above it in this list
(docs/authoring.md, "Map of the package"; tests/test_layers.py):

1. foundations: ``data`` (MNIST offline), ``numerics``, ``references`` (the reference
   marker), ``results`` (statuses and result records), ``conventions`` (exercise tags);
2. the model: ``losses``, ``models``, ``train`` (fit loop, seeds, devices), ``checkpoints``
   (checkpoints, cache), ``posteriors``, ``diagnostics``;
3. what the notebooks use: ``latent``, ``estimators``, ``applications``, ``evaluation``,
   ``zoo``, ``molecules``, ``plotting``, ``widgets`` (ipywidgets explorers), ``claims``, ...;
4. ``checks`` (exercise checks);
5. ``notebooks`` (student-notebook generator), ``grading``;
6. ``cli``.
"""

__version__ = "0.1.0"


def doctor(verbose: bool = True) -> dict:
    """Report the environment: versions, compute device and the active data source.

    Returns the report as a dict and prints it one item per line.
    """
    import platform

    import matplotlib
    import torch
    import torchvision

    from .checkpoints import cache_dir
    from .data import describe_source
    from .train import get_device

    report = {
        "python": platform.python_version(),
        "vae_course": __version__,
        "torch": torch.__version__.split("+")[0],
        "torchvision": torchvision.__version__.split("+")[0],
        "matplotlib": matplotlib.__version__,
        "device": str(get_device()),
        "data": describe_source(),
        "cache": str(cache_dir()),
    }
    if verbose:
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    return report
