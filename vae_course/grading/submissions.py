"""Submissions: find them, read them (once, before anything runs), tell which notebook each one is,
and take each exercise's code out of it.

Nothing here executes student code: notebooks are parsed as JSON and Python
source is only parsed with :mod:`ast`.

**Student ids.** ``SUBMISSION`` arguments are notebooks or folders.

* a notebook given directly, or lying directly in a given folder: the file stem
  (``submissions/alice.ipynb`` -> ``alice``);
* notebooks inside a sub-folder of a given folder (one folder per student, as
  most learning platforms export them): the sub-folder's name
  (``submissions/alice/02_elbo.ipynb`` -> ``alice``).

Hidden files and ``.ipynb_checkpoints`` are skipped.

**Which notebook a submission is** (the first rule that answers wins):

1. ``--notebook STEM`` on the command line;
2. ``metadata.vae_course.notebook`` inside the notebook;
3. the ``exercise-<id>`` cell tags (the notebook most tags belong to) - they
   survive renaming the file, which students and platforms often do;
4. a registered notebook stem (``02_elbo``) in the file or folder name;
5. the exercise function names defined in its code cells;
6. the notebook most other submissions of the same batch were identified as
   (in :mod:`vae_course.grading.batch`).

**Which code is graded** for an exercise: the code cell tagged
``exercise-<id>`` if it defines the function, else the last code cell that
defines it at top level (tags lost by copy-pasting). From that cell the
imports, function and class definitions and assignments to plain names are
kept; calls, prints and attribute assignments (``checks.x = ...``) are
dropped. Added to it: every import of the notebook and the definitions from
other cells of the helper names the exercise code uses.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import json
import symtable
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..notebooks import EXERCISE_TAG

MAX_BYTES = 200 * 2**20  # larger files are not notebooks a course produces

MISSING, ERROR, INVALID = "missing", "error", "invalid"


# --------------------------------------------------------------------------- finding and reading


def _visible(path: Path) -> bool:
    return not any(part.startswith(".") for part in path.parts)


def find_submissions(paths) -> list[tuple[str, Path]]:
    """``(student id, path)`` for every submission under ``paths`` (see the module docstring)."""
    found = []
    for given in map(Path, paths):
        if given.is_dir():
            for child in sorted(given.iterdir()):
                if not _visible(child.relative_to(given)):
                    continue
                if child.is_file() and child.suffix == ".ipynb":
                    found.append((child.stem, child))
                elif child.is_dir():
                    found += [(child.name, nb) for nb in sorted(child.rglob("*.ipynb"))
                              if nb.is_file() and _visible(nb.relative_to(child))]
        elif given.is_file():
            found.append((given.stem, given))
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    unique, seen = [], set()
    for student, path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((student, path))
    return unique


@dataclass
class Submission:
    """One submitted file, read into memory before any submission runs."""

    student: str
    path: Path
    content: bytes = b""
    nb: nbformat.NotebookNode | None = field(default=None, repr=False)
    problem: str = ""          # why it is not a readable notebook ("" if it is)
    notebook: str | None = None
    identified_by: str = ""

    @property
    def readable(self) -> bool:
        return self.nb is not None


def parse_notebook(content: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook in ``content``, or None and the reason it is not a readable notebook."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not a readable notebook: invalid JSON ({err.msg} at line {err.lineno}, column {err.colno})."
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return None, "not a Jupyter notebook: the JSON has no cells."
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        for cell in nb.cells:  # what the grader relies on, whatever the schema said
            assert isinstance(cell.get("source", ""), str) and isinstance(cell.get("metadata", {}), dict)
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds of errors
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"not a valid notebook: {message[:200]}"
    return nb, ""


def read_submission(student: str, path: Path) -> Submission:
    """Read and parse one submission (never raises for a bad file)."""
    sub = Submission(student=student, path=Path(path))
    try:
        size = sub.path.stat().st_size
        if size > MAX_BYTES:
            sub.problem = f"not a notebook a course produces: {size / 2**20:.0f} MB."
            return sub
        sub.content = sub.path.read_bytes()
    except OSError as err:
        sub.problem = f"could not read the file ({err.strerror})."
        return sub
    sub.nb, sub.problem = parse_notebook(sub.content)
    return sub


# --------------------------------------------------------------------------- Python in code cells


@dataclass
class CodeCell:
    number: int                 # 1-based position among all cells, as the student counts them
    source: str                 # Python source (IPython syntax translated)
    tree: ast.Module | None     # None if it does not parse
    error: str                  # the syntax error, if any
    tags: list


def _python(source: str) -> str:
    """Translate IPython syntax (magics, ``!cmd``) into Python; a ``%%cell magic`` line becomes a comment."""
    from IPython.core.inputtransformer2 import TransformerManager

    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        source = "\n".join(["# " + lines[0]] + lines[1:])
    blank = len(lines) - len(list(itertools.dropwhile(lambda line: not line.strip(), lines)))
    try:  # the transformer drops leading blank lines: put them back so line numbers match the cell
        return "\n" * blank + TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it to ast to report
        return source


def code_cells(nb) -> list[CodeCell]:
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        source = _python(cell.get("source", ""))
        try:
            tree, error = ast.parse(source), ""
        except (SyntaxError, ValueError) as err:
            tree = None
            line = getattr(err, "lineno", None)
            error = f"line {line}: {getattr(err, 'msg', err)}" if line else str(err)
        cells.append(CodeCell(number, source, tree, error, list(tags) if isinstance(tags, list) else []))
    return cells


def _names_defined(node: ast.stmt) -> list[str]:
    """Names a kept top-level statement binds; [] for statements the grader drops."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    targets = node.targets if isinstance(node, ast.Assign) else (
        [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else [])
    names = []
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        if not all(isinstance(e, ast.Name) for e in elements):
            return []  # attribute or subscript assignment: dropped
        names += [e.id for e in elements]
    return names


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _global_names_used(nodes) -> set[str]:
    """Global names the statements read (at top level or inside their functions), via symtable."""
    source = ast.unparse(ast.Module(body=list(nodes), type_ignores=[]))
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set()

    def walk(scope) -> set[str]:
        names = {s.get_name() for s in scope.get_symbols() if s.is_referenced()
                 and (scope.get_type() == "module" or s.is_global())}
        for child in scope.get_children():
            names |= walk(child)
        return names

    return walk(table)


