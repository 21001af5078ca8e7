"""The reward: a weighted objective over a plan's simulated metrics, from cached codec work.

A finished episode's levels become the flow's plan exactly as a search candidate does
(:func:`hcf_ray.sim.search.plan_candidate`); its codec work goes through the shared pipeline
and a :class:`~hcf_ray.sim.work.cache.CodecCache` (a cascade's results depend only on the
image and its stages, never on the network: once the few cascades of a ladder are cached,
no model runs again), the units are priced on the network's devices and its world is
event-simulated in this process (:func:`hcf_ray.sim.world.simulate_world`). The metrics are
a search's: ``psnr``, ``bpp``, ``latency_ms`` at the destination (mean over the flow's
images) and ``energy_j`` of the whole flow per image.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hcf_ray.errors import InputError

# Default weights of the objective  Σ weight × metric  (higher is better). Provenance: PSNR
# counts 1 per dB; 0.1 bpp costs as much as 1 dB (10 per bpp, the slope of the shipped
# ladder's rate-distortion curve between its middle levels is of that order); 100 ms of
# latency as much as 1 dB (0.01 per ms); 1 J per image as much as 1 dB (1 per J; the shipped
# CPU profile prices a cascade at tenths of a joule on default devices). Choose your own
# with `objective:` weights: they are recorded with every result (learn.json, benchmarks).
DEFAULT_WEIGHTS: dict[str, float] = {
    "psnr": 1.0,
    "bpp": -10.0,
    "latency_ms": -0.01,
    "energy_j": -1.0,
}
METRICS = ("psnr", "bpp", "latency_ms", "energy_j")


class RewardError(InputError):
    """An objective or a plan that cannot be priced (one line)."""


@dataclass(frozen=True)
class Objective:
    """``Σ weights[m] × metrics[m]`` over :data:`METRICS` (missing weights: 0)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @classmethod
    def of(cls, weights: Mapping[str, float] | None) -> Objective:
        if weights is None:
            return cls()
        if not isinstance(weights, Mapping):
            raise RewardError(f"objective weights: expected a mapping, got {weights!r}")
        bad = [k for k in weights if k not in METRICS]
        if bad:
            raise RewardError(
                f"objective weights: unknown metric {bad[0]!r} (metrics: {', '.join(METRICS)})"
            )
        out = {}
        for k, v in weights.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise RewardError(f"objective weights: {k} must be a number, got {v!r}")
            out[k] = float(v)
        return cls(out)

    def value(self, metrics: Mapping[str, float]) -> float:
        return float(sum(w * float(metrics[m]) for m, w in self.weights.items()))

    def as_dict(self) -> dict[str, float]:
        return {m: float(self.weights.get(m, 0.0)) for m in METRICS}


class Infeasible(Exception):
    """The flow's other destinations rule a plan out (the reason is the message)."""


