"""Fuzzed configs: every malformed topology or sweep YAML is either accepted by ``validate``
(exit 0) or refused properly — exit 2, exactly one line on stderr of at most 200 characters
besides the file name, no traceback, no escape sequence, no hang, nothing written anywhere.

Seeded mutations of the shipped ``topologies/*.yaml`` (deleted keys, wrong types, negative,
huge, infinite and NaN numbers, unknown node references, empty lists, strings for numbers,
bools for ints, unicode/ANSI ids, duplicated entries, unknown keys), hand-written cases of
every class of bad input, and hostile policy files. Most run in-process; a few run as real
``python -m hcf_ray.cli`` processes. No Ray, no models.
"""

import contextlib
import copy
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from configs import LINE

from hcf_ray.cli import main
from hcf_ray.sim.config import MAX_LINE

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"
SEEDS = {  # shipped file → mutations drawn from it
    "mesh": 70,
    "line": 50,
    "tree": 50,
    "star": 50,
    "zoo": 45,
    "isp150": 25,
    "sweep": 60,
    "traced": 30,
}
CASE_LIMIT_S = 20.0  # one in-process validate

HOSTILE = [
    "x",
    "",
    True,
    False,
    None,
    [],
    {},
    -1,
    0,
    -0.5,
    3.5,
    1e308,
    -1e308,
    10**30,
    math.inf,
    -math.inf,
    math.nan,
    "12",
    "\x1b[31mred\x1b[0m",
    "名前",
    "a\nb",
    "x" * 300,
    "../x",
    "/etc/passwd",
    [[[[]]]],
    {"a": 1},
    ["ghost"],
    "random:notanarch",
    "zoo:",
    "\u202eevil",
]
IDENTS = ["ghost", "\x1b[2J", "名前", "a\nb", "", "x" * 65, "../up", " lead", "a/b", "\u2028"]
NUMBERS = [-1, -1e-9, 0, 1e-12, 1e300, 10**20, math.inf, math.nan, True, "7"]


def _absolutize(data: dict, base: Path) -> dict:
    """Relative file references made absolute, so the mutated copy (written elsewhere)
    points at the same files."""
    if isinstance(data.get("graph"), dict) and "file" in data["graph"]:
        data["graph"]["file"] = str(base / data["graph"]["file"])
    if isinstance(data.get("demands"), str):
        data["demands"] = str(base / data["demands"])
    links = data.get("links") if isinstance(data.get("links"), list) else []
    for link in links:
        bg = link.get("background") or {}
        for trace in (link.get("trace"), link.get("reverse_trace"), bg.get("utilisation")):
            if isinstance(trace, dict) and isinstance(trace.get("file"), str):
                trace["file"] = str(base / trace["file"])
    for flow in data.get("flows", []):
        pol = flow.get("policy")
        if isinstance(pol, str) and ".py:" in pol and not pol.startswith("/"):
            flow["policy"] = str(base / pol)
    return data


def _seed_config(name: str) -> dict:
    data = yaml.safe_load((TOPOLOGIES / f"{name}.yaml").read_text())
    data = _absolutize(data, TOPOLOGIES)
    if name == "sweep":  # a smaller sweep keeps each accepted mutation fast
        data["generators"] = data["generators"][:2]
        for g in data["generators"]:
            g["params"]["n"] = 8
        data["seeds"] = [0]
        data["policies"] = ["edge", "late"]
    return data


