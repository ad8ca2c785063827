"""A fake provider with cache objects, shared by processes through a directory: each remote object
is a JSON file carrying promptc's metadata (prefix hash, creator); every create and delete appends a
line to a log, so tests count remote creates exactly. Worker functions for multiprocessing live here
(children import them by name)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

from promptc.runtime.registry import CacheEntry, CacheKey, CacheRegistry, RemoteObject, SQLiteBackend

TTL_S = 3600.0


class FileProvider:
    """Remote cache objects as files under ``root/objects``; ``creates.log`` / ``deletes.log`` record calls."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)

    def _log(self, name: str, line: str) -> None:
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def create(self, prefix_hash: str, creator: str, tokens: int = 1000) -> str:
        rid = f"cache-{uuid.uuid4().hex[:12]}"
        (self.root / "objects" / rid).write_text(json.dumps({"id": rid, "prefix_hash": prefix_hash,
                                                              "creator": creator, "tokens": tokens}))
        self._log("creates.log", rid)
        return rid

    def list_remote(self) -> list[RemoteObject]:
        out = []
        for f in sorted((self.root / "objects").iterdir()):
            d = json.loads(f.read_text())
            out.append(RemoteObject(d["id"], d["prefix_hash"], d["creator"]))
        return out

    def delete_remote(self, rid: str) -> None:
        (self.root / "objects" / rid).unlink(missing_ok=True)
        self._log("deletes.log", rid)

    def log(self, name: str) -> list[str]:
        p = self.root / name
        return p.read_text().split() if p.exists() else []


def creator_for(registry: CacheRegistry, provider: FileProvider, key: CacheKey, *, delay_s: float = 0.0,
                tokens: int = 1000, die: str | None = None):
    """A ``create`` callback: makes the remote object (tagged with the registry's owner and the prefix
    hash) and returns its entry; ``die`` = "before" / "after" SIGKILLs this process around the create."""

    def create() -> CacheEntry:
        if die == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        if delay_s:
            time.sleep(delay_s)
        rid = provider.create(key.prefix_hash, registry.owner, tokens)
        if die == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        now = registry.clock()
        return CacheEntry(key, rid, now + TTL_S, tokens, now, now)

    return create


KEY = CacheKey("fake", "acme", "fake-model", "sha256:" + "ab" * 32)


def worker(db: str, root: str, threads: int, go, results) -> None:
    """One process: ``threads`` threads acquire :data:`KEY` at once (after ``go`` is set); each puts
    (remote id, created) on ``results``."""
    reg = CacheRegistry(SQLiteBackend(db), poll_s=0.01)
    provider = FileProvider(root)
    reg.set_deleter("fake", lambda e: provider.delete_remote(e.remote_id))
    barrier = threading.Barrier(threads)
    out: list = []

    def one() -> None:
        barrier.wait()
        entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY, delay_s=0.2))
        out.append((entry.remote_id, created))

    go.wait()
    ts = [threading.Thread(target=one) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for item in out:
        results.put(item)


def dying_worker(db: str, root: str, die: str, lease_s: float) -> None:
    """A process that claims :data:`KEY` and is SIGKILLed before or after its remote create."""
    reg = CacheRegistry(SQLiteBackend(db), lease_s=lease_s)
    provider = FileProvider(root)
    reg.acquire(KEY, creator_for(reg, provider, KEY, die=die))
