"""OpenAI facts (Chat Completions and Responses)."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://platform.openai.com/docs/guides/prompt-caching"
LIMITS = Source(DOCS, "2026-10", "automatic caching from 1,024 tokens in 128-token increments")
EXPLICIT = Source(DOCS, "2026-10", "gpt-5.6+: explicit breakpoints, 4 writes per request (one implicit), "
                                   "prompt_cache_options.ttl 30m (minimum) or 12h")
_AUTO = {"short": "in_memory", "long": "24h"}
_EXPLICIT = {"short": "30m", "long": "12h"}


def tokenizer(model: str) -> tuple[str, bool]:
    m = model.lower()
    if m.startswith(("gpt-4-", "gpt-4o-mini-2023", "gpt-3.5")) or m in ("gpt-4", "gpt-3.5-turbo"):
        return "cl100k_base", True
    return "o200k_base", True


SPEC = ProviderSpec(
    name="openai",
    price_id="openai",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=tokenizer,
    env_key="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    default_base_url="https://api.openai.com/v1",
    usage="inclusive",
    # in_memory: "typically cleared within 5 to 10 minutes of inactivity, always within one hour":
    # modelled at its upper bound (the simulator's value since it was written)
    ttls={"in_memory": 600.0, "24h": 86400.0, "30m": 1800.0, "12h": 43200.0},
    retention=_AUTO,
    write_multipliers={"30m": 1.25, "12h": 1.25},
    # "routing hashes about the first 256 tokens together with prompt_cache_key" (sources["key"])
    keyed_cache=True,
    models=(
        ModelLimits("openai/", 1024, 0, "automatic", LIMITS, block_size=128, ttls=("in_memory", "24h")),
        # gpt-5.5 has extended (24h) retention only
        ModelLimits("openai/gpt-5.5", 1024, 0, "automatic", LIMITS, block_size=128, ttls=("24h",),
                    retention={"short": "24h", "long": "24h"}),
        # 4 writes, one taken by the implicit breakpoint
        ModelLimits("openai/gpt-5.6", 1024, 3, "explicit", EXPLICIT, ttls=("30m", "12h"), retention=_EXPLICIT),
        ModelLimits("openai/gpt-5.7", 1024, 3, "explicit", EXPLICIT, ttls=("30m", "12h"), retention=_EXPLICIT),
    ),
    sources={
        "render": Source(DOCS, "2026-10", "tools and the system message form the start of the cached prefix"),
        "limits": LIMITS,
        "explicit": EXPLICIT,
        "key": Source(DOCS, "2026-10", "routing hashes the first ~256 tokens together with prompt_cache_key "
                                       "(docs/reference/provider-caching.md §2)"),
        "ttls": Source(DOCS, "2026-10", "in_memory 5–10 min idle (≤1 h); 24h extended; gpt-5.6: 30m, 12h"),
        "write_multipliers": Source("https://platform.openai.com/docs/pricing", "2026-10",
                                    "gpt-5.6+ cache writes 1.25× input; earlier models free"),
        "usage": Source("https://platform.openai.com/docs/api-reference/chat/object", "2026-10",
                        "prompt_tokens includes prompt_tokens_details.cached_tokens"),
        "env": Source("https://github.com/openai/openai-python", "2026-10", "OPENAI_API_KEY, OPENAI_BASE_URL"),
        "tokenizer": Source("https://github.com/openai/tiktoken", "2026-10", "o200k_base; cl100k_base for GPT-4/3.5"),
    },
)
