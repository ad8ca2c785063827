"""OpenAI Chat Completions and Responses end to end over loopback HTTP against the simulator."""

from __future__ import annotations

import pytest

from tests.price_oracle import genai_cost, reply_oracle
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import RetentionError, RuntimeConfigError
from promptc.runtime.providers.openai import cache_key

from .conftest import LOW_MIN, canon

AGENTS = ("backend", "frontend", "docs")


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def test_gpt56_team_payload_breakpoints_usage_and_cost(team, sim, low_min_config, ntok):
    """gpt-5.6: one explicit breakpoint at the end of the static system run, the implicit one on
    the newest message; writes 1.25x, reads 0.1x of the $5 input price (promptc/core/prices.py)."""
    client = Client("openai/gpt-5.6", base_url=sim.url + "/v1", api_key="sk-test-abcdef", retention="short",
                    config=low_min_config)
    sessions = {a: team[a].bind() for a in AGENTS}
    tools = sum(ntok(canon(t)) for t in fn_tools(team["backend"]))
    for turn in range(2):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="x.py", query=f"turn {turn} for {agent}")
            reply = client.complete(req, max_tokens=32)
            system = [plan.segment(s).content for s in ("rules", agent, f"{agent}_memory")]
            turn_text = req.segments[-1].content
            bp = {"mode": "explicit"}
            # no history: explicit mode (the turn is never written); breakpoints at the end of the shared
            # global block (tools render first, then `rules`) and of the static prefix; one key for the
            # agents that share the global block
            assert sim.requests[-1]["payload"] == {
                "model": "gpt-5.6", "max_completion_tokens": 32, "tools": fn_tools(plan),
                "prompt_cache_key": cache_key(req, None, "shared"),
                "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
                "messages": [{"role": "system", "content": [{"type": "text", "text": system[0],
                                                            "prompt_cache_breakpoint": bp},
                                                           {"type": "text", "text": system[1]},
                                                           {"type": "text", "text": system[2],
                                                            "prompt_cache_breakpoint": bp}]},
                             {"role": "user", "content": [{"type": "text", "text": turn_text}]}]}
            shared = tools + ntok(system[0])
            static = tools + sum(ntok(t) for t in system)
            turn_tokens = ntok(turn_text)
            total = static + turn_tokens
            u = reply.usage
            if turn == 0 and agent == "backend":  # the first request writes the static prefix
                assert (u.cache_read, u.cache_write, u.uncached) == (0, {"30m": static}, turn_tokens)
            elif turn == 0:  # the other agents read the shared global block and write their own part
                assert (u.cache_read, u.cache_write, u.uncached) == (shared, {"30m": static - shared}, turn_tokens)
            else:  # later turns read the whole static prefix; the turn is never written
                assert (u.cache_read, u.cache_write, u.uncached) == (static, {}, turn_tokens)
            out = ntok(f"Simulated openai reply to a {total}-token prompt.")
            assert u.output == out
            assert reply.cost == pytest.approx(reply_oracle("openai/gpt-5.6", u), rel=1e-9)  # genai-prices' price
    client.close()


def test_pre_56_models_cache_automatically_with_retention_and_key(team, sim, ntok):
    """gpt-5: no markers; prefix caching in 128-token steps from the minimum; writes are free (0, not unknown)."""
    req = team["backend"].bind().render(file="x.py", query="q")
    with Client("openai/gpt-5", base_url=sim.url + "/v1", api_key="k", retention="long", tenant="acme",
                config=RuntimeConfig()) as c:
        first = c.complete(req, max_tokens=16)
        second = c.complete(req, max_tokens=16)
    payload = sim.requests[-1]["payload"]
    assert payload["prompt_cache_retention"] == "24h" and payload["prompt_cache_key"].startswith("acme:")
    assert "prompt_cache_breakpoint" not in canon(payload) and "prompt_cache_options" not in payload
    total = first.usage.prompt
    # the simulator's minimum is 256 here: the longest 128-step prefix that fits is cached
    assert first.usage.cache_read == 0 and first.usage.cache_write == {}
    assert second.usage.cache_read == LOW_MIN + (total - LOW_MIN) // 128 * 128
    assert second.usage.uncached == total - second.usage.cache_read


