"""Per-node cost of HCF vs DRF in a 5-node cascade (paper Table 3), measured.

Node i of the cascade 6 → 1 drops one level, k = 7 − i → k − 1. Per node, as in the paper,
only the *transform operations* are compared: HCF runs φ^inter_{k→k−1} on the level-k latent,
DRF runs ``g_s^k`` then ``g_a^{k−1}`` on the reconstruction (entropy coding excluded on both
sides).

* **Parameters / FLOPs**: :func:`hcf_ray.flops.node_cost` (``FlopCounterMode`` on a real
  forward pass; 1 MAC = 2 FLOPs).
* **Time**: wall-clock of the forward pass under ``torch.no_grad()``, median of ``repeats``
  runs after one warm-up (CUDA: synchronized before and after each run).
* **Peak memory**: on CUDA ``torch.cuda.max_memory_allocated()`` after
  ``reset_peak_memory_stats()``, with only the node's modules and input on the device. On CPU
  ``tracemalloc`` cannot see PyTorch's allocator, so the forward pass runs once under
  ``torch.profiler.profile(profile_memory=True)`` and every allocation / free event the
  profiler records from PyTorch's CPU allocator (c10) is replayed in time order; the peak of
  the running sum is the peak activation memory. Buffers a backend (oneDNN) allocates outside
  PyTorch's allocator are not seen. Both devices report ``peak = resident + activations``:
  resident = the node's parameters and buffers + the input tensor, activations = the peak
  allocation above that during the forward pass (the column the reductions use is stated in
  the report).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hcf_ray.flops import node_cost

KODAK_SIZE = (512, 768)  # (H, W)


@dataclass
class NodeMeasure:
    node: int
    level: int  # transition level → level-1
    hcf_params: int
    drf_params: int
    hcf_flops: int
    drf_flops: int
    hcf_time_s: float | None = None
    drf_time_s: float | None = None
    hcf_peak_bytes: int | None = None  # resident + activations
    drf_peak_bytes: int | None = None
    hcf_act_bytes: int | None = None  # activations only
    drf_act_bytes: int | None = None

    @staticmethod
    def _red(hcf: float | None, drf: float | None) -> float | None:
        if hcf is None or drf is None or drf <= 0:
            return None
        return 100.0 * (1.0 - hcf / drf)

    def reductions(self) -> dict[str, float | None]:
        return {
            "flops": self._red(self.hcf_flops, self.drf_flops),
            "params": self._red(self.hcf_params, self.drf_params),
            "memory": self._red(self.hcf_peak_bytes, self.drf_peak_bytes),
            "memory_act": self._red(self.hcf_act_bytes, self.drf_act_bytes),
            "time": self._red(self.hcf_time_s, self.drf_time_s),
        }


@dataclass
class EfficiencyTable:
    model: str
    device: str
    image_size: tuple[int, int]
    repeats: int
    measured: bool  # time and memory measured (False: counts only)
    nodes: list[NodeMeasure]
    memory_method: str = ""


def memory_method(device: str) -> str:
    if device.startswith("cuda"):
        return "torch.cuda.max_memory_allocated (after reset_peak_memory_stats)"
    return "torch.profiler (profile_memory=True) allocator events, replayed peak"


# -- measuring one callable ----------------------------------------------------------------
def median_time(fn: Callable[[], object], repeats: int, device: str) -> float:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fn()  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_activation_bytes(fn: Callable[[], object], device: str) -> int:
    """Peak bytes allocated during ``fn()`` above what was allocated before it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    return _cpu_profiler_peak(fn)


def _cpu_profiler_peak(fn: Callable[[], object]) -> int:
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with (
        _native_stderr_silenced(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        fn()
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            f = node.extra_fields
            if f.device.type == "cpu":
                events.append((node.start_time_ns, int(f.alloc_size)))
        stack.extend(node.children)
    events.sort()
    peak = running = 0
    for _, size in events:
        running += size
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def _native_stderr_silenced():
    """Kineto logs profiler start/stop lines from C++ straight to fd 2; hide them."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _resident_bytes(modules: list[nn.Module], x: torch.Tensor) -> int:
    total = x.numel() * x.element_size()
    for m in modules:
        for t in (*m.parameters(), *m.buffers()):
            total += t.numel() * t.element_size()
    return total


# -- the table ------------------------------------------------------------------------------
@torch.no_grad()
def efficiency_table(
    ladder,
    phis,
    model: str,
    image_size: tuple[int, int] = KODAK_SIZE,
    device: str = "cpu",
    repeats: int = 5,
    measure: bool = True,
    top: int | None = None,
    nodes: int = 5,
    progress=None,
) -> EfficiencyTable:
    """Nodes 1..``nodes`` of the cascade ``top → top−nodes`` (default top = the ladder's top)."""
    top = top or ladder.max_level
    if top - nodes < 1:
        raise ValueError(f"a {nodes}-node cascade needs levels {top}..{top - nodes}")
    h, w = image_size
    out = []
    for i in range(1, nodes + 1):
        k = top - i + 1
        cost = node_cost(ladder, phis, k, image_size)
        m = NodeMeasure(i, k, cost.hcf_params, cost.drf_params, cost.hcf_flops, cost.drf_flops)
        if measure:
            _measure_node(m, ladder, phis, k, (h, w), device, repeats)
        out.append(m)
        if progress:
            red = m.reductions()
            progress(
                f"  {model} node {i} ({k}→{k - 1}): FLOPs -{red['flops']:.1f}% "
                f"params -{red['params']:.1f}%"
                + (f" time -{red['time']:.1f}% memory -{red['memory']:.1f}%" if measure else "")
            )
    return EfficiencyTable(
        model, device, (h, w), repeats, measure, out, memory_method(device) if measure else ""
    )


def _measure_node(m: NodeMeasure, ladder, phis, k: int, size, device: str, repeats: int) -> None:
    h, w = size
    phi = phis.get(k, "inter")
    g_s, g_a = ladder[k].model.g_s, ladder[k - 1].model.g_a
    y = torch.randn(1, ladder.latent_channels(k), h // 16, w // 16)
    devices = [(mod, next(mod.parameters()).device) for mod in (phi, g_s, g_a)]
    try:
        for mod in (phi, g_s, g_a):
            mod.to(device)
        y = y.to(device)

        def hcf():
            return phi(y)

        def drf():
            return g_a(g_s(y).clamp_(0, 1))

        m.hcf_time_s = median_time(hcf, repeats, device)
        m.drf_time_s = median_time(drf, repeats, device)
        m.hcf_act_bytes = peak_activation_bytes(hcf, device)
        m.drf_act_bytes = peak_activation_bytes(drf, device)
        m.hcf_peak_bytes = _resident_bytes([phi], y) + m.hcf_act_bytes
        m.drf_peak_bytes = _resident_bytes([g_s, g_a], y) + m.drf_act_bytes
    finally:
        for mod, dev in devices:
            mod.to(dev)


def cheng2020_models(arch: str):
    """Full-size CompressAI ``arch`` at random init, qualities 1..6, with full-size φ modules."""
    from compressai.zoo import image_models

    from hcf_ray.codecs import LevelCodec, QualityLadder
    from hcf_ray.hcf import PhiBank

    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        codecs = [
            LevelCodec(image_models[arch](quality=q, pretrained=False), q, arch, update_cdfs=False)
            for q in range(1, 7)
        ]
        ladder = QualityLadder(codecs)
        return ladder, PhiBank({k: ladder.latent_channels(k) for k in ladder.levels})
    finally:
        torch.random.set_rng_state(state)
