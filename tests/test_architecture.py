"""The package's shape, checked from the source (ast; nothing is imported):

* imports follow the flow cli -> app -> (train, evaluate) -> model -> (imaging, library), with imaging
  and library independent of each other; top-level modules (phototag/reporting.py, filetypes.py,
  fsio.py, ...) are base modules every layer may import and that import no phototag package.
  Imports inside functions count too: they are dependencies all the same.
* no import cycle among the imports that run when a module is imported (module level, class bodies;
  not function bodies, not `if TYPE_CHECKING:` blocks);
* no function of 80 lines or more.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "phototag"

# The layers each layer may import, besides itself and the base modules ("base": top-level modules).
MAY_IMPORT = {
    "main": {"cli", "app", "train", "evaluate", "model", "imaging", "library"},  # phototag/__main__.py
    "cli": {"web", "app", "train", "evaluate", "model", "imaging", "library"},
    "web": {"app", "train", "evaluate", "model", "imaging", "library"},  # the review page: a peer of cli
    "app": {"train", "evaluate", "model", "imaging", "library"},
    "train": {"model", "imaging", "library"},
    "evaluate": {"model", "imaging", "library"},
    "model": {"imaging", "library"},
    "imaging": set(),
    "library": set(),
    "base": set(),
}
LONGEST_FUNCTION = 79  # lines, decorators not counted


def _module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def layer(module: str) -> str:
    """cli, app, ... for modules of a subpackage; "main" for phototag/__main__.py; "base" for the others."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"  # phototag/__init__.py
    if parts[1] == "__main__":
        return "main"
    return parts[1] if (ROOT / PACKAGE / parts[1]).is_dir() else "base"


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported phototag module (the longest existing prefix of what the statement names)
    line: int
    at_import_time: bool  # runs when `source` is imported (not in a function, not under TYPE_CHECKING)

    def where(self) -> str:
        return f"{MODULES[self.source].relative_to(ROOT)}:{self.line}"


def _existing(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: from the importing module's package, `level - 1` packages up
            package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
            package = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        # `from package import name`: the submodule when `name` is one, else the package itself
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    return [_existing(name) for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(module: str) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, at_import_time: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(module, t, child.lineno, at_import_time) for t in _targets(child, module))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), False)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), at_import_time)
            else:
                visit(child, at_import_time)

    visit(_parse(module), True)
    return found


@functools.cache
def _parse(module: str) -> ast.Module:
    path = MODULES[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@functools.cache
def all_imports() -> list[Import]:
    return [imported for module in MODULES for imported in _imports_of(module)]


def layer_violations(imports: list[Import]) -> list[str]:
    problems = []
    for imported in imports:
        source, target = layer(imported.source), layer(imported.target)
        if source not in MAY_IMPORT or target not in MAY_IMPORT:
            unknown = source if source not in MAY_IMPORT else target
            problems.append(f"{imported.where()}: unknown layer {unknown!r} (add it to MAY_IMPORT)")
        elif not (target == "base" or target == source or target in MAY_IMPORT[source]):
            problems.append(f"{imported.where()}: {source} -> {target}: imports {imported.target}")
    return problems


def import_cycles(imports: list[Import]) -> list[str]:
    """One shortest cycle for each strongly connected group of modules (module-level imports only)."""
    graph: dict[str, dict[str, Import]] = {module: {} for module in MODULES}
    for imported in imports:
        if imported.at_import_time and imported.target != imported.source:
            graph[imported.source].setdefault(imported.target, imported)
    cycles = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            start = min(group)
            path = _shortest_cycle(graph, start, group)
            steps = [f"{a} -> {b} ({graph[a][b].where()})" for a, b in zip(path, path[1:])]
            cycles.append(f"cycle among {len(group)} modules: " + "; ".join(steps))
    return cycles


def _strongly_connected(graph: dict[str, dict]) -> list[set[str]]:
    """Tarjan's algorithm (recursive; the package is a few hundred modules at most)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def _shortest_cycle(graph: dict[str, dict], start: str, group: set[str]) -> list[str]:
    """Breadth-first from `start` inside its group until an edge leads back to it."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node]):
            if successor == start:
                path = [node]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1] + [start]
            if successor in group and successor not in parent:
                parent[successor] = node
                queue.append(successor)
    raise AssertionError(f"no cycle through {start}")  # cannot happen in a strongly connected group


def long_functions() -> list[str]:
    found = []
    for module, path in MODULES.items():
        for name, node in _functions(_parse(module), ""):
            lines = node.end_lineno - node.lineno + 1
            if lines > LONGEST_FUNCTION:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name} is {lines} lines")
    return found


def _functions(node: ast.AST, prefix: str):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                yield name, child
            yield from _functions(child, name + ".")
        else:
            yield from _functions(child, prefix)


def _fail(title: str, problems: list[str]) -> None:
    if problems:
        print(f"{title} ({len(problems)}):", *problems, sep="\n  ")
        pytest.fail(f"{title} ({len(problems)}):\n  " + "\n  ".join(problems), pytrace=False)


def test_the_checker_sees_the_package():
    assert {"phototag.cli", "phototag.imaging.decode", "phototag.reporting"} <= set(MODULES)
    assert layer("phototag.reporting") == "base" and layer("phototag.imaging.raw") == "imaging"
    assert any(i.target.startswith("phototag.imaging") for i in all_imports() if i.source == "phototag.model.features")


def test_the_checks_catch_what_they_should():
    decode, raw = "phototag.imaging.decode", "phototag.imaging.raw"
    assert layer_violations([Import(decode, "phototag.library", 1, False)])  # imaging -> library, in a function
    assert not layer_violations([Import(decode, "phototag.filetypes", 1, True)])
    assert import_cycles([Import(decode, raw, 1, True), Import(raw, decode, 2, True)])
    assert not import_cycles([Import(decode, raw, 1, False), Import(raw, decode, 2, True)])  # lazy: no cycle


def test_imports_follow_the_layers():
    _fail(
        "imports against cli -> app -> (train, evaluate) -> model -> (imaging, library)",
        layer_violations(all_imports()),
    )


def test_no_module_level_import_cycle():
    _fail("module-level import cycles", import_cycles(all_imports()))


def test_no_function_of_80_lines_or_more():
    _fail(f"functions over {LONGEST_FUNCTION} lines", long_functions())