def test_cache_key_is_the_stable_prefix_plus_tenant(team):
    a = team["backend"].bind().render(file="a", query="one")
    b = team["backend"].bind().render(file="b", query="two")
    d = team["docs"].bind().render(file="a", query="one")
    assert cache_key(a, "t1") == cache_key(b, "t1") != cache_key(a, "t2")
    assert cache_key(a, None) != cache_key(d, None)  # scope "plan": one key per agent
    assert cache_key(a, None, "shared") == cache_key(d, None, "shared") != cache_key(a, "t2", "shared")
    assert len(cache_key(a, "x" * 100)) <= 64


def test_cache_key_scope_setting(team, tmp_path):
    """The adapter keys on the shared global prefix by default; ``cache_key_scope = "plan"`` per agent."""
    req = team["backend"].bind().render(file="a", query="q")
    shared = Client("openai/gpt-5", api_key="k", config=RuntimeConfig()).build(req).payload["prompt_cache_key"]
    assert shared == cache_key(req, None, "shared")
    per_plan = Client("openai/gpt-5", api_key="k", config=RuntimeConfig.from_dict(
        {"providers": {"openai": {"cache_key_scope": "plan"}}})).build(req).payload["prompt_cache_key"]
    assert per_plan == cache_key(req, None, "plan") != shared
    with pytest.raises(RuntimeConfigError, match="E528.*cache_key_scope"):
        Client("openai/gpt-5", api_key="k", config=RuntimeConfig.from_dict(
            {"providers": {"openai": {"cache_key_scope": "agent"}}}))


def test_retention_a_model_cannot_honour_is_an_error(team):
    req = team["backend"].bind().render(file="a", query="q")
    with pytest.raises(RetentionError, match="E504.*24h only"):
        Client("openai/gpt-5.5", api_key="k", retention="short", config=RuntimeConfig()).build(req)
    with pytest.raises(RetentionError, match="E504"):
        Client("openai/gpt-4o", api_key="k", retention="long", config=RuntimeConfig()).build(req)
    with pytest.raises(RetentionError, match="E504.*unknown cache retention"):
        Client("openai/gpt-5", api_key="k", retention="forever", config=RuntimeConfig())


def test_retention_none_on_gpt56_is_explicit_mode_without_breakpoints(team, sim, low_min_config):
    req = team["backend"].bind().render(file="a", query="q")
    with Client("openai/gpt-5.6", base_url=sim.url + "/v1", api_key="k", retention="none",
                config=low_min_config) as c:
        c.complete(req, max_tokens=8)
        reply = c.complete(req, max_tokens=8)
    payload = sim.requests[-1]["payload"]
    assert payload["prompt_cache_options"] == {"mode": "explicit"} and "prompt_cache_key" not in payload
    assert "prompt_cache_breakpoint" not in canon(payload)
    assert reply.usage.cache_read == 0 and reply.usage.cache_write == {}


def test_responses_api_payload_and_usage(team, sim, low_min_config):
    req = team["docs"].bind().render(file="docs/a.md", query="q")
    with Client("openai/gpt-5.6", api="responses", base_url=sim.url + "/v1", api_key="k",
                config=low_min_config) as c:
        first = c.complete(req, max_tokens=16)
        second = c.complete(req, max_tokens=16)
        streamed = list(c.stream(req, max_tokens=16))
    p = sim.requests[0]["payload"]
    assert sim.requests[0]["path"] == "/v1/responses"
    assert p["input"][0]["role"] == "system" and [x["type"] for x in p["input"][0]["content"]] == ["input_text"] * 3
    assert p["input"][0]["content"][2]["prompt_cache_breakpoint"] == {"mode": "explicit"}
    assert p["tools"][0]["type"] == "function" and p["max_output_tokens"] == 16
    # explicit mode (no history): the static prefix is written and read back, the turn never
    assert first.usage.cache_read == 0 and second.usage.cache_read == first.usage.cache_write_total > 0
    assert second.usage.uncached == first.usage.uncached > 0 and second.usage.prompt == first.usage.prompt
    assert streamed[-1].reply.text == "".join(e.text for e in streamed if e.type == "text") == second.text


def test_chat_streaming_ends_with_usage(team, sim, low_min_config):
    req = team["docs"].bind().render(file="docs/a.md", query="q")
    with Client("openai/gpt-5.6", base_url=sim.url + "/v1", api_key="k", config=low_min_config) as c:
        events = list(c.stream(req, max_tokens=16))
    assert sim.requests[-1]["payload"]["stream_options"] == {"include_usage": True}
    done = events[-1].reply
    assert done.usage.prompt is not None and done.usage.output is not None and done.text
