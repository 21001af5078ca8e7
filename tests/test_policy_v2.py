"""Policy API v2: args from the YAML, the named context (multicast fields, rate and cost
models), one-line errors for broken user code, and the deadline-aware example meeting its
deadline in real simulation records where the edge policy does not."""

import json
from pathlib import Path

import pytest
import yaml

from hcf_ray.cli import main
from hcf_ray.policy import EdgePolicy, PolicyContext, all_placements
from hcf_ray.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
HEAD = "from hcf_ray.policy import Policy, EdgePolicy\n"

TREE = {
    "name": "t",
    "codec": "random:mbt2018-mean",
    "nodes": [{"id": "a"}, {"id": "b", "speed": 2.0}, {"id": "c"}, {"id": "e"}],
    "links": [
        {"src": "a", "dst": "b", "bandwidth_mbps": 10, "latency_ms": 1},
        {"src": "b", "dst": "c", "bandwidth_mbps": 20, "latency_ms": 2},
        {"src": "b", "dst": "e", "bandwidth_mbps": 5, "latency_ms": 3, "loss": 0.01},
    ],
    "flows": [
        {
            "source": "a",
            "source_level": 6,
            "destinations": [{"node": "c", "level": 3}, {"node": "e", "level": 1}],
            "methods": ["hcf"],
            "max_images": 1,
        }
    ],
}

RECORDER = HEAD + (
    "import json\n"
    "class Rec(EdgePolicy):\n"
    "    def __init__(self, out, tag='x'):\n"
    "        self.out, self.tag = out, tag\n"
    "    def choose(self, ctx):\n"
    "        r = ctx.route\n"
    "        row = dict(tag=self.tag, dest=r.nodes[-1], flow_source_level=ctx.flow_source_level,\n"
    "            start_level=ctx.start_level, source_level=ctx.source_level,\n"
    "            target_level=ctx.target_level, n_q=ctx.n_q, num_hops=ctx.num_hops,\n"
    "            hops=ctx.hops, max_level=ctx.max_level, nodes=list(r.nodes),\n"
    "            upstream=r.upstream_level, image_size=list(ctx.image_size),\n"
    "            bw=[h.bandwidth_mbps for h in r], lat=[h.latency_ms for h in r],\n"
    "            loss=[h.loss for h in r], min_level=[h.min_level for h in r],\n"
    "            rate=ctx.rate_model(ctx.target_level),\n"
    "            cost=ctx.cost_model('decode[3]', r.nodes[0]),\n"
    "            tx=ctx.transmit_s(ctx.target_level, r[-1]))\n"
    "        with open(self.out, 'a') as f:\n"
    "            f.write(json.dumps(row) + '\\n')\n"
    "        return super().choose(ctx)\n"
)


def write(tmp_path, data, name="t.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def with_policy(policy, base=TREE):
    data = json.loads(json.dumps(base))
    data["flows"][0]["policy"] = policy
    return data


def one_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


PROFILE = ROOT / "hcf_ray" / "data" / "profiles" / "cpu-default.json"  # the shipped CPU fits


def _mean_bpp(spec: str, level: int) -> float:
    """Mean bpp of CompressAI's own ``compress`` of the four sample photos by the level's
    model: payload bytes · 8 / pixels, read from the bitstreams here."""
    import numpy as np
    import torch
    from PIL import Image

    from hcf_ray.bundle import BundleSource

    model = BundleSource(spec).level(level).model  # a CompressAI model (its weights only)
    photos = sorted((ROOT / "hcf_ray" / "samples").glob("*.png"))
    assert len(photos) == 4
    bpp = []
    for photo in photos:
        pixels = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float32) / 255.0
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        with torch.no_grad():
            strings = model.compress(x)["strings"]
        nbytes = sum(len(s) for group in strings for s in group)
        bpp.append(nbytes * 8 / (x.shape[-2] * x.shape[-1]))
    return sum(bpp) / len(bpp)


