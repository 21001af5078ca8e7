"""The models one actor holds: loaded on first use, evicted least recently used.

A node actor (or a pool actor hosting many virtual nodes) asks :class:`ModelCache` for an
engine that can run a job. The cache loads the ladder levels, HCF-tuned levels and φ modules
the job needs (:class:`~hcf_ray.sim.planner.ModelNeeds`) that it does not hold yet, one model
at a time from :class:`~hcf_ray.bundle.BundleSource`. When what it holds grows past
``budget_mb``, the models used longest ago are dropped, never one the current job needs. A
dropped model is loaded again when a later job needs it. Loading is deterministic, so which
models happen to be resident never changes a bitstream.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hcf_ray.sim.planner import ModelNeeds

Unit = tuple  # ("base", k) | ("hcf", k) | ("phi", k, variant)


def _param_bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters()) + sum(
        b.numel() * b.element_size() for b in module.buffers()
    )


class LevelView:
    """The levels of a ladder an engine may use; asking for one not loaded is a clear error."""

    def __init__(self, levels: list[int], codecs: dict, node: str):
        self.levels = list(levels)
        self.max_level = max(levels)
        self._codecs = codecs
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


class PhiView:
    def __init__(self, mods: dict, node: str):
        self._mods = mods
        self._node = node

    def has(self, level: int) -> bool:
        return any(k == level for k, _ in self._mods)

    def get(self, level: int, variant: str):
        if (level, variant) not in self._mods:
            raise ValueError(f"node {self._node!r} has no φ{variant}[{level}] module loaded")
        return self._mods[level, variant]


@dataclass
class ModelStats:
    loads: int = 0
    evictions: int = 0
    resident_mb: float = 0.0
    peak_resident_mb: float = 0.0

    def as_dict(self) -> dict:
        return {
            "loads": self.loads,
            "evictions": self.evictions,
            "resident_mb": round(self.resident_mb, 2),
            "peak_resident_mb": round(self.peak_resident_mb, 2),
        }


class ModelCache:
    """Models of one bundle held by one worker, bounded by ``budget_mb`` (None: unbounded)."""

    def __init__(
        self,
        codec: str,
        phi_dir: str | None,
        node: str,
        device: str = "cpu",
        budget_mb: float | None = None,
    ):
        self.codec = codec
        self.phi_dir = phi_dir
        self.node = node
        self.device = device
        self.budget_mb = budget_mb
        self._source = None
        self._units: OrderedDict[Unit, tuple[object, int]] = OrderedDict()
        self._bank = None  # the φ bank while φ modules are being picked from it
        self._baselines = None  # the progressive / classical codecs, made on first use
        self.stats = ModelStats()

    @property
    def source(self):
        if self._source is None:
            from hcf_ray.bundle import BundleSource

            self._source = BundleSource(self.codec, self.phi_dir)
        return self._source

    @staticmethod
    def units_of(needs: ModelNeeds, tuned: bool) -> list[Unit]:
        """The models ``needs`` asks for. Without tuned levels HCF uses the base ladder."""
        units: list[Unit] = [("base", k) for k in sorted(needs.base)]
        units += [("hcf" if tuned else "base", k) for k in sorted(needs.hcf)]
        units += [("phi", k, v) for k, v in sorted(needs.phis)]
        return list(dict.fromkeys(units))

    def held(self) -> list[Unit]:
        return list(self._units)

    def engine(self, needs: ModelNeeds):
        """A :class:`~hcf_ray.cascade.CascadeEngine` holding at least what ``needs`` asks."""
        from hcf_ray.cascade import CascadeEngine

        src = self.source
        wanted = self.units_of(needs, src.has_tuned)
        for unit in wanted:
            if unit in self._units:
                self._units.move_to_end(unit)
            else:
                self._load(unit)
        self._bank = None
        self._evict(keep=set(wanted))
        base = {u[1]: m for u, (m, _) in self._units.items() if u[0] == "base"}
        hcf = {u[1]: m for u, (m, _) in self._units.items() if u[0] == "hcf"}
        phis = {(u[1], u[2]): m for u, (m, _) in self._units.items() if u[0] == "phi"}
        base_view = LevelView(src.levels, base, self.node)
        hcf_view = LevelView(src.levels, hcf, self.node) if src.has_tuned else None
        engine = CascadeEngine(base_view, PhiView(phis, self.node), hcf_view)
        if needs.baselines:
            if self._baselines is None:
                from hcf_ray.level_rates import level_bpp
                from hcf_ray.pcf.stages import BaselineSet

                # level k of a baseline = the rate of the bundle's level k
                self._baselines = BaselineSet(level_bpp(self.codec))
            engine.baselines = self._baselines
        return engine

    def _load(self, unit: Unit) -> None:
        src = self.source
        if unit[0] == "phi":
            if self._bank is None:
                self._bank = src.phis()
                if self._bank is None:
                    raise ValueError(
                        f"node {self.node!r}: codec {self.codec!r} has no φ modules (HCF)"
                    )
            module = self._bank.get(unit[1], unit[2]).to(self.device)
            size = _param_bytes(module)
        else:
            codec = src.level(unit[1], tuned=unit[0] == "hcf")
            codec.model.to(self.device)
            module, size = codec, _param_bytes(codec.model)
        self._units[unit] = (module, size)
        self.stats.loads += 1
        self._account()

    def _evict(self, keep: set[Unit]) -> None:
        if self.budget_mb is None:
            return
        for unit in list(self._units):
            if self._resident_mb() <= self.budget_mb:
                break
            if unit not in keep:
                del self._units[unit]
                self.stats.evictions += 1
        self._account()

    def _resident_mb(self) -> float:
        return sum(size for _, size in self._units.values()) / 2**20

    def _account(self) -> None:
        self.stats.resident_mb = self._resident_mb()
        self.stats.peak_resident_mb = max(self.stats.peak_resident_mb, self.stats.resident_mb)
