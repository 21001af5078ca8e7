"""Topology YAML: shipped files validate, bad files give exit 2 with one line, GraphML/GML
import, routing and multicast trees (no Ray, no models)."""

import shutil
from pathlib import Path

import networkx as nx
import pytest
import yaml
from configs import LINE

from hcf_ray.cli import main
from hcf_ray.sim.config import ConfigError, load_config
from hcf_ray.sim.scenario import build_scenario, load_scenario
from hcf_ray.sim.topology import build_topology

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"


def write(tmp_path: Path, data: dict, name: str = "t.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def variant(**changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(LINE))
    for key, value in changes.items():
        data[key] = value
    return data


@pytest.mark.parametrize("name", ["mesh", "line", "tree", "star", "zoo", "sweep"])
def test_shipped_topologies_validate(name, capsys):
    assert main(["validate", str(TOPOLOGIES / f"{name}.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {TOPOLOGIES / name}.yaml")


def _flow(**kw) -> list[dict]:
    f = dict(LINE["flows"][0])
    f.update(kw)
    return [f]


BAD = {
    "unknown node in a link": (
        variant(links=[*LINE["links"], {"src": "b", "dst": "q", "bandwidth_mbps": 1}]),
        "links[2].dst: unknown node 'q'",
    ),
    "disconnected destination": (
        variant(
            nodes=[*LINE["nodes"], {"id": "island"}],
            flows=_flow(destinations=[{"node": "island", "level": 2}]),
        ),
        "flows[0].destinations[0]: hcf: node 'island' is unreachable from source 'a'",
    ),
    "target level above source": (
        variant(flows=_flow(source_level=3, destinations=[{"node": "c", "level": 5}])),
        "flows[0].destinations[0].level: target level 5 is above the source level 3",
    ),
    "bad policy path": (
        variant(flows=_flow(policy="nowhere/nothing.py:Cls")),
        "/nowhere/nothing.py' not found",  # resolved next to the YAML: an absolute path
    ),
    "policy class missing": (
        variant(flows=_flow(policy=f"{ROOT / 'policies' / 'bandwidth_aware.py'}:Nope")),
        "flows[0].policy:",
    ),
    "unknown field": (variant(flows=_flow(speed=3)), "flows[0].speed: unknown field"),
    "negative bandwidth": (
        variant(links=[{"src": "a", "dst": "b", "bandwidth_mbps": -1}]),
        "links[0].bandwidth_mbps: Input should be greater than 0",
    ),
    "n_q above the levels": (
        variant(flows=_flow(source_level=3, destinations=[{"node": "c", "level": 3, "n_q": 2}])),
        "flows[0].destinations[0].n_q: hcf: n_q=2, but destination 'c' is 2 hop(s) from the "
        "source and levels 3→3 allow 1..1 there",
    ),
    "n_q above the hops": (
        variant(flows=_flow(n_q=3)),
        "flows[0].n_q: hcf: n_q=3, but destination 'c' is 2 hop(s) from the source and "
        "levels 6→2 allow 1..2 there",
    ),
    "n_q zero": (
        variant(flows=_flow(n_q=0)),
        "flows[0].n_q: Input should be greater than or equal to 1",
    ),
    "n_q disagrees with an explicit vector": (
        variant(flows=_flow(policy=[1, 0, 0, 0, 1], n_q=1)),
        "flows[0].n_q: hcf: n_q=1 but policy [1, 0, 0, 0, 1] has 2 quantizations",
    ),
    "missing image folder": (
        variant(flows=_flow(images="no/such/folder")),
        "/no/such/folder: image folder not found",
    ),
    "unknown method": (variant(flows=_flow(methods=["hcf", "magic"])), "flows[0].methods[1]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_configs_exit_2_with_one_line(case, tmp_path, capsys):
    data, expected = BAD[case]
    path = write(tmp_path, data)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"hcf-sim: error: {path}: ")
    assert expected in err


def test_missing_file_and_yaml_syntax(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip().endswith("nope.yaml: file not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [a, b\nlinks: {")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "YAML syntax error at line" in err and len(err.splitlines()) == 1


def test_run_rejects_bad_config_before_starting_ray(tmp_path, capsys):
    path = write(tmp_path, BAD["unknown node in a link"][0])
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "links[2].dst: unknown node 'q'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


CFG_DIR_POLICY = """
from hcf_ray.policy import LatePolicy


class Late(LatePolicy):
    name = "cfg-dir-late"
"""
CFG_DIR_METHOD = """
from hcf_ray.methods import DRF


class Mine(DRF):
    name = "cfg-dir-mine"
    description = "DRF, a user method next to its topology"
"""
DECOY = "raise RuntimeError('the copy in the current directory was loaded')\n"


def test_paths_are_relative_to_the_yaml_folder_not_the_cwd(tmp_path, monkeypatch, capsys):
    """images, a policy file and a user method file written relative in cfg/t.yaml resolve
    against cfg/, loaded from another current directory that holds same-named decoys; the
    parsed config holds absolute paths, labels and messages keep the file's spelling."""
    import hcf_ray.methods as methods_module
    from hcf_ray.images import sample_images

    # the user method registers itself: on a copy of the registry, restored afterwards
    monkeypatch.setattr(methods_module, "_REGISTRY", dict(methods_module._REGISTRY))
    cfg_dir, here = tmp_path / "cfg", tmp_path / "here"
    for d in (cfg_dir / "imgs", here / "imgs"):  # here/imgs is empty: picking it fails
        d.mkdir(parents=True)
    photo = sample_images()[0]
    shutil.copy(photo, cfg_dir / "imgs" / photo.name)
    (cfg_dir / "pol.py").write_text(CFG_DIR_POLICY)
    (cfg_dir / "meth.py").write_text(CFG_DIR_METHOD)
    (here / "pol.py").write_text(DECOY)
    (here / "meth.py").write_text(DECOY)
    flow = {**LINE["flows"][0], "images": "imgs", "policy": "pol.py:Late"}
    write(cfg_dir, {**LINE, "flows": [{**flow, "methods": ["hcf", "meth.py:Mine"]}]})
    monkeypatch.chdir(here)

    cfg = load_config(Path("..") / "cfg" / "t.yaml")
    real = cfg_dir.resolve()
    f = cfg.flows[0]
    assert f.images == str(real / "imgs")
    assert f.policy == f"{real / 'pol.py'}:Late"
    assert f.methods == ["hcf", f"{real / 'meth.py'}:Mine"]
    for path in (f.images, f.policy.rpartition(":")[0], f.methods[1].rpartition(":")[0]):
        assert Path(path).is_absolute()
    assert cfg.codec == "random:mbt2018-mean"  # special values stay as they are
    assert cfg.as_written(f.policy) == "pol.py:Late"

    sc = build_scenario(cfg, max_images=1)
    run = sc.flows[0]
    assert run.images == [real / "imgs" / photo.name]
    assert run.methods == ["hcf", "cfg-dir-mine"]
    assert run.spec.destinations[0].policy_label == "pol.py:Late"  # the YAML's spelling
    assert main(["validate", "../cfg/t.yaml"]) == 0
    assert capsys.readouterr().out.startswith("ok: ../cfg/t.yaml")

    # a path missing next to the YAML is an error naming the field and the absolute path,
    # even though the current directory has one of that name
    (here / "x").mkdir()
    write(cfg_dir, {**LINE, "flows": [{**flow, "policy": "edge", "images": "x"}]}, "u.yaml")
    assert main(["validate", "../cfg/u.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"hcf-sim: error: ../cfg/u.yaml: flows[0].images: {real / 'x'}: image folder not found"
    )


def test_user_policy_file_changes_the_plan(tmp_path):
    """policies/bandwidth_aware.py, referenced from YAML, moves the drop before a slow link."""
    cfg = load_config(TOPOLOGIES / "line.yaml")  # camera -100- r1 -10- r2 -50- screen
    cfg = cfg.model_copy(update={"codec": "random:mbt2018-mean"})
    edge = build_scenario(cfg).plan("line", "hcf").destinations[0]
    data = yaml.safe_load((TOPOLOGIES / "line.yaml").read_text())
    data["codec"] = "random:mbt2018-mean"
    data["flows"][0]["policy"] = str(ROOT / "policies" / "bandwidth_aware.py") + ":BandwidthAware"
    user = load_scenario(write(tmp_path, data)).plan("line", "hcf").destinations[0]
    assert edge.policy == "edge" and user.policy.endswith("bandwidth_aware.py:BandwidthAware")
    assert edge.levels == (6, 5, 2)
    assert user.levels == (6, 3, 2)  # the slow r1→r2 hop carries the lowest feasible level
    assert user.program.stages != edge.program.stages


def test_tree_plan_forks_at_the_relay():
    sc = load_scenario(TOPOLOGIES / "tree.yaml")
    plan = sc.plan("multicast", "hcf")
    relay_jobs = [j for j in plan.jobs if j.node == "relay"]
    assert len(relay_jobs) == 1  # one incoming transmission
    (job,) = relay_jobs
    assert sorted(b.stage.send for b in job.branches) == [4, 5]
    # decode + φinter[6→5] computed once, then the branches continue from there
    assert job.segments[0].final is False and job.segments[0].stop == 2
    assert all(s.source == 0 for s in job.segments[1:])
    # every tree link carries exactly one transmission
    links = [(t.src, t.dst) for t in plan.transmissions]
    assert len(links) == len(set(links)) == 4
    # SSF is simulcast: the shared link carries one stream per distinct level
    ssf = sc.plan("multicast", "ssf")
    assert sorted(t.level for t in ssf.transmissions if t.src == "camera") == [1, 4]


def test_fewer_quantizations_than_hops_forward_at_relays(tmp_path):
    """n_q < hops: relays whose outgoing level equals the incoming one forward the bytes."""
    data = yaml.safe_load((TOPOLOGIES / "line.yaml").read_text())  # camera-r1-r2-screen
    data["codec"] = "random:mbt2018-mean"
    data["flows"][0]["n_q"] = 2
    sc = load_scenario(write(tmp_path, data))
    for method, levels in [("hcf", (6, 2, 2)), ("drf", (6, 2, 2)), ("ssf", (2, 2, 2))]:
        plan = sc.plan("line", method)
        (dest,) = plan.destinations
        assert dest.levels == levels
        r2 = next(j for j in plan.jobs if j.node == "r2")
        assert r2.branches[0].forward and not r2.computes  # forwards, runs nothing
        assert [t.level for t in plan.transmissions] == list(levels)
    hcf = sc.plan("line", "hcf").destinations[0]
    assert hcf.program.policy.bits == (1, 0, 0, 0, 1)  # π of the two quantizations
    assert str(hcf.program.stages[2]) == "forward[2]"
    # a route longer than s-d+1 hops is no longer an error: the surplus relays forward
    chain = {
        "codec": "random:mbt2018-mean",
        "nodes": [{"id": f"n{i}"} for i in range(6)],
        "links": [{"src": f"n{i}", "dst": f"n{i + 1}", "bandwidth_mbps": 10} for i in range(5)],
        "flows": [
            {
                "source": "n0",
                "source_level": 6,
                "destinations": [{"node": "n5", "level": 5}, {"node": "n3", "level": 5}],
                "policy": "late",
            }
        ],
    }
    plan = load_scenario(write(tmp_path, chain, "chain.yaml")).plan("flow0", "hcf")
    far, near = plan.destinations
    assert far.levels == (6, 5, 5, 5, 5) and near.levels == (6, 5, 5)
    # n3 receives level 5 once, keeps it (destination) and forwards it to n4
    (n3,) = [j for j in plan.jobs if j.node == "n3"]
    assert sorted(b.forward for b in n3.branches) == [False, True]


def test_user_placement_forwards_up_to_the_fork(tmp_path):
    """policies/fork_aware.py overrides Policy.place: the mesh's shared links forward level 6
    to the fork relay r3, so tv and phone each reach their level with n_q=2."""
    data = yaml.safe_load((TOPOLOGIES / "mesh.yaml").read_text())
    data["codec"] = "random:mbt2018-mean"
    cam1 = data["flows"][0]
    cam1["policy"] = str(ROOT / "policies" / "fork_aware.py") + ":ForkAware"
    cam1["destinations"][1]["n_q"] = 2
    plan = load_scenario(write(tmp_path, data)).plan("cam1", "hcf")
    levels = {d.node: d.levels for d in plan.destinations}
    assert levels == {"tv": (6, 6, 6, 3), "phone": (6, 6, 6, 1)}
    (r3,) = [j for j in plan.jobs if j.node == "r3"]
    assert sorted(b.stage.send for b in r3.branches) == [1, 3]  # one decode, two branches
    # the built-in placement cuts early, so phone needs a third quantization
    cam1["policy"] = "edge"
    with pytest.raises(ConfigError, match=r"destinations\[1\]\.n_q: hcf: destination 'phone'"):
        load_scenario(write(tmp_path, data))


def test_validate_marks_forwarding_relays(tmp_path, capsys):
    data = yaml.safe_load((TOPOLOGIES / "line.yaml").read_text())
    data["codec"] = "random:mbt2018-mean"
    data["flows"][0]["destinations"][0]["n_q"] = 2
    assert main(["validate", str(write(tmp_path, data))]) == 0
    out = capsys.readouterr().out
    assert "line/hcf: screen@2 n_q=2: camera-[6]→ r1-[2]→ r2=[2]→ screen" in out
    assert "line/ssf: screen@2: camera-[2]→ r1=[2]→ r2=[2]→ screen" in out


def test_routing_weight_changes_the_route(tmp_path):
    data = {
        "codec": "random:mbt2018-mean",
        "nodes": [{"id": n} for n in "sabd"],
        "links": [
            {"src": "s", "dst": "d", "bandwidth_mbps": 1, "latency_ms": 50},
            {"src": "s", "dst": "a", "bandwidth_mbps": 100, "latency_ms": 5},
            {"src": "a", "dst": "b", "bandwidth_mbps": 100, "latency_ms": 5},
            {"src": "b", "dst": "d", "bandwidth_mbps": 100, "latency_ms": 5},
        ],
        "flows": [{"source": "s", "destinations": [{"node": "d", "level": 1}]}],
    }
    by_latency = load_scenario(write(tmp_path, data)).plan("flow0", "hcf")
    assert by_latency.destinations[0].path == ("s", "a", "b", "d")
    data["routing"] = {"weight": "hops"}
    by_hops = load_scenario(write(tmp_path, data)).plan("flow0", "hcf")
    assert by_hops.destinations[0].path == ("s", "d")
    data["routing"] = {"weight": "colour"}
    with pytest.raises(ConfigError, match=r"routing\.weight: unknown routing weight 'colour'"):
        load_scenario(write(tmp_path, data))


def test_graphml_and_gml_import(tmp_path):
    g = nx.Graph()
    g.add_node("n0", label="Paris", Latitude=48.85, Longitude=2.35)
    g.add_node("n1", label="Berlin", Latitude=52.52, Longitude=13.40)
    g.add_node("n2", label="Rome")
    g.add_edge("n0", "n1", LinkSpeedRaw=1e10)
    g.add_edge("n1", "n2", LinkSpeed=2.5, LinkSpeedUnits="G")
    # GraphML keeps ids and a label attribute; GML (as the Zoo writes it) names nodes by label
    by_label = nx.relabel_nodes(g, {n: d.pop("label") for n, d in g.copy().nodes(data=True)})
    for n in by_label:
        by_label.nodes[n].pop("label", None)
    for suffix, graph, writer in (
        (".graphml", g, nx.write_graphml),
        (".gml", by_label, nx.write_gml),
    ):
        path = tmp_path / f"zoo{suffix}"
        writer(graph, path)
        cfg = load_config(
            write(
                tmp_path,
                {
                    "codec": "random:mbt2018-mean",
                    "graph": {"file": path.name},
                    "nodes": [{"id": "Rome", "speed": 2.0}],
                    "flows": [{"source": "Paris", "destinations": [{"node": "Rome", "level": 3}]}],
                },
            )
        )
        topo = build_topology(cfg)
        assert set(topo.nodes) == {"Paris", "Berlin", "Rome"}
        assert topo.node("Rome").speed == 2.0
        pb = topo.link("Paris", "Berlin")
        assert pb.bandwidth_mbps == pytest.approx(10000)
        # great circle in fibre (878 km at 200 km/ms) plus the 0.1 ms per-hop default
        assert pb.latency_ms == pytest.approx(878 / 200 + 0.1, rel=0.02)
        bp = topo.link("Berlin", "Paris")  # undirected file: both ways
        assert (bp.bandwidth_mbps, bp.latency_ms) == (pb.bandwidth_mbps, pb.latency_ms)
        assert topo.link("Rome", "Berlin").bandwidth_mbps == pytest.approx(2500)
        # Rome has no coordinates: placed at its one located neighbour, Berlin (0 km), so
        # only the per-hop delay is left
        assert topo.link("Berlin", "Rome").latency_ms == pytest.approx(0.1)
        sc = build_scenario(cfg)
        assert sc.plan("flow0", "hcf").destinations[0].path == ("Paris", "Berlin", "Rome")
