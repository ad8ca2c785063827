"""Mistral facts: prefix caching on ``/v1/chat/completions``; ``prompt_cache_key`` raises the chance
of a hit (it does not guarantee one).

Read 2026-12-06 from docs.mistral.ai/studio-api/conversations/advanced/prompt-caching: cached prompt
tokens are billed at 10% of input (genai-prices agrees, e.g. mistral-medium-3-5 $0.15 of $1.50); set
the same ``prompt_cache_key`` on requests likely to share a prefix. No minimum, block size, lifetime
or write fee is published (unverified: None here; no TTL). The usage field name of cached tokens was
not on the page read: promptc reads ``prompt_tokens_details.cached_tokens`` (OpenAI's shape) and
``num_cached_tokens`` (unverified).
"""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source, chat_function_tool

DOCS = "https://docs.mistral.ai/studio-api/conversations/advanced/prompt-caching"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "prefix caching; minimum, block size and lifetime unpublished")

SPEC = ProviderSpec(
    name="mistral",
    joined_messages=True,  # the adapter's layout (chat_payload): one text per run of same-role segments
    # prompt_cache_key only "raises the chance" of a hit: a request under another key has no guarantee of
    # reading what the old key cached — priced as reading nothing (the worst case), as a keyed cache is
    keyed_cache=True,
    price_id="mistral",  # genai-prices provider id
    render=("tools", "system", "messages"),
    tool_def=chat_function_tool,
    tokenizer=lambda model: ("o200k_base", False),
    estimated_tokens=True,
    env_key="MISTRAL_API_KEY",
    base_url_env="MISTRAL_BASE_URL",
    default_base_url="https://api.mistral.ai/v1",
    usage="inclusive",
    ttls={"implicit": None},
    retention={"short": "implicit", "long": "implicit"},
    models=(ModelLimits("mistral/", None, 0, "automatic", LIMITS),),
    sources={
        "render": Source(DOCS, READ, "a hit needs the same beginning of the prompt"),
        "limits": LIMITS,
        "routing": Source(DOCS, READ, "prompt_cache_key increases the chance of a cache hit"),
        "keyed_cache": Source(DOCS, READ, "the same prompt_cache_key on requests likely to share a prefix raises the "
                              "chance of a hit: another key has no guaranteed one"),
        "ttls": Source(DOCS, READ, "no lifetime published: no TTL"),
        "usage": Source(DOCS, READ, "cached prompt tokens billed at 10% of input (field name unverified)"),
        "usage_sdk": Source("mistralai 3.7.0 (PyPI): mistralai/client/models/usageinfo.py", "2026-12-07",
                            "UsageInfo declares prompt_tokens, completion_tokens, total_tokens, prompt_audio_seconds "
                            "and keeps other fields as extras: no cached-token field in the SDK or the docs page; "
                            "promptc reads prompt_tokens_details.cached_tokens (OpenAI's shape, unverified)"),
        "routing_sdk": Source("mistralai 3.7.0 (PyPI): mistralai/client/models/chatcompletionrequest.py", "2026-12-07",
                              "ChatCompletionRequest has prompt_cache_key"),
        "env": Source("https://docs.mistral.ai/api/", READ, "MISTRAL_API_KEY; base https://api.mistral.ai/v1"),
        "tokenizer": Source(DOCS, READ, "Mistral tokenizer not bundled: o200k_base proxy"),
    },
)
