"""The simulator's DashScope (Qwen) route, ``POST /dashscope/compatible-mode/v1/chat/completions``
(point ``DASHSCOPE_BASE_URL`` at ``<sim url>/dashscope/compatible-mode/v1``).

A request with any ``cache_control`` part uses the explicit cache (the two modes are mutually
exclusive): Anthropic's breakpoint rules (:class:`~promptc.runtime.sim.cache.AnthropicCache`: ≤ 4
markers, 20-block lookback, the spec's 1,024-token minimum, 5 minutes renewed on a hit) over the
request's blocks (tools, then content parts). Without markers it uses the implicit cache
(:class:`~promptc.runtime.sim.compat.PrefixCache`, the spec's 256-token minimum, no lifetime
published). Usage: ``prompt_tokens_details.cached_tokens`` and, in explicit mode,
``cache_creation_input_tokens`` with ``cache_creation.ephemeral_5m_input_tokens`` and ``cache_type``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request as HTTPRequest

from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.dashscope import IMPLICIT_MIN_TOKENS
from promptc.runtime.sim.cache import AnthropicCache
from promptc.runtime.sim.compat import PrefixCache, bearer, chat_blocks, chat_reply, valid_chat

IMPLICIT_TTL_S = SPECS["dashscope"].ttls["implicit"]
EXPLICIT_TTL_S = SPECS["dashscope"].ttls["5m"]


class DashScopeRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp`."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        low = self.min_tokens
        explicit_min = low if low is not None else (limits_for("dashscope/").min_tokens or 0)
        self.dashscope = AnthropicCache(self.state.clock, lambda model: explicit_min)
        self.dashscope_implicit = PrefixCache(self.state.clock, IMPLICIT_TTL_S,
                                              min(low, IMPLICIT_MIN_TOKENS) if low is not None else IMPLICIT_MIN_TOKENS)
        return [Route("/dashscope/compatible-mode/v1/chat/completions", self.dashscope_chat, methods=["POST"])]

    async def dashscope_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "dashscope")
        if err is not None:
            return err
        if not valid_chat(p):
            return self._error("dashscope", 400, "invalid_request_error", "model and messages are required")
        blocks = chat_blocks(self.count, p)
        markers = sum(1 for b in blocks if b.marker)
        if markers > 4:
            return self._error("dashscope", 400, "invalid_request_error",
                               f"at most 4 cache_control markers are supported per request, found {markers}")
        total = sum(b.tokens for b in blocks)
        details: dict[str, Any]
        with self.state.lock:
            if markers:
                res = self.dashscope.run(f"{bearer(req)}\x00{p['model']}", blocks)
                written = sum(res.write.values())
                details = {"cached_tokens": res.read, "cache_creation_input_tokens": written,
                           "cache_creation": {"ephemeral_5m_input_tokens": written}, "cache_type": "ephemeral"}
            else:
                details = {"cached_tokens": self.dashscope_implicit.run((bearer(req), str(p["model"])), blocks)}
        return chat_reply(self, "dashscope", p, total, details, fault)
