"""Mistral Chat Completions (``POST /chat/completions`` under ``https://api.mistral.ai/v1``).

- ``prompt_cache_key`` raises the chance of a prefix hit: promptc sends the affinity key of the prefix
  the plans share (:func:`~promptc.runtime.providers.openai.cache_key`, scope ``shared``), so sibling
  agents ask for the same cache. Retention ``none`` sends no key.
- Messages: one per same-role run (:func:`~promptc.runtime.providers.moonshot.chat_payload`); Mistral
  streams end with a usage chunk without ``stream_options``, so that field is not sent.
- Usage is inclusive. The cached counter is read from ``prompt_tokens_details.cached_tokens`` and, when
  absent, ``num_cached_tokens`` (the field name is not on the page the spec cites: unverified). No
  write fee (writes are 0).
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.moonshot import chat_payload
from promptc.runtime.providers.openai import OpenAIChatAdapter, cache_key
from promptc.runtime.usage import Usage, from_openai_chat

_SPEC = SPECS["mistral"]


def from_mistral(u: dict[str, Any]) -> Usage:
    """Mistral ``usage`` (inclusive); ``num_cached_tokens`` stands in for a missing details object."""
    n = u.get("num_cached_tokens")
    if not isinstance(u.get("prompt_tokens_details"), dict) and isinstance(n, int) and not isinstance(n, bool):
        u = {**u, "prompt_tokens_details": {"cached_tokens": n}}
    return from_openai_chat(u, write_ttl="implicit", writes_exist=False)


class MistralAdapter(OpenAIChatAdapter):
    """Mistral (``mistral/<model>``, e.g. ``mistral/mistral-medium-3-5``): prefix caching with a cache key."""

    provider = "mistral"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    default_base_url = _SPEC.default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        key = None if opts.retention == "none" else opts.key or cache_key(request, opts.tenant, "shared")
        payload = chat_payload(request, opts, {"prompt_cache_key": key} if key else {})
        payload.pop("stream_options", None)
        return WireCall("/chat/completions", payload, [], key)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        return from_mistral(u)


__all__ = ["MistralAdapter", "from_mistral"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = MistralAdapter
