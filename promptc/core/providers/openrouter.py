"""OpenRouter facts: the upstream's rules (Anthropic breakpoints, Gemini's last marker only, OpenAI's
automatic caching with breakpoints from gpt-5.6, Alibaba explicit markers).

How each marker upstream takes ``cache_control`` (:data:`MARKERS`) is written here once: the adapter
(promptc/runtime/providers/openrouter.py) sends what it says, the simulator's route
(promptc/runtime/sim/openrouter_api.py) caches what it says, and lint prices the rows below (Gemini's
row has one breakpoint: the one marker that counts).
"""

from __future__ import annotations

from dataclasses import dataclass

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://openrouter.ai/docs/features/prompt-caching"
LIMITS = Source(DOCS, "2026-10", "the upstream provider's minimums and markers")
#: the page's current address (its "Google Gemini" and "Alibaba Qwen" sections), read 2026-12-07
GUIDE = "https://openrouter.ai/docs/guides/best-practices/prompt-caching"


@dataclass(frozen=True)
class Markers:
    """How an upstream takes ``cache_control`` markers on content parts through OpenRouter."""

    ttl: bool  #: ``cache_control.ttl`` ("5m"/"1h") is honoured: a long retention writes 1-hour entries
    last_only: bool  #: only the request's last marker is used: one entry, the prefix through it
    refresh: bool  #: a hit renews the entry's lifetime (False: it expires its TTL after the write)
    source: Source


#: Upstream vendor → its marker rules. Any other vendor takes no markers (automatic caching, or OpenAI's
#: ``prompt_cache_breakpoint``).
MARKERS = {
    "anthropic": Markers(True, False, True, Source(DOCS, "2026-10", "Anthropic Claude: ≤ 4 breakpoints, "
                                                   "ttl 5m (default) or 1h; Anthropic's own model")),
    # "There is not a limit on the number of cache_control breakpoints ... OpenRouter will use only the last
    # breakpoint for Gemini caching"; "Cache Writes have a 5 minute Time-to-Live (TTL) that does not update";
    # "You do not need to manage cache names or TTL explicitly" (no ttl field). Implicit caching of Gemini
    # 2.5+ may read more on top of it, with no guarantee (Google: "no cost saving guarantee"): lint prices
    # the explicit entry, the part the docs promise.
    "google": Markers(False, True, False, Source(GUIDE, "2026-12-07", "Google Gemini: only the last "
                                                 "cache_control breakpoint is used; 5-minute TTL, not updated")),
    "qwen": Markers(False, False, True, Source(GUIDE, "2026-12-07", "Alibaba Qwen: cache_control as "
                                               "Anthropic's; cache writes use a 5-minute TTL")),
}


def _row(model: str, minimum: int | None, bps: int, mode: str, **kw) -> ModelLimits:
    return ModelLimits(f"openrouter/{model}", minimum, bps, mode, LIMITS, **kw)


#: OpenRouter model prefix → the provider whose TTLs and retention the upstream has.
UPSTREAM = {"anthropic": "anthropic", "openai": "openai", "deepseek": "deepseek", "moonshotai": "moonshot"}


def _upstream(model: str) -> tuple[str, str] | None:
    """OpenAI, DeepSeek and Kimi upstreams keep their own provider's TTLs; Anthropic and Gemini ones
    take OpenRouter's rows (5m/1h markers; Gemini 5 minutes)."""
    prefix, _, rest = model.partition("/")
    owner = UPSTREAM.get(prefix)
    return None if owner in (None, "anthropic") else (owner, rest)


SPEC = ProviderSpec(
    upstream=_upstream,
    name="openrouter",
    # requests stick to an upstream endpoint by session_id (else prompt_cache_key): one under another key has
    # no guarantee of reaching the endpoint that cached the prefix — priced as reading nothing (worst case)
    keyed_cache=True,
    price_id="openrouter",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="OPENROUTER_API_KEY",
    base_url_env="OPENROUTER_BASE_URL",
    default_base_url="https://openrouter.ai/api/v1",
    usage="inclusive",
    # upstreams other than Anthropic-style ones use their own provider's TTLs (see UPSTREAM)
    ttls={"5m": 300.0, "1h": 3600.0},
    retention={"short": "5m", "long": "1h"},
    write_multipliers={"5m": 1.25, "1h": 2.0},
    models=(
        _row("", 1024, 4, "explicit"),
        _row("anthropic/", 1024, 4, "explicit", lookback=20),
        _row("anthropic/claude-fable-5", 512, 4, "explicit", lookback=20),
        _row("anthropic/claude-opus-4.7", 2048, 4, "explicit", lookback=20),
        _row("anthropic/claude-opus-4.6", 4096, 4, "explicit", lookback=20),
        _row("anthropic/claude-opus-4.5", 4096, 4, "explicit", lookback=20),
        _row("anthropic/claude-haiku-4.5", 4096, 4, "explicit", lookback=20),
        # Gemini: one breakpoint (the last marker is the only one used: MARKERS), 5 minutes whatever the retention
        _row("google/", 2048, 1, "explicit", retention={"short": "5m", "long": "5m"}),
        _row("openai/", 1024, 0, "automatic", block_size=128),
        _row("openai/gpt-5.6", 1024, 3, "explicit"),
        _row("openai/gpt-5.7", 1024, 3, "explicit"),
        _row("qwen/", 1024, 4, "explicit"),  # Alibaba; minimum unverified
        _row("deepseek/", 64, 0, "automatic", block_size=64),
        _row("moonshotai/", None, 0, "automatic"),
    ),
    sources={
        "render": Source(DOCS, "2026-10", "chat completions; the upstream's prefix order (tools first)"),
        "limits": LIMITS,
        "keyed_cache": Source("docs/reference/provider-caching.md §7", "2026-10", "routing sticks per account, model "
                              "and conversation hash; session_id (else prompt_cache_key) overrides it"),
        "ttls": Source(DOCS, "2026-10", "the upstream's TTLs; Gemini about 5 minutes"),
        "markers": MARKERS["google"].source,
        "write_multipliers": Source(DOCS, "2026-10", "Anthropic upstream: 1.25× (5m), 2× (1h)"),
        "usage": Source("https://openrouter.ai/docs/api-reference/overview", "2026-10",
                        "prompt_tokens includes prompt_tokens_details.cached_tokens"),
        "env": Source("https://openrouter.ai/docs/quickstart", "2026-10", "OPENROUTER_API_KEY"),
        "tokenizer": Source("docs/reference/provider-caching.md §7", "2026-10", "o200k_base proxy"),
    },
)
