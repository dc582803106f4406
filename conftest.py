"""Repository-wide pytest configuration (nbval notebook tests and the unit tests).

nbval compares every stored output of solutions/*.ipynb with a fresh run. We do
not compare stderr: it carries library warnings and progress bars whose text
depends on the machine and on timing, not on the course's results. Cells whose
*stdout/display* genuinely varies (training progress, timings) are tagged
``nbval-ignore-output`` in the notebook itself, each with a comment saying why.
"""


import os

import matplotlib

from vae_course.notebooks import REPRODUCIBLE_ENV

# The kernels nbval starts inherit this environment: one thread, the same CPU code paths on every
# machine, no progress bars - exactly how scripts/run_notebooks.py stored the outputs they are
# compared with (see REPRODUCIBLE_ENV for why each setting is there). On a busy 2-core machine one
# thread is also faster: two spin-wait for each other.
os.environ.update(REPRODUCIBLE_ENV)

matplotlib.use("Agg")  # unit tests draw figures without a display


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)


def _patch_nbval_history():
    """Run notebook cells with ``store_history=True``, as Jupyter and nbclient do.

    nbval executes with ``store_history=False``; IPython then decides whether a trailing ``;``
    silences a cell by reading a *stale* history entry, so ``Text(...)`` reprs and duplicate
    ``<Figure ...>`` outputs leak in and the comparison with the stored outputs fails.
    """
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval not installed: nothing to patch
        return

    def execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    RunningKernel.execute_cell_input = execute_cell_input


_patch_nbval_history()
