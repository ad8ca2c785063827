"""The proxy itself: bytes pass through unchanged and unbuffered, safety (keys, binding, sizes),
in-process instrumentation writes the same records, and the trace is readable by `promptc trace
stats` and `promptc report --trace` unchanged."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from promptc.cli import cli
from promptc.core.errors import PromptcError
from promptc.observe import Observer, instrument
from promptc.observe.proxy import ObserveProxy, ProxyServer
from promptc.observe.wire import MAX_EVENT, ResponseReader
from promptc.runtime.sim import Simulator
from tests.observe.conftest import ANTHROPIC_KEY, LIMITS, LOW_MIN, MODEL
from tests.observe.test_causes import RULES

PAYLOAD = {"model": MODEL, "max_tokens": 32, "stream": True,
           "system": [{"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}}],
           "messages": [{"role": "user", "content": "Hello"}]}
HEADERS = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}


def _stream_bytes(url: str) -> bytes:
    with httpx.stream("POST", url + "/v1/messages", json=PAYLOAD, headers=HEADERS) as r:
        return b"".join(r.iter_raw())


def test_streamed_bytes_pass_through_unchanged(tmp_path):
    # two fresh simulators answer the same request with the same bytes (ids and clock are deterministic)
    with Simulator(anthropic_min_tokens={MODEL: LOW_MIN}) as sim:
        direct = _stream_bytes(sim.url)
    with Simulator(anthropic_min_tokens={MODEL: LOW_MIN}) as sim:
        proxy = ObserveProxy(Observer(clock=sim.clock, cache_limits=LIMITS), str(tmp_path / "t.jsonl"),
                             upstreams={"anthropic": sim.url, "openai": sim.url})
        with ProxyServer(proxy) as px:
            via = _stream_bytes(px.url)
    assert via == direct and b"message_stop" in via


def test_the_first_chunk_arrives_before_the_upstream_finishes(tmp_path):
    """An upstream that sends one event, then waits until the test has received it through the proxy:
    a buffering proxy would deadlock here (and the test time out)."""
    release = threading.Event()

    async def messages(request):
        async def gen():
            yield b'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":' \
                  b'{"input_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}\n\n'
            for _ in range(400):  # up to 20 s
                if release.is_set():
                    break
                await asyncio.sleep(0.05)
            yield b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        return StreamingResponse(gen(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        proxy = ObserveProxy(Observer(), str(tmp_path / "t.jsonl"), upstreams={"anthropic": f"http://127.0.0.1:{port}",
                                                                                "openai": f"http://127.0.0.1:{port}"})
        with ProxyServer(proxy) as px:
            with httpx.stream("POST", px.url + "/v1/messages", json={**PAYLOAD, "model": "m"}, headers=HEADERS,
                              timeout=30) as r:
                chunks = r.iter_raw()
                first = next(chunks)
                assert b"message_start" in first and not release.is_set()
                release.set()
                rest = b"".join(chunks)
            assert b"message_stop" in rest
    finally:
        release.set()
        server.should_exit = True
        t.join(timeout=10)


def test_non_loopback_needs_a_key_and_the_key_is_checked(tmp_path, rig):
    with pytest.raises(PromptcError) as e:
        ProxyServer(ObserveProxy(Observer(), str(tmp_path / "t.jsonl")), host="0.0.0.0")
    assert e.value.code == "E560" and "not loopback" in str(e.value)
    proxy = ObserveProxy(Observer(clock=rig.sim.clock, cache_limits=LIMITS), str(tmp_path / "k.jsonl"),
                         upstreams={"anthropic": rig.sim.url, "openai": rig.sim.url}, key="proxy-secret-123")
    with ProxyServer(proxy) as px:
        body = {**PAYLOAD, "stream": False}
        assert httpx.post(px.url + "/v1/messages", json=body, headers=HEADERS).status_code == 401
        wrong = httpx.post(px.url + "/v1/messages", json=body, headers={**HEADERS, "x-promptc-key": "nope"})
        assert wrong.status_code == 401 and "proxy-secret" not in wrong.text
        ok = httpx.post(px.url + "/v1/messages", json=body, headers={**HEADERS, "x-promptc-key": "proxy-secret-123"})
        assert ok.status_code == 200
    assert all("x-promptc-key" not in r["headers"] for r in rig.sim.requests)
    assert "proxy-secret" not in (tmp_path / "k.jsonl").read_text()


def test_bad_upstream_is_a_coded_error_and_unreachable_upstream_a_502_without_keys(tmp_path):
    with pytest.raises(PromptcError) as e:
        ObserveProxy(Observer(), str(tmp_path / "t.jsonl"), upstreams={"anthropic": "file:///etc/passwd"})
    assert e.value.code == "E560"
    trace = tmp_path / "t.jsonl"
    proxy = ObserveProxy(Observer(), str(trace), upstreams={"anthropic": "http://127.0.0.1:9", "openai": "http://127.0.0.1:9"})
    with ProxyServer(proxy) as px:
        r = httpx.post(px.url + "/v1/messages", json={**PAYLOAD, "stream": False}, headers=HEADERS)
    assert r.status_code == 502 and ANTHROPIC_KEY not in r.text
    rec = json.loads(trace.read_text().splitlines()[0])
    assert rec["status"] == "error" and ANTHROPIC_KEY not in trace.read_text()


def test_size_limits(tmp_path, rig):
    proxy = ObserveProxy(Observer(), str(tmp_path / "t.jsonl"), upstreams={"anthropic": rig.sim.url,
                                                                           "openai": rig.sim.url}, max_body=1024)
    with ProxyServer(proxy) as px:
        r = httpx.post(px.url + "/v1/messages", json={**PAYLOAD, "stream": False}, headers=HEADERS)
    assert r.status_code == 413 and rig.sim.requests == []
    reader = ResponseReader("anthropic-messages", "text/event-stream", None)
    reader.feed(b"data: " + b"x" * (MAX_EVENT + 10))
    assert reader.unparsable and len(reader._buf) == 0


def test_record_bodies_keeps_segment_texts(tmp_path):
    with Simulator(anthropic_min_tokens={MODEL: LOW_MIN}) as sim:
        trace = tmp_path / "t.jsonl"
        proxy = ObserveProxy(Observer(clock=sim.clock, cache_limits=LIMITS, record_bodies=True), str(trace),
                             upstreams={"anthropic": sim.url, "openai": sim.url})
        with ProxyServer(proxy) as px:
            httpx.post(px.url + "/v1/messages", json={**PAYLOAD, "stream": False}, headers=HEADERS)
    rec = json.loads(trace.read_text().splitlines()[0])
    assert rec["observe"]["segment_detail"][0]["text"] == RULES


def test_agent_label_from_the_path(rig):
    import anthropic

    c = anthropic.Anthropic(base_url=rig.proxy.url + "/agent/planner", api_key=ANTHROPIC_KEY, max_retries=0)
    c.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert rig.records(1)[0]["plan"] == "planner"


def test_instrument_sync_anthropic_and_async_streaming_openai(tmp_path):
    import anthropic
    import openai

    with Simulator(anthropic_min_tokens={MODEL: LOW_MIN}, openai_min_tokens=LOW_MIN) as sim:
        trace = tmp_path / "in.jsonl"
        obs = Observer(clock=sim.clock, cache_limits=LIMITS)
        a = anthropic.Anthropic(base_url=sim.url, api_key=ANTHROPIC_KEY, max_retries=0)
        instrument(a, trace, observer=obs)
        for minute in (0, 1):
            a.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}], system=[
                {"type": "text", "text": f"Now: 10:0{minute}\n{RULES}", "cache_control": {"type": "ephemeral"}}])

        async def agent():
            o = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-x", max_retries=0)
            instrument(o, trace, observer=obs)
            for n in (1, 2):
                stream = await o.chat.completions.create(
                    model="gpt-4.1", stream=True, stream_options={"include_usage": True},
                    messages=[{"role": "system", "content": f"Turn {n}. {RULES}"}, {"role": "user", "content": "q"}])
                async for _ in stream:
                    pass
            await o.close()

        asyncio.run(agent())
    recs = [json.loads(x) for x in trace.read_text().splitlines()]
    assert [r["target"] for r in recs] == ["anthropic/claude-sonnet-4-5"] * 2 + ["openai/gpt-4.1"] * 2
    assert recs[1]["invalidation"]["reason"] == "segment_changed"
    assert recs[1]["invalidation"]["excerpt"]["new_value"] == "10:01"
    assert recs[3]["invalidation"]["reason"] == "segment_changed" and recs[3]["observe"]["stream"]
    assert recs[3]["usage"]["cache_read"] == 0 and recs[2]["usage"] is not None
    assert ANTHROPIC_KEY not in trace.read_text()


def test_trace_stats_and_report_read_observed_traces_unchanged(rig, tmp_path):
    c = rig.anthropic()
    for minute in (0, 1, 2):
        c.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}], system=[
            {"type": "text", "text": f"Now: 11:0{minute}\n{RULES}", "cache_control": {"type": "ephemeral"}}])
    rig.records(3)
    r = CliRunner().invoke(cli, ["trace", "stats", str(rig.trace), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    plan = s["plans"]["agent_1 @ anthropic/claude-sonnet-4-5"]
    assert plan["requests"] == 3 and plan["invalidations"] == 2
    assert s["segments"]["agent_1:system[0]"]["invalidations"] == 2
    out = tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["report", "--trace", str(rig.trace), "-o", str(out), str(Path(__file__).parents[2] /
                                                                                         "examples" / "team")])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "segment_changed" in html and "agent_1" in html


def test_no_provider_fact_is_restated_in_the_observer():
    """Minimums, TTLs and prices come from promptc.core (providers, prices) and the runtime: the
    observer's code holds no TTL, minimum or price literal."""
    src = "\n".join(p.read_text() for p in (Path(__file__).parents[2] / "promptc" / "observe").glob("*.py"))
    for literal in ("300", "3600", "1800", "86400", "1024", "2048", "4096", "1.25", "0.1", "\"5m\":", "\"1h\":"):
        assert not re.search(rf"(?<![\w.]){re.escape(literal)}(?![\w])", src), literal


def test_cli_refuses_a_public_bind_without_a_key_and_bad_overrides():
    from promptc.observe.commands import _limits

    r = CliRunner().invoke(cli, ["observe", "--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code != 0 and getattr(r.exception, "code", None) == "E560"
    with pytest.raises(PromptcError) as e:
        _limits(("anthropic/",))
    assert e.value.code == "E560"
    assert _limits(("anthropic/=256",)) == {"anthropic/": {"min_tokens": 256}}
