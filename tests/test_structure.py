"""The package's import graph: no cycles, and no module imports from a layer above its own.

Every ``import`` / ``from ... import`` of an ``ipdrop`` module is read with :mod:`ast` (top-level and
function-level imports alike: a lazy import is still a dependency), so the test needs no import of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ipdrop"

#: the layers, bottom first; a module may import from its own layer or lower ones only
LAYERS: list[set[str]] = [
    {"ipdrop._base", "ipdrop._io", "ipdrop._rundir", "ipdrop._deprecation"},
    {"ipdrop.estimators", "ipdrop.groundtruth", "ipdrop.toy"},
    {"ipdrop.dropout", "ipdrop.data"},
    {"ipdrop.models"},
    {"ipdrop.tracker"},
    {"ipdrop.training"},
    {"ipdrop.analysis"},
    {"ipdrop.runstore", "ipdrop.sweep"},
    {"ipdrop.plotting"},
    {"ipdrop.chapters"},
    # the package root (public API) and the deprecated aliases sit above everything they re-export
    {"ipdrop", "ipdrop.studies", "ipdrop.aggregate", "ipdrop.experiments", "ipdrop.figures", "ipdrop.theory"},
    {"ipdrop.cli"},
]

#: known violations in modules this layout does not yet own: each must disappear, not grow (an entry that no
#: longer occurs fails the test too, so the list only shrinks). (importer, imported) as layer names.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _layer_of(module: str) -> str:
    """The layer unit of a module: a subpackage (``ipdrop.estimators._edge``) counts as its package."""
    for layer in LAYERS:
        for unit in layer:
            if module == unit or (unit != "ipdrop" and module.startswith(unit + ".")):
                return unit
    raise AssertionError(f"module {module} is in no layer of tests/test_structure.py: add it to LAYERS")


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The ipdrop modules that ``module`` imports (resolving relative imports and ``from pkg import submodule``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "ipdrop"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ipdrop":
                continue
            for a in node.names:  # `from . import data` imports the submodule ipdrop.data
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    out.discard(module)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: {i for i in _imports(m, p, known) if i in known} for m, p in mods.items()}


def test_every_module_has_a_layer():
    for m in _modules():
        _layer_of(m)


def test_no_import_cycle_between_layer_units():
    units: dict[str, set[str]] = {}
    for m, deps in _graph().items():
        units.setdefault(_layer_of(m), set()).update(_layer_of(d) for d in deps)
    for u in units:
        units[u].discard(u)
    for a, b in KNOWN_UPWARD:  # the known exceptions are reported by the layer test
        units[a].discard(b)
    # depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(u, path):
        state[u] = 1
        for v in sorted(units.get(u, ())):
            if state.get(v) == 1:
                cycle = path[path.index(v) :] + [v] if v in path else [u, v]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if v not in state:
                visit(v, path + [v])
        state[u] = 2

    for u in sorted(units):
        if u not in state:
            visit(u, [u])


def test_no_import_from_a_higher_layer():
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    found = set()
    for m, deps in _graph().items():
        for d in deps:
            a, b = _layer_of(m), _layer_of(d)
            if rank[b] > rank[a]:
                found.add((a, b))
    unexpected = sorted(found - KNOWN_UPWARD)
    assert not unexpected, f"imports from a higher layer (importer, imported): {unexpected}"
    gone = sorted(KNOWN_UPWARD - found)
    assert not gone, f"fixed, remove from KNOWN_UPWARD in tests/test_structure.py: {gone}"


def test_the_graph_is_read():
    """Guards the parser itself: known edges must be found, or the tests above would pass vacuously."""
    g = _graph()
    assert "ipdrop.analysis" in g["ipdrop.chapters.planes"]
    assert "ipdrop.training" in g["ipdrop.chapters.planes"]
    assert "ipdrop.data" in g["ipdrop"]  # `from . import data, estimators`
    assert "ipdrop.estimators._dropout_mi" in g["ipdrop.chapters._common"]  # a lazy import in a function
    assert _layer_of("ipdrop.estimators._edge") == "ipdrop.estimators"


def test_chapter_notebooks_import_one_chapter_driver():
    # a chapter imports exactly one driver (plus GlueText, a glued string) and the book's style and tables
    # (ipdrop.plotting); chapters 3-5 read the results store through their driver (planes re-exports the store
    # reader ipdrop.chapters.paper), as does the claims chapter (claims)
    nb = PKG.parent / "notebooks"
    drivers = {
        "00_claims.md": "claims",
        "01_theory.md": "theory",
        "02_estimator.md": "estimator",
        "03_mnist.md": "planes",
        "04_cifar10.md": "planes",
        "05_beta.md": "planes",
        "06_sweeps.md": "sweeps",
        "07_reliability.md": "reliability",
    }
    assert sorted(drivers) == sorted(p.name for p in nb.glob("*.md")), "a chapter without a driver entry"
    for name, driver in drivers.items():
        assert (PKG / "chapters" / f"{driver}.py").is_file(), driver
        problems = notebook_import_problems((nb / name).read_text(encoding="utf-8"), driver)
        assert not problems, f"{name}: " + "; ".join(problems)


def notebook_import_problems(text: str, driver: str) -> list[str]:
    """What is wrong with the ipdrop imports of a chapter's text: anything but ``from ipdrop import plotting`` and
    one ``from ipdrop.chapters import [GlueText, ]<driver>`` (or ``from ipdrop.chapters.<driver> import ...``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("from ipdrop", "import ipdrop"))]
    if not lines:
        return ["imports nothing from ipdrop"]
    problems, used = [], set()
    for ln in lines:
        if ln == "from ipdrop import plotting":
            continue
        head, _, names = ln.partition(" import ")
        if head == "from ipdrop.chapters":
            mods = {n.strip() for n in names.split(",")} - {"GlueText"}
            used |= mods
        elif head.startswith("from ipdrop.chapters."):
            mods = {head.removeprefix("from ipdrop.chapters.")}
            used |= mods
        else:
            mods = {head}
        if mods and mods != {driver}:  # (a line importing GlueText alone is fine)
            problems.append(f"{ln!r}: a chapter imports from its one driver ipdrop.chapters.{driver} only")
    if len(used) > 1:
        problems.append(f"imports {len(used)} drivers {sorted(used)}; one chapter, one driver")
    return problems


