"""Repository-wide pytest configuration (nbval notebook tests and the unit tests).

nbval compares every stored output of solutions/*.ipynb with a fresh run. We do
not compare stderr: it carries library warnings and progress bars whose text
depends on the machine and on timing, not on the course's results. Cells whose
*stdout/display* genuinely varies (training progress, timings) are tagged
``nbval-ignore-output`` in the notebook itself, each with a comment saying why.
"""


import matplotlib

matplotlib.use("Agg")  # unit tests draw figures without a display


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