def _paths(node, prefix=()):
    """Every (container path, key) in the data."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _get(data, path):
    for k in path:
        data = data[k]
    return data


# -- which mutations must be refused --------------------------------------------------------
# A check is "still bad": it looks the mutated spot up again in the final data (a second
# mutation may have deleted or replaced it) and says whether the bad value is still there.
Bad = Callable[[dict], bool]

# (container, key): fields no config may leave out ("" is the top level); a list's items are
# named by the list ("links" for links[3])
REQUIRED = {
    ("nodes", "id"),
    ("links", "src"),
    ("links", "dst"),
    ("links", "bandwidth_mbps"),
    ("flows", "source"),
    ("flows", "destinations"),
    ("destinations", "node"),
    ("destinations", "level"),
    ("generators", "kind"),
    ("", "flows"),
    ("", "generators"),
}
REFERENCES = ("src", "dst", "source", "node")  # node references
FREE_FORM = ("args", "resources")  # mappings whose keys and values the user chooses


def _container(path: tuple) -> str:
    """The name of the mapping at ``path``: ``links`` for ``links/3``, "" for the top."""
    names = [k for k in path if isinstance(k, str)]
    return names[-1] if names else ""


def _node_ids(data: dict) -> set:
    nodes = data.get("nodes")
    return {n.get("id") for n in nodes if isinstance(n, dict)} if isinstance(nodes, list) else set()


def _still(path: tuple, key, bad: Callable[[object, dict], bool]) -> Bad:
    def check(data: dict) -> bool:
        try:
            value = _get(data, path)[key]
        except (KeyError, IndexError, TypeError):
            return False
        return bad(value, data)

    return check


def _still_absent(path: tuple, key) -> Bad:
    def check(data: dict) -> bool:
        try:
            parent = _get(data, path)
        except (KeyError, IndexError, TypeError):
            return False
        return isinstance(parent, dict) and key not in parent

    return check


def _same(new) -> Callable[[object, dict], bool]:
    return lambda v, _data: type(v) is type(new) and v == new


def _nonfinite(v, _data) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _has_duplicates(v, _data) -> bool:
    return isinstance(v, list) and any(v.count(x) > 1 for x in v)


def mutate(data: dict, rng: random.Random) -> tuple[dict, str, list[Bad]]:
    """One seeded mutation of a config; returns it, what was done, and the checks of the
    mutations that make any config invalid (empty: the result may be valid).

    Must be refused: a non-finite number; a number given as a string or a bool; a number made
    negative (not ``seed``, which may be); 1e300 or 2**63 (beyond every range); a node
    reference to a node that does not exist; a malformed name or id; an empty list of flows,
    destinations, methods, generators, seeds, policies or a range; an unknown key (not in a
    free-form mapping); a required field deleted; a node or link given twice."""
    data = copy.deepcopy(data)
    spots = _paths(data)
    kind = rng.choice(
        [
            "delete",
            "type",
            "type",
            "negative",
            "huge",
            "nonfinite",
            "unknown_node",
            "empty_list",
            "string_number",
            "bool_int",
            "ident",
            "duplicate",
            "unknown_key",
            "double",
        ]
    )
    if kind == "double":  # two mutations at once
        data, a, bad_a = mutate(data, rng)
        data, b, bad_b = mutate(data, rng)
        return data, f"{a} + {b}", bad_a + bad_b
    numeric = [
        (p, k)
        for p, k in spots
        if isinstance(_get(data, p)[k], int | float) and not isinstance(_get(data, p)[k], bool)
    ]
    strings = [(p, k) for p, k in spots if isinstance(_get(data, p)[k], str)]
    idents = [
        (p, k) for p, k in strings if k in ("id", "src", "dst", "source", "node", "name", "kind")
    ]
    lists = [(p, k) for p, k in spots if isinstance(_get(data, p)[k], list)]
    dict_keys = [(p, k) for p, k in spots if isinstance(_get(data, p), dict)]
    pool = {
        "delete": dict_keys,
        "type": spots,
        "negative": numeric,
        "huge": numeric,
        "nonfinite": numeric,
        "unknown_node": idents,
        "empty_list": lists,
        "string_number": numeric,
        "bool_int": numeric,
        "ident": idents,
        "duplicate": lists,
        "unknown_key": [((), None)]
        + [(p, None) for p, k in spots if isinstance(_get(data, p), dict)],
    }[kind] or spots
    path, key = rng.choice(pool)
    parent = _get(data, path)
    where = "/".join(map(str, (*path, key)))
    free = any(k in FREE_FORM for k in path if isinstance(k, str))
    old = parent[key] if key is not None else None
    number = isinstance(old, int | float) and not isinstance(old, bool)
    bad: list[Bad] = []
    if kind == "delete":
        del parent[key]
        if (_container(path), key) in REQUIRED:
            bad.append(_still_absent(path, key))
    elif kind == "type":
        parent[key] = rng.choice(HOSTILE)
    elif kind == "negative":
        parent[key] = -abs(parent[key]) - rng.choice([0, 1, 0.5])
        if parent[key] != old and key != "seed" and number and not free:
            bad.append(_still(path, key, _same(parent[key])))
    elif kind == "huge":
        parent[key] = rng.choice([1e300, 10**18, 2**63, 1e9])
        if parent[key] in (1e300, 2**63) and number and not free:
            bad.append(_still(path, key, _same(parent[key])))
    elif kind == "nonfinite":
        parent[key] = rng.choice([math.inf, -math.inf, math.nan])
        if number:
            bad.append(_still(path, key, _nonfinite))
    elif kind == "unknown_node":
        parent[key] = "ghost"
        if key in REFERENCES:  # ghost stays unknown unless another mutation names a node so
            bad.append(_still(path, key, lambda v, d: v == "ghost" and "ghost" not in _node_ids(d)))
    elif kind == "empty_list":
        parent[key] = []
        if key not in ("nodes", "links", "faults") and not free:
            bad.append(_still(path, key, lambda v, _d: v == []))
    elif kind == "string_number":
        parent[key] = str(parent[key])
        if number and not free:
            bad.append(_still(path, key, _same(parent[key])))
    elif kind == "bool_int":
        parent[key] = rng.choice([True, False])
        if number and not free:
            bad.append(_still(path, key, _same(parent[key])))
    elif kind == "ident":
        parent[key] = rng.choice(IDENTS)
        if parent[key] != "ghost" and isinstance(key, str):
            bad.append(_still(path, key, _same(parent[key])))
    elif kind == "duplicate":
        items = parent[key]
        if items:
            items.append(copy.deepcopy(rng.choice(items)))
            if key in ("nodes", "links"):
                bad.append(_still(path, key, _has_duplicates))
        else:
            parent[key] = [None]
    elif kind == "unknown_key":
        target = _get(data, path)
        value = rng.choice(NUMBERS)  # drawn before the key (the seeded cases stay the same)
        new_key = rng.choice(["colour", "\x1b[1mbold", "speed ", "nodes2"])
        target[new_key] = value
        where = "/".join(map(str, path)) + "/+key"
        if not any(k in FREE_FORM for k in path if isinstance(k, str)):
            bad.append(_still(path, new_key, lambda _v, _d: True))
    numeric_kind = kind in ("type", "negative", "huge", "nonfinite", "string_number", "bool_int")
    if numeric_kind and numeric and rng.random() < 0.3:  # sometimes a second number too
        p2, k2 = rng.choice(numeric)
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _get(data, p2)[k2] = rng.choice(NUMBERS)
    return data, f"{kind} {where}", bad


def dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False)


def check(path: Path, capsys, workdir: Path) -> int:
    """validate in-process: 0, or 2 with one clean line; returns the exit code."""
    capsys.readouterr()
    t0 = time.monotonic()
    rc = main(["validate", str(path)])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert elapsed < CASE_LIMIT_S, f"{path.name}: {elapsed:.1f} s"
    assert "Traceback" not in err and "Traceback" not in out, err
    assert rc in (0, 2), f"{path.name}: exit {rc}: {err}"
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1, f"{path.name}: {err}"
        assert lines[0].startswith(f"hcf-sim: error: {path}: "), lines[0]
        assert len(lines[0]) <= MAX_LINE + len(str(path)), lines[0]
        assert lines[0].isprintable(), repr(lines[0])
    assert not any(workdir.iterdir()), "validate wrote something"
    return rc


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current directory that must stay empty (nothing written outside)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HCF_POLICY_TIMEOUT_S", "0.5")
    return cwd


# -- what an accepted config must hold (checked on the YAML itself) -----------------------------
TOP_LEVEL = 6  # the shipped configs' codec (default) has levels 1..6
METHODS = {"hcf", "drf", "ssf"}
POLICIES = {"edge", "late", "uniform"}


def _numbers(node, where=""):
    """Every number of the YAML data (bools are not numbers) with where it is."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{where}/{i}")
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield where, node


