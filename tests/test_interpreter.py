"""The interpreter settings of the pipeline runs: applied within, restored after, and a reload's garbage freed."""

from __future__ import annotations

import gc
import sys
import weakref

from pii_guard.interpreter import PIPELINE_SWITCH_INTERVAL_S, PIPELINE_THRESHOLDS, pipeline_interpreter, refreeze


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_within_start_up_is_frozen_and_the_settings_are_the_pipelines_then_restored() -> None:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    assert thresholds != PIPELINE_THRESHOLDS
    assert interval != PIPELINE_SWITCH_INTERVAL_S
    with pipeline_interpreter():
        assert gc.get_threshold() == PIPELINE_THRESHOLDS
        assert sys.getswitchinterval() == PIPELINE_SWITCH_INTERVAL_S
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == thresholds
    assert sys.getswitchinterval() == interval
    assert gc.get_freeze_count() == 0


def test_a_cycle_left_by_the_previous_config_is_freed_by_refreeze() -> None:
    old = _Node()
    gone = weakref.ref(old)
    with pipeline_interpreter():
        del old  # the previous config's objects, frozen at start-up, become garbage at a reload
        gc.collect()
        assert gone() is not None  # frozen: a collection never looks at it
        refreeze()
        assert gone() is None
        assert gc.get_freeze_count() > 0  # what lives on is frozen again
