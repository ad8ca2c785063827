"""An OpenAI-compatible HTTP API over the KV-tree engine, with the ``segments[]`` extension.

Endpoints: ``POST /v1/chat/completions`` (``segments`` precede ``messages``; ``stream: true`` is
SSE), ``POST /v1/cache/warm``, ``GET /v1/cache/stats``, ``DELETE /v1/cache``, ``GET /v1/models``,
``GET /health``, ``GET /metrics`` (Prometheus text; see :mod:`promptc.engine.metrics` for its scopes).

Back-pressure: at most ``max_queue`` requests wait for a batch slot; one more is refused at once
with 429 and ``retry-after`` (E711). Every request has a deadline (``deadline_s``, or less with a
``timeout`` body field or an ``x-promptc-timeout`` header); at the deadline the scheduler cancels it,
frees its KV buffer and tree references, and the client gets 504 (E712).

Security (docs/security.md, "Shared engine"): API keys map to tenant scopes; the KV cache, the
tokenization cache and every number that reveals them (usage, stats, warm) are scoped to the
caller's tenant. Each segment's hash is recomputed from its role and content and a mismatch is
rejected with 400, so a client can never poison the cache. Body size, JSON depth, segment and
message counts and generation length are limited (:class:`~promptc.engine.limits.ServerConfig`);
every malformed request is a 400 in OpenAI's error JSON shape, never a 500. Body parsing and
tokenization run in worker threads, so a large request never stalls ``/health`` or other requests.

Slow and cross-origin clients (issue 22): a request's headers must arrive within
``header_timeout_s`` and its body within ``body_timeout_s`` (else 408 and the connection closes); at
most ``max_connections`` connections are open at once (:func:`uvicorn_config`). A POST must be
``application/json`` (a ``text/plain`` form post needs no CORS preflight, so any web page could
otherwise spend a loopback server's model), and with no API keys the ``Host`` header must name the
address the request arrived on or ``localhost`` (DNS rebinding). Keys compare in constant time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import hmac
import ipaddress
import json
import math
import threading
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from promptc.core.engine_errors import InvalidTimeout
from promptc.core.hashing import chain, segment_hash
from promptc.engine.limits import ServerConfig, parse_size  # noqa: F401  (re-exported)
from promptc.engine.metrics import render as render_metrics
from promptc.engine.named import NAME_RE, MemoryNames, NamedError, NameStore
from promptc.engine.request import DeadlineExceeded, QueueFull
from promptc.engine.request_json import BodyError, parse_body
from promptc.engine.runner import Engine, GenerationParams, SegmentIn, openai_usage

ROLES = ("system", "developer", "user", "assistant")


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers

    def response(self) -> Response:
        # ASCII-escaped: a message or param that echoes client text can never fail to encode.
        body = json.dumps({"error": {"message": self.message, "type": self.type, "param": self.param,
                                     "code": self.code}}, ensure_ascii=True)
        return Response(body, status_code=self.status, media_type="application/json", headers=self.headers)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentModel(_Strict):
    id: str = Field(min_length=1, max_length=512)
    hash: str
    role: Literal["system", "developer", "user", "assistant"]
    content: str


class MessageModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(400, "only text content parts are supported", param="messages")
            parts.append(part["text"])
        return "".join(parts)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


SEED_MIN, SEED_MAX = -(1 << 63), (1 << 64) - 1  # what torch.Generator.manual_seed accepts
MIN_TEMPERATURE = 1e-4


class ChatRequest(BaseModel):
    # unknown OpenAI fields (user, n=1, ...) are accepted; NaN/inf are refused for every float
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    model: str | None = None
    messages: list[MessageModel] = Field(default_factory=list)
    segments: list[SegmentModel] = Field(default_factory=list)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1)
    ignore_eos: bool = False  # vLLM's extra sampling parameter: generate max_tokens whatever the model ends with
    cache_salt: str | None = Field(default=None, min_length=1, max_length=256)  # vLLM's: see cache_scope

    @field_validator("stop")
    @classmethod
    def _stop(cls, v):
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        if isinstance(v, list) and any(len(x) > 256 for x in v) or isinstance(v, str) and len(v) > 256:
            raise ValueError("a stop sequence is at most 256 characters")
        return v

    def sampling_temperature(self) -> float:
        """Temperatures below 1e-4 sample greedily (they are greedy in effect, and logits / 1e-300 overflow)."""
        return 0.0 if self.temperature < MIN_TEMPERATURE else self.temperature

    def stop_sequences(self) -> tuple[str, ...]:
        """The stop strings, without empty ones (an empty stop would match everywhere and means nothing)."""
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        return tuple(s for s in stops if s)


class WarmRequest(_Strict):
    segments: list[SegmentModel] = Field(min_length=1)


SALTED = "~salt:"


def cache_scope(tenant: str, salt: str | None) -> str:
    """The KV-cache scope of a chat request: its tenant, or with vLLM's ``cache_salt`` a scope of its own
    within the tenant, so requests with different salts never share cached KV (as in vLLM). A gateway that
    sends all its clients under one key keeps them apart this way. The salt enters as a hash: the scope is
    the ``tenant`` label of /metrics, and a salt may be a secret's HMAC."""
    if salt is None:
        return tenant
    return tenant + SALTED + hashlib.sha256(salt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _validation_error(exc: ValidationError) -> ApiError:
    e = exc.errors()[0]
    param = ".".join(str(x) for x in e["loc"]) or None
    return ApiError(400, f"invalid request: {param}: {e['msg']}" if param else f"invalid request: {e['msg']}",
                    param=param, code="invalid_value")


def _same_key(given: str, expected: str) -> bool:
    """Constant-time key comparison (no early exit on the first differing byte)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def host_allowed(host_header: str, server: tuple[str, int] | None) -> bool:
    """True when ``Host`` names the address the request arrived on (``server`` from the ASGI scope),
    or ``localhost`` when that address is loopback. A DNS-rebinding page sends its own host name."""
    if server is None:
        return True  # not a socket (an in-process ASGI test client): nothing to rebind
    addr, port = server[0], server[1]
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return host_header.lower() in (addr.lower(), f"{addr.lower()}:{port}")
    shown = f"[{addr}]" if ip.version == 6 else addr
    names = {shown} | (set(_LOOPBACK_NAMES) if ip.is_loopback else set())
    host = host_header.lower()
    return any(host in (n, f"{n}:{port}") for n in names)


class _Guard:
    """ASGI middleware for the HTTP layer: the Host check (no keys configured) and JSON-only POSTs."""

    def __init__(self, app, config: ServerConfig):
        self.app, self.config = app, config

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            error = None
            if not self.config.api_keys and not host_allowed(headers.get("host", ""), scope.get("server")):
                error = ApiError(421, "the Host header does not name this server (a loopback server without API "
                                      "keys answers only requests addressed to it)", code="misdirected_request")
            elif scope["method"] == "POST":
                ctype = headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    error = ApiError(415, f"Content-Type must be application/json, not {ctype or 'missing'!r}",
                                     param="content-type", code="unsupported_media_type")
            if error is not None:
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


class EngineServer:
    """The ASGI application and its request handling (``app`` is a Starlette instance)."""

    def __init__(self, engine: Engine, config: ServerConfig | None = None, names: NameStore | None = None):
        self.engine = engine
        self.config = config or ServerConfig()
        # named segments (PUT /v1/segments/{name}); RedisNames shares them between replicas
        self.names = names if names is not None else MemoryNames()
        self._prep = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="promptc-prepare")
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._counted(self.chat), methods=["POST"]),
            Route("/v1/cache/warm", self.warm, methods=["POST"]),
            Route("/v1/segments/{name}", self.named_segment, methods=["PUT", "GET"]),
            Route("/v1/cache/stats", self.stats, methods=["GET"]),
            Route("/v1/cache", self.clear, methods=["DELETE"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ], exception_handlers={ApiError: lambda req, exc: exc.response(),
                               404: lambda req, exc: ApiError(404, f"no route {req.method} {req.url.path}",
                                                              code="not_found").response(),
                               405: lambda req, exc: ApiError(405, f"method {req.method} not allowed on "
                                                                   f"{req.url.path}", code="method_not_allowed").response()})
        self.app.add_middleware(_Guard, config=self.config)

    # -- request plumbing ---------------------------------------------------------------------
    def tenant(self, request: Request) -> str:
        if not self.config.api_keys:
            return "default"
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        tenant = None
        for known, name in self.config.api_keys.items():  # every key compared, each in constant time
            if _same_key(key, known):
                tenant = name
        if tenant is None:
            raise ApiError(401, "invalid or missing API key (send Authorization: Bearer <key>)",
                           type_="authentication_error", code="invalid_api_key")
        return tenant

    async def body(self, request: Request) -> Any:
        """Read at most ``max_body_bytes`` and parse it off the event loop (see :mod:`.request_json`)."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body over {limit} bytes", code="request_too_large")
        buf = bytearray()  # one growing buffer, not a new bytes object per chunk
        try:
            async with asyncio.timeout(self.config.body_timeout_s):  # a body dripped byte by byte ends
                async for chunk in request.stream():
                    if len(buf) + len(chunk) > limit:
                        raise ApiError(413, f"request body over {limit} bytes", code="request_too_large")
                    buf += chunk
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {self.config.body_timeout_s:g}s",
                           code="request_timeout") from None
        try:
            return await self._off_loop(parse_body, bytes(buf), self.config.max_json_depth)
        except BodyError as exc:
            raise ApiError(400, str(exc), param=exc.param, code=exc.code) from None
        finally:
            del buf

    async def _off_loop(self, fn, *args):
        """Run CPU-bound request preparation (JSON parsing, tokenizing) on the server's preparation thread.

        One dedicated thread: the event loop stays free for /health and other requests, and the
        memory a large request needed is reused by the next one instead of being kept per worker
        thread (each thread gets its own malloc arena).
        """
        return await asyncio.get_running_loop().run_in_executor(self._prep, fn, *args)

    async def check_prompt(self, tenant: str, segments: list[SegmentIn], messages: list[dict],
                           max_tokens: int) -> None:
        """Tokenize in a worker thread (fail fast, before any stream starts) and check the context length."""
        context = self.engine.weights.config.max_seq_len
        at_least = self.engine.request_tokenizer.min_tokens(segments, messages)
        if at_least + max_tokens > context:  # hopeless: refuse without spending CPU on tokenizing it
            raise ApiError(400, f"this model's context is {context} tokens; the prompt has at least {at_least} and "
                                f"max_tokens asks for {max_tokens} more", param="messages",
                           code="context_length_exceeded")
        try:
            seg_ids, msg_ids, gen = await self._off_loop(functools.partial(self.engine.tokenize, segments, messages,
                                                                           tenant=tenant))
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_prompt") from None
        prompt = sum(map(len, seg_ids)) + sum(map(len, msg_ids)) + len(gen)
        if prompt + max_tokens > context:
            param = "messages" if prompt >= context else "max_tokens"
            raise ApiError(400, f"this model's context is {context} tokens; the prompt has {prompt} and max_tokens "
                                f"asks for {max_tokens} more", param=param, code="context_length_exceeded")

    def segments_in(self, segments: list[SegmentModel]) -> list[SegmentIn]:
        if len(segments) > self.config.max_segments:
            raise ApiError(400, f"at most {self.config.max_segments} segments per request", param="segments",
                           code="too_many_segments")
        out = []
        for i, s in enumerate(segments):
            expected = segment_hash(s.role, s.content)
            if s.hash != expected:
                raise ApiError(400, f"segments[{i}] (`{s.id}`): hash does not match its role and content "
                                    f"(expected {expected})", param=f"segments.{i}.hash", code="segment_hash_mismatch")
            out.append(SegmentIn(s.id, s.hash, s.role, s.content))
        return out

    @staticmethod
    def root_hash(segments: list[SegmentIn]) -> str | None:
        parent = None
        for s in segments:
            parent = chain(parent, s.hash)
        return parent

    # -- endpoints ------------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        arrived = time.monotonic()  # the deadline and TTFT count from here
        tenant = self.tenant(request)
        data = self.resolve_refs(tenant, await self.body(request))
        if not isinstance(data, dict):
            raise ApiError(400, "request body must be a JSON object", code="invalid_json")
        try:
            req = ChatRequest.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        if req.model and req.model not in (self.config.model_id, self.engine.model_name, "default"):
            raise ApiError(404, f"model `{req.model}` not found; GET /v1/models lists `{self.config.model_id}`",
                           param="model", code="model_not_found")
        segments = self.segments_in(req.segments)
        if len(req.messages) > self.config.max_messages:
            raise ApiError(400, f"at most {self.config.max_messages} messages per request", param="messages")
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        if not segments:  # a plain OpenAI request: cache its messages by prefix, as vLLM and SGLang do
            segments, messages = [SegmentIn.of(f"message.{i}", m["role"], m["content"])
                                  for i, m in enumerate(messages)], []
        if not segments and not messages:
            raise ApiError(400, "a request needs at least one segment or message", param="messages")
        max_tokens = req.max_completion_tokens or req.max_tokens or self.config.default_max_tokens
        if max_tokens > self.config.max_tokens_limit:
            raise ApiError(400, f"max_tokens is limited to {self.config.max_tokens_limit}", param="max_tokens")
        tenant = cache_scope(tenant, req.cache_salt)  # from here on: the request's cache scope
        params = GenerationParams(max_tokens=max_tokens, temperature=req.sampling_temperature(), top_p=req.top_p,
                                  seed=req.seed, ignore_eos=req.ignore_eos,
                                  stop=req.stop_sequences())
        timeout_s = self.timeout(request, data)
        await self.check_prompt(tenant, segments, messages, max_tokens)
        gen = await self._submit(self.engine.submit, tenant, segments, messages, params, arrived=arrived,
                                 timeout_s=timeout_s)
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(self._sse(gen, segments, completion_id, created, include_usage),
                                     media_type="text/event-stream",
                                     headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
        try:
            completion = await self._complete(request, gen)
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_prompt") from None
        except DeadlineExceeded as exc:
            raise self._deadline_error(exc) from None
        if completion is None:  # the client disconnected: generation was cancelled, nobody reads this
            return Response(status_code=499)
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": self.config.model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                         "finish_reason": completion.finish_reason, "logprobs": None}],
            "usage": self._usage(completion), "promptc": self._extension(completion, segments)})

    # -- back-pressure, deadlines, outcomes ----------------------------------------------------------
    def timeout(self, request: Request, data: dict) -> float:
        """The request's deadline in seconds: its ``timeout`` field, else its ``x-promptc-timeout``
        header, else the server's ``deadline_s``; never more than ``deadline_s``. E713 when malformed."""
        raw, param = data.get("timeout"), "timeout"
        if raw is None and "x-promptc-timeout" in request.headers:
            raw, param = request.headers["x-promptc-timeout"], "x-promptc-timeout"
        if raw is None:
            return self.config.deadline_s
        value = None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) or param != "timeout":
            try:
                value = float(raw)
            except (TypeError, ValueError, OverflowError):
                value = None
        if value is None or not math.isfinite(value) or value <= 0:
            err = InvalidTimeout(param, f"must be a positive number of seconds (at most {self.config.deadline_s:g}), "
                                        f"not {str(raw)[:40]!r}")
            raise ApiError(400, f"{err.code}: {param} {err.message}", param=param, code="invalid_value")
        return min(value, self.config.deadline_s)

    async def _submit(self, submit, *args, **kw):
        """Queue a request (``submit`` is ``engine.submit`` or ``engine.warm``) off the event loop; a
        full queue is 429 with ``retry-after`` (E711)."""
        try:
            return await asyncio.to_thread(functools.partial(submit, *args, max_waiting=self.config.max_queue, **kw))
        except QueueFull as exc:
            raise ApiError(429, f"{exc.code}: {exc.message}; retry later", type_="rate_limit_error", code="queue_full",
                           headers={"retry-after": str(self.config.retry_after_s)}) from None
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_prompt") from None

    @staticmethod
    def _deadline_error(exc: DeadlineExceeded) -> ApiError:
        return ApiError(504, f"{exc.code}: {exc.message}", type_="timeout_error", param="timeout",
                        code="deadline_exceeded")

    def _counted(self, handler):
        """Count the requests ``handler`` refuses as invalid (4xx other than 401 and 429) for the caller's
        tenant; queue-full and engine outcomes are counted where they happen."""
        async def counted(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                if 400 <= exc.status < 500 and exc.status not in (401, 429):
                    try:
                        self.engine.metrics.request_done(self.tenant(request), "invalid")
                    except ApiError:
                        pass
                raise
        return counted

    def metrics_scope(self, request: Request) -> str | None:
        """None (every tenant: no API keys, or the metrics key) or the caller's tenant."""
        if not self.config.api_keys:
            return None
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if self.config.metrics_key is not None and _same_key(key, self.config.metrics_key):
            return None
        return self.tenant(request)

    async def _complete(self, request: Request, gen):
        """Wait for a queued request's completion; a client that disconnects first cancels it (its tree
        references are released and its batch slot freed). None when cancelled."""

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        result = asyncio.ensure_future(asyncio.to_thread(gen.result))
        watch = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({result, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not result.done():
                gen.cancel()
            return await result
        finally:
            watch.cancel()
            gen.cancel()

    @staticmethod
    def _usage(c) -> dict:
        return openai_usage(c)

    def _extension(self, c, segments: list[SegmentIn]) -> dict:
        return {"segments": [s.to_json() for s in c.statuses], "root_hash": self.root_hash(segments),
                "computed_tokens": c.computed_tokens}

    async def _sse(self, gen, segments, cid, created, include_usage):
        """Stream a queued request's chunks from a worker thread; a disconnect stops generation and
        releases references; a deadline ends the stream with an error event (E712)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def worker():
            try:
                for ev in gen:
                    if cancel.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, ("event", ev))
            except Exception as exc:  # reported to the client as an error event
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            finally:
                gen.cancel()  # releases the request's references on the tree path (no-op when finished)
                gen.done.wait()
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))

        thread = threading.Thread(target=worker, name=f"promptc-stream-{cid}", daemon=True)
        thread.start()

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.config.model_id,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        try:
            yield chunk({"role": "assistant", "content": ""})
            while True:
                kind, item = await queue.get()
                if kind == "done":
                    break
                if kind == "error":
                    if isinstance(item, DeadlineExceeded):
                        e = self._deadline_error(item)
                        err = {"error": {"message": e.message, "type": e.type, "param": e.param, "code": e.code}}
                    else:
                        err = {"error": {"message": str(item), "type": "server_error", "param": None, "code": None}}
                    yield f"data: {json.dumps(err)}\n\n"
                    break
                ev = item
                if ev.completion is not None:
                    yield chunk({}, ev.finish_reason)
                    if include_usage:
                        body = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                "model": self.config.model_id, "choices": [], "usage": self._usage(ev.completion),
                                "promptc": self._extension(ev.completion, segments)}
                        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
                elif ev.text:
                    yield chunk({"content": ev.text})
            yield "data: [DONE]\n\n"
        finally:
            cancel.set()  # client gone (or finished): stop the worker at its next token
            gen.cancel()  # and the generation at the scheduler's next step, even if no token comes

    async def warm(self, request: Request) -> Response:
        arrived = time.monotonic()
        tenant = self.tenant(request)
        data = self.resolve_refs(tenant, await self.body(request))
        try:
            req = WarmRequest.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        segments = self.segments_in(req.segments)
        try:
            statuses = await self._submit(self.engine.warm, tenant, segments, arrived=arrived,
                                          timeout_s=self.config.deadline_s)
        except DeadlineExceeded as exc:
            raise self._deadline_error(exc) from None
        return JSONResponse({"cached_segments": sum(1 for s in statuses if s.cached_after),
                             "root_hash": self.root_hash(segments), "segments": [s.to_json() for s in statuses]})

    def resolve_refs(self, tenant: str, data: Any) -> Any:
        """Replace ``{"ref": name}`` segments by the caller's named segments (promptc.engine.named)."""
        try:
            return self.names.resolve_refs(tenant, data)
        except NamedError as exc:
            raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from None

    async def named_segment(self, request: Request) -> Response:
        """``PUT /v1/segments/{name}`` registers (a new version when the content changed); ``GET`` shows
        the newest version (``?version=n`` another), with its content."""
        tenant = self.tenant(request)
        name = request.path_params["name"]
        try:
            if request.method == "GET":
                version = request.query_params.get("version")
                if version is not None and not version.isdigit():
                    raise NamedError(400, "version must be a positive integer", "invalid_value", "version")
                seg = self.names.resolve(tenant, name, int(version) if version else None) \
                    if NAME_RE.fullmatch(name) else None
                if seg is None:
                    raise NamedError(404, f"no named segment `{name[:140]}` for this tenant", "unknown_segment_ref",
                                     "name")
                return JSONResponse(seg.to_json(content=True))
            data = await self.body(request)
            seg, created = await self._off_loop(self.names.register, tenant, name, data)
        except NamedError as exc:
            raise ApiError(exc.status, exc.message, param=exc.param, code=exc.code) from None
        return JSONResponse({**seg.to_json(), "created": created}, status_code=201 if created else 200)

    async def stats(self, request: Request) -> Response:
        tenant = self.tenant(request)
        s = self.engine.tree.tenant_stats(tenant).to_json()
        s["tenant"] = tenant
        s["budget_bytes"] = self.engine.tree.budget_bytes
        return JSONResponse(s)

    async def clear(self, request: Request) -> Response:
        tenant = self.tenant(request)
        freed = 0
        for scope in {tenant, *self.engine.tree.tenant_snapshot()}:  # the tenant and its salted scopes
            if scope == tenant or scope.startswith(tenant + SALTED):
                freed += self.engine.tree.clear(scope)
                self.engine.token_cache.clear(scope)
        return JSONResponse({"deleted": True, "freed_bytes": freed})

    async def models(self, request: Request) -> Response:
        self.tenant(request)
        return JSONResponse({"object": "list", "data": [{"id": self.config.model_id, "object": "model", "created": 0,
                                                         "owned_by": "promptc"}]})

    async def metrics(self, request: Request) -> Response:
        """Prometheus text format: every tenant for the operator (no API keys, or the metrics key), only
        the caller's own series for a tenant key."""
        scope = self.metrics_scope(request)
        text = render_metrics(self.engine, scope, self.config.max_queue if scope is None else None)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def health(self, request: Request) -> Response:
        # kernel: which int4 kernel the model runs on (blockq-<isa>, torch-int4pack; "torch" in other modes)
        return JSONResponse({"status": "ok", "model": self.config.model_id, "fingerprint": self.engine.fingerprint,
                             "kernel": getattr(getattr(self.engine, "model", None), "kernel", None)})


def parse_size(text: str) -> int:
    """``2GiB``, ``512MiB``, ``1.5GB``, ``1000000`` → bytes."""
    t = text.strip().lower().replace(" ", "")
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9, "k": 1 << 10,
             "m": 1 << 20, "g": 1 << 30, "b": 1}
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u):
            return int(float(t[: -len(u)]) * units[u])
    return int(t)


_TIMEOUT_BODY = json.dumps({"error": {"message": "the request headers did not arrive in time",
                                      "type": "invalid_request_error", "param": None, "code": "request_timeout"}}).encode()
_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))


