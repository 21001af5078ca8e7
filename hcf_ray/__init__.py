"""hcf-sim: a Ray cluster simulator for distributed multi-stage learned image compression (HCF)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_results"]

if TYPE_CHECKING:
    from hcf_ray.results import load_results


def __getattr__(name: str) -> Any:
    # lazy: `import hcf_ray` stays light (no pandas until load_results is used)
    if name == "load_results":
        from hcf_ray.results import load_results

        return load_results
    raise AttributeError(f"module 'hcf_ray' has no attribute {name!r}")
