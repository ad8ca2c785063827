"""The simulator's Z.ai route, ``POST /zai/api/paas/v4/chat/completions`` (point ``ZAI_BASE_URL`` at
``<sim url>/zai/api/paas/v4``): implicit prefix caching per API key and model (:class:`PrefixCache`,
the spec's minimum and lifetime — none published), usage with ``prompt_tokens_details.cached_tokens``."""

from __future__ import annotations

from starlette.requests import Request as HTTPRequest

from promptc.core.providers import SPECS, limits_for
from promptc.runtime.sim.compat import PrefixCache, bearer, chat_blocks, chat_reply, valid_chat

TTL_S = SPECS["zai"].ttls["implicit"]


class ZaiRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp`."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.zai = PrefixCache(self.state.clock, TTL_S, limits_for("zai/").min_tokens or 0)
        return [Route("/zai/api/paas/v4/chat/completions", self.zai_chat, methods=["POST"])]

    async def zai_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "zai")
        if err is not None:
            return err
        if not valid_chat(p):
            return self._error("zai", 400, "invalid_request_error", "model and messages are required")
        blocks = chat_blocks(self.count, p)
        with self.state.lock:
            hit = self.zai.run((bearer(req), str(p["model"])), blocks)
        return chat_reply(self, "zai", p, sum(b.tokens for b in blocks), {"cached_tokens": hit}, fault)
