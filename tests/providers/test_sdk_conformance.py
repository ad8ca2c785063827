"""Conformance with the official SDKs: every payload an adapter emits validates against the SDK's
request TypedDicts (with no key the SDK does not know), every simulator response validates
against the SDK's response models, and the official clients run against the simulator."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from anthropic.types import Message
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.responses import Response
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
import collections.abc
import types
import typing

from typing_extensions import NotRequired, Required, is_typeddict

from promptc.runtime.client import Client

AGENTS = ("backend", "frontend", "docs")
HISTORY = [{"role": "user", "content": "hello " * 300}, {"role": "assistant", "content": "hi " * 300}]


def problems(tp, value, path="$") -> list[str]:
    """Structural check of ``value`` against an SDK type: TypedDicts (required keys present, no key
    the SDK does not declare), unions, literals, lists/iterables, dicts and scalars. (pydantic's
    TypeAdapter validates the SDK's ``Iterable[...]`` fields lazily, so it cannot see inside them.)"""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (typing.Any, object):
        return []
    wrapper = getattr(origin, "__name__", "") in ("Required", "NotRequired", "Annotated")
    if origin in (Required, NotRequired, typing.Annotated) or (origin is not None and wrapper):
        return problems(args[0], value, path)
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {tp.__name__}"]
        hints = typing.get_type_hints(tp, include_extras=True)
        out = [f"{path}.{k}: not a field of {tp.__name__}" for k in value if k not in hints]
        # the SDK's modules use `from __future__ import annotations`, so Required[...] is only visible in the hints
        required = {k for k, h in hints.items() if typing.get_origin(h) is Required} | {
            k for k in tp.__required_keys__ if typing.get_origin(hints.get(k)) is not NotRequired}
        out += [f"{path}.{k}: required by {tp.__name__}" for k in sorted(required) if k not in value]
        for k, v in value.items():
            if k in hints:
                out += problems(hints[k], v, f"{path}.{k}")
        return out
    if origin in (typing.Union, types.UnionType):
        results = [problems(a, value, path) for a in args]
        return [] if any(not r for r in results) else min(results, key=len)
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} not in {args}"]
    if origin in (list, collections.abc.Iterable, collections.abc.Sequence):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, v in enumerate(value) for p in problems(args[0] if args else typing.Any, v, f"{path}[{i}]")]
    if origin in (dict, collections.abc.Mapping):
        return [] if isinstance(value, dict) else [f"{path}: expected an object"]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null"]
    if tp is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number"]
    if tp is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    if isinstance(tp, type):
        return [] if isinstance(value, tp) else [f"{path}: expected {tp.__name__}"]
    return []


def assert_conforms(params_type, payload):
    assert problems(params_type, payload) == []


