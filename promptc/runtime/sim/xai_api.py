"""The simulator's xAI route, ``POST /xai/v1/chat/completions`` (point ``XAI_BASE_URL`` at
``<sim url>/xai/v1``): automatic prefix caching *per server* (:class:`PrefixCache` scoped by server,
API key and model). A request with ``x-grok-conv-id`` goes to the server its id hashes to; one without
goes to the next server in turn (round robin) — so an unpinned conversation hits only when it lands
where it was cached, as xAI describes. :data:`SERVERS` is a modelling choice (xAI publishes no fleet
size). No minimum, lifetime or write fee (the spec's)."""

from __future__ import annotations

import hashlib
import itertools
from starlette.requests import Request as HTTPRequest

from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.xai import CONV_HEADER
from promptc.runtime.sim.compat import PrefixCache, bearer, chat_blocks, chat_reply, valid_chat

TTL_S = SPECS["xai"].ttls["implicit"]
#: simulated servers behind api.x.ai (a modelling choice: unpublished)
SERVERS = 4


def server_for(conv_id: str | None, turn: int) -> int:
    """The server a request lands on: its conversation id's, else round robin."""
    if conv_id:
        return int(hashlib.sha256(conv_id.encode()).hexdigest()[:8], 16) % SERVERS
    return turn % SERVERS


class XaiRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp`."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.xai = PrefixCache(self.state.clock, TTL_S, limits_for("xai/").min_tokens or 0)
        self._xai_turns = itertools.count()
        return [Route("/xai/v1/chat/completions", self.xai_chat, methods=["POST"])]

    async def xai_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "xai")
        if err is not None:
            return err
        if not valid_chat(p):
            return self._error("xai", 400, "invalid_request_error", "model and messages are required")
        blocks = chat_blocks(self.count, p)
        with self.state.lock:
            server = server_for(req.headers.get(CONV_HEADER), next(self._xai_turns))
            hit = self.xai.run((server, bearer(req), str(p["model"])), blocks)
        return chat_reply(self, "xai", p, sum(b.tokens for b in blocks), {"cached_tokens": hit}, fault)