def _is_int(v) -> bool:
    return type(v) is int


def _is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _good_id(v) -> bool:
    """1-64 printable ASCII characters, no slash, no space at either end."""
    return (
        isinstance(v, str)
        and 1 <= len(v) <= 64
        and v.isascii()
        and v.isprintable()
        and "/" not in v
        and v == v.strip()
    )


def _good_trace(t: dict) -> bool:
    """An accepted trace config: a known format, an existing file, offset >= 0, and csv's
    own keys only for csv."""
    csv_keys = {"column", "step_s", "where"}
    fmt = t.get("format")
    ok = fmt in ("pensieve", "mahimahi", "csv") and Path(str(t.get("file"))).is_file()
    ok = ok and _is_number(t.get("offset_s", 0)) and 0 <= t.get("offset_s", 0) <= 1e9
    ok = ok and t.get("loop", True) in (True, False)
    if fmt == "csv":
        return ok and {"column", "step_s"} <= set(t) and t["step_s"] > 0
    return ok and not csv_keys & set(t)


def _check_topology(path: Path, data: dict) -> None:
    import networkx as nx

    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.scenario import load_scenario

    cfg = load_config(path)  # the project's loader gives back the YAML's values
    graph = nx.Graph()
    if isinstance(data.get("graph"), dict):
        graph = nx.Graph(nx.read_gml(data["graph"]["file"], label="label"))
    nodes = data.get("nodes", [])
    ids = [n["id"] for n in nodes]
    assert all(map(_good_id, ids)) and len(set(ids)) == len(ids), ids
    assert [n.id for n in cfg.nodes] == ids
    known = set(ids) | set(graph.nodes)
    for n, loaded in zip(nodes, cfg.nodes, strict=True):
        speed, cores = n.get("speed", 1.0), n.get("cores", 1)
        assert _is_number(speed) and 1e-6 <= speed <= 1e6, n
        assert _is_int(cores) and cores >= 1, n
        assert loaded.speed in (None, speed) and loaded.cores in (None, cores)
    reach = nx.DiGraph()
    reach.add_edges_from(graph.edges)
    reach.add_edges_from((v, u) for u, v in graph.edges)
    for link, loaded in zip(data.get("links", []), cfg.links, strict=True):
        src, dst, bw = link["src"], link["dst"], link.get("bandwidth_mbps")
        lat, loss = link.get("latency_ms", 1.0), link.get("loss", 0.0)
        assert src in known and dst in known and src != dst, link
        if "trace" in link:  # a traced link: its speed is the trace, no bandwidth_mbps
            assert bw is None and _good_trace(link["trace"]), link
        else:
            assert _is_number(bw) and 0.001 <= bw <= 1e7, link
        if "reverse_trace" in link:
            assert _good_trace(link["reverse_trace"]) and not link.get("directed"), link
        if "background" in link:
            u = link["background"]["utilisation"]
            assert _good_trace(u) if isinstance(u, dict) else _is_number(u) and 0 <= u <= 1, link
        assert _is_number(lat) and 0 <= lat <= 3_600_000, link
        assert _is_number(loss) and 0 <= loss < 1, link
        assert (loaded.src, loaded.dst, loaded.bandwidth_mbps) == (src, dst, bw)
        assert (loaded.latency_ms, loaded.loss) == (lat, loss)
        reach.add_edge(src, dst)
        if not link.get("directed", False):
            reach.add_edge(dst, src)
    names = [f.get("name") or f"flow{i}" for i, f in enumerate(data["flows"])]
    assert len(set(names)) == len(names), names
    for f, loaded in zip(data["flows"], cfg.flows, strict=True):
        top = f.get("source_level", TOP_LEVEL)
        assert _is_int(top) and 1 <= top <= TOP_LEVEL, f
        assert f["source"] in known and f["destinations"], f
        assert set(f.get("methods", METHODS)) <= METHODS and f.get("methods") != []
        assert _is_number(f.get("interval_ms", 0)) and f.get("interval_ms", 0) >= 0
        for d in f["destinations"]:
            assert d["node"] in known and _is_int(d["level"]) and 1 <= d["level"] <= top, d
            assert nx.has_path(reach, f["source"], d["node"]), (f["source"], d)
        assert loaded.source == f["source"]
        assert [(d.node, d.level) for d in loaded.destinations] == [
            (d["node"], d["level"]) for d in f["destinations"]
        ]
    scenario = load_scenario(path)
    for run in scenario.flows:  # each method planned once
        assert len(set(run.methods)) == len(run.methods) and set(run.methods) <= METHODS


