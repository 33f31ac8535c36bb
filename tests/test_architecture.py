"""The package's shape: module imports form no cycle, every module says its job, no
module imports another's private names, and imports sit at the top of a module.

Read from the source with ``ast`` (nothing is imported), so a change that breaks one
of these shows here before a reader meets it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from analysis.config import ROOT

PACKAGE = ROOT / "analysis"
# Imports inside functions, where they are the point: each CLI stage imports only the
# stack it runs (``python -m analysis clean`` does not load matplotlib or dask), and
# the estimator loads dask only for an out-of-core fit.
LAZY_IMPORTS = {"analysis.cli", "analysis.twopart.model", "analysis.twopart.outofcore"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"))


def absolute(name: str, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` in module ``name`` reads from, made absolute."""
    if not node.level:
        return node.module or ""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def top_level_imports(name: str) -> set[str]:
    """Package modules ``name`` imports when it is loaded (module level only)."""
    out = set()
    for node in tree(name).body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            # ``from pkg import mod`` reads the submodule; ``from mod import f``, mod
            base = absolute(name, node)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                for a in node.names
            ]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


def test_module_imports_form_no_cycle():
    graph = {name: top_level_imports(name) for name in MODULES}
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name, path):
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycle = path[path.index(other) :] + [other]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other, path + [other])
        state[name] = 2

    for name in MODULES:
        if name not in state:
            visit(name, [name])
    assert any(graph.values())  # the graph is read, not empty


def test_every_module_says_its_job():
    missing = [n for n in MODULES if not (ast.get_docstring(tree(n)) or "").strip()]
    assert not missing


def test_no_module_imports_another_modules_private_names():
    found = []
    for name in MODULES:
        for node in ast.walk(tree(name)):
            if isinstance(node, ast.ImportFrom) and absolute(name, node) in MODULES:
                found += [
                    (name, a.name)
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not found


def test_imports_sit_at_the_top_but_where_laziness_is_the_point():
    inner = set()
    for name in MODULES:
        for node in ast.walk(tree(name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(
                    isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node)
                ):
                    inner.add(name)
    assert inner <= LAZY_IMPORTS, sorted(inner - LAZY_IMPORTS)
    assert inner  # the check sees function-level imports where they are
