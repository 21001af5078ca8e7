"""Hyperprior fine-tuning on whole-image latents (``hcf-sim train hyper``).

**Why.** The ladder and HCF's phase 2 train on crops (192² and 128²): a crop's latent is 12×12
(8×8) and its hyper-latent 3×3 (2×2), so ``h_a``/``h_s`` — whose receptive field on ``y`` is
wider than that — spend their whole training next to zero-padded borders. A coded photo's
latent is 50–90 positions wide and almost every position is interior: the entropy model is
used on a distribution it never saw.

**What.** For each level, ``g_a``, ``g_s`` (and φ) stay frozen, and only the entropy model —
``h_a``, ``h_s`` and the factorized prior of ``z`` — is trained, on the latents of *whole*
training photos (each at scales 1, 3/4 and 1/2, optionally mirrored, padded as the encoder
pads them). Under the additive-noise proxy the distortion does not depend on the
hyperprior (``g_s`` sees ``y + u`` whatever the prior says), so the loss is the rate alone:
``−log₂ p(y + u | ẑ) − log₂ p(z + u)`` per pixel, λ drops out. ``h_s`` is fed the rounded
hyper-latent the decoder will see (``round(z − median) + median``, straight-through).

Jobs: ``base/k`` for every level of the base ladder (SSF, DRF and HCF's source encoder use
it) and, when the bundle has an HCF overlay, ``hcf/k`` for each overlay level — trained on
HCF cascade latents from the source level s, the upstream policy drawn per image as phase 2
draws it (the edge chain with probability ``p_edge``, otherwise random quantization bits),
intermediate quantizations by the codecs the cascade engine uses. Latents are computed
once with the models as they were at the start and cached in ``WORKDIR/cache.pt``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from compressai.ops import quantize_ste
from torch import Tensor, nn

from hcf_ray.atomic import atomic_path
from hcf_ray.bundle import OVERLAY_DIR, OVERLAY_MANIFEST, ModelBundle, save_hcf_overlay
from hcf_ray.codecs.ladder import MANIFEST as LADDER_MANIFEST
from hcf_ray.codecs.ladder import QualityLadder, load_weights, weights_state
from hcf_ray.codecs.level import LevelCodec, pad_image
from hcf_ray.errors import InputError
from hcf_ray.train.base import LOG, Trainer, net_aux_adam, on_cpu
from hcf_ray.train.data import CropSampler, validation_images
from hcf_ray.train.ladder import evaluate_level
from hcf_ray.train.losses import check_hyperprior, is_mean_scale
from hcf_ray.train.progress import progress_bar

TUNED = ("h_a.", "h_s.", "entropy_bottleneck.")
__all__ = ["LOG", "TUNED", "HyperRecipe", "HyperTrainer", "hyper_jobs", "latent_rate"]


@dataclass
class HyperRecipe:
    iters: int = 300  # per job (level)
    maps_per_iter: int = 4  # whole-image latents per optimizer step
    lr: float = 1e-4  # cosine decay to 0 over the job
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    flips: bool = True  # also the mirrored photos
    overlay: bool = True  # also the HCF overlay levels (when the bundle has them)
    p_edge: float = 0.5
    log_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("iters", "maps_per_iter", "log_every"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0 or self.aux_lr <= 0:
            raise InputError("lr and aux_lr must be positive")
        if not 0.0 <= self.p_edge <= 1.0:
            raise InputError(f"p_edge must be in [0, 1], got {self.p_edge}")


def overlay_levels(bundle: ModelBundle) -> list[int]:
    """Levels the bundle's HCF overlay replaces (the others are the base codecs themselves)."""
    if bundle.hcf_ladder is None:
        return []
    return [k for k in bundle.ladder.levels if bundle.hcf_ladder[k] is not bundle.ladder[k]]


def hyper_jobs(bundle: ModelBundle, recipe: HyperRecipe) -> list[str]:
    jobs = [f"base/{k}" for k in bundle.ladder.levels]
    if recipe.overlay and bundle.phis is not None:
        jobs += [f"hcf/{k}" for k in sorted(overlay_levels(bundle), reverse=True)]
    return jobs


def latent_rate(model: nn.Module, y: Tensor) -> tuple[Tensor, Tensor]:
    """Bits of ``y`` and of ``z`` for one latent under the additive-noise proxy (training
    mode); ``h_s`` sees the hyper-latent the decoder dequantizes."""
    z = model.h_a(y if is_mean_scale(model) else y.abs())
    _, z_lik = model.entropy_bottleneck(z)
    medians = model.entropy_bottleneck._get_medians()
    z_hat = quantize_ste(z - medians) + medians
    if is_mean_scale(model):
        scales, means = model.h_s(z_hat).chunk(2, 1)
    else:
        scales, means = model.h_s(z_hat), None
    _, y_lik = model.gaussian_conditional(y, scales, means=means)
    return -y_lik.log2().sum(), -z_lik.log2().sum()


def draw_upstream(s: int, rng: random.Random, p_edge: float) -> list[int]:
    """Quantization bits for the transitions s→s-1 … 2→1 (1 = quantize before φ^inter)."""
    if rng.random() < p_edge:
        return [1] + [0] * (s - 2)
    return [rng.randint(0, 1) for _ in range(s - 1)]


@torch.no_grad()
def image_latents(
    bundle: ModelBundle, x: Tensor, jobs: list[str], upstream: list[int]
) -> dict[str, Tensor]:
    """The latent each job's entropy model codes for image ``x`` (1,3,H,W)."""
    xp = pad_image(x)
    out = {}
    for codec in bundle.ladder:
        if f"base/{codec.level}" in jobs:
            out[f"base/{codec.level}"] = codec.model.g_a(xp)
    hcf = [j for j in jobs if j.startswith("hcf/")]
    if hcf:
        s, hl = bundle.ladder.max_level, bundle.hcf_ladder
        y = out[f"base/{s}"] if f"base/{s}" in out else bundle.ladder[s].model.g_a(xp)
        for j, bit in zip(range(s, 1, -1), upstream):
            phi = bundle.phis.get(j, "inter" if bit else "intra")
            y = phi(hl[j].coder.dequantized(y) if bit else y)
            if f"hcf/{j - 1}" in hcf:
                out[f"hcf/{j - 1}"] = y
    return out


def build_cache(
    bundle: ModelBundle, sampler: CropSampler, jobs: list[str], recipe: HyperRecipe
) -> dict:
    """Every job's latents of every training image (fp16, computed on the CPU where the
    bundle's models are), and each image's padded pixel count."""
    rng = random.Random(recipe.seed)
    maps: dict[str, list[Tensor]] = {job: [] for job in jobs}
    pixels: list[int] = []
    s = bundle.ladder.max_level
    with progress_bar(len(sampler.images) * (2 if recipe.flips else 1), "latents") as bar:
        for img in sampler.images:
            x = img[None].float().div(255)
            for xx in (x, x.flip(-1)) if recipe.flips else (x,):
                lat = image_latents(bundle, xx, jobs, draw_upstream(s, rng, recipe.p_edge))
                for job in jobs:
                    maps[job].append(lat[job].half())
                h, w = pad_image(xx).shape[-2:]
                pixels.append(int(h * w))
                bar.update(1)
    return {"maps": maps, "pixels": pixels}


@torch.no_grad()
def evaluate_hcf_level(
    ladder: QualityLadder, phis, hcf_ladder: QualityLadder, d: int, images: list[Tensor]
) -> dict:
    """HCF (edge, n_q = 2) from the source level to ``d`` with real bitstreams."""
    from hcf_ray.cascade import CascadeEngine
    from hcf_ray.metrics import psnr

    engine = CascadeEngine(ladder, phis, hcf_ladder)
    s = ladder.max_level
    bpps, psnrs = [], []
    for x in images:
        r = engine.run(x, "hcf", s, d, "edge", 2)
        bpps.append(r.bpp())
        psnrs.append(psnr(x, r.x_hat))
    return {"bpp": sum(bpps) / len(bpps), "psnr": sum(psnrs) / len(psnrs)}


