"""promptc's own KV-tree engine (``promptc serve``): OpenAI Chat Completions plus ``segments[]``.

Every segment up to the last non-turn text goes as a hashed ``segments[]`` entry (the engine caches
KV per segment hash and re-checks each hash); trailing turn text goes as plain ``messages``. The
engine caches every segment, so no breakpoints are placed. The key is optional (a loopback server
needs none; the engine's tenant is the API key's); ``PROMPTC_API_KEY`` and ``PROMPTC_ENGINE_URL``
configure a remote one.
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.openai import OpenAIChatAdapter
from promptc.runtime.usage import from_openai_chat


class EngineAdapter(OpenAIChatAdapter):
    provider = "engine"
    env_key = SPECS["engine"].env_key
    base_url_env = SPECS["engine"].base_url_env
    default_base_url = SPECS["engine"].default_base_url
    key_required = False

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        segs = list(request.segments)
        cut = len(segs)
        while cut > 0 and segs[cut - 1].stability == "turn" and segs[cut - 1].kind == "text":
            cut -= 1
        # no "model": a promptc server serves one model, and `engine/smollm2` names its tokenizer family
        payload: dict[str, Any] = {
            "segments": [{"id": s.id, "hash": s.hash, "role": s.role, "content": s.content} for s in segs[:cut]],
            "messages": [{"role": s.role, "content": s.content} for s in segs[cut:]],
            "max_tokens": opts.max_tokens, "temperature": 0.0 if opts.temperature is None else opts.temperature,
            "stream": opts.stream}
        if opts.stream:
            payload["stream_options"] = {"include_usage": True}
        payload.update(opts.extra)
        return WireCall("/chat/completions", payload, [], None)

    def _usage(self, u: dict[str, Any], call: WireCall):
        return from_openai_chat(u, writes_exist=False)

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = EngineAdapter
