"""``hcf-sim train status``: where a work dir stands, from its files alone."""

import json

import pytest

from hcf_ray.bundle import load_bundle
from hcf_ray.cli import main
from hcf_ray.codecs import QualityLadder
from hcf_ray.pcf.train import TailDropRecipe, TailDropTrainer
from hcf_ray.train.hcf import HCFRecipe, HCFTrainer
from hcf_ray.train.ladder import LadderTrainer, Stage
from hcf_ray.train.shared import SharedRecipe, SharedTrainer
from hcf_ray.train.status import workdir_status


def test_ladder_status_counts_jobs_names_the_next_one_and_keeps_validation(
    tmp_path, one_image_dir, tiny_ladder_recipe
):
    recipe = tiny_ladder_recipe(
        val_every=3, base=[Stage(3, 64, 2, 1e-3)], spread=[Stage(4, 64, 2, 5e-4)]
    )
    work = tmp_path / "w"
    trainer = LadderTrainer(
        work, one_image_dir, one_image_dir, recipe, max_val_images=1, log=lambda m: None
    )
    trainer.run(max_jobs=1)
    trainer.run(max_hours=1e-9)  # stops inside spread/1/0 with a checkpoint at it 1
    st = workdir_status(work)
    assert (st.kind, st.done, st.total, st.finished) == ("ladder", 1, 4, False)
    assert "next job spread/1/0: level 1, it 1 of 4" in st.format()
    val = st.validation["2"]
    assert val["at"] == "base/2/0 it 3" and val["bpp"] > 0 and val["psnr"] > 0
    LadderTrainer(work, one_image_dir, one_image_dir, max_val_images=1, log=lambda m: None).run()
    st = workdir_status(work)
    assert st.finished and st.done == 4 and set(st.validation) == {"1", "2"}
    assert "finished" in st.format().splitlines()[0]


def test_ladder_status_of_an_only_levels_run_counts_its_own_jobs(
    tmp_path, one_image_dir, tiny_ladder_recipe
):
    recipe = tiny_ladder_recipe(spread=[Stage(2, 64, 2, 5e-4)])
    trainer = LadderTrainer(tmp_path / "w", one_image_dir, recipe=recipe, log=lambda m: None)
    trainer.run(only_levels={2}, max_jobs=1)
    st = workdir_status(tmp_path / "w")
    assert (st.done, st.total) == (1, 2)  # base/2/0 done, refine0/2/0 next; level 1 elsewhere
    assert "this work dir trains levels 2 (--only-levels)" in st.lines
    assert "next job refine0/2/0" in st.format()


def test_hcf_and_pcf_status(tmp_path, one_image_dir):
    QualityLadder.random("mbt2018-mean", 3, N=16, M=24, seed=3).save(tmp_path / "lad")
    ladder = load_bundle(str(tmp_path / "lad")).ladder
    recipe = HCFRecipe(
        phi_hidden=8, phi_res=2, cache_crops=4, crop=64, phase1_iters=2, phase1_batch=2,
        phase2_iters=2, phase2_batch=2, log_every=1,
    )  # fmt: skip
    hcf = HCFTrainer(ladder, tmp_path / "h", one_image_dir, recipe, log=lambda m: None)
    assert hcf.run(phase2=False)
    st = workdir_status(tmp_path / "h")
    assert (st.kind, st.done, st.total) == ("hcf", 2, 4)  # transitions 3->2, 2->1; no level yet
    assert "phase 1 done: 3->2, 2->1; phase 2 done: levels none" in st.format()
    assert st.last["transition"] == "2->1"

    pcf = TailDropTrainer(
        tmp_path / "p",
        one_image_dir,
        recipe=TailDropRecipe(N=16, M=24, group_size=8, crop=64, batch=2, iters=3, val_every=99),
        log=lambda m: None,
    )
    pcf.run()
    st = workdir_status(tmp_path / "p")
    assert (st.kind, st.done, st.total, st.finished) == ("pcf-tail", 3, 3, True)
    assert st.hours is not None and "N=16 M=24, groups of 8" in st.format()


