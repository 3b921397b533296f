"""The backend's architecture, checked from source: layers, private names, dependencies, cycles.

Nothing from ``backend`` is imported here. Every ``.py`` file under ``backend/`` is parsed with
``ast`` and every import in it is collected, wherever it sits: module level, inside a function,
under ``if TYPE_CHECKING:``, in a ``try``. ``importlib.import_module("...")`` and
``__import__("...")`` calls with a literal name count as imports too. All of them count.

Components
    A component is a top-level module (``backend.storage``) or a package with all of its
    submodules (``backend.health`` is ``health/__init__.py``, ``health/monitor.py``, ...). A module
    belongs to the component with the longest matching name, so ``backend.providers.wire.sse`` is
    in ``backend.providers.wire``, not in ``backend.providers``. The root ``backend``
    (``backend/__init__.py``) is a component that holds only itself. ``from backend.x import y``
    is an import of the submodule ``backend.x.y`` when that file exists, else of ``backend.x``.

The rules (one test each; every failure lists each offending ``file:line import``)
    1. Layers (``LAYERS``, lowest first). A component imports only from its own layer or lower
       ones, and additionally: ``FORBIDDEN`` pairs never import each other even when the layers
       allow it; a component in ``ONLY_IMPORTS`` imports nothing but the components listed; a
       component in ``ONLY_IMPORTED_BY`` is imported by nothing but the components listed; a
       component in ``NO_IO`` imports none of the I/O modules listed (``test_wire_does_no_io``).
       Every backend module must belong to a component of the table.
    2. Private names. No ``_name`` (dunders like ``__version__`` are fine) is imported from
       another backend module, and no private module (``backend.providers._foo``) is imported.
    3. Third-party ownership. A top-level package that is neither stdlib
       (``sys.stdlib_module_names``) nor ``backend`` is imported only by the components that own
       it in ``THIRD_PARTY_OWNERS``. A package missing from the table has no owner, so a new
       dependency has to be given one here first.
    4. No import cycles between backend modules, a package being its ``__init__.py``.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"

# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "L0 foundation",
        (
            "backend",
            "backend.errors",
            "backend.i18n",
            "backend.models",
            "backend.paths",
            "backend.redact",
            "backend.fileio",
            "backend.logsetup",
            "backend.background",
        ),
    ),
    (
        "L1 data and upstream",
        (
            "backend.schemas",
            "backend.storage",
            "backend.secrets",
            "backend.transfer",
            "backend.foreign",
            "backend.providers",
            "backend.providers.wire",
        ),
    ),
    (
        "L2 services",
        (
            "backend.manager",
            "backend.health",
            "backend.chat",
            "backend.usage",
            "backend.settings",
            "backend.tools",
        ),
    ),
    ("L3 front ends", ("backend.bridge", "backend.server", "backend.window")),
    ("L4 entry points", ("backend.app", "backend.__main__")),
)

LAYER_OF: dict[str, int] = {
    component: level for level, (_, components) in enumerate(LAYERS) for component in components
}
L0 = frozenset(LAYERS[0][1])

_NOT_FOR_PROVIDERS = frozenset(
    {"backend.schemas", "backend.storage", "backend.secrets", "backend.transfer"}
)

# Imports the layers would allow but that are still forbidden: importer -> what it must not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    # providers speaks to LLM endpoints; validation, persistence and secrets belong to its callers.
    "backend.providers": _NOT_FOR_PROVIDERS,
    # wire is pure protocol code, a subpackage of providers that may not reach back into it.
    "backend.providers.wire": _NOT_FOR_PROVIDERS | {"backend.providers"},
    # The two front ends stand side by side; app wires them together.
    "backend.bridge": frozenset({"backend.server"}),
    "backend.server": frozenset({"backend.bridge"}),
}

# Components that may import only these components (besides themselves).
ONLY_IMPORTS: dict[str, frozenset[str]] = {
    # The window needs the foundation and the type of the dialogs it implements (bridge.Dialogs).
    "backend.window": L0 | {"backend.bridge"},
}

# Components that only these components may import.
ONLY_IMPORTED_BY: dict[str, frozenset[str]] = {
    "backend.app": frozenset({"backend.__main__"}),
    "backend.__main__": frozenset(),
}

# Components that must do no I/O: the top-level modules they may not import.
NO_IO: dict[str, frozenset[str]] = {
    "backend.providers.wire": frozenset(
        {
            "socket",
            "ssl",
            "asyncio",
            "httpx",
            "threading",
            "sqlite3",
            "os",
            "pathlib",
            "subprocess",
        }
    ),
}

# Third-party top-level package -> the components allowed to import it. Owners are components,
# so httpx's owner backend.providers does not cover backend.providers.wire.
THIRD_PARTY_OWNERS: dict[str, frozenset[str]] = {
    "flask": frozenset({"backend.server"}),
    "werkzeug": frozenset({"backend.server"}),
    "waitress": frozenset({"backend.server"}),
    "httpx": frozenset({"backend.providers"}),
    "httpcore": frozenset({"backend.providers"}),
    "truststore": frozenset({"backend.providers"}),
    "certifi": frozenset({"backend.providers"}),
    "socksio": frozenset({"backend.providers"}),
    "marshmallow": frozenset({"backend.schemas"}),
    "keyring": frozenset({"backend.secrets"}),
    "secretstorage": frozenset({"backend.secrets"}),
    "jeepney": frozenset({"backend.secrets"}),
    "cryptography": frozenset({"backend.transfer", "backend.secrets"}),
    "webview": frozenset({"backend.window"}),
    "qtpy": frozenset({"backend.window"}),
    "PySide6": frozenset({"backend.window"}),
    "platformdirs": frozenset({"backend.paths"}),
    # The MCP client (docs/DECISIONS.md): the official SDK, its types and its async runtime.
    "mcp": frozenset({"backend.tools"}),
    "mcp_types": frozenset({"backend.tools"}),
    "anyio": frozenset({"backend.tools"}),
    "httpx2": frozenset({"backend.tools"}),  # the SDK's HTTP client (not our httpx)
}

# ---------------------------------------------------------------------------------------------
# Collecting imports
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import of one module: ``from a import x, y`` of two modules gives two of these."""

    path: str  # as shown in reports, e.g. "backend/health/monitor.py"
    line: int
    importer: str  # module name of the importing file
    target: str  # absolute name of the imported module
    names: tuple[str, ...]  # names taken from the module by ``from ... import``
    text: str  # the import as written

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.text}"


