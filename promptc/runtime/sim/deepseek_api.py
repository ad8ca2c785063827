"""The simulator's DeepSeek route, ``POST /deepseek/chat/completions`` (point ``DEEPSEEK_BASE_URL`` at
``<sim url>/deepseek``): automatic prefix caching per user (API key) and model in 64-token units
from token 0 (the 2024 rule; :class:`DeepSeekCache`), entries kept for ``ttl_s`` (hours, best effort
on the real service) and renewed on a hit; usage with ``prompt_cache_hit_tokens`` /
``prompt_cache_miss_tokens`` (and ``prompt_tokens_details.cached_tokens``); streams end with a usage
chunk when ``stream_options.include_usage`` is set. Cache fields in the request are ignored, as by
DeepSeek."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces


@dataclass
class DeepSeekCache:
    """Prefix cache in ``unit``-token units from token 0, per (user, model)."""

    clock: Callable[[], float]
    unit: int = 64
    ttl_s: float = SPECS["deepseek"].ttls["implicit"] or 0.0
    entries: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def run(self, user: str, model: str, token_ids: list[int]) -> int:
        """Hit tokens of a prompt (a multiple of ``unit``); stores every unit boundary of it."""
        now = self.clock()
        h = hashlib.sha256(f"{user}\x00{model}".encode())
        hashes: list[tuple[int, str]] = []
        for n in range(self.unit, len(token_ids) + 1, self.unit):
            h.update(b"".join(t.to_bytes(4, "little") for t in token_ids[n - self.unit:n]))
            hashes.append((n, h.copy().hexdigest()))
        hit = 0
        for n, digest in reversed(hashes):
            if self.entries.get((user, model, digest), 0.0) > now:
                hit = n
                break
        for n, digest in hashes:
            self.entries[(user, model, digest)] = now + self.ttl_s
        return hit


class DeepSeekRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.deepseek = DeepSeekCache(self.state.clock)
        return [Route("/deepseek/chat/completions", self.deepseek_chat, methods=["POST"])]

    async def deepseek_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "deepseek")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("deepseek", 400, "invalid_request_error", "model and messages are required")
        ids: list[int] = []
        for t in p.get("tools") or []:
            ids += self.tok.encode(_canon(t))
        for m in p["messages"]:
            content = m.get("content")
            texts = [content] if isinstance(content, str) else [x.get("text", "") for x in content or []]
            for text in texts:
                ids += self.tok.encode(text) if text else []
        bearer = req.headers.get("authorization", "")[7:].strip()
        with self.state.lock:
            hit = self.deepseek.run(bearer, str(p["model"]), ids)
        total = len(ids)
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("deepseek", total, p.get("max_tokens") or 256)
        usage: dict[str, Any] = {"prompt_tokens": total, "completion_tokens": out_tokens,
                                 "total_tokens": total + out_tokens, "prompt_tokens_details": {"cached_tokens": hit},
                                 "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": total - hit}
        finish = "length" if truncated else "stop"
        base = {"id": f"sim-{n}", "created": int(self.state.clock()), "model": p["model"],
                "system_fingerprint": "fp_sim"}
        rid = {"x-request-id": f"req_sim_{n}"}
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                "finish_reason": finish}]}, headers=rid)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "logprobs": None, "finish_reason": None}]}))]
        evs += [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "logprobs": None,
                                                     "finish_reason": None}]})) for piece in _pieces(text)]
        evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                                        "finish_reason": finish}]})))
        if (p.get("stream_options") or {}).get("include_usage"):
            evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, rid)
