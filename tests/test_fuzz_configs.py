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


def mutate(data: dict, rng: random.Random) -> tuple[dict, str]:
    """One seeded mutation of a config; returns it and what was done."""
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
        data, a = mutate(data, rng)
        data, b = mutate(data, rng)
        return data, f"{a} + {b}"
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
    if kind == "delete":
        del parent[key]
    elif kind == "type":
        parent[key] = rng.choice(HOSTILE)
    elif kind == "negative":
        parent[key] = -abs(parent[key]) - rng.choice([0, 1, 0.5])
    elif kind == "huge":
        parent[key] = rng.choice([1e300, 10**18, 2**63, 1e9])
    elif kind == "nonfinite":
        parent[key] = rng.choice([math.inf, -math.inf, math.nan])
    elif kind == "unknown_node":
        parent[key] = "ghost"
    elif kind == "empty_list":
        parent[key] = []
    elif kind == "string_number":
        parent[key] = str(parent[key])
    elif kind == "bool_int":
        parent[key] = rng.choice([True, False])
    elif kind == "ident":
        parent[key] = rng.choice(IDENTS)
    elif kind == "duplicate":
        items = parent[key]
        if items:
            items.append(copy.deepcopy(rng.choice(items)))
        else:
            parent[key] = [None]
    elif kind == "unknown_key":
        target = _get(data, path)
        target[rng.choice(["colour", "\x1b[1mbold", "speed ", "nodes2"])] = rng.choice(NUMBERS)
        where = "/".join(map(str, path)) + "/+key"
    numeric_kind = kind in ("type", "negative", "huge", "nonfinite", "string_number", "bool_int")
    if numeric_kind and numeric and rng.random() < 0.3:  # sometimes a second number too
        p2, k2 = rng.choice(numeric)
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _get(data, p2)[k2] = rng.choice(NUMBERS)
    return data, f"{kind} {where}"


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


def test_seeded_mutations_of_the_shipped_configs(tmp_path, capsys, workdir):
    cases = tmp_path / "cases"
    cases.mkdir()
    refused = accepted = 0
    kinds: dict[str, int] = {}
    t0 = time.monotonic()
    for name, count in SEEDS.items():
        base = _seed_config(name)
        rng = random.Random(f"fuzz:{name}")
        for i in range(count):
            data, what = mutate(base, rng)
            path = cases / f"{name}-{i:03d}.yaml"
            path.write_text(dump(data))
            rc = check(path, capsys, workdir)
            refused += rc == 2
            accepted += rc == 0
            kinds[what.split()[0]] = kinds.get(what.split()[0], 0) + (rc == 2)
    total = sum(SEEDS.values())
    assert refused + accepted == total
    print(f"mutations: {refused} refused, {accepted} accepted; refused by kind {kinds}")
    assert refused >= 300, (refused, accepted, kinds)
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
