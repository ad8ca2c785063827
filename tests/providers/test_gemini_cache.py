"""Gemini explicit caching (``cachedContents``) end to end over loopback HTTP: one object per shared
prefix across agents, turns and threads; expiry and loss recovered without a failed request;
too-small fallback; PATCH, delete, list; trace events with hand-computed costs.

Each test names one invariant of :mod:`promptc.runtime.providers.gemini_cache`."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.providers.gemini_cache import (CacheObjectError, CacheOptionError, GeminiCacheOptions,
                                                    display_name, options_from, parse_display_name)
from promptc.runtime.registry import CacheRegistry
from promptc.runtime.sim.gemini_api import CONFLICT, NOT_FOUND
from promptc.runtime.trace import Tracer, read_trace

from .conftest import LOW_MIN
from .gemini_helpers import (AGENTS, MODEL, PRICE_IN, STORAGE, TARGET, _gsim_server, block_tokens, cost,  # noqa: F401
                             declarations, gconfig, gcounter, gsim, reply_tokens, system_parts)

KEY = "sim-gemini-key"
EXPLICIT = {"gemini": "explicit"}


def creates(sim):
    return [r for r in sim.requests if r["method"] == "POST" and r["path"] == "/v1beta/cachedContents"]


def client(sim, counter, config, tmp_path=None, **kw):
    trace = Tracer(tmp_path / "trace.jsonl", clock=sim.clock) if tmp_path is not None else None
    kw.setdefault("cache_objects", EXPLICIT)
    kw.setdefault("api_key", KEY)
    c = Client(TARGET, base_url=sim.url, config=config, clock=sim.clock, trace=trace, **kw)
    c.counter = counter
    return c


def events(tmp_path, kind=None):
    return [r for r in read_trace(tmp_path / "trace.jsonl") if "event" in r and (kind is None or r["event"] == kind)]


def test_team_each_prefix_created_once_across_agents_and_turns(team, gsim, gconfig, ntok, tmp_path, gcounter):
    c = client(gsim, gcounter, gconfig, tmp_path, retention="long")
    sessions = {a: team[a].bind() for a in AGENTS}
    objects = {}
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: {agent}?")
            reply = c.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            prefix_hash = plan.segment(f"{agent}_memory").prefix_hash
            if turn == 0:  # the first request of each agent creates its object: the expected body, by hand
                body = creates(gsim)[-1]["payload"]
                assert body == {"model": f"models/{MODEL}",
                                "displayName": f"promptc/default/{prefix_hash.split(':')[1]}",
                                "systemInstruction": {"parts": system_parts(plan, agent)},
                                "tools": [{"functionDeclarations": declarations(plan)}], "ttl": "3600s"}
                objects[agent] = gsim.sim.gemini_objects(KEY)[-1]["name"]
            sent = gsim.requests[-1]["payload"]
            assert sent == {"contents": [{"role": "user", "parts": [{"text": turn_text}]}],
                            "generationConfig": {"maxOutputTokens": 64}, "cachedContent": objects[agent]}
            obj_tokens = sum(block_tokens(plan, agent, ntok))
            total = obj_tokens + ntok(turn_text)
            u = reply.usage
            assert (u.cache_read, u.uncached, u.cache_write, u.prompt) == (obj_tokens, ntok(turn_text), {}, total)
            out = reply_tokens(ntok, total)
            assert reply.cost == pytest.approx(cost(u.uncached, u.cache_read, out), rel=1e-12)
            assert reply.cache_key == objects[agent] and reply.attempts == 1
            assert [(m.segment, m.reason, m.long) for m in reply.breakpoints] == [(f"{agent}_memory",
                                                                                   "cached_content", True)]
    assert len(creates(gsim)) == 3 and len(set(objects.values())) == 3
    made = events(tmp_path, "create")
    assert [e["plan"] for e in made] == list(AGENTS)
    for e in made:
        tokens = sum(block_tokens(team[e["plan"]], e["plan"], ntok))
        assert e["tokens"] == tokens and e["ttl_s"] == 3600
        assert e["cost"] == pytest.approx(tokens * PRICE_IN / 1e6, rel=1e-12)  # creation at the input price
        assert e["storage_cost"] == pytest.approx(tokens / 1e6 * STORAGE * 1.0, rel=1e-12)  # one hour
    requests = [r for r in read_trace(tmp_path / "trace.jsonl") if "event" not in r]
    assert len(requests) == 9 and all(r["status"] == "ok" and r["invalidation"] is None for r in requests)
    c.close()


def test_sixteen_threads_create_one_object(team, gsim, gconfig, gcounter):
    c = client(gsim, gcounter, gconfig)
    req = team["backend"].bind().render(file="a.py", query="same new prefix")
    barrier = threading.Barrier(16)
    replies, errors = [], []

    def go():
        barrier.wait()
        try:
            replies.append(c.complete(req, max_tokens=8))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(replies) == 16
    assert len(creates(gsim)) == 1
    assert {r.cache_key for r in replies} == {gsim.sim.gemini_objects(KEY)[0]["name"]}
    assert all(r.usage.cache_read > 0 for r in replies)


def test_clients_sharing_a_registry_share_objects(team, gsim, gconfig, gcounter):
    registry = CacheRegistry(clock=gsim.clock)
    req = team["docs"].bind().render(file="a.md", query="q")
    one, two = client(gsim, gcounter, gconfig, registry=registry), client(gsim, gcounter, gconfig, registry=registry)
    assert one.complete(req, max_tokens=8).cache_key == two.complete(req, max_tokens=8).cache_key
    assert len(creates(gsim)) == 1
    # another tenant is another account: its own object
    three = client(gsim, gcounter, gconfig, registry=registry, tenant="acme")
    assert three.complete(req, max_tokens=8).cache_key != one.complete(req, max_tokens=8).cache_key
    assert len(creates(gsim)) == 2


def test_an_expired_object_is_recreated_before_use(team, gsim, gconfig, tmp_path, gcounter):
    c = client(gsim, gcounter, gconfig, tmp_path, retention="short")  # 300 s objects
    req = team["backend"].bind().render(file="a.py", query="q")
    first = c.complete(req, max_tokens=8)
    assert creates(gsim)[-1]["payload"]["ttl"] == "300s"
    gsim.advance(299)
    assert c.complete(req, max_tokens=8).cache_key == first.cache_key
    gsim.advance(2)
    later = c.complete(req, max_tokens=8)
    assert later.attempts == 1 and later.cache_key != first.cache_key and later.usage.cache_read > 0
    assert len(creates(gsim)) == 2
    assert all(r.get("status", "ok") == "ok" for r in read_trace(tmp_path / "trace.jsonl"))


def test_a_lost_object_is_recreated_and_the_request_retried_once(team, gsim, gconfig, tmp_path, gcounter):
    c = client(gsim, gcounter, gconfig, tmp_path)
    req = team["frontend"].bind().render(file="a.tsx", query="q")
    first = c.complete(req, max_tokens=8)
    # deleted behind the registry's back (another process, the console): the API answers 403
    r = httpx.delete(f"{gsim.url}/v1beta/{first.cache_key}", headers={"x-goog-api-key": KEY})
    assert r.status_code == 200
    again = c.complete(req, max_tokens=8)
    assert again.attempts == 2 and again.cache_key != first.cache_key and again.usage.cache_read > 0
    statuses = [(q["method"], q["path"].rsplit("/", 1)[-1]) for q in gsim.requests[-3:]]
    assert statuses == [("POST", f"{MODEL}:generateContent"), ("POST", "cachedContents"),
                        ("POST", f"{MODEL}:generateContent")]
    (recreate,) = events(tmp_path, "recreate")
    assert recreate["remote_id"] == first.cache_key and recreate["status"] == 403
    assert NOT_FOUND in recreate["reason"]
    # streamed and async requests recover the same way
    httpx.delete(f"{gsim.url}/v1beta/{again.cache_key}", headers={"x-goog-api-key": KEY})
    done = list(c.stream(req, max_tokens=8))[-1].reply
    assert done.attempts == 2 and done.usage.cache_read > 0
    httpx.delete(f"{gsim.url}/v1beta/{done.cache_key}", headers={"x-goog-api-key": KEY})

    async def go():
        async with AsyncClient(TARGET, base_url=gsim.url, api_key=KEY, config=gconfig, clock=gsim.clock,
                               cache_objects=EXPLICIT, registry=c.registry) as ac:
            ac.counter = gcounter
            return await ac.complete(req, max_tokens=8)

    assert asyncio.run(go()).attempts == 2


def test_too_small_falls_back_to_implicit_and_says_so(team, gsim, gconfig, tmp_path, ntok, gcounter):
    gsim.sim.gemini_config(min_tokens={MODEL: 4096})  # the API's minimum is higher than the client thinks
    c = client(gsim, gcounter, gconfig, tmp_path)
    req = team["docs"].bind().render(file="a.md", query="q")
    reply = c.complete(req, max_tokens=8)
    again = c.complete(req, max_tokens=8)
    assert len(creates(gsim)) == 1  # tried once, never again for that prefix
    plan = team["docs"]
    assert gsim.requests[-1]["payload"]["systemInstruction"] == {"parts": system_parts(plan, "docs")}
    assert "cachedContent" not in gsim.requests[-1]["payload"]
    assert reply.cache_key is None and again.attempts == 1
    (fb,) = events(tmp_path, "fallback")
    assert fb["reason"] == "too_small" and fb["mode"] == "implicit" and fb["min_tokens"] == 4096
    assert fb["tokens"] == sum(block_tokens(plan, "docs", ntok))  # read from the API's message


def test_below_the_models_minimum_no_object_is_created(team, gsim, tmp_path, gcounter):
    from promptc.runtime.config import RuntimeConfig

    c = client(gsim, gcounter, RuntimeConfig(), tmp_path)  # gemini-2.5-flash: 2,048 tokens; the prefix has ~450
    req = team["docs"].bind().render(file="a.md", query="q")
    c.complete(req, max_tokens=8)
    c.complete(req, max_tokens=8)
    assert creates(gsim) == [] and "systemInstruction" in gsim.requests[-1]["payload"]
    (fb,) = events(tmp_path, "fallback")  # said once per prefix
    assert fb["reason"] == "below_minimum" and fb["min_tokens"] == 2048 and 0 < fb["tokens"] < 2048


def test_retention_none_and_implicit_mode_create_nothing(team, gsim, gconfig, gcounter):
    req = team["docs"].bind().render(file="a.md", query="q")
    client(gsim, gcounter, gconfig, retention="none").complete(req, max_tokens=8)
    client(gsim, gcounter, gconfig, cache_objects={"gemini": "implicit"}).complete(req, max_tokens=8)
    client(gsim, gcounter, gconfig, cache_objects={}).complete(req, max_tokens=8)
    assert creates(gsim) == []


def test_patch_extends_and_delete_removes(team, gsim, gconfig, tmp_path, gcounter):
    c = client(gsim, gcounter, gconfig, tmp_path, retention="short")
    req = team["backend"].bind().render(file="a.py", query="q")
    first = c.complete(req, max_tokens=8)
    rm = c.resources()
    key = rm.key_for(req, c._options(req, 8, None, False, None), c._context())
    entry = c.registry.lookup(key)
    assert entry.remote_id == first.cache_key and entry.expires_at == gsim.clock() + 300
    refreshed = rm.refresh(key, ttl_s=7200)
    assert gsim.requests[-1]["method"] == "PATCH" and gsim.requests[-1]["payload"] == {"ttl": "7200s"}
    assert refreshed.expires_at == gsim.clock() + 7200 == c.registry.lookup(key).expires_at
    gsim.advance(3600)
    assert c.complete(req, max_tokens=8).cache_key == first.cache_key and len(creates(gsim)) == 1
    (ev,) = events(tmp_path, "refresh")
    assert ev["storage_cost"] == pytest.approx(entry.tokens / 1e6 * STORAGE * (7200 - 300) / 3600, rel=1e-12)
    assert rm.delete(key) is True
    assert gsim.sim.gemini_objects(KEY) == [] and c.registry.lookup(key) is None
    (gone,) = events(tmp_path, "delete")
    assert gone["remote_id"] == first.cache_key
    assert gone["storage_saved"] == pytest.approx(entry.tokens / 1e6 * STORAGE * 3600 / 3600, rel=1e-12)
    assert rm.delete(key) is False
    with pytest.raises(CacheObjectError) as err:
        rm.refresh(key)
    assert err.value.code == "E512"
    assert c.complete(req, max_tokens=8).cache_key not in (None, first.cache_key)  # created anew on next use


def test_list_remote_pages_and_reads_back_keys(team, gsim, gconfig, gcounter):
    c = client(gsim, gcounter, gconfig)
    for agent in AGENTS:
        c.complete(team[agent].bind().render(file="f", query="q"), max_tokens=8)
    # someone else's object on the same account, and another account's
    foreign = {"model": f"models/{MODEL}", "displayName": "hand made",
               "systemInstruction": {"parts": [{"text": "word " * 400}]}}
    assert httpx.post(f"{gsim.url}/v1beta/cachedContents", json=foreign, headers={"x-goog-api-key": KEY}).status_code == 200
    httpx.post(f"{gsim.url}/v1beta/cachedContents", json=foreign, headers={"x-goog-api-key": "another-account"})
    rm = c.resources()
    listed = rm.list_remote(page_size=2)
    pages = [r for r in gsim.requests if r["method"] == "GET"]
    assert len(pages) == 2 and pages[1]["query"]["pageToken"]  # two pages of two
    assert len(listed) == 4
    ours = {r.key.prefix_hash: r for r in listed if r.key is not None}
    assert set(ours) == {team[a].segment(f"{a}_memory").prefix_hash for a in AGENTS}
    assert all(r.key.account == "default" and r.key.model == MODEL for r in ours.values())
    assert [r.display_name for r in listed if r.key is None] == ["hand made"]
    orphan = next(r for r in listed if r.key is None)
    assert rm.delete_remote(orphan.name) is True and rm.delete_remote(orphan.name) is False
    assert len(rm.list_remote()) == 3


def test_display_names_round_trip():
    h = "sha256:" + "ab" * 32
    assert parse_display_name(display_name("acme", h)) == ("acme", h)
    long_account = "x" * 100
    name = display_name(long_account, h)
    assert len(name) <= 128 and parse_display_name(name)[1] == h
    assert parse_display_name("promptc/acme/nothex") is None and parse_display_name(None) is None


def test_options_are_checked(team, gsim):
    for bad in ("always", 3, {"mode": "explicit", "ttl_s": 0}, {"mode": "explicit", "ttl": 5},
                {"mode": "explicit", "min_tokens": -1}):
        with pytest.raises(CacheOptionError) as err:
            options_from({"gemini": bad})
        assert err.value.code == "E510" and isinstance(err.value, RuntimeConfigError)
    assert options_from({"gemini": "explicit"}) == GeminiCacheOptions("explicit")
    assert options_from({}) == GeminiCacheOptions("implicit")
    with pytest.raises(CacheOptionError):  # through the client: before anything is sent
        Client(TARGET, base_url=gsim.url, api_key=KEY, cache_objects={"gemini": "always"}).complete(
            team["docs"].bind().render(file="a", query="q"), max_tokens=8)
    assert gsim.requests == []


def test_ttl_and_min_tokens_options(team, gsim, gconfig, gcounter):
    from promptc.runtime.config import RuntimeConfig

    c = client(gsim, gcounter, RuntimeConfig(), cache_objects={"gemini": {"mode": "explicit", "ttl_s": 900,
                                                                "min_tokens": LOW_MIN}})
    c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=8)
    assert [r["payload"]["ttl"] for r in creates(gsim)] == ["900s"]


def test_simulator_cached_contents_semantics(gsim, ntok):
    h = {"x-goog-api-key": KEY}
    base = f"{gsim.url}/v1beta"
    small = {"model": f"models/{MODEL}", "systemInstruction": {"parts": [{"text": "tiny"}]}}
    r = httpx.post(f"{base}/cachedContents", json=small, headers=h)
    assert r.status_code == 400 and r.json()["error"] == {
        "code": 400, "status": "INVALID_ARGUMENT",
        "message": f"Cached content is too small. total_token_count={ntok('tiny')}, min_total_token_count={LOW_MIN}"}
    text = "cache me " * 200
    body = {"model": f"models/{MODEL}", "contents": [{"role": "user", "parts": [{"text": text}]}], "ttl": "60s"}
    obj = httpx.post(f"{base}/cachedContents", json=body, headers=h).json()
    assert obj["usageMetadata"]["totalTokenCount"] == ntok(text) and obj["name"].startswith("cachedContents/")
    gen = f"{base}/models/{MODEL}:generateContent"
    ask = {"cachedContent": obj["name"], "contents": [{"role": "user", "parts": [{"text": "and?"}]}]}
    usage = httpx.post(gen, json=ask, headers=h).json()["usageMetadata"]
    assert (usage["cachedContentTokenCount"], usage["promptTokenCount"]) == (ntok(text), ntok(text) + ntok("and?"))
    r = httpx.post(gen, json={**ask, "systemInstruction": {"parts": [{"text": "x"}]}}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["message"] == CONFLICT
    r = httpx.post(f"{base}/models/gemini-2.5-pro:generateContent", json=ask, headers=h)
    assert r.status_code == 400 and "has to be the same" in r.json()["error"]["message"]
    r = httpx.post(gen, json=ask, headers={"x-goog-api-key": "another-account"})  # foreign
    assert (r.status_code, r.json()["error"]["message"]) == (403, NOT_FOUND)
    r = httpx.patch(f"{base}/{obj['name']}", json={"displayName": "x"}, headers=h)
    assert r.status_code == 400
    r = httpx.patch(f"{base}/{obj['name']}", json={"ttl": "120s"}, headers=h)
    assert r.status_code == 200 and r.json()["expireTime"] != obj["expireTime"]
    gsim.advance(121)  # expired on the simulator's clock
    r = httpx.post(gen, json=ask, headers=h)
    assert (r.status_code, r.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert httpx.get(f"{base}/{obj['name']}", headers=h).status_code == 403
    assert httpx.get(f"{base}/cachedContents", headers=h).json() == {}
    r = httpx.post(f"{base}/cachedContents", json={**body, "expireTime": "2030-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 400  # ttl and expireTime are one choice
