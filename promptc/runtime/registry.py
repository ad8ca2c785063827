"""The cache registry: which remote cache objects exist, shared by every adapter of a process — and,
with :class:`SQLiteBackend`, by every process on the machine.

Key = (provider, account/tenant, model, prefix hash); value = the remote id, its expiry, token count,
created/last-used times. Invalidation is by content: a prefix whose hash changed is a different key;
an entry created for the same *slot* (e.g. the plan name) under an older hash is *superseded* and,
with ``on_change="delete"`` (the default), deleted remotely (``"expire"`` leaves it to expire).

Invariants (each one is tested in ``tests/runtime/test_registry.py``):

1. **One creator.** :meth:`CacheRegistry.acquire` is the one way to get a cache object. Concurrent
   callers asking for the same missing key — threads of a process, or processes sharing one
   SQLite file — wait for a single creator (in-flight coalescing) instead of creating their own.
   Across processes the creator holds a *lease* (a claim row with owner and expiry, taken inside a
   transaction); a crashed creator's lease expires, or is taken over at once when its process is
   gone (same machine).
2. **No duplicate, no leak.** A creator whose lease was lost and who finds another creator's entry
   when it commits deletes its own remote object (through the provider's *deleter*) and uses the
   stored one. A process killed between the remote create and the registry write leaves an object
   that :meth:`CacheRegistry.reconcile` finds by its promptc metadata and deletes on the next start.
3. **Bounded.** At most ``max_entries`` (default 1000): each commit evicts the oldest entries
   (expired first, then least recently used) and deletes their remote objects.

The storage is a :class:`RegistryBackend`: :class:`MemoryBackend` (one process, the default) or
:class:`SQLiteBackend` (a file under the user cache dir; WAL, ``BEGIN IMMEDIATE`` transactions and
a busy timeout). A fleet shares one registry through Redis/Valkey:
:class:`promptc.runtime.registry_redis.RedisBackend`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from promptc.core.errors import PromptcError

#: Default bound on the number of entries a registry keeps.
MAX_ENTRIES = 1000
#: Seconds a creation lease lasts before another process may take the creation over.
LEASE_S = 120.0
#: Prefix of the ``creator`` metadata promptc puts on every remote object it creates.
CREATOR_PREFIX = "promptc:"


class RegistryError(PromptcError):
    """The registry file cannot be opened or used, or a creation never finished (E530, E531)."""

    code = "E530"

    def __init__(self, message: str, code: str = "E530"):
        self.code = code
        super().__init__(message)


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
    seconds), how many tokens it holds, and when it was created and last used. ``slot`` names what
    the prefix is for (e.g. a plan) so a newer prefix hash supersedes it; ``creator`` is the
    registry owner that created it (also written on the remote object as metadata)."""

    key: CacheKey
    remote_id: str
    expires_at: float
    tokens: int
    created_at: float
    last_used: float
    status: str = "ready"
    slot: str | None = None
    creator: str = ""

    def alive(self, now: float) -> bool:
        return self.expires_at > now


