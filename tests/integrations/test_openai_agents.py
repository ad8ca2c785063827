"""The OpenAI Agents SDK (OpenAIResponsesModel) driven for real against the simulator: the breakpoints,
prompt_cache_key and prompt_cache_options reach the wire, turn 2 reads the cache, and usage maps back to
promptc's Usage.

RECORDED is what the pinned SDK version does to the payload promptc builds (compared per top-level key);
a new version that drops, adds or rewrites a field fails until someone looks."""

from __future__ import annotations

import os
from importlib.metadata import version

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # never export traces (no network in tests)

import pytest  # noqa: E402
from agents import RunConfig, Runner  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from promptc.integrations.openai_agents import to_openai_agents  # noqa: E402
from .conftest import diff, received  # noqa: E402

PINNED = "0.24.0"
# the SDK always sends `include` (an empty list: the API's default); everything promptc placed arrives as built
RECORDED = {"dropped": set(), "added": {"include"}, "changed": set()}


def test_the_pinned_version_is_installed():
    assert version("openai-agents") == PINNED


def test_openai_agents_responses_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        oa = to_openai_agents(req, "openai/gpt-5.6", retention="long", tenant="acme", config=low_min_config,
                              max_tokens=32)
        client = AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-sim", max_retries=0)
        n = len(sim.requests)
        result = Runner.run_sync(oa.agent(openai_client=client), oa.input, run_config=RunConfig(tracing_disabled=True))
        sent = received(sim, n)
        assert diff(sent, oa.sdk.kwargs) == RECORDED and sent["include"] == []
        assert sent["prompt_cache_key"] == oa.sdk.cache_key and sent["prompt_cache_options"]
        points = [p["prompt_cache_breakpoint"] for m in sent["input"] for p in m["content"]
                  if "prompt_cache_breakpoint" in p]
        assert points == [{"mode": "explicit", "ttl": "12h"}] * len(oa.sdk.marks) and points
        usage = oa.usage(result)
        raw = result.raw_responses[-1].usage  # the SDK's own record, the oracle
        assert usage.cache_read == raw.input_tokens_details.cached_tokens
        assert usage.prompt == raw.input_tokens and usage.output == raw.output_tokens
        assert sum(usage.cache_write.values()) == raw.input_tokens_details.cache_write_tokens
        assert oa.cost(result).total > 0
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_other_targets_are_refused_with_the_reason(turns):
    with pytest.raises(ValueError, match="openai/\\*"):
        to_openai_agents(turns[0], "anthropic/claude-sonnet-4-5")
