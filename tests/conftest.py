import os
import warnings

import pytest
import torch

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
warnings.filterwarnings("ignore", category=FutureWarning)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests compare in-process results with node actors' (one torch thread each, and some
    float kernels depend on the thread count); a CLI command run in a test sets its own
    ``--threads``, so every test starts from one thread again."""
    torch.set_num_threads(1)
    yield
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
def one_image_dir(tmp_path_factory):
    """A training folder of one real photo, for trainers run for a handful of steps."""
    from PIL import Image

    from hcf_ray.images import sample_images

    d = tmp_path_factory.mktemp("one_image")
    Image.open(sample_images()[0]).save(d / "0.png")
    return d


@pytest.fixture(scope="session")
def tiny_ladder_recipe():
    """A factory of two-level ``LadderRecipe``s of a few 64² iterations per job; keyword
    arguments override its fields."""
    from hcf_ray.train.ladder import LadderRecipe, Stage

    def make(**overrides):
        fields = dict(
            N=16,
            M=24,
            levels=2,
            anchor=2,
            val_every=50,
            base=[Stage(2, 64, 2, 1e-3)],
            spread=[Stage(1, 64, 2, 5e-4)],
            refine=[Stage(1, 64, 2, 1e-4)],
            refine_rounds=1,
        )
        return LadderRecipe(**{**fields, **overrides})

    return make


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray cluster (2 CPUs) shared by every simulator test of the session, started
    the way ``hcf-sim`` starts one (quiet, actors at the product's niceness)."""
    import ray

    from hcf_ray.sim.pool import connect

    started = connect(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _warm_pools():
    """Simulations run in this process reuse their pool actors (each run still computes its
    codec work afresh): actor start-up is paid once, not per test."""
    from hcf_ray.sim.work.warm import warm_pools

    with warm_pools():
        yield


def pytest_collection_modifyitems(config, items):
    """Modules marked ``heavy`` (their own Ray clusters, subprocess runs, long simulations)
    come first, the rest keep their order. xdist hands out whole files in this order
    (``--dist loadfile --no-loadscope-reorder``), so the long ones start early and the two
    workers finish at about the same time instead of one waiting on a long file at the end."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