def test_the_driver_import_check_fails_on_a_second_driver():
    ok = "from ipdrop import plotting\nfrom ipdrop.chapters import GlueText, planes\n"
    assert notebook_import_problems(ok, "planes") == []
    assert notebook_import_problems("from ipdrop.chapters import GlueText, paper, planes\n", "planes")
    assert notebook_import_problems("from ipdrop.chapters import claims, paper\n", "claims")
    assert notebook_import_problems(ok + "from ipdrop.chapters.paper import figure\n", "planes")
    assert notebook_import_problems("from ipdrop.analysis import compression\n", "planes")
    assert notebook_import_problems("import numpy\n", "planes") == ["imports nothing from ipdrop"]
    sweeps = "from ipdrop.chapters import GlueText\nfrom ipdrop.chapters.sweeps import x\n"
    assert notebook_import_problems(sweeps, "sweeps") == []


@pytest.mark.parametrize(
    "old", ["ipdrop.studies", "ipdrop.aggregate", "ipdrop.experiments", "ipdrop.figures", "ipdrop.theory"]
)
def test_deprecated_modules_forward_every_name_with_a_warning(old):
    import importlib

    mod = importlib.import_module(old)
    assert mod.__all__, old
    for name in mod.__all__:
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated; use ipdrop\.") as rec:
            obj = getattr(mod, name)
        new_home = str(rec[0].message).split("use ")[1].rsplit(".", 1)[0]
        assert obj is getattr(importlib.import_module(new_home), name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mod.nope  # noqa: B018
