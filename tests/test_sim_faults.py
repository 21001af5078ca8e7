"""Faults: crashed actors are restarted and their units computed again, actors that only
forward are health-checked, a unit that cannot be computed becomes error records while the
others go on, and a topology's ``faults:`` injects crashes, damaged payloads and bad images."""

import json
from pathlib import Path

import pytest
import ray
import yaml
from configs import small_photos

from hcf_ray.sim.config import load_config
from hcf_ray.sim.driver import RunOptions, node_workers, run_simulation
from hcf_ray.sim.scenario import build_scenario
from hcf_ray.sim.work.backend import DedicatedBackend

pytestmark = pytest.mark.heavy  # scheduled first: see conftest.py

ROOT = Path(__file__).resolve().parents[1]
CODEC = "random:mbt2018-mean"


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def without_wall(recs):
    return [{k: v for k, v in r.items() if k != "wall"} for r in recs]


def keys(recs):
    return [(r["flow"], r["destination"], r["image"], r["method"]) for r in recs]


def scenario(tmp_path, cfg: dict, max_images=2, name="topo.yaml"):
    for flow in cfg["flows"]:  # the claims are about faults, not image size
        flow.setdefault("images", small_photos())
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return build_scenario(load_config(path), max_images=max_images)


def mesh(**extra) -> dict:
    cfg = yaml.safe_load((ROOT / "topologies" / "mesh.yaml").read_text())
    cfg.update(extra)
    return cfg


def line(**extra) -> dict:
    cfg = {
        "name": "line",
        "codec": CODEC,
        "nodes": [{"id": "cam"}, {"id": "relay"}, {"id": "screen"}],
        "links": [
            {"src": "cam", "dst": "relay", "bandwidth_mbps": 10},
            {"src": "relay", "dst": "screen", "bandwidth_mbps": 10},
        ],
        "flows": [
            {
                "source": "cam",
                "destinations": [{"node": "screen", "level": 3}],
                "methods": ["ssf", "hcf"],
            }
        ],
    }
    cfg.update(extra)
    return cfg


CODEC_FIELDS = ("bpp", "psnr", "ms_ssim_db", "total_bytes", "levels", "path")
OPTS = dict(warmup=False, check_transport=False, timeout_s=120)


def test_killed_pool_actors_are_restarted_and_every_record_is_present(ray_session, tmp_path):
    """The mesh (random models: the claim is about scheduling): both pool actors are killed
    while units are in flight; Ray restarts them, the lost units are computed again, and the
    records equal a clean run's."""
    sc = scenario(tmp_path, mesh(codec=CODEC), max_images=2)
    clean = run_simulation(sc, tmp_path / "clean", options=RunOptions(**OPTS))
    assert clean["wall"]["faults"]["retries"] == 0

    def kill_all(done, total):
        if done == 1:
            for handle in state["backend"].actors.handles.values():
                ray.kill(handle, no_restart=False)

    state = {}
    from hcf_ray.sim.driver import make_backend

    backend = make_backend(sc, RunOptions(**OPTS))
    state["backend"] = backend
    opts = RunOptions(**OPTS, on_unit=kill_all)
    try:
        summary = run_simulation(sc, tmp_path / "killed", backend=backend, options=opts)
    finally:
        backend.close()
    got = records(tmp_path / "killed")
    assert summary["status"] == "ok"
    assert len(set(keys(got))) == len(got) == clean["records"]
    assert without_wall(got) == without_wall(records(tmp_path / "clean"))
    faults = summary["wall"]["faults"]
    assert faults["retries"] >= 1
    assert all(t["retried"] and "actor died" in t["cause"] for t in faults["tries"])


