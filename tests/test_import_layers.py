"""The package's imports form no cycle, between modules or between layers.

* Module graph: every module of ``hcf_ray`` → each ``hcf_ray`` module it imports, read from
  the AST. Every ``import`` counts, at the top of a module and inside a function alike (a
  lazy import is still a dependency: it only moves the cycle to run time); only imports under
  ``if TYPE_CHECKING:`` (annotations) are left out. ``from pkg import name`` is an edge to
  ``pkg.name`` when that is a module, else to ``pkg``.
* Layers: codecs → hcf → cascade → sim / pcf / train → analysis → the command modules (cli,
  train_cli, evaluate_cli, calibrate_cli) import downwards only,
  and the graph of the top-level modules and sub-packages has no cycle.
"""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "hcf_ray"
# lowest first; units on one rank may import each other (without a cycle)
CHAIN = [
    {"codecs"},
    {"hcf"},
    {"cascade"},
    {"sim", "pcf", "train"},
    {"analysis"},
    {"cli", "train_cli", "evaluate_cli", "calibrate_cli"},  # the commands
]


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module):
    """Every import statement of a module, except those under ``if TYPE_CHECKING:``."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        todo.extend(ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]):
    """The package's modules one import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's own package up
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[: len(here) - (node.level - 1)]
        base = ".".join([*here, base] if base else here)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def module_graph(package: Path | None = None) -> nx.DiGraph:
    """module → module it imports, each edge with the (file:line) of its imports."""
    package = PACKAGE if package is None else package
    files = {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph = nx.DiGraph()
    for module, path in files.items():
        graph.add_node(module)
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text())):
            for target in _targets(node, module, is_package, set(files)):
                if target in files and target != module:
                    graph.add_edge(module, target)
                    where = graph.edges[module, target].setdefault("at", [])
                    where.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def unit_graph(package: Path | None = None) -> nx.DiGraph:
    """The module graph folded onto the top-level modules and sub-packages."""
    graph = nx.DiGraph()
    for a, b, data in module_graph(package).edges(data=True):
        graph.add_nodes_from((_unit(a), _unit(b)))
        if _unit(a) != _unit(b):
            graph.add_edge(_unit(a), _unit(b))
            graph.edges[_unit(a), _unit(b)].setdefault("at", []).extend(data["at"])
    return graph


def _cycles(graph: nx.DiGraph) -> list[str]:
    return [
        " → ".join([*c, c[0]]) + f" ({graph.edges[c[0], c[1 % len(c)]]['at'][0]})"
        for c in nx.simple_cycles(graph)
    ]


def test_no_module_imports_itself_through_others():
    cycles = _cycles(module_graph())
    assert not cycles, "import cycles: " + "; ".join(cycles[:5])


def test_the_units_have_no_cycle():
    cycles = _cycles(unit_graph())
    assert not cycles, "import cycles: " + "; ".join(cycles[:5])


def test_the_layers_import_downwards():
    graph = unit_graph()
    rank = {unit: i for i, group in enumerate(CHAIN) for unit in group}
    upward = [
        f"{a} → {b} ({graph.edges[a, b]['at'][0]})"
        for a, b in graph.edges
        if a in rank and b in rank and rank[a] < rank[b]
    ]
    assert not upward, "a lower layer imports a higher one: " + "; ".join(upward)
    assert {"codecs", "hcf", "cascade", "sim", "pcf", "train", "analysis", "cli"} <= set(graph)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "hcf_ray"
    for name, text in {"__init__.py": "", **files}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


def test_the_check_sees_a_module_cycle(tmp_path):
    """Two modules of one sub-package that import each other: one at the top, one lazily
    and relatively; a third module, its import only for type checking, stays out."""
    pkg = _package(
        tmp_path,
        {
            "sim/__init__.py": "",
            "sim/config.py": "from hcf_ray.sim.faults import Fault\n",
            "sim/faults.py": "def check():\n    from .config import ConfigError\n",
            "sim/scenario.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from hcf_ray.sim import config\n",
            "sim/world.py": "from hcf_ray.sim import faults\n",
        },
    )
    graph = module_graph(pkg)
    assert sorted(map(sorted, nx.simple_cycles(graph))) == [
        ["hcf_ray.sim.config", "hcf_ray.sim.faults"]
    ]
    assert set(graph.successors("hcf_ray.sim.world")) == {"hcf_ray.sim.faults"}
    assert set(graph.successors("hcf_ray.sim.scenario")) == set()
    shown = _cycles(graph)
    assert len(shown) == 1
    assert "(hcf_ray/sim/config.py:1)" in shown[0] or "(hcf_ray/sim/faults.py:2)" in shown[0]
    # one package, so the folded graph has no cycle: only the module check sees this one
    assert not list(nx.simple_cycles(unit_graph(pkg)))


def test_the_check_sees_a_unit_cycle(tmp_path):
    """A sub-package and a top-level module that import each other."""
    pkg = _package(
        tmp_path,
        {"a/__init__.py": "from hcf_ray.b import x\n", "b.py": "def f():\n    import hcf_ray.a\n"},
    )
    assert sorted(map(sorted, nx.simple_cycles(unit_graph(pkg)))) == [["a", "b"]]
