"""OpenRouter end to end over loopback HTTP: the team example's three agents for several turns on an
Anthropic upstream, the other upstreams' cache controls, and sticky routing by ``session_id``.

Expected payloads, usage and cost are computed here from the parts (segment texts, the token counts
of what the simulator hashes, the documented accounting and the price table).
"""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from tests.price_oracle import genai_cost, reply_oracle
from openrouter.components import ChatRequest, PromptCacheOptions
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.providers.openai import cache_key
from promptc.runtime.providers.openrouter import session_id
from promptc.runtime.sim import Simulator
from promptc.runtime.sim.openrouter_api import REPLICAS

from .conftest import LOW_MIN, canon
from .test_sdk_conformance import problems

AGENTS = ("backend", "frontend", "docs")
PRICE_IN, PRICE_OUT = 3.0, 15.0  # anthropic/claude-sonnet-4.5 through OpenRouter (promptc/core/prices.py)
PATH = "/openrouter/api/v1"


@pytest.fixture()
def osim():
    with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": LOW_MIN, "google/gemini-2.5-pro": LOW_MIN,
                                         "qwen/qwen3-max": LOW_MIN}, openai_min_tokens=LOW_MIN) as s:
        yield s


@pytest.fixture()
def config():
    return RuntimeConfig.from_dict({"cache_limits": {"openrouter/": {"min_tokens": LOW_MIN}}})


def client(sim, model, config, **kw):
    return Client(f"openrouter/{model}", base_url=sim.url + PATH, api_key="sk-or-v1-test-123456", config=config, **kw)


def replica_of(session_id: str) -> int:
    """The simulated replica a session sticks to (a hash of the key over REPLICAS)."""
    return int(hashlib.sha256(session_id.encode()).hexdigest(), 16) % REPLICAS


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def expected_payload(plan, agent, req, model="anthropic/claude-sonnet-4.5", marker=None, tenant=None):
    cc = marker if marker is not None else {"cache_control": {"type": "ephemeral", "ttl": "1h"}}
    return {"model": model, "max_tokens": 64, "tools": fn_tools(plan), "session_id": session_id(req, tenant),
            "messages": [{"role": "system", "content": [
                {"type": "text", "text": plan.segment("rules").content, **cc},
                {"type": "text", "text": plan.segment(agent).content},
                {"type": "text", "text": plan.segment(f"{agent}_memory").content, **cc}]},
                {"role": "user", "content": [{"type": "text", "text": req.segments[-1].content}]}]}


def test_team_three_agents_several_turns_payload_usage_and_cost(team, osim, config, ntok):
    c = client(osim, "anthropic/claude-sonnet-4.5", config, retention="long")
    sessions = {a: team[a].bind() for a in AGENTS}
    rules = sum(ntok(canon(t)) for t in fn_tools(team["backend"])) + ntok(team["backend"].segment("rules").content)
    warm: set[int] = set()
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: what should {agent} check?")
            reply = c.complete(req, max_tokens=64)
            assert osim.requests[-1]["path"] == f"{PATH}/chat/completions"
            assert osim.requests[-1]["payload"] == expected_payload(plan, agent, req)
            assert [m.segment for m in reply.breakpoints] == ["rules", f"{agent}_memory"]
            prefix = rules + ntok(plan.segment(agent).content) + ntok(plan.segment(f"{agent}_memory").content)
            turn_tokens = ntok(req.segments[-1].content)
            u = reply.usage
            replica = replica_of(session_id(req, None))
            if turn == 0 and replica not in warm:  # first on its replica: everything is written at 1h
                assert (u.cache_read, u.cache_write, u.uncached) == (0, {"1h": prefix}, turn_tokens)
            elif turn == 0:  # another agent already wrote the shared rules on this replica
                assert (u.cache_read, u.cache_write, u.uncached) == (rules, {"1h": prefix - rules}, turn_tokens)
            else:
                assert (u.cache_read, u.cache_write, u.uncached) == (prefix, {}, turn_tokens)
            warm.add(replica)
            out = ntok(f"Simulated openrouter reply to a {prefix + turn_tokens}-token prompt.")
            assert u.output == out and u.prompt == prefix + turn_tokens and u.semantics == "inclusive"
            expected = reply_oracle("openrouter/anthropic/claude-sonnet-4.5", u)  # genai-prices' price
            assert reply.cost == pytest.approx(expected, rel=1e-9)
            assert u.raw["cost"] == pytest.approx(reply.cost, rel=1e-9)  # OpenRouter's own figure agrees
            assert "cache_discount" not in u.raw  # not a chat-completions usage field
    c.close()


