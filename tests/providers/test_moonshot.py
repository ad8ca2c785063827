"""Kimi / Moonshot end to end over loopback HTTP: the team example's three agents, several turns.

Expected payloads, usage and cost are computed here from the parts (segment texts, token counts of
what the simulator hashes, the documented accounting and the price table), not read back from the
code under test.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from tests.price_oracle import genai_cost, reply_oracle
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.providers.moonshot import from_moonshot, prompt_cache_key
from promptc.tokenizers import load_tokenizer

from .conftest import canon
from .test_sdk_conformance import problems

AGENTS = ("backend", "frontend", "docs")
K2_IN, K2_READ, K2_OUT = 0.6, 0.25, 2.5  # moonshot/kimi-k2, USD per MTok and read multiplier (core/prices.py)
BLOCK = 256  # the simulator's Kimi cache block
#: prompt_cache_options carries Kimi's TTLs (5m/1h), which the OpenAI SDK types as "30m" only: extra_body
MOONSHOT_EXTRA = ("prompt_cache_options",)


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def system_text(plan, agent):
    return "".join(plan.segment(s).content for s in ("rules", agent, f"{agent}_memory"))


def url(sim):
    return sim.url + "/moonshot/v1"


def common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_team_three_agents_several_turns_payload_usage_and_cost(team, sim, ntok):
    """One key for the team (their shared global prefix): each request reads the whole blocks of its
    longest prefix sent before (the global part from another agent, the static part from its own)."""
    tok = load_tokenizer("o200k_base")
    client = Client("moonshot/kimi-k2.5", base_url=url(sim), api_key="sk-moon-123456", retention="long",
                    tenant="acme")
    sessions = {a: team[a].bind() for a in AGENTS}
    seen: list[list[int]] = []
    keys = set()
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: what should {agent} check?")
            reply = client.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            key = prompt_cache_key(req, "acme")
            keys.add(key)
            assert sim.requests[-1]["path"] == "/moonshot/v1/chat/completions"
            assert sim.requests[-1]["payload"] == {
                "model": "kimi-k2.5", "max_tokens": 64, "tools": fn_tools(plan),
                "messages": [{"role": "system", "content": system_text(plan, agent)},
                             {"role": "user", "content": turn_text}],
                "prompt_cache_key": key, "prompt_cache_options": {"mode": "implicit", "ttl": "1h"}}
            ids = [t for d in fn_tools(plan) for t in tok.encode(canon(d))] + \
                tok.encode(system_text(plan, agent)) + tok.encode(turn_text)
            read = max((common(ids, old) for old in seen), default=0) // BLOCK * BLOCK
            seen.append(ids)
            total = len(ids)
            if turn > 0:  # at least the agent's own static prefix, in whole blocks
                static = len(ids) - ntok(turn_text)
                assert read >= static // BLOCK * BLOCK > 0
            u = reply.usage
            assert (u.cache_read, u.cache_write, u.uncached) == (read, {}, total - read)
            out = ntok(f"Simulated moonshot reply to a {total}-token prompt.")
            assert u.output == out and u.prompt == total and u.raw["prompt_tokens_details"] == {"cached_tokens": read}
            assert reply.cost == pytest.approx(genai_cost("moonshot/kimi-k2.5", uncached=u.uncached, cache_read=read,
                                                          output=out), rel=1e-9)  # genai-prices' price
            assert reply.cache_key == key
    assert len(keys) == 1  # the three agents share the global prefix, so one key
    client.close()


def test_the_key_is_the_shared_global_prefix_plus_tenant(team, support):
    a = team["backend"].bind().render(file="a", query="one")
    b = team["docs"].bind().render(file="b", query="two")
    assert prompt_cache_key(a, "t1") == prompt_cache_key(b, "t1") != prompt_cache_key(a, "t2")
    assert len(prompt_cache_key(a, "x" * 100)) <= 64
    s = support.bind(customer={"name": "Ada", "plan": "pro", "open_tickets": 0}).render(question="q", history=[])
    assert prompt_cache_key(s, None) != prompt_cache_key(a, None)


def test_retention_short_is_5m_and_none_sends_no_cache_fields(team, sim):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client("moonshot/kimi-k2.5", base_url=url(sim), api_key="k", retention="short") as c:
        c.complete(req, max_tokens=8)
    assert sim.requests[-1]["payload"]["prompt_cache_options"] == {"mode": "implicit", "ttl": "5m"}
    with Client("moonshot/kimi-k2.5", base_url=url(sim), api_key="k", retention="none") as c:
        c.complete(req, max_tokens=8)
    payload = sim.requests[-1]["payload"]
    assert "prompt_cache_key" not in payload and "prompt_cache_options" not in payload


def test_ttl_is_locked_at_the_first_write_and_renewed_on_hit(team, sim):
    req = team["docs"].bind().render(file="a.md", query="q")
    short = Client("moonshot/kimi-k2.5", base_url=url(sim), api_key="k", retention="short")
    long_ = Client("moonshot/kimi-k2.5", base_url=url(sim), api_key="k", retention="long")
    assert short.complete(req, max_tokens=8).usage.cache_read == 0  # written with 5m
    sim.advance(200)
    hit = long_.complete(req, max_tokens=8).usage.cache_read  # asks for 1h: the entry keeps its 5m, renewed
    assert hit > 0
    sim.advance(299)
    assert long_.complete(req, max_tokens=8).usage.cache_read == hit  # renewed at the last hit
    sim.advance(301)  # 5m after the last hit: gone, although the later requests asked for 1h
    assert long_.complete(req, max_tokens=8).usage.cache_read == 0
    sim.advance(3000)  # rewritten by a 1h request: now it lives an hour
    assert short.complete(req, max_tokens=8).usage.cache_read == hit
    short.close()
    long_.close()


def test_k3_writes_are_billed_but_unreported_so_uncached_and_cost_are_unknown(team, sim):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client("moonshot/kimi-k3", base_url=url(sim), api_key="k") as c:
        c.complete(req, max_tokens=8)
        reply = c.complete(req, max_tokens=8)
    u = reply.usage
    assert u.raw["cached_tokens"] == u.cache_read > 0  # the top-level spelling
    assert u.cache_write is None and u.uncached is None and reply.cost is None
    assert reply.cost_detail.cache_read == pytest.approx(genai_cost("moonshot/kimi-k3", uncached=0,
                                                                    cache_read=u.cache_read), rel=1e-9)


def test_usage_reads_both_spellings_and_never_invents_a_write():
    top = from_moonshot({"prompt_tokens": 19, "completion_tokens": 21, "total_tokens": 40, "cached_tokens": 10},
                        writes_exist=False)
    assert (top.cache_read, top.uncached, top.cache_write, top.output) == (10, 9, {}, 21)
    guide = from_moonshot({"prompt_tokens": 19, "completion_tokens": 21, "prompt_tokens_details": {"cached_tokens": 8}},
                          writes_exist=False)
    assert (guide.cache_read, guide.uncached) == (8, 11)
    k3 = from_moonshot({"prompt_tokens": 19, "completion_tokens": 1, "cached_tokens": 10}, writes_exist=True)
    assert (k3.cache_read, k3.cache_write, k3.uncached) == (10, None, None)
    reported = from_moonshot({"prompt_tokens": 19, "completion_tokens": 1, "cached_tokens": 10,
                              "prompt_tokens_details": {"cache_write_tokens": 6}}, writes_exist=True, write_ttl="1h")
    assert (reported.cache_write, reported.uncached) == ({"1h": 6}, 3)
    missing = from_moonshot({"prompt_tokens": 19, "completion_tokens": 1}, writes_exist=False)
    assert missing.cache_read is None and missing.uncached is None


@pytest.mark.parametrize("model", ["kimi-k2.5", "moonshot-v1-8k"])
def test_streaming_reads_usage_from_the_chunk_or_the_choice(team, sim, model):
    """kimi models send a final usage chunk; moonshot-v1 models put usage in choices[0].usage."""
    req = team["frontend"].bind().render(file="web/a.tsx", query="stream")
    with Client(f"moonshot/{model}", base_url=url(sim), api_key="k") as c:
        first = c.complete(req, max_tokens=32)
        events = list(c.stream(req, max_tokens=32))
        again = c.complete(req, max_tokens=32)
    assert sim.requests[-2]["payload"]["stream_options"] == {"include_usage": True}
    done = events[-1].reply
    assert done.text == "".join(e.text for e in events if e.type == "text") == first.text
    assert done.usage.prompt == first.usage.prompt and done.usage.output == first.usage.output
    assert done.usage.cache_read == again.usage.cache_read  # the streamed request read what the next one reads


def test_async_client_complete_and_stream(team, sim):
    req = team["docs"].bind().render(file="docs/a.md", query="async")

    async def go():
        async with AsyncClient("moonshot/kimi-k2.5", base_url=url(sim), api_key="k") as c:
            first = await c.complete(req, max_tokens=16)
            events = [e async for e in c.stream(req, max_tokens=16)]
            return first, events

    first, events = asyncio.run(go())
    assert first.usage.cache_read == 0 and events[-1].reply.usage.cache_read > 0
    assert events[-1].reply.text == first.text


@pytest.mark.parametrize("retention", ["none", "short", "long"])
def test_payloads_conform_to_the_openai_sdk_with_kimi_fields_as_extra_body(team, support, retention):
    from .test_sdk_conformance import requests

    c = Client("moonshot/kimi-k3", api_key="k", retention=retention)
    for req in requests(team, support):
        payload = c.build(req, max_tokens=50).payload
        assert problems(CompletionCreateParamsNonStreaming,
                        {k: v for k, v in payload.items() if k not in MOONSHOT_EXTRA}) == []


def test_official_openai_client_sends_the_same_payload(team, sim):
    req = team["backend"].bind().render(file="a", query="q")
    payload = Client("moonshot/kimi-k2.5", api_key="k", retention="long").build(req, max_tokens=32).payload
    sdk = openai.OpenAI(base_url=url(sim), api_key="sk-sim", max_retries=0)
    args = {k: v for k, v in payload.items() if k not in MOONSHOT_EXTRA}
    extra = {k: payload[k] for k in MOONSHOT_EXTRA}
    sdk.chat.completions.create(**args, extra_body=extra)
    again = sdk.chat.completions.create(**args, extra_body=extra)
    assert sim.requests[-1]["payload"] == payload
    assert isinstance(again, ChatCompletion) and again.usage.prompt_tokens_details.cached_tokens > 0
    chunks = list(sdk.chat.completions.create(**args, extra_body=extra, stream=True,
                                              stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []
