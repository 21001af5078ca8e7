"""Training loops: a handful of steps on tiny crops, loss decreases, checkpoints resume."""

import hashlib
import json

import pytest
import torch
from PIL import Image

from hcf_ray.bundle import load_bundle
from hcf_ray.codecs import QualityLadder
from hcf_ray.images import sample_images
from hcf_ray.train.hcf import HCFRecipe, HCFTrainer
from hcf_ray.train.ladder import LadderRecipe, LadderTrainer, Stage


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    for i, p in enumerate(sample_images()[:2]):
        Image.open(p).save(d / f"{i}.png")
    return d


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ladder_training_decreases_loss_and_resumes(tmp_path, image_dir):
    recipe = LadderRecipe(
        N=16,
        M=24,
        levels=2,
        anchor=2,
        val_every=15,
        base=[Stage(45, 64, 2, 2e-3)],
        spread=[Stage(2, 64, 2, 1e-3)],
        refine=[Stage(2, 64, 2, 1e-4)],
        refine_rounds=1,
    )
    work = tmp_path / "ladder"
    trainer = LadderTrainer(
        work, image_dir, image_dir, recipe, max_val_images=1, log=lambda m: None
    )
    trainer.run(max_jobs=1)
    log = _log(work / "train.log.jsonl")
    assert [r["it"] for r in log] == [15, 30, 45]
    assert log[-1]["loss"] < log[0]["loss"]
    assert "psnr" in log[-1]["val"] and log[-1]["val"]["bpp"] > 0
    state = json.loads((work / "state.json").read_text())
    assert state["done"] == ["base/2/0"] and state["trained"] == [2]

    # stop inside the next job (budget ~0): a checkpoint mid-job, then resume from it
    again = LadderTrainer(work, image_dir, image_dir, max_val_images=1, log=lambda m: None)
    again.run(max_hours=1e-9)
    ck = torch.load(work / "level1.ckpt", weights_only=False)
    assert ck["job"] == "spread/1/0" and ck["it"] == 1
    resumed = LadderTrainer(work, image_dir, None, log=lambda m: None)
    resumed.run()
    state = json.loads((work / "state.json").read_text())
    assert state["done"] == ["base/2/0", "spread/1/0", "refine0/2/0", "refine0/1/0"]
    spread = [r for r in _log(work / "train.log.jsonl") if r["job"] == "spread/1/0"]
    assert [r["it"] for r in spread] == [2]  # continued at it=1, not restarted
    assert spread[0]["n_avg"] == 1  # its averages cover only the iteration run since
    ladder = resumed.export(tmp_path / "export")
    assert QualityLadder.from_dir(tmp_path / "export").levels == ladder.levels == [1, 2]

    # a later session continues from the exported fp16 weights: refinement rounds only
    fresh = LadderTrainer(tmp_path / "next", image_dir, None, recipe, log=lambda m: None)
    fresh.import_ladder(tmp_path / "export")
    assert fresh.state["done"] == ["base/2/0", "spread/1/0"]
    fresh.run()
    assert json.loads((tmp_path / "next" / "state.json").read_text())["done"][-1] == "refine0/1/0"
    # each finished job records the stage it really ran, and the export carries it
    stages = json.loads((tmp_path / "next" / "state.json").read_text())["stages"]
    assert stages["refine0/1/0"] == {"iters": 2, "crop": 64, "batch": 2, "lr": 1e-4}
    manifest = json.loads((tmp_path / "export" / "ladder.json").read_text())
    assert set(manifest["training"]["sessions"][-1]["stages"]) == {
        "base/2/0",
        "spread/1/0",
        "refine0/2/0",
        "refine0/1/0",
    }

    # the next export adds a session to the imported ladder's training record
    fresh.export(tmp_path / "export2")
    training = json.loads((tmp_path / "export2" / "ladder.json").read_text())["training"]
    first = json.loads((tmp_path / "export" / "ladder.json").read_text())["training"]
    assert [s["stages"] for s in training["sessions"]] == [first["sessions"][0]["stages"], stages]
    assert training["hours"] == pytest.approx(first["hours"] + training["sessions"][1]["hours"])

    # --only-levels: a worker that owns level 2 leaves level 1's jobs to another work dir
    part = LadderTrainer(tmp_path / "part", image_dir, None, recipe, log=lambda m: None)
    part.import_ladder(tmp_path / "export")
    part.run(only_levels={2})
    done = json.loads((tmp_path / "part" / "state.json").read_text())["done"]
    assert done[-1] == "refine0/2/0" and "refine0/1/0" not in done
    # re-running the import to resume keeps the progress; a different source is refused
    before = (tmp_path / "part" / "level2.ckpt").read_bytes()
    part.import_ladder(tmp_path / "export")
    assert (tmp_path / "part" / "level2.ckpt").read_bytes() == before
    with pytest.raises(ValueError, match="already continues from"):
        part.import_ladder(tmp_path / "export2")

    # a second worker trains level 1; merging it gives one work dir with both levels
    other = LadderTrainer(tmp_path / "other", image_dir, None, recipe, log=lambda m: None)
    other.import_ladder(tmp_path / "export")
    other.run(only_levels={1})
    assert part.merge(tmp_path / "other") == [1]
    assert (tmp_path / "part" / "level1.ckpt").read_bytes() == (
        tmp_path / "other" / "level1.ckpt"
    ).read_bytes()
    assert set(part.state["stages"]) == {"refine0/2/0", "refine0/1/0"}
    hours = part.state["hours"]
    # merging the same work dir again (after it trained on) replaces the earlier merge
    assert part.merge(tmp_path / "other") == [1]
    assert part.state["hours"] == pytest.approx(hours)
    assert part.state["done"].count("refine0/1/0") == 1
    assert set(part.state["stages"]) == {"refine0/2/0", "refine0/1/0"}
    # a third work dir that also trained level 1 is refused
    (tmp_path / "third").mkdir()
    for f in ("state.json", "level1.ckpt"):
        (tmp_path / "third" / f).write_bytes((tmp_path / "other" / f).read_bytes())
    with pytest.raises(ValueError, match="trained in both"):
        part.merge(tmp_path / "third")
    merged = part.export(tmp_path / "merged")
    assert QualityLadder.from_dir(tmp_path / "merged").levels == merged.levels == [1, 2]


