"""The simulator's Kimi / Moonshot routes, under ``/moonshot/v1`` (point ``MOONSHOT_BASE_URL`` at
``<sim url>/moonshot/v1``):

- ``POST /moonshot/v1/chat/completions``: Kimi automatic caching (:class:`KimiCache`: per model and
  ``prompt_cache_key``, whole blocks only, the TTL (``5m``/``1h`` from ``prompt_cache_options``)
  locked at the first write and renewed on each hit). ``kimi-k2*`` models report cached tokens as
  ``usage.prompt_tokens_details.cached_tokens``, the others as ``usage.cached_tokens`` (the two
  documented spellings); ``moonshot-v1*`` models stream usage in ``choices[0].usage``, the others in a
  final usage chunk. No cache-write counter is reported (none is documented). moonshot-v1 models
  have no automatic cache: only context caches.
- ``/moonshot/v1/caching`` CRUD (:class:`ContextCaches`): ``POST`` creates (``model`` must be the family
  ``moonshot-v1``; ≤ 128k tokens per cache, ≤ 1M tokens of live caches per user (API key); status
  ``pending`` for ``creation_latency_s`` of simulator time, then ``ready``, ``inactive`` after
  ``expired_at``, ``error`` when a failure was queued with ``fail_next``); ``GET`` lists with
  ``limit/order/after/before/metadata[k]=v``; ``GET/PUT/DELETE /caching/{id}``; 404 for unknown ids.
- Using a cache: the ``{"role": "cache", "content": "cache_id=…;reset_ttl=…"}`` first message (cached
  messages not resent, ``tools`` null — a tools list is a 400) or the ``X-Msh-Context-Cache`` and
  ``X-Msh-Context-Cache-Reset-TTL`` headers (messages and tools resent byte-identical, else 400). A
  ready cache's tokens are reported cached; a pending, inactive or failed one runs uncached;
  ``reset_ttl`` sets ``expired_at = now + ttl`` and revives an inactive cache (``pending`` again for
  the creation latency). An unknown id is a 404. Responses carry ``Msh-Context-Cache-Id``,
  ``Msh-Context-Cache-Token-Saved`` and ``Msh-Context-Cache-Token-Exp``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS
from promptc.runtime.sim.cache import _Entry, longest_block_prefix
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces

TTL_S = SPECS["moonshot"].ttls
#: legacy context-cache objects live at most (and by default) 1 hour: the spec's moonshot-v1 TTL
LEGACY_MAX_TTL_S = SPECS["moonshot"].ttl_seconds("moonshot-v1", "long") or 0.0
PREFIX = "/moonshot/v1"


@dataclass
class KimiCache:
    """Kimi's automatic prefix cache: whole ``block``-token blocks, per (model, cache key)."""

    clock: Callable[[], float]
    block: int = 256
    entries: dict[tuple[str, str, str], _Entry] = field(default_factory=dict)

    def run(self, model: str, key: str, token_ids: list[int], ttl: str) -> tuple[int, int]:
        """(read, written) tokens for a prompt; a hit renews the entry with its locked TTL."""
        lengths = list(range(self.block, len(token_ids) + 1, self.block))
        read = longest_block_prefix(self.entries, self.clock(), model, key, token_ids, lengths, ttl)
        return read, (lengths[-1] - read if lengths and lengths[-1] > read else 0)


@dataclass
class CacheObject:
    """One ``/v1/caching`` object."""

    id: str
    user: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    tokens: int
    created_at: float
    ready_at: float
    expired_at: float
    name: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return "pending"
        if self.error is not None:
            return "error"
        return "inactive" if now >= self.expired_at else "ready"

    def to_json(self, now: float) -> dict[str, Any]:
        out = {"id": self.id, "object": "context-cache", "model": self.model, "status": self.status(now),
               "created_at": int(self.created_at), "expired_at": int(self.expired_at), "tokens": self.tokens,
               "name": self.name, "description": self.description, "metadata": dict(self.metadata)}
        if out["status"] == "error":
            out["error"] = {"type": "server_error", "message": self.error}
        return out


@dataclass
class ContextCaches:
    """The legacy context caches of every user, on the simulator's clock. Tests tune the knobs:
    ``creation_latency_s``, ``user_limit``, ``cache_limit``, ``fail_next`` (messages for the next
    creations to end in status error) and ``create_gate`` (a :class:`threading.Event` a create waits
    for before answering, to hold one in flight)."""

    clock: Callable[[], float]
    creation_latency_s: float = 45.0
    user_limit: int = 1_000_000
    cache_limit: int = 128_000
    fail_next: list[str] = field(default_factory=list)
    create_gate: threading.Event | None = None
    objects: dict[str, CacheObject] = field(default_factory=dict)
    created: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live_tokens(self, user: str, now: float) -> int:
        return sum(o.tokens for o in self.objects.values() if o.user == user and o.status(now) in ("pending", "ready"))

    def use(self, obj: CacheObject, reset_ttl: float | None) -> int:
        """Tokens a request reads from ``obj`` (0 unless ready), applying ``reset_ttl``."""
        now = self.clock()
        status = obj.status(now)
        if reset_ttl:
            if status == "inactive":
                obj.ready_at = now + self.creation_latency_s
            obj.expired_at = now + reset_ttl
        return obj.tokens if status == "ready" else 0


