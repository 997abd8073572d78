"""The interpreter settings of the pipeline runs: applied within, restored after, and a reload's garbage freed."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

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


_LARGE_BLOCKS = """
import sys
from pii_guard.interpreter import pipeline_interpreter

def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

def returned_kib() -> int:
    first = bytearray(8 << 20)  # mapped; freeing it raised glibc's threshold to its size
    del first
    block = bytearray(8 << 20)  # a batch's buffer: zero-filled, so its pages are resident
    held = rss_kib()
    del block
    return held - rss_kib()

if sys.argv[1] == "pipeline":
    with pipeline_interpreter():
        print(returned_kib())
else:
    print(returned_kib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and /proc: Linux only")
def test_a_large_freed_buffer_goes_back_to_the_system_within() -> None:
    """In a fresh interpreter: the allocator's threshold is process-wide and, once fixed, stays fixed."""
    def returned(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _LARGE_BLOCKS, mode], capture_output=True, text=True,
                              check=True, timeout=60)  # fmt: skip
        return int(done.stdout)

    assert returned("pipeline") >= 7 * 1024  # unmapped when freed
    assert returned("default") < 1024  # glibc's own rule: kept in the heap
