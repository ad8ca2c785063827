"""The simulator's Mistral route, ``POST /mistral/v1/chat/completions`` (point ``MISTRAL_BASE_URL`` at
``<sim url>/mistral/v1``): prefix caching per server, API key and model, where ``prompt_cache_key``
picks the server (so requests with one key share a cache) and a request without one goes to the next
server in turn — "increases the chance of a cache hit", as Mistral documents. The server count is
:data:`~promptc.runtime.sim.xai_api.SERVERS` (a modelling choice). Streams end with a usage chunk."""

from __future__ import annotations

import itertools

from starlette.requests import Request as HTTPRequest

from promptc.core.providers import SPECS, limits_for
from promptc.runtime.sim.compat import PrefixCache, bearer, chat_blocks, chat_reply, valid_chat
from promptc.runtime.sim.xai_api import server_for

TTL_S = SPECS["mistral"].ttls["implicit"]


class MistralRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp`."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.mistral = PrefixCache(self.state.clock, TTL_S, limits_for("mistral/").min_tokens or 0)
        self._mistral_turns = itertools.count()
        return [Route("/mistral/v1/chat/completions", self.mistral_chat, methods=["POST"])]

    async def mistral_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "mistral")
        if err is not None:
            return err
        if not valid_chat(p):
            return self._error("mistral", 400, "invalid_request_error", "model and messages are required")
        key = p.get("prompt_cache_key")
        if key is not None and not isinstance(key, str):
            return self._error("mistral", 400, "invalid_request_error", "prompt_cache_key must be a string")
        blocks = chat_blocks(self.count, p)
        with self.state.lock:
            server = server_for(key, next(self._mistral_turns))
            hit = self.mistral.run((server, bearer(req), str(p["model"])), blocks)
        return chat_reply(self, "mistral", p, sum(b.tokens for b in blocks), {"cached_tokens": hit}, fault,
                          stream_usage=True)
