"""The cache registry: which remote cache objects exist, shared by every adapter of a process.

Key = (provider, account/tenant, model, prefix hash); value = the remote id, its expiry, token count,
created/last-used times. Invalidation is by content: a prefix whose hash changed is a different key.

:meth:`CacheRegistry.acquire` is the one way to get a cache object: concurrent callers asking for
the same missing key wait for one creator (in-flight coalescing) instead of creating their own.

The storage is a :class:`RegistryBackend`; :class:`MemoryBackend` is the in-process default.
(Issue 13 adds the SQLite backend shared by processes, bounds, eviction and reconciliation.)
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Callable, Iterable


@dataclass(frozen=True)
class CacheKey:
    """Identifies one cached prefix on one provider account."""

    provider: str
    account: str
    model: str
    prefix_hash: str


@dataclass(frozen=True)
class CacheEntry:
    """A remote cache object: ``remote_id`` (e.g. ``cachedContents/abc``), when it expires (epoch
    seconds), how many tokens it holds, and when it was created and last used."""

    key: CacheKey
    remote_id: str
    expires_at: float
    tokens: int
    created_at: float
    last_used: float
    status: str = "ready"

    def alive(self, now: float) -> bool:
        return self.expires_at > now


class RegistryBackend(ABC):
    """Where entries live. Implementations must make each method atomic."""

    @abstractmethod
    def get(self, key: CacheKey) -> CacheEntry | None: ...

    @abstractmethod
    def put(self, entry: CacheEntry) -> None: ...

    @abstractmethod
    def delete(self, key: CacheKey) -> CacheEntry | None: ...

    @abstractmethod
    def entries(self) -> list[CacheEntry]: ...


class MemoryBackend(RegistryBackend):
    """A dict behind a lock (one process)."""

    def __init__(self) -> None:
        self._data: dict[CacheKey, CacheEntry] = {}
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CacheEntry | None:
        with self._lock:
            return self._data.get(key)

    def put(self, entry: CacheEntry) -> None:
        with self._lock:
            self._data[entry.key] = entry

    def delete(self, key: CacheKey) -> CacheEntry | None:
        with self._lock:
            return self._data.pop(key, None)

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return list(self._data.values())


class CacheRegistry:
    """Live cache objects by key, with in-flight coalescing of creations."""

    def __init__(self, backend: RegistryBackend | None = None, *, clock: Callable[[], float] = time.time):
        self.backend = backend or MemoryBackend()
        self.clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[CacheKey, threading.Event] = {}

    def lookup(self, key: CacheKey) -> CacheEntry | None:
        """The live entry for ``key`` (None when missing or expired)."""
        e = self.backend.get(key)
        return e if e is not None and e.alive(self.clock()) else None

    def acquire(self, key: CacheKey, create: Callable[[], CacheEntry]) -> tuple[CacheEntry, bool]:
        """(entry, created): the live entry, or the one ``create()`` makes; concurrent callers for
        the same key wait for a single creator. ``create`` raising propagates to its caller only."""
        while True:
            e = self.lookup(key)
            if e is not None:
                self.touch(key)
                return e, False
            with self._lock:
                waiter = self._inflight.get(key)
                if waiter is None:
                    mine = threading.Event()
                    self._inflight[key] = mine
            if waiter is not None:
                waiter.wait()
                continue
            try:
                entry = create()
                self.backend.put(entry)
                return entry, True
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                mine.set()

    def touch(self, key: CacheKey, expires_at: float | None = None) -> None:
        """Record a use (and a new expiry, after a refresh)."""
        e = self.backend.get(key)
        if e is not None:
            self.backend.put(replace(e, last_used=self.clock(),
                                     expires_at=e.expires_at if expires_at is None else expires_at))

    def invalidate(self, key: CacheKey) -> CacheEntry | None:
        """Forget ``key`` (its remote object expired or was deleted); returns the old entry."""
        return self.backend.delete(key)

    def entries(self, provider: str | None = None) -> Iterable[CacheEntry]:
        return [e for e in self.backend.entries() if provider is None or e.key.provider == provider]


__all__ = ["CacheEntry", "CacheKey", "CacheRegistry", "MemoryBackend", "RegistryBackend"]
