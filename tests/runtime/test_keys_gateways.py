"""Plan families (a subagent inherits its parent's cache key / routing key / session id) and gateway
session ids, checked on what the simulator received over loopback HTTP."""

from __future__ import annotations

import pytest

from promptc.core.errors import PromptcError
from promptc.core.providers.gateways import GATEWAYS
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig

from tests.providers.conftest import LOW_MIN

OPENAI = "openai/gpt-4.1"


def config(**tables) -> RuntimeConfig:
    return RuntimeConfig.from_dict({"cache_limits": {"openai/": {"min_tokens": LOW_MIN},
                                                     "anthropic/": {"min_tokens": LOW_MIN}}, **tables})


#: per-plan keys (OpenAI's default is one key per shared prefix): the setting under which siblings miss
PER_PLAN = {"openai": {"cache_key_scope": "plan"}}


def first_calls(team, sim, cfg, plans=("backend", "frontend", "docs")):
    """One first call per plan, in order, on a fresh simulator cache: (cache_read, prompt_cache_key sent)."""
    out = {}
    with Client(OPENAI, base_url=sim.url + "/v1", api_key="k", config=cfg) as c:
        for plan in plans:
            reply = c.complete(team[plan].bind().render(file="a", query="q"), max_tokens=8)
            out[plan] = (reply.usage.cache_read, sim.requests[-1]["payload"].get("prompt_cache_key"))
    return out


def test_sibling_subagents_read_their_parents_prefix_on_their_first_call(team, sim):
    family = first_calls(team, sim, config(providers=PER_PLAN,
                                           plans={"frontend": {"parent": "backend"}, "docs": {"parent": "backend"}}))
    # the wire: one key for the whole family
    assert len({key for _, key in family.values()}) == 1
    # the simulator's cache (scoped by prompt_cache_key) served the shared rules/tools prefix to both siblings
    assert family["backend"][0] == 0 and family["frontend"][0] > 0 and family["docs"][0] > 0


def test_without_a_family_each_plan_pins_its_own_key_and_misses(team):
    from promptc.runtime.sim import Simulator

    with Simulator(openai_min_tokens=LOW_MIN) as fresh:
        alone = first_calls(team, fresh, config(providers=PER_PLAN))
    assert len({key for _, key in alone.values()}) == 3
    assert [read for read, _ in alone.values()] == [0, 0, 0]


@pytest.mark.parametrize("plans", [{"a": {"parent": "a"}}, {"a": {"parent": 3}},
                                   {"a": {"parent": "b"}, "b": {"parent": "a"}}])
def test_a_bad_parent_is_e528(plans):
    with pytest.raises(PromptcError, match=r"E528.*parent"):
        RuntimeConfig.from_dict({"plans": plans})


HEADERS = sorted(name for name, g in GATEWAYS.items() if g.header)


@pytest.mark.parametrize("name", HEADERS)
def test_a_gateway_gets_the_session_id_in_its_header(team, sim, name):
    header = GATEWAYS[name].header.lower()
    cfg = config(providers={"anthropic": {"gateway": name}})
    with Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", config=cfg) as c:
        for plan in ("backend", "backend", "frontend"):
            c.complete(team[plan].bind().render(file="a", query="q"), max_tokens=8)
    sent = [r["headers"].get(header) for r in sim.requests[-3:]]
    assert all(sent) and sent[0] == sent[1] != sent[2]  # one session per plan, stable across its calls


def test_openrouter_gets_session_id_in_the_body_and_a_family_shares_it(team, sim):
    cfg = config(providers={"openai": {"gateway": "openrouter", **PER_PLAN["openai"]}},
                 plans={"frontend": {"parent": "backend"}})
    first_calls(team, sim, cfg, plans=("backend", "frontend"))
    got = [r["payload"] for r in sim.requests[-2:]]
    assert got[0]["session_id"] == got[1]["session_id"] == got[0]["prompt_cache_key"]


def test_a_custom_session_header_and_the_family_key_reach_a_self_hosted_gateway(team, sim):
    cfg = config(providers={"vllm": {"session_header": "X-Session-ID", "base_url": sim.url + "/v1"}},
                 plans={"docs": {"parent": "backend"}})
    with Client("vllm/m", base_url=sim.url + "/vllm/v1", api_key="k", config=cfg) as c:
        for plan in ("backend", "docs"):
            c.complete(team[plan].bind().render(file="a", query="q"), max_tokens=8)
    sent = [r["headers"].get("x-session-id") for r in sim.requests[-2:]]
    assert sent[0] and sent[0] == sent[1]


@pytest.mark.parametrize(("table", "match"), [({"gateway": "nosuch"}, r"unknown gateway `nosuch`"),
                                              ({"session_header": "bad header"}, r"HTTP header name")])
def test_a_bad_gateway_setting_is_e528(table, match):
    with pytest.raises(PromptcError, match=rf"E528.*{match}"):
        Client(OPENAI, api_key="k", config=RuntimeConfig.from_dict({"providers": {"openai": table}}))


def test_every_gateway_fact_has_a_dated_source():
    for g in GATEWAYS.values():
        assert g.source.ref.startswith("https://") and g.source.date == "2026-12-06"
        assert (g.header is None) != (g.body_field is None)


def test_providers_break_even_prints_the_formula_from_the_price_data():
    """`promptc providers --break-even`: the multipliers come from genai-prices and the TTLs from the spec."""
    import json

    from click.testing import CliRunner

    from promptc.cli import cli
    from promptc.core.prices import price_for

    p = price_for("anthropic/claude-sonnet-4-5")
    want = (p.write_multiplier("1h") - p.write_multiplier("5m")) / (p.write_multiplier("5m") - p.read)
    r = CliRunner().invoke(cli, ["providers", "--break-even", "anthropic/claude-sonnet-4-5", "--format", "json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert row["break_even_calls"] == round(want, 4) and row["calls_needed"] == 1
    assert row["ttl_seconds"] == {"short": 300.0, "long": 3600.0}
    text = CliRunner().invoke(cli, ["providers", "--break-even", "anthropic/claude-sonnet-4-5",
                                    "--break-even", "openai/gpt-5.6"]).stdout.splitlines()
    assert "long pays for itself after 0.6522 call(s)" in text[0] and "no break-even to reach" in text[1]
    bad = CliRunner().invoke(cli, ["providers", "--break-even", "claude"])
    assert isinstance(bad.exception, PromptcError) and "E526" in str(bad.exception)  # main() prints it coded


@pytest.mark.parametrize("target", ["xai/grok-4", "mistral/mistral-large-latest", "moonshot/kimi-k2.6",
                                    "openrouter/openai/gpt-4.1", "sglang/m"])
def test_every_keyed_provider_sends_the_family_key(team, target):
    """Built (not sent): the key each provider's wire carries is one per family and per tenant."""
    fam = RuntimeConfig.from_dict({"plans": {"frontend": {"parent": "backend"}}})

    def key(plan, tenant=None):
        with Client(target, api_key="k", config=fam, tenant=tenant) as c:
            return c.build(team[plan].bind().render(file="a", query="q")).cache_key

    assert key("backend") and key("backend") == key("frontend") != key("docs")
    assert key("frontend", tenant="acme") != key("frontend")
