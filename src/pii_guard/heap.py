"""The cyclic garbage collector's settings for the long pipeline runs (`run`, `ingest`, `replay`).

The pipeline allocates a few container objects per line (tuples, dicts, lists) and keeps tens of thousands of
them alive for a while: the batch being filled, the reorder buffer, the windows. With CPython's default
thresholds (700, 10, 10) a young collection runs every 700 allocations and an older one every 7,000, each
traversing what survived, so in a flood of matches the collector took about a tenth of the main thread
(`benchmarks/latency.py`). Reference counting frees what the pipeline drops; the collector only finds cycles,
which the per-line path does not make. So, once start-up is done, what start-up built (config, policy,
directory, compiled rules: it lives as long as the run) is frozen out of the collector's sight, and the
generations are collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

# a young collection every 50,000 net allocations, an older one every 20 of those, a full one every 100 of
# those (CPython also waits until a full one would meet 25 % new objects)
PIPELINE_THRESHOLDS: Final = (50_000, 20, 100)


@contextmanager
def pipeline_heap() -> Iterator[None]:
    """Within: start-up's objects frozen and the pipeline's thresholds. The previous settings come back after."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*PIPELINE_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def refreeze() -> None:
    """After a reload: what the previous config built is garbage now (some of it in cycles, which a frozen
    object never leaves), and what the new one built lives until the next reload."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
