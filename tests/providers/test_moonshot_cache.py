"""Moonshot legacy context caches (/v1/caching) end to end over loopback HTTP against the simulator.

Three agents, several turns, two clients per agent sharing one registry (two workers): each shared
static prefix is created exactly once; requests while a cache is pending go uncached and never wait
for it; 404 and inactive caches are recovered without a failed user request; the family mapping,
option checks and the per-cache / per-user token limits. Expected numbers come from the parts.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from promptc.core.prices import object_fees
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.providers.moonshot_cache import ContextCacheError, model_family, parse_options
from promptc.runtime.registry import CacheRegistry
from promptc.runtime.trace import Tracer, read_trace

from .conftest import canon

AGENTS = ("backend", "frontend", "docs")
IN, OUT = 1.0, 3.0  # moonshot/moonshot-v1-32k, USD per MTok (core/prices.py); cached tokens cost 0
CREATE, STORE, CALL = 1.0, 0.15, 0.0015  # $/M created, $/M per minute stored, $ per call (CONTEXT_CACHE_FEES)
LATENCY = 45.0  # the simulator's creation latency (seconds of simulator time)
MODEL = "moonshot/moonshot-v1-32k"


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def system_text(plan, agent):
    return "".join(plan.segment(s).content for s in ("rules", agent, f"{agent}_memory"))


def client(sim, registry=None, trace=None, **opts):
    return Client(MODEL, base_url=sim.url + "/moonshot/v1", api_key="sk-moon-123456", clock=sim.clock,
                  registry=registry, trace=trace,
                  # the team's prefixes (~460 tokens) are below moonshot-v1-32k's break-even (1,500): cache anyway
                  cache_objects={"context_cache": True, "poll_s": 30, "min_tokens": 0, **opts})


def posts(sim, path="/moonshot/v1/caching"):
    return [r for r in sim.requests if r["path"] == path and r["payload"] is not None]


def chats(sim):
    return [r for r in sim.requests if r["path"] == "/moonshot/v1/chat/completions"]


def events(path, kind=None):
    return [r for r in read_trace(path) if "event" in r and (kind is None or r["event"] == kind)]


def settle(*clients):
    for c in clients:
        assert c.resources().wait_idle(30)


def test_team_each_shared_prefix_is_created_once_and_used(team, sim, ntok, tmp_path):
    trace = tmp_path / "trace.jsonl"
    registry = CacheRegistry(clock=sim.clock)
    tracer = Tracer(trace, clock=sim.clock)
    workers = [client(sim, registry, tracer), client(sim, registry, tracer)]  # two workers, one registry
    sessions = {a: team[a].bind() for a in AGENTS}
    tools = sum(ntok(canon(t)) for t in fn_tools(team["backend"]))
    cache_tokens = {a: tools + ntok(system_text(team[a], a)) for a in AGENTS}
    for turn in range(4):
        if turn == 2:  # the caches finish creating
            sim.advance(LATENCY)
            workers[0].resources().refresh()
        for agent in AGENTS:
            for w in workers:
                req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: {agent}?")
                reply = w.complete(req, max_tokens=32)
                turn_text = req.segments[-1].content
                total = cache_tokens[agent] + ntok(turn_text)
                payload = chats(sim)[-1]["payload"]
                u = reply.usage
                if turn < 2:  # no cache yet, or pending: the full prompt, uncached, without waiting
                    assert payload["messages"] == [{"role": "system", "content": system_text(team[agent], agent)},
                                                   {"role": "user", "content": turn_text}]
                    assert payload["tools"] == fn_tools(team[agent])
                    assert (u.cache_read, u.uncached) == (0, total)
                else:  # the cache message replaces the cached messages; tools null
                    cache_id = registry.lookup(w.resources().key(w.adapter.static_prefix(req))).remote_id
                    assert payload["messages"] == [{"role": "cache", "content": f"cache_id={cache_id};reset_ttl=3600"},
                                                   {"role": "user", "content": turn_text}]
                    assert payload["tools"] is None
                    assert (u.cache_read, u.uncached, u.cache_write) == (cache_tokens[agent], ntok(turn_text), {})
                out = ntok(f"Simulated moonshot reply to a {total}-token prompt.")
                assert reply.cost == pytest.approx((u.uncached * IN + out * OUT) / 1e6, rel=1e-12)
        settle(*workers)
    created = posts(sim)
    assert len(created) == 3 and sim.sim.moonshot.created == 3  # one per agent prefix, not one per worker
    by_agent = {c["payload"]["metadata"]["plan"]: c["payload"] for c in created}
    for agent in AGENTS:
        req = sessions[agent].render(file="x", query="y")
        assert by_agent[agent] == {
            "model": "moonshot-v1", "messages": [{"role": "system", "content": system_text(team[agent], agent)}],
            "tools": fn_tools(team[agent]), "name": f"promptc-{agent}",
            "description": f"promptc static prefix of plan {agent}", "ttl": 3600,
            "metadata": {"promptc": "1", "prefix_hash": req.segments[3].prefix_hash, "plan": agent,
                         "account": "default"}}
    creates = events(trace, "create")
    assert sorted(e["tokens"] for e in creates) == sorted(cache_tokens.values())
    for e in creates:  # creation + one hour of storage
        assert e["cost"] == pytest.approx(e["tokens"] * CREATE / 1e6 + e["tokens"] * STORE * 60 / 1e6, rel=1e-12)
    assert len(events(trace, "ready")) == 3
    uses = events(trace, "use")
    assert len(uses) == 2 * 3 * 2  # turns 2 and 3, three agents, two workers
    for agent in AGENTS:  # the call fee; the first use moves the expiry from t0+3600 to t0+45+3600,
        first, *rest = [e for e in uses if e["plan"] == agent]  # buying 45 s more storage; later ones none
        assert first["cost"] == pytest.approx(CALL + first["tokens"] * STORE * LATENCY / 60 / 1e6, rel=1e-12)
        assert [e["cost"] for e in rest] == [pytest.approx(CALL, rel=1e-12)] * 3
    assert {e["reason"] for e in events(trace, "fallback")} == {"pending"}
    for w in workers:
        w.close()


def test_requests_while_the_create_is_in_flight_do_not_wait(team, sim):
    """The create call is held open by the simulator: requests still complete, uncached."""
    import threading

    gate = threading.Event()
    sim.sim.moonshot.create_gate = gate
    c = client(sim)
    req = team["backend"].bind().render(file="a.py", query="q")
    for _ in range(3):
        reply = c.complete(req, max_tokens=8)
        assert reply.usage.cache_read == 0
    assert sim.sim.moonshot.created == 0  # the create has not been answered, yet every request did
    gate.set()
    settle(c)
    assert sim.sim.moonshot.created == 1 and len(posts(sim)) == 1
    c.close()


def test_the_background_poll_makes_the_next_request_use_the_cache(team, sim):
    c = client(sim, poll_s=0.01)
    req = team["docs"].bind().render(file="a.md", query="q")
    c.complete(req, max_tokens=8)
    settle(c)
    key = c.resources().key(c.adapter.static_prefix(req))
    assert c.registry.lookup(key).status == "pending"
    sim.advance(LATENCY)
    deadline = time.monotonic() + 30  # waiting for the background thread, not measuring it
    while c.registry.lookup(key).status != "ready" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.registry.lookup(key).status == "ready"
    assert c.complete(req, max_tokens=8).usage.cache_read > 0
    c.close()


def ready_client(sim, team, agent="backend", **opts):
    c = client(sim, **opts)
    req = team[agent].bind().render(file="a.py", query="q")
    c.complete(req, max_tokens=8)
    settle(c)
    sim.advance(LATENCY)
    c.resources().refresh()
    return c, req


def test_a_deleted_cache_is_recreated_and_the_request_retried_uncached(team, sim, tmp_path):
    trace = tmp_path / "t.jsonl"
    c, req = ready_client(sim, team, trace=None)
    c.tracer = Tracer(trace, clock=sim.clock)
    used = c.complete(req, max_tokens=8)
    cache_id = sim.requests[-1]["payload"]["messages"][0]["content"].split(";")[0].split("=")[1]
    assert used.usage.cache_read > 0
    r = httpx.delete(f"{sim.url}/moonshot/v1/caching/{cache_id}", headers={"authorization": "Bearer sk-moon-123456"})
    assert r.json()["deleted"] is True
    reply = c.complete(req, max_tokens=8)  # 404 for the cache, then transparently the full prompt
    assert reply.attempts == 2 and reply.usage.cache_read == 0 and reply.usage.prompt == used.usage.prompt
    last = chats(sim)[-1]["payload"]
    assert last["messages"][0]["role"] == "system" and last["tools"]
    (rec,) = events(trace, "recreate")
    assert (rec["reason"], rec["cache_id"]) == ("not_found", cache_id)
    settle(c)
    assert sim.sim.moonshot.created == 2
    requests = [x for x in read_trace(trace) if "event" not in x]
    assert [x["status"] for x in requests] == ["ok", "ok"]
    c.close()


def test_an_inactive_cache_runs_uncached_and_is_revived(team, sim, tmp_path):
    trace = tmp_path / "t.jsonl"
    c, req = ready_client(sim, team)
    c.tracer = Tracer(trace, clock=sim.clock)
    tokens = c.complete(req, max_tokens=8).usage.cache_read
    sim.advance(3601)  # past reset_ttl: inactive
    reply = c.complete(req, max_tokens=8)
    assert reply.usage.cache_read == 0 and reply.attempts == 1
    assert chats(sim)[-1]["payload"]["messages"][0]["role"] == "cache"  # its reset_ttl revives the cache
    (rec,) = events(trace, "recreate")
    assert (rec["how"], rec["reason"]) == ("revive", "inactive")
    assert rec["cost"] == pytest.approx(tokens * STORE * 60 / 1e6, rel=1e-12)  # a new hour of storage
    assert c.complete(req, max_tokens=8).usage.cache_read == 0  # pending again while it rebuilds
    sim.advance(LATENCY)
    c.resources().refresh()
    assert c.complete(req, max_tokens=8).usage.cache_read == tokens
    assert sim.sim.moonshot.created == 1  # revived, not recreated
    c.close()


def test_header_mode_resends_everything_with_the_cache_headers(team, sim):
    c, req = ready_client(sim, team, context_cache="header")
    full = c.build(req, max_tokens=8).payload
    reply = c.complete(req, max_tokens=8)
    last = chats(sim)[-1]
    assert last["payload"] == full
    assert last["headers"]["x-msh-context-cache"].startswith("cache-sim")
    assert last["headers"]["x-msh-context-cache-reset-ttl"] == "3600"
    assert reply.usage.cache_read > 0 and reply.usage.uncached == reply.usage.prompt - reply.usage.cache_read
    c.close()


def test_a_cache_ending_in_error_is_deleted_and_requests_stay_uncached(team, sim, tmp_path):
    sim.sim.moonshot.fail_next.append("simulated build failure")
    trace = tmp_path / "t.jsonl"
    c = client(sim, trace=Tracer(trace, clock=sim.clock))
    req = team["frontend"].bind().render(file="a.tsx", query="q")
    c.complete(req, max_tokens=8)
    settle(c)
    sim.advance(LATENCY)
    c.resources().refresh()
    assert c.complete(req, max_tokens=8).usage.cache_read == 0
    assert sim.sim.moonshot.objects == {}  # the broken object was deleted
    (fb,) = [e for e in events(trace, "fallback") if e["reason"] == "create_failed"]
    assert "simulated build failure" in fb["detail"]
    assert [e["reason"] for e in events(trace, "delete")] == ["error"]
    assert c.complete(req, max_tokens=8).usage.cache_read == 0 and len(posts(sim)) == 1  # not retried yet
    c.close()


def test_the_user_limit_evicts_the_least_recently_used_cache(team, sim, ntok, tmp_path):
    trace = tmp_path / "t.jsonl"
    c = client(sim, trace=Tracer(trace, clock=sim.clock), user_limit_tokens=1000)  # two team prefixes fit
    reqs = {a: team[a].bind().render(file="f", query="q") for a in AGENTS}
    for agent in AGENTS:
        c.complete(reqs[agent], max_tokens=8)
        settle(c)
        sim.advance(1)
    statuses = sorted(o.metadata["plan"] for o in sim.sim.moonshot.objects.values())
    assert statuses == ["docs", "frontend"]  # backend, the oldest, made room for docs
    (d,) = events(trace, "delete")
    assert d["reason"] == "user_limit" and d["existed"] is True
    assert sim.sim.moonshot.created == 3
    c.close()


def test_the_user_limit_with_fallback_creates_nothing_more(team, sim, tmp_path):
    trace = tmp_path / "t.jsonl"
    c = client(sim, trace=Tracer(trace, clock=sim.clock), user_limit_tokens=1000, on_limit="fallback")
    for agent in AGENTS:
        reply = c.complete(team[agent].bind().render(file="f", query="q"), max_tokens=8)
        assert reply.usage.cache_read == 0
        settle(c)
    assert sim.sim.moonshot.created == 2
    (fb,) = [e for e in events(trace, "fallback") if e["reason"] == "user_limit"]
    assert fb["plan"] == "docs" and "1000-token limit per user" in fb["detail"]
    c.close()


def test_the_servers_limit_answer_is_a_fallback_not_a_failed_request(team, sim, tmp_path):
    sim.sim.moonshot.user_limit = 600  # other caches on the account: the server refuses the second one
    trace = tmp_path / "t.jsonl"
    c = client(sim, trace=Tracer(trace, clock=sim.clock))
    for agent in ("backend", "docs"):
        assert c.complete(team[agent].bind().render(file="f", query="q"), max_tokens=8).text
        settle(c)
    (fb,) = [e for e in events(trace, "fallback") if e["reason"] == "user_limit"]
    assert "400" in fb["detail"] and "per user" in fb["detail"]
    c.close()


def test_family_mapping_and_option_errors(team, sim):
    for model in ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "moonshot-v1-auto", "MOONSHOT-V1-32K"):
        assert model_family(model) == "moonshot-v1"
    for model in ("kimi-k3", "kimi-k2.5", "moonshot-v1-8k-vision-preview"):
        with pytest.raises(ContextCacheError, match="E515.*no context-cache family"):
            model_family(model)
    req = team["backend"].bind().render(file="a", query="q")
    c = Client("moonshot/kimi-k3", base_url=sim.url + "/moonshot/v1", api_key="k",
               cache_objects={"context_cache": True})
    with pytest.raises(ContextCacheError) as exc:
        c.complete(req, max_tokens=8)
    assert exc.value.code == "E515" and "hint" in str(exc.value)
    assert chats(sim) == []  # nothing was sent
    for bad, field in (({"context_cache": True, "ttl": 7200}, "ttl"), ({"context_cache": "always"}, "context_cache"),
                       ({"context_cache": True, "on_limit": "panic"}, "on_limit"), ({"cache_size": 1}, "cache_size")):
        with pytest.raises(ContextCacheError, match=f"E516.*cache_objects.{field}"):
            parse_options(bad)
    assert parse_options({}).enabled is False
    assert Client(MODEL, api_key="k").resources() is None  # opt-in: no manager without the option


def test_ensure_list_remote_and_delete_remote(team, sim):
    c = client(sim)
    rm = c.resources()
    reqs = {a: team[a].bind().render(file="f", query="q") for a in AGENTS}
    entries = {a: rm.ensure(reqs[a]) for a in AGENTS}
    assert rm.ensure(reqs["backend"]).remote_id == entries["backend"].remote_id  # found, not created again
    assert sim.sim.moonshot.created == 3
    foreign = httpx.post(sim.url + "/moonshot/v1/caching", headers={"authorization": "Bearer sk-moon-123456"},
                         json={"model": "moonshot-v1", "messages": [{"role": "system", "content": "not ours"}]})
    listed = rm.list_remote()
    assert sorted(x["id"] for x in listed) == sorted(e.remote_id for e in entries.values())
    assert foreign.json()["id"] not in {x["id"] for x in listed}
    assert {x["metadata"]["prefix_hash"] for x in listed} == {e.key.prefix_hash for e in entries.values()}
    assert rm.delete_remote(entries["docs"].remote_id) is True
    assert rm.delete_remote(entries["docs"].remote_id) is False  # already gone
    assert c.registry.lookup(entries["docs"].key) is None
    assert len(rm.list_remote()) == 2
    tiny = client(sim, max_cache_tokens=100)
    with pytest.raises(ContextCacheError, match="E518.*100-token limit per cache"):
        tiny.resources().ensure(reqs["docs"])
    c.close()
    tiny.close()


def test_streaming_and_async_use_the_cache(team, sim):
    c, req = ready_client(sim, team, agent="docs")
    events_ = list(c.stream(req, max_tokens=16))
    done = events_[-1].reply
    assert done.usage.cache_read > 0 and chats(sim)[-1]["payload"]["messages"][0]["role"] == "cache"
    c.close()

    async def go():
        async with AsyncClient(MODEL, base_url=sim.url + "/moonshot/v1", api_key="sk-moon-123456", clock=sim.clock,
                               registry=c.registry, cache_objects={"context_cache": True, "min_tokens": 0}) as a:
            first = await a.complete(req, max_tokens=16)
            streamed = [e async for e in a.stream(req, max_tokens=16)]
            return first, streamed[-1].reply

    first, streamed = asyncio.run(go())
    assert first.usage.cache_read == done.usage.cache_read == streamed.usage.cache_read
    assert sim.sim.moonshot.created == 1  # the async client found the cache in the shared registry


def test_ensure_reports_refusals_and_plans_without_a_cacheable_prefix(team, sim, tmp_path):
    req = team["backend"].bind().render(file="f", query="q")
    c = client(sim)
    sim.inject(status=403, message="context caching is not enabled for this account")
    with pytest.raises(ContextCacheError, match="E517.*403.*not enabled"):
        c.resources().ensure(req)
    sim.sim.moonshot.user_limit = 100
    with pytest.raises(ContextCacheError, match="E518.*per user"):
        client(sim).resources().ensure(req)
    session_tools = req.model_copy(update={"segments": [
        s.model_copy(update={"stability": "session"}) if s.kind == "tools" else s for s in req.segments]})
    with pytest.raises(ContextCacheError, match="E519"):
        c.resources().ensure(session_tools)
    trace = tmp_path / "t.jsonl"
    traced = client(sim, trace=Tracer(trace, clock=sim.clock))
    reply = traced.complete(session_tools, max_tokens=8)  # during requests: uncached, and said once
    traced.complete(session_tools, max_tokens=8)
    assert reply.usage.cache_read == 0 and chats(sim)[-1]["payload"]["tools"]
    assert [e["reason"] for e in events(trace, "fallback")] == ["tools_not_static"]
    assert sim.sim.moonshot.created == 0
    c.close()
    traced.close()


def test_sixteen_threads_asking_for_the_same_new_prefix_create_it_once(team, sim):
    from concurrent.futures import ThreadPoolExecutor

    registry = CacheRegistry(clock=sim.clock)
    clients = [client(sim, registry) for _ in range(4)]
    req = team["frontend"].bind().render(file="a.tsx", query="q")
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: clients[i % 4].complete(req, max_tokens=8), range(16)))
    settle(*clients)
    assert all(r.usage.cache_read == 0 and r.text for r in replies)
    assert len(posts(sim)) == 1 and sim.sim.moonshot.created == 1
    for c in clients:
        c.close()


def test_prefixes_below_break_even_get_no_cache(team, sim, tmp_path):
    from promptc.runtime.providers.moonshot_cache import break_even

    assert break_even("moonshot/moonshot-v1-32k", object_fees("moonshot/moonshot-v1")) == 1500  # $0.0015 / ($1/M)
    assert break_even("moonshot/moonshot-v1-8k", object_fees("moonshot/moonshot-v1")) == 7500  # at $0.20/M
    trace = tmp_path / "t.jsonl"
    c = Client(MODEL, base_url=sim.url + "/moonshot/v1", api_key="k", clock=sim.clock,
               trace=Tracer(trace, clock=sim.clock), cache_objects={"context_cache": True})
    req = team["backend"].bind().render(file="f", query="q")
    c.complete(req, max_tokens=8)
    c.complete(req, max_tokens=8)
    settle(c)
    assert posts(sim) == [] and [e["reason"] for e in events(trace, "fallback")] == ["below_break_even"]
    c.close()


def test_the_simulators_caching_api(sim):
    """The documented /v1/caching semantics the manager relies on, straight over HTTP."""
    base, auth = sim.url + "/moonshot/v1", {"authorization": "Bearer sk-a"}
    msgs = [{"role": "system", "content": "You are a careful reviewer. " * 20}]
    r = httpx.post(base + "/caching", headers=auth, json={"model": "moonshot-v1-8k", "messages": msgs})
    assert r.status_code == 400 and "model family is invalid" in r.json()["error"]["message"]
    r = httpx.post(base + "/caching", headers=auth, json={"model": "moonshot-v1", "messages": msgs,
                                                          "metadata": {f"k{i}": "v" for i in range(17)}})
    assert r.status_code == 400
    obj = httpx.post(base + "/caching", headers=auth, json={"model": "moonshot-v1", "messages": msgs, "ttl": 600,
                                                            "metadata": {"team": "a"}}).json()
    assert (obj["status"], obj["object"], obj["expired_at"] - obj["created_at"]) == ("pending", "context-cache", 600)
    get = lambda: httpx.get(f"{base}/caching/{obj['id']}", headers=auth).json()["status"]  # noqa: E731
    sim.advance(LATENCY)
    assert get() == "ready"
    chat = {"model": "moonshot-v1-8k", "messages": [{"role": "cache", "content": f"cache_id={obj['id']}"},
                                                     {"role": "user", "content": "hi"}]}
    used = httpx.post(base + "/chat/completions", headers=auth, json=chat)
    assert used.json()["usage"]["cached_tokens"] == obj["tokens"]
    assert used.headers["msh-context-cache-token-saved"] == str(obj["tokens"])
    bad = httpx.post(base + "/chat/completions", headers=auth, json={**chat, "tools": [{"type": "function"}]})
    assert bad.status_code == 400 and "tools must be null" in bad.json()["error"]["message"]
    mismatch = httpx.post(base + "/chat/completions", headers={**auth, "x-msh-context-cache": obj["id"]},
                          json={"model": "moonshot-v1-8k", "messages": [{"role": "user", "content": "hi"}]})
    assert mismatch.status_code == 400
    other_user = httpx.get(f"{base}/caching/{obj['id']}", headers={"authorization": "Bearer sk-b"})
    assert other_user.status_code == 404
    sim.advance(601)
    assert get() == "inactive"
    put = httpx.put(f"{base}/caching/{obj['id']}", headers=auth, json={"ttl": 300}).json()
    assert put["status"] == "pending"  # an update resets the cache to pending
    listed = httpx.get(base + "/caching", headers=auth, params={"metadata[team]": "a"}).json()
    assert [x["id"] for x in listed["data"]] == [obj["id"]]
    assert httpx.get(base + "/caching", headers=auth, params={"metadata[team]": "b"}).json()["data"] == []
    gone = httpx.delete(f"{base}/caching/{obj['id']}", headers=auth).json()
    assert gone == {"deleted": True, "id": obj["id"], "object": "context_cache_object.deleted"}
    assert httpx.get(f"{base}/caching/{obj['id']}", headers=auth).status_code == 404
    assert httpx.post(base + "/chat/completions", headers=auth, json=chat).status_code == 404
