"""Bad input never gives a traceback: one line on stderr naming the file, field or node,
exit code 2, nothing written, no hang (``--debug`` shows the traceback). No Ray, no models."""

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import networkx as nx
import pytest
import yaml
from configs import LINE_HCF as LINE

from hcf_ray.cli import main
from hcf_ray.policy._resolve import resolve_policy
from hcf_ray.policy._sandbox import PolicyError
from hcf_ray.sim.config import MAX_LINE, MIN_BANDWIDTH_MBPS, ConfigError, load_config, one_line
from hcf_ray.sim.generators import build_graph, check_generator
from hcf_ray.sim.graphio import safe_node_id
from hcf_ray.sim.report import _f
from hcf_ray.sim.topology import build_topology

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"

SWEEP = {
    "name": "s",
    "codec": "random:mbt2018-mean",
    "generators": [{"kind": "path", "params": {"n": 4}}],
    "seeds": [0],
    "flow": {"destinations": 1, "levels": [3, 4], "max_images": 1},
    "policies": ["edge"],
    "methods": ["hcf"],
}


def config(base: dict, **changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(base))
    for path, value in changes.items():
        keys = path.split("__")
        node = data
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = int(keys[-1]) if isinstance(node, list) else keys[-1]
        node[last] = value
    return data


def write(tmp_path: Path, data, name: str = "t.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def refused(capsys, path: Path, *extra: str, command: str = "validate") -> str:
    """Run the CLI in-process; assert exit 2 and one clean line; return the line."""
    capsys.readouterr()
    t0 = time.monotonic()
    rc = main([command, str(path), *extra])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in err and "\x1b" not in err
    assert line.startswith(f"hcf-sim: error: {path}: ")
    assert len(line) <= MAX_LINE + len(str(path)), line
    assert elapsed < 30, f"{elapsed:.1f} s"
    return line


# -- YAML itself ------------------------------------------------------------------------------
def test_deeply_nested_yaml_is_refused(tmp_path, capsys):
    deep = write(tmp_path, "a: " + "[" * 20000 + "]" * 20000 + "\n", "deep.yaml")
    assert "nested too deeply" in refused(capsys, deep)
    block = write(tmp_path, "a:\n" + "".join("  " * i + "- \n" for i in range(1, 1500)), "b.yaml")
    refused(capsys, block)  # indentation nesting: RecursionError caught
    nested = yaml.safe_load(yaml.safe_dump(LINE))
    value: list = []
    for _ in range(40):
        value = [value]
    nested["flows"][0]["methods"] = value
    assert "nested deeper than 32 levels" in refused(capsys, write(tmp_path, nested))


def test_alias_bomb_and_duplicate_keys(tmp_path, capsys):
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]")
    lines.append("name: *l8")
    assert "more than" in refused(capsys, write(tmp_path, "\n".join(lines) + "\n"))
    text = yaml.safe_dump(LINE, sort_keys=False) + "name: again\n"
    assert "duplicate key 'name'" in refused(capsys, write(tmp_path, text))


# -- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, field",
    [
        ({"links__0__latency_ms": math.inf}, "links[0].latency_ms: must be a finite number"),
        ({"links__0__bandwidth_mbps": math.nan}, "links[0].bandwidth_mbps: must be a finite"),
        ({"nodes__0__speed": math.inf}, "nodes[0].speed"),
        ({"nodes__0__resources": {"tpu": math.inf}}, "nodes[0].resources.tpu"),
        ({"flows__0__interval_ms": math.nan}, "flows[0].interval_ms"),
        ({"flows__0__destinations__0__level": True}, "destinations[0].level: Input should be"),
        ({"flows__0__n_q": True}, "flows[0].n_q"),
        ({"flows__0__max_images": "3"}, "flows[0].max_images"),
        ({"nodes__0__cores": False}, "nodes[0].cores"),
        ({"links__0__bandwidth_mbps": True}, "links[0].bandwidth_mbps"),
        ({"links__0__directed": 1}, "links[0].directed"),
        ({"seed": 1.5}, "seed"),
        ({"links__0__bandwidth_mbps": 1e-9}, "below the minimum 0.001 Mbit/s"),
        ({"links__0__latency_ms": 1e300}, "links[0].latency_ms: Input should be less than"),
        ({"flows__0__destinations__0__level": 10**30}, "destinations[0].level"),
    ],
)
def test_non_finite_bool_and_out_of_range_numbers(change, field, tmp_path, capsys):
    assert field in refused(capsys, write(tmp_path, config(LINE, **change)))


