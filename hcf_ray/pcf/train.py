"""Training the tail-drop progressive model (``hcf-sim train pcf``), resumable.

Recipe (ProgDTD's stochastic tail-drop on a mean-scale hyperprior):

* every sample of a batch draws a number of kept channel groups ``k`` uniformly from
  ``min_groups..G``; the dropped channels of ŷ are replaced by the means ``h_s(ẑ)`` predicts
  (what the decoder of a truncated stream does), and only the kept channels are charged rate;
* loss per sample ``λ(k)·255²·MSE + bpp`` (+ the entropy bottleneck's aux loss). With
  ``lambda_mode="ladder"`` (default) λ(k) runs log-linearly from ``lambda_min`` (k=1, ladder
  level 1) to ``lambda_max`` (k=G, ladder level 6), so short prefixes are trained to be
  good low-rate operating points and the full stream a level-6 one; ``"single"`` uses
  ``lambda_max`` for every k, as ProgDTD does;
* warm start (optional) from a ladder checkpoint of the same widths: its latent channels are
  first sorted by :func:`~hcf_ray.pcf.tail_drop.channel_importance` so the most important
  ones lead.

The work dir holds ``pcf.ckpt`` (model + optimizers + sampler state), ``state.json`` (the
trainers' common state, :mod:`hcf_ray.train.base`), ``recipe.json`` (the recipe and warm
start, as earlier versions wrote it; a work dir that has only this one is taken over) and
``train.log.jsonl`` (training averages, and on every validation the real-bitstream bpp/PSNR
of each prefix on the validation images next to JPEG 2000 at comparable rates). Rerunning
the same command resumes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hcf_ray.atomic import atomic_write_text
from hcf_ray.codecs.ladder import MSE_LAMBDAS
from hcf_ray.errors import InputError, read_json
from hcf_ray.pcf.codec import TailDropCodec
from hcf_ray.pcf.tail_drop import (
    TailDropHyperprior,
    channel_importance,
    permute_latent_channels,
    uniform_groups,
)
from hcf_ray.train.base import STATE, Trainer, net_aux_adam, net_aux_step
from hcf_ray.train.resume import save_state

CKPT = "pcf.ckpt"
RECIPE = "recipe.json"


@dataclass
class TailDropRecipe:
    N: int = 64
    M: int = 96
    group_size: int = 8
    iters: int = 1_000_000
    crop: int = 128
    batch: int = 8
    lr: float = 5e-4
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    lambda_mode: str = "ladder"
    lambda_min: float = MSE_LAMBDAS[1]
    lambda_max: float = MSE_LAMBDAS[6]
    min_groups: int = 1
    val_every: int = 500
    val_crop: int = 512
    val_images: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lambda_mode not in ("ladder", "single"):
            raise InputError(f"lambda_mode must be 'ladder' or 'single', got {self.lambda_mode!r}")
        groups = len(uniform_groups(self.M, self.group_size))
        if not 1 <= self.min_groups <= groups:
            raise InputError(f"min_groups must be in 1..{groups}, got {self.min_groups}")

    @property
    def group_sizes(self) -> tuple[int, ...]:
        return uniform_groups(self.M, self.group_size)

    def lambdas(self) -> Tensor:
        """λ for every kept-group count 1..G (index k-1)."""
        g = len(self.group_sizes)
        if self.lambda_mode == "single" or g == 1:
            return torch.full((g,), self.lambda_max)
        t = torch.linspace(0, 1, g)
        lo, hi = math.log(self.lambda_min), math.log(self.lambda_max)
        return torch.exp(lo + t * (hi - lo))


def tail_drop_loss(
    model: TailDropHyperprior, x: Tensor, k_groups: Tensor, lambdas: Tensor
) -> tuple[Tensor, dict]:
    """Mean over the batch of ``λ(k)·255²·MSE + bpp`` with sample i keeping ``k_groups[i]``."""
    ends = torch.tensor([model.channels_for(k) for k in range(model.num_groups + 1)])
    out = model.forward_tail(x, ends[k_groups])
    h, w = x.shape[-2:]
    y_bits = -(torch.log2(out["y_lik"]) * out["mask"]).sum(dim=(1, 2, 3))
    z_bits = -torch.log2(out["z_lik"]).sum(dim=(1, 2, 3))
    bpp = (y_bits + z_bits) / (h * w)
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    lmbda = lambdas[k_groups - 1].to(x.device)
    loss = (lmbda * 255.0**2 * mse + bpp).mean()
    return loss, {"loss": loss.item(), "bpp": bpp.mean().item(), "mse": mse.mean().item()}


def load_model_state(path: str | Path) -> dict:
    """A state dict from a trainer checkpoint (``{"model": ...}``) or a bare state dict."""
    data = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(data, dict) and "model" in data:
        data = data["model"]
    if not isinstance(data, dict):
        raise InputError(f"{path}: no model state dict inside")
    return {k: v.float() if v.is_floating_point() else v for k, v in data.items()}


def pick_warm_start(path: str | Path) -> Path:
    """A checkpoint file, or in a ladder work dir the highest ``level{k}.ckpt`` present."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        ckpts = sorted(path.glob("level*.ckpt"), key=lambda p: int(p.stem[5:] or 0))
        if ckpts:
            return ckpts[-1]
    raise InputError(f"{path}: no checkpoint to warm-start from")


