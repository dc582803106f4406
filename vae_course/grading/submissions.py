"""Submissions: find them, read them (once, before anything runs), tell which notebook each one is,
and take each exercise's code out of it.

Nothing here executes student code: notebooks are parsed as JSON and Python
source is only parsed with :mod:`ast`.

**Student ids.** ``SUBMISSION`` arguments are notebooks or folders.

* a notebook given directly, or lying directly in a given folder: what its name says
  (:func:`~vae_course.grading.lms.parse_name`): the Canvas login or Moodle name in a
  platform's download name, else the file stem (``submissions/alice.ipynb`` -> ``alice``) without a
  notebook stem in it (``alice_02_elbo.ipynb`` -> ``alice``: :mod:`~vae_course.grading.naming`);
* notebooks inside a sub-folder of a given folder (one folder per student, as
  most learning platforms export them): the sub-folder's name, or its Moodle reading
  (``submissions/alice/02_elbo.ipynb`` -> ``alice``).

With a roster (:mod:`~vae_course.grading.roster`) the id becomes the roster's. Hidden
files, ``.ipynb_checkpoints`` and nbgrader's ``timestamp.txt`` are skipped silently; every
other file that is not a notebook is skipped and *reported* (:class:`Skipped`), and a
student who handed in only such files still gets rows (``invalid``).

**Which notebook a submission is** (the first rule that answers wins):

1. ``--notebook STEM`` on the command line;
2. ``metadata.vae_course.notebook`` inside the notebook;
3. the ``exercise-<id>`` cell tags (the notebook most tags belong to) - they
   survive renaming the file, which students and platforms often do;
4. a registered notebook stem (``02_elbo``) in the file or folder name - also for a file
   that is not a readable notebook;
5. the exercise function names defined in its code cells;
6. the notebook most other submissions of the same batch were identified as
   (in :mod:`vae_course.grading.batch`).

**Several files for one student and notebook** (a resubmission, a copy): the latest is
graded and the others are reported as skipped (:func:`choose_attempts`); with
``--all-attempts`` every one is graded. Latest means: the highest resubmission number in the
name (``-1`` from Canvas, `` (1)`` from a copy), then the larger Canvas submission id, then
the newer submission time (nbgrader's ``timestamp.txt`` next to the notebook, else the file's
modification time), then the file name.

**Which code is graded** for an exercise: the *last* top-level definition of its
function in the notebook - what the notebook ends up defining when it runs top to
bottom, whether that is the tagged exercise cell or a cell the student added below it
(the feedback then says which cell was graded). From that cell the imports, function
and class definitions and assignments to plain names are kept; calls, prints and
attribute assignments (``checks.x = ...``) are dropped. Added to it: every import of
the notebook and the definitions from other cells of the helper names the exercise
code uses.
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
from .lms import NameInfo, parse_name
from .nbgrader import TIMESTAMP, submission_time
from .protocol import Code, ExerciseJob, Status, first_line

MAX_BYTES = 200 * 2**20  # larger files are not notebooks a course produces


# --------------------------------------------------------------------------- finding and reading


def _visible(path: Path) -> bool:
    return not any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


@dataclass
class Skipped:
    """A file that was not graded, and why (the ``<stem>_skipped.csv`` report)."""

    path: Path
    reason: str
    student: str = ""        # the student it belongs to, when that is known
    info: NameInfo | None = None
    kind: str = "not-a-notebook"   # or "older-attempt", "not-in-roster"


def _not_a_notebook(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"):
        return f"an archive ({suffix}), not a notebook: unpack it into the submissions folder and grade again."
    kind = f"a {suffix} file" if suffix else "a file without extension"
    return f"{kind}, not a notebook (.ipynb): ask the student for the .ipynb file."


def find_files(paths) -> tuple[list[tuple[Path, NameInfo]], list[Skipped]]:
    """Every notebook under ``paths`` with what its name says, and every other file (reported, not graded).

    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    notebooks, skipped = [], []

    def add(path: Path, folder: str | None) -> None:
        if path.name == TIMESTAMP and any(path.parent.glob("*.ipynb")):
            return  # nbgrader's submission time, read by Submission.order
        info = parse_name(path, folder)
        if path.suffix == ".ipynb":
            notebooks.append((path, info))
        else:
            skipped.append(Skipped(path, _not_a_notebook(path), info.student if folder or info.lms else "", info))

    for given in map(Path, paths):
        if given.is_dir():
            for child in sorted(given.iterdir()):
                if not _visible(child.relative_to(given)):
                    continue
                if child.is_file():
                    add(child, None)
                elif child.is_dir():
                    for inner in sorted(child.rglob("*")):
                        if inner.is_file() and _visible(inner.relative_to(child)):
                            add(inner, child.name)
        elif given.is_file():
            add(given, None)
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")
    unique, seen = [], set()
    for path, info in notebooks:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, info))
    return unique, skipped


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
    info: NameInfo | None = None
    name: str = ""             # display name (roster, else the platform's)
    lms_id: str = ""
    email: str = ""
    attempt: int = 0           # with --all-attempts: 1, 2, ... oldest first; else 0
    attempts: int = 1

    @property
    def readable(self) -> bool:
        return self.nb is not None

    def order(self) -> tuple:
        """Sort key of a student's attempts at one notebook: larger is later (see the module docstring)."""
        info = self.info or NameInfo(self.student, self.path.name)
        submitted = submission_time(self.path)  # nbgrader's timestamp.txt, else the file's modification time
        try:
            mtime = int(submitted.timestamp() * 1e9) if submitted else self.path.stat().st_mtime_ns
        except OSError:
            mtime = 0
        return info.attempt, info.submission_id, mtime, str(self.path)


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
        return None, f"not a valid notebook: {first_line(err) or type(err).__name__}"
    return nb, ""


