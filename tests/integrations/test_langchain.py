"""LangChain (langchain-anthropic, langchain-openai) driven for real against the simulator: the markers
the plan placed reach the wire, turn 2 reads the cache, and usage maps back to promptc's Usage.

RECORDED is what each pinned framework version does to the payload promptc builds; a new version that
drops (or adds) a field changes the observed diff and fails test_*_three_turns until someone looks."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from promptc.integrations.langchain import to_langchain
from .conftest import diff, received

RECORDED = {
    "langchain-anthropic": {"version": "1.7.10", "dropped": set(), "changed": set(), "added": set()},
    # ChatOpenAI always sends `stream` (false); nothing promptc placed is dropped
    "langchain-openai": {"version": "1.8.1", "dropped": set(), "changed": set(), "added": {"stream"}},
    # ChatBedrockConverse passes the Converse blocks through: botocore sends exactly promptc's body
    "langchain-aws": {"version": "1.9.1", "dropped": set(), "changed": set(), "added": set()},
}
BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize("package", sorted(RECORDED))
def test_the_pinned_version_is_installed(package):
    assert version(package) == RECORDED[package]["version"]


def test_langchain_anthropic_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        lc = to_langchain(req, "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config,
                          max_tokens=32)
        n = len(sim.requests)
        msg = lc.model(base_url=sim.url, api_key="sk-ant-sim", max_retries=0).invoke(lc.messages)
        sent = received(sim, n)
        rec = RECORDED["langchain-anthropic"]
        assert diff(sent, lc.sdk.kwargs) == {k: rec[k] for k in ("dropped", "added", "changed")}
        blocks = sent["system"] + sent.get("tools", []) + [b for m in sent["messages"] for b in m["content"]]
        marks = [b["cache_control"] for b in blocks if "cache_control" in b]
        assert marks == [{"type": "ephemeral", "ttl": "1h"}] * len(lc.sdk.marks) and marks
        usage = lc.usage(msg)
        details = msg.usage_metadata["input_token_details"]  # LangChain's own mapping, the oracle
        assert usage.cache_read == details["cache_read"]
        assert usage.cache_write.get("1h", 0) == details["ephemeral_1h_input_tokens"]
        assert usage.uncached + usage.cache_read + sum(usage.cache_write.values()) == msg.usage_metadata["input_tokens"]
        assert lc.cost(msg).total > 0
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_langchain_openai_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        lc = to_langchain(req, "openai/gpt-5.6", retention="long", tenant="acme", config=low_min_config,
                          max_tokens=32)
        n = len(sim.requests)
        msg = lc.model(base_url=sim.url + "/v1", api_key="sk-sim", max_retries=0).invoke(lc.messages)
        sent = received(sim, n)
        rec = RECORDED["langchain-openai"]
        assert diff(sent, lc.sdk.kwargs) == {k: rec[k] for k in ("dropped", "added", "changed")}
        assert sent["prompt_cache_key"] == lc.sdk.cache_key and sent["prompt_cache_options"]
        points = [p["prompt_cache_breakpoint"] for m in sent["messages"] if isinstance(m["content"], list)
                  for p in m["content"] if "prompt_cache_breakpoint" in p]
        assert points == [{"mode": "explicit", "ttl": "12h"}] * len(lc.sdk.marks) and points
        usage = lc.usage(msg)
        assert usage.cache_read == msg.usage_metadata["input_token_details"]["cache_read"]
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_langchain_aws_bedrock_converse_three_turns(sim, turns, low_min_config, aws_sim_env):
    reads = []
    for req in turns:
        lc = to_langchain(req, BEDROCK, retention="long", config=low_min_config, max_tokens=32)
        n = len(sim.requests)
        msg = lc.model(endpoint_url=sim.url, region_name="us-west-2", **aws_sim_env).invoke(lc.messages)
        sent, built = received(sim, n), lc.sdk.wire.payload  # the body promptc's own client sends
        rec = RECORDED["langchain-aws"]
        assert diff(sent, built) == {k: rec[k] for k in ("dropped", "added", "changed")}
        assert sent == built
        blocks = sent["system"] + sent["toolConfig"]["tools"] + [b for m in sent["messages"] for b in m["content"]]
        points = [b["cachePoint"] for b in blocks if "cachePoint" in b]
        assert points == [{"type": "default", "ttl": "1h"}] * len(lc.sdk.marks) and points
        usage = lc.usage(msg)
        meta = msg.usage_metadata  # langchain-aws's own mapping of the Converse usage, the oracle
        details = meta["input_token_details"]
        assert usage.cache_read == details["cache_read"]
        assert usage.cache_write.get("1h", 0) == details.get("ephemeral_1h_input_tokens", 0)
        assert usage.uncached + usage.cache_read + sum(usage.cache_write.values()) == meta["input_tokens"]
        assert lc.cost(msg).total > 0
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_other_targets_are_refused_with_the_reason(turns):
    with pytest.raises(ValueError, match="anthropic/\\*, openai/\\* and bedrock/\\*.*google-genai < 3"):
        to_langchain(turns[0], "gemini/gemini-2.5-flash")