def test_near_zero_bandwidth_minimum_and_table_cells():
    assert MIN_BANDWIDTH_MBPS == 0.001
    for value, digits in [(1e300, 1), (-2.5e20, 2), (123456789.0, 0), (2**70, 1)]:
        cell = _f(value, digits)
        assert len(cell) <= 9 and float(cell) == pytest.approx(value, rel=0.01)
    assert _f(12.345, 2) == "12.35" and _f(None, 1) == "-" and _f(math.inf, 1) == "inf"
    assert _f(math.nan, 1) == "nan"


# -- names and node ids -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, expected",
    [
        ({"name": "x" * 300}, "name: name 'xxx"),
        ({"name": "../x"}, "name: name '../x' is not allowed"),
        ({"name": "/tmp/abs"}, "is not allowed"),
        ({"flows__0__name": "a/b"}, "flows[0].name"),
        ({"nodes__0__id": "\x1b[31mred"}, "nodes[0].id: node id '\\x1b[31mred' is not allowed"),
        ({"nodes__0__id": "a\nb"}, "nodes[0].id"),
        ({"links__0__src": "\x1b]0;pwned\x07"}, "links[0].src"),
        ({"flows__0__source": "名前"}, "flows[0].source"),
        ({"nodes__0__id": ""}, "nodes[0].id"),
    ],
)
def test_names_and_ids_are_restricted(change, expected, tmp_path, capsys):
    line = refused(capsys, write(tmp_path, config(LINE, **change)))
    assert expected in line


