"""Several policies in one run: a flow's (or the topology's) ``policies:`` list runs each
policy in its own world; records, tables and ``load_results`` name them; names must be
unique and lists equally long; an output folder of one policy written before the names
still resumes."""

import hashlib
import json
from pathlib import Path

import pytest

from hcf_ray.results import load_results
from hcf_ray.sim.config import ConfigError, load_config
from hcf_ray.sim.driver import RunOptions, run_simulation
from hcf_ray.sim.report import format_tables
from hcf_ray.sim.scenario import build_scenario

CODEC = "random:mbt2018-mean"
OPTS = dict(warmup=False, check_transport=False, timeout_s=300)

MY_POLICY = """
from hcf_ray.policy import Policy


class MyPolicy(Policy):
    name = "mine"

    def __init__(self, spare=0):
        self.spare = spare

    def choose(self, ctx):
        s, d, n = ctx.start_level, ctx.target_level, ctx.n_q
        return [1] * (n - 1) + [0] * (s - d + 1 - n) + [1]


class Nameless(MyPolicy):
    name = Policy.name
"""

HEAD = f"""
name: pols
codec: {CODEC}
nodes:
  - {{id: cam, role: source}}
  - {{id: r1}}
  - {{id: screen, role: destination}}
links:
  - {{src: cam, dst: r1, bandwidth_mbps: 100, latency_ms: 2}}
  - {{src: r1, dst: screen, bandwidth_mbps: 10, latency_ms: 5}}
"""


def flow(policy_line: str, name: str = "f", dest: str = "screen") -> str:
    return f"""
  - name: {name}
    source: cam
    source_level: 4
    destinations: [{{node: {dest}, level: 2}}]
    methods: [hcf, ssf]
    max_images: 1
    {policy_line}
"""


