"""Anthropic end to end over loopback HTTP: the team example's three agents, several turns each.

Expected payloads, usage and cost are computed here from the parts (segment texts, the token
counts of what the simulator hashes, the documented accounting and the price table), not read
back from the code under test.
"""

from __future__ import annotations

import asyncio

import pytest

from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.config import RuntimeConfig

from .conftest import canon

AGENTS = ("backend", "frontend", "docs")
PRICE_IN, PRICE_OUT = 3.0, 15.0  # claude-sonnet-4-5, USD per MTok (promptc/core/prices.py)


def tool_defs(plan):
    seg = plan.segment("repo_tools")
    return [{"name": t["name"], "input_schema": t["parameters"], "description": t["description"]} for t in seg.tools]


def expected_payload(plan, agent, turn_text, ttl="1h"):
    cc = {"type": "ephemeral", "ttl": ttl}
    return {
        "model": "claude-sonnet-4-5", "max_tokens": 64, "tools": tool_defs(plan),
        "system": [{"type": "text", "text": plan.segment("rules").content, "cache_control": cc},
                   {"type": "text", "text": plan.segment(agent).content},
                   {"type": "text", "text": plan.segment(f"{agent}_memory").content, "cache_control": cc}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": turn_text}]}]}


def reply_tokens(ntok, total):
    return ntok(f"Simulated anthropic reply to a {total}-token prompt.")


def test_team_three_agents_several_turns_payload_usage_and_cost(team, sim, low_min_config, ntok):
    client = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sk-ant-test-123456",
                    retention="long", config=low_min_config)
    sessions = {a: team[a].bind() for a in AGENTS}
    tools = sum(ntok(canon(d)) for d in tool_defs(team["backend"]))
    rules = tools + ntok(team["backend"].segment("rules").content)  # the shared global prefix
    seen_rules = False
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            query = f"turn {turn}: what should {agent} check first?"
            req = sessions[agent].render(file="api/users.py", query=query)
            reply = client.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            assert sim.requests[-1]["payload"] == expected_payload(plan, agent, turn_text)
            prefix = rules + ntok(plan.segment(agent).content) + ntok(plan.segment(f"{agent}_memory").content)
            total = prefix + ntok(turn_text)
            u = reply.usage
            if turn == 0 and not seen_rules:  # the very first request writes everything at 1h
                assert (u.cache_read, u.cache_write, u.uncached) == (0, {"1h": prefix}, ntok(turn_text))
            elif turn == 0:  # another agent: the global prefix is read, its own part written
                assert (u.cache_read, u.cache_write, u.uncached) == (rules, {"1h": prefix - rules}, ntok(turn_text))
            else:  # later turns read the agent's whole static prefix
                assert (u.cache_read, u.cache_write, u.uncached) == (prefix, {}, ntok(turn_text))
            seen_rules = True
            out = reply_tokens(ntok, total)
            assert u.output == out and u.prompt == total
            expected_cost = (u.uncached * PRICE_IN + u.cache_read * PRICE_IN * 0.1 +
                             u.cache_write_total * PRICE_IN * 2.0 + out * PRICE_OUT) / 1e6
            assert reply.cost == pytest.approx(expected_cost, rel=1e-12)
            assert [m.segment for m in reply.breakpoints] == ["rules", f"{agent}_memory"]
    client.close()


def test_short_retention_uses_5m_and_none_sends_no_markers(team, sim, low_min_config):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="short",
                config=low_min_config) as c:
        c.complete(req, max_tokens=64)
        assert sim.requests[-1]["payload"] == expected_payload(team["backend"], "backend", req.segments[-1].content,
                                                               ttl="5m")
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="none",
                config=low_min_config) as c:
        reply = c.complete(req, max_tokens=64)
        assert "cache_control" not in canon(sim.requests[-1]["payload"])
        assert reply.usage.cache_read == 0 and reply.usage.cache_write == {}


def test_no_breakpoint_below_the_models_minimum(team, sim):
    """With the real minimum (1,024 tokens for Sonnet 4.5) the ~450-token prefix gets no marker."""
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="long",
                config=RuntimeConfig()) as c:
        reply = c.complete(team["docs"].bind().render(file="a.md", query="q"), max_tokens=64)
    assert "cache_control" not in canon(sim.requests[-1]["payload"])
    assert reply.breakpoints == []