def test_long_name_run_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, config(LINE, name="y" * 300))
    refused(capsys, path, command="run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]  # no out/


def test_escapes_in_field_names_and_messages_are_printable(tmp_path, capsys):
    data = config(LINE)
    data["\x1b[2Jevil\nkey"] = 1
    line = refused(capsys, write(tmp_path, data))
    assert "\\x1b[2Jevil\\nkey: unknown field" in line
    assert one_line("a\u202eb\u2028c") == "a\\u202eb\\u2028c"


def test_gml_and_graphml_labels_are_mapped(tmp_path, capsys):
    assert safe_node_id("São Paulo") == "Sao Paulo"
    assert safe_node_id("a/b") == "a_b" and safe_node_id("\x1b[31mx") == "31mx"
    assert safe_node_id("///") == ""
    g = nx.Graph()
    g.add_node("n0", label="São Paulo")
    g.add_node("n1", label="../../etc")
    g.add_node("n2", label="red\tlight")
    g.add_edges_from([("n0", "n1"), ("n1", "n2")])
    path = tmp_path / "odd.graphml"
    nx.write_graphml(g, path)
    data = {
        "codec": "random:mbt2018-mean",
        "graph": {"file": path.name},
        "flows": [{"source": "Sao Paulo", "destinations": [{"node": "red_light", "level": 4}]}],
    }
    cfg = load_config(write(tmp_path, data))
    assert set(build_topology(cfg).nodes) == {"Sao Paulo", "etc", "red_light"}
    assert main(["validate", str(write(tmp_path, data))]) == 0
    # GML (as the Zoo writes it) with an ANSI escape and a newline in its labels
    gml = tmp_path / "odd.gml"
    gml.write_text(
        'graph [\n  node [ id 0 label "&#27;[2J&#27;[31mSao Paulo" ]\n'
        '  node [ id 1 label "x&#10;y" ]\n  edge [ source 0 target 1 ]\n]\n'
    )
    gdata = {**data, "graph": {"file": gml.name}}
    gdata["flows"] = [{"source": "2J_31mSao Paulo", "destinations": [{"node": "x_y", "level": 4}]}]
    assert main(["validate", str(write(tmp_path, gdata, "g.yaml"))]) == 0
    # labels that collide once mapped: the file's ids
    g2 = nx.relabel_nodes(g, {})
    for n in g2:
        g2.nodes[n]["label"] = "é"
    nx.write_graphml(g2, path)
    cfg = load_config(write(tmp_path, data))
    assert set(build_topology(cfg).nodes) == {"n0", "n1", "n2"}
    # an unreadable file, and one with a link slower than the minimum
    path.write_text("<graphml><graph><node id='a'/></graph")
    assert "graph.file: cannot read" in refused(capsys, write(tmp_path, data))
    g3 = nx.Graph()
    g3.add_edge("a", "b", LinkSpeedRaw=1.0)  # 1 bit/s
    nx.write_graphml(g3, path)
    assert "graph.file: edge 'a'–'b': bandwidth_mbps" in refused(capsys, write(tmp_path, data))
    # the shipped 150-node GML still loads
    assert main(["validate", str(TOPOLOGIES / "isp150.yaml")]) == 0


# -- links ----------------------------------------------------------------------------------------
def test_duplicate_links_name_both_entries(tmp_path, capsys):
    dup = [*LINE["links"], dict(LINE["links"][0])]
    line = refused(capsys, write(tmp_path, config(LINE, links=dup)))
    assert "links[2]: duplicate link 'a'→'b', already given by links[0]" in line
    rev = [*LINE["links"], {"src": "b", "dst": "a", "bandwidth_mbps": 5}]
    assert "links[2]: duplicate link 'b'→'a', already given by links[0] (undirected" in refused(
        capsys, write(tmp_path, config(LINE, links=rev))
    )
    one_way = [
        {"src": "a", "dst": "b", "bandwidth_mbps": 10, "directed": True},
        {"src": "b", "dst": "a", "bandwidth_mbps": 5, "directed": True},
        {"src": "b", "dst": "c", "bandwidth_mbps": 10},
    ]
    assert main(["validate", str(write(tmp_path, config(LINE, links=one_way)))]) == 0
    mixed = [*one_way, {"src": "a", "dst": "b", "bandwidth_mbps": 1}]
    assert "links[3]: duplicate link 'a'→'b', already given by links[0]" in refused(
        capsys, write(tmp_path, config(LINE, links=mixed))
    )


# -- sweeps -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"links": {"bandwidth_mbps": [100, 5]}},
            "links.bandwidth_mbps: range [100, 5] is reversed",
        ),
        (
            {"links": {"bandwidth_mbps": [-5, 10]}},
            "links.bandwidth_mbps[0]: Input should be greater",
        ),
        ({"links": {"latency_ms": [20, 1]}}, "links.latency_ms: range [20, 1] is reversed"),
        ({"links": {"latency_ms": [-5, 10]}}, "links.latency_ms[0]"),
        ({"links": {"bandwidth_mbps": [0.0, 1]}}, "links.bandwidth_mbps[0]"),
        ({"links": {"latency_ms": [1, math.inf]}}, "links.latency_ms[1]: must be a finite"),
        ({"flow__levels": [4, 1]}, "flow.levels: range [4, 1] is reversed"),
        ({"flow__levels": [1, 9]}, "flow.levels: levels [1, 9] go above source_level 6"),
        ({"flow__levels": [0, 3]}, "flow.levels[0]"),
        ({"flow__source_level": 9, "flow__levels": [1, 9]}, "flow.source_level: source level 9"),
        ({"flow__levels": [True, 3]}, "flow.levels[0]"),
        ({"generators": [{"kind": "waxman", "params": {"n": 10, "L": 0}}]}, "params.L"),
        (
            {
                "generators": [
                    {"kind": "random_geometric", "params": {"n": 9, "radius": 1, "dim": 0}}
                ]
            },
            "generators[0].params.dim: Input should be greater than or equal to 1",
        ),
        (
            {"generators": [{"kind": "path", "params": {"n": 200000}}]},
            "params.n: Input should be less",
        ),
        ({"generators": [{"kind": "path", "params": {"n": -3}}]}, "generators[0].params.n"),
        (
            {"generators": [{"kind": "path", "params": {"n": 5, "colour": 1}}]},
            "params.colour: unknown",
        ),
        ({"generators": [{"kind": "path", "params": {"n": 5, "seed": 1}}]}, "params.seed: unknown"),
        ({"generators": [{"kind": "path", "params": {"n": True}}]}, "params.n"),
        ({"generators": [{"kind": "path", "params": {}}]}, "params.n: field required"),
        (
            {"generators": [{"kind": "write_gml", "params": {}}]},
            "generators[0].kind: unknown generator",
        ),
        ({"generators": [{"kind": "balanced_tree", "params": {"r": 10, "h": 10}}]}, "at most 5000"),
        ({"generators": [{"kind": "complete", "params": {"n": 1500}}]}, "every pair"),
        ({"generators": [{"kind": "erdos_renyi", "params": {"n": 1000, "p": 1}}]}, "links"),
        ({"generators": [{"kind": "barabasi_albert", "params": {"n": 5, "m": 5}}]}, "below n=5"),
        ({"seeds": [-1]}, "seeds[0]"),
        (
            {"generators": [{"kind": "path", "params": {"n": 5000}}], "seeds": list(range(200))},
            "generators: too big to plan",
        ),
        (
            {"seeds": list(range(50_001)), "generators": [SWEEP["generators"][0]] * 2},
            "at most 100000 networks",
        ),
        ({"codec": "random:notanarch"}, "codec: 'random:notanarch': unknown architecture"),
        ({"policies": [[1, True]]}, "policies[0]"),
    ],
)
def test_bad_sweeps(change, expected, tmp_path, capsys):
    assert expected in refused(capsys, write(tmp_path, config(SWEEP, **change)))


