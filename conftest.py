"""Repository-wide pytest configuration (nbval notebook tests and the unit tests).

nbval compares every stored output of solutions/*.ipynb with a fresh run. We do
not compare stderr: it carries library warnings and progress bars whose text
depends on the machine and on timing, not on the course's results. Cells whose
*stdout/display* genuinely varies (training progress, timings) are tagged
``nbval-ignore-output`` in the notebook itself, each with a comment saying why.
"""


import os

import matplotlib

# No training progress bars in the notebooks nbval runs (their kernels inherit this environment):
# a bar appears only when a model is trained rather than loaded from the cache, so it would make a
# notebook's outputs depend on the cache's state. The notebooks' numbers do not.
os.environ["VAE_COURSE_PROGRESS"] = "0"
# One torch thread in those kernels: floating-point sums (and so the printed numbers) can differ with
# the number of threads, and scripts/run_notebooks.py stores the reference outputs with one thread.
# On a busy 2-core machine, 2 threads also spin-wait for each other and train 10x slower.
os.environ["OMP_NUM_THREADS"] = "1"

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