def test_refine_schedule_option_parses_stages_and_rejects_bad_ones():
    from hcf_ray.cli import UserError, build_parser
    from hcf_ray.train_cli import _refine_stages

    def stages(*extra):
        args = build_parser().parse_args(
            ["train", "ladder", "--data", "d", "--workdir", "w", *extra]
        )
        return _refine_stages(args)

    assert stages() == [Stage(2000, 128, 8, 2e-4)]
    args = build_parser().parse_args(
        ["train", "ladder", "--data", "d", "--workdir", "w", "--refine-rounds", "1"]
    )
    assert args.refine_rounds == 1
    assert stages("--refine-schedule", "2400:192:4:2e-4,700:192:4:5e-5") == [
        Stage(2400, 192, 4, 2e-4),
        Stage(700, 192, 4, 5e-5),
    ]
    for bad in ("2400:192:4", "x:192:4:1e-4", "0:192:4:1e-4"):
        with pytest.raises(UserError, match="--refine-schedule"):
            stages("--refine-schedule", bad)


def test_hcf_training_phases_export_and_resume(tmp_path, image_dir):
    QualityLadder.random("mbt2018-mean", 3, N=16, M=24, seed=3).save(tmp_path / "lad")
    ladder = load_bundle(str(tmp_path / "lad")).ladder
    recipe = HCFRecipe(
        phi_hidden=8,
        phi_res=2,
        cache_crops=24,
        crop=64,
        phase1_iters=40,
        phase1_batch=8,
        phase2_iters=6,
        phase2_batch=2,
        log_every=10,
    )
    work = tmp_path / "hcf"
    trainer = HCFTrainer(ladder, work, image_dir, recipe, log=lambda m: None)
    assert trainer.cache["x"].shape == (24, 3, 64, 64)
    assert trainer.run(phase2=False)
    log = _log(work / "train.log.jsonl")
    first = [r for r in log if r["transition"] == "3->2"]
    assert first[-1]["intra"] < first[0]["intra"] and first[-1]["inter"] < first[0]["inter"]
    # a new trainer on the same workdir resumes: phase 1 is not repeated, phase 2 runs
    resumed = HCFTrainer(ladder, work, image_dir, log=lambda m: None)
    assert torch.equal(
        resumed.phis.get(3, "inter").body[0].conv1.weight,
        trainer.phis.get(3, "inter").body[0].conv1.weight,
    )
    assert resumed.run()
    state = json.loads((work / "state.json").read_text())
    assert state["phase1_done"] == [3, 2] and state["phase2_done"] == [2, 1]
    resumed.export(tmp_path / "lad")
    bundle = load_bundle(str(tmp_path / "lad"))
    assert bundle.phis is not None and bundle.hcf_ladder is not None
    # the tuned synthesis differs from the base one, g_a is shared
    assert not torch.equal(bundle.hcf_ladder[2].model.g_s[0].weight, ladder[2].model.g_s[0].weight)
    x = torch.rand(1, 3, 64, 64)
    r = bundle.engine().run(x, "hcf", 3, 1, policy="edge", n_q=2)
    assert [t.level for t in r.transmissions] == [3, 1]


