"""Full collections wait while a sweep builds or runs; young cycles are still freed."""

import gc
import weakref

import pytest

from hcf_ray.sim.gcpause import no_full_collections, without_full_collections


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _generations_collected(work) -> list[int]:
    seen: list[int] = []

    def cb(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(cb)
    try:
        work()
    finally:
        gc.callbacks.remove(cb)
    return seen


def _allocate_long_lived(n: int = 300_000) -> list:
    return [Node() for _ in range(n)]  # kept alive: survives young collections, ages to gen 2


def test_many_long_lived_objects_trigger_a_full_collection_outside_the_block():
    gc.collect()
    keep = []
    assert 2 in _generations_collected(lambda: keep.append(_allocate_long_lived()))


def test_inside_the_block_only_young_generations_are_collected():
    gc.collect()
    keep = []
    before = gc.get_threshold()
    with no_full_collections():
        seen = _generations_collected(lambda: keep.append(_allocate_long_lived()))
    assert seen and 2 not in seen  # young collections ran, no full one
    assert gc.get_threshold() == before


def test_young_cycles_are_still_freed_without_an_explicit_collect():
    with no_full_collections():
        first = Node()
        ref = weakref.ref(first)
        del first
        for _ in range(50_000):  # garbage cycles: automatic gen-0 collections run
            Node()
        assert ref() is None


def test_the_thresholds_come_back_after_an_error_and_when_nested():
    before = gc.get_threshold()

    @without_full_collections
    def fails():
        with no_full_collections():
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert gc.get_threshold() == before


def test_an_explicit_collection_inside_the_block_skips_what_was_alive_before_it():
    """Ray's driver calls gc.collect() from a thread: the objects alive when the block began
    (a sweep's built networks) are frozen, so that walk does not visit them."""
    keep = _allocate_long_lived(50_000)
    gc.collect()
    with no_full_collections():
        assert gc.get_freeze_count() >= len(keep)
        assert len(gc.get_objects(2)) < len(keep)  # the frozen ones are in no generation
    assert gc.get_freeze_count() == 0
    assert len(gc.get_objects(2)) >= len(keep)  # back in the oldest generation