def _check_sweep(path: Path, data: dict) -> None:
    from hcf_ray.sim.sweep import load_sweep

    sweep = load_sweep(path)
    cfg = sweep.config
    seeds = data.get("seeds", [0])
    assert seeds and all(_is_int(s) and 0 <= s < 2**32 for s in seeds), seeds
    assert list(cfg.seeds) == seeds
    kinds = {"random_geometric", "waxman", "barabasi_albert", "balanced_tree"}
    for g, loaded in zip(data["generators"], cfg.generators, strict=True):
        assert g["kind"] in kinds and (loaded.kind, loaded.params) == (g["kind"], g["params"])
        assert all(_is_number(v) and v > 0 for v in g["params"].values()), g
    ranges = data.get("links", {})
    for key, low_bound in (("bandwidth_mbps", 0.001), ("latency_ms", 0.0)):
        if key in ranges:
            low, high = ranges[key]
            assert _is_number(low) and _is_number(high) and low_bound <= low <= high, ranges
            assert getattr(cfg.links, key) == (low, high)
    flow = data.get("flow", {})
    top = flow.get("source_level", TOP_LEVEL)
    low, high = flow.get("levels", (1, 4))
    assert _is_int(top) and _is_int(low) and _is_int(high) and 1 <= low <= high <= top <= 6
    assert (cfg.flow.source_level, tuple(cfg.flow.levels)) == (top, (low, high))
    for key, default in (("destinations", 2), ("max_images", 2)):
        assert _is_int(flow.get(key, default)) and flow.get(key, default) >= 1, flow
        assert getattr(cfg.flow, key) == flow.get(key, default)
    assert set(data.get("policies", ["edge"])) <= POLICIES and data.get("policies") != []
    assert set(data.get("methods", METHODS)) <= METHODS and data.get("methods") != []
    networks = [n["network"] for n in sweep.networks]
    assert len(set(networks)) == len(networks) == len(data["generators"]) * len(seeds)
    for world in sweep.worlds:
        assert world.seed in seeds and world.network in networks
        nodes = set(world.scenario.topology.nodes)
        assert all(link.src in nodes and link.dst in nodes for link in world.scenario.config.links)


def check_accepted(path: Path, data: dict) -> None:
    """An accepted config holds valid values, judged on the YAML itself (ranges, node names
    that exist in the graph, routes), and the project's loader gives back those values."""
    for where, v in _numbers(data):
        assert math.isfinite(v), f"{path.name}: {where} = {v} accepted"
    if "generators" in data:
        _check_sweep(path, data)
    else:
        _check_topology(path, data)


