"""Content-addressed codec work: what a stage produces depends only on its lineage.

A stage's output (the payload it sends, or the reconstruction's metrics) is a function of
the model bundle, the input image's content and the sequence of stages that led to it, never
of the network it is simulated on. Its **lineage key** says exactly that::

    source key = sha256(bundle hash, image file hash, transport)
    branch key = sha256(key of its input, the stage)      (a forwarding relay keeps its input's)

so the same cascade reached in another network, seed, placement or flow has the same key and
is computed once. :class:`CodecCache` keeps, per key, the branch's result (level and bytes of
the payload, or PSNR / MS-SSIM / reconstruction hash) and a reference to the payload itself
in Ray's object store (children that are not cached yet need it as their input). With a
directory it also writes both to disk (one JSON file and one payload file per key, written
atomically), so runs and sweeps that share the directory share the work.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcf_ray.atomic import atomic_write_bytes

CACHE_FORMAT = "hcf-sim-cache/2"  # 2: wire format HCF2 (CRC32), byte counts changed


def source_key(bundle_sha256: str, image_sha256: str, transport: str) -> str:
    return _sha(f"{CACHE_FORMAT}|source|{bundle_sha256}|{image_sha256}|{transport}")


def branch_key(input_key: str, stage) -> str:
    return _sha(f"{input_key}|{stage!r}")


def lineage_keys(plan, src_key: str) -> dict[tuple[int, int], str]:
    """The lineage key of every (job, branch) of a flow plan (parents come first)."""
    keys: dict[tuple[int, int], str] = {}
    for job in plan.jobs:
        inp = src_key if job.input is None else keys[job.input]
        for b, br in enumerate(job.branches):
            keys[job.index, b] = inp if br.forward else branch_key(inp, br.stage)
    return keys


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_HASHES:
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _FILE_HASHES[memo] = h.hexdigest()
    return _FILE_HASHES[memo]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0  # branch results found (memory or disk)
    disk_hits: int = 0  # of which read from the cache directory
    shared: int = 0  # found in flight: another unit was already computing it
    misses: int = 0  # branch results computed by this run
    computed_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "hits": self.hits,
            "disk_hits": self.disk_hits,
            "shared_in_flight": self.shared,
            "misses": self.misses,
            "distinct_computed": len(set(self.computed_keys)),
        }


class CodecCache:
    """Branch results by lineage key: in memory, payloads in the object store, optionally disk."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._info: dict[str, dict] = {}
        self._payload_refs: dict[str, Any] = {}
        self.stats = CacheStats()

    # -- lookups ----------------------------------------------------------------------------
    def info(self, key: str) -> dict | None:
        if key in self._info:
            return self._info[key]
        if self.directory is not None:
            path = self._path(key, ".json")
            if path.is_file():
                try:
                    info = json.loads(path.read_text())
                except (OSError, ValueError):
                    return None  # a damaged entry is recomputed (and rewritten)
                self._info[key] = info
                self.stats.disk_hits += 1
                return info
        return None

    def payload_ref(self, key: str):
        """An object-store reference to the payload of ``key`` (None if it is not kept)."""
        if key in self._payload_refs:
            return self._payload_refs[key]
        if self.directory is not None:
            path = self._path(key, ".payload")
            if path.is_file():
                import ray

                with path.open("rb") as fh:
                    ref = ray.put(pickle.load(fh))
                self._payload_refs[key] = ref
                return ref
        return None

    # -- stores -----------------------------------------------------------------------------
    def put(self, key: str, info: dict, payload_ref=None, payload: Any = None) -> None:
        self._info[key] = info
        if payload_ref is not None:
            self._payload_refs[key] = payload_ref
        if self.directory is None:
            return
        if payload is not None:
            atomic_write_bytes(
                self._path(key, ".payload"), pickle.dumps(payload, protocol=5), fsync=False
            )
        atomic_write_bytes(
            self._path(key, ".json"), json.dumps(info, sort_keys=True).encode(), fsync=False
        )

    def keep_payload(self, key: str, payload_ref) -> None:
        self._payload_refs[key] = payload_ref

    def wants_payloads_on_disk(self) -> bool:
        return self.directory is not None

    def __contains__(self, key: str) -> bool:
        return self.info(key) is not None

    def _path(self, key: str, suffix: str) -> Path:
        return self.directory / key[:2] / f"{key}{suffix}"

    def describe(self) -> dict:
        return {
            "directory": str(self.directory) if self.directory else None,
            "entries_in_memory": len(self._info),
            **self.stats.as_dict(),
        }
