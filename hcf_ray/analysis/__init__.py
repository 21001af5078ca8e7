"""The paper's analyses on real bitstreams: policy table, entropy, BD, efficiency, cross-quality,
ablation, RD plots, and the ``hcf-sim report`` that assembles them (see :mod:`.report`)."""

from hcf_ray.analysis.rqsi import reference_policies, rqs, rqsi

__all__ = ["kl_entropy", "latent_samples", "reference_policies", "rqs", "rqsi"]


def __getattr__(name: str):
    """``kl_entropy`` and ``latent_samples`` import torch, CompressAI and SciPy: loaded on
    first use, so that registering ``hcf-sim report`` (:mod:`.cli`) stays light."""
    if name in ("kl_entropy", "latent_samples"):
        from hcf_ray.analysis import entropy

        return getattr(entropy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