def test_seeded_mutations_of_the_shipped_configs(tmp_path, capsys, workdir):
    cases = tmp_path / "cases"
    cases.mkdir()
    refused = accepted = must = 0
    kinds: dict[str, int] = {}
    t0 = time.monotonic()
    for name, count in SEEDS.items():
        base = _seed_config(name)
        seed_path = cases / f"{name}.yaml"
        seed_path.write_text(dump(base))
        assert check(seed_path, capsys, workdir) == 0  # the unmutated seed is valid
        rng = random.Random(f"fuzz:{name}")
        for i in range(count):
            data, what, bad = mutate(base, rng)
            path = cases / f"{name}-{i:03d}.yaml"
            path.write_text(dump(data))
            rc = check(path, capsys, workdir)
            if any(still_bad(data) for still_bad in bad):
                must += 1
                assert rc == 2, f"{path.name} ({what}): accepted, must be refused"
            if rc == 0:
                check_accepted(path, data)
            refused += rc == 2
            accepted += rc == 0
            kinds[what.split()[0]] = kinds.get(what.split()[0], 0) + (rc == 2)
    total = sum(SEEDS.values())
    assert refused + accepted == total
    print(f"mutations: {refused} refused ({must} must), {accepted} accepted; by kind {kinds}")
    assert must >= 150 and accepted >= 10, (must, refused, accepted)  # both sides exercised
    assert time.monotonic() - t0 < 150


HEAD = "from hcf_ray.policy import Policy, PolicyVector\n"
POLICY_BODIES = [
    "        return 1 / 0\n",
    "        return None\n",
    "        return 7\n",
    "        return '10001'\n",
    "        return b'\\x01\\x00'\n",
    "        return [1.0] * (ctx.source_level - ctx.target_level + 1)\n",
    "        return [2] * (ctx.source_level - ctx.target_level + 1)\n",
    "        return [1]\n",
    "        return {1: 1}\n",
    "        return PolicyVector(9, 1, (1,) * 9)\n",
    "        import sys\n        sys.exit(3)\n",
    "        raise SystemExit\n",
    "        raise KeyError('\\x1b[31m' + 'k' * 400)\n",
    "        return ctx.nothing\n",
    "        while True:\n            pass\n",
    "        return list(range(10**9))[0:0] if False else self.choose(ctx)\n",
    "        raise ValueError('line one\\nline two')\n",
    "        import os\n        return os.environ['NO_SUCH_VAR_HCF']\n",
    "        return iter([1, 1])\n",
    "        return [True] * (ctx.source_level - ctx.target_level + 1)\n",
]
POLICY_MODULES = [
    "import sys\nsys.exit(2)\n",
    "raise RuntimeError('import time')\n",
    "def broken(:\n",
    "while True:\n    pass\n",
    HEAD + "class Other(Policy):\n    def choose(self, ctx):\n        return [1]\n",
    HEAD + "class P(Policy):\n    def __init__(self, x):\n        pass\n"
    "    def choose(self, ctx):\n        return [1]\n",
    HEAD + "class P(Policy):\n    pass\n",
    HEAD + "P = 3\n",
    "import hcf_ray.nothing_here\n",
    HEAD + "class P:\n    def choose(self, ctx):\n        return [1]\n",
]


def test_hostile_policy_files(tmp_path, capsys, workdir):
    """Every hostile policy is refused in one line naming the file (most with its line)."""
    base = _seed_config("line")
    base["codec"] = "random:mbt2018-mean"
    sources = [HEAD + "class P(Policy):\n    def choose(self, ctx):\n" + b for b in POLICY_BODIES]
    sources += POLICY_MODULES
    for i, code in enumerate(sources):
        pol = tmp_path / f"pol{i}.py"
        pol.write_text(code)
        for where in ("flow", "destination"):
            data = copy.deepcopy(base)
            spec = f"{pol}:P"
            if where == "flow":
                data["flows"][0]["policy"] = spec
            else:
                data["flows"][0]["destinations"][0]["policy"] = spec
            path = tmp_path / f"pol{i}-{where}.yaml"
            path.write_text(dump(data))
            assert check(path, capsys, workdir) == 2, code


# hand-written cases of every class (each must be refused)


