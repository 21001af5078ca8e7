"""One network for the whole ladder: per-level gain vectors (``hcf-sim train shared``).

A variable-rate ``mbt2018-mean`` model: the transforms ``g_a``, ``h_a``, ``h_s``, ``g_s`` and
the hyper-latent prior are shared by every level, and level ``k`` only owns a positive gain
per latent channel ``γ_k ∈ R^M``:

    y_k = γ_k ⊙ g_a(x)            (what level k quantizes and entropy-codes)
    z   = h_a(y_k / γ_k)          (the hyper-latent does not depend on the level)
    μ_k, σ_k = γ_k ⊙ h_s(ẑ)       (the level's Gaussian prior)
    x̂   = g_s(ŷ_k / γ_k)

Every training iteration therefore trains the transforms of all six levels at once (each
crop of a batch is coded at its own level with its own λ), which is the point on a machine
where per-level iterations are scarce. The gains fold exactly into the weights of six
independent ``MeanScaleHyperprior`` models (the last conv of ``g_a``, the first conv of
``h_a``, the last conv of ``h_s``, the first deconv of ``g_s``), so :meth:`SharedLadder.fold`
exports a standard ladder directory that every other command loads unchanged.

Note for HCF: in a folded shared ladder ``g_a^{k-1}(x) = (γ_{k-1}/γ_k) ⊙ g_a^k(x)`` exactly,
so φ^intra has a trivial solution. Such a ladder is a good *initialization* for independent
per-level training (``hcf-sim train ladder --init-from``), not a stand-in for the paper's
independently trained codecs.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from compressai.models import MeanScaleHyperprior
from compressai.ops import quantize_ste
from torch import Tensor, nn

from hcf_ray.codecs.ladder import MSE_LAMBDAS, QualityLadder
from hcf_ray.codecs.level import PAD_MULTIPLE, LevelCodec
from hcf_ray.errors import InputError
from hcf_ray.train.base import Trainer, net_aux_step, on_cpu
from hcf_ray.train.data import CropSampler, validation_images
from hcf_ray.train.ladder import evaluate_level
from hcf_ray.train.resume import LOG, read_log

GAIN_RANGE = (1e-2, 1e2)


class SharedLadder(nn.Module):
    """A ``MeanScaleHyperprior`` shared by ``levels`` quality levels through channel gains."""

    def __init__(self, net: MeanScaleHyperprior, gains: Tensor):
        super().__init__()
        if type(net) is not MeanScaleHyperprior:
            raise InputError(f"a shared ladder needs an mbt2018-mean network, not {type(net)}")
        m = net.g_a[-1].out_channels
        if gains.dim() != 2 or gains.size(1) != m or (gains <= 0).any():
            raise InputError(f"gains must be a positive (levels, {m}) tensor")
        self.net = net
        self.log_gain = nn.Parameter(gains.log().clone())

    @property
    def levels(self) -> list[int]:
        return list(range(1, self.log_gain.size(0) + 1))

    def gains(self) -> Tensor:
        return self.log_gain.clamp(math.log(GAIN_RANGE[0]), math.log(GAIN_RANGE[1])).exp()

    def forward(self, x: Tensor, levels: Tensor) -> dict:
        """``levels``: one level (1-based) per image of the batch.

        The rate terms see additive noise (in training), but ``h_s`` and ``g_s`` always get the
        latents the receiver decodes (``round(·−μ)+μ``, straight-through gradient): with noise,
        ``g_s`` would see ``U(−½,½)/γ``, which for a channel a level nearly switches off
        (small ``γ``) is noise many times the latent's own range.
        """
        n = self.net
        g = self.gains()[levels - 1][:, :, None, None]
        y = n.g_a(x) * g
        z = n.h_a(y / g)
        _, z_lik = n.entropy_bottleneck(z)
        medians = n.entropy_bottleneck._get_medians()
        z_hat = quantize_ste(z - medians) + medians
        scales, means = n.h_s(z_hat).chunk(2, 1)
        means = means * g
        _, y_lik = n.gaussian_conditional(y, scales * g, means=means)
        y_hat = quantize_ste(y - means) + means
        return {"x_hat": n.g_s(y_hat / g), "likelihoods": {"y": y_lik, "z": z_lik}}

    def aux_loss(self) -> Tensor:
        return self.net.aux_loss()

    @torch.no_grad()
    def fold(self, level: int) -> MeanScaleHyperprior:
        """An independent ``MeanScaleHyperprior`` that computes exactly level ``level``."""
        model = copy.deepcopy(self.net)
        g = self.gains()[level - 1]
        last_a, first_ha, last_hs, first_s = (
            model.g_a[-1],
            model.h_a[0],
            model.h_s[-1],
            model.g_s[0],
        )
        last_a.weight.mul_(g[:, None, None, None])
        last_a.bias.mul_(g)
        first_ha.weight.div_(g[None, :, None, None])
        g2 = torch.cat([g, g])  # h_s outputs (scales, means)
        last_hs.weight.mul_(g2[:, None, None, None])
        last_hs.bias.mul_(g2)
        first_s.weight.div_(g[:, None, None, None])  # ConvTranspose2d: (in, out, kh, kw)
        return model

    def ladder(self) -> QualityLadder:
        return QualityLadder(
            [
                LevelCodec(self.fold(k).eval(), k, "mbt2018-mean", MSE_LAMBDAS[k])
                for k in self.levels
            ]
        )

    @classmethod
    def from_ladder(
        cls, ladder: QualityLadder, anchor: int, sampler: CropSampler, crops: int = 16
    ) -> SharedLadder:
        """Start from level ``anchor``'s network; each level's gains are the per-channel
        least-squares fit of its own analysis transform by the anchor's,
        ``γ_k = argmin ‖γ ⊙ g_a^anchor(x) − g_a^k(x)‖²`` on ``crops`` training crops."""
        if ladder.arch != "mbt2018-mean":
            raise InputError(
                f"a shared ladder starts from an mbt2018-mean ladder, not {ladder.arch}"
            )
        ladder.check_level(anchor, "anchor")
        net = copy.deepcopy(ladder[anchor].model).float()
        x = sampler.batch(crops, 128)
        with torch.no_grad():
            ya = net.g_a(x)
            gains = []
            for k in ladder.levels:
                yk = ladder[k].model.float().g_a(x)
                fit = (ya * yk).sum(dim=(0, 2, 3)) / (ya * ya).sum(dim=(0, 2, 3)).clamp_min(1e-9)
                ratio = (yk.std(dim=(0, 2, 3)) / ya.std(dim=(0, 2, 3)).clamp_min(1e-9)).clamp_min(
                    GAIN_RANGE[0]
                )
                # channels whose fit is not positive fall back to the ratio of spreads
                gains.append(torch.where(fit > GAIN_RANGE[0], fit, ratio))
        return cls(net, torch.stack(gains).clamp(*GAIN_RANGE))


def shared_rd_loss(model: SharedLadder, x: Tensor, levels: Tensor) -> tuple[Tensor, dict]:
    """Mean over the batch of each crop's ``λ_k·255²·MSE + bpp`` at its own level."""
    out = model(x, levels)
    h, w = x.shape[-2:]
    bits = sum(
        torch.log(lik).sum(dim=(1, 2, 3)) for lik in out["likelihoods"].values()
    ) / -math.log(2)
    bpp = bits / (h * w)
    mse = (out["x_hat"] - x).pow(2).mean(dim=(1, 2, 3))
    lmbda = torch.tensor([MSE_LAMBDAS[int(k)] for k in levels], device=x.device)
    loss = (lmbda * 255.0**2 * mse + bpp).mean()
    return loss, {"loss": loss.item(), "bpp": bpp.mean().item(), "mse": mse.mean().item()}


