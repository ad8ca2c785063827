"""Mistral over loopback HTTP: ``prompt_cache_key`` (one for sibling agents), prefix caching per server,
usage (both cached-token spellings), streaming, genai-prices' cost and the `promptc simulate` row.

Expected hits are computed here from the payloads received and the server each one went to (the key's
hash, or round robin without one: the simulator's model of "increases the chance of a cache hit")."""

from __future__ import annotations

import pytest
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from promptc.core.providers import SPECS
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.mistral import from_mistral
from promptc.runtime.sim import Simulator
from promptc.runtime.sim import mistral_api, xai_api
from promptc.runtime.simulate import simulate
from promptc.tokenizers import load_tokenizer

from .chat_compat import AGENTS, common_prefix_tokens, genai_cost, small_day, wire_blocks
from .test_sdk_conformance import problems

TARGET = "mistral/mistral-medium-3-5"


@pytest.fixture()
def msim():
    with Simulator() as s:
        yield s


def test_spec_facts_and_the_simulator_agree():
    assert mistral_api.TTL_S == SPECS["mistral"].ttls["implicit"] is None


def test_usage_reads_either_cached_counter():
    a = from_mistral({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 64}})
    b = from_mistral({"prompt_tokens": 100, "completion_tokens": 5, "num_cached_tokens": 64})
    assert (a.cache_read, a.uncached, a.cache_write) == (b.cache_read, b.uncached, b.cache_write) == (64, 36, {})
    unknown = from_mistral({"prompt_tokens": 100, "completion_tokens": 5})
    assert unknown.cache_read is None and unknown.uncached is None  # never guessed


@pytest.mark.parametrize("retention", ["short", "none"])
def test_team_payload_usage_and_cost(team, msim, retention):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=msim.url + "/mistral/v1", api_key="mk", retention=retention)
    seen: list = []
    keys = set()
    for n, agent in enumerate(AGENTS * 2):
        reply = client.complete(team[agent].bind().render(file="f.py", query=f"q{n}"), max_tokens=16)
        p = msim.requests[-1]["payload"]
        assert problems(CompletionCreateParamsNonStreaming, p) == []
        key = p.get("prompt_cache_key")
        keys.add(key)
        server = xai_api.server_for(key, n)
        blocks = wire_blocks(tok, p)
        hit = max((common_prefix_tokens(blocks, b) for s, b in seen if s == server), default=0)
        seen.append((server, blocks))
        total = sum(t for t, _ in blocks)
        assert (reply.usage.cache_read, reply.usage.uncached) == (hit, total - hit)
        assert reply.cost == pytest.approx(genai_cost(TARGET, uncached=total - hit, cache_read=hit,
                                                      output=reply.usage.output), rel=1e-9)
        if retention == "short" and n > 0:
            assert hit > 0
    assert (keys == {None}) == (retention == "none") and len(keys) == 1


def test_a_stream_ends_with_usage_without_stream_options(team, msim):
    client = Client(TARGET, base_url=msim.url + "/mistral/v1", api_key="mk")
    req = team["docs"].bind().render(file="f.py", query="q")
    events = list(client.stream(req, max_tokens=16))
    p = msim.requests[-1]["payload"]
    assert p.get("stream") is True and "stream_options" not in p
    done = events[-1]
    assert done.type == "done" and "".join(e.text for e in events[:-1]) == done.reply.text
    assert done.reply.usage.cache_read == 0 and done.reply.usage.uncached > 0  # usage came in the last chunk


def test_simulate_row_promptc_beats_the_naive_default(team):
    (row,) = simulate(small_day(team), [TARGET], config=RuntimeConfig())
    assert row.tallies["promptc"].cost < row.tallies["naive"].cost
