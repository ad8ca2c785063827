"""``promptc.Client`` / ``promptc.AsyncClient``: run a plan's :class:`~promptc.plan.Request` on a provider.

::

    client = promptc.Client("anthropic/claude-sonnet-4-5", retention="long")   # key from ANTHROPIC_API_KEY
    reply = client.complete(session.render(file="api.py", query="..."), max_tokens=400)
    reply.text, reply.usage.cache_read, reply.usage.cache_write, reply.usage.uncached, reply.cost

The adapter for the target's provider builds the payload (cache controls at the plan's
breakpoints); the client sends it over httpx with retries (429, 408, 409, 5xx, timeouts and
connection resets; ``retry-after`` honoured; a per-request deadline), normalizes usage, prices it
and, when asked, appends a line to a JSONL cache trace. Nothing here imports the compiler.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Iterator

import httpx

from promptc.core.providers import CacheLimits, limits_for
from promptc.plan import Request
from promptc.core.prices import Price, price_for
from promptc.runtime import eventstream, retention as _retention
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.cost import Cost, cost_of
from promptc.runtime.errors import (MissingKeyError, ProviderError, ProviderUnavailable, RuntimeConfigError,
                                    StreamInterrupted, redact)
from promptc.runtime.layout import Mark, TokenCounter
from promptc.runtime.providers import adapter_for
from promptc.runtime.providers.base import Adapter, BuildContext, CallOptions, Completion, StreamEvent, WireCall
from promptc.runtime.sse import aevents, events
from promptc.runtime.usage import Usage
from promptc.core.providers import parse_target

_RETRY_STATUS = frozenset({408, 409, 429})
_RETRY_EXC = (httpx.TimeoutException, httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
              httpx.WriteError)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter; a server's ``retry-after`` wins when given.

    ``deadline_s`` bounds the whole request, retries and waits included.
    """

    max_retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    timeout_s: float = 120.0
    deadline_s: float = 600.0

    @staticmethod
    def retryable_status(status: int) -> bool:
        return status in _RETRY_STATUS or status >= 500

    def delay(self, attempt: int, headers: httpx.Headers | None) -> float:
        if headers is not None:
            ms = headers.get("retry-after-ms")
            if ms:
                try:
                    return max(0.0, float(ms) / 1000)
                except ValueError:
                    pass
            ra = headers.get("retry-after")
            if ra:
                try:
                    return max(0.0, float(ra))
                except ValueError:
                    pass
                try:  # an HTTP date
                    return max(0.0, email.utils.parsedate_to_datetime(ra).timestamp() - time.time())
                except (TypeError, ValueError, IndexError):
                    pass  # unreadable: fall back to backoff
        base = min(self.backoff_max_s, self.backoff_s * (2 ** attempt))
        return base * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Reply:
    """One completed request: text, normalized usage, cost (USD, None when unknown) and where it cached."""

    text: str
    usage: Usage
    cost: float | None
    cost_detail: Cost | None
    finish_reason: str | None
    target: str
    model: str | None
    response_id: str | None
    request_id: str | None
    latency_s: float
    attempts: int
    breakpoints: list[Mark] = field(default_factory=list)
    cache_key: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "usage": self.usage.to_json(), "cost": self.cost,
                "cost_detail": self.cost_detail.to_json() if self.cost_detail else None,
                "finish_reason": self.finish_reason, "target": self.target, "model": self.model,
                "response_id": self.response_id, "request_id": self.request_id, "latency_s": self.latency_s,
                "attempts": self.attempts, "cache_key": self.cache_key,
                "breakpoints": [{"segment": m.segment, "reason": m.reason, "ttl": "long" if m.long else "short",
                                 "prefix_tokens": m.prefix_tokens} for m in self.breakpoints]}