@dataclass(frozen=True)
class RemoteObject:
    """One object a provider lists (``list_remote()``): its id and the promptc metadata written at
    creation (``prefix_hash``, ``creator`` = the creating registry's :attr:`CacheRegistry.owner`)."""

    id: str
    prefix_hash: str | None = None
    creator: str | None = None
    model: str | None = None
    account: str | None = None

    @classmethod
    def of(cls, obj: Any) -> "RemoteObject":
        """Normalize what a manager's ``list_remote()`` returns (a RemoteObject, a dict or an object
        with ``id``/``remote_id``, ``prefix_hash``, ``creator`` attributes)."""
        if isinstance(obj, RemoteObject):
            return obj
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        rid = get("id") or get("remote_id") or get("name")
        meta = get("metadata") or {}
        pick = (lambda k: get(k) or (meta.get(k) if isinstance(meta, dict) else None))
        return cls(str(rid), pick("prefix_hash"), pick("creator"), pick("model"), pick("account"))


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`RegistryBackend.claim`: ``"won"`` (create it), ``"ready"`` (``entry``
    is live) or ``"busy"`` (another owner holds a live lease)."""

    status: str
    entry: CacheEntry | None = None


@dataclass(frozen=True)
class Commit:
    """The outcome of :meth:`RegistryBackend.commit`: ``stored`` is False when another creator's live
    entry was already there (``entry`` is that one); ``superseded`` and ``evicted`` are entries the
    commit removed and whose remote objects the registry must delete."""

    stored: bool
    entry: CacheEntry
    superseded: list[CacheEntry] = field(default_factory=list)
    evicted: list[CacheEntry] = field(default_factory=list)


@dataclass(frozen=True)
class ReconcileReport:
    """What :meth:`CacheRegistry.reconcile` did: remote ids deleted (promptc-created, unknown to the
    registry) and entries forgotten (their remote object is gone)."""

    deleted: list[str] = field(default_factory=list)
    forgotten: list[CacheEntry] = field(default_factory=list)


def owner_token() -> str:
    """A unique owner id for one registry: ``promptc:<host>:<pid>:<random>``."""
    return f"{CREATOR_PREFIX}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` names a process on this machine that no longer exists (a crashed
    creator); owners elsewhere are assumed alive until their lease expires."""
    parts = owner[len(CREATOR_PREFIX):].split(":") if owner.startswith(CREATOR_PREFIX) else []
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class RegistryBackend(ABC):
    """Where entries and creation leases live. Every method must be atomic; ``claim`` and ``commit``
    are the two transactions that make creation single-writer (the defaults here hold a lock of the
    instance, which is enough inside one process; shared stores override them)."""

    @abstractmethod
    def get(self, key: CacheKey) -> CacheEntry | None: ...

    @abstractmethod
    def put(self, entry: CacheEntry) -> None: ...

    @abstractmethod
    def delete(self, key: CacheKey) -> CacheEntry | None: ...

    @abstractmethod
    def entries(self) -> list[CacheEntry]: ...

    # -- creation leases (override for a store shared between processes) -------------------------
    def _txn(self) -> threading.RLock:
        lock = self.__dict__.get("_txn_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_txn_lock", threading.RLock())
        return lock

    def _claims(self) -> dict[CacheKey, tuple[str, float]]:
        return self.__dict__.setdefault("_claim_rows", {})

    def claim(self, key: CacheKey, owner: str, until: float, lease_now: float, entry_now: float) -> Claim:
        """In one transaction: a live entry → ``ready``; another live owner's lease → ``busy``;
        otherwise record ``owner``'s lease until ``until`` → ``won``."""
        with self._txn():
            e = self.get(key)
            if e is not None and e.alive(entry_now):
                return Claim("ready", e)
            held = self._claims().get(key)
            if held is not None and held[0] != owner and held[1] > lease_now and owner_alive(held[0]):
                return Claim("busy")
            self._claims()[key] = (owner, until)
            return Claim("won")

    def release(self, key: CacheKey, owner: str) -> None:
        """Drop ``owner``'s lease on ``key`` (a failed creation)."""
        with self._txn():
            if self._claims().get(key, ("",))[0] == owner:
                del self._claims()[key]

    def commit(self, entry: CacheEntry, owner: str, now: float, *, max_entries: int,
               drop_superseded: bool) -> Commit:
        """In one transaction: store ``entry`` unless another live entry holds its key (first
        committer wins), release ``owner``'s lease, remove superseded entries of the same slot (when
        ``drop_superseded``) and evict down to ``max_entries``."""
        with self._txn():
            self.release(entry.key, owner)
            old = self.get(entry.key)
            if old is not None and old.alive(now) and old.remote_id != entry.remote_id:
                return Commit(False, old)
            self.put(entry)
            superseded = []
            if drop_superseded and entry.slot is not None:
                k = entry.key
                for e in self.entries():
                    if (e.slot == entry.slot and e.key.prefix_hash != k.prefix_hash and
                            (e.key.provider, e.key.account, e.key.model) == (k.provider, k.account, k.model)):
                        self.delete(e.key)
                        superseded.append(e)
            evicted = []
            rest = self.entries()
            if len(rest) > max_entries:
                victims = sorted((e for e in rest if e.key != entry.key), key=lambda e: _eviction_order(e, now))
                for e in victims[: len(rest) - max_entries]:
                    self.delete(e.key)
                    evicted.append(e)
            return Commit(True, entry, superseded, evicted)

    def update(self, key: CacheKey, *, last_used: float, expires_at: float | None = None) -> CacheEntry | None:
        """Record a use (and a new expiry); returns the updated entry (None when gone)."""
        with self._txn():
            e = self.get(key)
            if e is None:
                return None
            e = replace(e, last_used=last_used, expires_at=e.expires_at if expires_at is None else expires_at)
            self.put(e)
            return e

    def active_claims(self, lease_now: float) -> dict[CacheKey, str]:
        """Keys whose creation lease is live, with its owner."""
        with self._txn():
            return {k: o for k, (o, until) in self._claims().items() if until > lease_now and owner_alive(o)}


