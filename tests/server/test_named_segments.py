"""Named segments on the engine server (promptc/engine/named.py, PUT/GET /v1/segments/{name}, and
``{"ref": name}`` in ``segments[]``): versions, per-tenant resolution, coded errors and limits, and
two replicas sharing the name map through a real redis-server. The oracle for every hash is
promptc.core.hashing.segment_hash of the role and content the test sent, and for cache reuse the
engine's per-segment status (a referenced segment and the same segment sent inline share one node)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.named import MemoryNames, RedisNames
from promptc.engine.server import EngineServer, ServerConfig, ServerThread
from tests.engine.tiny import tiny_weights
from tests.runtime.redis_server import RedisServer

KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}
RULES = "You are a careful reviewer. Answer in one short sentence."
RULES_V2 = "You are a careful reviewer. Answer in two short sentences."


@pytest.fixture(scope="module")
def tiny(smollm_weights):
    return tiny_weights(smollm_weights, layers=2)


@pytest.fixture(scope="module")
def server(tiny):
    names = MemoryNames(max_names=3, max_content_bytes=2000)
    with ServerThread(EngineServer(Engine(weights=tiny, budget_bytes=64 << 20),
                                   ServerConfig(api_keys=KEYS, max_tokens_limit=8, default_max_tokens=1), names=names)) as st:
        yield st


def http(server, key="key-a") -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=60)


def chat(c: httpx.Client, segments, **kw) -> httpx.Response:
    return c.post("/v1/chat/completions", json={"segments": segments, "max_tokens": 1,
                                                 "messages": [{"role": "user", "content": "Hi?"}], **kw})


def test_register_returns_the_hash_and_new_content_makes_a_new_version(server):
    a = http(server)
    name = f"rules-{uuid.uuid4().hex[:6]}"
    r = a.put(f"/v1/segments/{name}", json={"role": "system", "content": RULES})
    assert r.status_code == 201
    assert r.json() == {"name": name, "version": 1, "role": "system", "hash": segment_hash("system", RULES),
                        "bytes": len(RULES), "created": True}
    again = a.put(f"/v1/segments/{name}", json={"role": "system", "content": RULES})
    assert again.status_code == 200 and again.json()["version"] == 1 and not again.json()["created"]
    v2 = a.put(f"/v1/segments/{name}", json={"role": "system", "content": RULES_V2})
    assert v2.status_code == 201 and v2.json()["version"] == 2
    assert v2.json()["hash"] == segment_hash("system", RULES_V2)
    assert a.get(f"/v1/segments/{name}").json()["content"] == RULES_V2
    assert a.get(f"/v1/segments/{name}", params={"version": 1}).json()["content"] == RULES


def test_a_reference_uses_the_same_cache_node_as_the_inline_segment(server):
    a = http(server)
    name = f"shared-{uuid.uuid4().hex[:6]}"
    content = f"Project notes {name}: the engine caches KV state per segment."
    a.put(f"/v1/segments/{name}", json={"role": "system", "content": content}).raise_for_status()
    first = chat(a, [{"ref": name}])
    assert first.status_code == 200, first.text
    seg = first.json()["promptc"]["segments"][0]
    assert seg["id"] == name and seg["hash"] == segment_hash("system", content) and seg["status"] == "computed"
    inline = chat(a, [{"id": "x", "role": "system", "content": content, "hash": segment_hash("system", content)}])
    assert inline.json()["promptc"]["segments"][0]["status"] == "hit"
    warm = a.post("/v1/cache/warm", json={"segments": [{"ref": name, "version": 1}]})
    assert warm.status_code == 200 and warm.json()["segments"][0]["hash"] == segment_hash("system", content)


def test_names_resolve_per_tenant_never_across(server):
    a, b = http(server), http(server, "key-b")
    name = f"private-{uuid.uuid4().hex[:6]}"
    a.put(f"/v1/segments/{name}", json={"role": "system", "content": "tenant A's secret rules"}).raise_for_status()
    r = chat(b, [{"ref": name}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_segment_ref"
    assert r.json()["error"]["param"] == "segments.0.ref"
    assert b.get(f"/v1/segments/{name}").status_code == 404
    b.put(f"/v1/segments/{name}", json={"role": "system", "content": "tenant B's rules"}).raise_for_status()
    assert b.get(f"/v1/segments/{name}").json()["version"] == 1  # B's own name, its own versions
    assert a.get(f"/v1/segments/{name}").json()["content"] == "tenant A's secret rules"
    assert http(server, "nope").put(f"/v1/segments/{name}", json={"role": "system", "content": "x"}).status_code == 401


@pytest.mark.parametrize("path,body,status,code,param", [
    ("bad name!", {"role": "system", "content": "x"}, 400, "invalid_segment_name", "name"),
    ("ok", {"role": "robot", "content": "x"}, 400, "invalid_value", "role"),
    ("ok", {"role": "system", "content": 5}, 400, "invalid_value", "content"),
    ("ok", {"role": "system", "content": "x", "extra": 1}, 400, "invalid_value", "extra"),
    ("ok", ["not", "an", "object"], 400, "invalid_json", None),
    ("ok", {"role": "system", "content": "x", "hash": "sha256:" + "0" * 64}, 400, "segment_hash_mismatch", "hash"),
    ("ok", {"role": "system", "content": "y" * 2001}, 413, "segment_too_large", "content"),
])
def test_bad_registrations_are_coded_errors(server, path, body, status, code, param):
    r = http(server, "key-b").put(f"/v1/segments/{path}", json=body)
    assert r.status_code == status and r.json()["error"]["code"] == code and r.json()["error"]["param"] == param


@pytest.mark.parametrize("ref,code,param", [
    ({"ref": "never-registered"}, "unknown_segment_ref", "segments.0.ref"),
    ({"ref": "bad name!"}, "invalid_segment_name", "segments.0.ref"),
    ({"ref": "x", "version": 0}, "invalid_value", "segments.0.version"),
    ({"ref": "x", "content": "smuggled"}, "invalid_value", "segments.0.content"),
])
def test_bad_references_are_coded_errors(server, ref, code, param):
    r = chat(http(server, "key-b"), [ref])
    assert r.status_code == 400 and r.json()["error"]["code"] == code and r.json()["error"]["param"] == param


def test_the_number_of_names_per_tenant_is_bounded(tiny):
    names = MemoryNames(max_names=2)
    for n in ("a", "b"):
        names.register("default", n, {"role": "user", "content": n})
    names.register("default", "a", {"role": "user", "content": "a2"})  # a new version of a known name is fine
    with ServerThread(EngineServer(Engine(weights=tiny, budget_bytes=16 << 20), names=names)) as st:
        r = httpx.put(st.url + "/v1/segments/c", json={"role": "user", "content": "c"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_named_segments"


def test_two_replicas_share_names_through_redis(tiny, tmp_path):
    """A name registered on replica 1 resolves on replica 2 (which never saw the content); tenants stay
    apart in Redis too; a new version on replica 2 is what replica 1 then resolves."""
    srv = RedisServer(tmp_path / "redis").start()
    try:
        ns = f"test:{uuid.uuid4().hex[:8]}"
        reps = [ServerThread(EngineServer(Engine(weights=tiny, budget_bytes=16 << 20),
                                          ServerConfig(api_keys=KEYS, max_tokens_limit=8, default_max_tokens=1),
                                          names=RedisNames(srv.url, namespace=ns))) for _ in range(2)]
        with reps[0] as one, reps[1] as two:
            put = http(one).put("/v1/segments/global", json={"role": "system", "content": RULES})
            assert put.status_code == 201
            r = chat(http(two), [{"ref": "global"}])
            assert r.status_code == 200, r.text
            assert r.json()["promptc"]["segments"][0]["hash"] == put.json()["hash"] == segment_hash("system", RULES)
            assert chat(http(two, "key-b"), [{"ref": "global"}]).json()["error"]["code"] == "unknown_segment_ref"
            v2 = http(two).put("/v1/segments/global", json={"role": "system", "content": RULES_V2})
            assert v2.json()["version"] == 2
            assert http(one).get("/v1/segments/global").json()["hash"] == segment_hash("system", RULES_V2)
            srv.stop()  # the shared store goes away: a coded 503, never a 500
            down = chat(http(one), [{"ref": "global"}])
            assert down.status_code == 503 and down.json()["error"]["code"] == "segment_store_unavailable"
    finally:
        srv.stop()


def test_warm_deploys_a_plan_as_named_segments(tiny, tmp_path):
    """`promptc warm --target engine/... --named` (library and CLI): every static segment of the plans is
    registered under its id with the plan's own segment hash, the prefix is warmed by reference, and
    a second deploy of unchanged plans registers nothing new."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    import promptc
    from promptc import cli as cli_mod
    from promptc.runtime.warm import static_request, warm_plans

    team_dir = Path(__file__).resolve().parents[2] / "examples" / "team"
    team = promptc.compile(team_dir).plans
    names = MemoryNames()
    with ServerThread(EngineServer(Engine(weights=tiny, budget_bytes=64 << 20), names=names)) as st:
        client = promptc.Client("engine/smollm2", base_url=st.url + "/v1")
        results = warm_plans(list(team.values()), [client], named=True)
        statics = {s.id: s for p in team.values() if static_request(p) for s in static_request(p).segments}
        deployed = {d["name"]: d for r in results for d in r.named}
        assert set(deployed) == set(statics) and all(d["version"] == 1 for d in deployed.values())
        assert {n: d["hash"] for n, d in deployed.items()} == {n: s.hash for n, s in statics.items()}
        assert all(names.resolve("default", n).content == s.content for n, s in statics.items())
        created = [h for r in results for h in r.created]
        assert len(created) == len(set(created)) > 0  # each shared segment computed once, through references
        registry = ["--registry", str(tmp_path / "registry.sqlite3")]  # never the user's ~/.cache
        again = CliRunner().invoke(cli_mod.cli, ["warm", str(team_dir), "--target", "engine/smollm2", "--base-url",
                                                 f"engine={st.url}/v1", "--named", "--format", "json", *registry])
        assert again.exit_code == 0, again.output
        out = json.loads(again.stdout)
        assert all(not d["created"] and d["version"] == 1 for r in out for d in r.get("named", []))
        assert not [h for r in out for h in r["created"]]  # all hits: the same nodes
    bad = CliRunner().invoke(cli_mod.cli, ["warm", str(team_dir), "--target", "anthropic/claude-sonnet-4-5",
                                           "--named", *registry])
    assert bad.exit_code != 0 and getattr(bad.exception, "code", None) == "E532"


def test_serve_checks_the_segments_store_before_loading_the_model():
    from click.testing import CliRunner

    from promptc import cli as cli_mod
    from tests.runtime.redis_server import free_port

    for url in (f"redis://127.0.0.1:{free_port()}/0", "not-a-url"):
        r = CliRunner().invoke(cli_mod.cli, ["serve", "--port", "0", "--segments-redis", url])
        assert r.exit_code == 2 and "--segments-redis" in r.output and "loading" not in r.output
