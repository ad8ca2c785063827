"""DeepSeek end to end over loopback HTTP: the team example's three agents, several turns.

DeepSeek caches every prompt automatically per account and model, and a hit is the longest prefix
from token 0 seen before, in whole 64-token units (the simulator applies the 2024 rule). Expected
hits are computed here from the token ids of what was sent, with that rule; cost from the price
table's DeepSeek V4-Flash values.
"""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from tests.price_oracle import genai_cost, reply_oracle
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.providers.deepseek import from_deepseek
from promptc.tokenizers import load_tokenizer

from .conftest import canon
from .test_sdk_conformance import problems, requests

AGENTS = ("backend", "frontend", "docs")
IN, OUT, READ = 0.14, 0.28, 0.02  # deepseek/deepseek-v4-flash (core/prices.py; changes between doc versions)
UNIT = 64


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def system_text(plan, agent):
    return "".join(plan.segment(s).content for s in ("rules", agent, f"{agent}_memory"))


def url(sim):
    return sim.url + "/deepseek"


def common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_team_three_agents_several_turns_payload_usage_and_cost(team, sim):
    tok = load_tokenizer("o200k_base")
    client = Client("deepseek/deepseek-v4-flash", base_url=url(sim), api_key="sk-ds-123456", retention="long",
                    tenant="acme")
    sessions = {a: team[a].bind() for a in AGENTS}
    seen: list[list[int]] = []
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: what should {agent} check?")
            reply = client.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            tools = fn_tools(plan)
            assert sim.requests[-1]["path"] == "/deepseek/chat/completions"
            assert sim.requests[-1]["payload"] == {  # nothing cache-related: DeepSeek has no such field
                "model": "deepseek-v4-flash", "max_tokens": 64, "tools": tools,
                "messages": [{"role": "system", "content": system_text(plan, agent)},
                             {"role": "user", "content": turn_text}]}
            ids = [t for d in tools for t in tok.encode(canon(d))] + tok.encode(system_text(plan, agent)) + \
                tok.encode(turn_text)
            hit = max((common(ids, old) for old in seen), default=0) // UNIT * UNIT
            seen.append(ids)
            u = reply.usage
            assert (u.cache_read, u.uncached, u.cache_write) == (hit, len(ids) - hit, {})
            assert u.raw["prompt_cache_hit_tokens"] == hit and u.raw["prompt_tokens"] == len(ids)
            if turn == 0 and agent != "backend":  # the shared tools + rules prefix hits across agents
                assert hit >= len([t for d in tools for t in tok.encode(canon(d))]) // UNIT * UNIT > 0
            out = len(tok.encode(f"Simulated deepseek reply to a {len(ids)}-token prompt."))
            assert u.output == out
            assert reply.cost == pytest.approx(genai_cost("deepseek/deepseek-v4-flash", uncached=u.uncached, cache_read=hit,
                                                          output=out), rel=1e-9)  # genai-prices' price
            assert reply.cache_key is None
    client.close()


def test_retention_changes_nothing_on_the_wire(team):
    req = team["backend"].bind().render(file="a", query="q")
    payloads = [Client("deepseek/deepseek-v4-pro", api_key="k", retention=r).build(req).payload
                for r in ("none", "short", "long")]
    assert payloads[0] == payloads[1] == payloads[2] and "prompt_cache_key" not in payloads[0]


def test_usage_normalization():
    doc = from_deepseek({"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
                         "prompt_cache_hit_tokens": 768, "prompt_cache_miss_tokens": 232,
                         "prompt_tokens_details": {"cached_tokens": 768}})
    assert (doc.cache_read, doc.uncached, doc.cache_write, doc.output, doc.prompt) == (768, 232, {}, 50, 1000)
    details_only = from_deepseek({"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details":
                                  {"cached_tokens": 64}})
    assert (details_only.cache_read, details_only.uncached) == (64, 36)
    unknown = from_deepseek({"prompt_tokens": 100, "completion_tokens": 1})
    assert unknown.cache_read is None and unknown.uncached is None and unknown.prompt is None


def test_streaming_reads_the_final_usage_chunk_and_async(team, sim):
    req = team["docs"].bind().render(file="docs/a.md", query="stream")
    with Client("deepseek/deepseek-v4-flash", base_url=url(sim), api_key="k") as c:
        first = c.complete(req, max_tokens=32)
        events = list(c.stream(req, max_tokens=32))
    assert sim.requests[-1]["payload"]["stream_options"] == {"include_usage": True}
    done = events[-1].reply
    assert done.text == "".join(e.text for e in events if e.type == "text") == first.text
    assert done.usage.cache_read == done.usage.prompt // UNIT * UNIT > 0 and done.usage.prompt == first.usage.prompt

    async def go():
        async with AsyncClient("deepseek/deepseek-v4-flash", base_url=url(sim), api_key="k") as a:
            again = await a.complete(req, max_tokens=32)
            streamed = [e async for e in a.stream(req, max_tokens=32)]
            return again, streamed[-1].reply

    again, streamed = asyncio.run(go())
    assert again.usage.cache_read == streamed.usage.cache_read == done.usage.cache_read


@pytest.mark.parametrize("retention", ["none", "short"])
def test_payloads_conform_to_the_openai_sdk(team, support, retention):
    c = Client("deepseek/deepseek-v4-flash", api_key="k", retention=retention)
    for req in requests(team, support):
        assert problems(CompletionCreateParamsNonStreaming, c.build(req, max_tokens=50).payload) == []


def test_official_openai_client_against_the_simulator(team, sim):
    payload = Client("deepseek/deepseek-v4-flash", api_key="k").build(
        team["backend"].bind().render(file="a", query="q"), max_tokens=32).payload
    sdk = openai.OpenAI(base_url=url(sim), api_key="sk-sim", max_retries=0)
    sdk.chat.completions.create(**payload)
    again = sdk.chat.completions.create(**payload)
    assert sim.requests[-1]["payload"] == payload
    assert isinstance(again, ChatCompletion) and again.usage.prompt_tokens_details.cached_tokens > 0
    # DeepSeek's own counters ride along as extra fields
    assert again.usage.model_extra["prompt_cache_hit_tokens"] == again.usage.prompt_tokens_details.cached_tokens
    chunks = list(sdk.chat.completions.create(**payload, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []
