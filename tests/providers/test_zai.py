"""Z.ai (GLM) over loopback HTTP: implicit caching, nothing cache-related on the wire, OpenAI-shaped usage,
genai-prices' cost, the spec's facts in the simulator, and the `promptc simulate` row.

Expected hits are computed here from the payloads the simulator received: the longest run of identical
leading blocks (tool definitions, message contents) shared with an earlier request of the same key and
model — Z.ai publishes no minimum or block size, and the simulator matches at block boundaries."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from promptc.core.providers import SPECS, limits_for, parse_target
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator
from promptc.runtime.sim import zai_api
from promptc.runtime.simulate import simulate
from promptc.tokenizers import load_tokenizer

from .chat_compat import AGENTS, common_prefix_tokens, genai_cost, small_day, wire_blocks
from .test_sdk_conformance import problems

TARGET = "zai/glm-5.3"


@pytest.fixture(scope="module")
def zsim():
    with Simulator() as s:
        yield s


def test_spec_facts_and_the_simulator_agree():
    t = parse_target(TARGET)
    assert (t.tokenizer, t.tokenizer_exact) == ("o200k_base", False)
    assert limits_for(TARGET).mode == "automatic" and limits_for(TARGET).min_tokens is None
    assert zai_api.TTL_S == SPECS["zai"].ttls["implicit"] is None  # no lifetime published


def test_team_three_agents_payload_usage_and_cost(team, zsim):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=zsim.url + "/zai/api/paas/v4", api_key="zai-key-1", retention="long")
    seen: list = []
    for turn in range(2):
        for agent in AGENTS:
            req = team[agent].bind().render(file="api/users.py", query=f"turn {turn}: {agent}?")
            reply = client.complete(req, max_tokens=32)
            sent = zsim.requests[-1]
            assert sent["path"] == "/zai/api/paas/v4/chat/completions"
            p = sent["payload"]
            assert set(p) == {"model", "messages", "max_tokens", "tools"}  # no cache field: caching is implicit
            assert problems(CompletionCreateParamsNonStreaming, p) == []
            blocks = wire_blocks(tok, p)
            hit = max((common_prefix_tokens(blocks, old) for old in seen), default=0)
            seen.append(blocks)
            total = sum(n for n, _ in blocks)
            u = reply.usage
            assert (u.cache_read, u.uncached, u.cache_write) == (hit, total - hit, {})
            if turn == 0 and agent != "backend":  # tools + rules are shared by the three agents
                assert hit > 0
            assert reply.cost == pytest.approx(genai_cost(TARGET, uncached=u.uncached, cache_read=hit,
                                                          output=u.output), rel=1e-9)


def test_official_sdk_parses_the_reply(team, zsim):
    import httpx

    payload = Client(TARGET, api_key="k").build(team["docs"].bind().render(file="a", query="q"), max_tokens=8).payload
    r = httpx.post(zsim.url + "/zai/api/paas/v4/chat/completions", json=payload,
                   headers={"authorization": "Bearer k"})
    body = ChatCompletion.model_validate(r.json())
    assert body.usage.prompt_tokens_details.cached_tokens is not None


def test_simulate_row_promptc_is_at_least_the_naive_default(team):
    (row,) = simulate(small_day(team), [TARGET], config=RuntimeConfig())
    naive, ours = row.tallies["naive"], row.tallies["promptc"]
    assert ours.cost is not None and ours.cost <= naive.cost + 1e-12
    assert ours.cache_read > 0
