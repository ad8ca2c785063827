"""Moonshot / Kimi facts."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://platform.moonshot.ai/docs/guide/use-kimi-api-to-do-prompt-caching"
#: Moonshot's own announcement of the 5m/1h Cache Write (read 2026-12-07): "Cache Write is now billed as a
#: separate item"; TTL 5m or 1h; "When prompt_cache_options is omitted, the system uses the 5m TTL by default:
#: prefixes that meet the hit conditions are automatically written to the cache ... and Cache Write charges apply".
ANNOUNCEMENT = "https://forum.moonshot.ai/t/context-caching-upgrade-5-min-1-hour-ttl-options/613"
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
        "ttls": Source(f"{DOCS}; {ANNOUNCEMENT}", "2026-12-07",
                       "prompt_cache_options.ttl 5m (the default when omitted) or 1h, selectable per request; "
                       "locked at first write"),
        # the automatic write is billed (a separate Cache Write item, also without prompt_cache_options), so a
        # break pays the re-written prefix at the TTL's write price: lint prices it so (promptc/lint/pricing.py)
        "write_multipliers": Source(f"https://platform.moonshot.ai/docs/pricing/chat; {ANNOUNCEMENT}", "2026-12-07",
                                    "K3 Cache Write ¥20/M at 5m = 1× the miss price, ¥40/M at 1h = 2×; hit 0.1×; "
                                    "every automatic write is billed"),
        "usage": Source(f"docs/reference/provider-caching.md §4, §10; {ANNOUNCEMENT}", "2026-12-07",
                        "prompt_tokens includes cached; cached_tokens only: no cache-write count is documented "
                        "(the write fee is billed, not reported)"),
        "env": Source("https://platform.moonshot.ai/docs", "2026-10", "MOONSHOT_API_KEY"),
        "tokenizer": Source("docs/reference/provider-caching.md §4", "2026-10", "o200k_base proxy"),
    },
)