def defined_functions(cell: CodeCell) -> list[str]:
    if cell.tree is None:
        return []
    return [n.name for n in cell.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


# --------------------------------------------------------------------------- which notebook


def _tag_ids(nb) -> list[str]:
    ids = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        for tag in tags if isinstance(tags, list) else []:
            match = EXERCISE_TAG.match(str(tag))
            if match:
                ids.append(match.group(1))
    return ids


def _most_common(counts: Counter, order: list[str]) -> str | None:
    if not counts:
        return None
    return max(counts, key=lambda stem: (counts[stem], -order.index(stem)))


def identify(sub: Submission, registry: dict, override: str | None = None) -> None:
    """Set ``sub.notebook`` and ``sub.identified_by`` (rules 1-5 of the module docstring)."""
    stems = sorted({entry.notebook for entry in registry.values()})
    if override:
        sub.notebook, sub.identified_by = override, "--notebook"
        return
    if not sub.readable:
        return
    meta = sub.nb.metadata.get("vae_course", {})
    if isinstance(meta, dict) and meta.get("notebook") in stems:
        sub.notebook, sub.identified_by = meta["notebook"], "notebook metadata"
        return
    tagged = Counter(registry[i].notebook for i in _tag_ids(sub.nb) if i in registry)
    if tagged:
        sub.notebook, sub.identified_by = _most_common(tagged, stems), "exercise tags"
        return
    names = " ".join(sub.path.parts[-3:])
    named = [stem for stem in stems if stem in names]
    if named:
        sub.notebook, sub.identified_by = max(named, key=len), "file name"
        return
    defined = {name for cell in code_cells(sub.nb) for name in defined_functions(cell)}
    functions = Counter(e.notebook for e in registry.values() if e.function in defined)
    if functions:
        sub.notebook, sub.identified_by = _most_common(functions, stems), "function names"


# --------------------------------------------------------------------------- taking the code out


@dataclass
class Extracted:
    """What the checker needs for one exercise, or why it cannot be graded (``status``)."""

    exercise: str
    function: str
    status: str = ""            # "" = found; else MISSING or ERROR
    message: str = ""
    hint: str = ""
    cell: int | None = None     # the cell the function was taken from
    blocks: list = field(default_factory=list)

    def job(self) -> dict:
        return {"id": self.exercise, "function": self.function, "cell": self.cell, "blocks": self.blocks}


def _exercise_cell(cells: list[CodeCell], ex_id: str, function: str):
    """(cell, None) for the cell to grade, or (None, (status, message, hint))."""
    tag = f"exercise-{ex_id}"
    tagged = [c for c in cells if tag in c.tags]
    for cell in reversed(tagged):
        if function in defined_functions(cell):
            return cell, None
    for cell in reversed(cells):
        if function in defined_functions(cell):
            return cell, None
    broken = [c for c in tagged if c.tree is None]
    if broken:
        return None, (ERROR, f"the exercise cell (cell {broken[-1].number}) is not valid Python "
                             f"({broken[-1].error}).",
                      "Run the cell: Python shows where the syntax error is.")
    if tagged:
        others = defined_functions(tagged[-1])
        found = f" defines {', '.join(f'`{n}`' for n in others)} instead" if others else \
            f" does not define `{function}` any more"
        return None, (MISSING, f"the exercise cell (cell {tagged[-1].number}, tagged {tag}){found}.",
                      f"Keep the function's name: `def {function}(...)`.")
    return None, (MISSING, f"no code cell defines `{function}`: the exercise cell (tagged {tag}) "
                           "was deleted or the function renamed.",
                  f"Copy the exercise cell from a fresh copy of the notebook and write `def {function}(...)`.")


def extract(nb, ex_id: str, function: str) -> Extracted:
    """The statements the checker runs to define ``function`` (see the module docstring)."""
    cells = code_cells(nb)
    result = Extracted(exercise=ex_id, function=function)
    cell, problem = _exercise_cell(cells, ex_id, function)
    if problem:
        result.status, result.message, result.hint = problem
        return result
    result.cell = cell.number

    chosen = {(cell.number, id(n)) for n in cell.tree.body if _names_defined(n)}
    # Helpers: the last top-level definition elsewhere of each name the exercise code uses, transitively.
    definitions = {}
    for other in cells:
        if other is cell or other.tree is None:
            continue
        for node in other.tree.body:
            if not _is_import(node):
                for name in _names_defined(node):
                    definitions[name] = (other.number, node)
    own = {name for node in cell.tree.body for name in _names_defined(node)}
    todo = _global_names_used(n for n in cell.tree.body if _names_defined(n)) - own - set(dir(builtins))
    done = set()
    while todo:
        name = todo.pop()
        done.add(name)
        if name in definitions:
            number, node = definitions[name]
            chosen.add((number, id(node)))
            todo |= _global_names_used([node]) - done - own - set(dir(builtins))

    # Imports of every cell first, then the chosen definitions, each in notebook order.
    for wanted in (_is_import, lambda node: not _is_import(node)):
        for c in cells:
            if c.tree is None:
                continue
            run = [[n.lineno, n.col_offset] for n in c.tree.body
                   if wanted(n) and (_is_import(n) or (c.number, id(n)) in chosen)]
            if run:
                result.blocks.append({"cell": c.number, "source": c.source, "run": run})
    return result