def _eviction_order(e: CacheEntry, now: float) -> tuple:
    return (e.alive(now), e.last_used, e.created_at, e.key.prefix_hash)


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


def default_registry_path() -> Path:
    """``$XDG_CACHE_HOME/promptc/registry.sqlite3`` (``~/.cache/promptc/registry.sqlite3`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "promptc" / "registry.sqlite3"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    provider TEXT NOT NULL, account TEXT NOT NULL, model TEXT NOT NULL, prefix_hash TEXT NOT NULL,
    remote_id TEXT NOT NULL, expires_at REAL NOT NULL, tokens INTEGER NOT NULL, created_at REAL NOT NULL,
    last_used REAL NOT NULL, status TEXT NOT NULL, slot TEXT, creator TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, account, model, prefix_hash));
CREATE TABLE IF NOT EXISTS claims (
    provider TEXT NOT NULL, account TEXT NOT NULL, model TEXT NOT NULL, prefix_hash TEXT NOT NULL,
    owner TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (provider, account, model, prefix_hash));
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
SCHEMA_VERSION = "1"
#: SQLite's ``application_id`` header field of a promptc registry ("prmc"): a database of another
#: program is refused (E530), never adopted (its tables would make every query fail).
APPLICATION_ID = 0x70726D63
_COLS = "provider, account, model, prefix_hash, remote_id, expires_at, tokens, created_at, last_used, status, slot, creator"
_KEY = "provider = ? AND account = ? AND model = ? AND prefix_hash = ?"


def _row(r: tuple) -> CacheEntry:
    return CacheEntry(CacheKey(r[0], r[1], r[2], r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11])


def _vals(e: CacheEntry) -> tuple:
    k = e.key
    return (k.provider, k.account, k.model, k.prefix_hash, e.remote_id, e.expires_at, e.tokens, e.created_at,
            e.last_used, e.status, e.slot, e.creator)


def _k(key: CacheKey) -> tuple:
    return (key.provider, key.account, key.model, key.prefix_hash)


class SQLiteBackend(RegistryBackend):
    """Entries and leases in an SQLite file shared by the processes of one machine.

    The file defaults to :func:`default_registry_path`. WAL journaling lets readers run beside the
    one writer; ``claim`` and ``commit`` are ``BEGIN IMMEDIATE`` transactions (the write lock is
    taken first, so two processes cannot both see "no entry, no lease"); ``busy_timeout_s`` is how
    long a transaction waits for another process's. One connection per thread and per process (a
    forked child opens its own).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else default_registry_path()
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:  # the file holds account names and remote cache ids: readable by its owner only
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            self._conn()  # creates the schema
        except (OSError, sqlite3.Error) as exc:
            raise RegistryError(f"error[E530]: cannot open the cache registry {self.path}: {exc}\n"
                                "   = hint: check the path and its permissions, or pass another file "
                                "(SQLiteBackend(path=...)); a corrupt file can be deleted (the next start "
                                "reconciles with the provider)") from None

    # -- connections and transactions ----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            # checked before anything writes (even switching to WAL rewrites the file's header)
            if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID and not self._adoptable(conn):
                conn.close()
                raise RegistryError(f"error[E530]: {self.path} is not a promptc cache registry (another "
                                    "program's database)\n   = hint: pass another file "
                                    "(SQLiteBackend(path=...)); promptc never writes into it")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(stmt)
                row = conn.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta (k, v) VALUES ('schema', ?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    conn.execute("ROLLBACK")
                    raise RegistryError(f"error[E530]: the cache registry {self.path} has schema {row[0]}, "
                                        f"this promptc reads {SCHEMA_VERSION}\n   = hint: use another file or "
                                        "upgrade promptc")
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @staticmethod
    def _adoptable(conn: sqlite3.Connection) -> bool:
        """True for an empty database, or a registry written before ``application_id`` was set
        (exactly promptc's tables and columns)."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return True
        if tables != {"entries", "claims", "meta"}:
            return False
        cols = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
        return cols == [c.strip() for c in _COLS.split(",")]

    class _Txn:
        def __init__(self, conn: sqlite3.Connection, write: bool):
            self.conn, self.write = conn, write

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
            return self.conn

        def __exit__(self, exc_type, *exc) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self) -> "SQLiteBackend._Txn":
        return SQLiteBackend._Txn(self._conn(), True)

    def _read(self) -> "SQLiteBackend._Txn":
        return SQLiteBackend._Txn(self._conn(), False)

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- RegistryBackend -----------------------------------------------------------------------------
    def get(self, key: CacheKey) -> CacheEntry | None:
        with self._read() as db:
            r = db.execute(f"SELECT {_COLS} FROM entries WHERE {_KEY}", _k(key)).fetchone()
        return _row(r) if r else None

    def put(self, entry: CacheEntry) -> None:
        with self._write() as db:
            db.execute(f"INSERT OR REPLACE INTO entries ({_COLS}) VALUES ({','.join('?' * 12)})", _vals(entry))

    def delete(self, key: CacheKey) -> CacheEntry | None:
        with self._write() as db:
            r = db.execute(f"SELECT {_COLS} FROM entries WHERE {_KEY}", _k(key)).fetchone()
            db.execute(f"DELETE FROM entries WHERE {_KEY}", _k(key))
        return _row(r) if r else None

    def entries(self) -> list[CacheEntry]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLS} FROM entries ORDER BY created_at, prefix_hash").fetchall()
        return [_row(r) for r in rows]

    def claim(self, key: CacheKey, owner: str, until: float, lease_now: float, entry_now: float) -> Claim:
        with self._write() as db:
            r = db.execute(f"SELECT {_COLS} FROM entries WHERE {_KEY}", _k(key)).fetchone()
            if r is not None and r[5] > entry_now:
                return Claim("ready", _row(r))
            held = db.execute(f"SELECT owner, expires_at FROM claims WHERE {_KEY}", _k(key)).fetchone()
            if held is not None and held[0] != owner and held[1] > lease_now and owner_alive(held[0]):
                return Claim("busy")
            db.execute("INSERT OR REPLACE INTO claims (provider, account, model, prefix_hash, owner, expires_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (*_k(key), owner, until))
            return Claim("won")

    def release(self, key: CacheKey, owner: str) -> None:
        with self._write() as db:
            db.execute(f"DELETE FROM claims WHERE {_KEY} AND owner = ?", (*_k(key), owner))

    def commit(self, entry: CacheEntry, owner: str, now: float, *, max_entries: int,
               drop_superseded: bool) -> Commit:
        k = entry.key
        with self._write() as db:
            db.execute(f"DELETE FROM claims WHERE {_KEY} AND owner = ?", (*_k(k), owner))
            r = db.execute(f"SELECT {_COLS} FROM entries WHERE {_KEY}", _k(k)).fetchone()
            if r is not None and r[5] > now and r[4] != entry.remote_id:
                return Commit(False, _row(r))
            db.execute(f"INSERT OR REPLACE INTO entries ({_COLS}) VALUES ({','.join('?' * 12)})", _vals(entry))
            superseded: list[CacheEntry] = []
            if drop_superseded and entry.slot is not None:
                rows = db.execute(f"SELECT {_COLS} FROM entries WHERE provider = ? AND account = ? AND model = ? "
                                  "AND slot = ? AND prefix_hash != ?", (*_k(k)[:3], entry.slot, k.prefix_hash))
                superseded = [_row(x) for x in rows.fetchall()]
                for e in superseded:
                    db.execute(f"DELETE FROM entries WHERE {_KEY}", _k(e.key))
            evicted: list[CacheEntry] = []
            (count,) = db.execute("SELECT COUNT(*) FROM entries").fetchone()
            if count > max_entries:
                rows = db.execute(
                    f"SELECT {_COLS} FROM entries WHERE NOT ({_KEY}) ORDER BY (expires_at > ?), last_used, "
                    "created_at, prefix_hash LIMIT ?", (*_k(k), now, count - max_entries)).fetchall()
                evicted = [_row(x) for x in rows]
                for e in evicted:
                    db.execute(f"DELETE FROM entries WHERE {_KEY}", _k(e.key))
            return Commit(True, entry, superseded, evicted)

    def update(self, key: CacheKey, *, last_used: float, expires_at: float | None = None) -> CacheEntry | None:
        with self._write() as db:
            if expires_at is None:
                db.execute(f"UPDATE entries SET last_used = ? WHERE {_KEY}", (last_used, *_k(key)))
            else:
                db.execute(f"UPDATE entries SET last_used = ?, expires_at = ? WHERE {_KEY}",
                           (last_used, expires_at, *_k(key)))
            r = db.execute(f"SELECT {_COLS} FROM entries WHERE {_KEY}", _k(key)).fetchone()
        return _row(r) if r else None

    def active_claims(self, lease_now: float) -> dict[CacheKey, str]:
        with self._read() as db:
            rows = db.execute("SELECT provider, account, model, prefix_hash, owner FROM claims WHERE expires_at > ?",
                              (lease_now,)).fetchall()
        return {CacheKey(*r[:4]): r[4] for r in rows if owner_alive(r[4])}

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a consistent file)."""
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]


