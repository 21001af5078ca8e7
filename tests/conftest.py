import os
import warnings

import pytest
import torch

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
warnings.filterwarnings("ignore", category=FutureWarning)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_ladder():
    from hcf_ray.codecs import QualityLadder

    return QualityLadder.random("mbt2018-mean", num_levels=6, N=16, M=24, seed=0)


@pytest.fixture(scope="session")
def tiny_phis(tiny_ladder):
    from hcf_ray.hcf import PhiBank, PhiConfig

    return PhiBank.for_ladder(tiny_ladder, PhiConfig(hidden=16, num_res=2), seed=0)


@pytest.fixture(scope="session")
def sample_image():
    from hcf_ray.images import load_image, sample_images

    # a real photo, cropped to keep the tiny-model tests fast (and a non-multiple of 64)
    return load_image(sample_images()[0])[..., :120, :200].contiguous()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray cluster (2 CPUs) shared by every simulator test of the session."""
    import logging

    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    if started:
        ray.shutdown()
