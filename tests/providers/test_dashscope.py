"""Qwen on Alibaba Cloud Model Studio (DashScope) over loopback HTTP: explicit ``cache_control`` markers on
content parts (≤ 4, 20-block lookback, a minimum, 5 minutes renewed on a hit), the implicit cache used by
requests without a marker (the modes are mutually exclusive), usage with cache creation, and the
`promptc simulate` row.

Expected reads and writes are computed here from the payloads the simulator received, with the documented
rules (context-cache page, read 2026-12-06). genai-prices has no Qwen price: cost tests set one in the
project config (USD 1/1 per million, read 0.1×, write 1.25× — the documented multipliers; the share of
the best savings does not depend on the absolute price)."""

from __future__ import annotations

import copy

import httpx
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from promptc.core.prices import price_for
from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.dashscope import IMPLICIT_MIN_TOKENS
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.dashscope import from_dashscope
from promptc.runtime.sim import SimApp, Simulator
from promptc.runtime.sim import cache as sim_cache
from promptc.runtime.sim import dashscope_api
from promptc.runtime.simulate import simulate
from promptc.tokenizers import load_tokenizer

from .chat_compat import AGENTS, small_day, wire_blocks
from .conftest import LOW_MIN
from .test_sdk_conformance import problems

TARGET = "dashscope/qwen3.6-plus"
URL = "/dashscope/compatible-mode/v1"
PRICES = {"dashscope/": {"input": 1.0, "output": 1.0, "read": 0.1, "write": 1.25}}


@pytest.fixture()
def dsim():
    with Simulator(min_tokens=LOW_MIN) as s:
        yield s


def low_config():
    return RuntimeConfig.from_dict({"cache_limits": {"dashscope/": {"min_tokens": LOW_MIN}}, "prices": PRICES})


def test_spec_facts_and_the_simulator_agree():
    row = limits_for(TARGET)
    assert (row.min_tokens, row.max_breakpoints, row.mode, row.lookback) == (1024, 4, "explicit", 20)
    assert sim_cache.LOOKBACK == row.lookback
    assert sim_cache.TTL_S["5m"] == SPECS["dashscope"].ttls["5m"] == dashscope_api.EXPLICIT_TTL_S
    assert dashscope_api.IMPLICIT_TTL_S == SPECS["dashscope"].ttls["implicit"]
    app = SimApp()
    assert app.dashscope.min_tokens(TARGET) == 1024 and app.dashscope_implicit.minimum == IMPLICIT_MIN_TOKENS
    assert price_for(TARGET) is None  # genai-prices has no Qwen: unpriced, never another model's row


def expected_explicit(tok, payload, stored: dict, minimum: int) -> tuple[int, int]:
    """(read, written) by the documented explicit-cache rules; ``stored`` maps stored prefixes (the blocks up
    to a marker, as tuples) — updated like the provider does."""
    blocks = wire_blocks(tok, payload)
    marked = [i for i, (m, p) in enumerate(_parts(payload)) if p.get("cache_control")]
    n_tools = len(payload.get("tools") or [])
    marks = [n_tools + i for i in marked]
    cum, total = [], 0
    for n, _ in blocks:
        total += n
        cum.append(total)
    hit = -1
    for bp in marks:
        for pos in range(bp, max(-1, bp - 20), -1):
            if tuple(blocks[:pos + 1]) in stored:
                hit = max(hit, pos)
                break
    read = cum[hit] if hit >= 0 else 0
    later = [i for i in marks if i > hit and cum[i] >= minimum]
    for i in later:
        stored[tuple(blocks[:i + 1])] = True
    return read, (cum[later[-1]] - read) if later else 0


def _parts(payload):
    return [(m, p) for m in payload["messages"] for p in (m["content"] if isinstance(m["content"], list) else [])]


