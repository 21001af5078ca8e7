"""Real networks in: Topology Zoo GML / GraphML, SNDlib (native and XML) and Rocketfuel files
read into one :class:`~hcf_ray.graphs.model.ImportedNetwork`, every link's speed and latency
with its provenance. Loads no models (neither torch nor Ray).

:func:`read_network` is the entry point: it picks the reader from the file's contents (and
name), applies the node and link rules of :mod:`.rules`, and raises
:class:`~hcf_ray.graphs.errors.GraphError` (one line naming the file) for a file it cannot
read.
"""

from __future__ import annotations

from pathlib import Path

from hcf_ray.graphs.errors import GraphError
from hcf_ray.graphs.model import ImportedNetwork

MAX_GRAPH_BYTES = 64 * 1024 * 1024
FORMATS = ("gml", "graphml", "sndlib-native", "sndlib-xml", "rocketfuel")
_SNIFF_BYTES = 4096


def sniff_format(path: str | Path, head: bytes | None = None) -> str | None:
    """The graph format of a file from its first bytes and its name (None: unknown)."""
    path = Path(path)
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    low = text.lower()
    suffix = path.suffix.lower()
    if text.startswith("?SNDlib"):
        return "sndlib-native"
    if "<network" in low and "sndlib" in low:
        return "sndlib-xml"
    if "<graphml" in low:
        return "graphml"
    if suffix == ".intra" or path.name in ("weights.intra", "latencies.intra"):
        return "rocketfuel"
    if suffix == ".gml" or (low.startswith(("graph", "creator", "#")) and "graph" in low):
        return "gml"
    return None


def read_raw(path: str | Path):
    """The raw graph of a file (see :mod:`.model`), its reader picked by :func:`sniff_format`."""
    path = Path(path)
    try:
        found = path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise GraphError(f"{path}: graph file not found")
    try:
        size = path.stat().st_size
        fmt = sniff_format(path)
    except OSError as exc:
        raise GraphError(f"cannot read {path}: {type(exc).__name__}: {exc.strerror}") from None
    if size > MAX_GRAPH_BYTES:
        raise GraphError(f"{path}: larger than {MAX_GRAPH_BYTES // 2**20} MiB")
    if fmt is None:
        raise GraphError(
            f"{path}: unknown graph format (use GML, GraphML, SNDlib or Rocketfuel .intra)"
        )
    reader = _reader(fmt)
    try:
        return reader(path)
    except GraphError as exc:
        text = str(exc)
        raise GraphError(text if str(path) in text else f"cannot read {path}: {text}") from None
    except Exception as exc:  # any parser failure (NetworkX, XML, decoding, recursion)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GraphError(f"cannot read {path}: {type(exc).__name__}: {msg}".rstrip(": ")) from None


def _reader(fmt: str):
    if fmt == "gml":
        from hcf_ray.graphs.zoo import read_gml

        return read_gml
    if fmt == "graphml":
        from hcf_ray.graphs.zoo import read_graphml

        return read_graphml
    if fmt.startswith("sndlib"):
        from hcf_ray.graphs.sndlib import read_sndlib

        return read_sndlib
    from hcf_ray.graphs.rocketfuel import read_rocketfuel

    return read_rocketfuel


def read_network(path: str | Path, options=None) -> ImportedNetwork:
    """The imported network of a graph file under the ``graph:`` ``options`` (``None``: the
    defaults; an :class:`~hcf_ray.graphs.rules.ImportOptions`, a mapping or a config's
    ``GraphImport``)."""
    from hcf_ray.graphs.rules import apply_rules

    raw = read_raw(path)
    try:
        return apply_rules(raw, options, source=str(path))
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from None


__all__ = ["FORMATS", "GraphError", "ImportedNetwork", "read_network", "read_raw", "sniff_format"]
