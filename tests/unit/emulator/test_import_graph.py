"""The module graph: no import cycles inside ``emulator/`` or ``mediaplane/``, no module of either
imports another's private names (``from x import _y``), and the layers of ARCHITECTURE.md hold:
``mediaplane/`` imports nothing of ``emulator/``, and ``emulator/model/`` imports neither asyncio nor
aiohttp nor anything of ``emulator/runtime`` or ``emulator/api``.

Every ``import`` and ``from ... import`` of every module counts, also those inside functions and under
``TYPE_CHECKING`` (a cycle hidden in a function or a type-only import is still a cycle of the design).
``from . import sub`` counts as importing the package too: Python reads ``sub`` from the package, so a
submodule that does it depends on its package's ``__init__``. Only direct imports are checked.
The graph is read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import emulator
import mediaplane

ROOTS = {pkg.__name__: Path(pkg.__file__ or "").resolve().parent for pkg in (emulator, mediaplane)}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(packages: tuple[str, ...]) -> dict[str, Path]:
    return {_module_name(ROOTS[pkg], p): p for pkg in packages for p in sorted(ROOTS[pkg].rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_nodes(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """(resolved module, names taken from it) for every import of ``module``, of any module."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((_resolve(module, is_package, node), [a.name for a in node.names]))
    return found


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import of ``module`` of a module in ``known``."""
    found: list[tuple[str, list[str]]] = []
    for target, names in _import_nodes(module, path):
        if target in known:
            # ``from .api import admin`` imports both the package emulator.api and emulator.api.admin.
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            found.append((target, [n for n in names if f"{target}.{n}" not in known]))
            found += [(s, []) for s in subs]
    return found


def _graph(packages: tuple[str, ...] = tuple(ROOTS)) -> dict[str, set[str]]:
    modules = _modules(packages)
    known = set(modules)
    return {m: {t for t, _ in _imports(m, p, known) if t != m} for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_through(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle inside ``component``, as ``a -> b -> ... -> a``, for the failure message."""
    start = component[0]
    members = set(component)
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                chain = [v]
                while chain[-1] != start:
                    chain.append(parents[chain[-1]])
                return [*reversed(chain), start]
            if w not in parents:
                parents[w] = v
                queue.append(w)
    return component


def test_the_graph_is_read_from_every_module() -> None:
    graph = _graph()
    assert "emulator.model.manager" in graph and "emulator.api.server" in graph
    assert "emulator.model.flow" in graph["emulator.model.manager"]
    assert "emulator.runtime.lastmile" in graph["emulator.runtime.core"]
    assert "mediaplane.rtmp.chunk" in graph["mediaplane.rtmp.message"]
    assert "mediaplane.relay.hub" in graph["mediaplane.rtmp.server"]
    assert "mediaplane.relay" in graph["emulator.model.rules"]


def test_from_dot_import_a_submodule_imports_the_package_too(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("from .b import thing\n")
    (tmp_path / "a.py").write_text("thing = 1\n")
    (tmp_path / "b.py").write_text("from . import a\nthing = a.thing\n")
    known = {"mediaplane.x", "mediaplane.x.a", "mediaplane.x.b"}
    found = _imports("mediaplane.x.b", tmp_path / "b.py", known)
    assert found == [("mediaplane.x", []), ("mediaplane.x.a", [])]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    (component,) = _cycles(graph)
    assert component == ["a", "b", "c"]
    assert _path_through(graph, component) == ["a", "b", "c", "a"]


def test_no_import_cycles_inside_emulator_or_mediaplane() -> None:
    graph = _graph()
    assert any(m.startswith("mediaplane.") for m in graph)
    cycles = [" -> ".join(_path_through(graph, c)) for c in _cycles(graph)]
    assert not cycles, "import cycles inside emulator/ or mediaplane/:\n" + "\n".join(cycles)


def _private_imports(modules: dict[str, Path]) -> list[str]:
    known = set(modules)
    return [
        f"{m} imports {n} from {t}"
        for m, p in modules.items()
        for t, names in _imports(m, p, known)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("_hidden = 1\n")
    (tmp_path / "b.py").write_text("from .a import _hidden, __doc__\nfrom . import a\n")
    (tmp_path / "__init__.py").write_text("")
    files = {"emulator.x": "__init__.py", "emulator.x.a": "a.py", "emulator.x.b": "b.py"}
    modules = {m: tmp_path / f for m, f in files.items()}
    assert _private_imports(modules) == ["emulator.x.b imports _hidden from emulator.x.a"]


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules(tuple(ROOTS))
    assert any(m.startswith("mediaplane.") for m in modules)
    private = _private_imports(modules)
    assert not private, "\n".join(private)


def _imported_under(modules: dict[str, Path], forbidden: tuple[str, ...]) -> list[str]:
    """``m imports x`` for every import by a module of ``modules`` of an ``x`` in or under ``forbidden``."""

    def under(name: str) -> bool:
        return any(name == f or name.startswith(f"{f}.") for f in forbidden)

    found = []
    for m, p in modules.items():
        for target, names in _import_nodes(m, p):
            # ``from emulator import runtime`` imports emulator.runtime: judge the module and each name in it.
            hits = [t for t in (target, *(f"{target}.{n}" for n in names)) if under(t)]
            found += [f"{m} imports {t}" for t in hits[:1]]
    return found


def test_the_layer_check_finds_one(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f() -> None:\n    import asyncio.queues\n")
    (tmp_path / "b.py").write_text("from .. import runtime\nfrom ..errors import NotFound\n")
    (tmp_path / "c.py").write_text("import asynciox\nfrom ..api.server import build_app\n")
    modules = {f"emulator.model.{n}": tmp_path / f"{n}.py" for n in "abc"}
    forbidden = ("asyncio", "emulator.runtime", "emulator.api")
    assert _imported_under(modules, forbidden) == [
        "emulator.model.a imports asyncio.queues",
        "emulator.model.b imports emulator.runtime",
        "emulator.model.c imports emulator.api.server",
    ]


def test_mediaplane_imports_nothing_of_emulator() -> None:
    found = _imported_under(_modules(("mediaplane",)), ("emulator",))
    assert not found, "\n".join(found)


def test_the_model_imports_no_asyncio_aiohttp_runtime_or_api() -> None:
    modules = {m: p for m, p in _modules(("emulator",)).items() if m.startswith("emulator.model.")}
    assert "emulator.model.manager" in modules
    found = _imported_under(modules, ("asyncio", "aiohttp", "emulator.runtime", "emulator.api"))
    assert not found, "\n".join(found)