def test_status_command_prints_text_or_json_and_refuses_other_dirs(tmp_path, one_image_dir, capsys):
    work = tmp_path / "p"
    TailDropTrainer(
        work,
        one_image_dir,
        recipe=TailDropRecipe(N=16, M=24, group_size=8, crop=64, batch=2, iters=2, val_every=99),
        log=lambda m: None,
    ).run(max_iters=1)
    assert main(["train", "status", str(work)]) == 0
    assert capsys.readouterr().out.startswith(f"{work}: pcf-tail trainer, 1 of 2 iterations")
    assert main(["train", "status", "--json", str(work)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "pcf-tail" and data["done"] == 1 and data["finished"] is False
    assert main(["train", "status", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hcf-sim: error: train status: {tmp_path}: not a training work dir " + (
        "(no state.json of a trainer)"
    )
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.json").write_text("{not json")
    assert main(["train", "status", str(tmp_path / "bad")]) == 2
    assert "state.json: not valid JSON" in capsys.readouterr().err


def test_shared_status_keeps_the_last_validation_of_every_level(tmp_path, one_image_dir):
    init = QualityLadder.random("mbt2018-mean", 2, N=16, M=24, seed=3)
    recipe = SharedRecipe(anchor=2, iters=4, batch=2, crop=64, val_every=2, log_every=2)
    trainer = SharedTrainer(
        tmp_path / "s", one_image_dir, init, one_image_dir, recipe, max_val_images=1,
        log=lambda m: None,
    )  # fmt: skip
    assert trainer.run()
    st = workdir_status(tmp_path / "s")
    assert (st.kind, st.done, st.total, st.unit, st.finished) == (
        "shared",
        4,
        4,
        "iterations",
        True,
    )
    assert set(st.validation) == {"1", "2"} and st.validation["1"]["at"] == "it 4"
    assert "anchor level 2, batch 2 x 64^2" in st.format()


def test_every_trainer_writes_the_common_state_block(tmp_path, one_image_dir, tiny_ladder_recipe):
    LadderTrainer(tmp_path / "w", one_image_dir, recipe=tiny_ladder_recipe(), log=print).run(
        max_jobs=1
    )
    state = json.loads((tmp_path / "w" / "state.json").read_text())
    assert state["trainer"] == "ladder" and state["format"] == 2
    assert state["progress"] == {"done": 1, "total": 4, "unit": "jobs"}
    assert state["phase"] == "spread" and state["log"] == "train.log.jsonl"
    assert state["seconds"] > 0 and state["lines"][0].startswith("mbt2018-mean N=16 M=24")


def test_a_work_dir_of_an_older_version_is_named_in_one_line_and_taken_over(
    tmp_path, one_image_dir, tiny_ladder_recipe, capsys
):
    work = tmp_path / "w"
    LadderTrainer(work, one_image_dir, recipe=tiny_ladder_recipe(), log=lambda m: None).run(
        max_jobs=1
    )
    state = json.loads((work / "state.json").read_text())
    common = ("trainer", "format", "progress", "phase", "seconds", "lines", "log", "validation")
    old = {k: v for k, v in state.items() if k not in common}
    (work / "state.json").write_text(json.dumps(old))  # as the per-trainer versions wrote it
    capsys.readouterr()
    assert main(["train", "status", str(work)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "written by an older version" in err
    LadderTrainer(work, one_image_dir, log=lambda m: None)  # opening it adds the common block
    st = workdir_status(work)
    assert (st.kind, st.done, st.total) == ("ladder", 1, 4)
    assert "next job spread/1/0: level 1, it 0 of 1" in st.format()

    # a pcf-tail work dir had recipe.json only: its trainer takes it over and resumes
    pcf = tmp_path / "p"
    recipe = TailDropRecipe(N=16, M=24, group_size=8, crop=64, batch=2, iters=3, val_every=99)
    TailDropTrainer(pcf, one_image_dir, recipe=recipe, log=lambda m: None).run(max_iters=2)
    (pcf / "state.json").unlink()
    with pytest.raises(ValueError, match="written by an older version"):
        workdir_status(pcf)
    again = TailDropTrainer(pcf, one_image_dir, recipe=recipe, log=lambda m: None)
    st = workdir_status(pcf)
    assert (st.kind, st.done, st.total, st.hours) == ("pcf-tail", 2, 3, None)
    again.run()
    assert workdir_status(pcf).finished
