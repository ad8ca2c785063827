"""LiteLLM driven for real against the simulator: the plan's cache_control / prompt_cache_key reach
the wire through LiteLLM's translation, turn 2 reads the cache, usage maps back to promptc's Usage.

RECORDED is what the pinned LiteLLM does to the payload promptc builds (compared per top-level key);
a new version that drops, adds or rewrites a field fails until someone looks."""

from __future__ import annotations

import os
from importlib.metadata import version

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price list at import

import litellm  # noqa: E402
import pytest  # noqa: E402

from promptc.integrations.litellm import to_litellm  # noqa: E402
from .conftest import diff, received  # noqa: E402

PINNED = "1.110.2"
RECORDED = {
    # LiteLLM rebuilds Anthropic tools from the OpenAI function format and adds `"type": "custom"` to each
    # (valid Anthropic; the tools' cache_control survives); every other block is sent as promptc built it
    "anthropic": {"dropped": set(), "added": set(), "changed": {"tools"}},
    "openai": {"dropped": set(), "added": set(), "changed": set()},
    "bedrock": {"dropped": set(), "added": set(), "changed": set()},
    # LiteLLM joins the systemInstruction parts into one part (same text, same order) and rewrites each
    # function declaration's parametersJsonSchema as an OpenAPI-subset `parameters`; contents as built
    "gemini": {"dropped": set(), "added": set(), "changed": {"systemInstruction", "tools"}},
}
BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_the_pinned_version_is_installed():
    assert version("litellm") == PINNED


def test_litellm_anthropic_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        ll = to_litellm(req, "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config, max_tokens=32)
        n = len(sim.requests)
        reply = litellm.completion(**ll.kwargs, api_base=sim.url, api_key="sk-ant-sim", num_retries=0)
        sent, built = received(sim, n), ll.sdk.kwargs
        assert diff(sent, built) == RECORDED["anthropic"]
        assert [{k: v for k, v in t.items() if k != "type"} for t in sent["tools"]] == built["tools"]
        assert {t["type"] for t in sent["tools"]} == {"custom"}
        blocks = sent["system"] + sent["tools"] + [b for m in sent["messages"] for b in m["content"]]
        marks = [b["cache_control"] for b in blocks if "cache_control" in b]
        assert marks == [{"type": "ephemeral", "ttl": "1h"}] * len(ll.sdk.marks) and marks
        usage = ll.usage(reply)
        assert usage.cache_read == reply.usage.cache_read_input_tokens
        assert sum(usage.cache_write.values()) == reply.usage.cache_creation_input_tokens
        assert usage.uncached + usage.cache_read + sum(usage.cache_write.values()) == reply.usage.prompt_tokens
        assert ll.cost(reply).total > 0
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_litellm_openai_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        ll = to_litellm(req, "openai/gpt-5.6", retention="long", tenant="acme", config=low_min_config, max_tokens=32)
        n = len(sim.requests)
        reply = litellm.completion(**ll.kwargs, api_base=sim.url + "/v1", api_key="sk-sim", num_retries=0)
        sent = received(sim, n)
        assert diff(sent, ll.sdk.kwargs) == RECORDED["openai"]
        assert sent["prompt_cache_key"] == ll.sdk.cache_key
        points = [p["prompt_cache_breakpoint"] for m in sent["messages"] if isinstance(m["content"], list)
                  for p in m["content"] if "prompt_cache_breakpoint" in p]
        assert points == [{"mode": "explicit", "ttl": "12h"}] * len(ll.sdk.marks) and points
        usage = ll.usage(reply)
        assert usage.cache_read == reply.usage.prompt_tokens_details.cached_tokens
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_litellm_bedrock_three_turns(sim, turns, low_min_config, aws_sim_env):
    reads = []
    for req in turns:
        ll = to_litellm(req, BEDROCK, config=low_min_config, max_tokens=32)
        assert ll.kwargs["model"] == "bedrock/converse/" + BEDROCK.split("/", 1)[1]
        n = len(sim.requests)
        reply = litellm.completion(**ll.kwargs, aws_bedrock_runtime_endpoint=sim.url, aws_region_name="us-west-2",
                                   num_retries=0, **aws_sim_env)
        sent, built = received(sim, n), ll.sdk.wire.payload  # the body botocore would send for promptc
        assert sim.requests[n]["path"] == f"/model/{BEDROCK.split('/', 1)[1]}/converse"
        assert diff(sent, built) == RECORDED["bedrock"]
        assert sent == built  # every block, cachePoints included, exactly as promptc built the body
        points = [i for i, b in enumerate(sent["system"]) if "cachePoint" in b]
        assert points == [i for i, b in enumerate(built["system"]) if "cachePoint" in b] and points
        usage = ll.usage(reply)
        assert usage.cache_read == reply.usage.cache_read_input_tokens
        assert sum(usage.cache_write.values()) == (reply.usage.cache_creation_input_tokens or 0)
        assert usage.uncached + usage.cache_read + sum(usage.cache_write.values()) == reply.usage.prompt_tokens
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_litellm_gemini_three_turns(sim, turns, low_min_config):
    from promptc.runtime.sim.gemini_api import proto_json

    reads = []
    for req in turns:
        ll = to_litellm(req, "gemini/gemini-2.5-flash", config=low_min_config, max_tokens=32)
        n = len(sim.requests)
        reply = litellm.completion(**ll.kwargs, api_base=sim.url + "/v1beta", api_key="sim-key", num_retries=0)
        sent, built = proto_json(received(sim, n)), proto_json(ll.sdk.wire.payload)
        assert sim.requests[n]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert diff(sent, built) == RECORDED["gemini"]
        # LiteLLM joins the system parts into one; the prefix's bytes are promptc's, in promptc's order
        assert [p["text"] for p in sent["systemInstruction"]["parts"]] == \
            ["".join(p["text"] for p in built["systemInstruction"]["parts"])]
        assert sent["contents"] == built["contents"]
        assert [f["name"] for t in sent["tools"] for f in t["functionDeclarations"]] == \
            [f["name"] for t in built["tools"] for f in t["functionDeclarations"]]
        usage = ll.usage(reply)
        assert usage.cache_read == (reply.usage.prompt_tokens_details.cached_tokens or 0)
        assert usage.uncached + usage.cache_read == reply.usage.prompt_tokens
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] > 0


def test_other_targets_are_refused_with_the_reason(turns):
    with pytest.raises(ValueError, match="anthropic/\\*, openai/\\*, bedrock/\\* and gemini/\\*"):
        to_litellm(turns[0], "deepseek/deepseek-chat")