# -- args and the context ----------------------------------------------------------------------
def test_args_reach_the_instance_and_the_context_names_a_multicast_tree(tmp_path):
    (tmp_path / "rec.py").write_text(RECORDER)
    out = tmp_path / "ctx.jsonl"
    pol = {"class": "rec.py:Rec", "args": {"out": str(out), "tag": "hello"}}
    sc = load_scenario(write(tmp_path, with_policy(pol)))
    rows = {r["dest"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"c", "e"} and all(r["tag"] == "hello" for r in rows.values())
    c, e = rows["c"], rows["e"]
    # c (level 3) is planned first, over the whole route; e only from the fork relay b on
    assert (c["flow_source_level"], c["start_level"], c["num_hops"]) == (6, 6, 2)
    assert c["nodes"] == ["a", "b", "c"] and c["upstream"] is None
    assert (e["flow_source_level"], e["start_level"], e["num_hops"]) == (6, 5, 1)
    assert e["nodes"] == ["b", "e"] and e["upstream"] == 6
    for r in rows.values():  # the deprecated names still work
        assert (r["source_level"], r["hops"]) == (r["start_level"], r["num_hops"])
        assert r["image_size"] == [256, 384] and r["max_level"] == 6  # the samples: 384x256
    assert (c["bw"], c["lat"], c["loss"]) == ([10, 20], [1, 2], [0, 0])
    assert c["min_level"] == [3, 3]  # a→b must also serve e (level 1): c's level 3 is higher
    assert (e["bw"], e["lat"], e["loss"], e["min_level"]) == ([5], [3], [0.01], [1])
    # the estimates, computed here: bytes of CompressAI bitstreams of the sample photos, and
    # the shipped CPU profile's fit of decode[3] (a + b · pixels; 256×384 is a multiple of 64)
    rate = {k: _mean_bpp(sc.codec.spec, k) * 256 * 384 / 8 for k in (1, 3)}
    assert e["rate"] == pytest.approx(rate[1], rel=1e-9)
    assert c["rate"] == pytest.approx(rate[3], rel=1e-9)
    assert e["tx"] == pytest.approx(rate[1] / 0.99 * 8 / 5e6 + 0.003, rel=1e-9)
    assert c["tx"] == pytest.approx(rate[3] * 8 / 20e6 + 0.002, rel=1e-9)
    fit = json.loads(PROFILE.read_text())["ops"]["decode[3]"]["seconds"]
    seconds = fit["a"] + fit["b"] * 256 * 384
    assert seconds > 0
    assert c["cost"] == pytest.approx(seconds, rel=1e-9)  # on a: speed 1, no device
    assert e["cost"] == pytest.approx(seconds / 2.0, rel=1e-9)  # on b: speed 2
    labels = {d.node: d.policy for d in sc.plan("flow0", "hcf").destinations}
    assert labels["c"].startswith("rec.py:Rec(out=")


def test_context_outside_the_simulator():
    ctx = PolicyContext(6, 2, 2, num_hops=3)
    assert (ctx.start_level, ctx.flow_source_level, ctx.num_hops, ctx.hops) == (6, 6, 3, 3)
    assert ctx.route is None and ctx.image_size is None
    assert PolicyContext(source_level=6, target_level=2, n_q=2, hops=3) == ctx  # old names
    with pytest.raises(LookupError, match="only available inside the simulator"):
        ctx.rate_model(2)
    with pytest.raises(AttributeError):
        ctx.start_level = 5
    assert EdgePolicy().hop_levels(ctx) == (6, 2, 2)
    assert list(all_placements((6, 2), 3)) == [(6, 2, 2), (6, 6, 2)]
    assert list(all_placements((6, 2), 3, [None, 3, None])) == [(6, 6, 2)]


def test_builtin_name_in_the_mapping_form(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, with_policy({"class": "edge"})))]) == 0
    capsys.readouterr()
    line = one_line(
        capsys, ["validate", str(write(tmp_path, with_policy({"class": "edge", "args": {"x": 1}})))]
    )
    assert "flows[0].policy: policy edge: EdgePolicy takes no arguments (given: 'x')" in line


@pytest.mark.parametrize(
    "policy,expected",
    [
        (
            {"class": "edge", "arg": {}},
            "flows[0].policy: unknown key 'arg' (allowed: class, args, name)",
        ),
        ({"args": {}}, "flows[0].policy: 'class' must be a built-in name"),
        ({"class": "edge", "args": [1]}, "flows[0].policy: args must be a mapping"),
        ({"class": "edge", "args": {"when": "2020-01-01"}}, None),  # quoted: a string, fine
    ],
)
def test_policy_mapping_is_checked_at_the_edge(policy, expected, tmp_path, capsys):
    path = write(tmp_path, with_policy(policy))
    if expected is None:
        path.write_text(path.read_text().replace("'2020-01-01'", "2020-01-01"))  # a date
        expected = "args.when: date datetime.date(2020, 1, 1) is not a plain value"
    assert expected in one_line(capsys, ["validate", str(path)])


# -- user-code errors: one line, FILE:LINE, exit 2 ---------------------------------------------------
USER_ERRORS = {
    "none": (
        "    def choose(self, ctx):\n        return None\n",
        3,
        "TypeError: choose() returned NoneType None",
    ),
    "int": (
        "    def choose(self, ctx):\n        return 7\n",
        3,
        "TypeError: choose() returned int 7",
    ),
    "string": (
        "    def choose(self, ctx):\n        return '101'\n",
        3,
        "TypeError: choose() returned str '101'",
    ),
    "needs_arg": (
        "    def __init__(self, deadline_ms):\n        self.d = deadline_ms\n",
        3,
        "TypeError: P.__init__() missing 1 required positional argument: 'deadline_ms'",
    ),
    "attribute": (
        "    def choose(self, ctx):\n        x = 1\n        return ctx.no_such_field\n",
        5,
        "AttributeError: 'PolicyContext' object has no attribute 'no_such_field'",
    ),
    "value": (
        "    def choose(self, ctx):\n        raise ValueError('bad idea')\n",
        4,
        "ValueError: bad idea",
    ),
    "levels": (  # levels where 0/1 bits belong: the hint names PolicyVector.from_levels
        "    def choose(self, ctx):\n        return [6, ctx.target_level]\n",
        3,
        "ValueError: choose() returned [6, 3], not 0/1 bits (levels? use PolicyVector.from_levels)",
    ),
    "not_bits": (  # not levels either (7 is above the source level): no hint
        "    def choose(self, ctx):\n        return [7, 0, 1, 1]\n",
        3,
        "ValueError: choose() returned [7, 0, 1, 1], not 0/1 bits",
    ),
    "init_value": (
        "    def __init__(self):\n        raise ValueError('no way')\n",
        4,
        "ValueError: no way",
    ),
}