def _classes() -> list[str | dict]:
    out: list[str | dict] = [
        "a: " + "[" * 20000 + "]" * 20000,
        "a: " + "{b: " * 5000 + "}" * 5000,
        "- " * 3000 + "x",
        "\t- bad: [",
        "name: a\nname: b\nflows: []",
        "\xff\xfe",
        "!!python/object/apply:os.system ['echo hi']",
        "[1, 2, 3]",
        "just a string",
        "",
    ]
    for field, values in {
        "name": ["x" * 300, "../x", "/abs", "a b", "", 5, None],
        "codec": ["random:notanarch", "zoo:", "zoo:nope", "random:mbt2018-mean:-1", 7, ""],
        "seed": [True, 1.5, math.nan, "3", 2**80],
        "placement": ["everywhere", 1],
        "model_budget_mb": [0, -1, math.inf, True],
    }.items():
        for v in values:
            out.append({**LINE, field: v})
    for v in [math.inf, math.nan, -1, 1e-9, 0, True, "10", 1e300, None]:
        out.append({**LINE, "links": [{**LINE["links"][0], "bandwidth_mbps": v}]})
        out.append({**LINE, "links": [{**LINE["links"][0], "latency_ms": v}]})
    for v in [True, 0, -2, 1.0, "2", math.nan, 10**9]:
        flows = copy.deepcopy(LINE["flows"])
        flows[0]["destinations"][0]["level"] = v
        out.append({**LINE, "flows": flows})
    for ident in IDENTS[1:]:  # all but 'ghost'
        out.append({**LINE, "nodes": [*LINE["nodes"], {"id": ident}]})
    dup = [*LINE["links"], dict(LINE["links"][1])]
    out.append({**LINE, "links": dup})
    out.append({**LINE, "links": [*LINE["links"], {"src": "c", "dst": "b", "bandwidth_mbps": 1}]})
    sweep = {
        "codec": "random:mbt2018-mean",
        "generators": [{"kind": "path", "params": {"n": 5}}],
        "flow": {"destinations": 1, "levels": [3, 4]},
        "methods": ["hcf"],
    }
    for change in [
        {"links": {"bandwidth_mbps": [100, 5]}},
        {"links": {"bandwidth_mbps": [-5, 10]}},
        {"links": {"latency_ms": [10, 1]}},
        {"links": {"latency_ms": [-5, 10]}},
        {"links": {"latency_ms": [0, math.nan]}},
        {"flow": {"levels": [1, 40], "source_level": 40}},
        {"flow": {"levels": [5, 2]}},
        {"flow": {"levels": [1, 9]}},
        {"generators": [{"kind": "waxman", "params": {"n": 10, "L": 0}}]},
        {"generators": [{"kind": "random_geometric", "params": {"n": 5, "radius": 1, "dim": 0}}]},
        {"generators": [{"kind": "path", "params": {"n": 200000}}]},
        {"generators": [{"kind": "path", "params": {"n": -5}}]},
        {"generators": [{"kind": "path", "params": {"n": 5, "bogus": 1}}]},
        {"generators": [{"kind": "hypercube_graph", "params": {"n": 5000}}]},
        {"generators": [{"kind": "balanced_tree", "params": {"r": 2, "h": 5000}}]},
        {"generators": [{"kind": "grid_2d", "params": {"m": 5000, "n": 5000}}]},
        {"generators": [{"kind": "watts_strogatz", "params": {"n": 10, "k": 12, "p": 0.1}}]},
        {"generators": [{"kind": "waxman", "params": {"n": 10, "beta": math.inf}}]},
        {"generators": []},
        {"seeds": [1.5]},
        {"policies": ["nope"]},
        {"codec": "zoo:"},
    ]:
        out.append({**sweep, **change})
    return out


def test_every_class_of_bad_input_is_refused(tmp_path, capsys, workdir):
    for i, case in enumerate(_classes()):
        path = tmp_path / f"class{i:03d}.yaml"
        if isinstance(case, str):
            path.write_bytes(case.encode("latin-1") if case.startswith("\xff") else case.encode())
        else:
            path.write_text(dump(case))
        assert check(path, capsys, workdir) == 2, case if isinstance(case, dict) else case[:40]


def test_real_processes(tmp_path):
    """A few real ``python -m hcf_ray.cli`` runs: validate of bad files, and a run of a
    config whose policy fails, refused before Ray starts (nothing written in --out)."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    ansi = tmp_path / "ansi.yaml"
    ansi.write_text(dump({**LINE, "nodes": [*LINE["nodes"], {"id": "\x1b[2J\x1b[31mX"}]}))
    pol = tmp_path / "loop.py"
    pol.write_text(
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        while True:\n"
        "            pass\n"
    )
    flows = copy.deepcopy(LINE["flows"])
    flows[0]["policy"] = f"{pol}:P"
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text(dump({**LINE, "flows": flows}))
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "PYTHONWARNINGS": "ignore",
        "HCF_POLICY_TIMEOUT_S": "1",
    }
    out = tmp_path / "out"
    for args, expected in [
        (["validate", str(deep)], "nested too deeply"),
        (["validate", str(ansi)], "nodes[3].id: node id '\\x1b[2J\\x1b[31mX' is not allowed"),
        (["run", str(bad_policy), "--out", str(out)], "choose() did not return within 1 s"),
    ]:
        res = subprocess.run(
            [sys.executable, "-m", "hcf_ray.cli", *args],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            cwd=tmp_path,
        )
        lines = res.stderr.splitlines()
        assert res.returncode == 2, res.stderr
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        assert expected in lines[0] and "\x1b" not in res.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ansi.yaml",
        "deep.yaml",
        "loop.py",
        "policy.yaml",
    ]


# -- graph files --------------------------------------------------------------------------------
ZOO = Path(__file__).parent / "data" / "topologyzoo"


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One seeded byte-level damage of a real graph file."""
    kind = rng.randrange(7)
    cut = rng.randrange(1, max(2, len(data)))
    if kind == 0:  # truncated
        return data[:cut]
    if kind == 1:  # a bracket or tag character removed
        spots = [i for i, b in enumerate(data) if b in b"[]<>"]
        i = rng.choice(spots) if spots else cut
        return data[:i] + data[i + 1 :]
    if kind == 2:  # random bytes in the middle
        return data[:cut] + bytes(rng.randrange(256) for _ in range(8)) + data[cut:]
    if kind == 3:  # a line repeated (duplicate nodes / edges / keys)
        lines = data.split(b"\n")
        i = rng.randrange(len(lines))
        return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    if kind == 4:  # a number made absurd
        return data.replace(b"Latitude ", b"Latitude 1e999", 1).replace(b"id 1\n", b"id -1\n", 1)
    if kind == 5:  # UTF-16 instead of UTF-8/Latin-1
        return data.decode("latin-1").encode("utf-16")
    return data.replace(b"edge", b"edg", 1)  # an unknown key