class PlanPricer:
    """Metrics of an episode's plan: codec work through one pipeline and one cache (memory,
    or ``cache_dir`` on disk, shared by runs), the world simulated in-process. Results are
    memoised per (episode, levels); a cache miss starts the codec actors (Ray) once."""

    def __init__(self, cache_dir: str | Path | None = None, timeout_s: float = 600.0):
        from hcf_ray.sim.work.cache import CodecCache

        self.cache = CodecCache(cache_dir)
        self.timeout_s = timeout_s
        self._memo: dict[tuple, dict[str, float]] = {}
        self._pipe = None
        self._backend = None

    def metrics(self, episode, levels) -> dict[str, float]:
        """The search metrics of ``episode`` with its route carrying ``levels`` (the part the
        policy plans); raises :class:`Infeasible`."""
        levels = tuple(int(x) for x in levels)
        key = (*episode.key, levels)
        if key not in self._memo:
            self._memo[key] = self._compute(episode, levels)
        return dict(self._memo[key])

    def metrics_many(self, pairs, say=None) -> list[dict[str, float] | Exception]:
        """:meth:`metrics` of many (episode, levels) pairs, their missing codec work in one
        batch (actors work in parallel); an infeasible pair gives its :class:`Infeasible`."""
        from hcf_ray.sim.pipeline import Item, units_of
        from hcf_ray.sim.search import variant

        pairs = [(ep, tuple(int(x) for x in lv)) for ep, lv in pairs]
        todo, items, seen = {}, [], set()
        for ep, lv in pairs:
            key = (*ep.key, lv)
            if key in self._memo or key in seen:
                continue
            seen.add(key)
            try:
                sc = variant(ep.scenario, ep.flow, ep.method, self.plan(ep, lv))
            except Infeasible as exc:
                todo[key] = exc
                continue
            todo[key] = (ep, sc)
            items += [Item(key, sc, u, f"{u.image.name} ({ep.network})") for u in units_of(sc)]
        if items:
            if say:
                say(f"codec work: {len(items)} units of {len(seen)} plans")
            codec = self._pipeline(items[0].scenario).run(items)
            for key, job in todo.items():
                if isinstance(job, Exception):
                    continue
                ep, sc = job
                if key in codec.causes:
                    raise RewardError(f"codec work failed: {codec.causes[key]}")
                self._memo[key] = self._simulate(ep, sc, codec.priced[key])
        out: list = []
        for ep, lv in pairs:
            key = (*ep.key, lv)
            out.append(dict(self._memo[key]) if key in self._memo else todo[key])
        return out

    def plan(self, episode, levels):
        from hcf_ray.policy import PolicyVector
        from hcf_ray.sim.search import plan_candidate

        full = episode.full_levels(levels)
        f = episode.flow_run
        vec = PolicyVector.from_levels(f.spec.source_level, full[-1], tuple(dict.fromkeys(full)))
        plan, why = plan_candidate(
            episode.scenario, f, episode.destination, episode.method, vec, full
        )
        if plan is None:
            raise Infeasible(why)
        return plan

    def _compute(self, episode, levels) -> dict[str, float]:
        from hcf_ray.sim.pipeline import Item, units_of
        from hcf_ray.sim.search import variant

        sc = variant(episode.scenario, episode.flow, episode.method, self.plan(episode, levels))
        items = [Item(0, sc, u, f"{u.image.name} ({episode.network})") for u in units_of(sc)]
        codec = self._pipeline(sc).run(items)
        if codec.causes:
            raise RewardError(f"codec work failed: {codec.causes[0]}")
        return self._simulate(episode, sc, codec.priced[0])

    @staticmethod
    def _simulate(episode, sc, priced) -> dict[str, float]:
        from hcf_ray.sim.world import simulate_world, world_spec

        spec = world_spec(episode.method, sc.topology, sc.devices, sc.config.seed, sc.config.faults)
        result = simulate_world(spec, priced)
        return world_metrics(result, episode.flow, episode.destination)

    def _pipeline(self, scenario):
        if self._pipe is None:
            from hcf_ray.sim.driver import make_backend
            from hcf_ray.sim.pipeline import CodecPipeline, RunOptions

            options = RunOptions(timeout_s=self.timeout_s)
            self._backend = make_backend(scenario, options)
            self._pipe = CodecPipeline(self._backend, self.cache, scenario, options)
        if getattr(self._backend, "started", True) is False:
            _connect()
        return self._pipe

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
            self._pipe = None


def _connect() -> None:
    """Ray for codec work on a cache miss (the running session, else a local instance)."""
    import ray

    if not ray.is_initialized():
        from hcf_ray.sim.pool import connect

        connect()


def world_metrics(result, flow: str, destination: str) -> dict[str, float]:
    """A search candidate's metrics from a simulated world (see the module doc)."""
    recs = [r for r in result.records if r["flow"] == flow and r["destination"] == destination]
    bad = [r for r in recs if r.get("status", "ok") != "ok"]
    if not recs or bad:
        raise RewardError(
            f"no result for {flow} → {destination}: {bad[0].get('cause') if bad else 'no record'}"
        )
    units = [u for u in result.per_unit if u["flow"] == flow]
    return {
        "psnr": statistics.fmean(r["psnr"] for r in recs),
        "bpp": statistics.fmean(r["bpp"] for r in recs),
        "latency_ms": statistics.fmean(r["latency_s"] * 1000.0 for r in recs),
        "energy_j": statistics.fmean(u["energy_j"] for u in units),
    }