def test_session_id_keeps_a_prefix_on_one_replica(osim, ntok):
    text = "All work and no play makes Jack a dull boy. " * 40
    body = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 8, "messages": [
        {"role": "system", "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "q"}]}
    auth = {"authorization": "Bearer sk-or-x"}
    url = osim.url + PATH + "/chat/completions"
    loose = [httpx.post(url, json=body, headers=auth) for _ in range(2)]
    assert loose[0].headers["x-sim-replica"] != loose[1].headers["x-sim-replica"]
    assert [r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] for r in loose] == [0, 0]  # missed
    sticky = [httpx.post(url, json={**body, "session_id": "tenant-a:prefix"}, headers=auth) for _ in range(2)]
    assert sticky[0].headers["x-sim-replica"] == sticky[1].headers["x-sim-replica"]
    assert sticky[1].json()["usage"]["prompt_tokens_details"]["cached_tokens"] == ntok(text)
    header = httpx.post(url, json=body, headers={**auth, "x-session-id": "tenant-a:prefix"})
    assert header.headers["x-sim-replica"] == sticky[0].headers["x-sim-replica"]


def test_session_id_is_the_prefix_hash_plus_the_tenant(team, config):
    a = team["backend"].bind().render(file="a.py", query="one")
    b = team["backend"].bind().render(file="b.py", query="two")
    base = dict(base_url="http://127.0.0.1:9", api_key="k", config=config)
    acme = Client("openrouter/anthropic/claude-sonnet-4.5", tenant="acme", **base)
    other = Client("openrouter/anthropic/claude-sonnet-4.5", tenant="globex", **base)
    assert acme.build(a).payload["session_id"] == acme.build(b).payload["session_id"] == session_id(a, "acme")
    # every agent of the team shares the global prefix (the rules): one session, one replica
    assert len({acme.build(team[x].bind().render(file="a", query="q")).payload["session_id"] for x in AGENTS}) == 1
    assert other.build(a).payload["session_id"] != acme.build(a).payload["session_id"]
    assert len(acme.build(a).payload["session_id"]) <= 256
    none = Client("openrouter/anthropic/claude-sonnet-4.5", retention="none", **base).build(a).payload
    assert "session_id" not in none and "cache_control" not in canon(none)


def test_gemini_upstream_gets_one_marker_written_for_5_minutes_without_refresh(team, osim, config, ntok):
    model = "google/gemini-2.5-pro"
    c = client(osim, model, config, retention="long")
    req = team["backend"].bind().render(file="a.py", query="q")
    first = c.complete(req, max_tokens=64)
    assert osim.requests[-1]["payload"] == {
        **expected_payload(team["backend"], "backend", req, model=model, marker={}),
        "messages": [{"role": "system", "content": [
            {"type": "text", "text": team["backend"].segment("rules").content},
            {"type": "text", "text": team["backend"].segment("backend").content},
            {"type": "text", "text": team["backend"].segment("backend_memory").content,
             "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": req.segments[-1].content}]}]}
    prefix = first.usage.cache_write["5m"]
    assert first.usage.cache_read == 0 and prefix == first.usage.prompt - ntok(req.segments[-1].content)
    osim.advance(200)
    hit = c.complete(req, max_tokens=64)
    assert (hit.usage.cache_read, hit.usage.cache_write) == (prefix, {})
    osim.advance(200)  # 400 s after the write: a hit did not extend the 5 minutes
    again = c.complete(req, max_tokens=64)
    assert (again.usage.cache_read, again.usage.cache_write) == (0, {"5m": prefix})
    # genai-prices' own price of each usage
    assert hit.cost == pytest.approx(reply_oracle("openrouter/" + model, hit.usage), rel=1e-9)
    assert first.cost == pytest.approx(reply_oracle("openrouter/" + model, first.usage), rel=1e-9)


def test_alibaba_upstream_markers_have_no_ttl(team, osim, config):
    c = client(osim, "qwen/qwen3-max", config, retention="long")
    req = team["docs"].bind().render(file="a.md", query="q")
    first = c.complete(req, max_tokens=64)
    assert osim.requests[-1]["payload"] == expected_payload(team["docs"], "docs", req, model="qwen/qwen3-max",
                                                            marker={"cache_control": {"type": "ephemeral"}})
    second = c.complete(req, max_tokens=64)
    assert set(first.usage.cache_write) == {"5m"} and second.usage.cache_read == first.usage.cache_write_total


def test_openai_upstream_uses_openais_breakpoints(team, osim, config):
    c = client(osim, "openai/gpt-5.6", config)
    req = team["frontend"].bind().render(file="a.tsx", query="q")
    first = c.complete(req, max_tokens=64)
    p = osim.requests[-1]["payload"]
    assert (p["prompt_cache_key"], p["session_id"]) == (cache_key(req, None, "shared"), session_id(req, None))
    # no history in this plan, so no implicit breakpoint: OpenRouter's type takes mode "explicit" only
    assert p["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    marked = [part["text"] for m in p["messages"] for part in m["content"] if "prompt_cache_breakpoint" in part]
    assert marked == [team["frontend"].segment(s).content for s in ("rules", "frontend_memory")]
    assert "cache_control" not in canon(p)
    second = c.complete(req, max_tokens=64)
    assert set(first.usage.cache_write) == {"30m"} and second.usage.cache_read > 0


def test_automatic_upstreams_get_no_markers_but_stick_to_a_replica(team, osim, config):
    c = client(osim, "deepseek/deepseek-chat", config)
    req = team["docs"].bind().render(file="a.md", query="q")
    first = c.complete(req, max_tokens=64)
    p = osim.requests[-1]["payload"]
    assert "cache_control" not in canon(p) and "prompt_cache_breakpoint" not in canon(p) and p["session_id"]
    second = c.complete(req, max_tokens=64)
    assert first.usage.cache_read == 0 and second.usage.cache_read > 0 and second.usage.cache_write == {}


def test_streaming_and_async(team, osim, config):
    req = team["backend"].bind().render(file="a.py", query="stream me")
    c = client(osim, "anthropic/claude-sonnet-4.5", config)
    events = list(c.stream(req, max_tokens=64))
    assert osim.requests[-1]["payload"]["stream"] is True
    again = c.complete(req, max_tokens=64)
    done = events[-1]
    text = "".join(e.text for e in events if e.type == "text")
    assert done.type == "done" and done.reply.text == text == again.text
    assert done.reply.usage.cache_write == {"5m": again.usage.cache_read}

    async def go():
        async with AsyncClient("openrouter/anthropic/claude-sonnet-4.5", base_url=osim.url + PATH, api_key="k",
                               config=config) as ac:
            first = await ac.complete(req, max_tokens=64)
            streamed = [e async for e in ac.stream(req, max_tokens=64)]
            return first, streamed

    first, streamed = asyncio.run(go())
    assert first.usage.cache_read == again.usage.cache_read and streamed[-1].reply.text == first.text


def test_a_model_without_its_vendor_is_error_e523(team, config):
    c = Client("openrouter/claude-sonnet-4.5", api_key="k", config=config)
    with pytest.raises(RuntimeConfigError) as err:
        c.build(team["docs"].bind().render(file="a", query="q"))
    assert err.value.code == "E523" and "openrouter/<vendor>/<model>" in str(err.value)


def test_errors_are_readable(team, osim, config):
    from promptc.runtime.errors import ProviderError

    c = client(osim, "anthropic/claude-sonnet-4.5", config)
    osim.inject(status=400, message="No endpoints found")
    with pytest.raises(ProviderError) as err:
        c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=8)
    assert err.value.status == 400 and "No endpoints found" in str(err.value)
    assert "sk-or-v1-test-123456" not in str(err.value)


# -- SDK conformance --------------------------------------------------------------------------------------------------
def without_openrouter_fields(payload):
    """The payload less what OpenRouter adds to OpenAI's request type: top-level ``session_id`` and
    ``cache_control`` on message content parts (and only there)."""
    out = {k: v for k, v in payload.items() if k not in ("session_id", "prompt_cache_options")}  # OpenRouter's own
    out["messages"] = [{**m, "content": [{k: v for k, v in part.items() if k != "cache_control"}
                                         for part in m["content"]]} for m in payload["messages"]]
    return out


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4.5", "google/gemini-2.5-pro", "openai/gpt-5.6",
                                   "qwen/qwen3-max", "deepseek/deepseek-chat"])