def test_history_gets_the_free_slot_and_1h_precedes_5m(support, sim, low_min_config, ntok):
    session = support.bind(customer={"name": "Ada", "plan": "pro", "open_tickets": 1})
    history = [{"role": "user", "content": "My invoice doubled. " * 40},
               {"role": "assistant", "content": "Let me look at your invoices. " * 40}]
    req = session.render(question="Why?", history=history)
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="long",
                config=low_min_config) as c:
        reply = c.complete(req, max_tokens=64)
    payload = sim.requests[-1]["payload"]
    marks = [(where, b["cache_control"]["ttl"]) for where, blocks in
             [("system", payload["system"])] + [(m["role"], m["content"]) for m in payload["messages"]]
             for b in blocks if "cache_control" in b]
    reasons = [m.reason for m in reply.breakpoints]
    assert reasons[-1] == "history" and len(marks) <= 4
    assert marks[-1] == ("assistant", "5m") and all(ttl == "1h" for _, ttl in marks[:-1])
    # consecutive same-role segments share one message; the history entries keep their roles
    assert [m["role"] for m in payload["messages"]] == ["user", "assistant", "user"]


def test_streaming_matches_the_non_streamed_reply(team, sim, low_min_config):
    req = team["backend"].bind().render(file="a.py", query="stream me")
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", config=low_min_config) as c:
        events = list(c.stream(req, max_tokens=64))
        again = c.complete(req, max_tokens=64)
    text = "".join(e.text for e in events if e.type == "text")
    done = events[-1]
    assert done.type == "done" and done.reply.text == text == again.text
    assert done.reply.usage.prompt == again.usage.prompt
    assert done.reply.usage.cache_write == {"5m": again.usage.cache_read}  # the stream wrote, the next read


def test_async_client_complete_and_stream(team, sim, low_min_config):
    req = team["frontend"].bind().render(file="web/a.tsx", query="async")

    async def go():
        async with AsyncClient("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k",
                               config=low_min_config) as c:
            first = await c.complete(req, max_tokens=64)
            events = [e async for e in c.stream(req, max_tokens=64)]
            return first, events

    first, events = asyncio.run(go())
    assert first.usage.cache_read == 0 and events[-1].reply.usage.cache_read == first.usage.cache_write_total


def test_simulator_enforces_the_documented_limits(sim):
    import httpx

    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    five = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [block] * 5}]}
    r = httpx.post(sim.url + "/v1/messages", json=five, headers={"x-api-key": "k"})
    assert r.status_code == 400 and "Found 5" in r.json()["error"]["message"]
    order = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {**block, "cache_control": {"type": "ephemeral", "ttl": "5m"}},
        {**block, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]}
    r = httpx.post(sim.url + "/v1/messages", json=order, headers={"x-api-key": "k"})
    assert r.status_code == 400 and "must not come after" in r.json()["error"]["message"]
    empty = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {**block, "text": ""}]}]}
    r = httpx.post(sim.url + "/v1/messages", json=empty, headers={"x-api-key": "k"})
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]


def test_ttl_expiry_and_refresh_on_hit(team, sim, low_min_config):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="short",
                config=low_min_config) as c:
        first = c.complete(req, max_tokens=8)
        sim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.cache_write_total  # hit refreshes
        sim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.cache_write_total
        sim.advance(301)
        expired = c.complete(req, max_tokens=8)
    assert expired.usage.cache_read == 0 and expired.usage.cache_write_total == first.usage.cache_write_total


def test_simulator_automatic_mode_caches_up_to_the_last_block(sim, ntok):
    import httpx

    text = "All work and no play makes Jack a dull boy. " * 30
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "cache_control": {"type": "ephemeral"},
            "system": "You are terse.", "messages": [{"role": "user", "content": text}]}
    first = httpx.post(sim.url + "/v1/messages", json=body, headers={"x-api-key": "k"}).json()["usage"]
    second = httpx.post(sim.url + "/v1/messages", json=body, headers={"x-api-key": "k"}).json()["usage"]
    total = ntok("You are terse.") + ntok(text)
    assert (first["cache_creation_input_tokens"], first["input_tokens"]) == (total, 0)
    assert (second["cache_read_input_tokens"], second["cache_creation_input_tokens"]) == (total, 0)
    four = {**body, "messages": [{"role": "user", "content": [
        {"type": "text", "text": f"{i} {text}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
        + [{"type": "text", "text": "end"}]}]}
    r = httpx.post(sim.url + "/v1/messages", json=four, headers={"x-api-key": "k"})
    assert r.status_code == 400 and "Found 5" in r.json()["error"]["message"]
