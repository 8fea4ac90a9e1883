"""The layout is the architecture: every import points down, and no two files import each other in a ring.

core/ imports no other brandmon package; sources/, models/ and alerts/ import only core/; nothing imports the
application (monitor/). Imports under `if TYPE_CHECKING:` are type references and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "sources", "models", "alerts", "monitor", "config")
#: What each package may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "sources": {"core"},
    "models": {"core"},
    "alerts": {"core"},
    "config": set(),
    "monitor": {"core", "sources", "models", "alerts", "config"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, imported module) for every import of ours in the file, outside TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skipped.update(id(inner) for inner in ast.walk(node))
    modules = {module_name(p) for p in python_files()}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from a.b import c" imports a.b, and a.b.c when c is itself a module
            targets = [node.module]
            targets += [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield node.lineno, target


def python_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_there_is_code_to_check() -> None:
    names = {module_name(p) for p in python_files()}
    assert {"core.domain", "core.outbox", "sources.base", "models.base", "alerts.slack", "monitor.cli"} <= names


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down(package: str) -> None:
    upward = []
    for path in python_files():
        if path.relative_to(ROOT).parts[0] != package:
            continue
        for line, target in imports_of(path):
            top = target.split(".")[0]
            if top != package and top not in ALLOWED[package]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not upward, f"{package}/ may import only {sorted(ALLOWED[package]) or 'nothing of ours'}:\n" + "\n".join(
        upward
    )


def _graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in python_files()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, target in imports_of(path):
            # importing a.b.c runs a and a.b too; only edges to modules we have count
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import ring as [a, b, ..., a], or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_between_files() -> None:
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_ring() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_a_package_may_not_import_the_application(tmp_path: Path) -> None:
    # the checker itself sees an upward import: a file of sources/ that imports monitor/
    sample = tmp_path / "x.py"
    sample.write_text("from monitor.pipeline import Pipeline\nif TYPE_CHECKING:\n    import monitor.cli\n")
    found = [t for _, t in imports_of(sample)]
    assert found == ["monitor.pipeline"]
