"""Taking each exercise's code out of a submitted notebook, by parsing (nothing here runs student code).

**Which code is graded** for an exercise: the *last* top-level definition of its
function in the notebook - what the notebook ends up defining when it runs top to
bottom, whether that is the tagged exercise cell or a cell the student added below it
(the feedback then says which cell was graded). From that cell the imports, function
and class definitions and assignments to plain names are kept; calls, prints and
attribute assignments (``checks.x = ...``) are dropped. Added to it: every import of
the notebook and the definitions from other cells of the helper names the exercise
code uses.

Cells are read as the grader reads them (IPython syntax translated, :func:`code_cells`); the
exercise tags and "which functions does this cell define" follow :mod:`vae_course.conventions`,
as the student-notebook generator does.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import symtable
from dataclasses import dataclass, field

from ..conventions import defined_functions
from .protocol import Code, ExerciseJob, Status, first_line


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
        if function in defined_functions(cell.tree):
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
        others = defined_functions(tagged[-1].tree)
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