Deleter = Callable[[CacheEntry], None]


class CacheRegistry:
    """Live cache objects by key, with in-flight coalescing of creations (threads and processes),
    bounds, content invalidation and reconciliation with the provider.

    ``deleters`` maps a provider to a function deleting an entry's remote object (managers register
    theirs with :meth:`set_deleter`); ``emit`` receives registry events (``coalesced``, ``delete``,
    ``forget``) for the cache trace. ``clock`` dates entries (expiry, last use); ``lease_clock`` (real
    time) dates creation leases, which other processes must be able to read.
    """

    def __init__(self, backend: RegistryBackend | None = None, *, clock: Callable[[], float] = time.time,
                 max_entries: int = MAX_ENTRIES, on_change: str = "delete", lease_s: float = LEASE_S,
                 poll_s: float = 0.05, wait_s: float | None = None, deleters: dict[str, Deleter] | None = None,
                 emit: Callable[[dict[str, Any]], None] | None = None, owner: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, lease_clock: Callable[[], float] = time.time):
        if on_change not in ("delete", "expire"):
            raise RegistryError(f"error[E530]: on_change={on_change!r}: use 'delete' (delete a superseded cache "
                                "object) or 'expire' (leave it to expire)")
        if max_entries < 1:
            raise RegistryError(f"error[E530]: max_entries={max_entries}: the registry needs room for one entry")
        self.backend = backend or MemoryBackend()
        self.clock = clock
        self.max_entries = max_entries
        self.on_change = on_change
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.wait_s = 2 * lease_s if wait_s is None else wait_s
        self.owner = owner or owner_token()
        self.deleters: dict[str, Deleter] = dict(deleters or {})
        self.emit = emit or (lambda event: None)
        self._sleep = sleep
        self._lease_clock = lease_clock
        self._lock = threading.Lock()
        self._inflight: dict[CacheKey, threading.Event] = {}
        self._reconciled: set[tuple[str, str | None]] = set()

    def set_deleter(self, provider: str, deleter: Deleter) -> None:
        """Register how to delete ``provider``'s remote objects (evictions, superseded entries, lost races)."""
        self.deleters[provider] = deleter

    def lookup(self, key: CacheKey) -> CacheEntry | None:
        """The live entry for ``key`` (None when missing or expired)."""
        e = self.backend.get(key)
        return e if e is not None and e.alive(self.clock()) else None

    def acquire(self, key: CacheKey, create: Callable[[], CacheEntry], *, slot: str | None = None,
                emit: Callable[[dict[str, Any]], None] | None = None) -> tuple[CacheEntry, bool]:
        """(entry, created): the live entry, or the one ``create()`` makes; concurrent callers for
        the same key — in this process or another sharing the backend — wait for a single creator.
        ``create`` raising propagates to its caller only (waiters then try themselves). ``create``
        should write :attr:`owner` and the prefix hash on the remote object as metadata (for
        :meth:`reconcile`). ``slot`` (e.g. the plan name) makes an older prefix of the same slot
        superseded."""
        emit = emit or self.emit
        waited = False
        started = time.monotonic()
        while True:
            e = self.lookup(key)
            if e is not None:
                self.touch(key)
                if waited:
                    emit(_event("coalesced", e, waited_s=round(time.monotonic() - started, 6)))
                return e, False
            with self._lock:
                waiter = self._inflight.get(key)
                if waiter is None:
                    mine = threading.Event()
                    self._inflight[key] = mine
            if waiter is not None:
                waited = True
                waiter.wait()
                continue
            try:
                done = self._create(key, create, slot, emit)
                if done is not None:
                    entry, created = done
                    if waited and not created:
                        emit(_event("coalesced", entry, waited_s=round(time.monotonic() - started, 6)))
                    return entry, created
                waited = True  # another process creates it: poll until its entry (or its lease's end)
                if time.monotonic() - started > self.wait_s:
                    raise RegistryError(
                        f"error[E531]: gave up waiting {self.wait_s:g}s for another process to create the cache "
                        f"object for {key.provider}/{key.model} prefix {key.prefix_hash[:19]}\n   = hint: the "
                        "creating process holds a lease that did not expire; check it, or raise lease_s/wait_s",
                        "E531")
                self._sleep(self.poll_s)
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                mine.set()

    def _create(self, key: CacheKey, create: Callable[[], CacheEntry], slot: str | None,
                emit: Callable[[dict[str, Any]], None]) -> tuple[CacheEntry, bool] | None:
        lease_now = self._lease_clock()
        got = self.backend.claim(key, self.owner, lease_now + self.lease_s, lease_now, self.clock())
        if got.status == "ready":
            assert got.entry is not None
            self.touch(key)
            return got.entry, False
        if got.status == "busy":
            return None
        try:
            entry = create()
        except BaseException:
            self.backend.release(key, self.owner)
            raise
        entry = replace(entry, key=key, slot=slot if slot is not None else entry.slot,
                        creator=entry.creator or self.owner)
        done = self.backend.commit(entry, self.owner, self.clock(), max_entries=self.max_entries,
                                   drop_superseded=self.on_change == "delete")
        if not done.stored:  # our lease lapsed and another creator committed first: ours is a duplicate
            self._delete_remote(entry, "duplicate", emit)
            self.touch(key)
            return done.entry, False
        for old in done.superseded:
            self._delete_remote(old, "superseded", emit)
        for old in done.evicted:
            self._delete_remote(old, "evicted", emit)
        return entry, True

    def _delete_remote(self, entry: CacheEntry, reason: str, emit: Callable[[dict[str, Any]], None]) -> None:
        deleter = self.deleters.get(entry.key.provider)
        if deleter is None or not entry.alive(self.clock()):
            emit(_event("forget", entry, reason=reason))  # nothing to delete (expired, or no deleter)
            return
        deleter(entry)
        emit(_event("delete", entry, reason=reason))

    def touch(self, key: CacheKey, expires_at: float | None = None) -> None:
        """Record a use (and a new expiry, after a refresh)."""
        self.backend.update(key, last_used=self.clock(), expires_at=expires_at)

    def invalidate(self, key: CacheKey) -> CacheEntry | None:
        """Forget ``key`` (its remote object expired or was deleted); returns the old entry."""
        return self.backend.delete(key)

    def delete(self, key: CacheKey, *, reason: str = "requested") -> CacheEntry | None:
        """Forget ``key`` and delete its remote object through the provider's deleter."""
        e = self.backend.delete(key)
        if e is not None:
            self._delete_remote(e, reason, self.emit)
        return e

    def entries(self, provider: str | None = None) -> Iterable[CacheEntry]:
        return [e for e in self.backend.entries() if provider is None or e.key.provider == provider]

    def purge_expired(self) -> list[CacheEntry]:
        """Forget entries whose remote object has expired (the provider already dropped it)."""
        now = self.clock()
        gone = [e for e in self.backend.entries() if not e.alive(now)]
        for e in gone:
            self.backend.delete(e.key)
        return gone

    def reconcile_once(self, provider: str, manager: Any, *, account: str | None = None) -> ReconcileReport | None:
        """:meth:`reconcile` the first time this registry sees ``provider`` (and ``account``): what a
        manager calls when it starts; None when it already ran or the manager cannot list its objects."""
        with self._lock:
            if (provider, account) in self._reconciled or not hasattr(manager, "list_remote"):
                return None
            self._reconciled.add((provider, account))
        return self.reconcile(provider, manager, account=account)

    def reconcile(self, provider: str, manager: Any, *, account: str | None = None) -> ReconcileReport:
        """Make the registry and ``provider``'s remote objects agree (run it at start-up).

        ``manager`` exposes ``list_remote()`` (objects with promptc metadata, see :class:`RemoteObject`)
        and ``delete_remote(id)``. Deleted: remote objects promptc created (``creator`` starts with
        ``promptc:``) that no entry names and no live creation lease covers (e.g. a process killed
        between the remote create and the registry write). Forgotten: entries of ``provider`` (and
        ``account``) whose remote object is no longer listed. Objects promptc did not create are
        never touched.
        """
        remote = [RemoteObject.of(o) for o in manager.list_remote()]
        listed = {r.id for r in remote}
        mine = [e for e in self.backend.entries()
                if e.key.provider == provider and (account is None or e.key.account == account)]
        known = {e.remote_id for e in self.backend.entries() if e.key.provider == provider}
        leased = {(k.prefix_hash, o) for k, o in self.backend.active_claims(self._lease_clock()).items()
                  if k.provider == provider}
        leased_hashes = {h for h, _ in leased}
        report = ReconcileReport()
        for r in remote:
            if not (r.creator or "").startswith(CREATOR_PREFIX) or r.id in known:
                continue
            if account is not None and r.account not in (None, account):
                continue
            if r.prefix_hash in leased_hashes and owner_alive(r.creator or ""):
                continue  # a live creator is between its remote create and its registry write
            manager.delete_remote(r.id)
            report.deleted.append(r.id)
            self.emit({"event": "delete", "provider": provider, "remote_id": r.id, "prefix_hash": r.prefix_hash,
                       "reason": "orphan"})
        for e in mine:
            if e.remote_id not in listed:
                self.backend.delete(e.key)
                report.forgotten.append(e)
                self.emit(_event("forget", e, reason="gone"))
        if provider not in self.deleters and hasattr(manager, "delete_remote"):
            self.set_deleter(provider, lambda entry: manager.delete_remote(entry.remote_id))
        return report


def _event(kind: str, e: CacheEntry, **extra: Any) -> dict[str, Any]:
    return {"event": kind, "provider": e.key.provider, "model": e.key.model, "remote_id": e.remote_id,
            "prefix_hash": e.key.prefix_hash, "tokens": e.tokens, **extra}


__all__ = ["CREATOR_PREFIX", "CacheEntry", "CacheKey", "CacheRegistry", "Claim", "Commit", "MemoryBackend",
           "ReconcileReport", "RegistryBackend", "RegistryError", "RemoteObject", "SQLiteBackend",
           "default_registry_path", "owner_alive", "owner_token"]
