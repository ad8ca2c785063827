"""`promptc.to_sdk`: the official SDKs send promptc's payload, markers included, and turn 2 reads the cache.

Each SDK is the real package (pinned in the `test` extra) talking real HTTP to the simulator. The
oracle for "the markers reached the wire" is the body the simulator received over the socket (parsed
from the bytes the SDK sent), not the kwargs promptc produced; the oracle for usage is the SDK's own
parsed reply model."""

from __future__ import annotations

import anthropic
import openai
import pytest

from promptc.runtime.sdk import to_anthropic, to_bedrock, to_gemini, to_openai_chat, to_openai_responses, to_sdk
from .conftest import received


def strip(kwargs):
    return {k: v for k, v in kwargs.items() if k != "extra_headers"}


def cache_controls(payload):
    blocks = [b for b in payload.get("system", []) if isinstance(payload.get("system"), list)]
    blocks += payload.get("tools", [])
    blocks += [b for m in payload["messages"] if isinstance(m["content"], list) for b in m["content"]]
    return [b["cache_control"] for b in blocks if "cache_control" in b]


def test_anthropic_sdk_three_turns(sim, turns, low_min_config):
    sdk = anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-sim", max_retries=0)
    reads = []
    for i, req in enumerate(turns):
        call = to_anthropic(req, retention="long", config=low_min_config, max_tokens=64)
        assert call.sdk == "anthropic.messages.create" and call.marks
        n = len(sim.requests)
        reply = sdk.messages.create(**call.kwargs)
        wire = received(sim, n)
        assert wire == strip(call.kwargs)  # nothing dropped or added by the SDK
        assert cache_controls(wire) == [{"type": "ephemeral", "ttl": "1h"}] * len(call.marks)
        usage = call.usage(reply)
        assert usage.cache_read == reply.usage.cache_read_input_tokens
        assert sum(usage.cache_write.values()) == reply.usage.cache_creation_input_tokens
        assert usage.cache_write.get("1h", 0) == reply.usage.cache_creation.ephemeral_1h_input_tokens
        # Anthropic's published Claude Sonnet 4.5 prices (docs.claude.com pricing, read 2026-12): $3/MTok
        # input, $15 output, 1h cache writes 2x input, cache reads 0.1x input — over the SDK's own counts
        u = reply.usage
        expected = (u.input_tokens * 3.0 + u.cache_read_input_tokens * 0.3
                    + u.cache_creation.ephemeral_1h_input_tokens * 6.0 + u.output_tokens * 15.0) / 1e6
        assert call.cost(reply).total == pytest.approx(expected, rel=1e-9)
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0 and reads[2] >= reads[1]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_openai_sdk_three_turns(sim, turns, low_min_config, api):
    sdk = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-sim", max_retries=0)
    build = to_openai_chat if api == "chat" else to_openai_responses
    reads = []
    for req in turns:
        call = build(req, config=low_min_config, max_tokens=32, tenant="acme")
        n = len(sim.requests)
        if api == "chat":
            reply = sdk.chat.completions.create(**call.kwargs)
            cached = reply.usage.prompt_tokens_details.cached_tokens
        else:
            reply = sdk.responses.create(**call.kwargs)
            cached = reply.usage.input_tokens_details.cached_tokens
        wire = received(sim, n)
        assert wire == strip(call.kwargs)
        assert call.cache_key and wire["prompt_cache_key"] == call.cache_key
        items = wire.get("messages") or wire.get("input")
        points = [p for m in items if isinstance(m.get("content"), list) for p in m["content"]
                  if "prompt_cache_breakpoint" in p]
        assert len(points) == len(call.marks) > 0
        usage = call.usage(reply)
        assert usage.cache_read == cached
        reads.append(cached)
    assert reads[1] > 0 and reads[2] > 0


def test_gemini_sdk_three_turns(sim, turns, low_min_config):
    from google import genai

    from promptc.runtime.sim.gemini_api import proto_json

    client = genai.Client(api_key="sim-key", http_options={"base_url": sim.url})
    reads = []
    for req in turns:
        call = to_gemini(req, config=low_min_config, max_tokens=32)
        n = len(sim.requests)
        reply = client.models.generate_content(**call.kwargs)
        got = received(sim, n)
        assert proto_json(got) == proto_json(call.wire.payload)  # the adapter's body, as the SDK sent it
        usage = call.usage(reply)
        assert usage.cache_read == (reply.usage_metadata.cached_content_token_count or 0)
        reads.append(usage.cache_read)
    assert reads[1] > 0


def test_bedrock_botocore_three_turns(sim, turns, low_min_config, monkeypatch, tmp_path):
    import botocore.session

    from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

    key = next(iter(SIM_AWS_CREDENTIALS))
    for var, value in {"AWS_CONFIG_FILE": tmp_path / "c", "AWS_SHARED_CREDENTIALS_FILE": tmp_path / "k",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(var, str(value))
    rt = botocore.session.Session().create_client(
        "bedrock-runtime", region_name="us-west-2", endpoint_url=sim.url, aws_access_key_id=key,
        aws_secret_access_key=SIM_AWS_CREDENTIALS[key])
    reads = []
    for req in turns:
        call = to_bedrock(req, config=low_min_config, max_tokens=32)
        assert call.sdk == "bedrock-runtime.converse" and call.marks
        n = len(sim.requests)
        reply = rt.converse(**call.kwargs)
        got = received(sim, n)
        assert got == call.wire.payload  # botocore's serializer sent the adapter's body, cachePoints included
        points = [b for b in got["system"] + [b for m in got["messages"] for b in m["content"]] if "cachePoint" in b]
        assert len(points) == len(call.marks)
        usage = call.usage(reply)
        assert usage.cache_read == reply["usage"].get("cacheReadInputTokens", 0)
        reads.append(usage.cache_read)
    assert reads[0] == 0 and reads[1] > 0


def test_promptc_to_sdk_is_the_same_function():
    import promptc

    assert promptc.to_sdk is to_sdk


def test_to_sdk_is_client_build(turns, low_min_config):
    """The kwargs are the Client's wire payload (one build path), for every SDK-shaped provider."""
    from promptc.runtime.client import Client

    req = turns[0]
    for target, api in (("anthropic/claude-sonnet-4-5", None), ("openai/gpt-5.6", "responses")):
        built = Client(target, api=api, api_key="k", config=low_min_config).build(req, max_tokens=10).payload
        assert strip(to_sdk(req, target, api=api, config=low_min_config, max_tokens=10).kwargs) == built
