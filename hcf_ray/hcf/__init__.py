"""HCF latent-to-latent transform modules φ_{k→k-1}."""

from hcf_ray.hcf.bank import PhiBank
from hcf_ray.hcf.modules import PhiConfig, TransformModule

__all__ = ["PhiBank", "PhiConfig", "TransformModule"]
