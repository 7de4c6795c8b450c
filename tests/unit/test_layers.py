"""The package map of recycle/__init__.py (`recycle.LAYERS`, read here, never copied) holds: no
module imports a higher layer, no import cycle (between modules, or between packages), production
code never imports recycle.testing, the jobs (jobs/*.py, above every layer) import only modules
that exist in the table, and no test or job reaches a private name of the library. There is no
exception list.

Imports are read with `ast` (nothing is imported): module-level, lazy ones inside functions, and
module paths named in strings (the lazy export tables, `importlib.import_module`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import recycle

ROOT = Path(recycle.__file__).resolve().parent
TESTS = Path(__file__).resolve().parents[1]
JOBS = ROOT.parent / "jobs"

LAYER = {package: rank for rank, packages in recycle.LAYERS.items() for package in packages}
MODULE_PATH = re.compile(r"recycle(\.[a-z_][a-z0-9_]*)+")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exists(module: str) -> bool:
    base = ROOT.parent.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(tree: ast.AST) -> set[str]:
    """The recycle modules a file imports, wherever in the file the import stands."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "recycle")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if (
                node.module.split(".")[0] == "recycle"
            ):  # `from recycle import columns as C`: a module
                out.update(f"{node.module}.{a.name}" if exists(f"{node.module}.{a.name}")
                           else node.module for a in node.names)  # fmt: skip
        elif is_module_path(node):
            out.add(node.value)
    return out


def is_module_path(node: ast.AST) -> bool:
    """A string naming a recycle module (not a logger name such as "recycle.progress")."""
    text = node.value if isinstance(node, ast.Constant) else None
    return isinstance(text, str) and bool(MODULE_PATH.fullmatch(text)) and exists(text)


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "recycle"


def test_no_module_imports_a_higher_layer():
    unknown, upward, testing = set(), [], []
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imported(ast.parse(path.read_text(encoding="utf-8")))):
            low, high = package(source), package(target)
            unknown.update(p for p in (low, high) if p not in LAYER)
            rising = low in LAYER and high in LAYER and LAYER[high] > LAYER[low]
            if rising:
                upward.append(f"{source} (layer {LAYER[low]}) imports {target} ({LAYER[high]})")
            if high == "testing" and low not in recycle.MAY_IMPORT_TESTING:
                testing.append(f"{source} imports {target}")
    assert not unknown, f"packages missing from the layer table (recycle/__init__.py): {unknown}"
    assert not upward, "upward imports:\n" + "\n".join(upward)
    assert not testing, "production code importing recycle.testing:\n" + "\n".join(testing)


def import_graph() -> dict[str, set[str]]:
    """Each recycle module -> the recycle modules it imports (lazy and TYPE_CHECKING ones too)."""
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = module_name(path)
        graph[source] = imported(ast.parse(path.read_text(encoding="utf-8"))) - {source}
    return graph


def a_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of `graph` as [a, b, ..., a], or [] when it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each package -> the other packages its modules import."""
    out: dict[str, set[str]] = {}
    for source, targets in modules.items():
        out.setdefault(package(source), set()).update(
            package(t) for t in targets if package(t) != package(source)
        )
    return out


def test_no_import_cycle_between_modules():
    cycle = a_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_packages():
    cycle = a_cycle(package_graph(import_graph()))
    assert not cycle, "package cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert package_graph({"recycle.x.m": {"recycle.y.n"}, "recycle.y.n": {"recycle.x.k"}}) == {
        "x": {"y"},
        "y": {"x"},
    }


def private_uses(tree: ast.AST) -> list[str]:
    """`from recycle.x import _y`, `module._y` on an imported recycle name, setattr(x, "_y")."""
    names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "recycle":
            names.update(a.asname or a.name for a in node.names)
            found += [f"{node.module}.{a.name}" for a in node.names if is_private(a.name)]
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names
                         if a.name.split(".")[0] == "recycle")  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in names:
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Call) and patches_private(node, names):
            found.append(ast.unparse(node))
    return found


def patches_private(call: ast.Call, names: set[str]) -> bool:
    """monkeypatch.setattr(recycle_name, "_y", ...) or setattr("recycle.x._y", ...)."""
    if getattr(call.func, "attr", getattr(call.func, "id", "")) not in ("setattr", "delattr"):
        return False
    args = [a.value if isinstance(a, ast.Constant) else a for a in call.args[:2]]
    if len(args) == 2 and isinstance(args[1], str) and isinstance(args[0], ast.Name):
        return args[0].id in names and is_private(args[1])
    dotted = args[0] if args and isinstance(args[0], str) else ""
    return dotted.startswith("recycle.") and is_private(dotted.rsplit(".", 1)[-1])


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_test_reaches_a_private_name_of_the_library():
    found = [
        f"{path.relative_to(TESTS.parent)}: {use}"
        for path in sorted(TESTS.rglob("*.py"))
        for use in private_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not found, "tests using private names (give the library a public seam):\n" + "\n".join(
        found
    )


def test_the_table_has_every_package_once():
    listed = [p for packages in recycle.LAYERS.values() for p in packages]
    on_disk = {package(module_name(p)) for p in ROOT.rglob("*.py")}
    assert len(listed) == len(set(listed)), "a package in two layers"
    assert set(listed) == on_disk, set(listed) ^ on_disk
    assert max(recycle.LAYERS) < recycle.JOBS_LAYER


def test_jobs_import_only_modules_of_the_table_and_no_private_name():
    unknown, private = [], []
    for path in sorted(JOBS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = imported(tree)
        unknown += [f"{path.name} imports {t}" for t in targets
                    if not exists(t) or package(t) not in LAYER]  # fmt: skip
        private += [f"{path.name}: {use}" for use in private_uses(tree)]
    assert JOBS.is_dir() and any(JOBS.glob("*.py"))
    assert not unknown, "jobs importing what the layer table does not hold:\n" + "\n".join(unknown)
    assert not private, "jobs using private names of the library:\n" + "\n".join(private)
