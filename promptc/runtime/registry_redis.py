"""The cache registry on Redis (or Valkey): :class:`RedisBackend`, for a fleet of machines sharing one
registry, with the same semantics as :class:`~promptc.runtime.registry.SQLiteBackend` — coalesced
creation with leases, dead-lease takeover, bounded size with FIFO/LRU eviction (the registry deletes
the evicted remote objects), invalidation by content.

Storage: two hashes, ``{<namespace>}:entries`` and ``{<namespace>}:claims``, field = the JSON of the
key (provider, account, model, prefix hash), value = the JSON of the entry's columns (the same columns
as the SQLite table) or of (lease owner, lease expiry). The braces are a hash tag, so both keys live
in one slot of a Redis Cluster and a transaction may touch both.

Atomicity: ``claim``, ``commit``, ``release``, ``update`` and ``delete`` are optimistic transactions
(``WATCH`` both hashes, read, then ``MULTI``/``EXEC``; redis-py's ``Redis.transaction`` retries when
another client wrote in between) — the Redis equivalent of SQLite's ``BEGIN IMMEDIATE``: two creators
cannot both see "no entry, no lease". Plain commands only (no Lua, no modules), so Valkey and any
Redis ≥ 5 serve it.

Durability is the server's: a server restarted without persistence (``appendonly yes`` or RDB
snapshots) comes back empty; the registry then recreates what it needs and
:meth:`~promptc.runtime.registry.CacheRegistry.reconcile` deletes the remote objects nobody knows.
A connection lost mid-call is retried with backoff (``retries``); a server that stays unreachable is
error E530.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable

from promptc.runtime.registry import (CacheEntry, CacheKey, Claim, Commit, RegistryBackend, RegistryError,
                                      _eviction_order, owner_alive)

#: Default key namespace (the part inside the hash tag).
NAMESPACE = "promptc:registry"


def _field(key: CacheKey) -> str:
    return json.dumps([key.provider, key.account, key.model, key.prefix_hash], separators=(",", ":"))


def _unfield(s: str) -> CacheKey:
    p, a, m, h = json.loads(s)
    return CacheKey(p, a, m, h)


def _dump(e: CacheEntry) -> str:
    return json.dumps([e.remote_id, e.expires_at, e.tokens, e.created_at, e.last_used, e.status, e.slot, e.creator],
                      separators=(",", ":"))


def _load(field: str, value: str) -> CacheEntry:
    rid, exp, tokens, created, used, status, slot, creator = json.loads(value)
    return CacheEntry(_unfield(field), rid, float(exp), int(tokens), float(created), float(used), status, slot,
                      creator)


class RedisBackend(RegistryBackend):
    """Entries and creation leases in Redis/Valkey, shared by every process that reaches the server.

    ``url`` is a redis-py URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix:///path``);
    ``client`` an existing ``redis.Redis`` instead. ``namespace`` separates registries sharing a
    server. ``retries`` / ``backoff_cap_s`` bound how long a call rides out a lost connection (a
    server restart) before it is error E530.
    """

    def __init__(self, url: str | None = None, *, client: Any = None, namespace: str = NAMESPACE,
                 retries: int = 8, backoff_cap_s: float = 1.0, socket_timeout_s: float = 10.0):
        try:
            import redis
            from redis.backoff import ExponentialBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - depends on the install
            raise RegistryError("error[E530]: RedisBackend needs the redis client library\n"
                                "   = hint: pip install 'promptc[redis]'") from None
        self._redis = redis
        if client is None:
            if not url:
                raise RegistryError("error[E530]: RedisBackend needs a url (redis://host:port/db) or a client")
            try:
                client = redis.Redis.from_url(
                    url, decode_responses=True, socket_timeout=socket_timeout_s,
                    socket_connect_timeout=socket_timeout_s,
                    retry=Retry(ExponentialBackoff(cap=backoff_cap_s, base=0.02), retries),
                    retry_on_error=[redis.ConnectionError, redis.TimeoutError])
            except ValueError as exc:
                raise RegistryError(f"error[E530]: bad Redis url {url!r}: {exc}") from None
        self.url = url
        self.client = client
        self.namespace = namespace
        self.k_entries = f"{{{namespace}}}:entries"
        self.k_claims = f"{{{namespace}}}:claims"
        self.retries = retries
        self.backoff_cap_s = backoff_cap_s
        self._call(self.client.ping)

    # -- plumbing ------------------------------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run one client call; a server that stays unreachable (after the client's retries) is E530."""
        try:
            return fn(*args, **kw)
        except self._redis.RedisError as exc:
            where = self.url or "the Redis server"
            raise RegistryError(f"error[E530]: the cache registry on {where} failed: {exc}\n"
                                "   = hint: check that the server runs and is reachable; entries survive a "
                                "restart only with persistence (appendonly yes)") from None

    def _txn(self, body: Callable[[Any], Any]) -> Any:  # type: ignore[override]
        """An optimistic transaction over both hashes: ``body(pipe)`` reads (immediate mode), calls
        ``pipe.multi()`` and queues its writes; retried whole when another client wrote meanwhile."""
        return self._call(self.client.transaction, body, self.k_entries, self.k_claims, value_from_callable=True)

    def _get(self, pipe: Any, key: CacheKey) -> CacheEntry | None:
        f = _field(key)
        v = pipe.hget(self.k_entries, f)
        return _load(f, v) if v is not None else None

    def _all(self, pipe: Any) -> list[CacheEntry]:
        rows = [_load(f, v) for f, v in pipe.hgetall(self.k_entries).items()]
        return sorted(rows, key=lambda e: (e.created_at, e.key.prefix_hash))  # SQLite's order

    # -- RegistryBackend -----------------------------------------------------------------------------
    def get(self, key: CacheKey) -> CacheEntry | None:
        f = _field(key)
        v = self._call(self.client.hget, self.k_entries, f)
        return _load(f, v) if v is not None else None

    def put(self, entry: CacheEntry) -> None:
        self._call(self.client.hset, self.k_entries, _field(entry.key), _dump(entry))

    def delete(self, key: CacheKey) -> CacheEntry | None:
        def body(pipe: Any) -> CacheEntry | None:
            old = self._get(pipe, key)
            pipe.multi()
            pipe.hdel(self.k_entries, _field(key))
            return old
        return self._txn(body)

    def entries(self) -> list[CacheEntry]:
        return self._all(self.client)  # HGETALL is atomic on its own

    def claim(self, key: CacheKey, owner: str, until: float, lease_now: float, entry_now: float) -> Claim:
        f = _field(key)

        def body(pipe: Any) -> Claim:
            e = self._get(pipe, key)
            if e is not None and e.alive(entry_now):
                pipe.multi()  # an empty EXEC still fails when a watched key changed: the read is checked
                return Claim("ready", e)
            held = pipe.hget(self.k_claims, f)
            if held is not None:
                h_owner, h_until = json.loads(held)
                if h_owner != owner and h_until > lease_now and owner_alive(h_owner):
                    pipe.multi()
                    return Claim("busy")
            pipe.multi()
            pipe.hset(self.k_claims, f, json.dumps([owner, until]))
            return Claim("won")
        return self._txn(body)

    def _release_in(self, pipe: Any, key: CacheKey, owner: str) -> bool:
        held = pipe.hget(self.k_claims, _field(key))
        return held is not None and json.loads(held)[0] == owner

    def release(self, key: CacheKey, owner: str) -> None:
        def body(pipe: Any) -> None:
            mine = self._release_in(pipe, key, owner)
            pipe.multi()
            if mine:
                pipe.hdel(self.k_claims, _field(key))
        self._txn(body)

    def commit(self, entry: CacheEntry, owner: str, now: float, *, max_entries: int,
               drop_superseded: bool) -> Commit:
        k = entry.key

        def body(pipe: Any) -> Commit:
            mine = self._release_in(pipe, k, owner)
            old = self._get(pipe, k)
            if old is not None and old.alive(now) and old.remote_id != entry.remote_id:
                pipe.multi()
                if mine:
                    pipe.hdel(self.k_claims, _field(k))
                return Commit(False, old)
            scan = drop_superseded and entry.slot is not None
            size = int(pipe.hlen(self.k_entries)) + (old is None)
            # every entry is read only when a slot may be superseded or the bound is crossed (HLEN first)
            rest = {e.key: e for e in self._all(pipe)} if scan or size > max_entries else {}
            rest[k] = entry
            superseded: list[CacheEntry] = []
            if scan:
                superseded = [e for e in rest.values() if e.slot == entry.slot and e.key.prefix_hash != k.prefix_hash
                              and (e.key.provider, e.key.account, e.key.model) == (k.provider, k.account, k.model)]
                for e in superseded:
                    del rest[e.key]
            evicted: list[CacheEntry] = []
            if size - len(superseded) > max_entries:
                victims = sorted((e for e in rest.values() if e.key != k), key=lambda e: _eviction_order(e, now))
                evicted = victims[: len(rest) - max_entries]
            pipe.multi()
            if mine:
                pipe.hdel(self.k_claims, _field(k))
            pipe.hset(self.k_entries, _field(k), _dump(entry))
            gone = [_field(e.key) for e in superseded + evicted]
            if gone:
                pipe.hdel(self.k_entries, *gone)
            return Commit(True, entry, superseded, evicted)
        return self._txn(body)

    def update(self, key: CacheKey, *, last_used: float, expires_at: float | None = None) -> CacheEntry | None:
        def body(pipe: Any) -> CacheEntry | None:
            e = self._get(pipe, key)
            pipe.multi()
            if e is None:
                return None
            e = replace(e, last_used=last_used, expires_at=e.expires_at if expires_at is None else expires_at)
            pipe.hset(self.k_entries, _field(key), _dump(e))
            return e
        return self._txn(body)

    def active_claims(self, lease_now: float) -> dict[CacheKey, str]:
        rows = self._call(self.client.hgetall, self.k_claims)
        out = {}
        for f, v in rows.items():
            o, until = json.loads(v)
            if until > lease_now and owner_alive(o):
                out[_unfield(f)] = o
        return out

    def claims_count(self) -> int:
        """How many lease rows exist (live or not): 0 after every creation finished."""
        return int(self._call(self.client.hlen, self.k_claims))

    def clear(self) -> None:
        """Delete this namespace's entries and leases (tests; a registry being reset)."""
        self._call(self.client.delete, self.k_entries, self.k_claims)

    def close(self) -> None:
        self.client.close()


__all__ = ["NAMESPACE", "RedisBackend"]
