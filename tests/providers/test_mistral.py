"""Mistral over loopback HTTP: ``prompt_cache_key`` (one for sibling agents), prefix caching per server,
usage (both cached-token spellings), streaming, genai-prices' cost and the `promptc simulate` row; the
official ``mistralai`` SDK (3.7.0) takes promptc's payload as its typed request and, driven at the
simulator, sends ``prompt_cache_key`` and reads the simulator's reply with its own models.

Expected hits are computed here from the payloads received and the server each one went to (the key's
hash, or round robin without one: the simulator's model of "increases the chance of a cache hit")."""

from __future__ import annotations

import pytest
from mistralai.client import Mistral
from mistralai.client.models import ChatCompletionRequest, SystemMessage, Tool, UserMessage
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


def test_the_official_mistral_sdk_takes_the_payload_and_reads_the_reply(team, msim):
    client = Client(TARGET, base_url=msim.url + "/mistral/v1", api_key="mk")
    request = team["backend"].bind().render(file="f.py", query="q")
    payload = client.build(request).payload
    # promptc's payload is the SDK's typed request: every field it sends is one the SDK declares
    typed = ChatCompletionRequest.model_validate(payload)
    assert set(payload) <= set(ChatCompletionRequest.model_fields) and not typed.model_extra
    assert [type(m) for m in typed.messages] == [SystemMessage, UserMessage]
    assert all(isinstance(t, Tool) for t in typed.tools) and typed.prompt_cache_key == payload["prompt_cache_key"]
    # the SDK's own client at the simulator: the same key on the wire, its reply parsed by the SDK's models
    sdk = Mistral(api_key="mk", server_url=msim.url + "/mistral")
    fields = {k: v for k, v in payload.items() if k != "model"}
    first = sdk.chat.complete(model=payload["model"], **fields)
    second = sdk.chat.complete(model=payload["model"], **fields)
    sent = msim.requests[-1]
    assert sent["path"] == "/mistral/v1/chat/completions"
    assert sent["payload"]["prompt_cache_key"] == payload["prompt_cache_key"]
    assert first.usage.model_extra["prompt_tokens_details"]["cached_tokens"] == 0
    assert second.usage.model_extra["prompt_tokens_details"]["cached_tokens"] == second.usage.prompt_tokens
    # promptc reads the SDK-parsed usage to the same numbers
    usage = from_mistral(second.usage.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert (usage.cache_read, usage.uncached) == (second.usage.prompt_tokens, 0)
    client.close()