def guarded_protocol(config: ServerConfig):
    """uvicorn's h11 protocol with what it lacks against slow clients: a deadline for each
    request's headers (uvicorn times out only idle keep-alive connections, so a client sending
    half a request held its connection forever) and a cap on open connections (one over it is
    closed at once, so half-open connections cannot use up the file descriptors)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > config.max_connections:
                self.connections.discard(self)
                transport.close()
                return
            self._start_header_timer()

        def _start_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(config.header_timeout_s, self._headers_too_slow)

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(_TIMEOUT_408)
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            idle = self.cycle is None or self.cycle.response_complete
            if idle:
                self._start_header_timer()  # a new request begins: its headers have a deadline
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before:  # the headers are complete (a new request cycle started)
                self._stop_header_timer()

        def connection_lost(self, exc) -> None:
            self._stop_header_timer()
            super().connection_lost(exc)

    return GuardedH11Protocol


def uvicorn_config(app, config: ServerConfig, **kw):
    """The uvicorn configuration every engine server runs with (``promptc serve`` and
    :class:`ServerThread`): the guarded h11 protocol, and h11's bound on incomplete headers."""
    import uvicorn

    return uvicorn.Config(app, http=guarded_protocol(config), h11_max_incomplete_event_size=64 * 1024,
                          timeout_keep_alive=5, log_level="warning", lifespan="off", **kw)


class ServerThread:
    """Run uvicorn in a background thread on loopback (tests and the demo use it)."""

    def __init__(self, server: EngineServer, host: str = "127.0.0.1", port: int = 0):
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.uvicorn = uvicorn.Server(uvicorn_config(server.app, server.config, host=host, port=port))
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.time() + 30
        while not self.uvicorn.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the engine server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(timeout=10)
