"""The provider simulator: a loopback HTTP server speaking Anthropic's and OpenAI's wire formats.

::

    from promptc.runtime.sim import Simulator
    with Simulator() as sim:                      # starts on 127.0.0.1, a free port
        client = promptc.Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sim")
        ...
        sim.inject(status=429, retry_after=0)     # the next request gets a 429
        sim.advance(301)                          # five minutes and a second later: 5m entries expire

Routes: ``POST /v1/messages`` (Anthropic), ``POST /v1/chat/completions`` and ``POST /v1/responses``
(OpenAI; point ``OPENAI_BASE_URL`` at ``<url>/v1``). Control routes for other processes:
``POST /_sim/faults`` (a JSON list of faults), ``POST /_sim/advance`` (``{"seconds": N}``),
``GET /_sim/requests`` (payloads received, without credentials). The cache semantics are in
:mod:`promptc.runtime.sim.cache`; tokens are counted with ``o200k_base``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from promptc.cache_limits import limits_for
from promptc.runtime.sim.cache import AnthropicCache, Block, CacheResult, OpenAICache

EXPLICIT_OPENAI = ("gpt-5.6", "gpt-5.7", "gpt-5.8", "gpt-6")
ONLY_24H = ("gpt-5.5",)


@dataclass
class Fault:
    """One injected fault for the next request: an error ``status`` (with ``retry_after`` seconds),
    a ``delay_s`` before answering, or ``drop_after`` stream events then a cut connection."""

    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    drop_after: int | None = None
    message: str = "simulated fault"


class FakeClock:
    """A clock that only moves when told to (:meth:`advance`); starts at a fixed epoch."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class SimState:
    """Everything the simulator remembers; owned by one :class:`Simulator`."""

    clock: Any
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimApp:
    """The ASGI application (``.app``); :class:`Simulator` runs it on loopback."""

    def __init__(self, clock: Any = None, anthropic_min_tokens: dict[str, int] | None = None,
                 openai_min_tokens: int = 1024):
        self.state = SimState(clock or FakeClock())
        from promptc.tokenizers import get_tokenizer

        self.tok = get_tokenizer("o200k_base")
        overrides = anthropic_min_tokens or {}
        self.anthropic = AnthropicCache(self.state.clock, lambda m: overrides.get(m) or
                                        limits_for(f"anthropic/{m}").min_tokens or 1024)
        self.openai = OpenAICache(self.state.clock, minimum=openai_min_tokens)
        self.app = Starlette(routes=[
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
            Route("/_sim/faults", self.post_faults, methods=["POST"]),
            Route("/_sim/advance", self.post_advance, methods=["POST"]),
            Route("/_sim/requests", self.get_requests, methods=["GET"]),
        ])

    # -- helpers ----------------------------------------------------------------------------------
    def count(self, text: str) -> int:
        return len(self.tok.encode(text)) if text else 0

    def _next_id(self) -> int:
        with self.state.lock:
            self.state.counter += 1
            return self.state.counter

    def _fault(self) -> Fault | None:
        with self.state.lock:
            return self.state.faults.pop(0) if self.state.faults else None

    async def _begin(self, req: HTTPRequest, provider: str):
        """(payload, fault, error response): auth, JSON, recording and injected faults."""
        fault = self._fault()
        if fault and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        try:
            payload = await req.json()
        except ValueError:
            return None, fault, self._error(provider, 400, "invalid_request_error", "body is not JSON")
        with self.state.lock:
            self.state.requests.append({"path": req.url.path, "payload": payload,
                                        "headers": {k: v for k, v in req.headers.items()
                                                    if k.lower() not in ("authorization", "x-api-key")}})
        bearer = req.headers.get("authorization", "")
        bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
        auth = (req.headers.get("x-api-key") or bearer) if provider == "anthropic" else bearer
        if not auth:
            return payload, fault, self._error(provider, 401, "authentication_error", "missing API key")
        if fault and fault.status:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            etype = {429: "rate_limit_error", 529: "overloaded_error"}.get(fault.status, "api_error")
            return payload, fault, self._error(provider, fault.status, etype, fault.message, headers)
        return payload, fault, None

    def _error(self, provider: str, status: int, etype: str, message: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
        rid = f"req_sim_{self._next_id()}"
        h = {"request-id" if provider == "anthropic" else "x-request-id": rid, **(headers or {})}
        if provider == "anthropic":
            body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}
        else:
            body = {"error": {"message": message, "type": etype, "param": None, "code": None}}
        return JSONResponse(body, status_code=status, headers=h)

    def _reply_text(self, provider: str, prompt_tokens: int, max_tokens: int) -> tuple[str, int, bool]:
        text = f"Simulated {provider} reply to a {prompt_tokens}-token prompt."
        ids = self.tok.encode(text)
        if max_tokens < len(ids):
            return self.tok.decode(ids[:max_tokens]) if max_tokens > 0 else "", max(0, max_tokens), True
        return text, len(ids), False

    def _sse(self, events: list[tuple[str | None, str]], fault: Fault | None, rid_header: dict[str, str]):
        async def gen():
            for n, (ev, data) in enumerate(events):
                if fault and fault.drop_after is not None and n >= fault.drop_after:
                    raise ConnectionResetError("simulated dropped stream")
                yield (f"event: {ev}\n" if ev else "") + f"data: {data}\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream", headers=rid_header)

    # -- Anthropic ----------------------------------------------------------------------------------
    def _anthropic_blocks(self, p: dict[str, Any]) -> tuple[list[Block], str | None]:
        """Blocks in prefix order (tools → system → messages), or an error message."""
        blocks: list[Block] = []

        def add(obj: dict[str, Any], text: str, where: str) -> str | None:
            cc = obj.get("cache_control")
            if cc is not None and obj.get("type") == "text" and not obj.get("text"):
                return f"{where}: cache_control cannot be set for empty text blocks"
            ident = _canon({k: v for k, v in obj.items() if k != "cache_control"})
            blocks.append(Block(self.count(text), ident, (cc or {}).get("ttl", "5m") if cc else None))
            return None

        for i, t in enumerate(p.get("tools") or []):
            err = add(t, _canon({k: v for k, v in t.items() if k != "cache_control"}), f"tools.{i}")
            if err:
                return blocks, err
        system = p.get("system")
        if isinstance(system, str):
            system = [{"type": "text", "text": system}] if system else []
        for i, b in enumerate(system or []):
            if b.get("type") == "text" and not b.get("text"):
                return blocks, f"system.{i}: text content blocks must be non-empty"
            err = add(b, b.get("text", ""), f"system.{i}")
            if err:
                return blocks, err
        for m, msg in enumerate(p.get("messages") or []):
            content = msg.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            for c, b in enumerate(content or []):
                if b.get("type") == "text" and not b.get("text"):
                    return blocks, f"messages.{m}.content.{c}: text content blocks must be non-empty"
                err = add(b, b.get("text", "") if b.get("type") == "text" else _canon(b), f"messages.{m}.content.{c}")
                if err:
                    return blocks, err
        top = p.get("cache_control")
        if top and blocks:  # automatic mode: the last block
            last = blocks[-1]
            ttl = top.get("ttl", "5m")
            if last.marker and last.marker != ttl:
                return blocks, "cache_control: automatic caching conflicts with the last block's ttl"
            blocks[-1] = Block(last.tokens, last.identity, ttl)
        explicit = sum(1 for b in (p.get("tools") or []) + list(system or []) if b.get("cache_control")) + sum(
            1 for msg in p.get("messages") or [] if isinstance(msg.get("content"), list)
            for b in msg["content"] if b.get("cache_control"))
        found = explicit + (1 if top and not _last_marked(p) else 0)  # automatic mode takes a slot
        if found > 4:
            return blocks, f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
        seen_5m = False
        for b in blocks:
            if b.marker == "5m":
                seen_5m = True
            elif b.marker == "1h" and seen_5m:
                return blocks, ("cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
                                "cache_control block. Note that blocks are processed in the following order: "
                                "tools, system, messages.")
        return blocks, None

    async def messages(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "anthropic")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list) or \
                not isinstance(p.get("max_tokens"), int):
            return self._error("anthropic", 400, "invalid_request_error", "model, max_tokens and messages are required")
        blocks, problem = self._anthropic_blocks(p)
        if problem:
            return self._error("anthropic", 400, "invalid_request_error", problem)
        res = self.anthropic.run(p["model"], blocks)
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("anthropic", res.total, p["max_tokens"])
        usage = {"input_tokens": res.uncached, "cache_creation_input_tokens": sum(res.write.values()),
                 "cache_read_input_tokens": res.read,
                 "cache_creation": {"ephemeral_5m_input_tokens": res.write.get("5m", 0),
                                    "ephemeral_1h_input_tokens": res.write.get("1h", 0)},
                 "output_tokens": out_tokens, "service_tier": "standard"}
        stop = "max_tokens" if truncated else "end_turn"
        msg = {"id": f"msg_sim_{n}", "type": "message", "role": "assistant", "model": p["model"],
               "content": [{"type": "text", "text": text}] if text else [], "stop_reason": stop,
               "stop_sequence": None, "usage": usage}
        rid = {"request-id": f"req_sim_{n}"}
        if not p.get("stream"):
            return JSONResponse(msg, headers=rid)
        start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        evs: list[tuple[str | None, str]] = [
            ("message_start", _canon({"type": "message_start", "message": start})),
            ("content_block_start", _canon({"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}}))]
        for piece in _pieces(text):
            evs.append(("content_block_delta", _canon({"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": piece}})))
        evs += [("content_block_stop", _canon({"type": "content_block_stop", "index": 0})),
                ("message_delta", _canon({"type": "message_delta",
                                          "delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": {"output_tokens": out_tokens, "input_tokens": res.uncached,
                                                    "cache_creation_input_tokens": sum(res.write.values()),
                                                    "cache_read_input_tokens": res.read}})),
                ("message_stop", _canon({"type": "message_stop"}))]
        return self._sse(evs, fault, rid)

    # -- OpenAI -------------------------------------------------------------------------------------
    def _openai_common(self, p: dict[str, Any], items: list[dict[str, Any]], part_types: tuple[str, ...]):
        """(cache result, error response) for chat messages or responses input items."""
        model = str(p.get("model") or "")
        explicit = model.startswith(EXPLICIT_OPENAI)
        opts = p.get("prompt_cache_options")
        if opts is not None and not explicit:
            return None, self._error("openai", 400, "invalid_request_error",
                                     f"prompt_cache_options is not supported with model {model}")
        retention = p.get("prompt_cache_retention")
        if retention == "in_memory" and model.startswith(ONLY_24H):
            return None, self._error("openai", 400, "invalid_request_error",
                                     f"prompt_cache_retention 'in_memory' is not supported with model {model}")
        blocks: list[Block] = []
        for t in p.get("tools") or []:
            blocks.append(Block(self.count(_canon(t)), _canon(t)))
        for m, msg in enumerate(items):
            content = msg.get("content")
            if isinstance(content, str):
                content = [{"type": part_types[0], "text": content}]
            for c, part in enumerate(content or []):
                bp = part.get("prompt_cache_breakpoint")
                if bp is not None and not explicit:
                    return None, self._error("openai", 400, "invalid_request_error",
                                             f"messages[{m}].content[{c}].prompt_cache_breakpoint is not supported "
                                             f"with model {model}")
                ident = _canon({"role": msg.get("role"), **{k: v for k, v in part.items()
                                                              if k != "prompt_cache_breakpoint"}})
                blocks.append(Block(self.count(part.get("text", "")), ident, "30m" if bp else None))
        key = str(p.get("prompt_cache_key") or "")
        if explicit:
            mode = (opts or {}).get("mode", "implicit")
            return self.openai.explicit(model, key, blocks, implicit=mode == "implicit"), None
        ids: list[int] = []
        for t in p.get("tools") or []:
            ids += self.tok.encode(_canon(t))
        for msg in items:
            content = msg.get("content")
            parts = [content] if isinstance(content, str) else [x.get("text", "") for x in content or []]
            for text in parts:
                ids += self.tok.encode(text)
        return self.openai.automatic(model, key, ids, retention or "24h"), None

    async def chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "openai")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("openai", 400, "invalid_request_error", "model and messages are required")
        res, err = self._openai_common(p, p["messages"], ("text",))
        if err is not None:
            return err
        n = self._next_id()
        max_tokens = p.get("max_completion_tokens") or p.get("max_tokens") or 256
        text, out_tokens, truncated = self._reply_text("openai", res.total, max_tokens)
        usage = _chat_usage(res, out_tokens, str(p["model"]).startswith(EXPLICIT_OPENAI))
        finish = "length" if truncated else "stop"
        created = int(self.state.clock())
        rid = {"x-request-id": f"req_sim_{n}"}
        base = {"id": f"chatcmpl-sim-{n}", "created": created, "model": p["model"], "system_fingerprint": None,
                "service_tier": "default"}
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish, "logprobs": None}]}, headers=rid)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "finish_reason": None, "logprobs": None}]}))]
        for piece in _pieces(text):
            evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece},
                                                            "finish_reason": None, "logprobs": None}]})))
        evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                                        "logprobs": None}]})))
        if (p.get("stream_options") or {}).get("include_usage"):
            evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, rid)

    async def responses(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "openai")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or "input" not in p:
            return self._error("openai", 400, "invalid_request_error", "model and input are required")
        items = p["input"] if isinstance(p["input"], list) else [{"role": "user", "content": p["input"]}]
        res, err = self._openai_common(p, items, ("input_text",))
        if err is not None:
            return err
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("openai", res.total, p.get("max_output_tokens") or 256)
        details = {"cached_tokens": res.read}
        if str(p["model"]).startswith(EXPLICIT_OPENAI):
            details["cache_write_tokens"] = sum(res.write.values())
        usage = {"input_tokens": res.total, "input_tokens_details": details, "output_tokens": out_tokens,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": res.total + out_tokens}
        resp = {"id": f"resp_sim_{n}", "object": "response", "created_at": int(self.state.clock()),
                "model": p["model"], "status": "incomplete" if truncated else "completed", "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
                "instructions": None, "metadata": {}, "parallel_tool_calls": True, "temperature": None,
                "tool_choice": "auto", "tools": p.get("tools") or [], "top_p": None,
                "output": [{"type": "message", "id": f"msg_sim_{n}", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "usage": usage}
        rid = {"x-request-id": f"req_sim_{n}"}
        if not p.get("stream"):
            return JSONResponse(resp, headers=rid)
        item = resp["output"][0]
        part = {"type": "output_text", "text": "", "annotations": []}
        loc = {"item_id": item["id"], "output_index": 0}
        raw: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**resp, "status": "in_progress", "output": [], "usage": None}},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **loc, "content_index": 0, "part": part}]
        raw += [{"type": "response.output_text.delta", **loc, "content_index": 0, "delta": piece, "logprobs": []}
                for piece in _pieces(text)]
        raw += [{"type": "response.output_text.done", **loc, "content_index": 0, "text": text, "logprobs": []},
                {"type": "response.content_part.done", **loc, "content_index": 0, "part": {**part, "text": text}},
                {"type": "response.output_item.done", "output_index": 0, "item": item},
                {"type": "response.completed", "response": resp}]
        evs = [(e["type"], _canon({**e, "sequence_number": i})) for i, e in enumerate(raw)]
        return self._sse(evs, fault, rid)

    # -- control ------------------------------------------------------------------------------------
    async def post_faults(self, req: HTTPRequest):
        body = await req.json()
        faults = [Fault(**f) for f in (body if isinstance(body, list) else [body])]
        with self.state.lock:
            self.state.faults.extend(faults)
        return JSONResponse({"queued": len(self.state.faults)})

    async def post_advance(self, req: HTTPRequest):
        body = await req.json()
        clock = self.state.clock
        if not hasattr(clock, "advance"):
            return JSONResponse({"error": "the simulator runs on the real clock"}, status_code=409)
        clock.advance(float(body.get("seconds", 0)))
        return JSONResponse({"now": clock()})

    async def get_requests(self, req: HTTPRequest):
        with self.state.lock:
            return JSONResponse(list(self.state.requests))


