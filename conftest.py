"""Repository-wide pytest configuration (nbval notebook tests and the unit tests).

nbval compares every stored output of solutions/*.ipynb with a fresh run:

* numerics: the kernels run under ``VAE_COURSE_NUMERICS`` (default ``native``: this machine's own
  kernels, one thread per test worker), not the pinned configuration that stored the outputs - a
  user's machine is not the author's (see vae_course.numerics);
* numbers that depend on the CPU's rounding are compared within the tolerance their cell states in
  its metadata; everything else exactly (see vae_course.nbcompare);
* stderr is never compared: it carries library warnings whose text depends on the machine;
* cells whose output genuinely varies (timings) are tagged ``nbval-ignore-output`` in the notebook
  itself, each with a comment saying why.
"""

import os

import matplotlib

from vae_course import nbcompare, numerics

NUMERICS = os.environ.get("VAE_COURSE_NUMERICS", "native")
# Applied before any kernel starts (nbval's kernels inherit this environment); an unknown name stops here.
numerics.apply(NUMERICS)
numerics.use_configured_backends()  # this process too (the kernels do it in their startup file)
# Notebook runs must not train models the course ships: a miss means a recipe changed without
# re-shipping its model (scripts/run_notebooks.py --ship), and the notebook would get slow.
os.environ.setdefault("VAE_COURSE_REQUIRE_SHIPPED", "1")
# Every prose guard fails a test run, even where a (solution's) answer fed it (see vae_course.claims).
os.environ.setdefault("VAE_COURSE_STRICT_CLAIMS", "1")

matplotlib.use("Agg")  # unit tests draw figures without a display


def pytest_report_header(config):
    return f"notebook kernels: VAE_COURSE_NUMERICS={NUMERICS} {numerics.CONFIGURATIONS[NUMERICS]}"


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)


def _patch_nbval():
    """Two corrections to nbval, each explained in its docstring below."""
    try:
        from nbval.kernel import RunningKernel
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to patch
        return

    def execute_cell_input(self, cell_input, allow_stdin=None):
        """Run cells with ``store_history=True``, as Jupyter and nbclient do.

        nbval executes with ``store_history=False``; IPython then decides whether a trailing ``;``
        silences a cell by reading a *stale* history entry, so ``Text(...)`` reprs and duplicate
        ``<Figure ...>`` outputs leak in and the comparison with the stored outputs fails.
        """
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    exact_compare = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        """nbval's exact comparison, after numbers within the cell's stated tolerance are reconciled."""
        rules = nbcompare.parse_rules(self.cell.metadata)
        if not rules:
            return exact_compare(self, test, ref, skip_compare)
        problems = nbcompare.reconcile(ref, test, rules)
        if problems:
            self.comparison_traceback = ["Outputs differ beyond the cell's tolerance:", *problems]
            return False
        return exact_compare(self, test, ref, skip_compare)

    RunningKernel.execute_cell_input = execute_cell_input
    IPyNbCell.compare_outputs = compare_outputs


_patch_nbval()


# --------------------------------------------------------------------------- order of work for the two workers

# pytest-xdist (`-n auto --dist loadscope`, see the Makefile) hands each worker one scope at a time: a test
# module, or a notebook whose cells must run in order in one kernel. Scopes handed out last decide when the
# run ends, so the long ones go first (longest-processing-time-first) and the many quick unit-test modules
# fill the gaps at the end. Weights are rough seconds: a test marked `slow` (it grades notebooks in
# subprocesses) ~60 s, a browser test ~10 s, a test that asks the package registry ~5 s, a notebook ~25 s plus
# ~1 s per cell, any other test ~0.3 s.
_WEIGHT = {"slow": 60.0, "e2e": 10.0, "registry": 5.0}


def _scope(item) -> str:
    return item.nodeid.split("::", 1)[0]


def _weight(item) -> float:
    marks = {mark.name for mark in item.iter_markers()}
    if item.nodeid.split("::", 1)[0].endswith(".ipynb"):
        return 1.0
    return max([_WEIGHT[m] for m in marks if m in _WEIGHT], default=0.3)


def pytest_collection_modifyitems(session, config, items):
    weights: dict[str, float] = {}
    for item in items:
        scope = _scope(item)
        weights[scope] = weights.get(scope, 25.0 if scope.endswith(".ipynb") else 0.0) + _weight(item)
    items.sort(key=lambda item: -weights[_scope(item)])  # stable: each scope keeps its own order
