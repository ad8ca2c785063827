"""Prices come from genai-prices: for current models of every provider, ``reply.cost`` of a real reply (the
provider simulator over loopback HTTP) equals genai-prices' own price of the usage on the wire, computed
here with genai-prices' API (tests/price_oracle.py; never through promptc.core.prices). A model no source
knows is unpriced: cost None and the W509 warning, never another model's row."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import pytest

import promptc
from promptc.core.prices import cost_of, price_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import UnpricedWarning
from promptc.runtime.sim import Simulator
from promptc.runtime.usage import Usage
from tests.price_oracle import genai_cost
from tests.providers.conftest import REPO

#: (target, base-URL suffix on the simulator, a function: raw usage of the reply → genai-prices' counters)


def _anthropic(u):
    split = u.get("cache_creation") or {}
    w1 = split.get("ephemeral_1h_input_tokens", 0)
    total_write = u.get("cache_creation_input_tokens") or 0
    return dict(uncached=u["input_tokens"], cache_read=u.get("cache_read_input_tokens") or 0,
                cache_write={"5m": total_write - w1, "1h": w1}, output=u["output_tokens"])


def _chat(u):
    d = u.get("prompt_tokens_details") or {}
    read, write = d.get("cached_tokens") or 0, d.get("cache_write_tokens") or 0
    return dict(uncached=u["prompt_tokens"] - read - write, cache_read=read, cache_write={"5m": write},
                output=u["completion_tokens"])


def _deepseek(u):
    return dict(uncached=u["prompt_cache_miss_tokens"], cache_read=u["prompt_cache_hit_tokens"],
                output=u["completion_tokens"])


CASES = [
    ("anthropic/claude-sonnet-4-5", "", _anthropic),
    ("anthropic/claude-opus-4-8", "", _anthropic),
    ("anthropic/claude-haiku-4-5", "", _anthropic),
    ("openai/gpt-5.4", "/v1", _chat),
    ("openai/gpt-5.5", "/v1", _chat),
    ("openai/gpt-4.1", "/v1", _chat),
    ("deepseek/deepseek-v4-flash", "/deepseek", _deepseek),
    ("deepseek/deepseek-v4-pro", "/deepseek", _deepseek),
    ("moonshot/kimi-k2.6", "/moonshot/v1", _chat),
    ("openrouter/anthropic/claude-sonnet-4.5", "/openrouter/api/v1", _chat),
    ("openrouter/openai/gpt-5.5", "/openrouter/api/v1", _chat),
]


@pytest.fixture(scope="module")
def sim():
    with Simulator(anthropic_min_tokens={m: 256 for m in ("claude-sonnet-4-5", "claude-opus-4-8", "claude-haiku-4-5")},
                   openai_min_tokens=256) as s:
        yield s


@pytest.fixture(scope="module")
def team():
    return promptc.compile(REPO / "examples" / "team")


CONFIG = RuntimeConfig.from_dict({"cache_limits": {"anthropic/": {"min_tokens": 256}, "openai/": {"min_tokens": 256},
                                                   "openrouter/": {"min_tokens": 256}}})


@pytest.mark.parametrize(("target", "suffix", "counters"), CASES, ids=[c[0] for c in CASES])
def test_reply_cost_is_genai_prices_price_of_the_wire_usage(sim, team, target, suffix, counters):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnpricedWarning)  # every model here is priced
        client = Client(target, base_url=sim.url + suffix, api_key="sk-oracle-123456", config=CONFIG)
    with client:
        session = team["backend"].bind()
        for q in ("first", "second"):  # a write, then a read
            reply = client.complete(session.render(file="a.py", query=q), max_tokens=16)
            expected = genai_cost(target, **counters(reply.usage.raw))
            assert reply.cost == pytest.approx(expected, rel=1e-9, abs=1e-15), (target, reply.usage.raw)
            assert reply.cost_detail.total == reply.cost
    assert reply.usage.cache_read, f"{target}: the second request should read the prefix"


def test_long_context_tier_and_the_price_at_the_request_time():
    """Above 272k input tokens gpt-5.5 charges its long-context tier; DeepSeek's price depends on the
    request's time of day (peak/off-peak): both as genai-prices computes them."""
    big = Usage(uncached=300_000, cache_read=10_000, cache_write={}, output=1_000)
    p = price_for("openai/gpt-5.5")
    assert cost_of(big, p).total == pytest.approx(genai_cost("openai/gpt-5.5", uncached=300_000, cache_read=10_000,
                                                             output=1_000), rel=1e-12)
    flat = p.input * 300_000 / 1e6  # the base rate would under-charge the tier
    assert cost_of(big, p).uncached > flat * 1.5
    u = Usage(uncached=1_000, cache_read=50_000, cache_write={}, output=500)
    costs = set()
    for hour in (2, 12):
        at = datetime(2026, 12, 1, hour, tzinfo=timezone.utc)
        got = cost_of(u, price_for("deepseek/deepseek-v4-flash", at=at), at=at).total
        assert got == pytest.approx(genai_cost("deepseek/deepseek-v4-flash", uncached=1_000, cache_read=50_000,
                                               output=500, at=at), rel=1e-12)
        costs.add(round(got, 12))
    assert len(costs) == 2, "peak and off-peak hours must be priced differently"


def test_unknown_model_is_unpriced_with_a_coded_warning(sim, team):
    """No family fallback: a model genai-prices does not know gets cost None and W509, never a sibling's row."""
    assert price_for("openai/gpt-9-nosuch") is None
    assert price_for("anthropic/claude-nosuch-9") is None
    with pytest.warns(UnpricedWarning, match=r"W509.*openai/gpt-9-nosuch.*tool\.promptc\.prices"):
        client = Client("openai/gpt-9-nosuch", base_url=sim.url + "/v1", api_key="sk-oracle-123456", config=CONFIG)
    with client:
        reply = client.complete(team["backend"].bind().render(file="a.py", query="q"), max_tokens=8)
    assert reply.cost is None and reply.cost_detail is None
    assert reply.usage.output  # the reply itself is fine: only its price is unknown


def test_project_overrides_win_over_genai_prices():
    over = {"anthropic/claude-sonnet-4-5": {"input": 1.0, "output": 2.0, "read": 0.5, "write": 3.0}}
    p = price_for("anthropic/claude-sonnet-4-5", over)
    assert (p.input, p.output, p.read, p.source) == (1.0, 2.0, 0.5, "pyproject.toml")
    c = cost_of(Usage(uncached=1_000_000, cache_read=1_000_000, cache_write={"5m": 1_000_000}, output=1_000_000), p)
    assert c.total == pytest.approx(1.0 + 0.5 + 3.0 + 2.0)
    # an override can price a model no source knows
    assert price_for("openai/gpt-9-nosuch", {"openai/gpt-9-nosuch": {"input": 2.0, "output": 8.0}}).input == 2.0


def test_lint_prices_a_break_through_the_same_function():
    from promptc.lint.pricing import break_cost

    got = break_cost("anthropic/claude-sonnet-4-5", 10_000)
    write = genai_cost("anthropic/claude-sonnet-4-5", uncached=0, cache_write={"5m": 10_000})
    read = genai_cost("anthropic/claude-sonnet-4-5", uncached=0, cache_read=10_000)
    assert got == pytest.approx(write - read, rel=1e-12)
    assert break_cost("openai/gpt-9-nosuch", 10_000) is None
