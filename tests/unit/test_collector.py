"""shared/collector.py: the collector's pauses are measured, and shown from the start."""

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from shared import collector


def _pauses(generation: str) -> float | None:
    return REGISTRY.get_sample_value("accord_gc_pause_seconds_count", {"generation": generation})


@pytest.fixture
def frozen() -> Iterator[int]:
    """The service's start-up step in this process, undone afterwards (the rest of the suite
    runs with Python's own collector settings)."""
    thresholds = gc.get_threshold()
    try:
        yield collector.freeze_startup_objects()
    finally:
        gc.callbacks.remove(collector._time_collections)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_every_generation_is_shown_before_its_first_collection(frozen: int) -> None:
    # A service that has not collected yet exported no series at all, which reads as "not
    # measured" (and a rate() missed the first collection).
    assert frozen > 0
    assert all(_pauses(g) is not None for g in ("0", "1", "2"))


def test_a_collection_is_timed_under_its_generation(frozen: int) -> None:
    before = _pauses("2")
    assert before is not None
    gc.collect()
    assert _pauses("2") == before + 1
