"""Z.ai GLM Chat Completions (``POST /chat/completions`` under ``https://api.z.ai/api/paas/v4``).

- Caching is implicit: no request field, so nothing cache-related is sent (retention is accepted and
  changes nothing on Z.ai). The plan's stable-first order is what makes prefixes repeat.
- Messages: one per run of consecutive same-role segments (the Kimi/DeepSeek layout,
  :func:`~promptc.runtime.providers.moonshot.chat_payload`); tools segments become function tools.
- Usage is inclusive: ``prompt_tokens`` counts ``prompt_tokens_details.cached_tokens``; there is no
  write fee, so writes are 0 (never unknown).
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.moonshot import chat_payload
from promptc.runtime.providers.openai import OpenAIChatAdapter
from promptc.runtime.usage import Usage, from_openai_chat

_SPEC = SPECS["zai"]


class ZaiAdapter(OpenAIChatAdapter):
    """Z.ai (``zai/<model>``, e.g. ``zai/glm-5.3``): implicit caching, OpenAI-shaped usage."""

    provider = "zai"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    default_base_url = _SPEC.default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        return WireCall("/chat/completions", chat_payload(request, opts, {}), [], None)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        return from_openai_chat(u, write_ttl="implicit", writes_exist=False)


__all__ = ["ZaiAdapter"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = ZaiAdapter
