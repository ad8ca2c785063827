"""Claude on Vertex AI: promptc's request is byte-for-byte what the official SDK's ``AnthropicVertex``
client sends (URL, body), the simulator answers both, the spec's facts, usage and genai-prices' cost
(its ``google`` provider), E528 without a project, and the `promptc simulate` row."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types import Message

from promptc.core.errors import PromptcError
from promptc.core.providers import SPECS, limits_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import SimApp, Simulator
from promptc.runtime.sim import cache as sim_cache
from promptc.runtime.simulate import simulate

from .chat_compat import AGENTS, small_day
from .conftest import LOW_MIN

TARGET = "vertex/claude-sonnet-4-5@20250929"
MODEL = "claude-sonnet-4-5@20250929"


@pytest.fixture()
def vsim(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "acme-prod")
    monkeypatch.delenv("CLOUD_ML_REGION", raising=False)
    with Simulator(min_tokens=LOW_MIN) as s:
        yield s


def low_config():
    return RuntimeConfig.from_dict({"cache_limits": {"vertex/": {"min_tokens": LOW_MIN}}})


def test_spec_facts_and_the_simulator_agree():
    assert limits_for(TARGET).min_tokens == limits_for("anthropic/claude-sonnet-4-5").min_tokens
    assert limits_for("vertex/claude-opus-4-6@x").min_tokens == limits_for("anthropic/claude-opus-4-6").min_tokens
    assert SimApp().vertex.min_tokens("acme\x00claude-opus-4-6@x") == limits_for("vertex/claude-opus-4-6").min_tokens
    assert dict(SPECS["vertex"].ttls) == {"5m": sim_cache.TTL_S["5m"]}


def test_promptc_sends_what_the_official_vertex_client_sends(team, vsim):
    req = team["backend"].bind().render(file="a.py", query="q")
    client = Client(TARGET, base_url=vsim.url + "/vertex/v1", api_key="ya29.token", config=low_config())
    ours = client.complete(req, max_tokens=32)
    mine = vsim.requests[-1]
    call = client.build(req, max_tokens=32)
    sdk = anthropic.AnthropicVertex(region="global", project_id="acme-prod", access_token="ya29.token",
                                    base_url=vsim.url + "/vertex/v1", max_retries=0)
    # anthropic 2.17's Vertex client defaults anthropic_version to its API version ("2026-10-21"); Anthropic's
    # and Google's Vertex pages require "vertex-2023-10-16", which promptc sends: the SDK is given that value
    theirs = sdk.messages.create(model=MODEL, extra_body={"anthropic_version": call.payload["anthropic_version"]},
                                 **{k: v for k, v in call.payload.items() if k != "anthropic_version"})
    official = vsim.requests[-1]
    assert mine["path"] == official["path"] == (
        f"/vertex/v1/projects/acme-prod/locations/global/publishers/anthropic/models/{MODEL}:rawPredict")
    assert mine["payload"] == official["payload"]
    assert "model" not in mine["payload"] and "cache_control" not in mine["payload"]
    assert isinstance(theirs, Message) and theirs.usage.cache_read_input_tokens == sum(ours.usage.cache_write.values())


def test_team_usage_and_cost(team, vsim):
    from genai_prices import Usage as GU, calc_price

    client = Client(TARGET, base_url=vsim.url + "/vertex/v1", api_key="t", retention="long", config=low_config())
    replies = [client.complete(team[a].bind().render(file="a.py", query=a), max_tokens=16) for a in AGENTS]
    marks = [m for r in vsim.requests for b in r["payload"].get("system", []) for m in [b.get("cache_control")] if m]
    assert marks and all(m == {"type": "ephemeral"} for m in marks)  # long retention: still 5 minutes
    assert replies[0].usage.cache_read == 0 and all(r.usage.cache_read > 0 for r in replies[1:])
    for r in replies:
        u = r.usage
        assert set(u.cache_write) <= {"5m"}
        w = sum(u.cache_write.values())
        oracle = calc_price(GU(input_tokens=u.uncached + u.cache_read + w, cache_read_tokens=u.cache_read or None,
                               cache_write_tokens=w or None, output_tokens=u.output), MODEL, provider_id="google")
        assert r.cost == pytest.approx(float(oracle.total_price), rel=1e-9)


def test_a_project_is_required_and_settings_are_checked(team, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_VERTEX_PROJECT_ID", raising=False)
    req = team["docs"].bind().render(file="a", query="q")
    with pytest.raises(PromptcError) as e:
        Client(TARGET, api_key="t").build(req)
    assert e.value.code == "E528" and "ANTHROPIC_VERTEX_PROJECT_ID" in str(e.value)
    cfg = RuntimeConfig.from_dict({"providers": {"vertex": {"project": "p1", "region": "europe-west1"}}})
    c = Client(TARGET, api_key="t", config=cfg)
    assert c.base_url == "https://europe-west1-aiplatform.googleapis.com/v1"
    assert c.build(req).path.startswith("/projects/p1/locations/europe-west1/")
    with pytest.raises(PromptcError) as bad:
        Client(TARGET, api_key="t", config=RuntimeConfig.from_dict({"providers": {"vertex": {"project": 7}}}))
    assert bad.value.code == "E528"


def test_simulate_row_promptc_beats_the_naive_default_and_reaches_the_best(team, monkeypatch):
    # no Google Cloud project anywhere: `promptc simulate` talks to the simulator and needs none (no E528)
    monkeypatch.delenv("ANTHROPIC_VERTEX_PROJECT_ID", raising=False)
    (row,) = simulate(small_day(team), [TARGET], min_tokens=LOW_MIN, config=RuntimeConfig())
    assert row.tallies["promptc"].cost <= row.tallies["naive"].cost
    assert row.share_of_best("promptc") >= 0.98
    # ... while a real client still needs one
    with pytest.raises(PromptcError) as missing:
        Client(TARGET, api_key="t", base_url="http://127.0.0.1:9").build(small_day(team).requests[0])
    assert missing.value.code == "E528"
