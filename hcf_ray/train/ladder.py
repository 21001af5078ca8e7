"""Training the base codec ladder (``hcf-sim train ladder``).

Schedule, all resumable from ``WORKDIR`` (``state.json`` + one checkpoint per level):

1. **base** — the anchor level (default 4, λ=0.0130) from scratch.
2. **spread** — every other level warm-started from the nearest already-trained level,
   in order of distance from the anchor (5, 3, 6, 2, 1).
3. **refine** — round-robin over all levels with larger crops and a lower learning rate,
   repeated until ``--max-hours`` or ``--refine-rounds`` is reached.

Loss: ``λ·255²·MSE + bpp`` (CompressAI's convention, :mod:`hcf_ray.train.losses`, with the
recipe's quantization proxy ``quant``) plus the entropy bottleneck's aux loss with its own
optimizer. Validation: real entropy-coded bitstreams on a held-out folder, on the CPU
whatever ``device`` trains.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from hcf_ray.atomic import atomic_write_bytes
from hcf_ray.codecs.ladder import MSE_LAMBDAS, QualityLadder, build_model
from hcf_ray.codecs.level import LevelCodec
from hcf_ray.errors import InputError, read_json
from hcf_ray.train.base import LOG, Trainer, net_aux_adam, net_aux_step, on_cpu
from hcf_ray.train.data import CropSampler, validation_images
from hcf_ray.train.losses import check_quant, rd_loss
from hcf_ray.train.resume import read_log

__all__ = ["LadderRecipe", "LadderTrainer", "Stage", "ladder_jobs", "on_cpu", "train_step"]


@dataclass
class Stage:
    """One block of iterations with fixed crop size, batch size and learning rate."""

    iters: int
    crop: int
    batch: int
    lr: float


@dataclass
class LadderRecipe:
    arch: str = "mbt2018-mean"
    N: int = 64
    M: int = 96
    levels: int = 6
    anchor: int = 4
    base: list[Stage] = field(default_factory=lambda: [Stage(8000, 64, 16, 1e-3)])
    spread: list[Stage] = field(default_factory=lambda: [Stage(3000, 64, 16, 5e-4)])
    refine: list[Stage] = field(default_factory=lambda: [Stage(2000, 128, 8, 1e-4)])
    refine_rounds: int = 100
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    val_every: int = 1000
    seed: int = 0
    quant: str = "noise"  # see hcf_ray.train.losses: "noise" or "ste"

    def __post_init__(self) -> None:
        check_quant(self.quant)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> LadderRecipe:
        d = dict(d)
        for key in ("base", "spread", "refine"):
            d[key] = [Stage(**s) for s in d[key]]
        return cls(**d)

    def spread_order(self) -> list[int]:
        others = [k for k in range(1, self.levels + 1) if k != self.anchor]
        return sorted(others, key=lambda k: (abs(k - self.anchor), -k))


def optimizers(model: nn.Module, lr: float, aux_lr: float):
    """Adam for the model's weights and a separate Adam for the bottleneck quantiles."""
    return net_aux_adam(model, lr, aux_lr)


def train_step(model, opt, aux_opt, x, lmbda: float, quant: str, clip_grad: float) -> dict:
    """One ladder iteration: RD loss, backward, clipping, Adam step, then the aux step."""
    return net_aux_step(
        model, opt, aux_opt, lambda: rd_loss(model, x, lmbda, quant), None, clip_grad
    )


@torch.no_grad()
def evaluate_level(model: nn.Module, level: int, arch: str, images: list[torch.Tensor]) -> dict:
    """Real bitstreams: mean bpp / PSNR of one level on a list of images."""
    from hcf_ray.metrics import psnr

    was_training = model.training
    codec = LevelCodec(model, level, arch)
    bpps, psnrs = [], []
    for x in images:
        size = tuple(x.shape[-2:])
        y = codec.analysis(x)
        bs, y_hat = codec.encode_latent(y, size)
        x_hat = codec.synthesis(y_hat, size)
        bpps.append(bs.bpp())
        psnrs.append(psnr(x, x_hat))
    model.train(was_training)
    return {"bpp": sum(bpps) / len(bpps), "psnr": sum(psnrs) / len(psnrs)}


def ladder_jobs(r: LadderRecipe) -> list[tuple[str, int, Stage]]:
    """The recipe's schedule in order: (job name, level, stage); names key ``state["done"]``."""
    out = [(f"base/{r.anchor}/{i}", r.anchor, s) for i, s in enumerate(r.base)]
    for k in r.spread_order():
        out += [(f"spread/{k}/{i}", k, s) for i, s in enumerate(r.spread)]
    for rnd in range(r.refine_rounds):
        for k in range(r.levels, 0, -1):
            out += [(f"refine{rnd}/{k}/{i}", k, s) for i, s in enumerate(r.refine)]
    return out


