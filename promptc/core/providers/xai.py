"""xAI (Grok) facts: automatic prompt caching, per server; ``x-grok-conv-id`` (Chat Completions) or
``prompt_cache_key`` (Responses) routes requests of one conversation to the same server.

Read 2026-12-06 from docs.x.ai/developers/advanced-api-usage/prompt-caching (maximizing-cache-hits,
usage-and-pricing, best-practices): cache entries are stored per server; the header "routes requests
with the same conversation ID to the same server"; entries "can be evicted at any time" (no lifetime
published: no TTL here); cached tokens are in ``usage.prompt_tokens_details.cached_tokens``; no write
fee (cached reads priced by genai-prices, 0.25× on grok-4.x). No minimum or block size is published
(a third-party guide reports 128-token blocks: unverified, not modelled).
"""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://docs.x.ai/developers/advanced-api-usage/prompt-caching"
READ = "2026-12-06"
LIMITS = Source(DOCS + "/best-practices", READ, "automatic on all grok models; minimum and block size unpublished")
#: the HTTP header that pins a conversation to one server (Chat Completions)
CONV_HEADER = "x-grok-conv-id"

SPEC = ProviderSpec(
    name="xai",
    joined_messages=True,  # the adapter's layout (chat_payload): one text per run of same-role segments
    # entries live per server and only one conversation id is routed to one server ("routing"): a request
    # under another id has no guarantee of reaching the server that cached the prefix — priced as reading
    # nothing (the worst case), as a keyed cache is
    keyed_cache=True,
    price_id="x-ai",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="XAI_API_KEY",
    base_url_env="XAI_BASE_URL",
    default_base_url="https://api.x.ai/v1",
    usage="inclusive",
    ttls={"implicit": None},
    retention={"short": "implicit", "long": "implicit"},
    models=(ModelLimits("xai/", None, 0, "automatic", LIMITS),),
    sources={
        "render": Source(DOCS + "/best-practices", READ, "front-load static content; any edit to earlier messages "
                                                         "breaks the cache"),
        "limits": LIMITS,
        "routing": Source(DOCS + "/maximizing-cache-hits", READ, "x-grok-conv-id header routes to the same server"),
        "keyed_cache": Source(DOCS + "/maximizing-cache-hits", READ, "cache entries are stored per server; only the "
                              "same conversation id is routed to the same server (another id: no guaranteed hit)"),
        "ttls": Source(DOCS + "/best-practices", READ, "entries can be evicted at any time: no TTL published"),
        "usage": Source(DOCS + "/usage-and-pricing", READ, "prompt_tokens_details.cached_tokens (inclusive)"),
        "env": Source(DOCS + "/maximizing-cache-hits", READ, "XAI_API_KEY; base https://api.x.ai/v1"),
        "tokenizer": Source(DOCS, READ, "tokenizer not public: o200k_base proxy"),
        "unpublished": Source(DOCS + "/usage-and-pricing", "2026-12-07", "re-read: cached_tokens in "
                              "usage.prompt_tokens_details (Chat) / usage.input_tokens_details (Responses); no minimum "
                              "or lifetime published: promptc assumes none"),
    },
)
