"""The daemon's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bounced.service import gctune


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    gctune.settle_after_startup()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == gctune.THRESHOLDS
    assert gctune.THRESHOLDS[0] > 700  # CPython's default


@pytest.mark.usefixtures("restored_gc")
def test_cyclic_garbage_made_after_startup_is_still_collected() -> None:
    gctune.settle_after_startup()

    class Node:
        other: object

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