def test_hcf_phase1_warm_starts_from_an_earlier_phi_bank(tmp_path, image_dir):
    QualityLadder.random("mbt2018-mean", 3, N=16, M=24, seed=3).save(tmp_path / "lad")
    ladder = load_bundle(str(tmp_path / "lad")).ladder
    small = dict(cache_crops=8, crop=64, phase1_batch=4, log_every=5)
    first = HCFTrainer(
        ladder,
        tmp_path / "h1",
        image_dir,
        HCFRecipe(phi_hidden=8, phi_res=2, phase1_iters=30, **small),
        log=lambda m: None,
    )
    assert first.run(phase2=False)
    first.export(tmp_path / "lad")  # phi.json / phi.pt beside the ladder
    recipe = HCFRecipe(phi_hidden=8, phi_res=2, phase1_iters=10, phase1_lr=1e-4, **small)
    warm = HCFTrainer(
        ladder, tmp_path / "h2", image_dir, recipe, log=lambda m: None, init_phi=tmp_path / "lad"
    )
    key = "modules_.3_inter.body.0.conv1.weight"
    assert torch.equal(warm.phis.state_dict()[key], first.phis.state_dict()[key].half().float())
    cold = HCFTrainer(ladder, tmp_path / "h3", image_dir, recipe, log=lambda m: None)
    assert warm.run(phase2=False) and cold.run(phase2=False)
    loss = {
        n: [r for r in _log(tmp_path / n / "train.log.jsonl") if r["transition"] == "3->2"]
        for n in ("h2", "h3")
    }
    assert loss["h2"][0]["intra"] < loss["h3"][0]["intra"]  # it starts where the first left off
    # the export records which bank it started from, by content
    warm.export(tmp_path / "out")
    record = json.loads((tmp_path / "out" / "phi.json").read_text())["training"]
    assert record["phi_init"] == str(tmp_path / "lad")
    assert (
        record["phi_init_sha256"]
        == hashlib.sha256((tmp_path / "lad" / "phi.pt").read_bytes()).hexdigest()
    )
    # resuming the work dir with the same bank keeps its progress; another bank is refused
    again = HCFTrainer(
        ladder, tmp_path / "h2", image_dir, log=lambda m: None, init_phi=tmp_path / "lad"
    )
    assert torch.equal(again.phis.state_dict()[key], warm.phis.state_dict()[key])
    with pytest.raises(ValueError, match="started from"):
        HCFTrainer(ladder, tmp_path / "h2", image_dir, log=lambda m: None, init_phi=tmp_path / "x")
    # a bank of another shape is refused with both shapes named
    other = HCFRecipe(phi_hidden=4, phi_res=2, phase1_iters=10, **small)
    with pytest.raises(ValueError, match="does not match"):
        HCFTrainer(
            ladder, tmp_path / "h4", image_dir, other, log=lambda m: None, init_phi=tmp_path / "lad"
        )


