"""Training the HCF modules (``hcf-sim train hcf``), paper §4.

**Latent cache.** Random crops of the training folder are encoded once with every level's
``g_a`` and stored (crops as uint8, latents as fp16) in ``WORKDIR/cache.pt``: both phases then
run at latent resolution except phase 2's synthesis.

**Phase 1 — φ modules (Eq. 11–12).** Transitions are trained in order k = s … 2 with every
upstream network frozen. For a batch, an *upstream policy* for levels s..k+1 is drawn and the
already-trained modules produce the level-k cascade latent ỹ^k (φ^inter after a quantization,
φ^intra otherwise). φ^intra_{k→k-1} learns ``ỹ^k ↦ g_a^{k-1}(x)`` and φ^inter_{k→k-1} learns
``Q^k(ỹ^k) ↦ g_a^{k-1}(x)`` (L2), where Q^k is the level-k codec's real quantizer
(``round(y-μ)+μ`` with μ from the level-k hyperprior). The paper leaves the upstream policy
open; here it is drawn per batch: with probability ``p_edge`` the edge chain (quantize at s,
then intra), with ``p_source`` a cascade that *starts* at level k (ỹ^k = g_a^k(x), the
cross-quality case of Table 4), otherwise uniformly random bits — so one module set serves
every policy.

**Phase 2 — fine-tuning (Eq. 13).** For each target level k = s-1 … 1, a copy of the level-k
codec has its synthesis ``g_s^k`` and entropy model (``h_a``, ``h_s``, factorized bottleneck,
Gaussian conditional) trained with ``λ_k·255²·MSE + bpp`` on cascade latents drawn as above,
φ frozen; ``phase2_quant="ste"`` feeds ``g_s^k`` the rounded latent the receiver decodes
(:mod:`hcf_ray.train.losses`). ``g_a^k`` and all φ stay fixed; the base ladder is not
modified (SSF and DRF keep using it), the tuned copies form the *HCF ladder*.

**Continuing earlier work.** ``init_phi`` warm-starts phase 1 from an earlier φ bank;
with ``phase1_iters=0`` that bank is kept as it is. ``init_overlay`` starts each phase-2
level from an earlier HCF overlay instead of the base level, so phase 2 can be continued
without redoing it (φ must then be the bank the overlay was tuned on).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from hcf_ray.bundle import (
    OVERLAY_DIR,
    TUNED_PREFIXES,
    default_weights_dir,
    load_hcf_overlay,
    save_hcf_overlay,
)
from hcf_ray.codecs.ladder import QualityLadder, load_weights, weights_state
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.errors import InputError
from hcf_ray.hcf.bank import MANIFEST as PHI_MANIFEST
from hcf_ray.hcf.bank import PhiBank
from hcf_ray.hcf.modules import PhiConfig
from hcf_ray.train.base import Trainer, net_aux_adam, net_aux_step
from hcf_ray.train.data import CropSampler
from hcf_ray.train.losses import check_quant, rd_loss


@dataclass
class HCFRecipe:
    phi_hidden: int | None = 48
    phi_res: int = 4
    phi_attention: bool = False  # the shipped CPU default; the paper uses attention
    cache_crops: int = 3000
    crop: int = 128
    phase1_iters: int = 2500  # per transition
    phase1_batch: int = 16
    phase1_lr: float = 1e-3
    phase2_iters: int = 1500  # per target level
    phase2_batch: int = 8
    phase2_lr: float = 5e-5
    phase2_quant: str = "noise"  # see hcf_ray.train.losses: "noise" or "ste"
    p_edge: float = 0.5
    p_source: float = 0.2
    log_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        check_quant(self.phase2_quant)
        for name in ("cache_crops", "crop", "phase1_batch", "phase2_batch", "log_every"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("phase1_iters", "phase2_iters"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def phi_config(self) -> PhiConfig:
        return PhiConfig(self.phi_hidden, self.phi_res, self.phi_attention)


# -- cache ------------------------------------------------------------------------------------
@torch.no_grad()
def build_latent_cache(
    ladder: QualityLadder, sampler: CropSampler, n: int, crop: int, device="cpu"
) -> dict:
    xs = torch.cat([(sampler.batch(1, crop) * 255).round().byte() for _ in range(n)])
    xs = xs.to(device)
    ys: dict[int, Tensor] = {}
    for codec in ladder:
        chunks = [codec.model.g_a(xs[i : i + 64].float() / 255) for i in range(0, n, 64)]
        ys[codec.level] = torch.cat(chunks).half()
    return {"x": xs, "y": ys}


# -- upstream chain -----------------------------------------------------------------------------
def quantize(codec: LevelCodec, y: Tensor) -> Tensor:
    return codec.coder.dequantized(y)


def draw_upstream(s: int, k: int, rng: random.Random, p_edge: float, p_source: float):
    """An upstream policy for levels s..k+1, or None for a cascade that starts at k."""
    if k == s or rng.random() < p_source:
        return None
    if rng.random() < p_edge / (1 - p_source):
        return [1] + [0] * (s - k - 1)
    return [rng.randint(0, 1) for _ in range(s - k)]


@torch.no_grad()
def cascade_latent(ladder, phis, cache_y, idx, s, k, upstream) -> Tensor:
    """ỹ^k for a batch: g_a^k directly (upstream None) or through the trained chain from s."""
    if upstream is None:
        return cache_y[k][idx].float()
    y = cache_y[s][idx].float()
    for j, bit in zip(range(s, k, -1), upstream):
        y = phis.get(j, "inter")(quantize(ladder[j], y)) if bit else phis.get(j, "intra")(y)
    return y


# -- trainer ------------------------------------------------------------------------------------
class HCFTrainer(Trainer):
    kind = "hcf"
    recipe_cls = HCFRecipe
    may_change = ("log_every",)
    unit = "transitions + levels"

    def __init__(
        self,
        ladder: QualityLadder,
        workdir: str | Path,
        train_dir: str | Path,
        recipe: HCFRecipe | None = None,
        log=print,
        init_phi: str | Path | None = None,
        device: str | torch.device = "cpu",
        init_overlay: str | Path | None = None,
    ):
        fresh = {"phase1_done": [], "phase2_done": [], "seconds": 0.0}
        super().__init__(workdir, recipe, fresh, log, device)
        self.ladder = ladder.to(self.device)
        self.s = ladder.max_level
        if self.state.setdefault("source_level", self.s) != self.s:
            raise InputError(
                f"{self.workdir} was started on a ladder of levels 1..{self.state['source_level']}"
                f", not 1..{self.s}"
            )
        for c in ladder:
            for p in c.model.parameters():
                p.requires_grad_(False)
        torch.manual_seed(self.recipe.seed)
        self.phis = PhiBank.for_ladder(ladder, self.recipe.phi_config, seed=self.recipe.seed)
        self.phis.to(self.device)
        if (self.workdir / "phi.ckpt").exists():
            self.phis.load_state_dict(
                torch.load(self.workdir / "phi.ckpt", map_location=self.device, weights_only=True)
            )
        if init_phi is not None:
            self._init_phi(init_phi)
        if self.recipe.phase1_iters == 0 and self.state.get("phi_init") is None:
            raise InputError("phase1_iters=0 keeps the φ modules as they are: give init_phi")
        self.phase2_start = self._init_overlay(init_overlay)
        self.tuned: dict[int, nn.Module] = {}
        for k in self.state["phase2_done"]:
            self.tuned[k] = self._load_tuned(k)
        cache_path = self.workdir / "cache.pt"
        if cache_path.exists():
            self.cache = torch.load(cache_path, map_location=self.device, weights_only=True)
        else:
            t0 = time.time()
            sampler = CropSampler(train_dir, seed=self.recipe.seed + 1)
            self.cache = build_latent_cache(
                ladder, sampler, self.recipe.cache_crops, self.recipe.crop, self.device
            )
            torch.save(self.cache, cache_path)
            self.log(f"latent cache: {self.recipe.cache_crops} crops in {time.time() - t0:.0f} s")
        self.rng = random.Random(self.recipe.seed)
        self.upgrade_state()

    # -- status ---------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        # transitions s..2 and target levels s-1..1
        done = len(self.state["phase1_done"]) + len(self.state["phase2_done"])
        return done, 2 * (self.s - 1)

    def phase(self) -> str:
        return "phase 1" if len(self.state["phase1_done"]) < self.s - 1 else "phase 2"

    def seconds(self) -> float:
        return self.state["seconds"]

    def status_lines(self) -> list[str]:
        r, p1, p2 = self.recipe, self.state["phase1_done"], self.state["phase2_done"]
        lines = [
            f"phi hidden {r.phi_hidden} x {r.phi_res} blocks; phase 1 "
            f"{r.phase1_iters} it/transition, phase 2 {r.phase2_iters} it/level "
            f"(quant {r.phase2_quant})",
            f"phase 1 done: {', '.join(f'{k}->{k - 1}' for k in p1) or 'none'}; "
            f"phase 2 done: levels {', '.join(map(str, p2)) or 'none'}",
        ]
        for key in ("phi_init", "overlay_init"):
            if self.state.get(key):
                lines.append(f"{key.replace('_', ' ')}: {self.state[key]}")
        return lines

    def _init_phi(self, phi_dir: str | Path) -> None:
        """Warm-start phase 1 from an earlier φ bank (e.g. the shipped one, trained on the
        previous ladder): the modules then only follow the ladder's changes. Resuming a work
        dir that was started this way keeps its progress."""
        started = self.state.get("phi_init")
        if started is not None:
            if started != str(phi_dir):
                raise InputError(f"{self.workdir} was started from φ bank {started}, not {phi_dir}")
            return
        if self.state["phase1_done"]:
            raise InputError(f"{self.workdir} already holds trained φ modules; use a new work dir")
        bank = PhiBank.from_dir(phi_dir)
        if bank.channels != self.phis.channels or bank.config != self.phis.config:
            raise InputError(
                f"{phi_dir}: φ bank (channels {bank.channels}, {bank.config}) does not match "
                f"this ladder and recipe (channels {self.phis.channels}, {self.phis.config})"
            )
        self.phis.load_state_dict(bank.state_dict())
        torch.save(self.phis.state_dict(), self.workdir / "phi.ckpt")
        self.state["phi_init"] = str(phi_dir)
        self.state["phi_init_sha256"] = hashlib.sha256(
            (Path(phi_dir) / "phi.pt").read_bytes()
        ).hexdigest()
        manifest = Path(phi_dir) / PHI_MANIFEST
        if manifest.is_file():  # the earlier bank's own record, so exports keep the history
            self.state["previous_training"] = json.loads(manifest.read_text()).get("training")
        self.write_state()
        self.log(f"φ modules warm-started from {phi_dir}")

    def _init_overlay(self, overlay_dir: str | Path | None) -> QualityLadder:
        """The ladder each phase-2 level starts from: the base one, or an earlier HCF overlay
        (``overlay_dir/hcf``) over it. A resumed work dir keeps the overlay it started with."""
        started = self.state.get("overlay_init")
        if started is not None and overlay_dir is not None and str(overlay_dir) != started:
            raise InputError(
                f"{self.workdir} was started from overlay {started}, not {overlay_dir}"
            )
        if overlay_dir is None and started is None:
            return self.ladder
        if started is None and self.state["phase2_done"]:
            raise InputError(f"{self.workdir} already holds tuned levels; use a new work dir")
        path = Path(overlay_dir if overlay_dir is not None else started) / OVERLAY_DIR
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no HCF overlay there")
        overlay = load_hcf_overlay(self.ladder, path)
        missing = [k for k in range(1, self.s) if overlay[k] is self.ladder[k]]
        if missing:
            raise InputError(f"{path}: the overlay has no tuned level {missing[0]}")
        if started is None:
            self.state["overlay_init"] = str(overlay_dir)
            digest = hashlib.sha256()
            for f in sorted(path.iterdir()):
                digest.update(f.read_bytes())
            self.state["overlay_init_sha256"] = digest.hexdigest()
            self.write_state()
            self.log(f"phase 2 starts from the HCF overlay in {path}")
        return overlay

    def _batch_idx(self, n: int) -> Tensor:
        return torch.randint(0, self.cache["x"].size(0), (n,), device=self.device)

    # -- phase 1 ------------------------------------------------------------------------------
    def phase1(self, deadline: float | None = None) -> bool:
        r = self.recipe
        if r.phase1_iters == 0 and len(self.state["phase1_done"]) < self.s - 1:
            self.log(f"phase 1 skipped: φ modules kept from {self.state['phi_init']}")
            self.state["phase1_done"] = list(range(self.s, 1, -1))
            self.write_state()
        for k in range(self.s, 1, -1):
            if k in self.state["phase1_done"]:
                continue
            inter, intra = self.phis.get(k, "inter"), self.phis.get(k, "intra")
            params = list(inter.parameters()) + list(intra.parameters())
            opt = torch.optim.Adam(params, lr=r.phase1_lr)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                opt, r.phase1_iters, r.phase1_lr / 50
            )
            inter.train()
            intra.train()
            t0, acc = time.time(), {"intra": 0.0, "inter": 0.0, "var": 0.0}
            with self.progress_bar(r.phase1_iters, f"phase 1 {k}->{k - 1}") as bar:
                for it in range(1, r.phase1_iters + 1):
                    idx = self._batch_idx(r.phase1_batch)
                    up = draw_upstream(self.s, k, self.rng, r.p_edge, r.p_source)
                    y_k = cascade_latent(
                        self.ladder, self.phis, self.cache["y"], idx, self.s, k, up
                    )
                    target = self.cache["y"][k - 1][idx].float()
                    with torch.no_grad():
                        y_q = quantize(self.ladder[k], y_k)
                    loss_intra = nn.functional.mse_loss(intra(y_k), target)
                    loss_inter = nn.functional.mse_loss(inter(y_q), target)
                    opt.zero_grad()
                    (loss_intra + loss_inter).backward()
                    nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    sched.step()
                    bar.update(1)
                    acc["intra"] += loss_intra.item()
                    acc["inter"] += loss_inter.item()
                    acc["var"] += target.var().item()
                    head = {"phase": 1, "transition": f"{k}->{k - 1}"}
                    acc = self._log_mean(acc, it, r.phase1_iters, head)
                    if deadline is not None and time.time() > deadline:
                        self.log("phase 1: time budget reached; this transition restarts on resume")
                        return False
            inter.eval()
            intra.eval()
            torch.save(self.phis.state_dict(), self.workdir / "phi.ckpt")
            self.state["phase1_done"].append(k)
            self.state["seconds"] += time.time() - t0
            self.write_state()
        return True

    # -- phase 2 ------------------------------------------------------------------------------
    def _tuned_path(self, k: int) -> Path:
        return self.workdir / f"tuned{k}.ckpt"

    def _load_tuned(self, k: int) -> nn.Module:
        model = copy.deepcopy(self.ladder[k].model)
        state = torch.load(self._tuned_path(k), map_location=self.device, weights_only=True)
        load_weights(model, state)
        model.update(force=True)
        return model

    def phase2(self, deadline: float | None = None) -> bool:
        r = self.recipe
        for k in range(self.s - 1, 0, -1):
            if k in self.state["phase2_done"]:
                continue
            model = copy.deepcopy(self.phase2_start[k].model)
            opt, aux_opt = net_aux_adam(model, r.phase2_lr, 1e-3, prefixes=TUNED_PREFIXES)
            tuned = opt.param_groups[0]["params"]
            for p in tuned + aux_opt.param_groups[0]["params"]:
                p.requires_grad_(True)
            lmbda = self.ladder[k].lmbda
            model.train()
            t0, acc = time.time(), {"loss": 0.0, "bpp": 0.0, "mse": 0.0}
            with self.progress_bar(r.phase2_iters, f"phase 2 level {k}") as bar:
                for it in range(1, r.phase2_iters + 1):
                    idx = self._batch_idx(r.phase2_batch)
                    up = draw_upstream(self.s, k, self.rng, r.p_edge, 0.0)
                    y = cascade_latent(self.ladder, self.phis, self.cache["y"], idx, self.s, k, up)
                    x = self.cache["x"][idx].float() / 255
                    st = net_aux_step(
                        model,
                        opt,
                        aux_opt,
                        partial(rd_loss, model, x, lmbda, r.phase2_quant, y=y),
                        tuned,
                        1.0,
                    )
                    bar.update(1)
                    for key in acc:
                        acc[key] += st[key]
                    acc = self._log_mean(acc, it, r.phase2_iters, {"phase": 2, "level": k})
                    if deadline is not None and time.time() > deadline:
                        self.log("phase 2: time budget reached; this level restarts on resume")
                        return False
            model.eval()
            model.update(force=True)
            torch.save(weights_state(model, half=False), self._tuned_path(k))
            self.tuned[k] = model
            self.state["phase2_done"].append(k)
            self.state["seconds"] += time.time() - t0
            self.write_state()
        return True

    def run(self, max_hours: float | None = None, phase2: bool = True) -> bool:
        deadline = None if max_hours is None else time.time() + max_hours * 3600
        return self.phase1(deadline) and (not phase2 or self.phase2(deadline))

    # -- results ------------------------------------------------------------------------------
    def hcf_ladder(self) -> QualityLadder:
        """Base ladder with the phase-2 tuned levels swapped in."""
        codecs = []
        for c in self.ladder:
            model = self.tuned.get(c.level)
            codecs.append(LevelCodec(model, c.level, c.arch, c.lmbda) if model is not None else c)
        return QualityLadder(codecs)

    def _log_mean(self, acc: dict, it: int, last: int, head: dict) -> dict:
        """Every ``log_every`` iterations (and at the last): log the mean of ``acc`` since the
        previous record, and return it emptied; otherwise return it as it is."""
        every = self.recipe.log_every
        if it % every and it != last:
            return acc
        n = every if it % every == 0 else it % every
        self.log_record({**head, "it": it, **{key: v / n for key, v in acc.items()}})
        return dict.fromkeys(acc, 0.0)

    def export(self, out_dir: str | Path, ladder_spec: str | None = None) -> None:
        """Write ``phi.json``/``phi.pt`` and the HCF overlay ``hcf/`` into ``out_dir``.

        With ``ladder_spec`` (the spec the ladder was loaded from: ``zoo:ARCH@Q1-Q2``,
        ``default``, a directory), ``out_dir`` also gets a ``ladder.json`` that *references*
        that ladder (:func:`hcf_ray.model_spec.bundle_manifest`: the spec and each weights
        file's sha256, the zoo's files not copied), so ``out_dir`` is a complete model spec
        itself. A directory that holds a ladder of its own keeps it (no reference).
        """
        out_dir = Path(out_dir)
        manifest = None
        if ladder_spec is not None:
            from hcf_ray.model_spec import (
                BUNDLE_FORMAT,
                LADDER_MANIFEST,
                bundle_manifest,
                parse_spec,
            )

            existing = out_dir / LADDER_MANIFEST
            own = existing.is_file() and _manifest_format(existing) != BUNDLE_FORMAT
            if not own:
                manifest = bundle_manifest(parse_spec(ladder_spec))
        info = {
            "training": {
                "recipe": asdict(self.recipe),
                "hours": round(self.state["seconds"] / 3600, 3),
                "phi_init": _portable_dir(self.state.get("phi_init")),
                "phi_init_sha256": self.state.get("phi_init_sha256"),
                "overlay_init": _portable_dir(self.state.get("overlay_init")),
                "overlay_init_sha256": self.state.get("overlay_init_sha256"),
                "phase1_done": self.state["phase1_done"],
                "phase2_done": self.state["phase2_done"],
                "previous": self.state.get("previous_training"),
            }
        }
        self.phis.save(out_dir, extra=info)
        if self.tuned:
            save_hcf_overlay(self.hcf_ladder(), out_dir / "hcf", levels=sorted(self.tuned))
        if manifest is not None:
            (out_dir / LADDER_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _manifest_format(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get("format") if isinstance(data, dict) else None


def _portable_dir(path: str | None) -> str | None:
    """``default`` for the shipped weights dir (no machine path in a shipped file)."""
    if path is None:
        return None
    return "default" if Path(path).resolve() == Path(default_weights_dir()).resolve() else path