# a resumed work dir may be given these differently: they add or re-pace work, the rest would
# change what was already trained (see hcf_ray.train.resume)
RESUME_MAY_CHANGE = ("val_every", "refine_rounds")


class LadderTrainer(Trainer):
    kind = "ladder"
    recipe_cls = LadderRecipe
    may_change = RESUME_MAY_CHANGE
    unit = "jobs"

    def __init__(
        self,
        workdir: str | Path,
        train_dir: str | Path,
        val_dir: str | Path | None = None,
        recipe: LadderRecipe | None = None,
        max_val_images: int = 8,
        log=print,
        device: str | torch.device = "cpu",
    ):
        super().__init__(workdir, recipe, {"done": [], "trained": [], "hours": 0.0}, log, device)
        self.sampler = CropSampler(train_dir, seed=self.recipe.seed)
        self.val_images = validation_images(val_dir, max_val_images)
        self._at: tuple[str, int] | None = None  # (job, it) of the last checkpoint written
        if "validation" not in self.state:  # a work dir from before the common state block
            for rec in read_log(self.workdir / LOG):
                if "val" in rec and "level" in rec:
                    self.record_validation(rec["level"], rec["val"], f"{rec['job']} it {rec['it']}")
        self.upgrade_state()

    # -- status --------------------------------------------------------------------------
    def _pending(self) -> tuple[list[tuple[str, int, Stage]], list[tuple[str, int, Stage]]]:
        """(this work dir's jobs, those not done yet): a parallel ``--only-levels`` run
        counts its own levels' jobs only."""
        jobs = self.jobs()
        only = self.state.get("only_levels")
        if only is not None:
            jobs = [job for job in jobs if job[1] in only]
        done = set(self.state["done"])
        return jobs, [job for job in jobs if job[0] not in done]

    def progress(self) -> tuple[int, int]:
        jobs, pending = self._pending()
        return len(jobs) - len(pending), len(jobs)

    def phase(self) -> str | None:
        _, pending = self._pending()
        return pending[0][0].split("/")[0] if pending else None

    def seconds(self) -> float:
        return self.state["hours"] * 3600

    def status_lines(self) -> list[str]:
        r = self.recipe
        only = self.state.get("only_levels")
        lines = [
            f"{r.arch} N={r.N} M={r.M}, levels 1..{r.levels}, quant {r.quant}; "
            f"trained levels {sorted(self.state['trained']) or 'none'}"
        ]
        if only is not None:
            lines.append(f"this work dir trains levels {', '.join(map(str, only))} (--only-levels)")
        _, pending = self._pending()
        if pending:
            name, level, stage = pending[0]
            if self._at is not None and self._at[0] == name:
                at = self._at[1]
            else:
                at = _ckpt_iteration(self._ckpt(level), name)
            lines.append(
                f"next job {name}: level {level}, it {at} of {stage.iters} "
                f"(batch {stage.batch} x {stage.crop}^2, lr {stage.lr:g})"
            )
        return lines

    # -- schedule -----------------------------------------------------------------------
    def jobs(self) -> list[tuple[str, int, Stage]]:
        return ladder_jobs(self.recipe)

    def run(
        self,
        max_hours: float | None = None,
        max_jobs: int | None = None,
        only_levels: set[int] | None = None,
    ) -> None:
        """Run the pending jobs in order; ``only_levels`` restricts them to some levels, so
        disjoint level sets can train in parallel processes (one workdir each)."""
        t0 = time.time()
        n = 0
        # recorded for `hcf-sim train status`; saved with the next checkpoint
        self.state["only_levels"] = sorted(only_levels) if only_levels is not None else None
        for name, level, stage in self.jobs():
            if name in self.state["done"]:
                continue
            if only_levels is not None and level not in only_levels:
                continue
            if max_jobs is not None and n >= max_jobs:
                break
            deadline = None if max_hours is None else t0 + max_hours * 3600
            finished = self._train_job(name, level, stage, deadline)
            if not finished:
                self.log(f"time budget reached inside {name}; stopping (resumable)")
                break
            n += 1

    # -- one job ------------------------------------------------------------------------
    def _ckpt(self, level: int) -> Path:
        return self.workdir / f"level{level}.ckpt"

    def _load_model(self, level: int) -> tuple[nn.Module, dict | None]:
        r = self.recipe
        model = build_model(r.arch, r.N, r.M)
        ck = self._ckpt(level)
        if ck.exists():
            data = torch.load(ck, map_location="cpu", weights_only=False)
            model.load_state_dict(data["model"])
            return model.to(self.device), data
        trained = [k for k in self.state["trained"]]
        if trained:  # warm start from the nearest trained level
            src = min(trained, key=lambda k: (abs(k - level), -k))
            data = torch.load(self._ckpt(src), map_location="cpu", weights_only=False)
            model.load_state_dict(data["model"])
            self.log(f"level {level}: warm start from level {src}")
        return model.to(self.device), None

    def _train_job(self, name: str, level: int, stage: Stage, deadline: float | None) -> bool:
        r = self.recipe
        torch.manual_seed(r.seed + zlib.crc32(name.encode()) % 10_000)
        model, data = self._load_model(level)
        model.train()
        opt, aux_opt = optimizers(model, stage.lr, r.aux_lr)
        start_it = 0
        if data is not None and data.get("job") == name:
            opt.load_state_dict(data["opt"])
            aux_opt.load_state_dict(data["aux_opt"])
            start_it = data["it"]
            if "rng" in data:
                self.sampler.set_state(data["rng"])
        lmbda = MSE_LAMBDAS[level]
        t_job = time.time()
        stats_acc: dict[str, float] = {}
        n_acc = 0  # iterations in stats_acc (fewer than val_every at a job's end or resume)
        it = start_it
        with self.progress_bar(stage.iters, name, initial=start_it) as bar:
            while it < stage.iters:
                x = self.sampler.batch(stage.batch, stage.crop).to(self.device)
                st = train_step(model, opt, aux_opt, x, lmbda, r.quant, r.clip_grad)
                it += 1
                for k2, v in st.items():
                    stats_acc[k2] = stats_acc.get(k2, 0.0) + v
                n_acc += 1
                bar.update(1)
                final = it == stage.iters
                if it % r.val_every == 0 or final:
                    rec = {
                        "job": name,
                        "level": level,
                        "it": it,
                        "time": time.time(),
                        "n_avg": n_acc,
                        **{k2: v / n_acc for k2, v in stats_acc.items()},
                    }
                    stats_acc, n_acc = {}, 0
                    if self.val_images:
                        rec["val"] = evaluate_level(on_cpu(model), level, r.arch, self.val_images)
                        self.record_validation(level, rec["val"], f"{name} it {it}")
                    self.log_record(rec)
                    self._save(level, model, opt, aux_opt, name, it, t_job)
                    t_job = time.time()
                elif deadline is not None and time.time() > deadline:
                    self._save(level, model, opt, aux_opt, name, it, t_job)
                    return False
        self.state["done"].append(name)
        # the recipe can change between runs (resumed work dirs): keep what each job really ran
        self.state.setdefault("stages", {})[name] = asdict(stage)
        if level not in self.state["trained"]:
            self.state["trained"].append(level)
        self.write_state()
        return True

    def _save(self, level, model, opt, aux_opt, name, it, t_job) -> None:
        self.save_checkpoint(
            self._ckpt(level),
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "aux_opt": aux_opt.state_dict(),
                "job": name,
                "it": it,
                "rng": self.sampler.state(),
            },
        )
        self._at = (name, it)
        self.state["hours"] += (time.time() - t_job) / 3600
        self.write_state()

    def import_ladder(self, ladder_dir: str | Path) -> None:
        """Start from an exported ladder (e.g. the shipped fp16 weights of an earlier training run).

        Every level becomes "trained", the base and spread jobs count as done, so training
        continues with the refinement rounds. Optimizer state starts fresh. Importing again
        into the same work dir (re-running the command to resume) keeps its progress.
        """
        from hcf_ray.codecs.ladder import QualityLadder

        r = self.recipe
        imported = self.state.get("imported", [])
        if imported:  # a resumed work dir: keep its progress
            if imported[-1] != str(ladder_dir):
                raise InputError(
                    f"{self.workdir} already continues from {imported[-1]}, not {ladder_dir}"
                )
            return
        if self.state["done"]:
            raise InputError(f"{self.workdir} already holds trained levels; use a new work dir")
        ladder = QualityLadder.from_dir(ladder_dir)
        if ladder.levels != list(range(1, r.levels + 1)) or ladder.arch != r.arch:
            raise InputError(f"{ladder_dir}: ladder {ladder} does not match the recipe")
        for codec in ladder:
            torch.save(
                {"model": codec.model.state_dict(), "job": "imported", "it": 0},
                self._ckpt(codec.level),
            )
        jobs = [name for name, _, _ in self.jobs() if not name.startswith("refine")]
        self.state["done"] = sorted(set(self.state["done"]) | set(jobs), key=jobs.index)
        self.state["trained"] = list(range(1, r.levels + 1))
        self.state.setdefault("imported", []).append(str(ladder_dir))
        # keep the imported ladder's own training record, so the next export adds to it
        manifest = Path(ladder_dir) / "ladder.json"
        training = json.loads(manifest.read_text()).get("training", {}) if manifest.exists() else {}
        self.state["history"] = previous_sessions(training)
        self.write_state()

    def merge(self, other_workdir: str | Path) -> list[int]:
        """Take over the levels another work dir trained (a parallel ``--only-levels`` run
        started from the same import): their checkpoints, finished jobs, stages and hours.

        Returns the merged levels. Merging the same work dir again (say, after it trained
        further) replaces the earlier merge; levels trained in two different work dirs are
        refused.
        """
        other_dir = Path(other_workdir)
        other = read_json(other_dir / "state.json")
        key = str(other_dir)
        merges = self.state.setdefault("merges", {})
        if key in self.state.get("merged", []) and key not in merges:
            raise InputError(
                f"{self.workdir} merged {other_dir} with an older hcf-sim that kept no record "
                "of it; merge into a fresh copy of the work dir instead"
            )
        earlier = merges.get(key, {"stages": [], "done": [], "hours": 0.0})
        stages = {n: st for n, st in self.state.get("stages", {}).items()}
        for name in earlier["stages"]:
            stages.pop(name, None)
        done = [j for j in self.state["done"] if j not in earlier["done"]]
        theirs = {_job_level(name) for name in other.get("stages", {})}
        mine = {_job_level(name) for name in stages}
        if theirs & mine:
            raise InputError(
                f"{other_dir}: levels {sorted(theirs & mine)} were trained in both work dirs"
            )
        if other.get("history", []) != self.state.get("history", []):
            raise InputError(f"{other_dir}: started from a different ladder than {self.workdir}")
        for k in sorted(theirs):
            atomic_write_bytes(self._ckpt(k), (other_dir / f"level{k}.ckpt").read_bytes())
        added = [j for j in other["done"] if j not in done]
        self.state["stages"] = {**stages, **other.get("stages", {})}
        self.state["done"] = done + added
        self.state["hours"] += other["hours"] - earlier["hours"]
        merges[key] = {
            "stages": sorted(other.get("stages", {})),
            "done": added,
            "hours": other["hours"],
        }
        if key not in self.state.setdefault("merged", []):
            self.state["merged"].append(key)
        self.write_state()
        return sorted(theirs)

    # -- export -------------------------------------------------------------------------
    def export(self, out_dir: str | Path) -> QualityLadder:
        """Write the trained levels as a shippable ladder (fp16 weights + manifest)."""
        r = self.recipe
        codecs = []
        for k in range(1, r.levels + 1):
            if not self._ckpt(k).exists():
                raise FileNotFoundError(f"level {k} has not been trained yet ({self._ckpt(k)})")
            model = build_model(r.arch, r.N, r.M)
            data = torch.load(self._ckpt(k), map_location="cpu", weights_only=False)
            model.load_state_dict(data["model"])
            codecs.append(LevelCodec(model, k, r.arch, MSE_LAMBDAS[k]))
        ladder = QualityLadder(codecs)
        history = self.state.get("history", [])
        this = {
            "hours": round(self.state["hours"], 2),
            "jobs_done": len(self.state.get("stages", {})),
            "stages": self.state.get("stages", {}),
            "recipe": r.to_json(),
        }
        ladder.save(
            out_dir,
            extra={
                "training": {
                    "hours": round(sum(s.get("hours", 0.0) for s in history) + this["hours"], 2),
                    "sessions": [*history, this],
                }
            },
        )
        return ladder


def _ckpt_iteration(ckpt: Path, job: str) -> int:
    """How far a level's checkpoint is into ``job`` (0 when it holds another job or none)."""
    if not ckpt.is_file():
        return 0
    data = torch.load(ckpt, map_location="cpu", weights_only=False)
    return data["it"] if data.get("job") == job else 0


def _job_level(name: str) -> int:
    """The level a job trains: job names are ``<stage>/<level>/<index>`` (see ``jobs``)."""
    return int(name.split("/")[1])


def previous_sessions(training: dict) -> list[dict]:
    """The training sessions recorded in an exported ladder's manifest, oldest first.

    Manifests written before sessions were recorded hold a single flat record.
    """
    if not training:
        return []
    if "sessions" in training:
        return list(training["sessions"])
    return [training]
