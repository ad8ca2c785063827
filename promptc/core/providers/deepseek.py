"""DeepSeek facts (automatic context caching on disk)."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://api-docs.deepseek.com/guides/kv_cache"
LIMITS = Source(DOCS, "2026-10", "64-token units (2024 rule); V4 matches whole cache prefix units")

SPEC = ProviderSpec(
    name="deepseek",
    joined_messages=True,  # the adapter's layout (chat_payload): one text per run of same-role segments
    price_id="deepseek",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="DEEPSEEK_API_KEY",
    base_url_env="DEEPSEEK_BASE_URL",
    default_base_url="https://api.deepseek.com",
    usage="inclusive",
    # "cleared within a few hours to a few days": four hours, best effort
    ttls={"implicit": 4 * 3600.0},
    retention={"short": "implicit", "long": "implicit"},
    models=(
        ModelLimits("deepseek/", 64, 0, "automatic", LIMITS, block_size=64),
        ModelLimits("deepseek/deepseek-v4", None, 0, "automatic", LIMITS),
    ),
    sources={
        "render": Source("docs/reference/provider-caching.md §5", "2026-10", "tools, then messages"),
        "limits": LIMITS,
        "ttls": Source(DOCS, "2026-10", "unused caches cleared within a few hours to a few days"),
        "usage": Source(DOCS, "2026-10", "prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens"),
        "env": Source("https://api-docs.deepseek.com/", "2026-10", "DEEPSEEK_API_KEY; base https://api.deepseek.com"),
        "tokenizer": Source("docs/reference/provider-caching.md §5", "2026-10", "o200k_base proxy"),
    },
)