class HyperTrainer(Trainer):
    """Resumable: ``WORKDIR/state.json``, ``cache.pt``, one checkpoint per running job and the
    tuned parts of every finished job (``base{k}.pt`` / ``hcf{k}.pt``)."""

    kind = "hyper"
    recipe_cls = HyperRecipe
    may_change = ("iters", "log_every")
    unit = "jobs"

    def __init__(
        self,
        bundle: ModelBundle,
        workdir: str | Path,
        train_dir: str | Path,
        val_dir: str | Path | None = None,
        recipe: HyperRecipe | None = None,
        max_val_images: int = 8,
        log=print,
        device: str | torch.device = "cpu",
    ):
        for codec in bundle.ladder:
            check_hyperprior(codec.model, "train hyper")
        self.bundle = bundle
        fresh = {"done": [], "hours": 0.0, "val": {}, "models": bundle.spec, "jobs": []}
        super().__init__(workdir, recipe, fresh, log, device)
        if self.state.get("models") != bundle.spec:
            raise InputError(
                f"{self.workdir}: this work dir tunes models {self.state.get('models')!r}, "
                f"not {bundle.spec!r}"
            )
        self.jobs = hyper_jobs(bundle, self.recipe)
        self.state["jobs"] = self.jobs
        self.train_dir = train_dir
        self.val_images = validation_images(val_dir, max_val_images)
        self._at: tuple[str, int] | None = None  # (job, it) of the last checkpoint written
        if "validation" not in self.state:  # a work dir from before the common state block
            for job, v in self.state["val"].items():
                if "after" in v:
                    self.record_validation(job, v["after"], "after tuning")
        self.upgrade_state()

    # -- status --------------------------------------------------------------------------
    def _pending(self) -> list[str]:
        return [job for job in self.jobs if job not in self.state["done"]]

    def progress(self) -> tuple[int, int]:
        return len(self.jobs) - len(self._pending()), len(self.jobs)

    def phase(self) -> str | None:
        pending = self._pending()
        return pending[0] if pending else None

    def seconds(self) -> float:
        return self.state["hours"] * 3600

    def status_lines(self) -> list[str]:
        r, done = self.recipe, self.state["done"]
        lines = [
            f"models {self.state['models']}; {r.iters} it/level of {r.maps_per_iter} "
            f"whole-image latents, lr {r.lr:g} (cosine)",
            f"done: {', '.join(done) or 'none'}",
        ]
        pending = self._pending()
        if pending:
            if self._at is not None and self._at[0] == pending[0]:
                at = self._at[1]
            else:
                at = _ckpt_iteration(self.workdir / "job.ckpt", pending[0])
            lines.append(f"next job {pending[0]}: it {at} of {r.iters}")
        for job, v in self.state["val"].items():
            if "before" in v and "after" in v:
                b, a = v["before"], v["after"]
                lines.append(
                    f"{job}: {b['bpp']:.4f} bpp {b['psnr']:.2f} dB -> {a['bpp']:.4f} bpp "
                    f"{a['psnr']:.2f} dB ({100 * (a['bpp'] / b['bpp'] - 1):+.2f} % rate)"
                )
        return lines

    # -- models ------------------------------------------------------------------------
    def _source(self, job: str) -> LevelCodec:
        kind, k = job.split("/")
        return (self.bundle.ladder if kind == "base" else self.bundle.hcf_ladder)[int(k)]

    def tuned_model(self, job: str) -> nn.Module:
        """The job's model with its tuned parts when the job is done (else as shipped)."""
        model = copy.deepcopy(self._source(job).model).float()
        if job in self.state["done"]:
            load_weights(model, torch.load(self._tuned_path(job), map_location="cpu"), partial=True)
        return model

    def ladders(self) -> tuple[QualityLadder, QualityLadder | None]:
        """(base, HCF) ladders with every finished job's tuned entropy model. The HCF ladder's
        levels outside the overlay are the (tuned) base codecs, as when a bundle is loaded."""

        def level(codec: LevelCodec, job: str) -> LevelCodec:
            if job not in self.state["done"]:
                return codec
            return LevelCodec(self.tuned_model(job).eval(), codec.level, codec.arch, codec.lmbda)

        base = QualityLadder([level(c, f"base/{c.level}") for c in self.bundle.ladder])
        if self.bundle.hcf_ladder is None:
            return base, None
        tuned = set(overlay_levels(self.bundle))
        hcf = QualityLadder(
            [
                level(c, f"hcf/{c.level}") if c.level in tuned else base[c.level]
                for c in self.bundle.hcf_ladder
            ]
        )
        return base, hcf

    def _tuned_path(self, job: str) -> Path:
        return self.workdir / f"{job.replace('/', '')}.pt"

    # -- training ------------------------------------------------------------------------
    def _cache(self) -> dict:
        path = self.workdir / "cache.pt"
        if path.is_file():
            cache = torch.load(path, map_location="cpu", weights_only=False)
            if set(self.jobs) <= set(cache["maps"]):
                return cache
        sampler = CropSampler(self.train_dir, seed=self.recipe.seed)
        n = len(sampler.images) * (2 if self.recipe.flips else 1)
        self.log(f"caching the whole-image latents of {n} images for {len(self.jobs)} jobs")
        cache = build_cache(self.bundle, sampler, self.jobs, self.recipe)
        with atomic_path(path) as tmp:
            torch.save(cache, tmp)
        return cache

    def run(self, max_hours: float | None = None) -> bool:
        """Run the pending jobs; False when ``max_hours`` stopped it first."""
        pending = [j for j in self.jobs if j not in self.state["done"]]
        if not pending:
            return True
        deadline = self.deadline(max_hours)
        cache = self._cache()
        return all(self._train_job(job, cache, deadline) for job in pending)

    def _validate(self, job: str, model: nn.Module) -> dict:
        kind, k = job.split("/")
        model = on_cpu(model)
        src = self._source(job)
        if kind == "base":
            return evaluate_level(model, int(k), src.arch, self.val_images)
        base, hcf = self.ladders()
        codecs = [
            LevelCodec(model, c.level, c.arch, c.lmbda) if c.level == int(k) else c for c in hcf
        ]
        return evaluate_hcf_level(
            base, self.bundle.phis, QualityLadder(codecs), int(k), self.val_images
        )

    def _train_job(self, job: str, cache: dict, deadline: float | None) -> bool:
        r = self.recipe
        maps, pixels = cache["maps"][job], cache["pixels"]
        model = copy.deepcopy(self._source(job).model).float().to(self.device)
        for p in model.parameters():
            p.requires_grad_(False)
        opt, aux_opt = net_aux_adam(model, r.lr, r.aux_lr, prefixes=TUNED)
        main = opt.param_groups[0]["params"]
        for p in main + aux_opt.param_groups[0]["params"]:
            p.requires_grad_(True)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, r.iters) / r.iters))
        )
        gen = torch.Generator().manual_seed(r.seed * 1000 + len(job) + int(job.split("/")[1]))
        it, t_job = 0, 0.0
        ckpt = self.workdir / "job.ckpt"
        if ckpt.is_file():
            data = torch.load(ckpt, map_location=self.device, weights_only=False)
            if data["job"] == job:
                load_weights(model, data["model"], partial=True)
                opt.load_state_dict(data["opt"])
                aux_opt.load_state_dict(data["aux_opt"])
                sched.load_state_dict(data["sched"])
                gen.set_state(data["rng"])
                it, t_job = data["it"], data["seconds"]
        if it == 0 and self.val_images:
            self.state["val"].setdefault(job, {})["before"] = self._validate(job, model)
            self.write_state()
        model.train()
        t0, acc = time.time(), {"bpp_y": 0.0, "bpp_z": 0.0}
        n_acc = 0
        with self.progress_bar(r.iters, f"hyper {job}", initial=it) as bar:
            while it < r.iters:
                opt.zero_grad()
                aux_opt.zero_grad()
                for _ in range(r.maps_per_iter):
                    i = int(torch.randint(len(maps), (1,), generator=gen))
                    y = maps[i].to(self.device).float()
                    by, bz = latent_rate(model, y)
                    ((by + bz) / (pixels[i] * r.maps_per_iter)).backward()
                    acc["bpp_y"] += by.item() / pixels[i]
                    acc["bpp_z"] += bz.item() / pixels[i]
                    n_acc += 1
                if r.clip_grad:
                    nn.utils.clip_grad_norm_(main, r.clip_grad)
                opt.step()
                sched.step()
                model.aux_loss().backward()
                aux_opt.step()
                it += 1
                bar.update(1)
                if it % r.log_every == 0 or it == r.iters:
                    rec = {"job": job, "it": it, "time": time.time()}
                    rec.update({k: v / n_acc for k, v in acc.items()})
                    acc, n_acc = {"bpp_y": 0.0, "bpp_z": 0.0}, 0
                    if it == r.iters and self.val_images:
                        rec["val"] = self._validate(job, model)
                        self.state["val"].setdefault(job, {})["after"] = rec["val"]
                        self.record_validation(job, rec["val"], "after tuning")
                        model.train()
                    self.log_record(rec)
                    now = time.time()
                    t_job, t0 = t_job + now - t0, now
                    self._checkpoint(job, it, model, opt, aux_opt, sched, gen, t_job)
                    if it < r.iters and deadline is not None and now > deadline:
                        return False
        torch.save(weights_state(on_cpu(model), half=False, prefixes=TUNED), self._tuned_path(job))
        self.state["done"].append(job)
        self.state["hours"] += t_job / 3600
        self.write_state()
        (self.workdir / "job.ckpt").unlink(missing_ok=True)
        return True

    def _checkpoint(self, job, it, model, opt, aux_opt, sched, gen, seconds) -> None:
        self.save_checkpoint(
            self.workdir / "job.ckpt",
            {
                "job": job,
                "it": it,
                "model": weights_state(model, half=False, prefixes=TUNED),
                "opt": opt.state_dict(),
                "aux_opt": aux_opt.state_dict(),
                "sched": sched.state_dict(),
                "rng": gen.get_state(),
                "seconds": seconds,
            },
        )
        self._at = (job, it)
        self.write_state()  # the running job's position, for status

    # -- export ---------------------------------------------------------------------------
    def export(self, out_dir: str | Path, source_dir: str | Path | None) -> Path:
        """A complete model directory: ``source_dir`` (the bundle's own directory; None for a
        ``zoo:``/``random:`` spec) with the tuned entropy models of the finished jobs, and
        the run in its training records. The ladder is written in full (its entropy models
        changed), also when the source bundle only referenced a zoo ladder."""
        out = Path(out_dir)
        src = Path(source_dir) if source_dir is not None else None
        if src is not None and out.resolve() == src.resolve():
            raise InputError(f"{out}: export to a new directory, not over the source models")
        base, hcf = self.ladders()
        record = {
            "recipe": asdict(self.recipe),
            "jobs_done": list(self.state["done"]),
            "hours": round(self.state["hours"], 3),
            "validation": self.state["val"],
        }
        manifest = json.loads((src / LADDER_MANIFEST).read_text()) if src is not None else {}
        training = manifest.get("training", {})
        run = {k: v for k, v in record.items() if k != "validation"}
        training["hyper"] = [*training.get("hyper", []), run]  # one record per run
        base.save(out, extra={"training": training})
        for name in ("phi.json", "phi.pt"):
            if src is not None and (src / name).is_file():
                shutil.copy2(src / name, out / name)
        if src is not None and (src / "pcf").is_dir():
            shutil.copytree(src / "pcf", out / "pcf", dirs_exist_ok=True)
        levels = overlay_levels(self.bundle)
        if hcf is not None and levels:
            save_hcf_overlay(hcf, out / OVERLAY_DIR, levels)
            path = out / OVERLAY_DIR / OVERLAY_MANIFEST
            src_overlay = src / OVERLAY_DIR / OVERLAY_MANIFEST if src is not None else None
            before = (
                json.loads(src_overlay.read_text()) if src_overlay and src_overlay.is_file() else {}
            )
            overlay = json.loads(path.read_text())
            overlay["hyper"] = [*before.get("hyper", []), run]
            path.write_text(json.dumps(overlay, indent=2) + "\n")
        (out / "hyper.json").write_text(json.dumps(record, indent=2) + "\n")
        return out


def _ckpt_iteration(ckpt: Path, job: str) -> int:
    """How far the running job's checkpoint is into ``job`` (0: another job or none)."""
    if not ckpt.is_file():
        return 0
    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    return data["it"] if data.get("job") == job else 0
