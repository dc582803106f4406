"""Move the prose guards that sit in the middle of a solution's code cell to the end of that cell (issue 26).

    python scripts/trail_guards.py            # every solutions/*.ipynb
    python scripts/trail_guards.py 05 06      # only notebooks whose name starts with 05 or 06

The student generator (``vae_course.notebooks._guard_cells``) folds a cell's TRAILING guards
(``claim(...)`` lines and ``for`` loops of them) into a collapsed cell of their own; a guard followed by
teaching code stays visible to the student. This script moves each such guard, with the comment lines
directly above it, to just after the cell's last non-guard statement (keeping the guards' order), so
that the generator can fold it too. It rewrites sources only (outputs, ids and metadata stay: a claim
that holds prints nothing), and only when the move cannot change what the cell computes or shows:

* no later statement of the cell rebinds a name the guard reads (assignment, ``for``/``with`` target,
  ``del``, import, ``def``/``class``), mutates it (assignment to an item or attribute of it, a call of an
  in-place method on it), or hands it to a function that might change it in place;
* the guard calls no function of the notebook's own and draws no random numbers (run later, it would
  shift the random stream of the lines it now follows);
* the cell does not display the value of its last expression (a guard after it would hide the display);
* the guard has its lines to itself (no ``a = 1; claim(...)``).

A guard that fails one of these stays where it is and is printed (file, cell index, id, first line,
why). Idempotent: a second run changes nothing. tests/test_notebook_guards.py keeps the solutions this way.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vae_course.notebooks import _is_guard  # noqa: E402 - the generator's own notion of a guard

MUTATORS = {"append", "extend", "update", "pop", "insert", "clear", "sort", "add", "remove", "setdefault",
            "fill_", "zero_", "copy_", "popitem", "discard", "reverse", "step", "backward", "zero_grad",
            "load_state_dict", "train", "eval", "apply", "to"}
"""Methods that change their object in place (besides every method whose name ends in ``_``)."""
RANDOM = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "sample", "rsample",
          "normal", "bernoulli", "multinomial", "poisson", "shuffle", "choice", "manual_seed", "seed"}
"""Calls that draw random numbers (or reseed): a guard making one would shift the stream of the code after it."""
PURE = {"claim", *(name for name in dir(builtins) if not name.startswith("_"))} - {"exec", "eval", "input", "open",
                                                                                    "print", "next", "setattr",
                                                                                    "delattr", "vars", "globals"}
"""Functions a guard may call: :func:`claim` and Python's builtins (none of the notebook's own functions)."""
READERS = {"print", "len", "float", "int", "str", "repr", "format", "round", "abs", "min", "max", "sum", "sorted",
           "list", "tuple", "set", "dict", "zip", "enumerate", "range", "isinstance", "any", "all", "bool", "iter",
           "display"}
"""Functions that only read the arguments a later line hands them."""
READER_ROOTS = {"plt", "ax", "axes", "axs", "fig", "math", "np", "plotting", "torch", "F", "nn", "json", "re",
                "textwrap", "itertools", "statistics", "stats"}
"""Modules and figure objects whose calls only read their arguments (except methods ending in ``_``);
``stats`` is vae_course.stats (intervals and tests: they read their samples)."""


class Left(NamedTuple):
    """A guard left in the middle of its cell, and why."""

    path: str
    cell: int
    ident: str
    line: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}, cell {self.cell} ({self.ident}): {self.line.strip()[:70]!r} left in place: {self.why}"


def _root(node: ast.AST) -> str | None:
    """The name at the root of ``a.b[c].d``, or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _reads(statement: ast.stmt) -> set[str]:
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _targets(target: ast.AST) -> set[str]:
    """Names a target binds (``a``, ``a, b``) or mutates (``a[0]``, ``a.x``: their root)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_targets(elt) for elt in target.elts))
    root = _root(target)
    return {root} if root else set()


def _changes(statement: ast.stmt) -> dict[str, str]:
    """The names a statement rebinds or may change in place, each with how."""
    changed: dict[str, str] = {}
    for node in ast.walk(statement):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                changed.update(dict.fromkeys(_targets(target), "assigned"))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            changed.update(dict.fromkeys(_targets(node.target), "assigned"))
        elif isinstance(node, ast.NamedExpr):
            changed[node.target.id] = "assigned"
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(node, ast.comprehension):
                continue  # a comprehension's variable is its own (Python 3 scoping)
            changed.update(dict.fromkeys(_targets(node.target), "a for target"))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    changed.update(dict.fromkeys(_targets(item.optional_vars), "a with-as target"))
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                changed.update(dict.fromkeys(_targets(target), "deleted"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                changed[(alias.asname or alias.name).split(".")[0]] = "imported"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            changed[node.name] = "defined"
        elif isinstance(node, ast.Global):
            changed.update(dict.fromkeys(node.names, "declared global"))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                root = _root(func.value)
                if root and (func.attr.endswith("_") or func.attr in MUTATORS):
                    changed.setdefault(root, f"changed in place by .{func.attr}()")
            func_root = _root(func)
            func_name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if func_root in READERS or (func_root in READER_ROOTS and not func_name.endswith("_")):
                continue
            for arg in [*node.args, *(keyword.value for keyword in node.keywords)]:
                root = _root(arg)
                if root is not None:
                    changed.setdefault(root, f"handed to {ast.unparse(func)[:40]}(), which may change it")
    return changed


def _calls_unsafe(guard: ast.AST, functions: dict[str, ast.FunctionDef], reads: set[str],
                  seen: frozenset = frozenset()) -> str | None:
    """Why running the guard later could change what follows (random numbers, a change in place), or None.

    A function the notebook defines (``functions``) is followed into its body: it must be as harmless, and
    the global names it reads join ``reads`` (the names no later line may change)."""
    for node in ast.walk(guard):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in RANDOM:
            return f"it calls {name}(), which draws random numbers"
        if isinstance(func, ast.Attribute) and (name.endswith("_") or name in MUTATORS):
            return f"it calls .{name}(), which changes its object"
        if isinstance(func, ast.Name) and func.id not in PURE:
            definition = functions.get(func.id)
            if definition is None:
                return f"it calls {func.id}(), not a function this notebook defines (it may draw random numbers)"
            if func.id in seen:
                continue
            local = {arg.arg for arg in ast.walk(definition.args) if isinstance(arg, ast.arg)}
            local |= set(_changes(ast.Module(body=definition.body, type_ignores=[])))
            reads |= _reads(definition) - local
            why = _calls_unsafe(ast.Module(body=definition.body, type_ignores=[]), functions, reads, seen | {func.id})
            if why is not None:
                return f"{func.id}(): {why}"
    return None


def _functions(nb: nbformat.NotebookNode) -> dict[str, ast.FunctionDef]:
    """The functions defined at the top level of the notebook's code cells (the last definition of each name)."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                body = ast.parse(cell.source).body
            except SyntaxError:
                continue
            found.update({node.name: node for node in body if isinstance(node, ast.FunctionDef)})
    return found


