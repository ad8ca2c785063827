"""Runtime faults of issue 20 (part B): temperature on every target through ``promptc run``, the default
retention on a model that cannot honour ``short``, the retry loop written once (a sans-IO state machine)
and driven by both clients, and the async fault paths (retry, recover, interrupted stream) run for real."""

from __future__ import annotations

import asyncio
import json
import types
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import promptc
from promptc import cli as cli_mod
from promptc.runtime.attempts import Attempts, Recover, RetryPolicy, Wait
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import ProviderError, ProviderUnavailable, RetentionError, StreamInterrupted

REPO = Path(__file__).resolve().parents[2]
TEAM = str(REPO / "examples" / "team")
CONFIG = RuntimeConfig.from_dict({})
KEY = "sk-faults-0123456789"


@pytest.fixture(scope="module")
def req():
    return promptc.compile(REPO / "examples" / "team")["backend"].bind().render(file="a.py", query="q")


def ok_body(text="hello") -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 0,
                      "cache_creation_input_tokens": 0}}


# -- temperature on every target -------------------------------------------------------------------------
@pytest.mark.parametrize("target,suffix", [("openai/gpt-5.6", "/v1"), ("deepseek/deepseek-v4-flash", "/deepseek"),
                                           ("moonshot/kimi-k2.5", "/moonshot/v1")])
def test_run_target_sends_the_temperature(sim, monkeypatch, tmp_path, target, suffix):
    provider = target.split("/")[0].upper()
    monkeypatch.setenv(f"{provider}_BASE_URL", sim.url + suffix)
    monkeypatch.setenv(f"{provider}_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli_mod.cli, ["run", TEAM, "--plan", "docs", "--target", target, "-i", "file=a",
                                         "-i", "query=q", "--temperature", "0.7", "--max-tokens", "8"])
    assert r.exit_code == 0, r.output
    assert sim.requests[-1]["payload"]["temperature"] == 0.7
    r = CliRunner().invoke(cli_mod.cli, ["run", TEAM, "--plan", "docs", "--target", target, "-i", "file=a",
                                         "-i", "query=q", "--max-tokens", "8"])
    assert r.exit_code == 0, r.output
    assert "temperature" not in sim.requests[-1]["payload"]  # no flag: the provider's default


# -- defaults that work on every model ---------------------------------------------------------------------
def test_default_retention_uses_what_the_model_supports(req):
    """gpt-5.5 keeps prompt caches for 24h only: with nothing configured the client uses that instead of
    E504; a retention someone chose explicitly still gets E504."""
    c = Client("openai/gpt-5.5", api_key=KEY, config=CONFIG)
    payload = c.build(req, max_tokens=8).payload
    assert payload["prompt_cache_retention"] == "24h"
    with pytest.raises(RetentionError, match="E504"):
        Client("openai/gpt-5.5", api_key=KEY, config=CONFIG, retention="short").build(req, max_tokens=8)
    chosen = RuntimeConfig.from_dict({"cacheRetention": "short"})
    with pytest.raises(RetentionError, match="E504"):
        Client("openai/gpt-5.5", api_key=KEY, config=chosen).build(req, max_tokens=8)


# -- the state machine ---------------------------------------------------------------------------------------
def test_attempts_state_machine_decides_without_io():
    now = [0.0]
    m = Attempts(RetryPolicy(max_retries=2, backoff_s=1.0, backoff_max_s=1.0, deadline_s=10.0), clock=lambda: now[0])
    busy = ProviderError("x", 429, "busy", retryable=True)
    step = m.refused(busy, httpx.Headers({"retry-after": "3"}))
    assert step == Wait(3.0) and m.attempt == 2
    now[0] = 8.0
    with pytest.raises(ProviderError):  # 8 s + 3 s would pass the 10 s deadline
        m.refused(busy, httpx.Headers({"retry-after": "3"}))
    m2 = Attempts(RetryPolicy(max_retries=1), clock=lambda: 0.0)
    gone = ProviderError("x", 404, "cache gone", retryable=False)
    assert m2.refused(gone, None) == Recover(gone)
    m2.rebuilt()
    with pytest.raises(ProviderError):  # one recovery per request
        m2.refused(gone, None)
    m3 = Attempts(RetryPolicy(max_retries=1), clock=lambda: 0.0)
    down = ProviderUnavailable("x", None, "reset", retryable=True)
    assert isinstance(m3.failed(down), Wait)
    with pytest.raises(ProviderUnavailable):
        m3.failed(down)
    assert m3.timeout().read <= RetryPolicy().timeout_s


def test_async_client_is_a_sibling_not_a_subclass():
    assert not issubclass(AsyncClient, Client) and not issubclass(Client, AsyncClient)
    assert asyncio.iscoroutinefunction(AsyncClient.complete)
    assert not asyncio.iscoroutinefunction(Client.complete)


# -- async fault paths ------------------------------------------------------------------------------------------
def _async_client(handler, **kw) -> AsyncClient:
    return AsyncClient("anthropic/claude-sonnet-4-5", base_url="http://provider.invalid", api_key=KEY, config=CONFIG,
                       async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                       retry=RetryPolicy(max_retries=3, backoff_s=0.0, backoff_max_s=0.0, deadline_s=60), **kw)