@pytest.mark.parametrize("retention", ["none", "short", "long"])
def test_payloads_conform_to_openais_request_type_plus_openrouters_fields(team, support, config, model, retention):
    c = Client(f"openrouter/{model}", api_key="k", retention=retention, config=config)
    history = [{"role": "user", "content": "hello " * 300}, {"role": "assistant", "content": "hi " * 300}]
    reqs = [team[a].bind().render(file="f.py", query="q") for a in AGENTS]
    reqs.append(support.bind(customer={"name": "Ada", "plan": "pro", "open_tickets": 0}).render(
        question="Refund?", history=history))
    for req in reqs:
        payload = c.build(req, max_tokens=50).payload
        stripped = without_openrouter_fields(payload)
        assert problems(CompletionCreateParamsNonStreaming, stripped) == []
        # OpenRouter's fields against the official openrouter SDK's types (mode is "explicit" only there)
        ChatRequest.model_validate(payload)
        if "prompt_cache_options" in payload:
            PromptCacheOptions.model_validate(payload["prompt_cache_options"])
        assert "cache_control" not in canon(stripped)  # no marker anywhere else (tools, messages, top level)
        if stripped != {k: v for k, v in payload.items() if k != "prompt_cache_options"}:
            assert problems(CompletionCreateParamsNonStreaming, payload)  # the checker does see the extra fields
        assert canon(payload).count("cache_control") <= (1 if model.startswith("google/") else 4)