def _graph_case(tmp_path: Path, graph: Path, flow: dict | None = None) -> Path:
    cfg = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": str(graph)},
        "flows": [flow or {"source": "A", "destinations": [{"node": "B", "level": 1}]}],
    }
    path = tmp_path / f"{graph.stem}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(dump(cfg))
    return path


def test_bad_graph_files_are_refused(tmp_path, capsys, workdir):
    """Every class of bad graph input (unknown format, broken file, no route, a node named
    twice in a flow) is refused by validate in one line, exit 2; seeded damage of real Zoo
    files is refused the same way or accepted, never a traceback; ``hcf-sim graph`` agrees."""
    small = tmp_path / "small.gml"
    small.write_text(
        'graph [\n node [ id 0 label "A" ]\n node [ id 1 label "B" ]\n'
        ' node [ id 2 label "C" ]\n node [ id 3 label "D" ]\n'
        " edge [ source 0 target 1 ]\n edge [ source 1 target 2 ]\n]\n"
    )
    unknown = tmp_path / "net.csv"
    unknown.write_text("a,b\n1,2\n")
    broken = tmp_path / "broken.gml"
    broken.write_text('graph [\n node [ id 0 label "A" ]\n')
    empty = tmp_path / "empty.graphml"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.gml"
    must_refuse = [
        _graph_case(tmp_path, unknown),
        _graph_case(tmp_path, broken),
        _graph_case(tmp_path, empty),
        _graph_case(tmp_path, missing),
        # D has no link: no route from A
        _graph_case(tmp_path, small, {"source": "A", "destinations": [{"node": "D", "level": 1}]}),
        # a node named twice in one flow
        _graph_case(
            tmp_path,
            small,
            {"source": "A", "destinations": [{"node": "C", "level": 1}, {"node": "C", "level": 2}]},
        ),
        # a node the file does not have
        _graph_case(tmp_path, small, {"source": "A", "destinations": [{"node": "Z", "level": 1}]}),
    ]
    for path in must_refuse:
        assert check(path, capsys, workdir) == 2, path.name
    rng = random.Random(25)
    files = sorted((ZOO / "gml").glob("*.gml")) + sorted((ZOO / "graphml").glob("*.graphml"))
    outcomes = {0: 0, 2: 0}
    for i in range(60):
        src = rng.choice(files)
        bad = tmp_path / f"m{i}{src.suffix}"
        bad.write_bytes(_mutate_bytes(src.read_bytes(), rng))
        capsys.readouterr()
        rc = main(["graph", str(bad), "--json"])
        _out, err = capsys.readouterr()
        assert "Traceback" not in err and rc in (0, 2), (src.name, err)
        if rc == 2:
            assert len(err.splitlines()) == 1 and len(err.splitlines()[0]) <= MAX_LINE + len(
                str(bad)
            ), err
        outcomes[rc] += 1
        flow = {"source": "nowhere", "destinations": [{"node": "B", "level": 1}]}
        # the flow names no node of the file: refused whatever the damage
        assert check(_graph_case(tmp_path, bad, flow), capsys, workdir) == 2, src.name
    assert outcomes[2] > 0  # the damage is real: some files are refused
    assert not any(workdir.iterdir())


# -- link traces --------------------------------------------------------------------------------
TRACES = TOPOLOGIES / "traces"


def _traced_case(folder: Path, trace: dict, name: str) -> Path:
    """A line whose first link is driven by ``trace`` (paths relative to ``folder``)."""
    links = [{k: v for k, v in LINE["links"][0].items() if k != "bandwidth_mbps"}, LINE["links"][1]]
    links[0]["trace"] = trace
    path = folder / f"{name}.yaml"
    path.write_text(dump({**LINE, "links": links}))
    return path


