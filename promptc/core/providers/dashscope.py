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
explicit row here (unverified per model).

Prices: genai-prices (0.2.5) has no Alibaba/Qwen entry, so the flagship models' prices are kept here
(:data:`PRICES`, used by :func:`promptc.core.prices.price_for` only while genai-prices has no row):
the international (Singapore) pay-as-you-go table of alibabacloud.com/help/en/model-studio/billing-for-model-studio
(flagship models, "minimum" = first-tier price per million tokens: qwen-max $1.6 in / $6.4 out,
qwen-plus $0.4 / $1.2, qwen-turbo $0.05 / $0.2), read 2026-12-07 through search. Cache multipliers are the
context-cache page's (above): explicit hits 10%, explicit writes 125%, implicit hits 20% — Qwen bills the
two modes' hits differently, so the price has a per-mode read. (That billing page's own "cached_token is
40% of input_token" line predates the context-cache page's 20% and is not used.) Other Qwen models stay
unpriced unless ``[tool.promptc.prices."dashscope/<model>"]`` sets one.
"""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, PriceFact, ProviderSpec, Source, chat_function_tool

DOCS = "https://www.alibabacloud.com/help/en/model-studio/context-cache"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "explicit: ≤ 4 cache_control markers, 20-block lookback, ≥ 1,024 tokens")
#: the implicit cache (no marker in the request): its minimum and its read multiplier of the input price
IMPLICIT = Source(DOCS, READ, "implicit: ≥ 256 tokens, hits at 20% of input, lifetime not guaranteed")
IMPLICIT_MIN_TOKENS = 256
IMPLICIT_READ_MULTIPLIER = 0.2
EXPLICIT_READ_MULTIPLIER = 0.1
EXPLICIT_WRITE_MULTIPLIER = 1.25

PRICING = "https://www.alibabacloud.com/help/en/model-studio/billing-for-model-studio"
PRICE_SOURCE = Source(PRICING, "2026-12-07", "international (Singapore) pay-as-you-go, flagship table, first-tier "
                                             "price (page version of 2025-04-22, read through search); cache "
                                             "multipliers from the context-cache page")


def _price(model: str, inp: float, out: float) -> PriceFact:
    return PriceFact(f"dashscope/{model}", inp, out, EXPLICIT_READ_MULTIPLIER, {"5m": EXPLICIT_WRITE_MULTIPLIER},
                     PRICE_SOURCE, read_modes={"implicit": IMPLICIT_READ_MULTIPLIER})


#: USD per million tokens (module doc)
PRICES = (_price("qwen-max", 1.6, 6.4), _price("qwen-plus", 0.4, 1.2), _price("qwen-turbo", 0.05, 0.2))

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
    write_multipliers={"5m": EXPLICIT_WRITE_MULTIPLIER},
    prices=PRICES,
    models=(ModelLimits("dashscope/", 1024, 4, "explicit", LIMITS, lookback=20),),
    sources={
        "render": Source(DOCS, READ, "the cache block runs from the start of the request to the marker"),
        "limits": LIMITS,
        "implicit": IMPLICIT,
        "minimums": Source(DOCS, "2026-12-07", "re-read (search): the English page (updated 2026-03-31 and "
                                               "2026-10-11) lists 1,024 explicit / 256 implicit; the Chinese page "
                                               "(help.aliyun.com) now lists 1,024 for both — promptc keeps the "
                                               "international 256 (its default base is dashscope-intl)"),
        "prices": PRICE_SOURCE,
        "price_library": Source("genai-prices 0.2.5", "2026-12-07", "no Alibaba/DashScope provider (Qwen rows only "
                                                                    "under resellers): the spec's PRICES are used"),
        "ttls": Source(DOCS, READ, "explicit cache valid 5 minutes, reset on a hit; no 1-hour option"),
        "write_multipliers": Source(DOCS, READ, "cache creation 125% of the input price, hits 10%"),
        "usage": Source(DOCS, READ, "prompt_tokens_details.cached_tokens and cache_creation_input_tokens "
                                    "(cache_creation.ephemeral_5m_input_tokens); prompt_tokens includes both"),
        "env": Source("https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
                      READ, "DASHSCOPE_API_KEY; international base dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        "tokenizer": Source(DOCS, READ, "Qwen tokenizer not bundled: o200k_base proxy"),
    },
)
