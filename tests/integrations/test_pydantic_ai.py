"""pydantic-ai (AnthropicModel) driven for real against the simulator: the markers pydantic-ai can carry
reach the wire, turn 2 reads the cache, and usage maps back to promptc's Usage.

RECORDED is what the pinned pydantic-ai does to the payload promptc builds: it joins the instructions into
ONE system block (the inner marker after the shared rules is lost) and adds ``stream``/``tool_choice``;
a new version that changes any of that fails test_pydantic_ai_anthropic_three_turns until someone looks."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from promptc.integrations.pydantic_ai import to_pydantic_ai
from .conftest import diff, received

PINNED = "2.78.0"
RECORDED = {
    # system: promptc's 3 blocks (2 markers) arrive as ONE block, each part stripped then "\n\n"-joined,
    # with the last marker only;
    # stream/tool_choice: pydantic-ai's defaults (`false`, `{"type": "auto"}`), both the API's defaults too
    "dropped": set(), "added": {"stream", "tool_choice"}, "changed": {"system"},
}


def test_the_pinned_version_is_installed():
    assert version("pydantic-ai-slim") == PINNED


@pytest.mark.filterwarnings("ignore:Model .* is deprecated")  # pydantic-ai flags the model name's retirement date
def test_pydantic_ai_anthropic_three_turns(sim, turns, low_min_config):
    reads = []
    for req in turns:
        pc = to_pydantic_ai(req, "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config,
                            max_tokens=32)
        n = len(sim.requests)
        result = pc.agent(base_url=sim.url, api_key="sk-ant-sim").run_sync(pc.prompt)
        sent, built = received(sim, n), pc.sdk.kwargs
        assert diff(sent, built) == RECORDED
        assert sent["stream"] is False and sent["tool_choice"] == {"type": "auto"}
        # exactly the recorded loss: one joined block carrying the LAST system marker; the inner one is gone
        texts, marks = [b["text"] for b in built["system"]], [b.get("cache_control") for b in built["system"]]
        assert marks[-1] == {"type": "ephemeral", "ttl": "1h"} and pc.lost_marks == [0] and marks[0]
        joined = "\n\n".join(t.strip() for t in texts)  # each part stripped, then joined: the trailing "\n" is lost
        assert sent["system"] == [{"type": "text", "text": joined, "cache_control": marks[-1]}]
        assert sent["tools"] == built["tools"] and sent["messages"] == built["messages"]
        usage = pc.usage(result)
        run = result.usage  # pydantic-ai's own mapping, the oracle
        assert usage.cache_read == run.cache_read_tokens
        assert usage.cache_write.get("1h", 0) == run.cache_write_1h_tokens
        assert usage.uncached + usage.cache_read + sum(usage.cache_write.values()) == run.input_tokens
        assert usage.output == run.output_tokens
        assert pc.cost(result).total > 0
        reads.append(usage.cache_read)
    # the joined block's marker still covers tools + the whole system: turn 2 reads all of it
    assert reads[0] == 0 and reads[1] > 0 and reads[2] == reads[1]


@pytest.mark.filterwarnings("ignore:Model .* is deprecated")
def test_append_instructions_place_the_inner_marker_but_not_the_plans_bytes(sim, turns, low_min_config):
    """pydantic-ai 2.78's one way to a second system cache point: instructions registered with
    ``on_change="append"`` get a cache point after them, and the literal instructions one after theirs. It
    places a marker after the shared rules, as promptc's plan does, but sends the appended blocks wrapped
    in ``<pyai:context>`` plus a block of its own explaining them: the bytes after the rules are not the
    plan's. So to_pydantic_ai keeps the literal instructions (the plan's text, one marker); this test
    records the alternative so that a version that sends the blocks unwrapped shows up here."""
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    pc = to_pydantic_ai(turns[0], "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config,
                        max_tokens=32)
    rules, *rest = pc.instructions
    model = AnthropicModel("claude-sonnet-4-5", provider=AnthropicProvider(base_url=sim.url, api_key="sk-ant-sim"))
    agent = Agent(model, instructions=rules, model_settings=dict(pc.settings))
    for i, text in enumerate(rest):
        agent.instructions(on_change="append", name=f"segment{i}")((lambda t: lambda: t)(text))
    n = len(sim.requests)
    agent.run_sync(pc.prompt)
    system = received(sim, n)["system"]
    marks = [b.get("cache_control") for b in system]
    assert marks[0] == {"type": "ephemeral", "ttl": "1h"} and system[0]["text"] == rules.strip()  # the inner marker
    assert len(system) == 1 + len(rest) and marks[1:] == [None] * (len(rest) - 1) + [marks[0]]  # + the last one
    wrapped = [f'<pyai:context id="agent:segment{i}">\n{t}</pyai:context>' for i, t in enumerate(rest)]
    assert [b["text"] for b in system[1:-1]] == wrapped[:-1]
    # the last appended block also carries pydantic-ai's explanation of the elements
    assert system[-1]["text"].startswith(wrapped[-1] + "\n") and len(system[-1]["text"]) > len(wrapped[-1]) + 1


def test_other_targets_are_refused_with_the_reason(turns):
    with pytest.raises(ValueError, match="anthropic/\\*"):
        to_pydantic_ai(turns[0], "gemini/gemini-2.5-flash")


@pytest.mark.filterwarnings("ignore:Model .* is deprecated")
def test_tool_and_user_markers_reach_the_wire(sim, turns, low_min_config, monkeypatch):
    """The team example marks only system blocks; a plan that marks the last tool and a user part (here
    added to the built payload) gets anthropic_cache_tool_definitions and a CachePoint, both on the wire."""
    import promptc.integrations.pydantic_ai as mod

    def marked(*args, **kw):
        call = to_sdk(*args, **kw)
        call.kwargs["tools"][-1]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
        call.kwargs["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
        return call

    to_sdk = mod.to_sdk
    monkeypatch.setattr(mod, "to_sdk", marked)
    pc = to_pydantic_ai(turns[0], retention="long", config=low_min_config, max_tokens=32)
    assert pc.settings["anthropic_cache_tool_definitions"] == "1h"
    n = len(sim.requests)
    pc.agent(base_url=sim.url, api_key="sk-ant-sim").run_sync(pc.prompt)
    sent, built = received(sim, n), pc.sdk.kwargs
    assert sent["tools"] == built["tools"] and sent["messages"] == built["messages"]