def test_async_complete_retries_then_succeeds(req, tmp_path):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        if len(calls) == 2:
            return httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
                                  headers={"retry-after": "0"})
        return httpx.Response(200, json=ok_body())

    async def go():
        async with _async_client(handler, trace=tmp_path / "t.jsonl") as c:
            return await c.complete(req, max_tokens=8)

    reply = asyncio.run(go())
    assert reply.text == "hello" and reply.attempts == 3 and len(calls) == 3
    rec = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])
    assert rec["status"] == "ok" and rec["attempts"] == 3


def test_async_stream_retries_before_the_first_byte(req):
    calls = []
    sse = ('event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c",'
           '"usage":{"input_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}\n\n'
           'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
           '"delta":{"type":"text_delta","text":"hi"}}\n\n'
           'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
           '"usage":{"output_tokens":1}}\n\n'
           'event: message_stop\ndata: {"type":"message_stop"}\n\n')

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, json={"type": "error", "error": {"type": "api_error", "message": "down"}})
        return httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})

    async def go():
        async with _async_client(handler) as c:
            return [e async for e in c.stream(req, max_tokens=8)]

    events = asyncio.run(go())
    assert [e.text for e in events if e.type == "text"] == ["hi"]
    assert events[-1].type == "done" and events[-1].reply.attempts == 2


def test_async_interrupted_stream_is_e505_with_the_partial_text(req):
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield (b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":'
                   b'{"input_tokens":5}}}\n\nevent: content_block_delta\ndata: {"type":"content_block_delta",'
                   b'"index":0,"delta":{"type":"text_delta","text":"partial"}}\n\n')
            raise httpx.ReadError("connection reset")

    async def handler(request):
        return httpx.Response(200, stream=Cut(), headers={"content-type": "text/event-stream"})

    async def go():
        async with _async_client(handler) as c:
            async for _ in c.stream(req, max_tokens=8):
                pass

    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(go())
    assert info.value.code == "E505" and info.value.received_text == "partial"


def test_async_recover_rebuilds_once(req):
    """A non-retryable refusal asks the cache-object manager for a rebuilt call once (the Gemini/Moonshot
    "cache object gone" path); here a stub manager rebuilds it and the second attempt succeeds."""
    from promptc.runtime.resources import ResourceManager

    calls = []

    class Manager(ResourceManager):
        def prepare(self, call, request, opts, ctx):
            return call

        def recover(self, call, request, opts, ctx, error):
            calls.append("recover")
            return call

    def handler(request):
        calls.append("send")
        if calls.count("send") == 1:
            return httpx.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "gone"}})
        return httpx.Response(200, json=ok_body("recovered"))

    async def go():
        async with _async_client(handler) as c:
            c.adapter.resources = types.MethodType(lambda self, ctx: Manager(), c.adapter)  # with cache objects
            return await c.complete(req, max_tokens=8)

    reply = asyncio.run(go())
    assert reply.text == "recovered" and calls == ["send", "recover", "send"] and reply.attempts == 2


# -- Gemini: no cache create retried on every request for a model without explicit caching -----------------
def test_gemini_model_without_explicit_caching_is_asked_once(req, tmp_path):
    from promptc.runtime.registry import CacheRegistry, MemoryBackend

    creates, generates = [], []

    def handler(request):
        if request.url.path.endswith("/cachedContents"):
            creates.append(1)
            return httpx.Response(400, json={"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
                                                       "Model gemini-2.0-flash-lite does not support explicit caching."}})
        generates.append(1)
        return httpx.Response(200, json={"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                                                         "finishReason": "STOP"}],
                                         "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 1,
                                                           "totalTokenCount": 901}})

    config = RuntimeConfig.from_dict({"cache_limits": {"gemini/": {"min_tokens": 16}}})
    with Client("gemini/gemini-2.0-flash-lite", base_url="http://gemini.invalid", api_key=KEY, config=config,
                http_client=httpx.Client(transport=httpx.MockTransport(handler)), registry=CacheRegistry(MemoryBackend()),
                cache_objects={"gemini": "explicit"}, trace=tmp_path / "t.jsonl") as c:
        for _ in range(4):
            assert c.complete(req, max_tokens=8).text == "ok"
    assert len(generates) == 4 and len(creates) == 1  # refused once: never asked again by this client
    events = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [e.get("reason") for e in events if e.get("event") == "fallback"].count("explicit_unsupported") == 1


def test_a_temperature_for_anthropic_is_a_coded_error_not_dropped(monkeypatch, tmp_path):
    # The Messages API in the official SDK's types has no `temperature` field: the value is refused
    # (E528), never silently left out of the request.
    from anthropic.types.message_create_params import MessageCreateParamsBase
    assert "temperature" not in MessageCreateParamsBase.__annotations__
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # never reached: the build refuses first
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli_mod.cli, ["run", TEAM, "--plan", "docs", "--target", "anthropic/claude-sonnet-4-5",
                                         "-i", "file=a", "-i", "query=q", "--temperature", "0.7",
                                         "--max-tokens", "8"])
    from promptc.core.errors import PromptcError
    assert isinstance(r.exception, PromptcError), r.output  # main() prints it and exits 2
    assert "E528" in str(r.exception) and "temperature" in str(r.exception)
