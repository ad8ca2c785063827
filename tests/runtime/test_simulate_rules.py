"""The per-provider table of `promptc simulate`: naive defaults as payload transformations, where the
simulator serves a provider, and the minimum override."""

from __future__ import annotations

import copy

from promptc.core.providers import parse_target
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.base import WireCall
from promptc.runtime.sim import SimApp, Simulator
from promptc.runtime.simulate.rules import (GENERIC, naive_anthropic, naive_bedrock, naive_implicit, naive_openai,
                                            naive_openrouter, rules_for, served, sim_min_kwargs, sim_prefixes,
                                            with_min_tokens)

from tests.providers.conftest import LOW_MIN


def build(team, target, **kw):
    config = with_min_tokens(RuntimeConfig(), target, LOW_MIN)
    client = Client(target, api_key="k", base_url="http://sim.invalid", config=config, **kw)
    return client.build(team.plans["backend"].bind().render(file="a.py", query="q"))


def markers(payload, key):
    """Paths of every dict that carries ``key``."""
    found = []

    def walk(obj, path):
        if isinstance(obj, dict):
            if key in obj:
                found.append(path)
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")

    walk(payload, "")
    return found


def test_anthropic_naive_is_one_marker_on_the_last_system_block(team):
    call = build(team, "anthropic/claude-sonnet-4-5", retention="long")
    assert len(markers(call.payload, "cache_control")) == 2  # promptc: shared prefix and agent prefix
    before = copy.deepcopy(call.payload)
    naive = naive_anthropic(call, parse_target("anthropic/claude-sonnet-4-5"))
    assert markers(naive.payload, "cache_control") == [f"system[{len(before['system']) - 1}]"]
    assert naive.payload["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert call.payload == before  # the adapter's payload is not modified
    strip = lambda p: [{k: v for k, v in b.items() if k != "cache_control"} for b in p["system"]]  # noqa: E731
    assert strip(naive.payload) == strip(before) and naive.payload["messages"] == before["messages"]
    assert naive.marks == [] and naive.cache_key is None


def test_openai_naive_strips_key_and_breakpoints_and_keeps_retention(team):
    call = build(team, "openai/gpt-5.6")
    assert call.payload["prompt_cache_key"] and markers(call.payload, "prompt_cache_breakpoint")
    naive = naive_openai(call, parse_target("openai/gpt-5.6"))
    assert "prompt_cache_key" not in naive.payload and not markers(naive.payload, "prompt_cache_breakpoint")
    assert naive.payload["prompt_cache_options"] == {"mode": "implicit", "ttl": "30m"}
    old = build(team, "openai/gpt-5.4")
    naive = naive_openai(old, parse_target("openai/gpt-5.4"))
    assert naive.payload == {k: v for k, v in old.payload.items() if k != "prompt_cache_key"}
    assert naive.payload["prompt_cache_retention"] == "in_memory"


def test_bedrock_openrouter_and_self_hosted_naive_defaults():
    bedrock = WireCall("/model/m/converse", {
        "system": [{"text": "rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}, {"text": "agent"},
                   {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "q"}, {"cachePoint": {"type": "default"}}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "t"}}, {"cachePoint": {"type": "default"}}]}})
    out = naive_bedrock(bedrock, parse_target("bedrock/claude-sonnet-4-5")).payload
    assert out["system"] == [{"text": "rules"}, {"text": "agent"}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][0]["content"] == [{"text": "q"}] and out["toolConfig"]["tools"] == [{"toolSpec": {"name": "t"}}]
    router = WireCall("/chat/completions", {
        "model": "anthropic/claude-sonnet-4.5", "session_id": "s1",
        "messages": [{"role": "system", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                                                    {"type": "text", "text": "b"}]},
                     {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}]},
        headers={"x-session-id": "s1"})
    out = naive_openrouter(router, parse_target("openrouter/anthropic/claude-sonnet-4.5"))
    assert "session_id" not in out.payload and out.headers == {}
    assert markers(out.payload, "cache_control") == ["messages[0].content[1]"]
    vllm = WireCall("/chat/completions", {"model": "m", "cache_salt": "tenant-a", "messages": []},
                    headers={"X-SMG-Routing-Key": "k", "x-other": "1"})
    out = naive_implicit(vllm, parse_target("vllm/m"))
    assert out.payload == {"model": "m", "messages": []} and out.headers == {"x-other": "1"}


def test_where_the_simulator_serves_a_provider():
    app = SimApp()
    assert sim_prefixes("openai", "https://api.openai.com/v1") == ["/openai/v1", "/openai", "/v1"]
    assert served(app.app.routes, "/v1/chat/completions") and served(app.app.routes, "/v1/messages")
    assert not served(app.app.routes, "/openai/v1/chat/completions")
    assert rules_for("nosuch") is GENERIC
    # the minimum override: the table's row, else a `<provider>_min_tokens` argument of the simulator
    assert sim_min_kwargs(Simulator, parse_target("anthropic/claude-sonnet-4-5"), 256) == \
        {"anthropic_min_tokens": {"claude-sonnet-4-5": 256}}
    assert sim_min_kwargs(Simulator, parse_target("openai/gpt-5.6"), 256) == {"openai_min_tokens": 256}
    assert sim_min_kwargs(Simulator, parse_target("deepseek/deepseek-chat"), 256) is None
    cfg = with_min_tokens(RuntimeConfig.from_dict({"cache_limits": {"openai/": {"max_breakpoints": 2}}}),
                          "openai/gpt-5.6", 256)
    assert cfg.cache_limits == {"openai/": {"max_breakpoints": 2}, "openai/gpt-5.6": {"min_tokens": 256}}
