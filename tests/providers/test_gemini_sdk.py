"""Conformance with google-genai, the official Gemini SDK.

- Every payload the adapter and the cache manager emit validates against the SDK's pydantic types
  (which forbid unknown fields and accept the camelCase wire names): ``Content`` for each content and
  the system instruction, ``Tool`` for the tools, ``GenerationConfig``, and
  ``CreateCachedContentConfig`` for the ``cachedContents`` body.
- Given the same content through those types, the official client sends the same request to the
  simulator as the adapter does (field spelling normalized as a proto JSON parser reads it: the SDK
  spells some nested fields in snake_case).
- The simulator's responses parse as the SDK's response types, through the official client too
  (generate, stream, caches create/get/list/update/delete).
"""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import types

from promptc.runtime.client import Client
from promptc.runtime.sim.gemini_api import proto_json

from .gemini_helpers import MODEL, TARGET, _gsim_server, gcounter, gconfig, gsim  # noqa: F401

AGENTS = ("backend", "frontend", "docs")
HISTORY = [{"role": "user", "content": "hello " * 300}, {"role": "assistant", "content": "hi " * 300}]
_GENERATE = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "cachedContent",
             "safetySettings"}


def requests(team, support):
    out = [team[a].bind().render(file="f.py", query="q") for a in AGENTS]
    out.append(support.bind(customer={"name": "Ada", "plan": "enterprise", "open_tickets": 0})
               .render(question="Refund?", history=HISTORY))
    return out


def validate_generate(payload):
    """The generateContent body, field by field, against the SDK's types (extra fields forbidden)."""
    assert set(payload) <= _GENERATE, set(payload) - _GENERATE
    for c in payload["contents"]:
        types.Content.model_validate(c)
    if "systemInstruction" in payload:
        types.Content.model_validate(payload["systemInstruction"])
    for t in payload.get("tools", []):
        types.Tool.model_validate(t)
    types.GenerationConfig.model_validate(payload["generationConfig"])
    # the SDK's own request config takes the same values (its flattening of the request)
    types.GenerateContentConfig.model_validate({**payload["generationConfig"],
                                                **{k: payload[k] for k in ("systemInstruction", "tools",
                                                                           "cachedContent") if k in payload}})


def test_the_sdk_types_reject_what_they_do_not_know():
    with pytest.raises(Exception):
        types.Content.model_validate({"role": "user", "parts": [{"text": "x", "cache_control": {}}]})
    with pytest.raises(Exception):
        types.Tool.model_validate({"functionDeclarations": [{"name": "f", "input_schema": {}}]})


@pytest.mark.parametrize("retention", ["none", "short", "long"])
def test_generate_payloads_conform(team, support, gconfig, retention):
    c = Client(TARGET, api_key="k", retention=retention, config=gconfig)
    for req in requests(team, support):
        payload = c.build(req, max_tokens=100, temperature=0.2).payload
        validate_generate(payload)
        streamed = c.build(req, max_tokens=100, temperature=0.2, stream=True)
        assert streamed.path.endswith(":streamGenerateContent?alt=sse") and streamed.payload == payload


def test_cached_payloads_conform(team, support, gsim, gconfig, gcounter):
    gsim.sim.gemini_config(min_tokens={MODEL: 128})  # the support plan's prefix (static + session) is ~200 tokens
    c = Client(TARGET, base_url=gsim.url, api_key="k-conformance", config=gconfig, clock=gsim.clock,
               cache_objects={"gemini": {"mode": "explicit", "min_tokens": 128}})
    c.counter = gcounter
    for req in requests(team, support):
        c.complete(req, max_tokens=32)
        validate_generate(gsim.requests[-1]["payload"])
        assert "cachedContent" in gsim.requests[-1]["payload"]
    bodies = [r["payload"] for r in gsim.requests if r["path"] == "/v1beta/cachedContents"]
    assert len(bodies) == 4
    for body in bodies:
        config = {k: v for k, v in body.items() if k != "model"}
        types.CreateCachedContentConfig.model_validate(config)
        assert body["model"] == f"models/{MODEL}"