class Client:
    """A provider client for one target (``provider/model``). Sync methods: :meth:`complete`,
    :meth:`stream`; async: :meth:`acomplete`, :meth:`astream`. Use as a context manager or call
    :meth:`close`.

    ``api_key`` defaults to the provider's standard variable (``ANTHROPIC_API_KEY``,
    ``OPENAI_API_KEY``); ``base_url`` to the SDK's variable (``ANTHROPIC_BASE_URL``,
    ``OPENAI_BASE_URL``), then ``[tool.promptc.providers.<provider>] base_url``, then the public
    endpoint. ``retention`` (``none``/``short``/``long``) overrides the project configuration;
    ``tenant`` scopes the cache key; ``trace`` is a path (or :class:`~promptc.runtime.trace.Tracer`)
    for the JSONL cache trace.
    """

    def __init__(self, target: str, *, api_key: str | None = None, base_url: str | None = None,
                 retention: str | None = None, tenant: str | None = None, api: str | None = None,
                 retry: RetryPolicy | None = None, trace: Any = None, config: RuntimeConfig | None = None,
                 http_client: httpx.Client | None = None, async_http_client: httpx.AsyncClient | None = None,
                 sleep: Callable[[float], None] = time.sleep, registry: Any = None,
                 cache_objects: dict[str, Any] | None = None, clock: Callable[[], float] = time.time):
        try:
            self.target = parse_target(target)
        except ValueError as exc:
            raise RuntimeConfigError(f"error[E507]: {exc} (targets are provider/model, e.g. "
                                     "anthropic/claude-sonnet-4-5 or openai/gpt-5.6)") from None
        self.adapter = adapter_for(self.target.provider, api)
        self.config = config if config is not None else RuntimeConfig.discover()
        self.adapter = self.adapter.configured(self.config.providers.get(self.target.provider, {}))
        self._retention_arg = None if retention is None else _retention.normalize(retention, "retention")
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self.base_url = (base_url or os.environ.get(self.adapter.base_url_env) or
                         self.config.base_url(self.target.provider) or self.adapter.default_base_url).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise RuntimeConfigError(f"error[E507]: base URL {self.base_url!r} for {self.target.provider} is not an "
                                     "http(s) URL")
        self._api_key = api_key or next((os.environ[k] for k in (self.adapter.env_key, *self.adapter.env_key_fallbacks)
                                         if os.environ.get(k)), None)
        self.limits = self._limits()
        self.price: Price | None = price_for(self.target.name, self.config.prices)
        self.counter = TokenCounter(self.target.tokenizer if self.target.tokenizer in ("o200k_base", "cl100k_base")
                                    else "o200k_base")
        if trace is not None and not hasattr(trace, "record"):
            from promptc.runtime.trace import Tracer

            trace = Tracer(trace)
        self.tracer = trace
        self._http = http_client
        self._ahttp = async_http_client
        self._owns_http = http_client is None
        self._owns_ahttp = async_http_client is None
        self._sleep = sleep
        self.clock = clock
        self._registry = registry
        self._cache_objects = dict(cache_objects or {})
        self._resources: Any = None
        self._resources_ready = False
        self._resources_lock = threading.Lock()  # threads sharing a client share one registry and manager

    # -- configuration -------------------------------------------------------------------------
    def _limits(self) -> CacheLimits:
        limits = limits_for(self.target.name)
        over = self.config.cache_limits
        match = max((k for k in over if self.target.name.startswith(k)), key=len, default=None)
        if match is None:
            return limits
        o = over[match]
        return replace(limits, key=match, min_tokens=o.get("min_tokens", limits.min_tokens),
                       max_breakpoints=o.get("max_breakpoints", limits.max_breakpoints),
                       mode=o.get("mode", limits.mode), source="pyproject.toml")

    def retention_for(self, plan: str | None) -> str:
        """The effective retention for a plan: argument > per-plan config > project config > short."""
        if self._retention_arg is not None:
            return self._retention_arg
        value, where = self.config.retention_for(plan)
        return _retention.normalize(value, where)

    def _options(self, request: Request, max_tokens: int, temperature: float | None, stream: bool,
                 extra: dict[str, Any] | None) -> CallOptions:
        return CallOptions(model=self.target.model, target=self.target.name, max_tokens=max_tokens,
                           temperature=temperature, retention=self.retention_for(request.plan), tenant=self.tenant,
                           stream=stream, extra=dict(extra or {}))

    def _context(self) -> BuildContext:
        return BuildContext(self.limits, self.counter)

    def build(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
              stream: bool = False, extra: dict[str, Any] | None = None) -> WireCall:
        """The wire call for ``request`` without sending it or touching cache objects (what
        :meth:`complete` would send when the provider needs none)."""
        opts = self._options(request, max_tokens, temperature, stream, extra)
        return self.adapter.build(request, opts, self._context())

    # -- cache objects (promptc.runtime.resources) ---------------------------------------------------
    @property
    def registry(self) -> Any:
        """The :class:`~promptc.runtime.registry.CacheRegistry` this client records cache objects in."""
        with self._resources_lock:
            if self._registry is None:
                from promptc.runtime.registry import CacheRegistry

                self._registry = CacheRegistry(clock=self.clock)
            return self._registry

    def resources(self) -> Any:
        """The adapter's :class:`~promptc.runtime.resources.ResourceManager` for this client, or None."""
        registry = self.registry
        with self._resources_lock:
            if not self._resources_ready:
                from promptc.runtime.resources import ResourceContext, Transport

                transport = Transport(self._client(), self.base_url, self._headers(), self.retry.timeout_s)
                ctx = ResourceContext(transport, registry, self.tenant or "default", self.target.name,
                                      self.target.model, self.clock, self._emit, dict(self._cache_objects))
                self._resources = self.adapter.resources(ctx)
                self._resources_ready = True
            return self._resources

    def _emit(self, event: dict[str, Any]) -> None:
        if self.tracer is not None and hasattr(self.tracer, "event"):
            self.tracer.event(target=self.target.name, **event)

    def _prepared(self, request: Request, opts: CallOptions) -> WireCall:
        call = self.adapter.build(request, opts, self._context())
        rm = self.resources()
        return rm.prepare(call, request, opts, self._context()) if rm is not None else call

    def _recovered(self, call: WireCall, request: Request, opts: CallOptions, err: ProviderError,
                   tried: bool) -> WireCall | None:
        """A call to retry once after ``err`` (a recreated cache object), or None."""
        rm = None if tried else self.resources()
        return rm.recover(call, request, opts, self._context(), err) if rm is not None else None

    def _headers(self) -> dict[str, str]:
        if not self._api_key and self.adapter.key_required:
            raise MissingKeyError(self.target.provider, self.adapter.env_key)
        return {"content-type": "application/json", **self.adapter.headers(self._api_key or "")}

    def _url(self, call: WireCall) -> str:
        return self.base_url + call.path

    def _body(self, call: WireCall, headers: dict[str, str]) -> dict[str, Any]:
        """``content`` and ``headers`` for httpx: the JSON body serialized once, so an adapter that
        signs requests (:meth:`Adapter.sign`) signs the bytes that are sent."""
        body = json.dumps(call.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        signed = self.adapter.sign("POST", self._url(call), {**headers, **call.headers}, body)
        return {"content": body, "headers": signed}

    def _frames(self, resp: httpx.Response) -> Iterator[tuple[str | None, str]]:
        if self.adapter.stream_framing == "eventstream":
            return eventstream.events(resp.iter_bytes())
        return events(resp.iter_lines())

    def _aframes(self, resp: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
        if self.adapter.stream_framing == "eventstream":
            return eventstream.aevents(resp.aiter_bytes())
        return aevents(resp.aiter_lines())

    # -- results -------------------------------------------------------------------------------
    def _reply(self, done: Completion, call: WireCall, started: float, attempts: int,
               request_id: str | None) -> Reply:
        cost = cost_of(done.usage, self.price) if self.price else None
        return Reply(done.text, done.usage, cost.total if cost else None, cost, done.finish_reason, self.target.name,
                     done.model, done.response_id, request_id, time.monotonic() - started, attempts, call.marks,
                     call.cache_key, done.raw)

    def _error(self, resp: httpx.Response, attempts: int) -> ProviderError:
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text
        etype, msg = self.adapter.error_from(resp.headers, body)
        return ProviderError(self.target.provider, resp.status_code, redact(msg, self._api_key),
                             request_id=_request_id(resp), retryable=RetryPolicy.retryable_status(resp.status_code),
                             error_type=etype, attempts=attempts)

    def _unavailable(self, exc: Exception, attempts: int) -> ProviderUnavailable:
        return ProviderUnavailable(self.target.provider, None, redact(f"{type(exc).__name__}: {exc}", self._api_key),
                                   retryable=True, attempts=attempts)

    def _trace(self, request: Request, call: WireCall, reply: Reply | None, error: Exception | None,
               started: float, attempts: int) -> None:
        if self.tracer is not None:
            self.tracer.record(request=request, target=self.target.name, call=call, reply=reply, error=error,
                               latency_s=time.monotonic() - started, attempts=attempts, limits=self.limits)

    def _wait(self, attempt: int, headers: httpx.Headers | None, started: float, err: Exception) -> float:
        """Seconds to wait before the next attempt; raises ``err`` when no retry is left or the deadline passes."""
        if attempt >= self.retry.max_retries:
            raise err
        delay = self.retry.delay(attempt, headers)
        if time.monotonic() - started + delay > self.retry.deadline_s:
            raise err
        return delay

    # -- sync ------------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.retry.timeout_s)
        return self._http

    def complete(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
                 extra: dict[str, Any] | None = None) -> Reply:
        """Send ``request`` and return the :class:`Reply` (raises :class:`ProviderError` subclasses)."""
        opts = self._options(request, max_tokens, temperature, False, extra)
        headers = self._headers()
        call = self._prepared(request, opts)
        started, attempt, recovered = time.monotonic(), 0, False
        try:
            while True:
                try:
                    resp = self._client().post(self._url(call), **self._body(call, headers),
                                               timeout=self._timeout(started))
                except _RETRY_EXC as exc:
                    self._sleep(self._wait(attempt, None, started, self._unavailable(exc, attempt + 1)))
                    attempt += 1
                    continue
                if resp.status_code >= 400:
                    err = self._error(resp, attempt + 1)
                    if not err.retryable:
                        again = self._recovered(call, request, opts, err, recovered)
                        if again is None:
                            raise err
                        call, recovered = again, True
                        attempt += 1
                        continue
                    self._sleep(self._wait(attempt, resp.headers, started, err))
                    attempt += 1
                    continue
                reply = self._reply(self.adapter.parse(resp.json(), call), call, started, attempt + 1,
                                    _request_id(resp))
                self._trace(request, call, reply, None, started, attempt + 1)
                return reply
        except ProviderError as exc:
            self._trace(request, call, None, exc, started, attempt + 1)
            raise

    def stream(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
               extra: dict[str, Any] | None = None) -> Iterator[StreamEvent]:
        """Yield ``text`` events as they arrive, then one ``done`` event whose ``reply`` is the :class:`Reply`.

        Failures before the first byte are retried like :meth:`complete`; a stream cut mid-way raises
        :class:`StreamInterrupted` (never a silently truncated reply).
        """
        opts = self._options(request, max_tokens, temperature, True, extra)
        headers = self._headers()
        call = self._prepared(request, opts)
        started, attempt, recovered = time.monotonic(), 0, False
        try:
            while True:
                state = self.adapter.stream(call)
                try:
                    with self._client().stream("POST", self._url(call), **self._body(call, headers),
                                               timeout=self._timeout(started)) as resp:
                        if resp.status_code >= 400:
                            resp.read()
                            err = self._error(resp, attempt + 1)
                            if not err.retryable:
                                again = self._recovered(call, request, opts, err, recovered)
                                if again is None:
                                    raise err
                                call, recovered = again, True
                                attempt += 1
                                continue
                            self._sleep(self._wait(attempt, resp.headers, started, err))
                            attempt += 1
                            continue
                        rid = _request_id(resp)
                        try:
                            for ev, data in self._frames(resp):
                                for out in state.feed(ev, data):
                                    yield out
                        except _RETRY_EXC as exc:
                            raise StreamInterrupted(self.target.provider, "".join(getattr(state, "parts", [])),
                                                    f"{type(exc).__name__}", request_id=rid) from None
                        reply = self._reply(state.finish(), call, started, attempt + 1, rid)
                except _RETRY_EXC as exc:
                    self._sleep(self._wait(attempt, None, started, self._unavailable(exc, attempt + 1)))
                    attempt += 1
                    continue
                self._trace(request, call, reply, None, started, attempt + 1)
                yield StreamEvent("done", reply=reply)
                return
        except ProviderError as exc:
            self._trace(request, call, None, exc, started, attempt + 1)
            raise

    def _timeout(self, started: float) -> httpx.Timeout:
        left = max(0.001, self.retry.deadline_s - (time.monotonic() - started))
        return httpx.Timeout(min(self.retry.timeout_s, left))

    # -- async -----------------------------------------------------------------------------------
    def _aclient(self) -> httpx.AsyncClient:
        if self._ahttp is None:
            self._ahttp = httpx.AsyncClient(timeout=self.retry.timeout_s)
        return self._ahttp

    async def acomplete(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
                        extra: dict[str, Any] | None = None) -> Reply:
        """Async :meth:`complete` (cache-object work, where the provider needs it, runs in a worker thread)."""
        opts = self._options(request, max_tokens, temperature, False, extra)
        headers = self._headers()
        call = await self._aprepared(request, opts)
        started, attempt, recovered = time.monotonic(), 0, False
        try:
            while True:
                try:
                    resp = await self._aclient().post(self._url(call), **self._body(call, headers),
                                                      timeout=self._timeout(started))
                except _RETRY_EXC as exc:
                    await asyncio.sleep(self._wait(attempt, None, started, self._unavailable(exc, attempt + 1)))
                    attempt += 1
                    continue
                if resp.status_code >= 400:
                    err = self._error(resp, attempt + 1)
                    if not err.retryable:
                        again = await self._arecovered(call, request, opts, err, recovered)
                        if again is None:
                            raise err
                        call, recovered = again, True
                        attempt += 1
                        continue
                    await asyncio.sleep(self._wait(attempt, resp.headers, started, err))
                    attempt += 1
                    continue
                reply = self._reply(self.adapter.parse(resp.json(), call), call, started, attempt + 1,
                                    _request_id(resp))
                self._trace(request, call, reply, None, started, attempt + 1)
                return reply
        except ProviderError as exc:
            self._trace(request, call, None, exc, started, attempt + 1)
            raise

    async def astream(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
                      extra: dict[str, Any] | None = None) -> AsyncIterator[StreamEvent]:
        """Async :meth:`stream`."""
        opts = self._options(request, max_tokens, temperature, True, extra)
        headers = self._headers()
        call = await self._aprepared(request, opts)
        started, attempt, recovered = time.monotonic(), 0, False
        try:
            while True:
                state = self.adapter.stream(call)
                try:
                    async with self._aclient().stream("POST", self._url(call), **self._body(call, headers),
                                                      timeout=self._timeout(started)) as resp:
                        if resp.status_code >= 400:
                            await resp.aread()
                            err = self._error(resp, attempt + 1)
                            if not err.retryable:
                                again = await self._arecovered(call, request, opts, err, recovered)
                                if again is None:
                                    raise err
                                call, recovered = again, True
                                attempt += 1
                                continue
                            await asyncio.sleep(self._wait(attempt, resp.headers, started, err))
                            attempt += 1
                            continue
                        rid = _request_id(resp)
                        try:
                            async for ev, data in self._aframes(resp):
                                for out in state.feed(ev, data):
                                    yield out
                        except _RETRY_EXC as exc:
                            raise StreamInterrupted(self.target.provider, "".join(getattr(state, "parts", [])),
                                                    f"{type(exc).__name__}", request_id=rid) from None
                        reply = self._reply(state.finish(), call, started, attempt + 1, rid)
                except _RETRY_EXC as exc:
                    await asyncio.sleep(self._wait(attempt, None, started, self._unavailable(exc, attempt + 1)))
                    attempt += 1
                    continue
                self._trace(request, call, reply, None, started, attempt + 1)
                yield StreamEvent("done", reply=reply)
                return
        except ProviderError as exc:
            self._trace(request, call, None, exc, started, attempt + 1)
            raise

    async def _aprepared(self, request: Request, opts: CallOptions) -> WireCall:
        if self.adapter.resources.__func__ is _no_resources:  # type: ignore[attr-defined]
            return self.adapter.build(request, opts, self._context())
        return await asyncio.to_thread(self._prepared, request, opts)

    async def _arecovered(self, call: WireCall, request: Request, opts: CallOptions, err: ProviderError,
                          tried: bool) -> WireCall | None:
        if tried or self.adapter.resources.__func__ is _no_resources:  # type: ignore[attr-defined]
            return None
        return await asyncio.to_thread(self._recovered, call, request, opts, err, tried)

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._resources is not None:
            self._resources.close()
        if self._http is not None and self._owns_http:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        self.close()
        if self._ahttp is not None and self._owns_ahttp:
            await self._ahttp.aclose()
            self._ahttp = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class AsyncClient(Client):
    """:class:`Client` whose :meth:`complete` and :meth:`stream` are the async ones."""

    async def complete(self, request: Request, **kw: Any) -> Reply:  # type: ignore[override]
        return await self.acomplete(request, **kw)

    def stream(self, request: Request, **kw: Any) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        return self.astream(request, **kw)


_no_resources = Adapter.resources


def _request_id(resp: httpx.Response) -> str | None:
    return (resp.headers.get("request-id") or resp.headers.get("x-request-id")
            or resp.headers.get("x-amzn-requestid"))


__all__ = ["AsyncClient", "Client", "Reply", "RetryPolicy", "StreamEvent"]