def write(tmp: Path, text: str) -> Path:
    (tmp / "my.py").write_text(MY_POLICY)
    path = tmp / "topo.yaml"
    path.write_text(text)
    return path


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def several(ray_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("several")
    cfg = write(
        tmp,
        HEAD
        + "flows:"
        + flow("policies: [edge, late, uniform, {class: my.py:MyPolicy, args: {spare: 2}}]"),
    )
    sc = build_scenario(load_config(cfg), max_images=1)
    summary = run_simulation(sc, tmp / "out", options=RunOptions(**OPTS))
    return tmp, summary


def test_records_are_named_by_policy(several):
    tmp, summary = several
    assert summary["status"] == "ok"
    recs = records(tmp / "out")
    # hcf once per policy, ssf (which uses no policy) once: 1 image, 1 destination
    assert sorted((r["method"], r["policy"]) for r in recs) == [
        ("hcf", "edge"),
        ("hcf", "late"),
        ("hcf", "mine"),
        ("hcf", "uniform"),
        ("ssf", "-"),
    ]
    mine = next(r for r in recs if r["policy"] == "mine")
    assert mine["policy_args"] == {"spare": 2}
    assert mine["policy_sha256"] == hashlib.sha256(MY_POLICY.encode()).hexdigest()
    late = next(r for r in recs if r["policy"] == "late")
    assert late["policy_args"] == {} and late["policy_sha256"] is None
    # no Python repr anywhere in what the records name
    assert not any("(" in str(r["policy"]) or "{" in str(r["policy"]) for r in recs)
    # edge and late place the two quantizations differently on 2 hops from level 4 to 2:
    # edge ([1, 0, 1]) sends level 4 over the first hop, late ([0, 1, 1]) level 3
    levels = {r["policy"]: r["hops"][0]["level"] for r in recs if r["method"] == "hcf"}
    assert levels["edge"] == 4 and levels["late"] == 3


def test_a_run_of_several_policies_resumes(several):
    tmp, _ = several
    lines = (tmp / "out" / "results.jsonl").read_text().splitlines(keepends=True)
    part = tmp / "part"
    part.mkdir()
    (part / "run.json").write_bytes((tmp / "out" / "run.json").read_bytes())
    (part / "results.jsonl").write_text("".join(lines[:2]))
    sc = build_scenario(load_config(tmp / "topo.yaml"), max_images=1)
    summary = run_simulation(
        sc, part, options=RunOptions(**OPTS, resume=True, cache_dir=tmp / "out" / "cache")
    )
    assert summary["wall"]["records_kept"] == 2
    assert summary["wall"]["records_appended"] == len(lines) - 2 == 3
    assert summary["wall"]["cache"]["misses"] == 0

    def same(path):  # wall-clock measurements aside
        return sorted(
            json.dumps({k: v for k, v in r.items() if k != "wall"}) for r in records(path)
        )

    assert same(part) == same(tmp / "out")


def test_tables_and_summary_show_the_names(several):
    _tmp, summary = several
    assert summary["policies"] == ["edge", "late", "uniform", "mine"]
    methods = summary["flows"]["f"]["methods"]
    assert set(methods) == {"hcf/edge", "hcf/late", "hcf/uniform", "hcf/mine", "ssf"}
    assert methods["hcf/mine"]["destinations"]["screen"]["policy"] == "mine"
    table = format_tables(summary)
    rows = [line.split() for line in table.splitlines() if line.startswith("  hcf/")]
    assert {(row[0], row[1]) for row in rows if len(row) > 3 and row[2] == "screen"} == {
        ("hcf/edge", "edge"),
        ("hcf/late", "late"),
        ("hcf/uniform", "uniform"),
        ("hcf/mine", "mine"),
    }
    assert "MyPolicy(" not in table and "spare" not in table


def test_load_results_groups_by_policy(several):
    tmp, _ = several
    df = load_results(tmp / "out")
    counts = df.groupby("policy").size().to_dict()
    assert counts == {"-": 1, "edge": 1, "late": 1, "mine": 1, "uniform": 1}
    assert {"policy_args", "policy_sha256"} <= set(df.columns)
    assert json.loads(df.loc[df["policy"] == "mine", "policy_args"].iloc[0]) == {"spare": 2}


def test_a_figure_puts_the_policies_side_by_side(several):
    from hcf_ray.sim.figures import plot_run

    tmp, _ = several
    files = [p for p in plot_run(tmp / "out") if p.stem == "policies"]
    assert sorted(p.suffix for p in files) == [".pdf", ".png"]
    assert all(p.stat().st_size > 1000 for p in files)


@pytest.mark.parametrize(
    "policies",
    [
        # two deadline-style classes with different args: both named "mine"
        "[{class: my.py:MyPolicy, args: {spare: 1}}, {class: my.py:MyPolicy, args: {spare: 2}}]",
        # two explicit vectors: both "explicit"
        "[[1, 0, 1], [0, 1, 1]]",
    ],
)
def test_a_name_clash_asks_for_a_name(tmp_path, policies):
    cfg = write(tmp_path, HEAD + "flows:" + flow(f"policies: {policies}"))
    with pytest.raises(ConfigError) as err:
        build_scenario(load_config(cfg), max_images=1)
    msg = str(err.value)
    assert "\n" not in msg and "flows[0].policies[1]" in msg and "name:" in msg
    # a name tells them apart
    if "{" in policies:
        named, names = policies.replace("{class", "{name: a, class", 1), ["a", "mine"]
    else:
        named, names = "[{name: early, class: [1, 0, 1]}, [0, 1, 1]]", ["early", "explicit"]
    cfg = write(tmp_path, HEAD + "flows:" + flow(f"policies: {named}"))
    sc = build_scenario(load_config(cfg), max_images=1)
    assert sc.world_names == names
    # edge's vector [1, 0, 1] sends level 4 over the first hop, late's [0, 1, 1] level 3
    if names[0] == "early":
        assert [w.plan("f", "hcf").destinations[0].levels for w in sc.all_worlds] == [
            (4, 2),
            (3, 2),
        ]


def test_a_listed_policy_file_is_an_input_of_the_run(tmp_path):
    from hcf_ray.sim.driver import run_inputs

    cfg = write(tmp_path, HEAD + "policies: [edge, my.py:MyPolicy]\nflows:" + flow(""))
    inputs = run_inputs(build_scenario(load_config(cfg), max_images=1))
    assert inputs["my.py"] == hashlib.sha256(MY_POLICY.encode()).hexdigest()


def test_a_nameless_class_is_named_by_its_class(tmp_path):
    cfg = write(tmp_path, HEAD + "flows:" + flow("policies: [edge, my.py:Nameless]"))
    assert build_scenario(load_config(cfg), max_images=1).world_names == ["edge", "Nameless"]


def test_lists_of_different_lengths_are_one_line(tmp_path, capsys):
    from hcf_ray.cli import main

    text = HEAD + "policies: [edge, late]\nflows:" + flow("", "a")
    text += flow("policies: [edge, late, uniform]", "b", "r1")
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"flows\[1\]\.policies: 3 policies, but policies has 2"):
        build_scenario(load_config(cfg), max_images=1)
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 policies" in err[0]


