"""Moonshot / Kimi facts."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://platform.moonshot.ai/docs/guide/use-kimi-api-to-do-prompt-caching"
LIMITS = Source(DOCS, "2026-10", "automatic prefix caching in blocks; minimum and block size unpublished")
BLOCKS = Source("docs/reference/provider-caching.md §4", "2026-10",
                "per org, in blocks; partial blocks are not cached; 256-token alignment (unverified: Kimi Code)")

SPEC = ProviderSpec(
    name="moonshot",
    joined_messages=True,  # the adapter's layout (chat_payload): one text per run of same-role segments
    keyed_cache=True,  # "prompt_cache_key is recommended" (docs/reference/provider-caching.md §4)
    price_id="moonshotai",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="MOONSHOT_API_KEY",
    base_url_env="MOONSHOT_BASE_URL",
    default_base_url="https://api.moonshot.ai/v1",
    usage="inclusive",
    ttls={"5m": 300.0, "1h": 3600.0},
    retention={"short": "5m", "long": "1h"},
    write_multipliers={"5m": 1.0, "1h": 2.0},
    models=(
        # whole 256-token blocks (BLOCKS), matched per prompt_cache_key (keyed_cache)
        ModelLimits("moonshot/", None, 0, "automatic", BLOCKS, block_size=256),
        ModelLimits("moonshot/kimi-k3", None, 0, "automatic", BLOCKS, block_size=256),
        # legacy context-cache objects (≤ 128k tokens each, 1M per user), TTL ≤ 1 h, default 1 h
        ModelLimits("moonshot/moonshot-v1", None, 0, "automatic",
                    Source("https://platform.moonshot.ai/docs/api/caching", "2026-10", "context cache objects"),
                    ttls=("1h",), retention={"short": "1h", "long": "1h"}),
    ),
    sources={
        "render": Source("docs/reference/provider-caching.md §4", "2026-10", "tools, then messages"),
        "limits": LIMITS,
        "ttls": Source(DOCS, "2026-10", "prompt_cache_options.ttl 5m (default) or 1h, locked at first write"),
        "write_multipliers": Source("https://platform.moonshot.ai/docs/pricing/chat", "2026-10",
                                    "K3 writes 1× (5m), 2× (1h)"),
        "usage": Source("docs/reference/provider-caching.md §10", "2026-10", "prompt_tokens includes cached"),
        "env": Source("https://platform.moonshot.ai/docs", "2026-10", "MOONSHOT_API_KEY"),
        "tokenizer": Source("docs/reference/provider-caching.md §4", "2026-10", "o200k_base proxy"),
    },
)