def _user(req: HTTPRequest) -> str:
    bearer = req.headers.get("authorization", "")
    return bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""


class MoonshotRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.kimi = KimiCache(self.state.clock)
        self.moonshot = ContextCaches(self.state.clock)
        return [Route(f"{PREFIX}/chat/completions", self.moonshot_chat, methods=["POST"]),
                Route(f"{PREFIX}/caching", self.moonshot_create, methods=["POST"]),
                Route(f"{PREFIX}/caching", self.moonshot_list, methods=["GET"]),
                Route(PREFIX + "/caching/{cache_id}", self.moonshot_object, methods=["GET", "PUT", "DELETE"])]

    # -- helpers ---------------------------------------------------------------------------------
    async def _moonshot_plain(self, req: HTTPRequest):
        """(error response) for a request without a JSON body: faults, recording, auth."""
        fault = self._fault()
        if fault and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        with self.state.lock:
            self.state.requests.append({"path": req.url.path, "payload": None,
                                        "headers": {k: v for k, v in req.headers.items()
                                                    if k.lower() != "authorization"}})
        if not _user(req):
            return self._error("moonshot", 401, "authentication_error", "missing API key")
        if fault and fault.status:
            return self._error("moonshot", fault.status, "api_error", fault.message)
        return None

    def _not_found(self, cache_id: str):
        return self._error("moonshot", 404, "resource_not_found_error", f"context cache {cache_id} not found")

    def _tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        ids: list[int] = []
        for t in tools or []:
            ids += self.tok.encode(_canon(t))
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                ids += self.tok.encode(content) if content else []
            else:
                for part in content or []:
                    ids += self.tok.encode(part.get("text", "")) if part.get("text") else []
        return ids

    # -- chat ------------------------------------------------------------------------------------
    async def moonshot_chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "moonshot")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("moonshot", 400, "invalid_request_error", "model and messages are required")
        model, user = str(p["model"]), _user(req)
        messages, tools = p["messages"], p.get("tools")
        opts = p.get("prompt_cache_options")
        if opts is not None and (opts.get("mode", "implicit") != "implicit" or opts.get("ttl", "5m") not in TTL_S):
            return self._error("moonshot", 400, "invalid_request_error",
                               f"prompt_cache_options {opts!r}: mode must be implicit and ttl 5m or 1h")
        obj, reset, headers = None, None, {}
        cc = self.moonshot
        if messages and isinstance(messages[0], dict) and messages[0].get("role") == "cache":
            options = dict(o.strip().partition("=")[::2] for o in str(messages[0].get("content", "")).split(";")
                           if o.strip())
            with cc.lock:
                obj = cc.objects.get(options.get("cache_id", ""))
            if obj is None or obj.user != user:
                return self._not_found(options.get("cache_id", ""))
            if tools:
                return self._error("moonshot", 400, "invalid_request_error",
                                   "tools must be null when the first message is a context cache")
            messages, tools = obj.messages + messages[1:], obj.tools
            reset = float(options["reset_ttl"]) if options.get("reset_ttl") else None
        elif req.headers.get("x-msh-context-cache"):
            cid = req.headers["x-msh-context-cache"]
            with cc.lock:
                obj = cc.objects.get(cid)
            if obj is None or obj.user != user:
                return self._not_found(cid)
            n = len(obj.messages)
            if messages[:n] != obj.messages or (tools or None) != (obj.tools or None):
                return self._error("moonshot", 400, "invalid_request_error",
                                   f"the messages and tools do not start with context cache {cid}'s")
            ttl_h = req.headers.get("x-msh-context-cache-reset-ttl")
            reset = float(ttl_h) if ttl_h else None
        ids = self._tokens(messages, tools)
        total = len(ids)
        if obj is not None:
            with cc.lock:
                cached = cc.use(obj, reset)
            headers = {"Msh-Context-Cache-Id": obj.id, "Msh-Context-Cache-Token-Saved": str(cached),
                       "Msh-Context-Cache-Token-Exp": str(int(obj.expired_at))}
        elif model.startswith("moonshot-v1"):
            cached = 0
        else:
            ttl = (opts or {}).get("ttl", "5m")
            with self.state.lock:
                cached, _written = self.kimi.run(model, str(p.get("prompt_cache_key") or ""), ids, ttl)
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("moonshot", total, p.get("max_tokens") or 256)
        usage: dict[str, Any] = {"prompt_tokens": total, "completion_tokens": out_tokens,
                                 "total_tokens": total + out_tokens}
        if model.startswith("kimi-k2"):
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        else:
            usage["cached_tokens"] = cached
        finish = "length" if truncated else "stop"
        base = {"id": f"chatcmpl-sim-{n}", "created": int(self.state.clock()), "model": model}
        headers["x-request-id"] = f"req_sim_{n}"
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]},
                headers=headers)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "finish_reason": None}]}))]
        evs += [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
                for piece in _pieces(text)]
        last: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
        if model.startswith("moonshot-v1"):
            last["usage"] = usage  # the legacy models put usage on the finishing choice
        evs.append((None, _canon({**chunk, "choices": [last]})))
        if not model.startswith("moonshot-v1") and (p.get("stream_options") or {}).get("include_usage"):
            evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, headers)

    # -- /v1/caching -----------------------------------------------------------------------------
    async def moonshot_create(self, req: HTTPRequest):
        p, _fault, err = await self._begin(req, "moonshot")
        if err is not None:
            return err
        cc = self.moonshot
        if cc.create_gate is not None:
            await asyncio.to_thread(cc.create_gate.wait, 30)

        def bad(msg: str):
            return self._error("moonshot", 400, "invalid_request_error", msg)

        if not isinstance(p, dict) or not isinstance(p.get("messages"), list) or not p["messages"]:
            return bad("messages are required")
        if p.get("model") != "moonshot-v1":
            return bad("model family is invalid")
        meta = p.get("metadata") or {}
        if not isinstance(meta, dict) or len(meta) > 16 or any(
                not isinstance(v, str) or len(k) > 64 or len(v) > 512 for k, v in meta.items()):
            return bad("metadata: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters")
        if len(p.get("name") or "") > 256 or len(p.get("description") or "") > 512:
            return bad("name ≤ 256 and description ≤ 512 characters")
        now = self.state.clock()
        if p.get("expired_at") is not None:
            expired_at = float(p["expired_at"])
            if expired_at > now + LEGACY_MAX_TTL_S or expired_at <= now:
                return bad("expired_at must be within the next hour")
        else:
            ttl = p.get("ttl", LEGACY_MAX_TTL_S)
            if not isinstance(ttl, (int, float)) or ttl <= 0:
                return bad("ttl must be a positive number of seconds")
            expired_at = now + float(ttl)
        tokens = len(self._tokens(p["messages"], p.get("tools")))
        user = _user(req)
        with cc.lock:
            if tokens > cc.cache_limit:
                return bad(f"the cache has {tokens} tokens, over the limit of {cc.cache_limit} tokens per cache")
            if cc.live_tokens(user, now) + tokens > cc.user_limit:
                return bad(f"exceeded the limit of {cc.user_limit} tokens of context caches per user")
            cc.created += 1
            obj = CacheObject(f"cache-sim{cc.created:04d}", user, "moonshot-v1", p["messages"], p.get("tools") or None,
                              tokens, now, now + cc.creation_latency_s, expired_at, str(p.get("name") or ""),
                              str(p.get("description") or ""), dict(meta),
                              cc.fail_next.pop(0) if cc.fail_next else None)
            cc.objects[obj.id] = obj
            return JSONResponse(obj.to_json(now))

    async def moonshot_list(self, req: HTTPRequest):
        err = await self._moonshot_plain(req)
        if err is not None:
            return err
        q = req.query_params
        now, user = self.state.clock(), _user(req)
        meta = {k[9:-1]: v for k, v in q.items() if k.startswith("metadata[") and k.endswith("]")}
        with self.moonshot.lock:
            objs = [o for o in self.moonshot.objects.values()
                    if o.user == user and all(o.metadata.get(k) == v for k, v in meta.items())]
        objs.sort(key=lambda o: (o.created_at, o.id), reverse=q.get("order", "desc") == "desc")
        ids = [o.id for o in objs]
        if q.get("after") in ids:
            objs = objs[ids.index(q["after"]) + 1:]
        elif q.get("before") in ids:
            objs = objs[:ids.index(q["before"])]
        limit = int(q.get("limit", 20))
        return JSONResponse({"object": "list", "data": [o.to_json(now) for o in objs[:limit]],
                             "has_more": len(objs) > limit})

    async def moonshot_object(self, req: HTTPRequest):
        cache_id = req.path_params["cache_id"]
        if req.method == "PUT":
            p, _fault, err = await self._begin(req, "moonshot")
        else:
            p, err = None, await self._moonshot_plain(req)
        if err is not None:
            return err
        cc, now = self.moonshot, self.state.clock()
        with cc.lock:
            obj = cc.objects.get(cache_id)
            if obj is None or obj.user != _user(req):
                return self._not_found(cache_id)
            if req.method == "GET":
                return JSONResponse(obj.to_json(now))
            if req.method == "DELETE":
                del cc.objects[cache_id]
                return JSONResponse({"deleted": True, "id": cache_id, "object": "context_cache_object.deleted"})
            if not isinstance(p, dict):
                return self._error("moonshot", 400, "invalid_request_error", "body must be an object")
            if isinstance(p.get("metadata"), dict):
                obj.metadata = dict(p["metadata"])
            if p.get("expired_at") is not None:
                obj.expired_at = float(p["expired_at"])
            elif p.get("ttl") is not None:
                obj.expired_at = now + float(p["ttl"])
            obj.ready_at = now + cc.creation_latency_s  # an update resets the cache to pending
            return JSONResponse(obj.to_json(now))
