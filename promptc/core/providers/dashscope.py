"""Alibaba Cloud Model Studio (DashScope, Qwen) facts: explicit ``cache_control`` markers on the
OpenAI-compatible Chat Completions API, and an implicit cache used when a request has no marker.

Read 2026-12-06 from alibabacloud.com/help/en/model-studio/context-cache (last updated 2026-10-11):

- explicit cache: ``"cache_control": {"type": "ephemeral"}`` on content parts, at most 4 markers per
  request, each looks back at most 20 content blocks for a stored prefix; a cache block holds at
  least 1,024 tokens; valid 5 minutes, reset on a hit; creation billed at 125% of input, hits at 10%;
- implicit cache: automatic, cannot be disabled, at least 256 tokens (the Chinese page lists 1,024 for
  newer models), hits billed at 20%, lifetime not guaranteed;
- the two are mutually exclusive per request (a request with a marker uses the explicit cache).

Which models support the explicit cache is a per-model list on that page: every model is given the
explicit row here (unverified per model). Prices: genai-prices has no Alibaba/Qwen entry, so a
``dashscope/`` target is unpriced unless ``[tool.promptc.prices."dashscope/<model>"]`` sets one.
"""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://www.alibabacloud.com/help/en/model-studio/context-cache"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "explicit: ≤ 4 cache_control markers, 20-block lookback, ≥ 1,024 tokens")
#: the implicit cache (no marker in the request): its minimum and its read multiplier of the input price
IMPLICIT = Source(DOCS, READ, "implicit: ≥ 256 tokens, hits at 20% of input, lifetime not guaranteed")
IMPLICIT_MIN_TOKENS = 256
IMPLICIT_READ_MULTIPLIER = 0.2
EXPLICIT_READ_MULTIPLIER = 0.1

SPEC = ProviderSpec(
    name="dashscope",
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="DASHSCOPE_API_KEY",
    base_url_env="DASHSCOPE_BASE_URL",
    default_base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    usage="inclusive",
    ttls={"5m": 300.0, "implicit": None},
    retention={"short": "5m", "long": "5m"},
    write_multipliers={"5m": 1.25},
    models=(ModelLimits("dashscope/", 1024, 4, "explicit", LIMITS, lookback=20),),
    sources={
        "render": Source(DOCS, READ, "the cache block runs from the start of the request to the marker"),
        "limits": LIMITS,
        "implicit": IMPLICIT,
        "ttls": Source(DOCS, READ, "explicit cache valid 5 minutes, reset on a hit; no 1-hour option"),
        "write_multipliers": Source(DOCS, READ, "cache creation 125% of the input price, hits 10%"),
        "usage": Source(DOCS, READ, "prompt_tokens_details.cached_tokens and cache_creation_input_tokens "
                                    "(cache_creation.ephemeral_5m_input_tokens); prompt_tokens includes both"),
        "env": Source("https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
                      READ, "DASHSCOPE_API_KEY; international base dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        "tokenizer": Source(DOCS, READ, "Qwen tokenizer not bundled: o200k_base proxy"),
    },
)