def module_name(path: Path, backend_dir: Path) -> str:
    parts = path.relative_to(backend_dir.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files(backend_dir: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under ``backend_dir``."""
    return {module_name(path, backend_dir): path for path in sorted(backend_dir.rglob("*.py"))}


def absolute_module(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute name a relative ``from`` import refers to."""
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def dynamic_import(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")`` or ``__import__("x")``, if literal."""
    func = node.func
    named = (isinstance(func, ast.Name) and func.id in {"__import__", "import_module"}) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not named or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return None if first.value.startswith(".") else first.value
    return None


def imports_in(path: Path, backend_dir: Path, known: Iterable[str]) -> list[Import]:
    """Every import in one file, in line order."""
    modules = set(known)
    importer = module_name(path, backend_dir)
    shown = path.relative_to(backend_dir.parent).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                text = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                found.append(Import(shown, node.lineno, importer, alias.name, (), text))
        elif isinstance(node, ast.ImportFrom):
            written = "." * node.level + (node.module or "")
            module = (
                absolute_module(importer, path.name == "__init__.py", node.level, node.module)
                if node.level
                else node.module or ""
            )
            by_target: dict[str, list[str]] = {}
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                by_target.setdefault(submodule if submodule in modules else module, []).append(
                    alias.name
                )
            for target, names in by_target.items():
                text = f"from {written} import {', '.join(names)}"
                found.append(Import(shown, node.lineno, importer, target, tuple(names), text))
        elif isinstance(node, ast.Call) and (target := dynamic_import(node)):
            found.append(Import(shown, node.lineno, importer, target, (), ast.unparse(node)))
    return sorted(found, key=lambda imp: (imp.line, imp.text))


def collect_imports(backend_dir: Path) -> list[Import]:
    files = source_files(backend_dir)
    return [imp for path in files.values() for imp in imports_in(path, backend_dir, files)]


# ---------------------------------------------------------------------------------------------
# Checkers: each returns one line per violation, empty when the rule holds
# ---------------------------------------------------------------------------------------------


def is_backend(module: str) -> bool:
    return module == "backend" or module.startswith("backend.")


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def component_of(module: str) -> str | None:
    """The component of the layer table that holds ``module`` (longest match), if any."""
    matches = [
        component
        for component in LAYER_OF
        if module == component or (component != "backend" and module.startswith(f"{component}."))
    ]
    return max(matches, key=len, default=None)


def layer_label(component: str) -> str:
    return LAYERS[LAYER_OF[component]][0].split()[0]


def unlayered_modules(backend_dir: Path) -> list[str]:
    """Backend modules that belong to no component of the layer table."""
    return [name for name in source_files(backend_dir) if component_of(name) is None]


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """Rule 1: upward imports, forbidden pairs, ONLY_IMPORTS and ONLY_IMPORTED_BY."""
    found = []
    for imp in imports:
        source, dest = component_of(imp.importer), component_of(imp.target)
        if not is_backend(imp.target) or source is None or source == dest:
            continue  # an unlayered importer is reported by unlayered_modules
        if dest is None:
            found.append(f"{imp}  [{imp.target} is in no component of the layer table]")
            continue
        reasons = []
        if LAYER_OF[dest] > LAYER_OF[source]:
            reasons.append(
                f"upward: {source} ({layer_label(source)}) imports {dest} ({layer_label(dest)})"
            )
        if dest in FORBIDDEN.get(source, frozenset()):
            reasons.append(f"{source} must not import {dest}")
        allowed = ONLY_IMPORTS.get(source)
        if allowed is not None and dest not in allowed:
            reasons.append(f"{source} may import only {', '.join(sorted(allowed))}")
        importers = ONLY_IMPORTED_BY.get(dest)
        if importers is not None and source not in importers:
            who = ", ".join(sorted(importers)) or "nothing"
            reasons.append(f"{dest} may be imported only by {who}")
        if reasons:
            found.append(f"{imp}  [{'; '.join(reasons)}]")
    return found


def io_violations(imports: Iterable[Import]) -> list[str]:
    """Rule 1, NO_IO: I/O modules imported by components that must do no I/O."""
    found = []
    for imp in imports:
        component = component_of(imp.importer)
        banned = NO_IO.get(component or "", frozenset())
        if top_level(imp.target) in banned:
            found.append(f"{imp}  [{component} does no I/O: {top_level(imp.target)} is banned]")
    return found


def private_violations(imports: Iterable[Import]) -> list[str]:
    """Rule 2: private names or private modules imported from another backend module."""
    found = []
    for imp in imports:
        if not is_backend(imp.target) or imp.target == imp.importer:
            continue
        private = [part for part in imp.target.split(".") if is_private(part)]
        private += [name for name in imp.names if is_private(name) and name not in private]
        if private:
            found.append(f"{imp}  [private: {', '.join(private)}]")
    return found


def third_party_violations(imports: Iterable[Import]) -> list[str]:
    """Rule 3: third-party packages imported by a component that does not own them."""
    found = []
    for imp in imports:
        package = top_level(imp.target)
        if not package or package == "backend" or package in sys.stdlib_module_names:
            continue
        owners = THIRD_PARTY_OWNERS.get(package)
        importer = component_of(imp.importer) or imp.importer
        if owners is None:
            found.append(f"{imp}  [{package} has no owner in THIRD_PARTY_OWNERS]")
        elif importer not in owners:
            found.append(f"{imp}  [{package} belongs to {', '.join(sorted(owners))}]")
    return found


Graph = dict[str, dict[str, list[Import]]]


def import_graph(imports: Iterable[Import]) -> Graph:
    """Backend module -> backend module it imports -> the imports that make that edge."""
    graph: Graph = {}
    for imp in imports:
        if is_backend(imp.target):
            graph.setdefault(imp.importer, {}).setdefault(imp.target, []).append(imp)
    return graph


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_path(graph: Graph, start: str, goal: str, within: set[str]) -> list[str]:
    """Nodes from ``start`` to ``goal`` (both included), staying ``within``; BFS."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for nxt in sorted(graph.get(node, {})):
            if nxt in within and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no path from {start} to {goal}")  # impossible inside one SCC


def import_cycles(graph: Graph) -> list[tuple[str, ...]]:
    """For every import edge that lies on a cycle, the shortest cycle through it (deduplicated)."""
    cycles: set[tuple[str, ...]] = set()
    for component in strongly_connected(graph):
        members = set(component)
        for source in component:
            for dest in graph.get(source, {}):
                if dest in members:
                    ring = [source, *shortest_path(graph, dest, source, members)[:-1]]
                    first = ring.index(min(ring))
                    cycles.add(tuple(ring[first:] + ring[:first]))
    return sorted(cycles, key=lambda cycle: (len(cycle), cycle))


def cycle_violations(imports: Iterable[Import]) -> list[str]:
    """Rule 4: each cycle as ``a -> b -> a`` followed by the imports that close it."""
    graph = import_graph(imports)
    found = []
    for cycle in import_cycles(graph):
        ring = [*cycle, cycle[0]]
        lines = [" -> ".join(ring)]
        for source, dest in itertools.pairwise(ring):
            lines += [f"    {imp}" for imp in graph[source][dest]]
        found.append("\n".join(lines))
    return found


def report(title: str, violations: list[str]) -> str:
    return f"{title}: {len(violations)} violation(s)\n" + "\n".join(violations)


# ---------------------------------------------------------------------------------------------
# The rules, applied to backend/
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend_imports() -> list[Import]:
    imports = collect_imports(BACKEND)
    assert any(is_backend(imp.target) for imp in imports), f"no backend imports under {BACKEND}"
    return imports


def test_the_tables_name_only_components_of_the_layer_table() -> None:
    named = set(FORBIDDEN) | set(ONLY_IMPORTS) | set(ONLY_IMPORTED_BY) | set(NO_IO)
    for components in (*FORBIDDEN.values(), *ONLY_IMPORTS.values(), *ONLY_IMPORTED_BY.values()):
        named |= components
    for owners in THIRD_PARTY_OWNERS.values():
        named |= owners
    assert named <= set(LAYER_OF), sorted(named - set(LAYER_OF))
    assert len(LAYER_OF) == sum(len(components) for _, components in LAYERS), "listed twice"


def test_every_backend_module_has_a_layer() -> None:
    assert source_files(BACKEND), f"no modules under {BACKEND}"
    unlayered = unlayered_modules(BACKEND)
    assert not unlayered, report("Modules missing from LAYERS", unlayered)


def test_no_upward_or_forbidden_imports(backend_imports: list[Import]) -> None:
    violations = layer_violations(backend_imports)
    assert not violations, report("Imports against the layer table", violations)


def test_wire_does_no_io(backend_imports: list[Import]) -> None:
    violations = io_violations(backend_imports)
    assert not violations, report("I/O imports in pure components", violations)


def test_no_private_names_imported_across_modules(backend_imports: list[Import]) -> None:
    violations = private_violations(backend_imports)
    assert not violations, report("Private names imported from other modules", violations)


def test_third_party_packages_are_imported_only_by_their_owners(
    backend_imports: list[Import],
) -> None:
    violations = third_party_violations(backend_imports)
    assert not violations, report("Third-party imports outside their owners", violations)


def test_no_import_cycles(backend_imports: list[Import]) -> None:
    violations = cycle_violations(backend_imports)
    assert not violations, report("Import cycles", violations)


# ---------------------------------------------------------------------------------------------
# The checkers bite
# ---------------------------------------------------------------------------------------------

SYNTHETIC_TREE = {
    "backend/__init__.py": '__version__ = "0"\n',
    # upward: L0 imports L2
    "backend/errors.py": "from backend.manager import Manager\n",
    # private name, next to a public one from the same module (and a fine downward import)
    "backend/manager.py": (
        "from backend import __version__\nfrom backend.storage import Storage, _hidden\n"
    ),
    # stray third-party package; storage -> schemas is half of a cycle
    "backend/storage.py": "import requests\nfrom backend.schemas import Schema\n",
    # the other half of the cycle, hidden in a function; marshmallow is schemas' own
    "backend/schemas.py": (
        "import marshmallow\n\n\ndef load():\n    from backend.storage import Storage\n"
        "    return Storage\n"
    ),
    # app imported by something other than __main__, and only for typing
    "backend/chat/__init__.py": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from backend.app import App\n"
    ),
    "backend/app.py": "",
    # httpx is providers' own; `storage` resolves to the submodule, which providers may not use
    "backend/providers/__init__.py": "",
    "backend/providers/client.py": "import httpx\n\nfrom backend import storage\n",
    # wire does I/O and reaches back into providers, relatively
    "backend/providers/wire/__init__.py": "",
    "backend/providers/wire/codec.py": "import socket\n\nfrom .. import client\n",
    # in no layer
    "backend/gadget.py": "",
}


def test_the_checkers_catch_each_kind_of_violation(tmp_path: Path) -> None:
    for name, text in SYNTHETIC_TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    backend_dir = tmp_path / "backend"
    imports = collect_imports(backend_dir)

    assert unlayered_modules(backend_dir) == ["backend.gadget"]

    layers = layer_violations(imports)
    assert len(layers) == 4, report("layers", layers)
    expected = {
        "backend/errors.py:1 from backend.manager import Manager": "upward: backend.errors (L0)",
        "backend/chat/__init__.py:4 from backend.app import App": (
            "backend.app may be imported only by backend.__main__"
        ),
        "backend/providers/client.py:3 from backend import storage": (
            "backend.providers must not import backend.storage"
        ),
        "backend/providers/wire/codec.py:3 from .. import client": (
            "backend.providers.wire must not import backend.providers"
        ),
    }
    for where, why in expected.items():
        assert any(line.startswith(where) and why in line for line in layers), (where, layers)
    assert "upward: backend.chat (L2) imports backend.app (L4)" in "\n".join(layers)

    assert io_violations(imports) == [
        "backend/providers/wire/codec.py:1 import socket"
        "  [backend.providers.wire does no I/O: socket is banned]"
    ]
    assert private_violations(imports) == [
        "backend/manager.py:2 from backend.storage import Storage, _hidden  [private: _hidden]"
    ]
    assert third_party_violations(imports) == [
        "backend/storage.py:1 import requests  [requests has no owner in THIRD_PARTY_OWNERS]"
    ]
    assert cycle_violations(imports) == [
        "backend.schemas -> backend.storage -> backend.schemas\n"
        "    backend/schemas.py:5 from backend.storage import Storage\n"
        "    backend/storage.py:2 from backend.schemas import Schema"
    ]


def test_private_modules_and_owners_outside_their_component_are_caught(tmp_path: Path) -> None:
    tree = {
        "backend/__init__.py": "",
        "backend/providers/__init__.py": "from backend.providers import _impl\n",
        "backend/providers/_impl.py": "",
        "backend/providers/wire/__init__.py": "import httpx\n",
        "backend/server/__init__.py": "import backend.providers._impl\n",
    }
    for name, text in tree.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    imports = collect_imports(tmp_path / "backend")
    assert private_violations(imports) == [
        "backend/providers/__init__.py:1 from backend.providers import _impl  [private: _impl]",
        "backend/server/__init__.py:1 import backend.providers._impl  [private: _impl]",
    ]
    assert third_party_violations(imports) == [
        "backend/providers/wire/__init__.py:1 import httpx  [httpx belongs to backend.providers]"
    ]
