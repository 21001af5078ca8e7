"""The paper's analyses on real bitstreams: policy table, entropy, BD, efficiency, cross-quality,
ablation, RD plots, and the ``hcf-sim report`` that assembles them (see :mod:`.report`)."""

from hcf_ray.analysis.entropy import kl_entropy, latent_samples
from hcf_ray.analysis.rqsi import reference_policies, rqs, rqsi

__all__ = ["kl_entropy", "latent_samples", "reference_policies", "rqs", "rqsi"]
