"""The package's layers import downwards only: codecs → hcf → cascade → sim / pcf / train →
analysis → cli, and the graph of its top-level modules and sub-packages has no cycle.

Every ``import`` counts, also one inside a function (a lazy import is still a dependency);
only imports under ``if TYPE_CHECKING:`` (annotations) are left out.
"""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "hcf_ray"
# lowest first; units on one rank may import each other (without a cycle)
CHAIN = [{"codecs"}, {"hcf"}, {"cascade"}, {"sim", "pcf", "train"}, {"analysis"}, {"cli"}]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hcf_ray"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    return lines


def import_graph() -> nx.DiGraph:
    """unit → unit it imports, each edge with the (file, line) of its imports."""
    graph = nx.DiGraph()
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        src = _unit(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        graph.add_node(src)
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "hcf_ray":
                    targets = [f"hcf_ray.{a.name}" for a in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if not target.startswith("hcf_ray"):
                    continue
                dst = _unit(target)
                if dst != src:
                    graph.add_edge(src, dst)
                    where = graph.edges[src, dst].setdefault("at", [])
                    where.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return graph


def test_the_module_graph_has_no_cycle():
    graph = import_graph()
    cycles = list(nx.simple_cycles(graph))
    shown = [
        " → ".join([*c, c[0]]) + f" ({graph.edges[c[0], c[1 % len(c)]]['at'][0]})"
        for c in cycles[:5]
    ]
    assert not cycles, "import cycles: " + "; ".join(shown)


def test_the_layers_import_downwards():
    graph = import_graph()
    rank = {unit: i for i, group in enumerate(CHAIN) for unit in group}
    upward = [
        f"{a} → {b} ({graph.edges[a, b]['at'][0]})"
        for a, b in graph.edges
        if a in rank and b in rank and rank[a] < rank[b]
    ]
    assert not upward, "a lower layer imports a higher one: " + "; ".join(upward)
    assert {"codecs", "hcf", "cascade", "sim", "pcf", "train", "analysis", "cli"} <= set(graph)


def test_the_check_sees_a_cycle(tmp_path, monkeypatch):
    """The checker itself can fail: a two-module package that imports in a circle."""
    pkg = tmp_path / "hcf_ray"
    (pkg / "a").mkdir(parents=True)
    (pkg / "a" / "__init__.py").write_text("from hcf_ray.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from hcf_ray.a import y\n")
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    assert sorted(map(sorted, nx.simple_cycles(import_graph()))) == [["a", "b"]]
