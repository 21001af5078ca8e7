"""Codec layer: quality ladders of CompressAI models, split into HCF's operators."""

from hcf_ray.codecs.ladder import ARCHITECTURES, MSE_LAMBDAS, QualityLadder, build_model
from hcf_ray.codecs.level import LevelCodec

__all__ = ["ARCHITECTURES", "MSE_LAMBDAS", "LevelCodec", "QualityLadder", "build_model"]
