"""The import graph of ``src/rnnkit``: no cycle anywhere, and each layer of the package imports only those below it.

Every module is parsed with :mod:`ast` (nothing is imported): the imports at module
level *and* inside functions and classes count, relative ones are resolved.  An
edge ``from pkg import name`` goes to ``pkg.name`` when that is a module, else to
``pkg``.  Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so that
package counts as imported too, unless it is an ancestor of the importing module
(a submodule does not import its own parent package by being in it; it does
when it says so, e.g. ``from .. import something_defined_in_init``).  Imports
under ``if TYPE_CHECKING:`` do not run, and do not count.

The layers (see DESIGN.md): cells and layers never import models, training, apps
or cli; saving never imports cells, layers, models, training, apps or cli;
training never imports cells, layers, models, apps or cli; decoding (greedy and beam
search) never imports cells, layers, saving, models, training, data, datasets, apps or cli; audio (reading
files, features, augmentation) never imports models, training, apps or cli; nothing imports cli;
nothing outside apps, report, serve and cli imports apps; nothing outside rnnkit.keras imports
rnnkit.keras (Keras' names are a face on top, mapped onto the core); the ground (errors, _validation,
_io, activations, initializers, random) imports only itself.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "rnnkit"

#: (importer prefix, forbidden prefixes, why).  A prefix matches the module itself and everything under it.
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("rnnkit.cells", ("rnnkit.models", "rnnkit.training", "rnnkit.apps", "rnnkit.cli"),
     "cells are one time step: they know no model, trainer, app or CLI"),
    ("rnnkit.layers", ("rnnkit.models", "rnnkit.training", "rnnkit.apps", "rnnkit.cli"),
     "layers know no model, trainer, app or CLI"),
    ("rnnkit.saving", ("rnnkit.cells", "rnnkit.layers", "rnnkit.models", "rnnkit.training", "rnnkit.apps", "rnnkit.cli"),
     "saving sits above the ground only: classes register themselves with it"),
    ("rnnkit.training", ("rnnkit.cells", "rnnkit.layers", "rnnkit.models", "rnnkit.apps", "rnnkit.cli"),
     "the trainer knows no model or layer class, app or CLI (state carrying is a protocol of the layers)"),
    ("rnnkit.decoding", ("rnnkit.cells", "rnnkit.layers", "rnnkit.saving", "rnnkit.models", "rnnkit.training",
                         "rnnkit.data", "rnnkit.datasets", "rnnkit.apps", "rnnkit.cli"),
     "decoding searches over a step function: it knows no model, layer, trainer, data, app or CLI"),
    ("rnnkit.audio", ("rnnkit.models", "rnnkit.training", "rnnkit.apps", "rnnkit.cli"),
     "audio turns files into features: it knows no model, trainer, app or CLI"),
    ("rnnkit", ("rnnkit.cli",), "nothing imports the CLI (it is the thin face on top)"),
]
#: Packages that may import the apps (everything else is the core, below them): the report and the server sit above
#: the apps (DESIGN.md), as the report shows each app's own sections (Recipe.report_sections, found with
#: apps.recipe_for) and the server answers with each app's Service (found with apps.service_for); the export too, as
#: a command declared with the app framework that knows the speech app's layers (StackFrames, SpectrogramConv).
APPS_ALLOWED = ("rnnkit.apps", "rnnkit.report", "rnnkit.export", "rnnkit.serve", "rnnkit.cli")
#: The ground: these import no other rnnkit module than each other.
GROUND = ("rnnkit.errors", "rnnkit._validation", "rnnkit._io", "rnnkit.activations", "rnnkit.initializers",
          "rnnkit.random")


# ----------------------------------------------------------------------------- the checker
def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_names(src: Path = SRC) -> dict[str, Path]:
    """``{'rnnkit.layers.core': path, 'rnnkit.layers': path of its __init__, ...}``."""
    names = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (they never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip.update(id(n) for n in ast.walk(child))
    return skip


@functools.lru_cache(maxsize=None)
def _parsed(source: str) -> ast.Module:
    """The syntax tree of ``source`` (each check walks the same files: they are parsed once per session)."""
    return ast.parse(source)


def imports_of(module: str, source: str, is_package: bool, modules: set[str]) -> set[str]:
    """The rnnkit modules ``module`` imports (explicitly), at any depth of its code."""
    tree = _parsed(source)
    skip = _type_checking_nodes(tree)
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                sub = f"{origin}.{alias.name}"
                targets.add(sub if sub in modules else origin)
    edges = set()
    for target in targets:
        if not _under(target, ROOT):
            continue
        while target not in modules and "." in target:  # `import rnnkit.x.attr` style: the nearest module
            target = target.rpartition(".")[0]
        if target == module:
            continue
        edges.add(target)
        # importing rnnkit.a.b.c runs the __init__ of rnnkit.a.b and rnnkit.a first (unless module is inside them)
        parent = target.rpartition(".")[0]
        while parent and not _under(module, parent):
            edges.add(parent)
            parent = parent.rpartition(".")[0]
    return edges


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    return {name: set(targets) for name, targets in _import_graph(src).items()}


@functools.lru_cache(maxsize=None)
def _import_graph(src: Path) -> dict[str, frozenset[str]]:
    names = module_names(src)
    return {
        name: frozenset(imports_of(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", set(names)))
        for name, path in names.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Per strongly connected component with a cycle (Tarjan's algorithm): its shortest cycle
    through its first module (``[a, b, ..., a]``) and all its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        start = min(component)
        # breadth-first search inside the component for the shortest way back to start
        paths = {start: [start]}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph.get(v, ())):
                    if w == start:
                        cycle = paths[v] + [start]
                        break
                    if w in component and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        cycles.append((cycle, component))
    return sorted(cycles, key=lambda c: c[0])


def forbidden_edges(graph: dict[str, set[str]]) -> list[str]:
    """``'a imports b: why'`` for every edge the layering rules forbid."""
    problems = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            for prefix, banned, why in RULES:
                if _under(importer, prefix) and any(_under(target, b) for b in banned) and not _under(importer, "rnnkit.cli"):
                    problems.append(f"{importer} imports {target}: {why}")
            if _under(target, "rnnkit.apps") and not any(_under(importer, p) for p in APPS_ALLOWED):
                problems.append(f"{importer} imports {target}: the core (all but apps and cli) knows no app")
            if _under(target, "rnnkit.keras") and not _under(importer, "rnnkit.keras"):
                problems.append(f"{importer} imports {target}: rnnkit.keras is a face on top that nothing below imports")
            if importer in GROUND and target not in GROUND:
                problems.append(f"{importer} imports {target}: the ground ({', '.join(GROUND)}) imports only itself")
    return problems


# ----------------------------------------------------------------------------- the tests
def test_the_checker_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "rnnkit"
    (pkg / "layers").mkdir(parents=True)
    (pkg / "models").mkdir()
    (pkg / "__init__.py").write_text("from . import layers\n__version__ = '1'\n")
    (pkg / "errors.py").write_text("")
    (pkg / "layers" / "__init__.py").write_text("from .core import Dense\n")
    (pkg / "layers" / "core.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from .. import errors\n"
        "if TYPE_CHECKING:\n    from ..models import Model\n"
        "def f():\n    from ..models.model import Model\n"
        "class C:\n    def g(self):\n        from rnnkit import __version__\n"
    )
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "model.py").write_text("import rnnkit.layers.core\n")
    graph = import_graph(tmp_path)
    assert graph["rnnkit.layers.core"] == {"rnnkit.errors", "rnnkit.models.model", "rnnkit.models", "rnnkit"}
    assert graph["rnnkit.models.model"] == {"rnnkit.layers.core", "rnnkit.layers"}
    assert graph["rnnkit"] == {"rnnkit.layers"}
    assert graph["rnnkit.layers"] == {"rnnkit.layers.core"}  # a package importing its submodule
    assert find_cycles(graph) == [(
        ["rnnkit", "rnnkit.layers", "rnnkit.layers.core", "rnnkit"],
        {"rnnkit", "rnnkit.layers", "rnnkit.layers.core", "rnnkit.models.model"},  # rnnkit.models imports nothing
    )]
    assert forbidden_edges(graph) == [
        "rnnkit.layers.core imports rnnkit.models: layers know no model, trainer, app or CLI",
        "rnnkit.layers.core imports rnnkit.models.model: layers know no model, trainer, app or CLI",
    ]


def test_the_checker_finds_a_synthetic_cycle_and_forbidden_edges():
    graph = {
        "rnnkit.a": {"rnnkit.b"}, "rnnkit.b": {"rnnkit.c"}, "rnnkit.c": {"rnnkit.a"}, "rnnkit.d": {"rnnkit.d"},
        "rnnkit.saving.registry": {"rnnkit.layers.core"}, "rnnkit.data.text": {"rnnkit.apps.textgen", "rnnkit.cli"},
        "rnnkit.cli": {"rnnkit.apps.textgen"}, "rnnkit.errors": {"rnnkit._io"}, "rnnkit.random": {"rnnkit.layers"},
        "rnnkit.training.loop": {"rnnkit.layers.recurrent"}, "rnnkit.decoding.search": {"rnnkit.models", "rnnkit.errors"},
        "rnnkit.audio.features": {"rnnkit.training.losses", "rnnkit._validation"},
        "rnnkit.models.x": {"rnnkit.keras.layers"}, "rnnkit.keras.layers": {"rnnkit.keras._missing", "rnnkit.layers"},
    }
    assert find_cycles(graph) == [
        (["rnnkit.a", "rnnkit.b", "rnnkit.c", "rnnkit.a"], {"rnnkit.a", "rnnkit.b", "rnnkit.c"}),
        (["rnnkit.d", "rnnkit.d"], {"rnnkit.d"}),
    ]
    assert forbidden_edges(graph) == [
        "rnnkit.audio.features imports rnnkit.training.losses: audio turns files into features: it knows no model, "
        "trainer, app or CLI",
        "rnnkit.data.text imports rnnkit.apps.textgen: the core (all but apps and cli) knows no app",
        "rnnkit.data.text imports rnnkit.cli: nothing imports the CLI (it is the thin face on top)",
        "rnnkit.decoding.search imports rnnkit.models: decoding searches over a step function: it knows no model, layer, "
        "trainer, data, app or CLI",
        "rnnkit.models.x imports rnnkit.keras.layers: rnnkit.keras is a face on top that nothing below imports",
        "rnnkit.random imports rnnkit.layers: the ground (rnnkit.errors, rnnkit._validation, rnnkit._io, "
        "rnnkit.activations, rnnkit.initializers, rnnkit.random) imports only itself",
        "rnnkit.saving.registry imports rnnkit.layers.core: saving sits above the ground only: classes register themselves with it",
        "rnnkit.training.loop imports rnnkit.layers.recurrent: the trainer knows no model or layer class, app or CLI "
        "(state carrying is a protocol of the layers)",
    ]


def test_rnnkit_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (module -> module it imports):\n" + "\n".join(
        f"{' -> '.join(cycle)}  (one of the cycles among these {len(members)} modules: {', '.join(sorted(members))})"
        for cycle, members in cycles
    )


def test_rnnkit_imports_respect_the_layers_of_the_package():
    problems = forbidden_edges(import_graph())
    assert not problems, "imports across the layers of the package:\n" + "\n".join(problems)


def private_names_imported(src: Path = SRC) -> list[str]:
    """``module: from origin import _name`` for every private name one rnnkit module takes from another.

    A private *module* (``from .. import _kernels``, ``from ._fused import run_fused``) is fine: the
    underscore there says "not for users", and the module's own public names are its interface.
    """
    modules = module_names(src)
    found = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(_parsed(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")
                origin = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            if not _under(origin, ROOT):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{origin}.{alias.name}" not in modules:
                    found.append(f"{module}: from {origin} import {alias.name}")
    return found


def test_the_private_name_check_finds_a_synthetic_case(tmp_path):
    pkg = tmp_path / ROOT
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_helpers.py").write_text("def ok(): pass\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def _secret(): pass\n")
    (pkg / "sub" / "b.py").write_text("from .a import _secret\nfrom .. import _helpers\nfrom .._helpers import ok\n")
    assert private_names_imported(tmp_path) == [f"{ROOT}.sub.b: from {ROOT}.sub.a import _secret"]


def test_no_module_imports_another_modules_private_names():
    found = private_names_imported()
    assert not found, ("private names taken from another module (give them a public name in a shared module, "
                       "e.g. rnnkit._validation):\n" + "\n".join(found))