def test_explicit_markers_payload_usage_and_sdk_types(team, dsim):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=dsim.url + URL, api_key="sk-ds", config=low_config())
    stored: dict = {}
    for turn in range(2):
        for agent in AGENTS:
            reply = client.complete(team[agent].bind().render(file="a.py", query=f"{turn} {agent}"), max_tokens=16)
            p = dsim.requests[-1]["payload"]
            markers = [part["cache_control"] for _, part in _parts(p) if "cache_control" in part]
            assert 1 <= len(markers) <= 4 and all(m == {"type": "ephemeral"} for m in markers)
            plain = copy.deepcopy(p)  # cache_control is DashScope's extension of OpenAI's parts
            for _, part in _parts(plain):
                part.pop("cache_control", None)
            assert problems(CompletionCreateParamsNonStreaming, plain) == []
            read, written = expected_explicit(tok, p, stored, LOW_MIN)
            total = sum(n for n, _ in wire_blocks(tok, p))
            u = reply.usage
            assert (u.cache_read, u.cache_write, u.uncached) == (read, {"5m": written} if written else {},
                                                                 total - read - written)
            raw = u.raw["prompt_tokens_details"]
            assert raw["cache_type"] == "ephemeral" and raw["cache_creation"]["ephemeral_5m_input_tokens"] == written
            assert reply.cost == pytest.approx((total - read - written + 0.1 * read + 1.25 * written + u.output) / 1e6)
            if turn == 0 and agent != "backend":
                assert read > 0  # the shared tools + rules prefix, written by the first agent


def test_no_marker_means_the_implicit_cache(team, dsim):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=dsim.url + URL, api_key="sk-ds", retention="none", config=low_config())
    replies = [client.complete(team[a].bind().render(file="a.py", query="same"), max_tokens=8) for a in AGENTS]
    payloads = [r["payload"] for r in dsim.requests[-3:]]
    assert not any("cache_control" in part for p in payloads for _, part in _parts(p))
    shared = 0
    for a, b in zip(wire_blocks(tok, payloads[0]), wire_blocks(tok, payloads[1])):
        if a != b:
            break
        shared += a[0]
    assert shared >= IMPLICIT_MIN_TOKENS
    assert replies[0].usage.cache_read == 0 and replies[1].usage.cache_read == shared
    assert all(r.usage.cache_write == {} for r in replies)  # the implicit cache has no write fee


def test_explicit_and_implicit_are_mutually_exclusive(team, dsim):
    """A prefix in the implicit cache is not read by a request that carries a marker (and vice versa)."""
    req = team["backend"].bind().render(file="a.py", query="q")
    implicit = Client(TARGET, base_url=dsim.url + URL, api_key="sk", retention="none", config=low_config())
    explicit = Client(TARGET, base_url=dsim.url + URL, api_key="sk", config=low_config())
    implicit.complete(req, max_tokens=8)
    first_explicit = explicit.complete(req, max_tokens=8)
    assert first_explicit.usage.cache_read == 0 and sum(first_explicit.usage.cache_write.values()) > 0


def test_more_than_four_markers_is_a_400(dsim):
    parts = [{"type": "text", "text": f"block {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    r = httpx.post(dsim.url + URL + "/chat/completions", headers={"authorization": "Bearer k"},
                   json={"model": "qwen3.6-plus", "messages": [{"role": "system", "content": parts}]})
    assert r.status_code == 400 and "at most 4" in r.json()["error"]["message"]


def test_official_sdk_parses_the_reply(team, dsim):
    payload = Client(TARGET, api_key="k", config=low_config()).build(
        team["docs"].bind().render(file="a", query="q"), max_tokens=8).payload
    r = httpx.post(dsim.url + URL + "/chat/completions", json=payload, headers={"authorization": "Bearer k"})
    assert ChatCompletion.model_validate(r.json()).usage.prompt_tokens == sum(
        n for n, _ in wire_blocks(load_tokenizer("o200k_base"), payload))


def test_usage_without_a_marker_writes_nothing_and_unknown_stays_unknown():
    u = from_dashscope({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}},
                       marked=False)
    assert (u.cache_read, u.cache_write, u.uncached) == (4, {}, 6)
    unknown = from_dashscope({"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}},
                             marked=True)
    assert unknown.cache_write is None and unknown.uncached is None


def test_simulate_row_promptc_beats_the_naive_default_and_reaches_the_best(team):
    (row,) = simulate(small_day(team), [TARGET], min_tokens=LOW_MIN, config=RuntimeConfig.from_dict({"prices": PRICES}))
    assert row.tallies["promptc"].cost <= row.tallies["naive"].cost
    assert row.share_of_best("promptc") >= 0.98