def test_injected_crash_is_retried_and_changes_no_record(ray_session, tmp_path):
    cfg = line()
    sc = scenario(tmp_path, cfg, max_images=3)
    clean = run_simulation(sc, tmp_path / "clean", options=RunOptions(**OPTS))
    cfg["faults"] = [{"kind": "crash", "node": "screen", "after_units": 2}]
    sc = scenario(tmp_path, cfg, max_images=3, name="crash.yaml")
    summary = run_simulation(sc, tmp_path / "crash", options=RunOptions(**OPTS))
    faults = summary["wall"]["faults"]
    assert [f["kind"] for f in faults["injected"]] == ["crash"]
    # the crashed unit, and any other unit the dying pool actor held, is computed again
    assert faults["retries"] == len(faults["tries"]) >= 1
    assert faults["injected"][0]["unit"] in {t["unit"] for t in faults["tries"]}
    assert summary["status"] == "ok" and summary["records"] == clean["records"]
    assert without_wall(records(tmp_path / "crash")) == without_wall(records(tmp_path / "clean"))


def test_dead_forward_only_actor_is_noticed(ray_session, tmp_path):
    """With one actor per node, the relay only forwards (SSF): it is never called, so only
    the health check can see that it died."""
    sc = scenario(tmp_path, line(placement="dedicated"), max_images=2)
    sc.flows[0].methods[:] = ["ssf"]
    backend = DedicatedBackend(node_workers(sc), sc.codec.spec, None, timeout_s=60)

    def kill_relay(done, total):
        if done == 1:
            ray.kill(backend.actors.handles["relay"])

    opts = RunOptions(**OPTS, on_unit=kill_relay)
    try:
        summary = run_simulation(sc, tmp_path / "out", backend=backend, options=opts)
        events = backend.health()
    finally:
        backend.close()
    assert summary["status"] == "ok" and len(records(tmp_path / "out")) == 2
    assert {"actor": "relay", "event": "dead"}.items() <= events[0].items()


def test_a_node_that_never_comes_back_gives_error_records(ray_session, tmp_path):
    sc = scenario(tmp_path, line(placement="dedicated"), max_images=3)
    sc.flows[0].methods[:] = ["ssf"]
    backend = DedicatedBackend(node_workers(sc), sc.codec.spec, None, timeout_s=60)

    def kill_screen(done, total):
        if done == 1:
            ray.kill(backend.actors.handles["screen"])  # no restart

    opts = RunOptions(**OPTS, on_unit=kill_screen, max_in_flight=1)
    try:
        summary = run_simulation(sc, tmp_path / "out", backend=backend, options=opts)
    finally:
        backend.close()
    got = records(tmp_path / "out")
    assert [r["status"] for r in got] == ["ok", "error", "error"]
    assert all("node 'screen'" in r["cause"] and "\n" not in r["cause"] for r in got[1:])
    assert summary["status"] == "partial"
    assert summary["failures"] == {"units": 2, "error_records": 2, "skipped_records": 0}
    tries = summary["wall"]["faults"]["tries"]
    assert len(tries) == 2 * 3  # each unit: first try and 2 retries
    flows = summary["flows"]["flow0"]["methods"]["ssf"]["destinations"]["screen"]
    assert flows["images"] == 1 and flows["failed"] == 2


def test_image_error_fault_skips_that_image_only(ray_session, tmp_path):
    from hcf_ray.images import sample_images

    bad = sample_images()[1].name
    cfg = line(faults=[{"kind": "image_error", "image": bad}])
    sc = scenario(tmp_path, cfg, max_images=2)
    summary = run_simulation(sc, tmp_path / "out", options=RunOptions(**OPTS))
    got = records(tmp_path / "out")
    status = {(r["image"], r["method"]): r["status"] for r in got}
    assert {s for (img, _), s in status.items() if img == bad} == {"skipped"}
    assert {s for (img, _), s in status.items() if img != bad} == {"ok"}
    assert summary["failures"]["skipped_records"] == 2


def test_a_bad_image_in_the_folder_gives_skipped_records_and_the_good_ones_run(
    ray_session, tmp_path, capsys
):
    from PIL import Image

    from hcf_ray.cli import main
    from hcf_ray.images import sample_images

    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_images()[:2]:
        Image.open(p).save(folder / p.name)
    (folder / "broken.png").write_bytes((folder / sample_images()[0].name).read_bytes()[:300])
    cfg = line()
    cfg["flows"][0]["images"] = str(folder)
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rc = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "broken.png" in err
    got = records(tmp_path / "out")
    skipped = [r for r in got if r["status"] == "skipped"]
    assert {(r["image"], r["method"]) for r in skipped} == {
        ("broken.png", "ssf"),
        ("broken.png", "hcf"),
    }
    assert all("broken.png" in r["cause"] and "\n" not in r["cause"] for r in skipped)
    ok = [r for r in got if r["status"] == "ok"]
    assert len(ok) == 2 * 2 and {r["image"] for r in ok} == {p.name for p in sample_images()[:2]}


DAMAGE = {  # mode -> what the receiver's integrity check must say
    "flip": "CRC mismatch",
    "truncate": "truncated bitstream",
    "append": "trailing bytes",
    "empty": "too short",
}


def test_damaged_payloads_become_error_records_for_that_image_only(ray_session, tmp_path, capfd):
    """``faults: corrupt`` on the first hop, in each way a link can damage bytes, each on its
    own image of one run: the receiver's integrity check refuses the stream (never a decode),
    each damaged unit becomes error records with its own cause, the undamaged image has the
    bits of a clean run, and the user sees one line per failure, no Ray dump."""
    from hcf_ray.cli import main
    from hcf_ray.images import load_image, sample_images, save_image

    photos = tmp_path / "photos"
    photos.mkdir()
    source = load_image(sample_images()[0])[..., :128, :192]
    names = [*(f"{mode}.png" for mode in DAMAGE), "clean.png"]
    for i, name in enumerate(names):  # five different small images
        save_image(source.roll(16 * i, dims=-1), photos / name)
    cfg = line()
    cfg["flows"][0]["methods"] = ["ssf", "drf", "hcf"]
    cfg["flows"][0]["images"] = str(photos)
    cfg["faults"] = [
        {"kind": "corrupt", "src": "cam", "dst": "relay", "mode": mode, "image": f"{mode}.png"}
        for mode in DAMAGE
    ]
    (tmp_path / "damaged.yaml").write_text(yaml.safe_dump(cfg))
    only_clean = tmp_path / "only_clean"
    only_clean.mkdir()
    (only_clean / "clean.png").write_bytes((photos / "clean.png").read_bytes())
    cfg = {**cfg, "faults": [], "flows": [{**cfg["flows"][0], "images": str(only_clean)}]}
    (tmp_path / "clean.yaml").write_text(yaml.safe_dump(cfg))

    assert main(["run", str(tmp_path / "clean.yaml"), "--out", str(tmp_path / "clean")]) == 0
    clean = {r["method"]: r for r in records(tmp_path / "clean")}
    assert len(clean) == 3
    capfd.readouterr()
    out = tmp_path / "damaged"
    assert main(["run", str(tmp_path / "damaged.yaml"), "--out", str(out)]) == 1
    cap = capfd.readouterr()
    assert "Traceback" not in cap.err + cap.out and "ray::" not in cap.err + cap.out
    got = records(out)
    assert len(got) == 3 * len(names)
    for r in got:
        mode = r["image"].removesuffix(".png")
        if mode in DAMAGE:
            # ssf and hcf relays only forward: the damage reaches the screen untouched
            assert r["status"] == "error" and DAMAGE[mode] in r["cause"], (mode, r)
            assert len(r["cause"]) <= 200 and "\n" not in r["cause"]
        else:  # the same bits as alone; latencies may differ, the failed images sent nothing
            ref = clean[r["method"]]
            assert r["status"] == "ok"
            assert {k: r[k] for k in CODEC_FIELDS} == {k: ref[k] for k in CODEC_FIELDS}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"]["error_records"] == 3 * len(DAMAGE)
