"""Node actors: one Ray actor per topology node, running jobs with ``CascadeEngine.run_stage``.

:class:`NodeWorker` is a plain class (unit-testable in-process); :data:`NodeActor` is its Ray
actor. A job's input payload arrives as an ObjectRef argument (Ray resolves it in the
actor, pulling it from whichever machine's object store holds it — never via the driver);
``run_job`` returns one value per branch (the outgoing stream as wire-format bytes, checked
by the receiver's CRC32 before anything is decoded, or a ``LatentPayload`` with
``transport: latent``; Ray stores it as the ObjectRef the next node's call receives) plus a
small stats dict for the driver.

Wall-clock measurements, per job (they feed the ``wall`` block of the results and, with
``timing: measured``, the simulated compute time; ``timing: profile`` prices ops, FLOPs and
memory from the cost profile instead):

* compute time: wall time of every op inside ``run_stage`` (``time.perf_counter``, or CUDA
  synchronised on GPU); Ray and (de)serialisation overheads are excluded;
* memory: the actor process's peak resident set size (``getrusage`` ``ru_maxrss``, a
  high-water mark of the whole process) and on GPU ``torch.cuda.max_memory_allocated``.

Models: an actor holds only the ladder levels and φ modules its jobs use
(:class:`~hcf_ray.sim.planner.ModelNeeds`), in a :class:`~hcf_ray.sim.work.models.ModelCache`:
a dedicated node actor loads its node's models up front, a pool actor loads each on the first
job that needs it and, past its memory budget, drops the ones used longest ago. A node that
only forwards loads nothing. Actors pin torch to one thread and keep freed tensor memory for
the next job (:func:`keep_freed_memory`).

Profiling: :meth:`NodeWorker.profile` runs cProfile inside the actor, e.g.
``ray.get(h.profile.remote(True))``, some jobs, then ``print(ray.get(h.profile.remote(False)))``.
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

from hcf_ray._lean_imports import imported_lean, in_ray_worker, lean_compressai  # noqa: E402

if in_ray_worker():  # a node actor's process: CompressAI without what it never uses
    lean_compressai()

from hcf_ray.bitstream import Bitstream  # noqa: E402
from hcf_ray.sim.planner import Job, ModelNeeds, job_needs  # noqa: E402
from hcf_ray.sim.work.models import ModelCache  # noqa: E402
from hcf_ray.sim.work.shipping import unpack_codec  # noqa: E402


class NodeWorker:
    """Runs the jobs of one topology node (or of several virtual nodes in a sweep)."""

    def __init__(
        self,
        name: str,
        codec: str,
        phi_dir: str | None = None,
        threads: int = 1,
        model_budget_mb: float | None = None,
    ):
        torch.set_num_threads(threads)
        keep_freed_memory()
        # a codec shipped from the driver is unpacked on this machine: no driver path is read
        codec, phi_dir = unpack_codec(codec, phi_dir)
        self.name = name
        self.codec = codec
        self.phi_dir = phi_dir
        self.device = "cuda" if _gpu_assigned() else "cpu"
        if self.device == "cuda":
            torch.backends.cudnn.deterministic = True  # encoder and decoder must agree
            torch.backends.cudnn.benchmark = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.models = ModelCache(codec, phi_dir, name, self.device, model_budget_mb)

    # -- setup ------------------------------------------------------------------------------
    def info(self) -> dict:
        ctx = ray.get_runtime_context() if ray.is_initialized() else None
        return {
            "name": self.name,
            "ray_node_id": ctx.get_node_id() if ctx else None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": self.device,
            "gpu_ids": _gpu_ids(),
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "models": self.models.stats.as_dict(),
            "compressai_lean": imported_lean(),
        }

    def prepare(self, needs: ModelNeeds, eager: bool = True) -> dict:
        """Check the bundle; with ``eager``, load what ``needs`` lists now (a dedicated node
        actor), else on each job's first use (a pool actor)."""
        self.models.source  # noqa: B018 - a bad codec spec fails here, before any job
        if eager and needs:
            self._engine(needs)
        held = self.models.held()
        return {
            **self.info(),
            "levels": sorted({u[1] for u in held if u[0] != "phi"}),
            "phis": sum(u[0] == "phi" for u in held),
            "model_mb": self.models.stats.resident_mb,
        }

    def _engine(self, needs: ModelNeeds):
        return self.models.engine(needs)

    def profile(self, start: bool, top: int = 40) -> str:
        """Profile this worker's calls with cProfile, timed by this process's CPU time (steady
        on a shared machine): ``start=True`` starts it, ``False`` stops it and returns the
        ``top`` functions by cumulative time (``pstats`` text)."""
        import cProfile
        import io
        import pstats

        if start:
            self._profiler = cProfile.Profile(time.process_time)
            self._profiler.enable()
            return ""
        prof = getattr(self, "_profiler", None)
        if prof is None:
            return "not profiling"
        prof.disable()
        self._profiler = None
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
        return buf.getvalue()

    # -- one job ---------------------------------------------------------------------------
    def run_job(
        self,
        job: Job,
        payload: Any,
        image: np.ndarray | None,
        image_size: tuple[int, int],
        transport: str = "bitstream",
    ) -> tuple:
        """Run a job's segments; returns ``(*branch_outputs, stats)``.

        Bitstreams cross links as their wire bytes: an incoming ``bytes`` payload is parsed
        and verified (:meth:`Bitstream.from_bytes`; a damaged one raises
        :class:`~hcf_ray.bitstream.BitstreamError` before anything is decoded, and every
        stage checks a bitstream against its model before decoding it), and a branch that
        sends a :class:`Bitstream` returns ``to_bytes()``. ``LatentPayload`` s pass as they are.
        """
        if job.crash:  # faults: crash — this process dies with the job in hand
            os._exit(1)
        if job.input is not None and isinstance(payload, bytes | bytearray | memoryview):
            payload = Bitstream.from_bytes(payload)
        engine = self._engine(job_needs(job))
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
            out = engine.run_stage(br.stage, inp, image_size, clock, transport, seg.start, seg.stop)
            seconds = sum(t.seconds for t in out.timings)
            segs.append({"ops": [t.op for t in out.timings], "s": seconds})
            values.append(out.value)
            if not seg.final:
                continue
            if br.destination is not None:
                info[seg.branch] = self._metrics(image, out.image)
            else:
                sent = out.bitstream
                info[seg.branch] = _payload_info(sent)
                outputs[seg.branch] = sent.to_bytes() if isinstance(sent, Bitstream) else sent
        stats = {
            "node": job.node,
            "job": job.index,
            "segments": segs,
            "outputs": info,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "model_mb": self.models.stats.resident_mb,
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


def _gpu_ids() -> list:
    """The GPUs Ray assigned to this actor (logical ids; empty without any, and in a process
    not connected to Ray: ``ray.get_gpu_ids`` would start a Ray instance there)."""
    if not ray.is_initialized():
        return []
    try:
        return [str(g) for g in ray.get_gpu_ids()]
    except Exception:  # not inside a Ray worker
        return []


def _gpu_assigned() -> bool:
    return bool(_gpu_ids()) and torch.cuda.is_available()


# glibc's malloc hands blocks above a moving threshold (128 KiB at first) straight back to the
# kernel when freed, so every large tensor of the next op is a fresh mmap whose pages the
# kernel zeroes on first touch. Profiled on the shipped models: 170 000–220 000 minor page
# faults per pass over 6 units, a third of the actor's CPU time and the bulk of the actor
# path's overhead over in-process; with these settings, none. 32 MiB is the largest
# threshold glibc accepts; what is freed stays for the next job up to 256 MiB of slack.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed tensor memory instead of returning it to the kernel
    (``mallopt``); True if applied, False where the C library is not glibc. Affects the
    whole process; results do not change, only page faults."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def _cuda_clock() -> float:
    torch.cuda.synchronize()
    return time.perf_counter()


MAX_RESTARTS = 5
# Ray restarts a crashed actor; the driver resubmits the units it held (deterministic work).
# Out of order: a job runs as soon as its input payload exists, not behind an earlier-submitted
# job still waiting for its own input on another actor (in order, a pool of 2 actors ran
# little faster than 1). Every job is a pure function of its arguments, so the order in which
# an actor runs them changes no result.
NodeActor = ray.remote(
    max_restarts=MAX_RESTARTS, max_task_retries=0, allow_out_of_order_execution=True
)(NodeWorker)


def actor_options(
    num_cpus: float, num_gpus: float, resources: dict[str, float] | None = None
) -> dict:
    opts: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
    if resources:
        opts["resources"] = dict(resources)
    return opts
