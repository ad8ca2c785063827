"""The simulator's MiniMax route, ``POST /minimax/anthropic/v1/messages`` (point ``MINIMAX_BASE_URL``
at ``<sim url>/minimax/anthropic``): MiniMax's Anthropic-compatible explicit cache — Anthropic's
request shape and breakpoint rules (:class:`~promptc.runtime.sim.cache.AnthropicCache`: ≤ 4 markers,
20-block lookback, 5 minutes renewed on a hit) with the MiniMax spec's minimum (512), per API key,
and Anthropic's usage (``input_tokens`` exclusive of cache reads and writes). A ``ttl`` other than
``5m`` is refused (MiniMax documents no other)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS, limits_for
from promptc.runtime.sim.cache import AnthropicCache
from promptc.runtime.sim.wire import canon, pieces

TTLS = tuple(SPECS["minimax"].ttls)


class MiniMaxRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (uses the Anthropic route's block reader)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        low = self.min_tokens
        minimum = low if low is not None else (limits_for("minimax/").min_tokens or 0)
        self.minimax = AnthropicCache(self.state.clock, lambda model: minimum)
        return [Route("/minimax/anthropic/v1/messages", self.minimax_messages, methods=["POST"])]

    async def minimax_messages(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "anthropic")  # x-api-key or Bearer, Anthropic error shape
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list) or \
                not isinstance(p.get("max_tokens"), int):
            return self._error("anthropic", 400, "invalid_request_error", "model, max_tokens and messages are required")
        blocks, problem = self._anthropic_blocks(p)
        if problem is None and any(b.marker not in (None, *TTLS) for b in blocks):
            problem = f"cache_control.ttl: MiniMax supports {', '.join(TTLS)}"
        if problem:
            return self._error("anthropic", 400, "invalid_request_error", problem)
        key = req.headers.get("x-api-key") or req.headers.get("authorization", "")
        with self.state.lock:
            res = self.minimax.run(f"{key}\x00{p['model']}", blocks)
        return messages_reply(self, "minimax", p, res, fault, ttl_split=False)


def messages_reply(app: Any, label: str, p: dict[str, Any], res: Any, fault: Any, *, ttl_split: bool) -> Any:
    """An Anthropic Messages reply (JSON or SSE) for a cache result ``res``; ``ttl_split`` adds the
    ``cache_creation`` object (5m/1h) that Anthropic and Vertex send and MiniMax does not."""
    n = app._next_id()
    text, out_tokens, truncated = app._reply_text(label, res.total, p["max_tokens"])
    usage = {"input_tokens": res.uncached, "cache_creation_input_tokens": sum(res.write.values()),
             "cache_read_input_tokens": res.read, "output_tokens": out_tokens}
    if ttl_split:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": res.write.get("5m", 0),
                                   "ephemeral_1h_input_tokens": res.write.get("1h", 0)}
    stop = "max_tokens" if truncated else "end_turn"
    msg = {"id": f"msg_sim_{n}", "type": "message", "role": "assistant", "model": p["model"],
           "content": [{"type": "text", "text": text}] if text else [], "stop_reason": stop,
           "stop_sequence": None, "usage": usage}
    rid = {"request-id": f"req_sim_{n}"}
    if not p.get("stream"):
        return JSONResponse(msg, headers=rid)
    start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    evs: list[tuple[str | None, str]] = [
        ("message_start", canon({"type": "message_start", "message": start})),
        ("content_block_start", canon({"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}))]
    evs += [("content_block_delta", canon({"type": "content_block_delta", "index": 0,
                                           "delta": {"type": "text_delta", "text": piece}})) for piece in pieces(text)]
    evs += [("content_block_stop", canon({"type": "content_block_stop", "index": 0})),
            ("message_delta", canon({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": out_tokens, "input_tokens": res.uncached,
                                               "cache_creation_input_tokens": sum(res.write.values()),
                                               "cache_read_input_tokens": res.read}})),
            ("message_stop", canon({"type": "message_stop"}))]
    return app._sse(evs, fault, rid)
