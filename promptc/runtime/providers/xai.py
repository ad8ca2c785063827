"""xAI Grok Chat Completions (``POST /chat/completions`` under ``https://api.x.ai/v1``).

- Caching is automatic and per server. promptc sends the ``x-grok-conv-id`` header (the spec's
  ``CONV_HEADER``), which routes every request with the same id to the same server: the id is the
  affinity key of the prefix the plans share (:func:`~promptc.runtime.providers.openai.cache_key`,
  scope ``shared``), so sibling agents built on one shared block land where it is cached. Retention
  ``none`` sends no id.
- Messages: one per same-role run (:func:`~promptc.runtime.providers.moonshot.chat_payload`).
- Usage is inclusive: ``prompt_tokens_details.cached_tokens``; no write fee (writes are 0).
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.core.providers.xai import CONV_HEADER
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.moonshot import chat_payload
from promptc.runtime.providers.openai import OpenAIChatAdapter, cache_key
from promptc.runtime.usage import Usage, from_openai_chat

_SPEC = SPECS["xai"]


def naive_xai(call: WireCall, target: Any) -> WireCall:
    """xAI's naive default for ``promptc simulate``: its quick start sends no ``x-grok-conv-id``."""
    headers = {k: v for k, v in call.headers.items() if k.lower() != CONV_HEADER}
    return WireCall(call.path, dict(call.payload), [], None, headers)


class XaiAdapter(OpenAIChatAdapter):
    """xAI (``xai/<model>``, e.g. ``xai/grok-4.7``): automatic caching, sticky routing by conversation id."""

    provider = "xai"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    default_base_url = _SPEC.default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        key = None if opts.retention == "none" else opts.key or cache_key(request, opts.tenant, "shared")
        headers = {CONV_HEADER: key} if key else {}
        return WireCall("/chat/completions", chat_payload(request, opts, {}), [], key, headers)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        return from_openai_chat(u, write_ttl="implicit", writes_exist=False)


__all__ = ["XaiAdapter", "naive_xai"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = XaiAdapter
