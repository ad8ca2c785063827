"""Anthropic Messages API facts (``POST /v1/messages``)."""

from __future__ import annotations

from typing import Any, Mapping

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

DOCS = "https://docs.claude.com/en/docs/build-with-claude/prompt-caching"
REF = "docs/reference/provider-caching.md §1, §11"
LIMITS = Source(DOCS, "2026-10", "minimum cacheable prompt length per model; 4 breakpoints; 20-block lookback")
PRICING = Source("https://docs.claude.com/en/docs/about-claude/pricing", "2026-10", "5m write 1.25×, 1h write 2×, read 0.1×")


def tool_def(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages API tool definition."""
    out = {"name": tool["name"], "input_schema": tool.get("parameters") or {"type": "object"}}
    if tool.get("description"):
        out["description"] = tool["description"]
    return out


#: Opus 5: not in the reference notes; 512 per a 2026 summary of the docs' table (secondary: re-check)
OPUS_5 = Source("https://dev.to/creeta/claudes-prompt-cache-fails-silently-below-1024-tokens-1ch1", "2026-12-06",
                "secondary source quoting the docs: 512 for Opus 5, Fable 5, Mythos 5; 1,024 Opus 4.8, Sonnet 5, "
                "Sonnet 4.6/4.5, Opus 4.1/4; 2,048 Opus 4.7; 4,096 Opus 4.6/4.5, Haiku 4.5")


def _row(model: str, minimum: int, source: Source = LIMITS) -> ModelLimits:
    return ModelLimits(f"anthropic/{model}", minimum, 4, "explicit", source, lookback=20)


#: The cache-diagnosis beta: with ``anthropic-beta: cache-diagnosis-2026-04-07`` a request may carry
#: ``diagnostics: {"previous_message_id": "msg_..." | null}`` and its reply carries ``diagnostics:
#: {"cache_miss_reason": {"type": ..., "cache_missed_input_tokens"?}}`` (``null`` when nothing diverged);
#: types model_changed, system_changed, tools_changed, messages_changed (with cache_missed_input_tokens),
#: previous_message_not_found, unavailable (the official SDK's ``anthropic.types.beta.BetaDiagnostics``).
CACHE_DIAGNOSIS = Source("https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics", "2026-12-06",
                         "beta header cache-diagnosis-2026-04-07; anthropic-sdk-python 2.17.0 BetaDiagnostics")

SPEC = ProviderSpec(
    cache_diagnosis_beta="cache-diagnosis-2026-04-07",
    name="anthropic",
    price_id="anthropic",  # genai-prices provider id
    render=("tools", "system", "messages"),
    system_roles=("system", "developer"),
    prewarm_max_tokens=0,
    tool_def=tool_def,
    tokenizer=lambda model: ("o200k_base", False),
    raw_join=True,
    estimated_tokens=True,
    env_key="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    default_base_url="https://api.anthropic.com",
    usage="exclusive",
    ttls={"5m": 300.0, "1h": 3600.0},
    retention={"short": "5m", "long": "1h"},
    write_multipliers={"5m": 1.25, "1h": 2.0},
    models=(
        _row("", 1024),
        _row("claude-fable-5", 512),
        _row("claude-mythos-5", 512),
        _row("claude-opus-5", 512, OPUS_5),
        _row("claude-sonnet-4-6", 1024, OPUS_5),
        _row("claude-opus-4-8", 1024),
        _row("claude-sonnet-5", 1024),
        _row("claude-sonnet-4", 1024),
        _row("claude-opus-4-1", 1024),
        _row("claude-opus-4-7", 2048),
        _row("claude-mythos-preview", 2048),
        _row("claude-haiku-3-5", 2048),
        _row("claude-opus-4-6", 4096),
        _row("claude-opus-4-5", 4096),
        _row("claude-haiku-4-5", 4096),
    ),
    sources={
        "system_roles": Source("anthropic-sdk-python 2.17.0 types/message_create_params.py, message_param.py",
                               "2026-12-07", "instructions go in the top-level `system`; a message role is user "
                               "or assistant: the API has no developer role"),
        "render": Source("https://docs.claude.com/en/docs/build-with-claude/prompt-caching", "2026-10",
                         "cache prefixes are built in the order tools, system, messages"),
        "limits": LIMITS,
        "ttls": Source(DOCS, "2026-10", "ephemeral 5m (default) and 1h; a hit refreshes the TTL"),
        "write_multipliers": PRICING,
        "usage": Source("https://docs.claude.com/en/api/messages", "2026-10",
                        "input_tokens excludes cache_read_input_tokens and cache_creation_input_tokens"),
        "env": Source("https://github.com/anthropics/anthropic-sdk-python", "2026-10",
                      "ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL"),
        "tokenizer": Source(REF, "2026-10", "tokenizer not public: o200k_base proxy"),
        "prewarm": Source(DOCS, "2026-10", "pre-warm the cache with max_tokens: 0"),
    },
)
