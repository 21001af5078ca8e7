"""Resumed work dirs: the stored recipe is checked against the one asked for."""

import json

import pytest

from hcf_ray.cli import main
from hcf_ray.pcf.train import TailDropRecipe, TailDropTrainer
from hcf_ray.train.ladder import LadderTrainer, Stage
from hcf_ray.train.resume import RecipeMismatch, describe_changes, resumed_recipe


def test_resumed_recipe_takes_over_only_the_fields_that_may_change(tmp_path):
    stored = TailDropRecipe(iters=100, val_every=10, lr=1e-4)
    same, changes = resumed_recipe(
        tmp_path, stored, TailDropRecipe(iters=100, val_every=10, lr=1e-4)
    )
    assert same == stored and changes == {}
    assert resumed_recipe(tmp_path, stored, None) == (stored, {})

    longer, changes = resumed_recipe(
        tmp_path, stored, TailDropRecipe(iters=300, val_every=10, lr=1e-4), may_change=("iters",)
    )
    assert longer.iters == 300 and longer.lr == 1e-4 and changes == {"iters": (100, 300)}
    assert describe_changes(changes) == "iters 100 -> 300"

    with pytest.raises(RecipeMismatch, match=r"started with crop=128, not 64 \(and batch\)"):
        resumed_recipe(
            tmp_path, stored, TailDropRecipe(iters=100, val_every=10, lr=1e-4, crop=64, batch=2)
        )
    # an ignored field keeps the stored value and is not reported
    kept, changes = resumed_recipe(
        tmp_path, stored, TailDropRecipe(iters=100, val_every=10, lr=5e-4), ignore=("lr",)
    )
    assert kept.lr == 1e-4 and changes == {}


def test_ladder_work_dir_refuses_another_schedule_and_extends_rounds(
    tmp_path, one_image_dir, tiny_ladder_recipe
):
    work = tmp_path / "w"
    LadderTrainer(work, one_image_dir, recipe=tiny_ladder_recipe(), log=lambda m: None).run(
        max_jobs=1
    )
    with pytest.raises(RecipeMismatch, match="started with base="):
        LadderTrainer(work, one_image_dir, recipe=tiny_ladder_recipe(base=[Stage(2, 64, 2, 2e-3)]))
    with pytest.raises(RecipeMismatch, match="quant=noise, not ste"):
        LadderTrainer(work, one_image_dir, recipe=tiny_ladder_recipe(quant="ste"))
    lines = []
    more = LadderTrainer(
        work, one_image_dir, recipe=tiny_ladder_recipe(refine_rounds=2), log=lines.append
    )
    assert lines == [f"resuming {work} with refine_rounds 1 -> 2"]
    assert [j for j, _, _ in more.jobs()][-2:] == ["refine1/2/0", "refine1/1/0"]
    # the stored recipe now says 2 rounds: a bare resume keeps them
    assert json.loads((work / "state.json").read_text())["recipe"]["refine_rounds"] == 2
    assert LadderTrainer(work, one_image_dir).recipe.refine_rounds == 2


def test_pcf_work_dir_takes_more_iterations_and_refuses_another_model(tmp_path, one_image_dir):
    small = dict(N=16, M=24, group_size=8, crop=64, batch=2, val_every=1000)
    work = tmp_path / "p"
    TailDropTrainer(
        work, one_image_dir, recipe=TailDropRecipe(iters=2, **small), log=lambda m: None
    )
    more = TailDropTrainer(
        work, one_image_dir, recipe=TailDropRecipe(iters=5, **small), log=lambda m: None
    )
    assert more.recipe.iters == 5
    assert json.loads((work / "recipe.json").read_text())["recipe"]["iters"] == 5
    with pytest.raises(RecipeMismatch, match="started with M=24, not 32"):
        TailDropTrainer(work, one_image_dir, recipe=TailDropRecipe(iters=5, **{**small, "M": 32}))


def test_cli_names_the_changed_flag_in_one_line(tmp_path, one_image_dir, capsys):
    args = [
        "train", "ladder", "--data", str(one_image_dir), "--workdir", str(tmp_path / "w"),
        "--N", "16", "--M", "24", "--levels", "2", "--anchor", "2", "--base-iters", "2",
        "--spread-iters", "1", "--refine-iters", "1", "--refine-crop", "64",
        "--max-jobs", "1", "--threads", "1",
    ]  # fmt: skip
    assert main(args) == 0
    assert "base/2/0: 100%" in capsys.readouterr().err  # the job's progress bar
    assert main([*args, "--lr", "5e-4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("hcf-sim: error: train ladder: ") and "started with base=" in err


def test_ladder_init_from_takes_default_and_names_a_bad_dir(tmp_path, one_image_dir, capsys):
    common = ["train", "ladder", "--data", str(one_image_dir), "--threads", "1"]
    bad = [*common, "--workdir", str(tmp_path / "a"), "--init-from", str(tmp_path / "nope")]
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hcf-sim: error: --init-from: ") and "nope" in err
    out = tmp_path / "export"
    args = [*common, "--workdir", str(tmp_path / "b"), "--init-from", "default"]
    assert main([*args, "--export-only", "--export", str(out)]) == 0
    assert json.loads((out / "ladder.json").read_text())["levels"]