class TailDropTrainer(Trainer):
    kind = "pcf-tail"
    recipe_cls = TailDropRecipe
    may_change = ("iters", "val_every")
    ignore = ("lr",)  # run()'s to override on resume, see hcf_ray.train.resume

    def __init__(
        self,
        workdir: str | Path,
        train_dir: str | Path,
        val_dir: str | Path | None = None,
        recipe: TailDropRecipe | None = None,
        warm_start: str | Path | None = None,
        log: Callable[[str], None] = print,
    ):
        from hcf_ray.train.data import CropSampler

        new = not any((Path(workdir) / name).exists() for name in (STATE, RECIPE))
        fresh = {
            "warm_start": str(pick_warm_start(warm_start)) if warm_start and new else None,
            "it": 0,
            "seconds": 0.0,
        }
        super().__init__(workdir, recipe, fresh, log)
        self.warm_start = self.state.get("warm_start")
        self.write_state()  # state.json and recipe.json from the start, as before
        r = self.recipe
        self.sampler = CropSampler(train_dir, seed=r.seed)
        self.val_images: list[Tensor] = []
        if val_dir is not None:
            from hcf_ray.images import image_files, load_image

            for p in image_files(val_dir)[: r.val_images]:
                self.val_images.append(_center_crop(load_image(p), r.val_crop))
        self._j2k_ref: list[list[tuple[float, float]]] | None = None

    @property
    def ckpt_path(self) -> Path:
        return self.workdir / CKPT

    # -- state ----------------------------------------------------------------------------
    def open_state(self, requested, fresh):
        recipe_path = self.workdir / RECIPE
        if not (self.workdir / STATE).exists() and recipe_path.exists():
            # a work dir from before state.json: its recipe.json and checkpoint say it all
            stored = read_json(recipe_path)
            it = 0
            if self.ckpt_path.exists():
                it = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)["it"]
            save_state(self.workdir, {**fresh, **stored, "it": it, "seconds": None})
        return super().open_state(requested, fresh)

    def write_state(self) -> None:
        super().write_state()
        stored = {"recipe": asdict(self.recipe), "warm_start": self.state.get("warm_start")}
        atomic_write_text(self.workdir / RECIPE, json.dumps(stored, indent=1))

    def progress(self) -> tuple[int, int]:
        return self.state["it"], self.recipe.iters

    def seconds(self) -> float | None:
        return self.state["seconds"]

    def status_lines(self) -> list[str]:
        r = self.recipe
        lines = [
            f"N={r.N} M={r.M}, groups of {r.group_size}, batch {r.batch} x {r.crop}^2, lr {r.lr:g}"
        ]
        if self.warm_start:
            lines.append(f"warm start: {self.warm_start}")
        return lines

    # -- model setup ----------------------------------------------------------------------
    def _init_model(self) -> tuple[TailDropHyperprior, dict | None]:
        r = self.recipe
        torch.manual_seed(r.seed)
        model = TailDropHyperprior(r.N, r.M, r.group_sizes)
        if self.ckpt_path.exists():
            data = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
            model.load_state_dict(data["model"])
            return model, data
        if self.warm_start:
            model.load_state_dict(load_model_state(self.warm_start))
            x = self.sampler.batch(8, r.crop)
            scores = channel_importance(model, x)
            perm = torch.argsort(scores, descending=True)
            permute_latent_channels(model, perm.tolist())
            self.log_record(
                {
                    "event": "warm_start",
                    "from": self.warm_start,
                    "importance_sorted": [round(float(s), 6) for s in scores[perm]],
                }
            )
        return model, None

    # -- loop -----------------------------------------------------------------------------
    def run(
        self,
        max_hours: float | None = None,
        max_iters: int | None = None,
        lr: float | None = None,
    ) -> TailDropHyperprior:
        """Train until ``recipe.iters``, ``max_iters`` more iterations or ``max_hours``."""
        r = self.recipe
        model, data = self._init_model()
        model.train()
        opt, aux_opt = net_aux_adam(model, r.lr, r.aux_lr)
        main = opt.param_groups[0]["params"]
        it = 0
        if data is not None:
            opt.load_state_dict(data["opt"])
            aux_opt.load_state_dict(data["aux_opt"])
            self.sampler.set_state(data["rng"])
            torch.set_rng_state(data["torch_rng"])
            it = data["it"]
        if lr is not None:
            for g in opt.param_groups:
                g["lr"] = lr
        lambdas = r.lambdas()
        groups = model.num_groups
        stop_it = r.iters if max_iters is None else min(r.iters, it + max_iters)
        t0 = self._t = time.time()
        acc: dict[str, float] = {}
        n_acc = 0
        with self.progress_bar(stop_it, "pcf-tail", initial=it) as bar:
            while it < stop_it:
                x = self.sampler.batch(r.batch, r.crop)
                k = torch.randint(r.min_groups, groups + 1, (r.batch,))
                st = net_aux_step(
                    model,
                    opt,
                    aux_opt,
                    partial(tail_drop_loss, model, x, k, lambdas),
                    main,
                    r.clip_grad,
                )
                it += 1
                bar.update(1)
                n_acc += 1
                for key, v in st.items():
                    acc[key] = acc.get(key, 0.0) + v
                out_of_time = max_hours is not None and time.time() - t0 >= max_hours * 3600
                if it % r.val_every == 0 or it == stop_it or out_of_time:
                    rec = {
                        "it": it,
                        "time": time.time(),
                        "lr": opt.param_groups[0]["lr"],
                        **{key: v / n_acc for key, v in acc.items()},
                    }
                    acc, n_acc = {}, 0
                    if self.val_images and (it % r.val_every == 0 or it == stop_it):
                        rec["val"] = self.validate(model)
                    self.log_record(rec)
                    self._save(model, opt, aux_opt, it)
                if out_of_time:
                    self.log(
                        f"time budget of {max_hours} h reached at it {it}; stopping (resumable)"
                    )
                    break
        return model

    # -- validation -----------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, model: TailDropHyperprior) -> dict:
        """Real bitstreams: mean bpp/PSNR of every prefix; JPEG 2000 at the same rates."""
        from hcf_ray.metrics import bd_psnr, bd_rate, psnr
        from hcf_ray.pcf import j2k
        from hcf_ray.pcf.methods import from_uint8, to_uint8

        was_training = model.training
        codec = TailDropCodec(model)
        g = model.num_groups
        bpps = np.zeros(g)
        psnrs = np.zeros(g)
        j2k_bpps = np.zeros(g)
        j2k_psnrs = np.zeros(g)
        for x in self.val_images:
            full = codec.encode(x)
            rates = []
            for k in range(1, g + 1):
                bs = full.truncate(k)
                bpps[k - 1] += bs.bpp()
                psnrs[k - 1] += psnr(x, codec.decode(bs))
                rates.append(bs.bpp())
            rates = _strictly_increasing(rates)
            stream = j2k.encode_layers(to_uint8(x), rates)
            h, w = x.shape[-2:]
            for k in range(1, g + 1):
                prefix = j2k.truncate_layers(stream, k)
                j2k_bpps[k - 1] += len(prefix) * 8.0 / (h * w)
                j2k_psnrs[k - 1] += psnr(x, from_uint8(j2k.decode_layers(prefix)))
        n = len(self.val_images)
        model.train(was_training)
        out = {
            "bpp": [round(v / n, 4) for v in bpps],
            "psnr": [round(v / n, 3) for v in psnrs],
            "j2k_bpp": [round(v / n, 4) for v in j2k_bpps],
            "j2k_psnr": [round(v / n, 3) for v in j2k_psnrs],
        }
        curves = (out["j2k_bpp"], out["j2k_psnr"], out["bpp"], out["psnr"])
        for key, fn in (("bd_rate_vs_j2k", bd_rate), ("bd_psnr_vs_j2k", bd_psnr)):
            try:
                value = round(fn(*curves), 3)
                out[key] = value if math.isfinite(value) else None
            except Exception:  # e.g. non-monotonic curves early in training
                out[key] = None
        return out

    # -- persistence ----------------------------------------------------------------------
    def _save(self, model, opt, aux_opt, it: int) -> None:
        self.save_checkpoint(
            self.ckpt_path,
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "aux_opt": aux_opt.state_dict(),
                "it": it,
                "rng": self.sampler.state(),
                "torch_rng": torch.get_rng_state(),
                "group_sizes": list(model.group_sizes),
            },
        )
        now = time.time()
        self.state["it"] = it
        if self.state["seconds"] is not None:  # None: a work dir from before it was counted
            self.state["seconds"] += now - self._t
        self._t = now
        self.write_state()

    def export(self, out_dir: str | Path) -> TailDropCodec:
        """Write the current checkpoint as shippable fp16 weights (``pcf.json`` + ``.pt``)."""
        if not self.ckpt_path.exists():
            raise FileNotFoundError(f"{self.ckpt_path}: nothing trained yet")
        r = self.recipe
        model = TailDropHyperprior(r.N, r.M, r.group_sizes)
        data = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(data["model"])
        codec = TailDropCodec(model)
        codec.save(
            out_dir,
            extra={
                "training": {
                    "iterations": data["it"],
                    # the manifest ships: no machine-local absolute path in it
                    "warm_start": _portable(self.warm_start),
                    "recipe": asdict(r),
                }
            },
        )
        return codec


def _portable(path: str | None) -> str | None:
    """``/home/me/runs/ladder/level4.ckpt`` → ``ladder/level4.ckpt``."""
    return None if path is None else "/".join(Path(path).parts[-2:])


def _center_crop(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw].contiguous()


def _strictly_increasing(rates: list[float]) -> list[float]:
    out = []
    for r in rates:
        out.append(max(r, out[-1] * 1.001 + 1e-4) if out else max(r, 1e-3))
    return out
