"""The simulator's Vertex AI Claude route, ``POST /vertex/v1/projects/<project>/locations/<region>/publishers/
anthropic/models/<model>:rawPredict`` (and ``:streamRawPredict``; point ``ANTHROPIC_VERTEX_BASE_URL`` at
``<sim url>/vertex/v1``): Anthropic's request shape and breakpoint rules
(:class:`~promptc.runtime.sim.cache.AnthropicCache`) with the Vertex spec's per-model minimums, one cache
per project, the model taken from the URL, ``anthropic_version`` required in the body (as the SDK sends
it) and a ``ttl`` other than the spec's refused; Anthropic's usage (with the ``cache_creation`` split)."""

from __future__ import annotations

from starlette.requests import Request as HTTPRequest

from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.vertex import ANTHROPIC_VERSION
from promptc.runtime.sim.cache import AnthropicCache
from promptc.runtime.sim.minimax_api import messages_reply

TTLS = tuple(SPECS["vertex"].ttls)
#: ``promptc simulate``'s settings where the project sets none: the simulator keeps one cache per
#: project, so any name does (the real project is the user's to set; simulation needs none)
SIM_SETTINGS = {"project": "promptc-simulate"}
PATH = "/vertex/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}"


class VertexRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (uses the Anthropic route's block reader)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        low = self.min_tokens

        def minimum(key: str) -> int:
            return low if low is not None else (limits_for("vertex/" + key.split("\x00", 1)[1]).min_tokens or 0)

        self.vertex = AnthropicCache(self.state.clock, minimum)
        return [Route(PATH + ":rawPredict", self.vertex_messages, methods=["POST"]),
                Route(PATH + ":streamRawPredict", self.vertex_messages, methods=["POST"])]

    async def vertex_messages(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "anthropic")
        if err is not None:
            return err
        model = req.path_params["model"]
        if not isinstance(p, dict) or not isinstance(p.get("messages"), list) or not isinstance(p.get("max_tokens"), int):
            return self._error("anthropic", 400, "invalid_request_error", "max_tokens and messages are required")
        if p.get("anthropic_version") != ANTHROPIC_VERSION:
            return self._error("anthropic", 400, "invalid_request_error",
                               f"anthropic_version: expected {ANTHROPIC_VERSION!r}")
        p = {**p, "model": model}
        blocks, problem = self._anthropic_blocks(p)
        if problem is None and any(b.marker not in (None, *TTLS) for b in blocks):
            problem = f"cache_control.ttl: this simulator's Vertex accepts {', '.join(TTLS)}"
        if problem:
            return self._error("anthropic", 400, "invalid_request_error", problem)
        with self.state.lock:
            res = self.vertex.run(f"{req.path_params['project']}\x00{model}", blocks)
        return messages_reply(self, "vertex", p, res, fault, ttl_split=True)
