"""Memory of detection windows: RSS and bytes per tracked key-window with N users active in R windowed rules.

    python benchmarks/memory.py                      # 100,000 users in 5 quota rules, one run
    python benchmarks/memory.py --users 10000 --json

The rules are quotas of one role over an hour (records, rows, events, bytes, distinct objects), each keyed by
user. Every user makes 4 accesses a few minutes apart, all through the detection engine (reorder buffer
included) with limits no one reaches. Measured in this process, which does nothing else:
  rss_mib             resident memory at the end (VmRSS)
  bytes_in_memory     (RSS after − RSS before the engine saw any event) ÷ key-windows: everything the windows,
                      their keys and the engine's indexes cost, as the kernel sees it
  bytes_saved         the state the daemon writes to the state database per key-window (compact JSON of
                      each window's state plus its rule and key)
Run it in a fresh process per measurement: freed memory is not given back to the kernel.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pii_guard.detection.engine import DetectionEngine
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
from pii_guard.policy.compile import compile_policy
from pii_guard.policy.models import Policy

MEASURES = ("records", "rows", "events", "bytes", "distinct_objects")
T0_US = 1_800_000_000_000_000
STEP_US = 180_000_000  # 3 minutes between a user's accesses
BATCH = 10_000


def policy(rules: int) -> Policy:
    quotas = [{"id": f"bench-quota-{i}", "categories": ["personal"], "measure": MEASURES[i % len(MEASURES)],
               "max": 10**12, "per": "1h"} for i in range(rules)]  # fmt: skip
    return Policy.model_validate({"roles": {"bench": {"may_view": ["*"], "quotas": quotas}}})


def rss_kib(field: str = "VmRSS:") -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field):
            return int(row.split()[1])
    return 0


def measure(users: int, rules: int) -> dict[str, Any]:
    pol = policy(rules)
    engine = DetectionEngine(list(compile_policy(pol).detectors), pol.lateness)
    info = [UserInfo(f"u{u:06d}", ("bench",), "bench") for u in range(users)]
    obj = ObjectInfo(("personal",), True)
    gc.collect()
    before = rss_kib()
    n = 0
    for k in range(4):
        for u in range(users):  # in time order, as the daemon releases them
            t = T0_US + k * STEP_US + u
            event = AccessEvent(f"{n:032x}", t, "bench", "read", "success", user=info[u].name, source_ip="10.20.0.1",
                                host="db1", object=f"db:crm.public.t{u % 200}", rows=3, bytes=100,
                                record_ids=(f"r{u}",), original="")  # fmt: skip
            engine.process(EnrichedEvent(event, info[u], obj, "office"), "bench")
            n += 1
            if n % BATCH == 0:
                engine.take_changes()  # the daemon saves the changes with every batch
    engine.drain()
    engine.take_changes()
    del info
    gc.collect()
    after = rss_kib()
    keys = saved = 0
    for rule, store in engine._stores.items():  # every window, as a full save would write it
        for key, window in store.items():
            keys += 1
            saved += len(json.dumps(window.to_state(), separators=(",", ":"))) + len(rule) + len(key)
    return {"users": users, "rules": rules, "events": n, "key_windows": keys,
            "bytes_in_memory": (after - before) * 1024 / max(1, keys), "bytes_saved": saved / max(1, keys),
            "rss_mib": after / 1024, "peak_rss_mib": rss_kib("VmHWM:") / 1024}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--rules", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = measure(args.users, args.rules)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['key_windows']:,} key-windows ({args.users:,} users × {args.rules} rules): "
              f"{result['bytes_in_memory']:,.0f} bytes each in memory, {result['bytes_saved']:,.0f} saved; "
              f"RSS {result['rss_mib']:,.1f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
