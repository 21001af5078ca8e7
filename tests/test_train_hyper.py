"""`hcf-sim train hyper`: entropy models fine-tuned on whole-image latents, transforms frozen."""

import json

import pytest
import torch

from hcf_ray.bundle import load_bundle, save_hcf_overlay
from hcf_ray.codecs import QualityLadder
from hcf_ray.hcf import PhiBank, PhiConfig
from hcf_ray.train.hyper import HyperRecipe, HyperTrainer, hyper_jobs, latent_rate
from hcf_ray.train.resume import RecipeMismatch


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A three-level model dir with φ modules and an HCF overlay for levels 1 and 2."""
    d = tmp_path_factory.mktemp("tiny_models")
    ladder = QualityLadder.random("mbt2018-mean", num_levels=3, N=16, M=24, seed=1)
    ladder.save(d, extra={"training": {"hours": 1.0}})
    PhiBank.for_ladder(ladder, PhiConfig(hidden=16, num_res=2), seed=1).save(d)
    save_hcf_overlay(ladder, d / "hcf", [1, 2])
    return d


def _trainer(models, workdir, data, **recipe):
    fields = dict(iters=6, maps_per_iter=2, lr=1e-2, log_every=3)
    return HyperTrainer(
        load_bundle(str(models)),
        workdir,
        data,
        data,
        HyperRecipe(**{**fields, **recipe}),
        log=lambda m: None,
    )


def test_jobs_cover_base_levels_then_overlay_levels(tiny_models):
    bundle = load_bundle(str(tiny_models))
    assert hyper_jobs(bundle, HyperRecipe()) == [
        "base/1",
        "base/2",
        "base/3",
        "hcf/2",
        "hcf/1",
    ]
    assert hyper_jobs(bundle, HyperRecipe(overlay=False)) == ["base/1", "base/2", "base/3"]


def test_tuning_lowers_the_real_rate_and_touches_only_the_entropy_model(
    tmp_path, tiny_models, one_image_dir
):
    tr = _trainer(tiny_models, tmp_path / "w", one_image_dir)
    assert tr.run()
    st = json.loads((tmp_path / "w" / "state.json").read_text())
    assert st["done"] == tr.jobs
    # validated on the training photo with real bitstreams: a random-init prior fits fast
    for job in ("base/1", "base/3", "hcf/1"):
        assert st["val"][job]["after"]["bpp"] < st["val"][job]["before"]["bpp"], job
    out = tr.export(tmp_path / "out", tiny_models)
    src, new = load_bundle(str(tiny_models)), load_bundle(str(out))
    for k in (1, 2, 3):
        a, b = src.ladder[k].model.state_dict(), new.ladder[k].model.state_dict()
        for name in a:
            if name.startswith(("g_a.", "g_s.")):
                assert torch.equal(a[name], b[name]), name
        changed = [n for n in a if n.startswith("h_s.") and not torch.equal(a[n], b[n])]
        assert changed, f"level {k}: h_s did not change"
    # the overlay levels are tuned too, g_s of the overlay untouched; φ copied verbatim
    for k in (1, 2):
        a, b = src.hcf_ladder[k].model.state_dict(), new.hcf_ladder[k].model.state_dict()
        assert torch.equal(a["g_s.0.weight"], b["g_s.0.weight"])
        assert not torch.equal(a["h_a.0.weight"], b["h_a.0.weight"])
    assert (out / "phi.pt").read_bytes() == (tiny_models / "phi.pt").read_bytes()
    manifest = json.loads((out / "ladder.json").read_text())
    assert manifest["training"]["hours"] == 1.0  # the source's record is kept
    assert manifest["training"]["hyper"][-1]["jobs_done"] == tr.jobs
    assert "hyper" in json.loads((out / "hcf" / "overlay.json").read_text())
    with pytest.raises(ValueError, match="new directory"):
        tr.export(tiny_models, tiny_models)


def test_an_interrupted_job_resumes_where_it_stopped(tmp_path, tiny_models, one_image_dir):
    w = tmp_path / "w"
    assert not _trainer(tiny_models, w, one_image_dir).run(max_hours=0)  # stops at it 3
    ckpt = torch.load(w / "job.ckpt", weights_only=False)
    assert (ckpt["job"], ckpt["it"]) == ("base/1", 3)
    assert _trainer(tiny_models, w, one_image_dir).run()
    log = [json.loads(line) for line in (w / "train.log.jsonl").read_text().splitlines()]
    assert [(r["job"], r["it"]) for r in log[:3]] == [("base/1", 3), ("base/1", 6), ("base/2", 3)]
    assert not (w / "job.ckpt").exists()
    # a changed recipe is refused; more iterations are taken over
    with pytest.raises(RecipeMismatch, match="lr"):
        _trainer(tiny_models, w, one_image_dir, lr=1e-3)
    assert _trainer(tiny_models, w, one_image_dir, iters=9).recipe.iters == 9


def test_rate_is_bits_of_both_latents_and_differentiable(tiny_models):
    model = load_bundle(str(tiny_models)).ladder[2].model.train()
    y = torch.randn(1, 24, 8, 8) * 3
    by, bz = latent_rate(model, y)
    assert by.item() > 0 and bz.item() > 0
    (by + bz).backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith(("h_a.", "h_s."))]
    assert sum(g.abs().sum() for g in grads if g is not None) > 0
    assert model.g_s[0].weight.grad is None  # the synthesis is not on the rate's path


def test_cli_errors_are_one_line(tmp_path, one_image_dir, capsys):
    from hcf_ray.cli import main

    rc = main(
        [
            "train",
            "hyper",
            "--models",
            str(tmp_path / "nope"),
            "--data",
            str(one_image_dir),
            "--workdir",
            str(tmp_path / "w"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--models" in err and len(err.splitlines()) == 1
    rc = main(
        [
            "train",
            "hyper",
            "--models",
            "default",
            "--data",
            str(one_image_dir),
            "--workdir",
            str(tmp_path / "w"),
            "--iters",
            "0",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "iters must be positive" in err and len(err.splitlines()) == 1


def test_status_reports_a_hyper_work_dir(tmp_path, tiny_models, one_image_dir):
    from hcf_ray.train.status import workdir_status

    w = tmp_path / "w"
    _trainer(tiny_models, w, one_image_dir).run(max_hours=0)
    st = workdir_status(w)
    assert st.kind == "hyper" and (st.done, st.total) == (0, 5)
    assert "next job base/1: it 3 of 6" in st.format()