def test_the_checker_catches_unknown_and_missing_keys():
    ok = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    assert problems(MessageCreateParamsNonStreaming, ok) == []
    bad = {**ok, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_ctrl": {}}]}]}
    assert problems(MessageCreateParamsNonStreaming, bad)
    assert problems(MessageCreateParamsNonStreaming, {"model": "m", "messages": []})  # no max_tokens


def requests(team, support):
    out = [team[a].bind().render(file="f.py", query="q") for a in AGENTS]
    out.append(support.bind(customer={"name": "Ada", "plan": "enterprise", "open_tickets": 0})
               .render(question="Refund?", history=HISTORY))
    return out


@pytest.mark.parametrize("retention", ["none", "short", "long"])
def test_anthropic_payloads_conform(team, support, low_min_config, retention):
    c = Client("anthropic/claude-sonnet-4-5", api_key="k", retention=retention, config=low_min_config)
    for req in requests(team, support):
        call = c.build(req, max_tokens=100)
        assert_conforms(MessageCreateParamsNonStreaming, call.payload)
        assert len([1 for s in ("1h", "5m") for _ in range(str(call.payload).count(f"'ttl': '{s}'"))]) <= 4


@pytest.mark.parametrize("target,retention", [("openai/gpt-5.6", "short"), ("openai/gpt-5.6", "long"),
                                              ("openai/gpt-5.6", "none"), ("openai/gpt-5", "short"),
                                              ("openai/gpt-4.1", "long")])
def test_openai_payloads_conform(team, support, low_min_config, target, retention):
    chat = Client(target, api_key="k", retention=retention, config=low_min_config)
    resp = Client(target, api="responses", api_key="k", retention=retention, config=low_min_config)
    for req in requests(team, support):
        assert_conforms(CompletionCreateParamsNonStreaming, chat.build(req, max_tokens=50).payload)
        assert_conforms(ResponseCreateParamsNonStreaming, resp.build(req, max_tokens=50).payload)


def test_official_anthropic_client_against_the_simulator(team, sim, low_min_config):
    """The SDK sends our payload and parses the simulator's answers, streamed or not, as real ones."""
    payload = Client("anthropic/claude-sonnet-4-5", api_key="k", retention="long",
                     config=low_min_config).build(team["backend"].bind().render(file="a", query="q"),
                                                  max_tokens=64).payload
    sdk = anthropic.Anthropic(base_url=sim.url, api_key="sk-ant-sim", max_retries=0)
    first = sdk.messages.create(**payload)
    second = sdk.messages.create(**payload)
    assert isinstance(first, Message) and first.usage.cache_creation.ephemeral_1h_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    with sdk.messages.stream(**payload) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text and final.usage.cache_read_input_tokens > 0
    Message.model_validate(httpx_json(sim.url + "/v1/messages", payload, {"x-api-key": "k"}))


def test_official_openai_client_against_the_simulator(team, sim, low_min_config):
    req = team["docs"].bind().render(file="a", query="q")
    chat_payload = Client("openai/gpt-5.6", api_key="k", config=low_min_config).build(req, max_tokens=32).payload
    sdk = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-sim", max_retries=0)
    sdk.chat.completions.create(**chat_payload)
    again = sdk.chat.completions.create(**chat_payload)
    assert isinstance(again, ChatCompletion) and again.usage.prompt_tokens_details.cached_tokens > 0
    chunks = list(sdk.chat.completions.create(**chat_payload, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    ChatCompletion.model_validate(httpx_json(sim.url + "/v1/chat/completions", chat_payload,
                                             {"authorization": "Bearer k"}))
    resp_payload = Client("openai/gpt-5.6", api="responses", api_key="k",
                          config=low_min_config).build(req, max_tokens=32).payload
    sdk.responses.create(**resp_payload)
    r = sdk.responses.create(**resp_payload)
    assert isinstance(r, Response) and r.output_text.startswith("Simulated openai reply")
    assert r.usage.input_tokens_details.cached_tokens > 0
    with sdk.responses.stream(**resp_payload) as stream:
        final = stream.get_final_response()
    assert final.output_text == r.output_text
    Response.model_validate(httpx_json(sim.url + "/v1/responses", resp_payload, {"authorization": "Bearer k"}))


def httpx_json(url, payload, headers):
    import httpx

    r = httpx.post(url, json=payload, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# -- issue 20 wire fixes, checked against the official SDK types -----------------------------------------------------
def _breakpoints(payload):
    parts = [p for m in payload.get("messages") or payload.get("input") or [] if isinstance(m.get("content"), list)
             for p in m["content"]]
    return [p["prompt_cache_breakpoint"] for p in parts if "prompt_cache_breakpoint" in p]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_gpt56_long_retention_is_a_12h_breakpoint_ttl_not_the_deprecated_retention(team, low_min_config, api):
    """`long` on gpt-5.6 buys the 12h lifetime through `prompt_cache_breakpoint.ttl` (the request-level
    `prompt_cache_options.ttl` takes "30m" only in Chat Completions); the deprecated `prompt_cache_retention`
    is never sent, and `short` stays at the 30m default — so long and short no longer buy the same lifetime."""
    req = team["backend"].bind().render(file="a", query="q")
    long_ = Client("openai/gpt-5.6", api=api, api_key="k", retention="long", config=low_min_config).build(req).payload
    short = Client("openai/gpt-5.6", api=api, api_key="k", retention="short", config=low_min_config).build(req).payload
    for payload in (long_, short):
        assert "prompt_cache_retention" not in payload
        assert payload["prompt_cache_options"]["ttl"] == "30m"
        assert_conforms(CompletionCreateParamsNonStreaming if api == "chat" else ResponseCreateParamsNonStreaming,
                        payload)
    assert _breakpoints(long_) and all(b == {"mode": "explicit", "ttl": "12h"} for b in _breakpoints(long_))
    assert _breakpoints(short) and all(b == {"mode": "explicit"} for b in _breakpoints(short))


def test_official_openai_sdk_parses_responses_usage_of_every_model(team, sim, low_min_config):
    """`input_tokens_details.cache_write_tokens` is required in the SDK's Responses type: the simulator sends it
    for models before gpt-5.6 too (0: they write nothing)."""
    from openai.types.responses.response_usage import InputTokensDetails

    req = team["docs"].bind().render(file="a", query="q")
    for target in ("openai/gpt-5.4", "openai/gpt-4.1", "openai/gpt-5.6"):
        payload = Client(target, api="responses", api_key="k", config=low_min_config).build(req, max_tokens=16).payload
        body = httpx_json(sim.url + "/v1/responses", payload, {"authorization": "Bearer k"})
        details = body["usage"]["input_tokens_details"]
        InputTokensDetails.model_validate(details)  # raises without cache_write_tokens
        assert Response.model_validate(body).usage.input_tokens_details.cache_write_tokens == details["cache_write_tokens"]


def test_official_openrouter_sdk_parses_the_simulators_replies(team, sim):
    """The official `openrouter` SDK's typed models accept every simulator reply, streamed or not
    (`system_fingerprint` is required there), and chat usage carries no `cache_discount`."""
    import json

    import httpx
    from openrouter.components import ChatResult, ChatStreamChunk

    from promptc.runtime.config import RuntimeConfig

    config = RuntimeConfig.from_dict({"cache_limits": {"openrouter/": {"min_tokens": 256}}})
    req = team["backend"].bind().render(file="a", query="q")
    for model in ("anthropic/claude-sonnet-4.5", "openai/gpt-5.6", "google/gemini-2.5-pro", "deepseek/deepseek-chat"):
        payload = Client(f"openrouter/{model}", api_key="k", config=config).build(req, max_tokens=16).payload
        body = httpx_json(sim.url + "/openrouter/api/v1/chat/completions", payload, {"authorization": "Bearer k"})
        result = ChatResult.model_validate(body)
        assert result.usage is not None and "cache_discount" not in body["usage"]
        with httpx.stream("POST", sim.url + "/openrouter/api/v1/chat/completions", json={**payload, "stream": True},
                          headers={"authorization": "Bearer k"}) as r:
            datas = [line[6:] for line in r.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
        assert datas and all(ChatStreamChunk.model_validate(json.loads(d)) for d in datas)


@pytest.mark.parametrize("target,suffix", [("deepseek/deepseek-v4-flash", "/deepseek"),
                                           ("moonshot/kimi-k2.5", "/moonshot/v1")])
def test_official_openai_sdk_parses_openai_compatible_replies(team, sim, target, suffix):
    """DeepSeek and Moonshot speak OpenAI's Chat Completions: the openai SDK's typed model parses their replies."""
    req = team["docs"].bind().render(file="a", query="q")
    payload = Client(target, api_key="k").build(req, max_tokens=16).payload
    ChatCompletion.model_validate(httpx_json(sim.url + suffix + "/chat/completions", payload,
                                             {"authorization": "Bearer k"}))


def _required_present(shape, value, path="$") -> list[str]:
    """Members botocore's output shape marks required that the parsed value lacks (recursively)."""
    out: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value:
                out.append(f"{path}.{name}")
        for name, member in shape.members.items():
            if name in value:
                out += _required_present(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            out += _required_present(shape.member, v, f"{path}[{i}]")
    return out


def test_botocore_parses_the_simulators_converse_reply(team, monkeypatch, tmp_path):
    """botocore's own rest-json parser and the bedrock-runtime service model read the simulator's Converse
    answer, with every member the model marks required."""
    import botocore.parsers
    import botocore.session

    from promptc.runtime.sim import Simulator
    from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

    key_id = next(iter(SIM_AWS_CREDENTIALS))
    for var, value in (("AWS_ACCESS_KEY_ID", key_id), ("AWS_SECRET_ACCESS_KEY", SIM_AWS_CREDENTIALS[key_id]),
                       ("AWS_REGION", "us-west-2"), ("AWS_CONFIG_FILE", str(tmp_path / "none")),
                       ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none")), ("AWS_EC2_METADATA_DISABLED", "true")):
        monkeypatch.setenv(var, value)
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(var, raising=False)
    op = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")
    parser = botocore.parsers.create_parser("rest-json")
    with Simulator() as s, Client("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", base_url=s.url) as c:
        reply = c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=16)
    body = json.dumps(reply.raw).encode()
    parsed = parser.parse({"status_code": 200, "headers": {}, "body": body}, op.output_shape)
    assert "Error" not in parsed and parsed["usage"]["inputTokens"] == reply.raw["usage"]["inputTokens"]
    assert _required_present(op.output_shape, {k: v for k, v in parsed.items() if k != "ResponseMetadata"}) == []