def test_official_openai_client_against_the_simulator(team, osim, config):
    payload = Client("openrouter/anthropic/claude-sonnet-4.5", api_key="k", retention="long", config=config).build(
        team["docs"].bind().render(file="a", query="q"), max_tokens=32).payload
    sdk = openai.OpenAI(base_url=osim.url + PATH, api_key="sk-or-sim", max_retries=0)
    fields = {k: v for k, v in payload.items() if k != "session_id"}
    sdk.chat.completions.create(**fields, extra_body={"session_id": payload["session_id"]})
    again = sdk.chat.completions.create(**fields, extra_body={"session_id": payload["session_id"]})
    assert isinstance(again, ChatCompletion) and again.usage.prompt_tokens_details.cached_tokens > 0
    chunks = list(sdk.chat.completions.create(**fields, stream=True, extra_body={"session_id": payload["session_id"]}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_a_dropped_stream_names_openrouter(team, osim, config):
    from promptc.runtime.errors import StreamInterrupted

    osim.inject(drop_after=2)
    with pytest.raises(StreamInterrupted) as err:
        list(client(osim, "anthropic/claude-sonnet-4.5", config).stream(team["docs"].bind().render(file="a", query="q"),
                                                                        max_tokens=64))
    assert err.value.code == "E505" and err.value.provider == "openrouter"


def test_usage_without_the_write_counter(team, config):
    """A missing ``cache_write_tokens`` is unknown where markers were sent, 0 where none were."""
    req = team["docs"].bind().render(file="a", query="q")
    body = {"usage": {"prompt_tokens": 500, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 400}},
            "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]}
    for model, retention, write in (("anthropic/claude-sonnet-4.5", "short", None),
                                    ("anthropic/claude-sonnet-4.5", "none", {}), ("deepseek/deepseek-chat", "short", {})):
        c = Client(f"openrouter/{model}", api_key="k", retention=retention, config=config)
        usage = c.adapter.parse(body, c.build(req)).usage
        assert (usage.cache_read, usage.cache_write) == (400, write)
        assert usage.uncached == 100
