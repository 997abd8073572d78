"""The collector settings of the pipeline runs: applied within, restored after, and a reload's garbage freed."""

from __future__ import annotations

import gc
import weakref

from pii_guard.heap import PIPELINE_THRESHOLDS, pipeline_heap, refreeze


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_within_start_up_is_frozen_and_the_thresholds_are_the_pipelines_then_restored() -> None:
    before = gc.get_threshold()
    assert before != PIPELINE_THRESHOLDS
    with pipeline_heap():
        assert gc.get_threshold() == PIPELINE_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_cycle_left_by_the_previous_config_is_freed_by_refreeze() -> None:
    old = _Node()
    gone = weakref.ref(old)
    with pipeline_heap():
        del old  # the previous config's objects, frozen at start-up, become garbage at a reload
        gc.collect()
        assert gone() is not None  # frozen: a collection never looks at it
        refreeze()
        assert gone() is None
        assert gc.get_freeze_count() > 0  # what lives on is frozen again
