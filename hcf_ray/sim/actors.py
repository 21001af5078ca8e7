"""Node actors: one Ray actor per topology node, running jobs with ``CascadeEngine.run_stage``.

:class:`NodeWorker` is a plain class (unit-testable in-process); :data:`NodeActor` is its Ray
actor. A job's input payload arrives as an ObjectRef argument (Ray resolves it in the
actor, pulling it from whichever machine's object store holds it — never via the driver);
``run_job`` returns one value per branch (the outgoing ``Bitstream``/``LatentPayload``, which
Ray stores as the ObjectRef the next node's call receives) plus a small stats dict for the
driver.

Wall-clock measurements, per job (they feed the ``wall`` block of the results and, with
``timing: measured``, the simulated compute time; ``timing: profile`` prices ops, FLOPs and
memory from the cost profile instead):

* compute time: wall time of every op inside ``run_stage`` (``time.perf_counter``, or CUDA
  synchronised on GPU); Ray and (de)serialisation overheads are excluded;
* memory: the actor process's peak resident set size (``getrusage`` ``ru_maxrss``, a
  high-water mark of the whole process) and on GPU ``torch.cuda.max_memory_allocated``.

Models: an actor loads the bundle once and keeps only the ladder levels and φ modules its
node's stages use (:class:`~hcf_ray.sim.planner.ModelNeeds`); a node that only forwards
loads nothing. Actors pin torch to one thread.
"""

from __future__ import annotations

import hashlib
import os
import resource
import socket
import time
import warnings
from typing import Any

import numpy as np

warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)

import ray  # noqa: E402
import torch  # noqa: E402

from hcf_ray.sim.planner import Job, ModelNeeds  # noqa: E402


class _LevelSubset:
    """The levels of a ladder a node needs; asking for another one is a clear error."""

    def __init__(self, ladder, keep: set[int], node: str):
        self.levels = list(ladder.levels)
        self.max_level = ladder.max_level
        self._codecs = {k: ladder[k] for k in keep if k in ladder.levels}
        self._node = node

    def __getitem__(self, level: int):
        if level not in self._codecs:
            raise ValueError(f"node {self._node!r} has no level-{level} model loaded")
        return self._codecs[level]

    def check_level(self, level: int, what: str = "level") -> None:
        if level not in self.levels:
            raise ValueError(f"{what} {level} is outside the ladder's levels 1..{self.max_level}")

    def latent_channels(self, level: int) -> int:
        return self[level].latent_channels

    def loaded(self) -> list[int]:
        return sorted(self._codecs)

    def to(self, device: str) -> _LevelSubset:
        for c in self._codecs.values():
            c.model.to(device)
        return self

    def nbytes(self) -> int:
        return sum(_param_bytes(c.model) for c in self._codecs.values())


class _PhiSubset:
    def __init__(self, bank, keep: set[tuple[int, str]], node: str):
        self._mods = {} if bank is None else {(k, v): bank.get(k, v) for k, v in keep}
        self._node = node

    def has(self, level: int) -> bool:
        return any(k == level for k, _ in self._mods)

    def get(self, level: int, variant: str):
        if (level, variant) not in self._mods:
            raise ValueError(f"node {self._node!r} has no φ{variant}[{level}] module loaded")
        return self._mods[level, variant]

    def to(self, device: str) -> _PhiSubset:
        for m in self._mods.values():
            m.to(device)
        return self

    def nbytes(self) -> int:
        return sum(_param_bytes(m) for m in self._mods.values())


def _param_bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