@pytest.mark.parametrize("name", list(USER_ERRORS))
def test_user_code_errors_are_one_line_with_file_and_line(name, tmp_path, capsys):
    body, line_no, message = USER_ERRORS[name]
    (tmp_path / f"{name}.py").write_text(HEAD + "class P(EdgePolicy):\n" + body)
    path = write(tmp_path, with_policy(f"{name}.py:P"))
    line = one_line(capsys, ["validate", str(path)])
    assert line.startswith(f"hcf-sim: error: {path}: flows[0].policy: policy {name}.py:{line_no}: ")
    assert message in line, line
    if name == "not_bits":
        assert "from_levels" not in line, line


def test_constructor_args_errors_name_the_file_and_line(tmp_path, capsys):
    (tmp_path / "p.py").write_text(
        HEAD + "class P(EdgePolicy):\n    def __init__(self, alpha=1, beta=2):\n"
        "        self.a = alpha\n"
    )

    def refused(args: dict) -> str:
        path = write(tmp_path, with_policy({"class": "p.py:P", "args": args}))
        return one_line(capsys, ["validate", str(path)])

    assert refused({"b": 2}).endswith(
        "flows[0].policy: policy p.py:3: TypeError: P has no argument 'b' (it takes: alpha, beta)"
    )
    assert refused({"alpah": 2}).endswith(  # a typo: the closest name is suggested
        "policy p.py:3: TypeError: P has no argument 'alpah'; did you mean 'alpha'? "
        "(it takes: alpha, beta)"
    )
    deadline = str(ROOT / "policies" / "deadline_aware.py") + ":DeadlineAware"
    path = write(tmp_path, with_policy({"class": deadline, "args": {"deadline": 50}}))
    assert one_line(capsys, ["validate", str(path)]).endswith(
        "TypeError: DeadlineAware has no argument 'deadline'; did you mean 'deadline_ms'? "
        "(it takes: deadline_ms)"
    )
    deadline = str(ROOT / "policies" / "deadline_aware.py") + ":DeadlineAware"
    line = one_line(
        capsys,
        [
            "validate",
            str(write(tmp_path, with_policy({"class": deadline, "args": {"deadline_ms": -5}}))),
        ],
    )
    assert (
        "deadline_aware.py:" in line
        and "ValueError: deadline_ms must be a positive number, got -5" in line
    )


def test_missing_class_lists_the_classes_of_the_file(tmp_path, capsys):
    (tmp_path / "p.py").write_text(HEAD + "class A(EdgePolicy):\n    pass\nclass B(A):\n    pass\n")
    line = one_line(capsys, ["validate", str(write(tmp_path, with_policy("p.py:Foo")))])
    assert line.endswith("flows[0].policy: no class 'Foo' in p.py; it defines: A, B")


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "value.py").write_text(HEAD + "class P(EdgePolicy):\n" + USER_ERRORS["value"][0])
    assert main(["--debug", "validate", str(write(tmp_path, with_policy("value.py:P")))]) == 2
    assert "Traceback" in capsys.readouterr().err


# -- the deadline example, judged by the simulator's own records -----------------------------------
def test_deadline_policy_meets_its_deadline_where_edge_does_not(tmp_path, ray_session):
    from hcf_ray.sim.driver import RunOptions, run_simulation

    shipped = ROOT / "topologies" / "deadline.yaml"
    data = yaml.safe_load(shipped.read_text())
    deadline_s = data["flows"][0]["policy"]["args"]["deadline_ms"] / 1000.0
    edge = dict(data, flows=[dict(data["flows"][0], policy="edge")])
    edge_path = write(tmp_path, edge, "edge.yaml")
    options = RunOptions(warmup=False, check_transport=False, timeout_s=300)
    latency = {}
    for label, path in [("deadline", shipped), ("edge", edge_path)]:
        sc = load_scenario(path, max_images=1)
        run_simulation(sc, tmp_path / label, options=options)
        records = [
            json.loads(x) for x in (tmp_path / label / "results.jsonl").read_text().splitlines()
        ]
        assert records and all(r["status"] == "ok" for r in records)
        latency[label] = max(r["latency_s"] for r in records)
        levels = records[0]["levels"]
        assert levels == ([6, 6, 6, 1] if label == "deadline" else [6, 1, 1, 1])
    assert latency["deadline"] <= deadline_s < latency["edge"], latency
