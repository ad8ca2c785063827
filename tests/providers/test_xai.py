"""xAI (Grok) over loopback HTTP: automatic caching per server, ``x-grok-conv-id`` pinning a conversation
to one server, OpenAI-shaped usage, genai-prices' cost and the `promptc simulate` row.

Expected hits are computed here from the payloads received and the server each request was sent to
(the header's hash, or round robin without one: the simulator's documented model of xAI's routing)."""

from __future__ import annotations

import httpx
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.xai import CONV_HEADER
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator
from promptc.runtime.sim import xai_api
from promptc.runtime.simulate import simulate
from promptc.runtime.simulate.rules import RULES
from promptc.tokenizers import load_tokenizer

from .chat_compat import AGENTS, common_prefix_tokens, genai_cost, small_day, wire_blocks
from .test_sdk_conformance import problems

TARGET = "xai/grok-4.7"


@pytest.fixture()
def xsim():
    with Simulator() as s:
        yield s


def test_spec_facts_and_the_simulator_agree():
    assert xai_api.TTL_S == SPECS["xai"].ttls["implicit"] is None
    assert limits_for(TARGET).mode == "automatic" and limits_for(TARGET).max_breakpoints == 0
    assert RULES["xai"].ttl("grok-4.7", "long")[0] == "implicit"


def _run(team, sim, retention):
    tok = load_tokenizer("o200k_base")
    client = Client(TARGET, base_url=sim.url + "/xai/v1", api_key="xai-k", retention=retention)
    seen: list = []
    out = []
    for n, agent in enumerate(AGENTS * 2):
        req = team[agent].bind().render(file="api/users.py", query=f"turn {n}")
        reply = client.complete(req, max_tokens=16)
        sent = sim.requests[-1]
        assert problems(CompletionCreateParamsNonStreaming, sent["payload"]) == []
        conv = sent["headers"].get(CONV_HEADER)
        server = xai_api.server_for(conv, n)
        blocks = wire_blocks(tok, sent["payload"])
        hit = max((common_prefix_tokens(blocks, b) for s, b in seen if s == server), default=0)
        seen.append((server, blocks))
        total = sum(t for t, _ in blocks)
        assert (reply.usage.cache_read, reply.usage.uncached, reply.usage.cache_write) == (hit, total - hit, {})
        assert reply.cost == pytest.approx(genai_cost(TARGET, uncached=total - hit, cache_read=hit,
                                                      output=reply.usage.output), rel=1e-9)
        out.append((conv, hit))
    return out


def test_one_conversation_id_for_sibling_agents_pins_them_to_the_server_with_the_shared_prefix(team, xsim):
    got = _run(team, xsim, "short")
    convs = {c for c, _ in got}
    assert len(convs) == 1 and None not in convs  # the shared prefix's key: all three agents, one server
    assert all(hit > 0 for _, hit in got[1:])


def test_without_an_id_requests_spread_over_servers_and_miss(team, xsim):
    got = _run(team, xsim, "none")
    assert {c for c, _ in got} == {None}
    assert [hit for _, hit in got[:xai_api.SERVERS]] == [0] * xai_api.SERVERS  # each lands on a fresh server


def test_official_sdk_parses_the_reply(team, xsim):
    call = Client(TARGET, api_key="k").build(team["docs"].bind().render(file="a", query="q"), max_tokens=8)
    assert set(call.headers) == {CONV_HEADER}
    r = httpx.post(xsim.url + "/xai/v1/chat/completions", json=call.payload,
                   headers={"authorization": "Bearer k", **call.headers})
    assert ChatCompletion.model_validate(r.json()).usage.prompt_tokens_details.cached_tokens == 0


def test_simulate_row_promptc_beats_the_naive_default(team):
    (row,) = simulate(small_day(team), [TARGET], config=RuntimeConfig())
    naive, ours = row.tallies["naive"], row.tallies["promptc"]
    assert ours.cost < naive.cost and ours.cache_read > naive.cache_read


@pytest.mark.parametrize("path", ["/zai/api/paas/v4/chat/completions", "/dashscope/compatible-mode/v1/chat/completions",
                                  "/xai/v1/chat/completions", "/mistral/v1/chat/completions",
                                  "/minimax/anthropic/v1/messages",
                                  "/vertex/v1/projects/p/locations/global/publishers/anthropic/models/m:rawPredict"])
@pytest.mark.parametrize("body", [[], {"model": "m"}, {"model": "m", "messages": "hi", "max_tokens": 1},
                                  {"model": "m", "messages": [7], "max_tokens": 1},
                                  {"model": "m", "messages": [{"role": "user", "content": [3]}], "max_tokens": 1},
                                  {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1,
                                   "tools": "nope", "prompt_cache_key": 5}])
def test_malformed_bodies_are_a_400_on_the_issue_26_routes(path, body):
    """The simulator's routes of the issue-26 providers answer a malformed request as the APIs do (400), never 500."""
    from starlette.testclient import TestClient

    from promptc.runtime.sim import SimApp

    r = TestClient(SimApp().app).post(path, json=body, headers={"authorization": "Bearer k", "x-api-key": "k"})
    assert r.status_code == 400, (path, body, r.status_code, r.text[:200])