def read_submission(student: str, path: Path, info: NameInfo | None = None) -> Submission:
    """Read and parse one submission (never raises for a bad file)."""
    sub = Submission(student=student, path=Path(path), info=info, name=info.name if info else "",
                     lms_id=info.lms_id if info else "")
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


def choose_attempts(subs: list[Submission], all_attempts: bool = False) -> tuple[list[Submission], list[Skipped]]:
    """One submission per student and notebook - the latest - unless ``all_attempts``; the rest as skipped."""
    groups: dict[tuple, list[Submission]] = {}
    for sub in subs:
        groups.setdefault((sub.student, sub.notebook), []).append(sub)
    kept, skipped = [], []
    for group in groups.values():
        group.sort(key=Submission.order)
        if len(group) == 1:
            kept.append(group[0])
        elif all_attempts:
            for number, sub in enumerate(group, start=1):
                sub.attempt, sub.attempts = number, len(group)
                kept.append(sub)
        else:
            latest = group[-1]
            latest.attempts = len(group)
            kept.append(latest)
            skipped += [Skipped(sub.path, f"an older attempt: {latest.path.name} was graded "
                                "(--all-attempts grades every one).", sub.student, sub.info, "older-attempt")
                        for sub in group[:-1]]
    return kept, skipped


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
    return [n.name for n in cell.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


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


def _by_file_name(sub: Submission, stems: list[str]) -> str | None:
    names = " ".join(sub.path.parts[-3:])
    named = [stem for stem in stems if stem in names]
    return max(named, key=len) if named else None


def identify(sub: Submission, registry: dict, override: str | None = None) -> None:
    """Set ``sub.notebook`` and ``sub.identified_by`` (rules 1-5 of the module docstring)."""
    stems = sorted({entry.notebook for entry in registry.values()})
    if override:
        sub.notebook, sub.identified_by = override, "--notebook"
        return
    if not sub.readable:  # only its name can tell
        sub.notebook = _by_file_name(sub, stems)
        sub.identified_by = "file name" if sub.notebook else ""
        return
    meta = sub.nb.metadata.get("vae_course", {})
    if isinstance(meta, dict) and meta.get("notebook") in stems:
        sub.notebook, sub.identified_by = meta["notebook"], "notebook metadata"
        return
    tagged = Counter(registry[i].notebook for i in _tag_ids(sub.nb) if i in registry)
    if tagged:
        sub.notebook, sub.identified_by = _most_common(tagged, stems), "exercise tags"
        return
    named = _by_file_name(sub, stems)
    if named:
        sub.notebook, sub.identified_by = named, "file name"
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
    status: Status | None = None   # None = found; else MISSING or ERROR
    message: str = ""
    hint: str = ""
    code: str = ""
    cell: int | None = None        # the cell the function was taken from
    note: str = ""                 # said in the feedback, e.g. which cell was graded
    blocks: list = field(default_factory=list)

    def job(self) -> ExerciseJob:
        return ExerciseJob(id=self.exercise, function=self.function, cell=self.cell, blocks=self.blocks)


def quote(cell: CodeCell) -> str:
    """``cell 21 («for epoch in range(100):»)`` - a cell by its number and first line."""
    line = first_line(cell.source, 60)
    return f"cell {cell.number} («{line}»)" if line else f"cell {cell.number}"


def _exercise_cell(cells: list[CodeCell], ex_id: str, function: str):
    """(cell, note, None) for the cell to grade, or (None, "", (status, code, message, hint))."""
    tag = f"exercise-{ex_id}"
    tagged = [c for c in cells if tag in c.tags]
    for cell in reversed(cells):  # the last definition: what the notebook ends up defining
        if function in defined_functions(cell):
            note = ""
            if tagged and cell not in tagged:
                note = (f"graded your last definition of `{function}`, in {quote(cell)}, not the one in the exercise "
                        f"cell ({quote(tagged[-1])}): when the notebook runs, the later one wins.")
            return cell, note, None
    broken = [c for c in tagged if c.tree is None]
    if broken:
        return None, "", (Status.ERROR, Code.SYNTAX_ERROR, f"the exercise cell ({quote(broken[-1])}) is not valid "
                          f"Python ({broken[-1].error}).", "Run the cell: Python shows where the syntax error is.")
    if tagged:
        others = defined_functions(tagged[-1])
        found = f" defines {', '.join(f'`{n}`' for n in others)} instead" if others else \
            f" does not define `{function}` any more"
        return None, "", (Status.MISSING, Code.RENAMED, f"the exercise cell (cell {tagged[-1].number}, tagged {tag})"
                          f"{found}.", f"Keep the function's name: `def {function}(...)`.")
    return None, "", (Status.MISSING, Code.DELETED, f"no code cell defines `{function}`: the exercise cell (tagged "
                      f"{tag}) was deleted or the function renamed.",
                      f"Copy the exercise cell from a fresh copy of the notebook and write `def {function}(...)`.")


def extract(nb, ex_id: str, function: str) -> Extracted:
    """The statements the checker runs to define ``function`` (see the module docstring)."""
    cells = code_cells(nb)
    result = Extracted(exercise=ex_id, function=function)
    cell, result.note, problem = _exercise_cell(cells, ex_id, function)
    if problem:
        result.status, result.code, result.message, result.hint = problem
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
