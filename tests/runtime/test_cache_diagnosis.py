"""Anthropic's cache-diagnosis beta: opt-in, the simulator answers with the verdict, the trace stores
it next to promptc's reason, ``trace stats`` counts misses by (promptc reason, provider verdict).

Oracles: the official SDK's types (``anthropic.types.beta.BetaMessage``) parse what the simulator
returned, and the official SDK client drives the simulator route directly."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from anthropic.types.beta import BetaMessage
from click.testing import CliRunner

from promptc.cli import cli
from promptc.core.errors import PromptcError
from promptc.core.providers import spec_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.diagnosis import verdict
from promptc.runtime.trace import Tracer, read_trace, stats

from tests.providers.conftest import LOW_MIN

TARGET = "anthropic/claude-sonnet-4-5"
BETA = spec_for("anthropic").cache_diagnosis_beta


def cfg(**anthropic_settings) -> RuntimeConfig:
    return RuntimeConfig.from_dict({"cache_limits": {"anthropic/": {"min_tokens": LOW_MIN}},
                                    "providers": {"anthropic": anthropic_settings}})


def test_the_beta_is_the_documented_one():
    assert BETA == "cache-diagnosis-2026-04-07"
    assert BETA in anthropic.types.AnthropicBetaParam.__args__[-1].__args__  # the SDK's list of betas


def test_off_by_default_nothing_is_sent(team, sim):
    with Client(TARGET, base_url=sim.url, api_key="k", config=cfg()) as c:
        c.complete(team["backend"].bind().render(file="a", query="1"), max_tokens=8)
    sent = sim.requests[-1]
    assert "diagnostics" not in sent["payload"] and "anthropic-beta" not in sent["headers"]


@pytest.fixture()
def diagnosed(team, sim, tmp_path):
    path = tmp_path / "trace.jsonl"
    tracer = Tracer(path, clock=sim.clock)
    replies = []
    with Client(TARGET, base_url=sim.url, api_key="k", retention="short", config=cfg(cache_diagnosis=True),
                trace=tracer) as c:
        s = team["backend"].bind()
        replies.append(c.complete(s.render(file="a", query="1"), max_tokens=8))
        replies.append(c.complete(s.render(file="a", query="2"), max_tokens=8))
        sim.advance(400)
        with pytest.warns(Warning):  # the collapse monitor (W510) also fires on the expired read
            replies.append(c.complete(s.render(file="a", query="3"), max_tokens=8))
    return path, replies, sim.requests[-3:]


def test_requests_carry_the_beta_and_the_previous_reply_id(diagnosed):
    _, replies, sent = diagnosed
    assert all(BETA in r["headers"]["anthropic-beta"].split(",") for r in sent)
    assert [r["payload"]["diagnostics"] for r in sent] == [
        {"previous_message_id": None}, {"previous_message_id": replies[0].response_id},
        {"previous_message_id": replies[1].response_id}]


def test_the_trace_stores_the_verdict_next_to_promptcs_reason(diagnosed):
    path, replies, _ = diagnosed
    recs = read_trace(path)
    sdk = [BetaMessage.model_validate(r.raw).diagnostics for r in replies]  # the official SDK's reading
    assert sdk[0] is None and recs[0]["provider_verdict"] is None  # first call: nothing to compare
    for rec, d in zip(recs[1:], sdk[1:]):
        assert rec["provider_verdict"] == {"reason": d.cache_miss_reason.type,
                                           "cache_missed_input_tokens": d.cache_miss_reason.cache_missed_input_tokens}
    # the turn message changed (structurally a messages_changed) while the cache still hit: promptc sees no miss;
    # after the TTL, promptc names ttl_expired next to the same structural verdict
    assert recs[1]["provider_verdict"]["reason"] == "messages_changed" and recs[1]["invalidation"] is None
    assert recs[2]["invalidation"]["reason"] == "ttl_expired"


def test_trace_stats_counts_misses_by_reason_and_verdict(diagnosed):
    path, _, _ = diagnosed
    assert stats(read_trace(path))["misses"] == {"none / messages_changed": 1, "ttl_expired / messages_changed": 1}
    r = CliRunner().invoke(cli, ["trace", "stats", str(path), "--json"])
    assert json.loads(r.stdout)["misses"]["ttl_expired / messages_changed"] == 1
    text = CliRunner().invoke(cli, ["trace", "stats", str(path)]).stdout
    assert "miss: promptc reason / provider verdict" in text
    assert any(line.split()[:3] == ["ttl_expired", "/", "messages_changed"] and line.split()[-1] == "1"
               for line in text.splitlines())


def test_the_sdk_drives_the_simulator_route(sim):
    """The official client, beta and diagnostics params as the SDK sends them; each verdict kind the route gives."""
    sdk = anthropic.Anthropic(base_url=sim.url, api_key="k", max_retries=0)
    base = {"model": "claude-sonnet-4-5", "max_tokens": 8, "betas": [BETA],
            "system": "You review code. " * 40, "messages": [{"role": "user", "content": "one"}]}
    first = sdk.beta.messages.create(**base, diagnostics={"previous_message_id": None})
    assert first.diagnostics is None
    appended = sdk.beta.messages.create(**{**base, "messages": base["messages"] + [
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "two"}]},
        diagnostics={"previous_message_id": first.id})
    assert appended.diagnostics is None  # only appended: no divergence
    changed = {"system": "You review docs. " * 40, "model": "claude-opus-4-1",
               "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}]}
    for field, value in changed.items():
        got = sdk.beta.messages.create(**{**base, field: value}, diagnostics={"previous_message_id": first.id})
        assert got.diagnostics.cache_miss_reason.type == f"{field}_changed"
        assert got.diagnostics.cache_miss_reason.cache_missed_input_tokens > 0
    lost = sdk.beta.messages.create(**base, diagnostics={"previous_message_id": "msg_nope"})
    assert lost.diagnostics.cache_miss_reason.type == "previous_message_not_found"


def test_the_simulator_refuses_diagnostics_without_the_beta(sim):
    r = httpx.post(sim.url + "/v1/messages", headers={"x-api-key": "k"},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 8, "diagnostics": {"previous_message_id": None},
                         "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and BETA in r.json()["error"]["message"]


@pytest.mark.parametrize(("provider", "value", "match"), [("anthropic", "yes", "true or false"),
                                                          ("openai", True, "no cache-miss verdict")])
def test_a_bad_setting_is_e528(provider, value, match):
    config = RuntimeConfig.from_dict({"providers": {provider: {"cache_diagnosis": value}}})
    with pytest.raises(PromptcError, match=rf"E528.*cache_diagnosis.*{match}"):
        Client(f"{provider}/m-1", api_key="k", config=config)


@pytest.mark.parametrize(("raw", "want"), [
    ({}, None), ({"diagnostics": None}, None),
    ({"diagnostics": {"cache_miss_reason": None}}, "pending"),
    ({"diagnostics": []}, "malformed"), ({"diagnostics": {"cache_miss_reason": {"type": "gremlins"}}}, "malformed"),
    ({"diagnostics": {"cache_miss_reason": {"type": "unavailable"}}}, "unavailable")])
def test_a_provider_controls_the_verdict_bytes(raw, want):
    got = verdict(raw)
    assert (got or {}).get("reason") == want
    if got:
        assert got["cache_missed_input_tokens"] is None