def test_hcf_phase2_continues_from_an_earlier_overlay(tmp_path, image_dir, capsys):
    QualityLadder.random("mbt2018-mean", 3, N=16, M=24, seed=3).save(tmp_path / "lad")
    ladder = load_bundle(str(tmp_path / "lad")).ladder
    small = dict(phi_hidden=8, phi_res=2, cache_crops=8, crop=64, phase1_batch=4, log_every=3)
    first = HCFTrainer(
        ladder,
        tmp_path / "h1",
        image_dir,
        HCFRecipe(phase1_iters=10, phase2_iters=6, phase2_batch=2, **small),
        log=lambda m: None,
    )
    assert first.run()
    first.export(tmp_path / "lad")  # φ bank + overlay beside the ladder
    shipped = load_bundle(str(tmp_path / "lad"))
    # phase 1 off without a bank to keep would leave random modules: refused
    cont = HCFRecipe(phase1_iters=0, phase2_iters=3, phase2_batch=2, phase2_lr=0.0, **small)
    with pytest.raises(ValueError, match="init_phi"):
        HCFTrainer(ladder, tmp_path / "bad", image_dir, cont, log=lambda m: None)
    # lr 0: phase 2 leaves the weights where it started, i.e. exactly the overlay's
    again = HCFTrainer(
        ladder,
        tmp_path / "h2",
        image_dir,
        cont,
        log=lambda m: None,
        init_phi=tmp_path / "lad",
        init_overlay=tmp_path / "lad",
    )
    key = "modules_.3_inter.body.0.conv1.weight"
    capsys.readouterr()
    assert again.run()
    bars = capsys.readouterr().err  # one progress bar per phase-2 level, none for phase 1
    assert "phase 2 level 2: 100%" in bars and "phase 2 level 1: 100%" in bars
    assert "phase 1" not in bars
    assert not [r for r in _log(tmp_path / "h2" / "train.log.jsonl") if r.get("phase") == 1]
    assert torch.equal(again.phis.state_dict()[key], shipped.phis.state_dict()[key])
    for k in (1, 2):
        assert torch.equal(
            again.tuned[k].g_s[0].weight, shipped.hcf_ladder[k].model.g_s[0].weight
        ), k
        assert not torch.equal(again.tuned[k].g_s[0].weight, ladder[k].model.g_s[0].weight)
    again.export(tmp_path / "out")
    record = json.loads((tmp_path / "out" / "phi.json").read_text())["training"]
    assert record["overlay_init"] == str(tmp_path / "lad") and record["overlay_init_sha256"]
    assert record["previous"]["recipe"]["phase1_iters"] == 10  # the bank's own history
    # a resumed work dir refuses another recipe, naming the field
    longer = HCFRecipe(phase1_iters=0, phase2_iters=5, phase2_batch=2, phase2_lr=0.0, **small)
    with pytest.raises(ValueError, match="started with phase2_iters=3, not 5"):
        HCFTrainer(ladder, tmp_path / "h2", image_dir, longer, log=lambda m: None)
    # the work dir remembers its overlay; another one is refused, as is a dir without one
    with pytest.raises(ValueError, match="started from overlay"):
        HCFTrainer(ladder, tmp_path / "h2", image_dir, log=lambda m: None, init_overlay=tmp_path)
    with pytest.raises(FileNotFoundError, match="no HCF overlay"):
        HCFTrainer(
            ladder,
            tmp_path / "h3",
            image_dir,
            HCFRecipe(**small),
            log=lambda m: None,
            init_overlay=tmp_path / "h1",
        )


def test_previous_sessions_reads_flat_and_session_manifests():
    from hcf_ray.train.ladder import previous_sessions

    flat = {"hours": 4.25, "stages": {"refine0/6/0": {}}}
    assert previous_sessions(flat) == [flat]  # manifests written before sessions existed
    assert previous_sessions({"hours": 5.0, "sessions": [flat, {"hours": 0.75}]}) == [
        flat,
        {"hours": 0.75},
    ]
    assert previous_sessions({}) == []