def test_generator_failures_become_one_line(monkeypatch):
    spec = check_generator("path", {"n": 3}, "generators[1]")

    def boom(seed):
        raise MemoryError("out of memory")

    monkeypatch.setattr(type(spec), "build", lambda self, seed: boom(seed))
    with pytest.raises(ConfigError, match=r"generators\[1\]\.params: path: MemoryError: out of"):
        build_graph("path", spec, 0, "generators[1]")
    g = build_graph("waxman", check_generator("waxman_graph", {"n": 30}, "g"), 1, "g")
    assert g.number_of_nodes() == 30


# -- codecs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "codec, expected",
    [
        ("random:notanarch", "unknown architecture 'notanarch' in random:ARCH; choose from"),
        ("zoo:", "'zoo:': no architecture in zoo:ARCH"),
        ("zoo:notanarch", "unknown architecture 'notanarch' in zoo:ARCH"),
        ("random:mbt2018-mean:0", "N must be an integer in 1..1024"),
        ("random:mbt2018-mean:16:24:x", "LEVELS must be an integer"),
        ("random:mbt2018-mean:16:24:6:9", "expected random:ARCH[:N[:M[:LEVELS]]]"),
        ("no/such/dir", "is not 'default', 'zoo:ARCH', 'random:ARCH' or an existing directory"),
    ],
)
def test_bad_codecs(codec, expected, tmp_path, capsys):
    line = refused(capsys, write(tmp_path, config(LINE, codec=codec)))
    assert f": codec: {expected}" in line or expected in line


def test_zoo_without_internet_fails_before_ray(tmp_path, capsys, monkeypatch):
    import compressai.zoo.image as zoo_image
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, **kw):
        from urllib.error import URLError

        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(zoo_image, "load_state_dict_from_url", offline)
    path = write(tmp_path, config(LINE, codec="zoo:mbt2018-mean"))
    assert main(["validate", str(path)]) == 0  # validate cannot know
    line = refused(capsys, path, "--out", str(tmp_path / "out"), command="run")
    assert "codec: mbt2018-mean-1-e522738d.pth.tar not cached, no download (URLError" in line
    assert "TORCH_HOME" in line
    assert not (tmp_path / "out").exists()