@pytest.mark.parametrize("where", ["flow", "topology"])
def test_a_bad_listed_policy_names_its_place_in_the_list(tmp_path, where):
    listed = "policies: [edge, my.py:Missing]"
    if where == "flow":
        text, field = HEAD + "flows:" + flow(listed), "flows[0].policies[1]"
    else:
        text, field = HEAD + listed + "\nflows:" + flow(""), "policies[1]"
    with pytest.raises(ConfigError) as err:
        build_scenario(load_config(write(tmp_path, text)), max_images=1)
    assert f": {field}: " in str(err.value) or str(err.value).startswith(f"{field}: ")
    assert "Missing" in str(err.value)


def test_policy_and_policies_together_are_refused(tmp_path):
    cfg = write(tmp_path, HEAD + "flows:" + flow("policy: edge\n    policies: [late]"))
    with pytest.raises(ConfigError, match="policy or policies, not both"):
        load_config(cfg)


def test_flows_without_a_list_keep_their_policy_in_every_world(tmp_path):
    text = HEAD + "policies: [edge, late]\nflows:" + flow("", "a")
    text += flow("policy: uniform", "b", "r1")
    sc = build_scenario(load_config(write(tmp_path, text)), max_images=1)
    assert sc.world_names == ["edge", "late"]
    for world in sc.all_worlds:
        b = next(f for f in world.flows if f.spec.name == "b")
        assert [d.name for d in b.spec.destinations] == ["uniform"]


def test_an_old_single_policy_folder_still_resumes(ray_session, tmp_path):
    """Records written before policies were named held the label as ``policy`` and no
    ``policy_*`` fields; a resumed run adds only what is missing."""
    policy = "policy: {class: my.py:MyPolicy, args: {spare: 2}}"
    cfg = write(tmp_path, HEAD + "flows:" + flow(policy))
    dump = load_config(cfg).model_dump(mode="json")
    # the config dumps (and so identifies its folder) as it did before policies lists
    assert "policies" not in dump and "policies" not in dump["flows"][0]
    assert "name" not in dump["flows"][0]["policy"]
    sc = build_scenario(load_config(cfg), max_images=1)
    out = tmp_path / "out"
    run_simulation(sc, out, options=RunOptions(**OPTS))
    new = records(out)
    assert [r["policy"] for r in new] == ["mine", "-"]
    old = []
    for r in new:  # as the older hcf-sim wrote them
        r = {k: v for k, v in r.items() if k not in ("policy_args", "policy_sha256")}
        r["policy"] = r.pop("policy_spec")
        old.append(r)
    assert old[0]["policy"] == "my.py:MyPolicy(spare=2)"
    (out / "results.jsonl").write_text(json.dumps(old[0]) + "\n")
    summary = run_simulation(
        sc, out, options=RunOptions(**OPTS, resume=True, cache_dir=out / "cache")
    )
    assert summary["wall"]["records_kept"] == 1 and summary["wall"]["records_appended"] == 1
    assert [(r["method"], r["policy"]) for r in records(out)] == [
        ("hcf", "my.py:MyPolicy(spare=2)"),
        ("ssf", "-"),
    ]
