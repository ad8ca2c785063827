"""The simulator's OpenRouter route (``POST /openrouter/api/v1/chat/completions``; point
``OPENROUTER_BASE_URL`` at ``<url>/openrouter/api/v1``).

- The upstream is the model's vendor; each runs on :data:`REPLICAS` simulated replicas with their
  own caches. A request with ``session_id`` (body) or ``x-session-id`` (header), else
  ``prompt_cache_key``, sticks to one replica (a hash of the key); without one, requests rotate
  over the replicas, so a repeated prompt can land where nothing is cached.
- Per upstream: the marker upstreams of the spec's ``MARKERS`` (promptc/core/providers/openrouter.py)
  use the Anthropic breakpoint model (``cache_control`` on parts, the 20-block lookback, the model's
  minimum) with their own rules: ``anthropic/`` ≤ 4 markers, 1h before 5m; ``google/`` only the *last*
  marker counts and is written for 5 minutes, not refreshed on a hit; ``qwen/`` (Alibaba) markers are 5
  minutes; ``openai/`` is OpenAI's model (automatic before gpt-5.6, breakpoints from it); other
  vendors cache prefixes automatically like OpenAI before gpt-5.6.
- Usage is inclusive: ``prompt_tokens`` with ``prompt_tokens_details.{cached_tokens,
  cache_write_tokens}``, plus ``cost`` (USD, from the price table) and ``cache_discount`` (what caching
  saved against the uncached price; negative when writes cost more than reads saved).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import limits_for
from promptc.core.providers.openrouter import MARKERS
from promptc.runtime.sim.cache import AnthropicCache, Block, CacheResult, OpenAICache
from promptc.runtime.sim.openai_api import EXPLICIT_OPENAI
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces

REPLICAS = 4
PREFIX = "/openrouter/api/v1"


def replica_for(key: str) -> int:
    """The replica a request with a ``session_id`` (else ``prompt_cache_key``) sticks to: a hash of it."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % REPLICAS


@dataclass
class _Replica:
    """One upstream replica's caches."""

    markers: AnthropicCache
    prefix: OpenAICache


def claude_family(model: str) -> str:
    """``anthropic/claude-sonnet-4.5`` → ``claude-sonnet-4-5`` (the Anthropic API's spelling)."""
    return model.split("/", 1)[-1].replace(".", "-")


class OpenRouterRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        """The chat route; also sets up this app's replicas (``self.openrouter_replicas``)."""
        from starlette.routing import Route

        overrides = dict(getattr(self, "anthropic_min_tokens", None) or {})
        openai_min = self.openai.minimum

        def minimum(model: str) -> int:
            fam = claude_family(model)
            match = max((k for k in overrides if model == k or fam.startswith(k)), key=len, default=None)
            # "" (``min_tokens``: every provider's) matches every upstream, Gemini and Qwen too
            return overrides[match] if match is not None else (limits_for(f"openrouter/{model}").min_tokens or 0)

        self.openrouter_replicas = [_Replica(AnthropicCache(self.state.clock, minimum),
                                             OpenAICache(self.state.clock, minimum=openai_min))
                                    for _ in range(REPLICAS)]
        self.openrouter_rotation = 0
        return [Route(f"{PREFIX}/chat/completions", self.openrouter_chat, methods=["POST"])]

    def _openrouter_replica(self, req: HTTPRequest, p: dict[str, Any]) -> int:
        key = p.get("session_id") or req.headers.get("x-session-id") or p.get("prompt_cache_key")
        if key:
            return replica_for(str(key))
        with self.state.lock:
            self.openrouter_rotation += 1
            return self.openrouter_rotation % REPLICAS

    def _openrouter_cache(self, replica: _Replica, p: dict[str, Any]) -> tuple[CacheResult | None, str | None]:
        model = str(p["model"])
        vendor = model.split("/", 1)[0]
        blocks: list[Block] = [Block(self.count(_canon(t)), _canon(t)) for t in p.get("tools") or []]
        ids: list[int] = []
        for t in p.get("tools") or []:
            ids += self.tok.encode(_canon(t))
        n_markers = 0
        for m, msg in enumerate(p["messages"]):
            content = msg.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            for c, part in enumerate(content or []):
                cc = part.get("cache_control")
                bp = part.get("prompt_cache_breakpoint")
                text = part.get("text", "")
                ids += self.tok.encode(text)
                plain = {k: v for k, v in part.items() if k not in ("cache_control", "prompt_cache_breakpoint")}
                ident = _canon({"role": msg.get("role"), **plain})
                marker = None
                if cc is not None:
                    if not text:
                        return None, f"messages[{m}].content[{c}]: cache_control cannot be set for empty text blocks"
                    n_markers += 1
                    marker = cc.get("ttl", "5m") if vendor in MARKERS and MARKERS[vendor].ttl else "5m"
                elif bp is not None:
                    marker = "30m"
                blocks.append(Block(self.count(text), ident, marker))
        top = p.get("cache_control")
        if top and blocks and vendor in MARKERS:
            last = blocks[-1]
            blocks[-1] = Block(last.tokens, last.identity, top.get("ttl", "5m") if MARKERS[vendor].ttl else "5m")
            n_markers += 0 if last.marker else 1
        if vendor == "anthropic":
            if n_markers > 4:
                return None, f"A maximum of 4 blocks with cache_control may be provided. Found {n_markers}."
            seen_5m = False
            for b in blocks:
                if b.marker == "1h" and seen_5m:
                    return None, "cache_control.ttl: a ttl='1h' cache_control block must not come after a " \
                                 "ttl='5m' cache_control block."
                seen_5m = seen_5m or b.marker == "5m"
            return replica.markers.run(model, blocks), None
        if vendor in MARKERS:
            rules = MARKERS[vendor]
            marked = [i for i, b in enumerate(blocks) if b.marker]
            keep = marked[-1:] if rules.last_only else marked  # Gemini: only the last marker counts
            blocks = [Block(b.tokens, b.identity, "5m" if i in keep else None) for i, b in enumerate(blocks)]
            if not rules.refresh:
                return self._unrefreshed(replica, model, blocks), None
            return replica.markers.run(model, blocks), None
        key = str(p.get("session_id") or p.get("prompt_cache_key") or "")
        if vendor == "openai" and model.split("/", 1)[1].startswith(EXPLICIT_OPENAI):
            mode = (p.get("prompt_cache_options") or {}).get("mode", "implicit")
            return replica.prefix.explicit(model, key, blocks, implicit=mode == "implicit"), None
        return replica.prefix.automatic(model, key, ids, p.get("prompt_cache_retention") or "24h"), None

    def _unrefreshed(self, replica: _Replica, model: str, blocks: list[Block]) -> CacheResult:
        """An upstream whose entry a hit does not refresh (Gemini: written for 5 minutes, then gone)."""
        cache, now = replica.markers, self.state.clock()
        alive = {k: e.expires for k, e in cache.entries.items() if e.expires > now}
        res = cache.run(model, blocks)
        for k, expires in alive.items():  # undo the Anthropic model's refresh on a hit
            cache.entries[k].expires = expires
        return res

    async def openrouter_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "openrouter")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("openrouter", 400, "invalid_request_error", "model and messages are required")
        if "/" not in str(p["model"]):
            return self._error("openrouter", 400, "invalid_request_error", f"{p['model']} is not a valid model ID")
        replica = self._openrouter_replica(req, p)
        res, problem = self._openrouter_cache(self.openrouter_replicas[replica], p)
        if problem:
            return self._error("openrouter", 400, "invalid_request_error", problem)
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("openrouter", res.total, p.get("max_tokens") or 256)
        usage = _usage(f"openrouter/{p['model']}", res, out_tokens)
        finish = "length" if truncated else "stop"
        rid = {"x-request-id": f"req_sim_{n}", "x-sim-replica": str(replica)}
        base = {"id": f"gen-sim-{n}", "provider": p["model"].split("/", 1)[0].title(), "model": p["model"],
                "created": int(self.state.clock()), "system_fingerprint": None}  # required (nullable) in the SDK type
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish, "native_finish_reason": finish, "logprobs": None}]}, headers=rid)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                                    "finish_reason": None}]})) for piece in _pieces(text)]
        evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})))
        evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))  # OpenRouter always sends usage
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, rid)


def _usage(target: str, res: CacheResult, out_tokens: int) -> dict[str, Any]:
    written = sum(res.write.values())
    usage: dict[str, Any] = {"prompt_tokens": res.total, "completion_tokens": out_tokens,
                             "total_tokens": res.total + out_tokens,
                             "prompt_tokens_details": {"cached_tokens": res.read, "cache_write_tokens": written},
                             "completion_tokens_details": {"reasoning_tokens": 0}}
    cost = _credits(target.partition("/")[2], res, out_tokens)
    if cost is not None:
        usage["cost"] = cost  # OpenRouter's own charge (no `cache_discount`: not a chat usage field)
    return usage


def _credits(model: str, res: CacheResult, out_tokens: int) -> float | None:
    """What OpenRouter charges, from genai-prices' OpenRouter prices directly — never promptc's price code, so
    a test comparing a reply's cost with this figure compares two independent computations."""
    from genai_prices import Usage, calc_price

    written = sum(res.write.values())
    usage = Usage(input_tokens=res.total, cache_read_tokens=res.read or None, cache_write_tokens=written or None,
                  cache_write_1h_tokens=res.write.get("1h") or None, output_tokens=out_tokens or None)
    try:
        return float(calc_price(usage, model, provider_id="openrouter").total_price)
    except LookupError:  # a model genai-prices does not know: OpenRouter's reply carries no cost here
        return None


__all__ = ["OpenRouterRoutes", "REPLICAS", "replica_for"]