# -- user policies ------------------------------------------------------------------------------------
HEAD = "from hcf_ray.policy import Policy, PolicyVector\n"
POLICIES = {
    "raises": (
        HEAD
        + "class P(Policy):\n    def choose(self, ctx):\n        x = 0\n        return 1 / x\n",
        "policy raises.py:5: ZeroDivisionError: division by zero",
    ),
    "none": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return None\n",
        "policy none.py:3: TypeError: choose() returned NoneType None; expected a PolicyVector",
    ),
    "int": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return 5\n",
        "policy int.py:3: TypeError: choose() returned int 5",
    ),
    "string": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return '10001'\n",
        "policy string.py:3: TypeError: choose() returned str '10001'",
    ),
    "bools": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return [True] * 5\n",
        "holds bool True",
    ),
    "short": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return [1, 1]\n",
        "policy short.py:3: ValueError: policy vector [1, 1] has length 2",
    ),
    "misspelled": (
        HEAD + "class Q(Policy):\n    def choose(self, ctx):\n        return [1]\nclass R(Q):\n"
        "    pass\n",
        "no class 'P' in misspelled.py; it defines: Q, R",
    ),
    "initargs": (
        HEAD + "class P(Policy):\n    def __init__(self, x):\n        self.x = x\n"
        "    def choose(self, ctx):\n        return [1]\n",
        "policy initargs.py:3: TypeError: P.__init__() missing 1 required positional argument",
    ),
    "exit_import": ("import sys\nsys.exit(3)\n", "policy exit_import.py:2: SystemExit"),
    "exit_choose": (
        HEAD + "import sys\nclass P(Policy):\n    def choose(self, ctx):\n        sys.exit(3)\n",
        "policy exit_choose.py:5: SystemExit: choose() called sys.exit(3)",
    ),
    "attribute": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        return ctx.route.nope\n",
        "policy attribute.py:4: AttributeError: 'Route' object has no attribute 'nope'",
    ),
    "loop": (
        HEAD + "class P(Policy):\n    def choose(self, ctx):\n        while True:\n"
        "            try:\n                pass\n            except Exception:\n                pass\n",
        "choose() did not return within 0.5 s",  # its line: see the test of timeouts below
    ),
    "import_loop": ("while True: pass\n", "policy import_loop.py:1: import did not return"),
    "syntax": ("def f(:\n", "policy syntax.py:1: SyntaxError"),
    "abstract": (HEAD + "class P(Policy):\n    pass\n", "TypeError: Can't instantiate abstract"),
    "place": (
        HEAD + "from hcf_ray.policy import EdgePolicy\nclass P(EdgePolicy):\n"
        "    def place(self, ctx, vector):\n        return ['6', None]\n",
        "policy place.py:4: TypeError: place() returned ['6', None], which holds str '6'",
    ),
    "long_message": (
        HEAD
        + "class P(Policy):\n    def choose(self, ctx):\n        raise ValueError('x' * 5000)\n",
        "policy long_message.py:4: ValueError: xxx",
    ),
}


@pytest.fixture
def short_policy_timeout(monkeypatch):
    monkeypatch.setenv("HCF_POLICY_TIMEOUT_S", "0.5")


@pytest.mark.parametrize("name", list(POLICIES))
def test_hostile_policy_files(name, tmp_path, capsys, short_policy_timeout):
    code, expected = POLICIES[name]
    (tmp_path / f"{name}.py").write_text(code)
    flows = [{**LINE["flows"][0], "policy": f"{name}.py:P"}]
    line = refused(capsys, write(tmp_path, config(LINE, flows=flows)))
    assert f": flows[0].policy: {expected}" in line or expected in line, line


def test_policy_in_a_sweep_is_an_error_not_a_skip(tmp_path, capsys, short_policy_timeout):
    (tmp_path / "raises.py").write_text(POLICIES["raises"][0])
    path = write(tmp_path, config(SWEEP, policies=["edge", "raises.py:P"]))
    line = refused(capsys, path)
    assert "policies: policy raises.py:5: ZeroDivisionError" in line


