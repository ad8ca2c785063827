"""The cache registry's invariants (promptc/runtime/registry.py): one creator per key across threads
and processes, no duplicate or leaked remote object after a lost race or a killed creator, bounds
with remote eviction, invalidation by content, and the SQLite file staying consistent."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading

import pytest

from promptc.runtime.registry import (CacheEntry, CacheKey, CacheRegistry, MemoryBackend, RegistryError,
                                      SQLiteBackend, default_registry_path, owner_alive)
from promptc.runtime.sim.server import FakeClock
from tests.runtime.fake_cache_provider import KEY, FileProvider, creator_for, dying_worker, worker


def key(n: int, *, slot_hash: str | None = None) -> CacheKey:
    return CacheKey("fake", "acme", "fake-model", slot_hash or f"sha256:{n:064x}")


@pytest.fixture(params=["memory", "sqlite"])
def backend(request, tmp_path):
    return MemoryBackend() if request.param == "memory" else SQLiteBackend(tmp_path / "reg.sqlite3")


def make(backend, tmp_path, **kw):
    clock = FakeClock()
    reg = CacheRegistry(backend, clock=clock, **kw)
    provider = FileProvider(tmp_path / "remote")
    reg.set_deleter("fake", lambda e: provider.delete_remote(e.remote_id))
    return reg, provider, clock


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_registry_path() == tmp_path / "xdg" / "promptc" / "registry.sqlite3"
    b = SQLiteBackend()
    assert b.path.exists() and b.integrity() == "ok"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_registry_path() == tmp_path / "home" / ".cache" / "promptc" / "registry.sqlite3"


def test_sqlite_file_is_wal_and_persists_across_instances(tmp_path):
    path = tmp_path / "r.sqlite3"
    reg, provider, clock = make(SQLiteBackend(path), tmp_path)
    entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY))
    assert created
    again = CacheRegistry(SQLiteBackend(path), clock=clock)
    assert again.lookup(KEY) == reg.lookup(KEY)
    assert again.lookup(KEY).remote_id == entry.remote_id
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unusable_file_is_a_coded_error(tmp_path):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(RegistryError) as err:
        SQLiteBackend(bad)
    assert err.value.code == "E530" and str(bad) in str(err.value) and "hint" in str(err.value)
    with pytest.raises(RegistryError, match="E530"):
        CacheRegistry(on_change="sometimes")


def test_sixteen_threads_one_create(backend, tmp_path):
    reg, provider, _ = make(backend, tmp_path)
    barrier = threading.Barrier(16)
    out, events = [], []

    def one():
        barrier.wait()
        out.append(reg.acquire(KEY, creator_for(reg, provider, KEY, delay_s=0.1), emit=events.append))

    ts = [threading.Thread(target=one) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(provider.log("creates.log")) == 1
    assert sum(created for _, created in out) == 1
    assert len({e.remote_id for e, _ in out}) == 1
    assert len(list(reg.entries())) == 1
    assert [e["event"] for e in events].count("coalesced") == 15


def test_sixteen_threads_in_each_of_two_processes_one_create(tmp_path):
    db, root = str(tmp_path / "reg.sqlite3"), str(tmp_path / "remote")
    SQLiteBackend(db)
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(db, root, 16, go, results)) for _ in range(2)]
    for p in procs:
        p.start()
    go.set()
    got = [results.get(timeout=120) for _ in range(32)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    provider = FileProvider(root)
    assert len(provider.log("creates.log")) == 1
    assert sum(created for _, created in got) == 1
    assert {rid for rid, _ in got} == set(provider.log("creates.log"))
    b = SQLiteBackend(db)
    assert b.integrity() == "ok"
    assert [e.remote_id for e in b.entries()] == provider.log("creates.log")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


@pytest.mark.parametrize("die", ["before", "after"])
def test_killed_creator_leaks_nothing_after_the_next_start(tmp_path, die):
    db, root = str(tmp_path / "reg.sqlite3"), str(tmp_path / "remote")
    SQLiteBackend(db)
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=dying_worker, args=(db, root, die, 3600.0))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == -9  # SIGKILL, holding the lease
    provider = FileProvider(root)
    assert len(provider.log("creates.log")) == (1 if die == "after" else 0)
    assert len(provider.list_remote()) == (1 if die == "after" else 0)

    # the next start: reconcile deletes the orphan; the dead creator's lease (an hour long) is taken over
    reg = CacheRegistry(SQLiteBackend(db), poll_s=0.01, wait_s=30)
    report = reg.reconcile("fake", provider)
    assert report.deleted == provider.log("deletes.log")
    assert len(report.deleted) == (1 if die == "after" else 0)
    assert provider.list_remote() == []
    entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY))
    assert created
    assert [r.id for r in provider.list_remote()] == [entry.remote_id]


def test_reconcile_forgets_gone_entries_and_spares_foreign_and_in_flight_objects(tmp_path):
    reg, provider, _ = make(SQLiteBackend(tmp_path / "r.sqlite3"), tmp_path)
    kept, _ = reg.acquire(key(1), creator_for(reg, provider, key(1)))
    gone, _ = reg.acquire(key(2), creator_for(reg, provider, key(2)))
    provider.delete_remote(gone.remote_id)  # expired or deleted on the provider's side
    foreign = provider.create("sha256:" + "cd" * 32, "someone-else")  # not promptc's: never touched
    # another live registry is between its remote create and its registry write
    other = CacheRegistry(reg.backend, clock=reg.clock)
    assert reg.backend.claim(key(3), other.owner, 1e12, 0.0, reg.clock()).status == "won"
    in_flight = provider.create(key(3).prefix_hash, other.owner)
    orphan = provider.create(key(4).prefix_hash, reg.owner)  # ours, unknown, no lease: a crash leftover
    report = reg.reconcile("fake", provider)
    assert report.deleted == [orphan]
    assert [e.remote_id for e in report.forgotten] == [gone.remote_id]
    assert {r.id for r in provider.list_remote()} == {kept.remote_id, foreign, in_flight}
    assert [e.remote_id for e in reg.entries("fake")] == [kept.remote_id]


def test_lost_race_deletes_the_duplicate(backend, tmp_path):
    """A creator whose lease lapsed (another process finished first) keeps no second remote object."""
    reg, provider, clock = make(backend, tmp_path)
    first = CacheRegistry(backend, clock=clock, lease_clock=lambda: 1e12)  # it sees our lease as expired
    events = []

    def slow_create():
        # while this creator works, another one (its lease expired for it) creates and commits the entry
        first.acquire(KEY, creator_for(first, provider, KEY))
        return creator_for(reg, provider, KEY)()

    entry, created = reg.acquire(KEY, slow_create, emit=events.append)
    assert not created
    creates = provider.log("creates.log")
    assert len(creates) == 2 and provider.log("deletes.log") == [creates[1]]
    assert entry.remote_id == creates[0] and [r.id for r in provider.list_remote()] == [creates[0]]
    assert [e["reason"] for e in events if e["event"] == "delete"] == ["duplicate"]


def test_bounded_evicts_oldest_and_deletes_remotely(backend, tmp_path):
    reg, provider, clock = make(backend, tmp_path, max_entries=3)
    ids = []
    for n in range(5):
        clock.advance(10)
        e, _ = reg.acquire(key(n), creator_for(reg, provider, key(n)))
        ids.append(e.remote_id)
        if n == 2:
            clock.advance(1)
            reg.acquire(key(0), creator_for(reg, provider, key(0)))  # a use: key 0 is now the newest
    left = {e.remote_id for e in reg.entries()}
    assert len(left) == 3
    assert left == {ids[0], ids[3], ids[4]}
    assert provider.log("deletes.log") == [ids[1], ids[2]]
    assert {r.id for r in provider.list_remote()} == left


def test_expired_entries_are_evicted_first_without_a_remote_delete(backend, tmp_path):
    reg, provider, clock = make(backend, tmp_path, max_entries=2)
    reg.acquire(key(0), creator_for(reg, provider, key(0)))
    clock.advance(3000)
    reg.acquire(key(1), creator_for(reg, provider, key(1)))
    clock.advance(700)  # key 0 expired (1h TTL), key 1 alive
    reg.acquire(key(2), creator_for(reg, provider, key(2)))
    assert {e.key for e in reg.entries()} == {key(1), key(2)}
    assert provider.log("deletes.log") == []  # the provider already dropped the expired one


@pytest.mark.parametrize("on_change", ["delete", "expire"])
def test_changed_prefix_gets_a_new_entry_and_the_old_one_goes(backend, tmp_path, on_change):
    reg, provider, clock = make(backend, tmp_path, on_change=on_change)
    old, _ = reg.acquire(key(1), creator_for(reg, provider, key(1)), slot="backend")
    other, _ = reg.acquire(key(9), creator_for(reg, provider, key(9)), slot="frontend")
    new, created = reg.acquire(key(2), creator_for(reg, provider, key(2)), slot="backend")
    assert created and new.remote_id != old.remote_id
    if on_change == "delete":
        assert provider.log("deletes.log") == [old.remote_id]
        assert reg.lookup(key(1)) is None
    else:
        assert provider.log("deletes.log") == []
        assert reg.lookup(key(1)).remote_id == old.remote_id  # left to expire
    assert reg.lookup(key(9)).remote_id == other.remote_id


def test_failed_create_releases_the_lease(backend, tmp_path):
    reg, provider, _ = make(backend, tmp_path)

    def boom():
        raise RuntimeError("provider said no")

    with pytest.raises(RuntimeError):
        reg.acquire(KEY, boom)
    entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY))
    assert created and reg.lookup(KEY) == entry


def test_waiting_on_a_live_foreign_lease_is_bounded(tmp_path):
    waits = []
    reg = CacheRegistry(SQLiteBackend(tmp_path / "r.sqlite3"), poll_s=1.0, wait_s=0.0, sleep=waits.append)
    reg.backend.claim(KEY, "promptc:other-host:1:x", 1e12, 0.0, 0.0)
    with pytest.raises(RegistryError) as err:
        reg.acquire(KEY, lambda: pytest.fail("must not create under another's lease"))
    assert err.value.code == "E531"


def test_owner_alive_detects_a_dead_local_process():
    import os
    import socket

    assert owner_alive(f"promptc:{socket.gethostname()}:{os.getpid()}:x")
    assert owner_alive("promptc:some-other-host:1:x")  # unknown elsewhere: the lease decides
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=int)
    p.start()
    p.join()
    assert not owner_alive(f"promptc:{socket.gethostname()}:{p.pid}:x")


def test_entry_round_trips_through_sqlite(tmp_path):
    b = SQLiteBackend(tmp_path / "r.sqlite3")
    e = CacheEntry(KEY, "cachedContents/x", 10.5, 1234, 1.0, 2.0, "pending", "backend", "promptc:h:1:x")
    b.put(e)
    assert b.get(KEY) == e and b.entries() == [e]
    assert b.delete(KEY) == e and b.get(KEY) is None


def test_reconcile_once_runs_once_per_provider(tmp_path):
    reg, provider, _ = make(MemoryBackend(), tmp_path)
    provider.create(key(5).prefix_hash, reg.owner)  # a leftover
    first = reg.reconcile_once("fake", provider)
    assert first is not None and len(first.deleted) == 1
    provider.create(key(6).prefix_hash, reg.owner)
    assert reg.reconcile_once("fake", provider) is None  # already done: a live object is left alone
    assert len(provider.list_remote()) == 1
    assert reg.reconcile_once("other", object()) is None  # a manager that cannot list
