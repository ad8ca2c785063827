"""Gemini end to end over loopback HTTP (implicit caching): the team example's three agents, several
turns each; streaming, async, usage normalization, errors, keys and base URLs.

Expected payloads, usage and cost are computed here from the parts (segment texts, the simulator's
documented block order and token counts, the price table), not read back from the adapter."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.errors import MissingKeyError, ProviderError, StreamInterrupted
from promptc.runtime.providers import adapter_for
from promptc.runtime.providers.base import WireCall
from promptc.runtime.providers.gemini import usage_from_gemini

from .conftest import LOW_MIN
from .gemini_helpers import (AGENTS, MODEL, TARGET, _gsim_server, block_tokens, cost, expected_payload,  # noqa: F401
                             gconfig, gsim, reply_tokens)


def test_team_three_agents_several_turns_payload_usage_and_cost(team, gsim, gconfig, ntok):
    client = Client(TARGET, base_url=gsim.url, api_key="gm-test-key", config=gconfig)
    sessions = {a: team[a].bind() for a in AGENTS}
    stored: set[tuple[str, ...]] = set()  # block-boundary prefixes the simulator holds (by segment ids)
    shared_checked = False
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: what should {agent} check?")
            reply = client.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            sent = gsim.requests[-1]
            assert sent["path"] == f"/v1beta/models/{MODEL}:generateContent"
            assert sent["payload"] == expected_payload(plan, agent, turn_text)
            assert "x-goog-api-key" not in sent["headers"]  # the simulator got it, and never records it
            blocks = block_tokens(plan, agent, ntok)
            names = [d["name"] for d in plan.segment("repo_tools").tools] + ["rules", agent, f"{agent}_memory"]
            cums = list(itertools.accumulate(blocks))
            # the longest stored boundary prefix (ids identify blocks: identical ids = identical bytes here)
            read = max((cums[i] for i in range(len(blocks)) if tuple(names[:i + 1]) in stored), default=0)
            total = cums[-1] + ntok(turn_text)
            u = reply.usage
            assert (u.cache_read, u.uncached, u.cache_write) == (read, total - read, {})
            if turn == 0 and agent == "frontend":  # a second agent reads the shared global block
                assert read == max(c for c in cums[:4] if c >= LOW_MIN) > 0
                shared_checked = True
            if turn > 0:
                assert read == cums[-1]  # the agent's whole static prefix
            out = reply_tokens(ntok, total)
            assert (u.output, u.reasoning, u.prompt) == (out, 0, total)
            assert reply.cost == pytest.approx(cost(u.uncached, u.cache_read, out), rel=1e-12)
            assert reply.breakpoints == [] and reply.cache_key is None  # implicit caching: no markers
            for i in range(len(blocks)):
                if cums[i] >= LOW_MIN:
                    stored.add(tuple(names[:i + 1]))
    assert shared_checked
    client.close()


def test_streaming_matches_the_non_streamed_reply(team, gsim, gconfig):
    req = team["backend"].bind().render(file="a.py", query="stream me")
    with Client(TARGET, base_url=gsim.url, api_key="sim-key", config=gconfig) as c:
        events = list(c.stream(req, max_tokens=64))
        streamed_path = gsim.requests[-1]["path"], gsim.requests[-1]["query"]
        again = c.complete(req, max_tokens=64)
    text = "".join(e.text for e in events if e.type == "text")
    done = events[-1]
    assert streamed_path == (f"/v1beta/models/{MODEL}:streamGenerateContent", {"alt": "sse"})
    assert sum(1 for e in events if e.type == "text") > 1
    assert done.type == "done" and done.reply.text == text == again.text and done.reply.finish_reason == "STOP"
    # usage comes from the last chunk: the stream stored the prompt, the next request reads all of it
    assert done.reply.usage.prompt == again.usage.prompt == again.usage.cache_read
    assert done.reply.usage.output == again.usage.output


def test_async_client_complete_and_stream(team, gsim, gconfig):
    req = team["frontend"].bind().render(file="web/a.tsx", query="async")

    async def go():
        async with AsyncClient(TARGET, base_url=gsim.url, api_key="sim-key", config=gconfig) as c:
            first = await c.complete(req, max_tokens=64)
            events = [e async for e in c.stream(req, max_tokens=64)]
            return first, events

    first, events = asyncio.run(go())
    assert first.usage.cache_read == 0
    assert events[-1].reply.usage.cache_read == first.usage.prompt and events[-1].reply.text == first.text


def test_usage_normalization_is_inclusive_and_unknown_when_missing():
    u = usage_from_gemini({"promptTokenCount": 70000, "cachedContentTokenCount": 65000, "candidatesTokenCount": 400,
                           "thoughtsTokenCount": 120, "toolUsePromptTokenCount": 30, "totalTokenCount": 70550})
    assert (u.uncached, u.cache_read, u.cache_write, u.output, u.reasoning) == (5030, 65000, {}, 520, 120)
    assert u.semantics == "inclusive" and u.prompt == 70030
    # Gemini's JSON leaves out zero counters: no cachedContentTokenCount means nothing was read
    zero = usage_from_gemini({"promptTokenCount": 100, "candidatesTokenCount": 5, "totalTokenCount": 105})
    assert (zero.uncached, zero.cache_read, zero.output, zero.reasoning) == (100, 0, 5, 0)
    # no usage at all is unknown, never 0, and so is the cost
    for missing in (None, {}, {"candidatesTokenCount": 5}):
        u = usage_from_gemini(missing)
        assert (u.uncached, u.cache_read, u.cache_write, u.output) == (None, None, None, None)
    adapter = adapter_for("gemini")
    done = adapter.parse({"candidates": [{"content": {"parts": [{"text": "thinking", "thought": True},
                                                                {"text": "answer"}]}, "finishReason": "STOP"}]},
                         WireCall("/x", {}))
    assert done.text == "answer" and done.usage.uncached is None
    from promptc.core.prices import price_for
    from promptc.runtime.cost import cost_of

    assert cost_of(done.usage, price_for(TARGET)).total is None


def test_errors_read_googles_format_and_retry_what_can_be_retried(team, gsim, gconfig):
    req = team["docs"].bind().render(file="a.md", query="q")
    with Client(TARGET, base_url=gsim.url, api_key="sim-key", config=gconfig, retry=None, sleep=lambda s: None) as c:
        with pytest.raises(ProviderError) as err:
            c.complete(req, max_tokens=8, extra={"bogusField": 1})
        assert (err.value.status, err.value.error_type, err.value.retryable) == (400, "INVALID_ARGUMENT", False)
        assert 'Unknown name "bogusField"' in err.value.message and err.value.code == "E502"
        gsim.inject(status=429, retry_after=0, message="Resource has been exhausted")
        assert c.complete(req, max_tokens=8).attempts == 2
        gsim.inject(status=503)
        assert c.complete(req, max_tokens=8).attempts == 2


def test_a_cut_stream_raises_instead_of_returning_a_truncated_reply(team, gsim, gconfig):
    req = team["docs"].bind().render(file="a.md", query="q")
    gsim.inject(drop_after=2)
    with Client(TARGET, base_url=gsim.url, api_key="sim-key", config=gconfig) as c:
        with pytest.raises(StreamInterrupted) as err:
            list(c.stream(req, max_tokens=64))
    assert err.value.code == "E505" and err.value.received_text


def test_key_and_base_url_from_the_sdk_variables(team, gsim, monkeypatch):
    req = team["docs"].bind().render(file="a.md", query="q")
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MissingKeyError) as err:
        Client(TARGET, base_url=gsim.url).complete(req, max_tokens=8)
    assert err.value.code == "E503" and "GEMINI_API_KEY" in str(err.value)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gsim.url)
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")  # the SDK's other variable, used when GEMINI_API_KEY is unset
    c = Client(TARGET)
    assert c.base_url == gsim.url and c._api_key == "from-google"
    assert c.complete(req, max_tokens=8).text.startswith("Simulated gemini reply")
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    assert Client(TARGET)._api_key == "from-gemini"
    assert Client(TARGET, api_key="arg").adapter.headers("arg") == {"x-goog-api-key": "arg"}
    assert Client(TARGET, base_url="http://127.0.0.1:9").base_url == "http://127.0.0.1:9"


def test_simulator_rejects_what_the_api_rejects(gsim):
    url = f"{gsim.url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    r = httpx.post(url, json=body)
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = httpx.post(url, json={"contents": []}, headers={"x-goog-api-key": "k"})
    assert r.status_code == 400 and "contents is not specified" in r.json()["error"]["message"]
    r = httpx.post(url, json={"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
                   headers={"x-goog-api-key": "k"})
    assert r.status_code == 400 and "valid role" in r.json()["error"]["message"]
    r = httpx.post(url, json={"contents": [{"role": "user", "parts": [{"text": ""}]}]},
                   headers={"x-goog-api-key": "k"})
    assert r.status_code == 400
    ok = httpx.post(url + "?key=k", json={**body, "generation_config": {"maxOutputTokens": 3}})  # proto JSON: both spellings
    assert ok.status_code == 200 and ok.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert ok.json()["usageMetadata"]["candidatesTokenCount"] == 3
    assert "key" not in gsim.requests[-1]["query"]  # a key in the query string is never recorded


def test_implicit_entries_expire_after_the_documented_ttl(team, gsim, gconfig):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client(TARGET, base_url=gsim.url, api_key="sim-key", config=gconfig) as c:
        first = c.complete(req, max_tokens=8)
        gsim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.prompt  # refreshed by the request
        gsim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.prompt
        gsim.advance(301)
        assert c.complete(req, max_tokens=8).usage.cache_read == 0
    # accounts are separate caches
    with Client(TARGET, base_url=gsim.url, api_key="other-account", config=gconfig) as c:
        assert c.complete(req, max_tokens=8).usage.cache_read == 0


def test_sim_serve_prints_the_gemini_variables(monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from promptc.cli import cli

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw["port"]))
    r = CliRunner().invoke(cli, ["sim", "serve", "--provider", "gemini", "--port", "8711"])
    assert r.exit_code == 0 and served == [8711]
    assert "export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8711 GEMINI_API_KEY=sim" in r.output
    assert "ANTHROPIC_BASE_URL" not in r.output
