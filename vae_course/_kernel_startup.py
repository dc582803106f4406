"""Run by a notebook kernel before its first cell, as its ``PYTHONSTARTUP`` file (see :mod:`vae_course.numerics`).

:func:`vae_course.numerics.kernel_environment` names this file for the configurations that choose
torch's backends (``VAE_COURSE_ONEDNN``): the notebook runner's kernels apply them explicitly
here, so importing the course never changes a backend. It runs in the kernel's namespace and
leaves no name behind.
"""

from vae_course.numerics import use_configured_backends as _use_configured_backends

_use_configured_backends()
del _use_configured_backends
