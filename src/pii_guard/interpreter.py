"""CPython's settings for the long pipeline runs (`run`, `ingest`, `replay`): the cyclic garbage collector and
the hand-over of the GIL between threads.

The collector. The pipeline allocates a few container objects per line (tuples, dicts, lists) and keeps tens
of thousands of them alive for a while: the batch being filled, the reorder buffer, the windows. With
CPython's default thresholds (700, 10, 10) a young collection runs every 700 allocations and an older one
every 7,000, each traversing what survived, so in a flood of matches the collector took about a sixth of the
main thread's time (`benchmarks/latency.py`: the daemon at 15,100 lines/s before, 18,100 after). Reference
counting frees what the pipeline drops; the collector only finds cycles, which the per-line path does not
make. So, once start-up is done, what start-up built (config, policy, directory, compiled rules: it lives as
long as the run) is frozen out of the collector's sight, and the generations are collected less often.

The GIL. The event store's writer thread runs each SQLite statement with the GIL released, but takes it back
between statements (about ten per batch). While the main thread parses, CPython hands the GIL over only
after a switch interval, 5 ms by default: a batch's commit waited some 20 ms for the GIL alone, and a match
waits for its batch's commit. With 0.5 ms, at 20,000 lines/s the median write-to-match latency went from
147 to 61 ms and its p99 from 274 to 165 ms, at the same throughput (medians of 3, one session).

The allocator. A batch passes through a few large buffers (the staged database image the writer thread copies
in: about 7 MB per 10,000 nginx events). glibc's malloc maps such a block on its own, but once one is freed it
raises its threshold to that size, so the next ones come from the heap, whose top it keeps: `pii-guard ingest`
peaked at 25 MiB more for it. Within, the threshold is fixed at 128 KiB (glibc's default start), which also
ends its adjustment for the rest of the process: the one setting not restored after."""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

# a young collection every 50,000 net allocations, an older one every 20 of those, a full one every 100 of
# those (CPython also waits until a full one would meet 25 % new objects)
PIPELINE_THRESHOLDS: Final = (50_000, 20, 100)
PIPELINE_SWITCH_INTERVAL_S: Final = 0.0005
PIPELINE_MMAP_THRESHOLD: Final = 128 * 1024  # bytes: a block this large or larger is mapped, and unmapped when freed
_M_MMAP_THRESHOLD: Final = -3  # mallopt's parameter number (glibc's malloc.h)


def fix_mmap_threshold() -> None:
    """Fix glibc's mmap threshold at PIPELINE_MMAP_THRESHOLD. Where the C library has no `mallopt` (not glibc),
    nothing is set: its allocator behaves as it always does."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, PIPELINE_MMAP_THRESHOLD)


@contextmanager
def pipeline_interpreter() -> Iterator[None]:
    """Within: start-up's objects frozen, the pipeline's collector thresholds and switch interval, and the
    fixed mmap threshold. The previous settings, but for that one, come back after."""
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    fix_mmap_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*PIPELINE_THRESHOLDS)
    sys.setswitchinterval(PIPELINE_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def refreeze() -> None:
    """After a reload: what the previous config built is garbage now (some of it in cycles, which a frozen
    object never leaves), and what the new one built lives until the next reload."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
