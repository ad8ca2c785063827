"""MiniMax facts: the Anthropic-compatible Messages API (``/anthropic/v1/messages``) with explicit
``cache_control`` breakpoints ("主动缓存"), which promptc uses; its OpenAI-compatible API caches
passively (no markers).

Read 2026-12-06 from platform.minimax.io/docs/api-reference/anthropic-api-compatible-cache and
.../text-prompt-caching: prefixes are built tools → system → messages; a breakpoint looks back at most
20 blocks; cache writes cost 1.25× input and reads 0.1× (M2.5 and earlier) or 0.2× (M2.7: ¥0.42 of
¥2.1) — the prices come from genai-prices, which has both; caching applies from 512 input tokens
(stated for the passive cache; taken for explicit breakpoints too — unverified). The 4-breakpoint
limit and the 5-minute lifetime are Anthropic's, which the page says it is compatible with
(unverified on MiniMax's own page); no 1-hour TTL is documented, so ``long`` retention buys 5m.
"""

from __future__ import annotations

from promptc.core.providers.anthropic import tool_def
from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

DOCS = "https://platform.minimax.io/docs/api-reference/anthropic-api-compatible-cache"
PASSIVE = "https://platform.minimax.io/docs/api-reference/text-prompt-caching"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "20-block lookback; ≥ 512 tokens (passive-cache page); 4 breakpoints (unverified)")
#: re-read 2026-12-07 (search): the passive-cache page says "Caching applies to API calls with 512 or more
#: input tokens"; the explicit-cache page publishes no minimum and no lifetime — promptc assumes 512 and 5m
MINIMUM = Source(PASSIVE, "2026-12-07", "caching applies to API calls with 512 or more input tokens (passive "
                                        "cache); the explicit page states none: 512 assumed for breakpoints")

SPEC = ProviderSpec(
    name="minimax",
    price_id="minimax",  # genai-prices provider id
    render=("tools", "system", "messages"),
    system_roles=("system", "developer"),
    prewarm_max_tokens=1,
    tool_def=tool_def,
    tokenizer=lambda model: ("o200k_base", False),
    raw_join=True,
    estimated_tokens=True,
    env_key="MINIMAX_API_KEY",
    base_url_env="MINIMAX_BASE_URL",
    default_base_url="https://api.minimax.io/anthropic",
    usage="exclusive",
    ttls={"5m": 300.0},
    retention={"short": "5m", "long": "5m"},
    write_multipliers={"5m": 1.25},
    models=(ModelLimits("minimax/", 512, 4, "explicit", LIMITS, lookback=20),),
    sources={
        "system_roles": Source(DOCS, "2026-12-07", "the Anthropic-compatible Messages API: instructions "
                                                 "in the top-level `system`, message roles user/assistant"),
        "render": Source(DOCS, READ, "cache prefixes are created in the order tools → system → messages"),
        "limits": LIMITS,
        "minimum": MINIMUM,
        "ttls": Source(DOCS, "2026-12-07", "no lifetime on MiniMax's pages (re-read 2026-12-07): promptc assumes "
                                           "Anthropic's 5-minute ephemeral cache; no 1h documented"),
        "write_multipliers": Source(DOCS, READ, "cache writes 1.25× input; reads 0.1× or 0.2× by model"),
        "usage": Source(DOCS, READ, "input_tokens excludes cache_creation_input_tokens and cache_read_input_tokens"),
        "env": Source(PASSIVE, READ, "international base https://api.minimax.io (China: api.minimaxi.com); "
                                     "MINIMAX_API_KEY is promptc's name"),
        "tokenizer": Source(DOCS, READ, "tokenizer not public: o200k_base proxy"),
    },
)