@dataclass
class SharedRecipe:
    anchor: int = 4
    iters: int = 8000
    batch: int = 6  # crops per iteration; level of crop i is 1 + (i + it) mod levels
    crop: int = 192
    lr: float = 1e-4
    gain_lr: float = 1e-3
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    val_every: int = 2000  # validation on real bitstreams (all levels)
    log_every: int = 250  # training averages
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crop <= 0 or self.crop % PAD_MULTIPLE:
            raise InputError(
                f"crop must be a positive multiple of {PAD_MULTIPLE} (the latent of a crop "
                f"must have the hyper-latent's grid), got {self.crop}"
            )
        if self.batch <= 0 or self.iters <= 0:
            raise InputError("batch and iters must be positive")


class SharedTrainer(Trainer):
    """Resumable training of a :class:`SharedLadder` (``WORKDIR/shared.ckpt``, log, state)."""

    kind = "shared"
    recipe_cls = SharedRecipe
    may_change = ("iters", "val_every", "log_every")

    def __init__(
        self,
        workdir: str | Path,
        train_dir: str | Path,
        init_ladder: QualityLadder,
        val_dir: str | Path | None = None,
        recipe: SharedRecipe | None = None,
        max_val_images: int = 8,
        log=print,
        device: str | torch.device = "cpu",
    ):
        super().__init__(workdir, recipe, {"it": 0, "hours": 0.0}, log, device)
        r = self.recipe
        self.sampler = CropSampler(train_dir, seed=r.seed)
        torch.manual_seed(r.seed)
        self.model = SharedLadder.from_ladder(init_ladder, r.anchor, self.sampler)
        self.model.to(self.device)
        net_params = [
            p for n, p in self.model.net.named_parameters() if not n.endswith("quantiles")
        ]
        aux = [p for n, p in self.model.net.named_parameters() if n.endswith("quantiles")]
        self.opt = torch.optim.Adam(
            [{"params": net_params}, {"params": [self.model.log_gain], "lr": r.gain_lr}], lr=r.lr
        )
        self.aux_opt = torch.optim.Adam(aux, lr=r.aux_lr)
        ckpt = self.workdir / "shared.ckpt"
        if ckpt.exists():
            data = torch.load(ckpt, map_location=self.device, weights_only=False)
            self.model.load_state_dict(data["model"])
            self.opt.load_state_dict(data["opt"])
            self.aux_opt.load_state_dict(data["aux_opt"])
            self.sampler.set_state(data["rng"])
        self.val_images = validation_images(val_dir, max_val_images)
        if "validation" not in self.state:  # a work dir from before the common state block
            for rec in read_log(self.workdir / LOG):
                if "val" in rec:
                    self._record(rec["val"], rec["it"])
        self.upgrade_state()

    # -- status --------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        return self.state["it"], self.recipe.iters

    def seconds(self) -> float:
        return self.state["hours"] * 3600

    def status_lines(self) -> list[str]:
        r = self.recipe
        return [
            f"anchor level {r.anchor}, batch {r.batch} x {r.crop}^2, lr {r.lr:g}, "
            f"gain lr {r.gain_lr:g}"
        ]

    def _record(self, val: dict, it: int) -> None:
        self.state["validation"] = {}  # one validation covers every level
        for level, v in val.items():
            self.record_validation(level, v, f"it {it}")

    def validate(self) -> dict[int, dict]:
        model = on_cpu(self.model)
        return {
            k: evaluate_level(model.fold(k), k, "mbt2018-mean", self.val_images)
            for k in model.levels
        }

    def run(self, max_hours: float | None = None) -> bool:
        """Train to ``recipe.iters``; returns False when ``max_hours`` stopped it first."""
        r = self.recipe
        levels = len(self.model.levels)
        deadline = self.deadline(max_hours)
        t0, acc, n_acc = time.time(), {}, 0
        self.model.train()
        with self.progress_bar(r.iters, "shared ladder", initial=self.state["it"]) as bar:
            while self.state["it"] < r.iters:
                it = self.state["it"]
                x = self.sampler.batch(r.batch, r.crop).to(self.device)
                lv = torch.tensor(
                    [1 + (i + it) % levels for i in range(r.batch)], device=self.device
                )
                st = net_aux_step(
                    self.model,
                    self.opt,
                    self.aux_opt,
                    partial(shared_rd_loss, self.model, x, lv),
                    None,
                    r.clip_grad,
                )
                self.state["it"] = it + 1
                bar.update(1)
                for key, v in st.items():
                    acc[key] = acc.get(key, 0.0) + v
                n_acc += 1
                last = self.state["it"] == r.iters
                validate = self.val_images and (self.state["it"] % r.val_every == 0 or last)
                if validate or self.state["it"] % r.log_every == 0 or last:
                    rec = {"it": self.state["it"], "time": time.time(), "n_avg": n_acc}
                    rec.update({key: v / n_acc for key, v in acc.items()})
                    acc, n_acc = {}, 0
                    if validate:
                        rec["val"] = self.validate()
                        self._record(rec["val"], rec["it"])
                        self.model.train()
                    rec["gain_mean"] = self.model.gains().mean(dim=1).tolist()
                    self.log_record(rec)
                    t0 = self._save(t0)
                elif deadline is not None and time.time() > deadline:
                    self._save(t0)
                    return False
        return True

    def _save(self, t0: float) -> float:
        self.save_checkpoint(
            self.workdir / "shared.ckpt",
            {
                "model": self.model.state_dict(),
                "opt": self.opt.state_dict(),
                "aux_opt": self.aux_opt.state_dict(),
                "rng": self.sampler.state(),
            },
        )
        now = time.time()
        self.state["hours"] += (now - t0) / 3600
        self.write_state()
        return now

    def export(self, out_dir: str | Path) -> QualityLadder:
        """The folded ladder as a standard ladder directory (fp16), with its training record."""
        model = on_cpu(self.model)
        ladder = model.ladder()
        ladder.save(
            out_dir,
            extra={
                "training": {
                    "hours": round(self.state["hours"], 2),
                    "shared": {
                        "recipe": asdict(self.recipe),
                        "iterations": self.state["it"],
                        "gains": model.gains().tolist(),
                    },
                }
            },
        )
        return ladder