def test_debug_shows_the_users_traceback(tmp_path, capsys):
    (tmp_path / "raises.py").write_text(POLICIES["raises"][0])
    flows = [{**LINE["flows"][0], "policy": "raises.py:P"}]
    path = write(tmp_path, config(LINE, flows=flows))
    assert main(["--debug", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raises.py", line 5' in err
    assert err.rstrip().splitlines()[-1].startswith(f"hcf-sim: error: {path}")
    assert main(["validate", str(path), "--debug"]) == 2  # anywhere on the line
    assert "Traceback" in capsys.readouterr().err


def test_internal_errors_are_one_line_with_a_hint(tmp_path, capsys, monkeypatch):
    import hcf_ray.sim.scenario as scenario

    def bug(*a, **kw):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(scenario, "build_scenario", bug)
    assert main(["validate", str(write(tmp_path, LINE))]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "hcf-sim: internal error: RuntimeError: a bug\\nsecond line (--debug shows the traceback)"
    ]


def _error_off_the_main_thread(pol) -> str:
    """The PolicyError of ``pol.vector(1, 1, 1)`` called from another thread (watchdog)."""
    box = {}

    def worker():
        try:
            pol.vector(1, 1, 1)
        except PolicyError as exc:
            box["err"] = str(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join(10)
    return box["err"]


def test_policy_timeout_restores_an_outer_alarm_and_works_off_the_main_thread(
    tmp_path, short_policy_timeout
):
    (tmp_path / "slow.py").write_text(
        HEAD + "import time\nclass P(Policy):\n    def choose(self, ctx):\n"
        "        for _ in range(40):\n            time.sleep(0.05)\n        return [1]\n"
    )
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        pol = resolve_policy(f"{tmp_path / 'slow.py'}:P")
        with pytest.raises(PolicyError, match=r"choose\(\) did not return within 0\.5 s"):
            pol.vector(1, 1, 1)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < left <= 30 and not fired  # the outer alarm is still armed
        assert "did not return within 0.5 s" in _error_off_the_main_thread(pol)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_policy_timeout_names_the_line_it_was_running(tmp_path, short_policy_timeout):
    """In the main thread (SIGALRM) and off it (watchdog thread): the line is that of the
    loop the policy was stuck in, not the ``def``."""
    (tmp_path / "stuck.py").write_text(
        HEAD + "import time\nclass P(Policy):\n    def choose(self, ctx):\n"
        "        end = time.monotonic() + 3\n"
        "        while time.monotonic() < end: pass\n"  # ends: a thread cannot be killed
    )
    pol = resolve_policy(f"{tmp_path / 'stuck.py'}:P", shown="stuck.py:P")
    expected = "policy stuck.py:6: choose() did not return within 0.5 s"
    with pytest.raises(PolicyError) as err:
        pol.vector(1, 1, 1)
    assert str(err.value) == expected
    assert _error_off_the_main_thread(pol) == expected


def test_run_refuses_a_bad_policy_before_importing_ray(tmp_path):
    (tmp_path / "raises.py").write_text(POLICIES["raises"][0])
    flows = [{**LINE["flows"][0], "policy": "raises.py:P"}]
    path = write(tmp_path, config(LINE, flows=flows))
    code = (
        "import sys\nfrom hcf_ray.cli import main\n"
        f"rc = main(['run', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "print('ray imported' if 'ray' in sys.modules else 'no ray')\nsys.exit(rc)\n"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 2, res.stderr
    assert res.stdout.strip() == "no ray"
    err = [
        ln for ln in res.stderr.splitlines() if "Warning" not in ln and "warnings.warn" not in ln
    ]
    assert err == [
        f"hcf-sim: error: {path}: flows[0].policy: policy raises.py:5: "
        "ZeroDivisionError: division by zero"
    ]
    assert not (tmp_path / "out").exists()
