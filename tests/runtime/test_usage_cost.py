"""Usage normalization (inclusive vs exclusive, unknown ≠ 0), cost, retention and config merging."""

from __future__ import annotations

import pytest

from promptc.core.prices import price_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.cost import cost_of
from promptc.runtime.errors import MissingKeyError, RetentionError, RuntimeConfigError
from promptc.runtime.retention import normalize
from promptc.runtime.usage import Usage, from_anthropic, from_openai_chat, from_openai_responses


def test_anthropic_usage_is_exclusive_with_a_ttl_split():
    u = from_anthropic({"input_tokens": 2048, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 248,
                        "cache_creation": {"ephemeral_5m_input_tokens": 148, "ephemeral_1h_input_tokens": 100},
                        "output_tokens": 503})
    assert (u.uncached, u.cache_read, u.cache_write, u.output) == (2048, 1800, {"5m": 148, "1h": 100}, 503)
    assert u.prompt == 2048 + 1800 + 248 and u.semantics == "exclusive"


def test_anthropic_stream_delta_without_split_keeps_the_total():
    u = from_anthropic({"input_tokens": 10, "cache_creation_input_tokens": 40, "cache_read_input_tokens": 0,
                        "output_tokens": 3})
    assert u.cache_write == {"unknown": 40}


def test_openai_chat_usage_is_inclusive():
    u = from_openai_chat({"prompt_tokens": 2006, "completion_tokens": 300,
                          "prompt_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 7}})
    assert (u.uncached, u.cache_read, u.cache_write, u.output, u.reasoning) == (86, 1920, {}, 300, 7)
    assert u.prompt == 2006


def test_openai_write_is_clamped_and_responses_fields_are_read():
    u = from_openai_responses({"input_tokens": 100, "output_tokens": 5,
                               "input_tokens_details": {"cached_tokens": 80, "cache_write_tokens": 50}})
    assert u.uncached == 0 and u.cache_write == {"30m": 50}


def test_a_missing_counter_is_unknown_not_zero():
    u = from_openai_chat({"prompt_tokens": 100, "completion_tokens": 5})  # vLLM without its flag
    assert u.cache_read is None and u.uncached is None and u.prompt is None
    assert cost_of(u, price_for("openai/gpt-5")).total is None
    # before gpt-5.6 there are no writes: absent means 0 there
    assert from_openai_chat({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 0}},
                            writes_exist=False).cache_write == {}


def test_cost_formula_and_price_overrides():
    u = Usage(uncached=1000, cache_read=10_000, cache_write={"5m": 2000, "1h": 1000}, output=500)
    p = price_for("anthropic/claude-opus-4-8")
    c = cost_of(u, p)
    assert c.total == pytest.approx((1000 * 5 + 10_000 * 0.5 + 2000 * 6.25 + 1000 * 10 + 500 * 25) / 1e6)
    over = price_for("anthropic/claude-opus-4-8", {"anthropic/claude-opus": {"input": 1.0, "write": {"5m": 1.0}}})
    assert over.input == 1.0 and over.output == 25.0 and over.source == "pyproject.toml"
    assert price_for("nosuch/model-1") is None  # unknown: no made-up price


def test_retention_values_and_legacy_names():
    assert [normalize(v) for v in ("none", "short", "long", "5m", "1h", None)] == \
        ["none", "short", "long", "short", "long", "short"]
    with pytest.raises(RetentionError) as e:
        normalize("7d", "tool.promptc.cacheRetention")
    assert e.value.code == "E504" and "tool.promptc.cacheRetention" in str(e.value)


def test_retention_merge_order():
    cfg = RuntimeConfig.from_dict({"cacheRetention": "none", "plans": {"backend": {"cacheRetention": "1h"}}})
    c = Client("anthropic/claude-sonnet-4-5", api_key="k", config=cfg)
    assert (c.retention_for("backend"), c.retention_for("docs")) == ("long", "none")
    assert Client("anthropic/claude-sonnet-4-5", api_key="k", config=cfg, retention="short").retention_for(
        "backend") == "short"
    assert Client("anthropic/claude-sonnet-4-5", api_key="k", config=RuntimeConfig()).retention_for("x") == "short"


def test_keys_and_base_urls_come_from_the_standard_places(monkeypatch, tmp_path, team):
    (tmp_path / "pyproject.toml").write_text('[tool.promptc.providers.anthropic]\nbase_url = "http://proxy.local:1"\n')
    cfg = RuntimeConfig.discover(tmp_path)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    c = Client("anthropic/claude-sonnet-4-5", config=cfg)
    assert c.base_url == "http://proxy.local:1"
    with pytest.raises(MissingKeyError, match="E503.*ANTHROPIC_API_KEY"):
        c.complete(team["backend"].bind().render(file="a", query="q"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://env.local:2/")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.local:3/v1")
    assert Client("anthropic/claude-sonnet-4-5", config=cfg).base_url == "http://env.local:2"
    assert Client("anthropic/claude-sonnet-4-5", config=cfg, base_url="http://arg:4").base_url == "http://arg:4"
    assert Client("openai/gpt-5", config=cfg).base_url == "http://env.local:3/v1"


def test_bad_targets_and_config_are_coded_errors(tmp_path):
    with pytest.raises(RuntimeConfigError, match="E507"):
        Client("raw/smollm2", api_key="k", config=RuntimeConfig())  # a target without a runtime adapter
    with pytest.raises(RuntimeConfigError, match="E526"):  # not provider/model: its own code
        Client("nope", api_key="k", config=RuntimeConfig())
    (tmp_path / "pyproject.toml").write_text("[tool.promptc]\nproviders = 3\n")
    with pytest.raises(RuntimeConfigError, match="E528.*providers"):  # a bad runtime setting
        RuntimeConfig.discover(tmp_path)
