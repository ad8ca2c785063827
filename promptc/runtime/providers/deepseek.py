"""DeepSeek Chat Completions (``POST /chat/completions`` on ``https://api.deepseek.com``, OpenAI-compatible).

- Caching is on by default and has no request field: nothing cache-related is sent (no
  ``prompt_cache_key``, no retention; ``cacheRetention`` cannot change what DeepSeek does, so it is
  accepted and ignored). Hits need the same prefix from token 0: in 64-token units (2024 docs) or
  whole "cache prefix units" (V4 docs). The plan's stable-first order is what makes them hit.
- Messages: one per run of consecutive same-role segments, their texts joined with nothing in
  between (the layout of :mod:`~promptc.runtime.providers.moonshot`, whose string contents every
  DeepSeek example uses); tools segments become function tool definitions.
- Usage is inclusive: ``prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens``; the
  hit count is also ``prompt_tokens_details.cached_tokens``. There is no write fee, so writes are 0.
  Streams carry usage in the final chunk (``stream_options.include_usage``).
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.moonshot import chat_payload
from promptc.runtime.providers.openai import OpenAIChatAdapter
from promptc.runtime.usage import Usage


def from_deepseek(u: dict[str, Any]) -> Usage:
    """DeepSeek ``usage``: hit and miss tokens (inclusive; a missing counter stays unknown)."""
    def num(d: Any, key: str) -> int | None:
        v = d.get(key) if isinstance(d, dict) else None
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    hit = num(u, "prompt_cache_hit_tokens")
    if hit is None:
        hit = num(u.get("prompt_tokens_details"), "cached_tokens")
    miss = num(u, "prompt_cache_miss_tokens")
    prompt = num(u, "prompt_tokens")
    if miss is None and prompt is not None and hit is not None:
        miss = max(0, prompt - hit)
    return Usage(uncached=miss, cache_read=hit, cache_write={}, output=num(u, "completion_tokens"),
                 reasoning=num(u.get("completion_tokens_details"), "reasoning_tokens"), semantics="inclusive",
                 raw=dict(u))


class DeepSeekAdapter(OpenAIChatAdapter):
    """DeepSeek (``deepseek/<model>``): automatic prefix caching, hit/miss usage."""

    provider = "deepseek"
    env_key = SPECS["deepseek"].env_key
    base_url_env = SPECS["deepseek"].base_url_env
    default_base_url = SPECS["deepseek"].default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        return WireCall("/chat/completions", chat_payload(request, opts, {}), [], None)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        return from_deepseek(u)



__all__ = ["DeepSeekAdapter", "from_deepseek"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = DeepSeekAdapter
