"""Z.ai (GLM) facts: implicit context caching on the OpenAI-compatible ``/api/paas/v4`` API.

Read 2026-12-06 from docs.z.ai (guides/capabilities/cache): caching is implicit ("automatic cache
recognition ... without manual configuration"), cached tokens are billed at a lower price and reported
in ``usage.prompt_tokens_details.cached_tokens``. Z.ai publishes no minimum, no block size, no write
fee and no lifetime: those are None here (unverified), and the simulator keeps entries until the
process ends (``ttls["implicit"] = None``).
"""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://docs.z.ai/guides/capabilities/cache"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "implicit caching; minimum, block size and lifetime unpublished (unverified)")

SPEC = ProviderSpec(
    name="zai",
    joined_messages=True,  # the adapter's layout (chat_payload): one text per run of same-role segments
    price_id="zai",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="ZAI_API_KEY",
    base_url_env="ZAI_BASE_URL",
    default_base_url="https://api.z.ai/api/paas/v4",
    usage="inclusive",
    ttls={"implicit": None},
    retention={"short": "implicit", "long": "implicit"},
    models=(ModelLimits("zai/", None, 0, "automatic", LIMITS),),
    sources={
        "render": Source(DOCS, READ, "OpenAI-compatible chat: tools, then messages (prefix reuse of system "
                                     "prompts and history)"),
        "limits": LIMITS,
        "ttls": Source(DOCS, READ, "no lifetime published (unverified): modelled as no TTL"),
        "usage": Source(DOCS, READ, "usage.prompt_tokens_details.cached_tokens; prompt_tokens includes them"),
        "prices": Source("genai-prices zai provider", READ, "cache reads priced by genai-prices; no write fee"),
        "env": Source("https://docs.z.ai/api-reference/introduction", READ,
                      "base https://api.z.ai/api/paas/v4 (Bearer key); ZAI_API_KEY is promptc's name"),
        "tokenizer": Source(DOCS, READ, "tokenizer not public: o200k_base proxy"),
        "unpublished": Source(DOCS, "2026-12-07", "re-searched: still no minimum, block size or lifetime published; "
                                                  "promptc assumes none (every prefix cacheable, kept until evicted)"),
    },
)