def test_official_client_sends_what_the_adapter_sends(team, support, gsim, gconfig, gcounter):
    sdk = genai.Client(api_key="k-sdk", http_options=types.HttpOptions(base_url=gsim.url, api_version="v1beta"))
    ours = Client(TARGET, base_url=gsim.url, api_key="k-sdk", config=gconfig, clock=gsim.clock,
                  cache_objects={"gemini": "explicit"})
    ours.counter = gcounter
    for req in requests(team, support):
        payload = ours.build(req, max_tokens=64).payload
        config = types.GenerateContentConfig.model_validate(
            {**payload["generationConfig"], **{k: payload[k] for k in ("systemInstruction", "tools") if k in payload}})
        reply = sdk.models.generate_content(model=MODEL, contents=[types.Content.model_validate(c)
                                                                   for c in payload["contents"]], config=config)
        sent = gsim.requests[-1]
        assert sent["path"] == f"/v1beta/models/{MODEL}:generateContent"
        assert proto_json(sent["payload"]) == proto_json(payload)
        assert proto_json(payload) == payload  # the adapter spells every field in lowerCamelCase
        assert isinstance(reply, types.GenerateContentResponse) and reply.text.startswith("Simulated gemini reply")
    # the cachedContents body: the official client's create sends the manager's body
    req = team["docs"].bind().render(file="f.py", query="q")
    ours.complete(req, max_tokens=8)
    body = next(r["payload"] for r in reversed(gsim.requests) if r["path"] == "/v1beta/cachedContents")
    created = sdk.caches.create(model=MODEL, config=types.CreateCachedContentConfig.model_validate(
        {k: v for k, v in body.items() if k != "model"}))
    assert proto_json(gsim.requests[-1]["payload"]) == proto_json(body)
    assert isinstance(created, types.CachedContent) and created.usage_metadata.total_token_count > 0


def test_official_client_parses_the_simulators_answers(team, gsim, gconfig):
    sdk = genai.Client(api_key="k-sdk", http_options=types.HttpOptions(base_url=gsim.url, api_version="v1beta"))
    payload = Client(TARGET, api_key="k", config=gconfig).build(team["backend"].bind().render(file="a", query="q"),
                                                               max_tokens=64).payload
    config = types.GenerateContentConfig.model_validate(
        {**payload["generationConfig"], "systemInstruction": payload["systemInstruction"], "tools": payload["tools"]})
    contents = [types.Content.model_validate(c) for c in payload["contents"]]
    first = sdk.models.generate_content(model=MODEL, contents=contents, config=config)
    second = sdk.models.generate_content(model=MODEL, contents=contents, config=config)
    assert first.usage_metadata.cached_content_token_count is None  # left out when zero, as Gemini does
    assert second.usage_metadata.cached_content_token_count == first.usage_metadata.prompt_token_count
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents=contents, config=config))
    assert "".join(ch.text or "" for ch in chunks) == first.text
    assert chunks[-1].usage_metadata.candidates_token_count == first.usage_metadata.candidates_token_count
    assert gsim.requests[-1]["query"] == {"alt": "sse"}
    # caches: create, get, list (paged), update, delete
    cache_config = types.CreateCachedContentConfig(system_instruction=payload["systemInstruction"],
                                                   tools=payload["tools"], display_name="sdk", ttl="300s")
    made = [sdk.caches.create(model=MODEL, config=cache_config) for _ in range(3)]
    assert sdk.caches.get(name=made[0].name).display_name == "sdk"
    assert sorted(c.name for c in sdk.caches.list(config={"page_size": 2})) == sorted(c.name for c in made)
    updated = sdk.caches.update(name=made[0].name, config=types.UpdateCachedContentConfig(ttl="600s"))
    assert (updated.expire_time - made[0].expire_time).total_seconds() == 300
    with_cache = sdk.models.generate_content(
        model=MODEL, contents="and then?", config=types.GenerateContentConfig(cached_content=made[0].name))
    assert with_cache.usage_metadata.cached_content_token_count == made[0].usage_metadata.total_token_count
    sdk.caches.delete(name=made[0].name)
    with pytest.raises(genai.errors.ClientError) as err:
        sdk.caches.get(name=made[0].name)
    assert err.value.code == 403 and err.value.status == "PERMISSION_DENIED"
    # the raw JSON, field by field: the SDK's response types forbid fields they do not declare
    h = {"x-goog-api-key": "k-sdk"}
    raw = httpx.post(f"{gsim.url}/v1beta/models/{MODEL}:generateContent", json=payload, headers=h).json()
    assert types.GenerateContentResponse.model_validate(raw).usage_metadata.cached_content_token_count > 0
    listed = httpx.get(f"{gsim.url}/v1beta/cachedContents", params={"pageSize": 1}, headers=h).json()
    assert types.ListCachedContentsResponse.model_validate(listed).next_page_token
    types.CachedContent.model_validate(httpx.get(f"{gsim.url}/v1beta/{made[1].name}", headers=h).json())
