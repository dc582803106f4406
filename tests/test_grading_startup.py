"""What a grading process pays before it grades anything: every submission starts a supervisor (which reads
notebooks with nbformat) and a checker (which imports the checks), so their imports are part of the cost
of grading each student (benchmarks/grading_benchmark.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_after(statement: str) -> dict:
    """Run ``statement`` in a fresh interpreter; which of the slow optional modules it loaded."""
    probe = (f"{statement}\nimport sys, json\n"
             "print(json.dumps({name: sys.modules.get(name, 0) is not None and name in sys.modules\n"
             "                  for name in ['rfc3987_syntax', 'rdkit', 'matplotlib', 'torch']}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_supervisor_reads_and_validates_notebooks_without_compiling_the_iri_grammar():
    loaded = imported_after("from vae_course.grading import process\n"
                            "process.skip_the_iri_grammar()  # what `python -m vae_course.grading.process` does first\n"
                            "import vae_course.grading.supervisor, nbformat\n"
                            "nb = nbformat.read('solutions/00_welcome.ipynb', as_version=4)\n"
                            "nbformat.validate(nb)\n"
                            "bad = nbformat.from_dict({'cells': [{'cell_type': 'code'}], 'metadata': {},\n"
                            "                          'nbformat': 4, 'nbformat_minor': 5})\n"
                            "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    pass\n"
                            "else:\n    raise SystemExit('an invalid notebook passed validation')")
    assert loaded == {"rfc3987_syntax": False, "rdkit": False, "matplotlib": False, "torch": False}


def test_checker_imports_torch_and_the_checks_but_not_rdkit_or_matplotlib():
    loaded = imported_after("from vae_course.grading import process\n"
                            "process.skip_the_iri_grammar()\n"
                            "import vae_course.grading.checker, vae_course.checks")
    assert loaded == {"rfc3987_syntax": False, "rdkit": False, "matplotlib": False, "torch": True}


def test_importing_the_package_changes_nothing_outside_it():
    """No import-time side effects: a student's kernel that imports the course keeps its own jsonschema."""
    probe = ("import sys\n"
             "import vae_course.losses, vae_course.models, vae_course.checks, vae_course.grading, vae_course.cli\n"
             "print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_writing_the_gradebook_does_not_load_torch_or_the_checks():
    loaded = imported_after("import vae_course.grading.report, vae_course.grading.classreport, vae_course.grading.outputs")
    assert not loaded["torch"]


def test_molecules_package_still_exports_everything_on_first_use():
    loaded = imported_after("import vae_course.molecules as m\n"
                            "assert all(getattr(m, name) is not None for name in m.__all__)\n"
                            "assert set(m.__all__) <= set(dir(m))")
    assert loaded["rdkit"] and loaded["matplotlib"]


def test_a_supervisor_whose_parent_died_while_it_started_grades_nothing_and_leaves_no_folder(tmp_path):
    """A Dask worker killed while its supervisor starts: the supervisor finds another parent (or a cut-off job)."""
    from vae_course.grading.supervisor import OWN_WORKDIR, PARENT

    folder = tmp_path / "task"
    folder.mkdir()
    orphan = subprocess.run([sys.executable, "-m", "vae_course.grading.supervisor"], input=b'{"notebook": "',
                            cwd=folder, env={**os.environ, PARENT: "1", OWN_WORKDIR: "1"},
                            capture_output=True, timeout=120)
    assert orphan.returncode == 1 and orphan.stdout == b"" and not folder.exists()
    folder.mkdir()
    cut_off = subprocess.run([sys.executable, "-m", "vae_course.grading.supervisor"], input=b'{"notebook": "',
                             cwd=folder, env={**os.environ, OWN_WORKDIR: "1"},
                             capture_output=True, timeout=120)
    assert cut_off.returncode == 1 and cut_off.stdout == b"" and b"Traceback" not in cut_off.stderr
    assert not folder.exists()
