"""A reload leaves nothing of the previous config behind: the daemon freezes what start-up built out of the
collector's sight (pii_guard.interpreter), so a reload must let the collector see it again once it is garbage.
In-process, so that the previous runtime can be watched."""

from __future__ import annotations

import gc
import signal
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from pii_guard.clock import SystemClock
from pii_guard.config.load import LoadedConfig
from pii_guard.daemon import Daemon
from tests.daemon.harness import write_config


class _Cycle:
    """Something of the runtime that only the collector frees, as a real runtime has (threads and the
    objects whose bound methods they run)."""

    def __init__(self, runtime: object) -> None:
        self.runtime = runtime
        self.me = self


def test_start_up_is_frozen_and_after_a_reload_the_previous_runtime_is_freed_even_in_a_cycle(tmp_path: Path) -> None:
    daemon = Daemon(write_config(tmp_path), SystemClock())
    built: list[weakref.ref[Any]] = []
    build = daemon._build

    def tracked(loaded: LoadedConfig) -> Any:
        runtime = build(loaded)
        runtime.cycle = _Cycle(runtime)  # type: ignore[attr-defined]  (not on the loop: compiled, it has no __dict__)
        built.append(weakref.ref(runtime.cycle))  # type: ignore[attr-defined]
        return runtime

    daemon._build = tracked  # type: ignore[method-assign]
    seen: dict[str, bool] = {}

    def drive() -> None:
        deadline = time.monotonic() + 30
        while not built and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        loop = built[0]().runtime.loop  # type: ignore[union-attr]
        # frozen: tracked, but in none of the generations a collection traverses
        seen["start-up frozen"] = gc.is_tracked(loop) and all(o is not loop for o in gc.get_objects())
        del loop
        daemon._reload = True
        daemon._wake.set()
        while len(built) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the loop goes on with the new runtime
        gc.collect()
        seen["previous freed"] = built[0]() is None
        seen["current alive"] = built[-1]() is not None
        daemon._stop = True
        daemon._wake.set()

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    driver = threading.Thread(target=drive)
    driver.start()
    try:
        assert daemon.run() == 0
    finally:
        driver.join()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert len(built) == 2
    assert seen == {"start-up frozen": True, "previous freed": True, "current alive": True}
    assert gc.get_freeze_count() == 0  # the settings end with the run