BAD_TRACES = {  # name → (format, file contents or None for a missing file, the line named)
    "missing": ("pensieve", None, None),
    "unsorted": ("pensieve", "0.0\t1.5\n1.0\t2.0\n0.5\t3.0\n", 3),
    "negative": ("pensieve", "0.0\t1.5\n1.0\t-2.0\n", 2),
    "nan": ("pensieve", "0.0\t1.5\n1.0\t2.0\n2.0\tnan\n", 3),
    "empty": ("pensieve", "", 1),
    "blank": ("pensieve", "\n\n  \n", 1),
    "text": ("pensieve", "0.0\t1.5\nfast\tslow\n", 2),
    "mahimahi_text": ("mahimahi", "1\n1\n2\nfive\n", 4),
    "mahimahi_unsorted": ("mahimahi", "1\n5\n3\n", 3),
    "mahimahi_empty": ("mahimahi", "", 1),
    "mahimahi_negative": ("mahimahi", "1\n-4\n", 2),
    "csv_empty_cell": ("csv", "run,mbps\n1,2.5\n1,\n", 3),
    "csv_nan": ("csv", "run,mbps\n1,2.5\n1,NaN\n", 3),
}


def test_bad_trace_files_are_refused(tmp_path, capsys, workdir):
    """Every class of bad trace (missing, unsorted times, negative or NaN capacity, empty, a
    Mahimahi file with text, an empty CSV cell) is refused by validate and by run (before
    anything starts) in one line, exit 2, naming the trace file and the line; seeded damage
    of the shipped real traces is refused the same way or accepted, never a traceback."""
    cases = tmp_path / "cases"
    (cases / "traces").mkdir(parents=True)
    for name, (fmt, text, line) in BAD_TRACES.items():
        rel = f"traces/{name}.txt"
        if text is not None:
            (cases / rel).write_text(text)
        trace = {"file": rel, "format": fmt}
        if fmt == "csv":
            trace.update(column="mbps", step_s=1)
        path = _traced_case(cases, trace, name)
        assert check(path, capsys, workdir) == 2, name
        capsys.readouterr()
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert "links[0].trace: " in err and rel in err, err
        if line is not None:
            assert f"{rel}:{line}: " in err, err
        out = tmp_path / f"out-{name}"
        assert main(["run", str(path), "--out", str(out)]) == 2
        assert len(capsys.readouterr().err.splitlines()) == 1 and not out.exists()
    # a bad background trace and a bad reverse trace are named as such
    bg = {"utilisation": {"file": "traces/negative.txt", "format": "pensieve"}}
    path = cases / "background.yaml"
    path.write_text(dump({**LINE, "links": [{**LINE["links"][0], "background": bg}]}))
    assert check(path, capsys, workdir) == 2
    main(["validate", str(path)])
    assert "links[0].background.utilisation: traces/negative.txt:2: " in capsys.readouterr().err
    rng = random.Random(26)
    real = [
        ("pensieve", TRACES / "pensieve" / "norway_bus_1", {}),
        ("csv", TRACES / "5gophers" / "car-driving-trace-1.csv", {"column": "Verizon_throughput_mbps", "step_s": 1}),
    ]  # fmt: skip
    outcomes = {0: 0, 2: 0}
    for i in range(40):
        fmt, src, extra = rng.choice(real)
        bad = cases / "traces" / f"m{i}{src.suffix}"
        bad.write_bytes(_mutate_trace(src.read_bytes(), rng))
        path = _traced_case(cases, {"file": f"traces/{bad.name}", "format": fmt, **extra}, f"m{i}")
        outcomes[check(path, capsys, workdir)] += 1
    assert outcomes[2] > 0 and outcomes[0] > 0, outcomes  # some damage is fatal, some is not
    assert not any(workdir.iterdir())


def _mutate_trace(data: bytes, rng: random.Random) -> bytes:
    """One seeded damage of a real trace file."""
    lines = data.split(b"\n")
    i = rng.randrange(1, max(2, len(lines) - 1))
    kind = rng.randrange(7)
    if kind == 0:  # truncated mid-line
        return data[: rng.randrange(1, len(data))]
    if kind == 1:  # two lines swapped (times out of order)
        lines[i - 1], lines[i] = lines[i], lines[i - 1]
    elif kind == 2:  # a sign flipped
        lines[i] = lines[i].replace(b"\t", b"\t-", 1).replace(b",", b",-", 1)
    elif kind == 3:  # text in a number
        lines[i] = lines[i][:3] + b"x" + lines[i][3:]
    elif kind == 4:  # a cell emptied
        lines[i] = lines[i].rsplit(b",", 1)[0] + b"," if b"," in lines[i] else b""
    elif kind == 5:  # random bytes
        lines[i] = bytes(rng.randrange(256) for _ in range(6))
    else:  # blank lines and spaces instead of tabs
        lines[i] = b"\n  " + lines[i].replace(b"\t", b"   ")
    return b"\n".join(lines)
