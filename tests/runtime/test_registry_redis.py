"""The cache registry on a real ``redis-server`` (promptc/runtime/registry_redis.py): the SAME
behavioural tests as the SQLite backend (imported from test_registry.py and run here with a Redis
``backend`` fixture — the oracle that the semantics match), plus the cross-process cases (coalescing
across processes, a killed creator, dead-lease takeover) and a Redis restart mid-run. One server per
module; each test gets its own key namespace."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid

import pytest

from promptc.runtime.registry import CacheEntry, CacheRegistry, RegistryError
from promptc.runtime.registry_redis import RedisBackend
from tests.runtime.fake_cache_provider import KEY, FileProvider, creator_for
from tests.runtime.redis_server import RedisServer, redis_dying_worker, redis_worker
# the SQLite backend's behavioural tests, collected again here with the Redis `backend` fixture below
from tests.runtime.test_registry import (key, make, test_bounded_evicts_oldest_and_deletes_remotely,  # noqa: F401
                                         test_changed_prefix_gets_a_new_entry_and_the_old_one_goes,
                                         test_expired_entries_are_evicted_first_without_a_remote_delete,
                                         test_failed_create_releases_the_lease, test_lost_race_deletes_the_duplicate,
                                         test_sixteen_threads_one_create)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield srv
    srv.stop()


@pytest.fixture
def namespace():
    return f"test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backend(server, namespace):
    b = RedisBackend(server.url, namespace=namespace)
    yield b
    b.clear()
    b.close()


def test_entry_round_trips_through_redis(backend):
    e = CacheEntry(KEY, "cachedContents/x", 10.5, 1234, 1.0, 2.0, "pending", "backend", "promptc:h:1:x")
    backend.put(e)
    assert backend.get(KEY) == e and backend.entries() == [e]
    raw = backend.client.hgetall(backend.k_entries)  # what the server holds, read without promptc's decoder
    assert list(raw) == ['["fake","acme","fake-model","sha256:' + "ab" * 32 + '"]']
    assert backend.delete(KEY) == e and backend.get(KEY) is None


def test_namespaces_are_separate_registries(server, backend):
    other = RedisBackend(server.url, namespace=backend.namespace + "-other")
    backend.put(CacheEntry(KEY, "c/1", 10.0, 1, 1.0, 1.0))
    assert other.get(KEY) is None and other.entries() == []


def test_sixteen_threads_in_each_of_two_processes_one_create(server, namespace, tmp_path):
    root = str(tmp_path / "remote")
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=redis_worker, args=(server.url, namespace, root, 16, go, results)) for _ in range(2)]
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
    b = RedisBackend(server.url, namespace=namespace)
    assert [e.remote_id for e in b.entries()] == provider.log("creates.log")
    assert b.claims_count() == 0  # every lease released


@pytest.mark.parametrize("die", ["before", "after"])
def test_killed_creator_leaks_nothing_after_the_next_start(server, namespace, tmp_path, die):
    root = str(tmp_path / "remote")
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=redis_dying_worker, args=(server.url, namespace, root, die, 3600.0))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == -9  # SIGKILL, holding the lease (an hour long) in Redis
    provider = FileProvider(root)
    assert len(provider.list_remote()) == (1 if die == "after" else 0)
    reg = CacheRegistry(RedisBackend(server.url, namespace=namespace), poll_s=0.01, wait_s=30)
    assert reg.backend.claims_count() == 1
    report = reg.reconcile("fake", provider)
    assert report.deleted == provider.log("deletes.log")
    assert len(report.deleted) == (1 if die == "after" else 0)
    entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY))  # the dead lease is taken over at once
    assert created
    assert [r.id for r in provider.list_remote()] == [entry.remote_id]
    assert reg.backend.claims_count() == 0


def test_reconcile_forgets_gone_entries_and_spares_foreign_and_in_flight_objects(backend, tmp_path):
    reg, provider, _ = make(backend, tmp_path)
    kept, _ = reg.acquire(key(1), creator_for(reg, provider, key(1)))
    gone, _ = reg.acquire(key(2), creator_for(reg, provider, key(2)))
    provider.delete_remote(gone.remote_id)
    foreign = provider.create("sha256:" + "cd" * 32, "someone-else")
    other = CacheRegistry(reg.backend, clock=reg.clock)
    assert reg.backend.claim(key(3), other.owner, 1e12, 0.0, reg.clock()).status == "won"
    in_flight = provider.create(key(3).prefix_hash, other.owner)
    orphan = provider.create(key(4).prefix_hash, reg.owner)
    report = reg.reconcile("fake", provider)
    assert report.deleted == [orphan]
    assert [e.remote_id for e in report.forgotten] == [gone.remote_id]
    assert {r.id for r in provider.list_remote()} == {kept.remote_id, foreign, in_flight}
    assert [e.remote_id for e in reg.entries("fake")] == [kept.remote_id]


def test_waiting_on_a_live_foreign_lease_is_bounded(backend):
    waits = []
    reg = CacheRegistry(backend, poll_s=1.0, wait_s=0.0, sleep=waits.append)
    backend.claim(KEY, "promptc:other-host:1:x", 1e12, 0.0, 0.0)
    with pytest.raises(RegistryError) as err:
        reg.acquire(KEY, lambda: pytest.fail("must not create under another's lease"))
    assert err.value.code == "E531"


def test_redis_restart_mid_run_keeps_entries_and_creates_each_key_once(server, backend, tmp_path):
    """Two threads acquire 40 keys while the server stops and restarts (SIGTERM, AOF reload) under a
    held lease: every call returns (the client retries), each key is created remotely once, and the
    entries survive."""
    reg, provider, _ = make(backend, tmp_path)
    keys = [key(n) for n in range(40)]
    started, restarted, errors, got = threading.Event(), threading.Event(), [], []

    def create_for(i, k):
        inner = creator_for(reg, provider, k, delay_s=0.005)

        def create():
            if i == 10:  # hold this key's lease across the restart, then commit to the new server
                started.set()
                restarted.wait(60)
            return inner()
        return create

    def run():
        try:
            for i, k in enumerate(keys):
                got.append(reg.acquire(k, create_for(i, k))[0].remote_id)
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            errors.append(exc)
            started.set()

    ts = [threading.Thread(target=run) for _ in range(2)]
    for t in ts:
        t.start()
    assert started.wait(60)
    pid = server.proc.pid
    server.stop()
    restarted.set()  # the held creator commits while the server is down: the client retries with backoff
    time.sleep(0.3)
    assert len(got) < 80
    server.start()
    assert server.proc.pid != pid
    for t in ts:
        t.join(120)
    assert errors == []
    creates = provider.log("creates.log")
    assert len(creates) == len(set(creates)) == 40  # one remote object per key, no duplicate
    assert sorted(set(got)) == sorted(creates)
    after = RedisBackend(server.url, namespace=backend.namespace)  # a fresh client reads what persisted
    assert sorted(e.remote_id for e in after.entries()) == sorted(creates)
    assert after.claims_count() == 0


def test_unreachable_server_is_a_coded_error(server):
    from tests.runtime.redis_server import free_port

    with pytest.raises(RegistryError) as err:
        RedisBackend(f"redis://127.0.0.1:{free_port()}/0", retries=1, backoff_cap_s=0.01)
    assert err.value.code == "E530" and "hint" in str(err.value)
    with pytest.raises(RegistryError, match="E530"):
        RedisBackend("not-a-url")


def test_docs_redis_example_runs(server, monkeypatch):
    """docs/providers.md's ```py block (the RedisBackend example) runs against the test server."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text(encoding="utf-8")
    code = re.findall(r"```py\n(.*?)```", doc, flags=re.S)
    assert len(code) == 1 and "RedisBackend" in code[0]
    monkeypatch.setenv("REDIS_URL", server.url)
    ns: dict = {}
    exec(compile(code[0], "docs/providers.md[py redis]", "exec"), ns)  # noqa: S102
    reg = ns["shared"]
    reg.acquire(KEY, lambda: CacheEntry(KEY, "c/doc", 1e12, 1, 0.0, 0.0))
    assert [e.remote_id for e in RedisBackend(server.url, namespace="team-a").entries()] == ["c/doc"]
    reg.backend.clear()