def _last_marked(p: dict[str, Any]) -> bool:
    """Whether the request's last block carries its own explicit cache_control."""
    msgs = p.get("messages") or []
    if msgs and isinstance(msgs[-1].get("content"), list) and msgs[-1]["content"]:
        return bool(msgs[-1]["content"][-1].get("cache_control"))
    return False


def _chat_usage(res: CacheResult, out_tokens: int, explicit: bool) -> dict[str, Any]:
    details = {"cached_tokens": res.read, "audio_tokens": 0}
    if explicit:
        details["cache_write_tokens"] = sum(res.write.values())
    return {"prompt_tokens": res.total, "completion_tokens": out_tokens, "total_tokens": res.total + out_tokens,
            "prompt_tokens_details": details, "completion_tokens_details": {"reasoning_tokens": 0}}


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or []


class Simulator:
    """Run :class:`SimApp` with uvicorn in a background thread on loopback (a context manager).

    ``clock`` defaults to a :class:`FakeClock` (advance it with :meth:`advance`); pass ``time.time``
    for real time. ``anthropic_min_tokens`` (per model) and ``openai_min_tokens`` override the
    minimum cacheable tokens, to exercise caching with small prompts.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Any = None,
                 anthropic_min_tokens: dict[str, int] | None = None, openai_min_tokens: int = 1024):
        import uvicorn

        self.sim = SimApp(clock, anthropic_min_tokens, openai_min_tokens)
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(self.sim.app, host=host, port=port, log_level="critical",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """The base URL for Anthropic clients; OpenAI clients use ``url + "/v1"``."""
        return f"http://{self.host}:{self.port}"

    @property
    def clock(self):
        """The simulator's clock (a :class:`FakeClock` unless another was given)."""
        return self.sim.state.clock

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received: ``{"path", "payload", "headers"}`` (credentials removed)."""
        return self.sim.state.requests

    def inject(self, **fault: Any) -> None:
        """Queue a :class:`Fault` for the next request (``status``, ``retry_after``, ``delay_s``, ``drop_after``)."""
        with self.sim.state.lock:
            self.sim.state.faults.append(Fault(**fault))

    def advance(self, seconds: float) -> None:
        """Move the simulator's fake clock forward (cache entries expire)."""
        self.sim.state.clock.advance(seconds)

    def start(self) -> "Simulator":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the provider simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["FakeClock", "Fault", "SimApp", "Simulator"]
