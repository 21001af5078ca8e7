"""One method registry: every method runs on a topology with the same record schema, and its
records carry the bits `hcf-sim eval` measures for the same chain."""

import json
from pathlib import Path

import pytest
import yaml
from configs import small_photos

from hcf_ray.cli import main
from hcf_ray.methods import Method, get_method, method_names

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
ACCEPTANCE = ["hcf", "drf", "ssf", "pcf-j2k", "pcf-tail", "drf-jpeg"]


def test_the_registry_holds_every_method_once():
    from hcf_ray.policy._usercode import PREFIX

    # an earlier test of the same worker may have loaded a user method file: those are
    # known by name from then on, and come from a private user-code module
    user = {n for n in method_names() if type(get_method(n)).__module__.startswith(PREFIX)}
    assert set(method_names()) - user == {
        "hcf",
        "hcf-late",
        "drf",
        "drf-nq2",
        "ssf",
        "pcf-tail",
        "pcf-j2k",
        "drf-jpeg",
        "drf-webp",
    }
    for name in method_names():
        m = get_method(name)
        assert isinstance(m, Method) and m.name == name and m.description
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from hcf, "):
        get_method("nope")


@pytest.mark.parametrize("name", ["hcf", "drf", "pcf-j2k", "drf-jpeg"])
def test_a_route_with_forwarding_relays_runs_the_eval_chain_plus_forwards(name):
    """Levels (6, 4, 4, 3): the relay after the second hop forwards; the other stages are the
    ones of the eval chain 6 → 4 → 3."""
    m = get_method(name)
    stages = m.stages(6, 3, (6, 4, 4, 3))
    assert len(stages) == 5 and stages[2].is_forward
    chain = m.program(6, 3, (6, 4, 3)).stages
    assert tuple(st for st in stages if not st.is_forward) == chain


def _records(out: Path) -> dict:
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    return {(r["method"], r["image"]): r for r in rows}


def _eval_rows(out: Path, method: str, level: int) -> dict:
    rows = [json.loads(x) for x in (out / f"{method}.per_image.jsonl").read_text().splitlines()]
    return {r["image"]: r for r in rows if r["level"] == level}


@pytest.mark.parametrize("n_q", [4, 2])
def test_every_method_on_a_topology_matches_eval_bit_for_bit(ray_session, tmp_path, n_q):
    """The shipped every-method route on tiny random models: with n_q = 4 every hop
    quantizes (the chain 6, 5, 4, 3); with n_q = 2 two relays only forward. Each method's
    bpp and PSNR per image equal `hcf-sim eval --n-q N` at d = 3, exactly."""
    cfg = yaml.safe_load((ROOT / "topologies" / "methods.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ACCEPTANCE
    cfg["flows"][0]["destinations"][0]["n_q"] = n_q
    cfg["flows"][0]["images"] = small_photos()  # the same crops for run and eval
    path = tmp_path / "methods.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--max-images", "2"]) == 0
    got = _records(out)
    assert {m for m, _ in got} == set(ACCEPTANCE)
    schemas = {tuple(sorted(r)) for r in got.values()}
    assert len(schemas) == 1, "every method writes the same record fields"

    ev = tmp_path / "eval"
    args = ["eval", "--images", small_photos(), "--models", cfg["codec"], "--max-images", "2"]
    args += ["--methods", ",".join(ACCEPTANCE), "--n-q", str(n_q), "--out", str(ev)]
    args += ["--threads", "1"]  # as a node actor runs torch: the same float results
    assert main(args) == 0
    for method in ACCEPTANCE:
        rows = _eval_rows(ev, method, 3)
        assert len(rows) == 2
        for image, row in rows.items():
            rec = got[method, image]
            assert rec["status"] == "ok"
            assert rec["bpp"] == row["bpp"], (method, image)
            assert rec["psnr"] == row["psnr"], (method, image)
    # the relays really forwarded where the plan said so (n_q = 2: two of three relays)
    hcf = next(r for (m, _), r in got.items() if m == "hcf")
    assert len(set(hcf["levels"])) == n_q


USER_METHOD = '''
from hcf_ray.methods import DRF


class RecodeOnce(DRF):
    """DRF that decodes and re-encodes once, wherever the destination's policy says."""

    name = "recode-once"
    description = "DRF, a user method from a file"
'''


def test_a_user_method_file_is_planned_like_a_registered_one(tmp_path, capsys):
    from hcf_ray.sim.config import load_config
    from hcf_ray.sim.scenario import build_scenario

    (tmp_path / "mine.py").write_text(USER_METHOD)
    cfg = yaml.safe_load((ROOT / "topologies" / "methods.yaml").read_text())
    cfg["codec"] = "random:mbt2018-mean"
    cfg["flows"][0]["methods"] = ["drf", "mine.py:RecodeOnce"]
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    sc = build_scenario(load_config(path), max_images=1)
    drf, mine = sc.plan("route", "drf"), sc.plan("route", "recode-once")
    assert mine.method == "recode-once" and mine.jobs == drf.jobs
    assert "recode-once" in method_names()

    cfg["flows"][0]["methods"] = ["mine.py:Nope"]
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Method class 'Nope' in mine.py; it defines: RecodeOnce" in err[0]