class NodeWorker:
    """Runs the jobs of one topology node (or of several virtual nodes in a sweep)."""

    def __init__(self, name: str, codec: str, phi_dir: str | None = None, threads: int = 1):
        torch.set_num_threads(threads)
        self.name = name
        self.codec = codec
        self.phi_dir = phi_dir
        self.device = "cuda" if _gpu_assigned() else "cpu"
        if self.device == "cuda":
            torch.backends.cudnn.deterministic = True  # encoder and decoder must agree
            torch.backends.cudnn.benchmark = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.needs = ModelNeeds()
        self.engine = None
        self.model_mb = 0.0

    # -- setup ------------------------------------------------------------------------------
    def info(self) -> dict:
        ctx = ray.get_runtime_context() if ray.is_initialized() else None
        return {
            "name": self.name,
            "ray_node_id": ctx.get_node_id() if ctx else None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": self.device,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        }

    def prepare(self, needs: ModelNeeds) -> dict:
        """Hold the models ``needs`` lists (loading the bundle once more only if it grows)."""
        merged = self.needs | needs
        if merged != self.needs or (merged and self.engine is None):
            self._load(merged)
        return {
            **self.info(),
            "levels": sorted(self.needs.base | self.needs.hcf),
            "phis": len(self.needs.phis),
            "model_mb": self.model_mb,
        }

    def _load(self, needs: ModelNeeds) -> None:
        from hcf_ray.bundle import load_bundle
        from hcf_ray.cascade import CascadeEngine

        self.needs = needs
        if not needs:
            return
        bundle = load_bundle(self.codec, self.phi_dir)
        hcf_ladder = getattr(bundle, "hcf_ladder", None)
        base_keep = set(needs.base) | (set() if hcf_ladder is not None else set(needs.hcf))
        base = _LevelSubset(bundle.ladder, base_keep, self.name).to(self.device)
        hcf = (
            _LevelSubset(hcf_ladder, set(needs.hcf), self.name).to(self.device)
            if hcf_ladder is not None
            else None
        )
        if needs.phis and bundle.phis is None:
            raise ValueError(f"node {self.name!r}: codec {self.codec!r} has no φ modules (HCF)")
        phis = _PhiSubset(bundle.phis, set(needs.phis), self.name).to(self.device)
        self.engine = CascadeEngine(base, phis, hcf)
        self.model_mb = (base.nbytes() + (hcf.nbytes() if hcf else 0) + phis.nbytes()) / 2**20

    # -- one job ---------------------------------------------------------------------------
    def run_job(
        self,
        job: Job,
        payload: Any,
        image: np.ndarray | None,
        image_size: tuple[int, int],
        transport: str = "bitstream",
    ) -> tuple:
        """Run a job's segments; returns ``(*branch_outputs, stats)``."""
        if job.input is None:
            payload = self._tensor(payload)
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        clock = _cuda_clock if self.device == "cuda" else time.perf_counter
        values: list[Any] = []
        outputs: list[Any] = [None] * len(job.branches)
        segs: list[dict] = []
        info: list[dict | None] = [None] * len(job.branches)
        for seg in job.segments:
            br = job.branches[seg.branch]
            inp = payload if seg.source is None else values[seg.source]
            out = self.engine.run_stage(
                br.stage, inp, image_size, clock, transport, seg.start, seg.stop
            )
            seconds = sum(t.seconds for t in out.timings)
            segs.append({"ops": [t.op for t in out.timings], "s": seconds})
            values.append(out.value)
            if not seg.final:
                continue
            if br.destination is not None:
                info[seg.branch] = self._metrics(image, out.image)
            else:
                outputs[seg.branch] = out.bitstream
                info[seg.branch] = _payload_info(out.bitstream)
        stats = {
            "node": job.node,
            "job": job.index,
            "segments": segs,
            "outputs": info,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "model_mb": self.model_mb,
            "worker": self.name,
        }
        if self.device == "cuda":
            stats["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return (*outputs, stats)

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(image, dtype=np.float32, copy=True)).to(self.device)

    def _metrics(self, image: np.ndarray, x_hat: torch.Tensor) -> dict:
        from hcf_ray.metrics import ms_ssim_db, psnr

        x_hat = x_hat.detach().to("cpu", torch.float32).contiguous()
        x = torch.from_numpy(np.array(image, dtype=np.float32, copy=True))
        return {
            "psnr": psnr(x, x_hat),
            "ms_ssim_db": ms_ssim_db(x, x_hat),
            "recon_sha256": hashlib.sha256(x_hat.numpy().tobytes()).hexdigest(),
        }


def _payload_info(payload) -> dict:
    return {
        "level": int(payload.level),
        "bytes": payload.nbytes,
        "wire_bytes": payload.wire_nbytes,
    }


def _gpu_assigned() -> bool:
    try:
        return bool(ray.get_gpu_ids()) and torch.cuda.is_available()
    except Exception:  # not inside a Ray worker
        return False


def _cuda_clock() -> float:
    torch.cuda.synchronize()
    return time.perf_counter()


NodeActor = ray.remote(max_restarts=0, max_task_retries=0)(NodeWorker)


def actor_options(
    num_cpus: float, num_gpus: float, resources: dict[str, float] | None = None
) -> dict:
    opts: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
    if resources:
        opts["resources"] = dict(resources)
    return opts