def _displays(cell: nbformat.NotebookNode, source: str, last: ast.stmt) -> bool:
    """Whether the cell shows the value of its last statement (Jupyter's rule: a bare expression, no ``;``)."""
    if not isinstance(last, ast.Expr):
        return False
    rest = source.splitlines()[last.end_lineno - 1][last.end_col_offset:]
    if rest.split("#")[0].strip().startswith(";"):
        return False
    if any(output.get("output_type") == "execute_result" for output in cell.get("outputs", [])):
        return True
    return not isinstance(last.value, ast.Call)  # a call that displayed nothing returned None; a bare value shows


def trail(cell: nbformat.NotebookNode, where: tuple[str, int],
          functions: dict[str, ast.FunctionDef] | None = None) -> tuple[str, int, list[Left]]:
    """The cell's source with its movable mid-cell guards at the end, how many moved, and those left.

    functions: the notebook's own functions (:func:`_functions`), which a guard may call if they are harmless."""
    functions = functions or {}
    source = cell.source
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return source, 0, []
    guard = [_is_guard(statement) for statement in body]
    non_guards = [index for index, is_guard in enumerate(guard) if not is_guard]
    if not non_guards:
        return source, 0, []
    last = non_guards[-1]
    middle = [index for index in range(last) if guard[index]]
    if not middle:
        return source, 0, []
    lines = source.splitlines()
    ident = cell.get("id", "?")

    def left(index: int, why: str) -> Left:
        return Left(where[0], where[1], ident, lines[body[index].lineno - 1], why)

    if last == len(body) - 1 and _displays(cell, source, body[last]):
        return source, 0, [left(index, "the cell displays the value of its last expression, which the moved "
                                       "guards would hide") for index in middle]
    taken: dict[int, set[int]] = {}
    kept: list[Left] = []
    used_lines = {}
    for index, statement in enumerate(body):
        for number in range(statement.lineno, statement.end_lineno + 1):
            used_lines.setdefault(number, set()).add(index)
    for index in middle:
        statement = body[index]
        span = range(statement.lineno, statement.end_lineno + 1)
        if any(used_lines[number] != {index} for number in span):
            kept.append(left(index, "it shares a line with another statement"))
            continue
        reads = _reads(statement)
        why = _calls_unsafe(statement, functions, reads)
        if why is None:
            for later_index in range(index + 1, last + 1):
                if guard[later_index]:
                    continue
                later = body[later_index]
                changed = _changes(later)
                hit = sorted(reads & changed.keys())
                if hit:
                    why = f"line {later.lineno} ({lines[later.lineno - 1].strip()[:40]!r}): `{hit[0]}` is {changed[hit[0]]}"
                    break
        if why is not None:
            kept.append(left(index, why))
            continue
        first = statement.lineno
        while first > 1 and lines[first - 2].lstrip().startswith("#") and not used_lines.get(first - 1):
            first -= 1  # the comment lines directly above go along
        taken[index] = set(range(first, statement.end_lineno + 1))
    if not taken:
        return source, 0, kept
    moved_numbers = set().union(*taken.values())
    moved = [lines[number - 1] for number in sorted(moved_numbers)]
    end = body[last].end_lineno
    out: list[str] = []
    after_cut = False
    for number, line in enumerate(lines, start=1):
        if number in moved_numbers:
            after_cut = True
            continue
        if after_cut and not line.strip() and (not out or not out[-1].strip()):
            continue  # a cut between two blank lines (or at the top) leaves one blank line (or none)
        after_cut = False
        out.append(line)
        if number == end:
            out.extend(moved)
    text = "\n".join(out)
    if source.endswith("\n"):
        text += "\n"
    return text, len(taken), kept


def trail_notebook(path: Path) -> tuple[int, list[Left]]:
    """Rewrite one notebook in place; returns (guards moved, guards left with why)."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    moved, kept = 0, []
    functions = _functions(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "claim(" not in cell.source:
            continue
        new, count, left = trail(cell, (path.name, index), functions)
        cell.source = new
        moved += count
        kept += left
    written = nbformat.writes(nb) + ("\n" if text.endswith("\n") else "")
    if written != text:
        path.write_text(written, encoding="utf-8")
    return moved, kept


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose name starts with one of these (NN)")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions", help="folder of solution notebooks")
    args = parser.parse_args(argv)
    paths = sorted(args.solutions.glob("*.ipynb"))
    if args.prefixes:
        paths = [path for path in paths if any(path.name.startswith(prefix) for prefix in args.prefixes)]
    total_moved, total_left = 0, 0
    for path in paths:
        moved, kept = trail_notebook(path)
        total_moved, total_left = total_moved + moved, total_left + len(kept)
        print(f"{path.name}: {moved} guards moved to the end of their cell, {len(kept)} left in place")
        for entry in kept:
            print(f"  {entry}")
    print(f"all: {total_moved} moved, {total_left} left")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
