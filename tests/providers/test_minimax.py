"""MiniMax's Anthropic-compatible API over loopback HTTP: explicit breakpoints (tools → system → messages,
the spec's 512-token minimum, one 5-minute TTL, markers as MiniMax documents them), Anthropic's usage,
the official anthropic SDK's types, genai-prices' cost and the `promptc simulate` row.

Expected reads and writes are computed here from the payload the simulator received: the block token
counts of the Messages API wire (tool definitions, system blocks, message blocks) and the markers on it."""

from __future__ import annotations

import httpx
import pytest
from anthropic.types import Message
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from promptc.core.providers import SPECS, limits_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import SimApp, Simulator
from promptc.runtime.sim import cache as sim_cache
from promptc.runtime.simulate import simulate
from promptc.tokenizers import load_tokenizer

from .chat_compat import AGENTS, canon, genai_cost, small_day
from .conftest import LOW_MIN
from .test_sdk_conformance import problems

TARGET = "minimax/MiniMax-M2.7"
URL = "/minimax/anthropic"


@pytest.fixture()
def mmsim():
    with Simulator(min_tokens=LOW_MIN) as s:
        yield s


def low_config():
    return RuntimeConfig.from_dict({"cache_limits": {"minimax/": {"min_tokens": LOW_MIN}}})


def test_spec_facts_and_the_simulator_agree():
    row = limits_for(TARGET)
    assert (row.min_tokens, row.max_breakpoints, row.mode, row.lookback) == (512, 4, "explicit", 20)
    assert SimApp().minimax.min_tokens(TARGET) == row.min_tokens and sim_cache.LOOKBACK == row.lookback
    assert dict(SPECS["minimax"].ttls) == {"5m": sim_cache.TTL_S["5m"]}


def blocks(tok, p):
    """(tokens, marked) of each block of a Messages payload, in wire order."""
    out = [(len(tok.encode(canon({k: v for k, v in t.items() if k != "cache_control"}))), "cache_control" in t)
           for t in p.get("tools") or []]
    out += [(len(tok.encode(b["text"])), "cache_control" in b) for b in p.get("system") or []]
    out += [(len(tok.encode(b["text"])), "cache_control" in b) for m in p["messages"] for b in m["content"]]
    return out


@pytest.mark.parametrize("retention", ["short", "long"])
def test_team_payload_usage_cost_and_sdk_types(team, mmsim, retention):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=mmsim.url + URL, api_key="mm-key", retention=retention, config=low_config())
    first_marked = None
    for agent in AGENTS:
        reply = client.complete(team[agent].bind().render(file="a.py", query=f"{agent}?"), max_tokens=16)
        sent = mmsim.requests[-1]
        assert sent["path"] == "/minimax/anthropic/v1/messages"
        p = sent["payload"]
        assert problems(MessageCreateParamsNonStreaming, p) == []
        assert "cache_control" not in p  # no top-level automatic caching
        marks = [b["cache_control"] for b in (p.get("tools") or []) + p.get("system", []) if "cache_control" in b]
        marks += [b["cache_control"] for m in p["messages"] for b in m["content"] if "cache_control" in b]
        assert marks and all(m == {"type": "ephemeral"} for m in marks)  # no ttl: one 5-minute TTL
        bl = blocks(tok, p)
        cum = [sum(n for n, _ in bl[:i + 1]) for i in range(len(bl))]
        marked = [i for i, (_, m) in enumerate(bl) if m]
        total = cum[-1]
        u = reply.usage
        if first_marked is None:  # the first agent writes up to its last breakpoint
            first_marked = (bl, marked)
            assert (u.cache_read, u.cache_write) == (0, {"5m": cum[marked[-1]]})
        else:  # the next ones read the shared tools + rules prefix the first one wrote
            fb, fm = first_marked
            shared = max(i for i in fm if bl[:i + 1] == fb[:i + 1])
            assert u.cache_read == cum[shared] > 0
        assert u.uncached + u.cache_read + sum(u.cache_write.values()) == total
        assert reply.cost == pytest.approx(genai_cost(TARGET, uncached=u.uncached, cache_read=u.cache_read,
                                                      cache_write=sum(u.cache_write.values()), output=u.output))


def test_official_sdk_parses_the_reply_and_a_1h_ttl_is_refused(team, mmsim):
    payload = Client(TARGET, api_key="k", config=low_config()).build(
        team["docs"].bind().render(file="a", query="q"), max_tokens=8).payload
    r = httpx.post(mmsim.url + URL + "/v1/messages", json=payload, headers={"x-api-key": "k"})
    assert Message.model_validate(r.json()).usage.cache_creation_input_tokens > 0
    client = Client(TARGET, base_url=mmsim.url + URL, api_key="k", config=low_config())
    events = list(client.stream(team["docs"].bind().render(file="a", query="q"), max_tokens=8))
    streamed = events[-1].reply.usage  # a stream's usage: the writes are 5-minute writes, not "unknown"
    assert streamed.cache_read > 0 and set(streamed.cache_write) <= {"5m"}
    payload["system"][-1]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    assert httpx.post(mmsim.url + URL + "/v1/messages", json=payload, headers={"x-api-key": "k"}).status_code == 400


def test_simulate_row_promptc_beats_the_naive_default_and_reaches_the_best(team):
    (row,) = simulate(small_day(team), [TARGET], min_tokens=LOW_MIN, config=RuntimeConfig())
    assert row.tallies["promptc"].cost <= row.tallies["naive"].cost
    assert row.share_of_best("promptc") >= 0.98
