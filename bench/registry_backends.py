"""Cache-registry backends: SQLite (one machine) vs Redis (a fleet), measured in the same run.

Run:  python bench/registry_backends.py [--n 2000] [--out bench/results/registry_backends.json]

Starts a local redis-server (tests/runtime/redis_server.py; append-only with `appendfsync everysec`,
Redis's default for AOF, the closest to SQLite's WAL with synchronous=NORMAL, which does not fsync
each commit either; --fsync always for the tests' setting) and times, per backend: a create (claim + commit through CacheRegistry.acquire with a
no-op remote create) and a hit (acquire of an existing key: lookup + touch). Reports medians and
the Redis/SQLite ratio; no absolute goal (the ratio depends on the disk and the loopback).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptc.runtime.registry import CacheEntry, CacheKey, CacheRegistry, SQLiteBackend  # noqa: E402
from promptc.runtime.registry_redis import RedisBackend  # noqa: E402
from tests.runtime.redis_server import RedisServer  # noqa: E402


def measure(backend, n: int) -> dict:
    reg = CacheRegistry(backend, max_entries=n + 10)
    keys = [CacheKey("bench", "acct", "m", f"sha256:{i:064x}") for i in range(n)]
    creates, hits = [], []
    for k in keys:
        t = time.perf_counter()
        reg.acquire(k, lambda k=k: CacheEntry(k, f"r/{k.prefix_hash[-8:]}", time.time() + 3600, 1, time.time(),
                                              time.time()))
        creates.append(time.perf_counter() - t)
    for k in keys:
        t = time.perf_counter()
        reg.acquire(k, lambda: None)
        hits.append(time.perf_counter() - t)
    return {"create_median_us": statistics.median(creates) * 1e6, "hit_median_us": statistics.median(hits) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--fsync", default="everysec", choices=["everysec", "always"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = RedisServer(Path(tmp) / "redis", fsync=a.fsync).start()
        try:
            rows = {"sqlite": measure(SQLiteBackend(Path(tmp) / "r.sqlite3"), a.n),
                    "redis": measure(RedisBackend(srv.url, namespace="bench"), a.n)}
        finally:
            srv.stop()
    out = {"n": a.n, "appendfsync": a.fsync, "machine": platform.platform(), "backends": rows,
           "redis_over_sqlite": {k: rows["redis"][k] / rows["sqlite"][k] for k in rows["sqlite"]}}
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
