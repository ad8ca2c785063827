"""``promptc.Client`` / ``promptc.AsyncClient``: run a plan's :class:`~promptc.plan.Request` on a provider.

::

    client = promptc.Client("anthropic/claude-sonnet-4-5", retention="long")   # key from ANTHROPIC_API_KEY
    reply = client.complete(session.render(file="api.py", query="..."), max_tokens=400)
    reply.text, reply.usage.cache_read, reply.usage.cache_write, reply.usage.uncached, reply.cost

The adapter for the target's provider builds the payload (cache controls at the plan's
breakpoints); the client sends it over httpx with retries (429, 408, 409, 5xx, timeouts and
connection resets; ``retry-after`` honoured; a per-request deadline that also bounds every read),
reads the answer as hostile input (size bounds, key redaction, E509 for anything that is not a reply:
:mod:`promptc.runtime.bounds`), normalizes usage, prices it (:func:`promptc.core.prices.cost_of`) and,
when asked, appends a line to a JSONL cache trace. The retry loop is written once, as the sans-IO
:class:`~promptc.runtime.attempts.Attempts`; :class:`Client` drives it with ``time.sleep`` and httpx's sync
client, its sibling :class:`AsyncClient` with ``asyncio.sleep`` and the async one. Nothing here imports the
compiler.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Iterator

import httpx

from promptc.core.providers import CacheLimits, limits_for
from promptc.plan import Request
from promptc.core.prices import Price, price_for, unpriced_message
from promptc.runtime import diagnosis as _diagnosis, eventstream, keys as _keys, retention as _retention
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.cost import Cost, cost_of
from promptc.runtime.attempts import Attempts, Recover, RetryPolicy
from promptc.runtime.bounds import ACCEPT_ENCODING, BodyReader, Bounds, LineSplitter, parse_reply, scrub
from promptc.runtime.errors import (MissingKeyError, ProviderError, ProviderResponseError, ProviderUnavailable,
                                    BaseURLError, RetentionError, StreamInterrupted, TargetError, UnpricedWarning,
                                    redact)
from promptc.runtime.layout import Mark, TokenCounter
from promptc.runtime.providers import adapter_for
from promptc.runtime.providers.base import Adapter, BuildContext, CallOptions, Completion, StreamEvent, WireCall
from promptc.runtime.sse import SSEDecoder
from promptc.runtime.usage import Usage
from promptc.core.providers import parse_target

_RETRY_EXC = (httpx.TimeoutException, httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
              httpx.WriteError)
#: What an adapter's parser raises on a body of the wrong shape (turned into E509).
_SHAPE_EXC = (KeyError, TypeError, AttributeError, ValueError, IndexError, RecursionError)


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


class _ClientBase:
    """What :class:`Client` and :class:`AsyncClient` share: configuration, payloads, cache objects, reading
    answers (bounded, redacted), pricing and tracing. The retry loop is :class:`~promptc.runtime.attempts.Attempts`,
    driven by the sync client with ``time.sleep`` and by the async one with ``asyncio.sleep``.

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
                 cache_objects: dict[str, Any] | None = None, clock: Callable[[], float] = time.time,
                 bounds: Bounds | None = None):
        try:
            self.target = parse_target(target)
        except ValueError as exc:
            raise TargetError(f"error[E526]: {exc} (targets are provider/model, e.g. "
                                     "anthropic/claude-sonnet-4-5 or openai/gpt-5.6)") from None
        self.adapter = adapter_for(self.target.provider, api)
        self.config = config if config is not None else RuntimeConfig.discover()
        self.adapter = self.adapter.configured(self.config.providers.get(self.target.provider, {}))
        self._retention_arg = None if retention is None else _retention.normalize(retention, "retention")
        # plan families and gateway session ids (promptc.runtime.keys)
        self._parents = _keys.parents(self.config.plans, self.config.source)
        self._gateway = _keys.gateway_setting(self.target.provider, self.config.providers.get(self.target.provider, {}))
        # the provider's own cache-miss verdict (promptc.runtime.diagnosis): each plan's previous reply id
        self._diagnosis = _diagnosis.setting(self.target.provider, self.config.providers.get(self.target.provider, {}))
        self._last_message: dict[str, str | None] = {}
        self.tenant = tenant
        self.retry = retry or RetryPolicy()
        self.base_url = (base_url or os.environ.get(self.adapter.base_url_env) or
                         self.config.base_url(self.target.provider) or self.adapter.default_base_url).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise BaseURLError(f"error[E527]: base URL {self.base_url!r} for {self.target.provider} is not an "
                                     "http(s) URL")
        self._api_key = api_key or next((os.environ[k] for k in (self.adapter.env_key, *self.adapter.env_key_fallbacks)
                                         if os.environ.get(k)), None)
        self.limits = self._limits()
        self.price: Price | None = price_for(self.target.name, self.config.prices)
        if self.price is None:
            warnings.warn(unpriced_message(self.target.name), UnpricedWarning, stacklevel=3)
        self.bounds = bounds or Bounds()
        self.counter = TokenCounter(self.target.tokenizer if self.target.tokenizer in ("o200k_base", "cl100k_base")
                                    else "o200k_base")
        if trace is not None and not hasattr(trace, "record"):
            from promptc.runtime.trace import Tracer

            fractions = self.config.collapse_fractions()  # the collapse monitor's [tool.promptc] settings
            trace = Tracer(trace, **({"collapse_fraction": fractions.pop("")} if "" in fractions else {}),
                           plan_collapse_fractions=fractions)
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

    def _defaulted(self, plan: str | None) -> bool:
        """True when nobody chose the retention (no argument, no configuration): the default is ours to adapt."""
        return self._retention_arg is None and self.config.retention_for(plan)[0] is None

    def _build(self, request: Request, opts: CallOptions) -> WireCall:
        """The adapter's call; with the default retention on a model that cannot honour it (gpt-5.5 keeps
        caches for 24h only), what the model supports instead of E504 — a retention someone chose still
        raises E504."""
        try:
            call = self.adapter.build(request, opts, self._context())
        except RetentionError:
            if not self._defaulted(request.plan) or opts.retention != "short":
                raise
            call = self.adapter.build(request, replace(opts, retention="long"), self._context())
        header, body_field = self._gateway
        if header or body_field:
            session = _keys.session_key(request, opts.tenant, opts.key, call.cache_key)
            call = _keys.with_session(call, session, header, body_field)
        if self._diagnosis:
            call = _diagnosis.with_diagnosis(call, self._diagnosis, self._last_message.get(request.plan or ""))
        return call

    def _options(self, request: Request, max_tokens: int, temperature: float | None, stream: bool,
                 extra: dict[str, Any] | None) -> CallOptions:
        root = _keys.family_root(request.plan, self._parents)
        return CallOptions(model=self.target.model, target=self.target.name, max_tokens=max_tokens,
                           temperature=temperature, retention=self.retention_for(request.plan), tenant=self.tenant,
                           stream=stream, extra=dict(extra or {}),
                           key=_keys.family_key(root, self.tenant) if root is not None else None)

    def _context(self) -> BuildContext:
        return BuildContext(self.limits, self.counter)

    def build(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
              stream: bool = False, extra: dict[str, Any] | None = None) -> WireCall:
        """The wire call for ``request`` without sending it or touching cache objects (what
        :meth:`complete` would send when the provider needs none)."""
        opts = self._options(request, max_tokens, temperature, stream, extra)
        return self._build(request, opts)

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
        call = self._build(request, opts)
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
        if not any(k.lower() == "accept-encoding" for k in signed):
            signed = {**signed, "accept-encoding": ACCEPT_ENCODING}  # what bounds.BodyReader can inflate
        return {"content": body, "headers": signed}

    # -- reading answers (bounded, redacted: promptc.runtime.bounds) -----------------------------
    def _reader(self, resp: httpx.Response, m: Attempts) -> BodyReader:
        # a response httpx built from bytes (a mock transport) is already read and decoded
        encoding = None if resp.is_stream_consumed else resp.headers.get("content-encoding")
        return BodyReader(self.target.provider, encoding, self.bounds, m.deadline)

    def _redact(self, text: str | None) -> str | None:
        return None if text is None else redact(text, self._api_key)

    def _request_id(self, resp: httpx.Response) -> str | None:
        rid = _request_id(resp)
        return None if rid is None else self._redact(rid[:200])

    def _line(self, line: str) -> str:
        return scrub(line, self._api_key)

    def _check_redirect(self, resp: httpx.Response) -> None:
        if 300 <= resp.status_code < 400:
            where = self._redact(resp.headers.get("location", "")[:200]) or "nowhere"
            raise ProviderResponseError(self.target.provider, resp.status_code,
                                        f"a redirect to {where!r} (redirects are never followed)",
                                        request_id=self._request_id(resp))

    def _completion(self, body: bytes, status: int, call: WireCall) -> Completion:
        """The adapter's :class:`Completion` of a 2xx body; anything unusable is E509."""
        obj = scrub(parse_reply(self.target.provider, status, body), self._api_key)
        try:
            done = self.adapter.parse(obj, call)
        except ProviderError:
            raise
        except _SHAPE_EXC as exc:
            raise ProviderResponseError(self.target.provider, status, "the answer does not have the shape of a "
                                        f"{self.target.provider} reply ({type(exc).__name__})") from None
        return self._usable(done, status)

    def _usable(self, done: Completion, status: int | None) -> Completion:
        u = done.usage
        if not isinstance(done.text, str) or (not done.text and u.output is None and u.uncached is None
                                               and u.cache_read is None):
            raise ProviderResponseError(self.target.provider, status,
                                        "the answer has neither text nor usage: not a reply")
        return done

    def _feed(self, state: Any, ev: str | None, data: str) -> list[StreamEvent]:
        try:
            return state.feed(ev, data)
        except ProviderError:
            raise
        except _SHAPE_EXC as exc:
            raise ProviderResponseError(self.target.provider, None, f"a stream event of the wrong shape "
                                        f"({type(exc).__name__})") from None

    def _finish(self, state: Any) -> Completion:
        try:
            done = state.finish()
        except ProviderError:
            raise
        except _SHAPE_EXC as exc:
            raise ProviderResponseError(self.target.provider, None, f"a stream of the wrong shape "
                                        f"({type(exc).__name__})") from None
        return self._usable(done, None)

    # -- results -------------------------------------------------------------------------------
    def _reply(self, done: Completion, call: WireCall, m: Attempts, request_id: str | None) -> Reply:
        cost = cost_of(done.usage, self.price) if self.price else None
        return Reply(done.text, done.usage, cost.total if cost else None, cost, done.finish_reason, self.target.name,
                     done.model, done.response_id, request_id, time.monotonic() - m.started, m.attempt, call.marks,
                     call.cache_key, done.raw)

    def _error(self, resp: httpx.Response, raw: bytes, attempts: int) -> ProviderError:
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = scrub(json.loads(raw), self._api_key)
        except (ValueError, RecursionError):
            body = text
        try:
            etype, msg = self.adapter.error_from(resp.headers, body)
        except _SHAPE_EXC:
            etype, msg = None, text[:500]
        etype = None if etype is None else self._redact(str(etype)[:200])
        return ProviderError(self.target.provider, resp.status_code, self._redact(str(msg)[:2000]) or "",
                             request_id=self._request_id(resp),
                             retryable=RetryPolicy.retryable_status(resp.status_code), error_type=etype,
                             attempts=attempts)

    def _unavailable(self, exc: Exception, attempts: int) -> ProviderUnavailable:
        return ProviderUnavailable(self.target.provider, None, redact(f"{type(exc).__name__}: {exc}", self._api_key),
                                   retryable=True, attempts=attempts)

    def _interrupted(self, state: Any, exc: Exception, rid: str | None) -> StreamInterrupted:
        return StreamInterrupted(self.target.provider, "".join(getattr(state, "parts", [])), f"{type(exc).__name__}",
                                 request_id=rid)

    def _trace(self, request: Request, call: WireCall, reply: Reply | None, error: Exception | None,
               started: float, attempts: int) -> None:
        if reply is not None and self._diagnosis:
            self._last_message[request.plan or ""] = reply.response_id
        if self.tracer is not None:
            self.tracer.record(request=request, target=self.target.name, call=call, reply=reply, error=error,
                               latency_s=time.monotonic() - started, attempts=attempts, limits=self.limits)

    def _options_and_call(self, request: Request, max_tokens: int, temperature: float | None, stream: bool,
                          extra: dict[str, Any] | None) -> tuple[CallOptions, dict[str, str]]:
        return self._options(request, max_tokens, temperature, stream, extra), self._headers()

    # -- sync driving (used by Client) -----------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.retry.timeout_s)
        return self._http

    def _read(self, resp: httpx.Response, m: Attempts) -> bytes:
        reader = self._reader(resp, m)
        return b"".join(reader.feed(raw) for raw in _raw(resp))

    def _frames(self, resp: httpx.Response, m: Attempts) -> Iterator[tuple[str | None, str]]:
        reader = self._reader(resp, m)
        if self.adapter.stream_framing == "eventstream":
            yield from eventstream.events(reader.feed(raw) for raw in _raw(resp))
            return
        split, dec = LineSplitter(self.target.provider, self.bounds.max_line_bytes), SSEDecoder()
        for raw in _raw(resp):
            for line in split.feed(reader.feed(raw)):
                ev = dec.line(self._line(line))
                if ev is not None:
                    yield ev
        for line in split.close():
            ev = dec.line(self._line(line))
            if ev is not None:
                yield ev

    def _sync_complete(self, request: Request, max_tokens: int, temperature: float | None,
                       extra: dict[str, Any] | None) -> Reply:
        opts, headers = self._options_and_call(request, max_tokens, temperature, False, extra)
        call = self._prepared(request, opts)
        m = Attempts(self.retry)
        try:
            while True:
                try:
                    with self._client().stream("POST", self._url(call), **self._body(call, headers),
                                               timeout=m.timeout()) as resp:
                        raw = self._read(resp, m)
                except _RETRY_EXC as exc:
                    self._sleep(m.failed(self._unavailable(exc, m.attempt)).seconds)
                    continue
                if resp.status_code >= 400:
                    step = m.refused(self._error(resp, raw, m.attempt), resp.headers)
                    if isinstance(step, Recover):
                        again = self._recovered(call, request, opts, step.error, False)
                        if again is None:
                            raise step.error
                        call = again
                        m.rebuilt()
                    else:
                        self._sleep(step.seconds)
                    continue
                self._check_redirect(resp)
                reply = self._reply(self._completion(raw, resp.status_code, call), call, m, self._request_id(resp))
                self._trace(request, call, reply, None, m.started, m.attempt)
                return reply
        except ProviderError as exc:
            self._trace(request, call, None, exc, m.started, m.attempt)
            raise

    def _sync_stream(self, request: Request, max_tokens: int, temperature: float | None,
                     extra: dict[str, Any] | None) -> Iterator[StreamEvent]:
        opts, headers = self._options_and_call(request, max_tokens, temperature, True, extra)
        call = self._prepared(request, opts)
        m = Attempts(self.retry)
        try:
            while True:
                state = self.adapter.stream(call)
                step: Any = None
                try:
                    with self._client().stream("POST", self._url(call), **self._body(call, headers),
                                               timeout=m.timeout()) as resp:
                        if resp.status_code >= 400:
                            step = m.refused(self._error(resp, self._read(resp, m), m.attempt), resp.headers)
                        else:
                            self._check_redirect(resp)
                            rid = self._request_id(resp)
                            try:
                                for ev, data in self._frames(resp, m):
                                    yield from self._feed(state, ev, data)
                            except _RETRY_EXC as exc:
                                raise self._interrupted(state, exc, rid) from None
                            reply = self._reply(self._finish(state), call, m, rid)
                except _RETRY_EXC as exc:
                    self._sleep(m.failed(self._unavailable(exc, m.attempt)).seconds)
                    continue
                if isinstance(step, Recover):
                    again = self._recovered(call, request, opts, step.error, False)
                    if again is None:
                        raise step.error
                    call = again
                    m.rebuilt()
                    continue
                if step is not None:
                    self._sleep(step.seconds)
                    continue
                self._trace(request, call, reply, None, m.started, m.attempt)
                yield StreamEvent("done", reply=reply)
                return
        except ProviderError as exc:
            self._trace(request, call, None, exc, m.started, m.attempt)
            raise

    # -- async driving (used by AsyncClient) ----------------------------------------------------
    def _aclient(self) -> httpx.AsyncClient:
        if self._ahttp is None:
            self._ahttp = httpx.AsyncClient(timeout=self.retry.timeout_s)
        return self._ahttp

    async def _aread(self, resp: httpx.Response, m: Attempts) -> bytes:
        reader = self._reader(resp, m)
        return b"".join([reader.feed(raw) async for raw in _araw(resp)])

    async def _aframes(self, resp: httpx.Response, m: Attempts) -> AsyncIterator[tuple[str | None, str]]:
        reader = self._reader(resp, m)
        if self.adapter.stream_framing == "eventstream":
            async for ev in eventstream.aevents(_amap(reader.feed, _araw(resp))):
                yield ev
            return
        split, dec = LineSplitter(self.target.provider, self.bounds.max_line_bytes), SSEDecoder()
        async for raw in _araw(resp):
            for line in split.feed(reader.feed(raw)):
                ev = dec.line(self._line(line))
                if ev is not None:
                    yield ev
        for line in split.close():
            ev = dec.line(self._line(line))
            if ev is not None:
                yield ev

    async def _async_complete(self, request: Request, max_tokens: int, temperature: float | None,
                              extra: dict[str, Any] | None) -> Reply:
        opts, headers = self._options_and_call(request, max_tokens, temperature, False, extra)
        call = await self._aprepared(request, opts)
        m = Attempts(self.retry)
        try:
            while True:
                try:
                    async with self._aclient().stream("POST", self._url(call), **self._body(call, headers),
                                                      timeout=m.timeout()) as resp:
                        raw = await self._aread(resp, m)
                except _RETRY_EXC as exc:
                    await asyncio.sleep(m.failed(self._unavailable(exc, m.attempt)).seconds)
                    continue
                if resp.status_code >= 400:
                    step = m.refused(self._error(resp, raw, m.attempt), resp.headers)
                    if isinstance(step, Recover):
                        again = await self._arecovered(call, request, opts, step.error, False)
                        if again is None:
                            raise step.error
                        call = again
                        m.rebuilt()
                    else:
                        await asyncio.sleep(step.seconds)
                    continue
                self._check_redirect(resp)
                reply = self._reply(self._completion(raw, resp.status_code, call), call, m, self._request_id(resp))
                self._trace(request, call, reply, None, m.started, m.attempt)
                return reply
        except ProviderError as exc:
            self._trace(request, call, None, exc, m.started, m.attempt)
            raise

    async def _async_stream(self, request: Request, max_tokens: int, temperature: float | None,
                            extra: dict[str, Any] | None) -> AsyncIterator[StreamEvent]:
        opts, headers = self._options_and_call(request, max_tokens, temperature, True, extra)
        call = await self._aprepared(request, opts)
        m = Attempts(self.retry)
        try:
            while True:
                state = self.adapter.stream(call)
                step: Any = None
                try:
                    async with self._aclient().stream("POST", self._url(call), **self._body(call, headers),
                                                      timeout=m.timeout()) as resp:
                        if resp.status_code >= 400:
                            step = m.refused(self._error(resp, await self._aread(resp, m), m.attempt), resp.headers)
                        else:
                            self._check_redirect(resp)
                            rid = self._request_id(resp)
                            try:
                                async for ev, data in self._aframes(resp, m):
                                    for out in self._feed(state, ev, data):
                                        yield out
                            except _RETRY_EXC as exc:
                                raise self._interrupted(state, exc, rid) from None
                            reply = self._reply(self._finish(state), call, m, rid)
                except _RETRY_EXC as exc:
                    await asyncio.sleep(m.failed(self._unavailable(exc, m.attempt)).seconds)
                    continue
                if isinstance(step, Recover):
                    again = await self._arecovered(call, request, opts, step.error, False)
                    if again is None:
                        raise step.error
                    call = again
                    m.rebuilt()
                    continue
                if step is not None:
                    await asyncio.sleep(step.seconds)
                    continue
                self._trace(request, call, reply, None, m.started, m.attempt)
                yield StreamEvent("done", reply=reply)
                return
        except ProviderError as exc:
            self._trace(request, call, None, exc, m.started, m.attempt)
            raise

    async def _aprepared(self, request: Request, opts: CallOptions) -> WireCall:
        if self.adapter.resources.__func__ is _no_resources:  # type: ignore[attr-defined]
            return self._build(request, opts)
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


class Client(_ClientBase):
    """A provider client for one target (``provider/model``): :meth:`complete` and :meth:`stream`. Use as a
    context manager or call :meth:`close`. :class:`AsyncClient` is the async sibling.

    ``api_key`` defaults to the provider's standard variable (``ANTHROPIC_API_KEY``,
    ``OPENAI_API_KEY``); ``base_url`` to the SDK's variable (``ANTHROPIC_BASE_URL``,
    ``OPENAI_BASE_URL``), then ``[tool.promptc.providers.<provider>] base_url``, then the public
    endpoint. ``retention`` (``none``/``short``/``long``) overrides the project configuration;
    ``tenant`` scopes the cache key; ``trace`` is a path (or :class:`~promptc.runtime.trace.Tracer`)
    for the JSONL cache trace; ``bounds`` limits the size of an answer (:class:`~promptc.runtime.bounds.Bounds`).
    """

    def complete(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
                 extra: dict[str, Any] | None = None) -> Reply:
        """Send ``request`` and return the :class:`Reply` (raises :class:`ProviderError` subclasses)."""
        return self._sync_complete(request, max_tokens, temperature, extra)

    def stream(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
               extra: dict[str, Any] | None = None) -> Iterator[StreamEvent]:
        """Yield ``text`` events as they arrive, then one ``done`` event whose ``reply`` is the :class:`Reply`.

        Failures before the first byte are retried like :meth:`complete`; a stream cut mid-way raises
        :class:`StreamInterrupted` (never a silently truncated reply).
        """
        return self._sync_stream(request, max_tokens, temperature, extra)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """The async sibling of :class:`Client` (same arguments): ``await`` :meth:`complete`, ``async for`` over
    :meth:`stream`; use ``async with`` or call :meth:`aclose`. Cache-object work, where the provider needs
    it, runs in a worker thread."""

    async def complete(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
                       extra: dict[str, Any] | None = None) -> Reply:
        """Send ``request`` and return the :class:`Reply` (raises :class:`ProviderError` subclasses)."""
        return await self._async_complete(request, max_tokens, temperature, extra)

    def stream(self, request: Request, *, max_tokens: int = 1024, temperature: float | None = None,
               extra: dict[str, Any] | None = None) -> AsyncIterator[StreamEvent]:
        """Async-iterate ``text`` events, then one ``done`` event (see :meth:`Client.stream`)."""
        return self._async_stream(request, max_tokens, temperature, extra)

    acomplete = complete
    astream = stream

    async def aclose(self) -> None:
        self.close()
        if self._ahttp is not None and self._owns_ahttp:
            await self._ahttp.aclose()
            self._ahttp = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _raw(resp: httpx.Response) -> Iterator[bytes]:
    """The body as it came off the wire (still compressed), chunk by chunk."""
    if resp.is_stream_consumed:
        yield resp.content
        return
    yield from resp.iter_raw()


async def _araw(resp: httpx.Response) -> AsyncIterator[bytes]:
    if resp.is_stream_consumed:
        yield resp.content
        return
    async for chunk in resp.aiter_raw():
        yield chunk


async def _amap(fn: Callable[[bytes], bytes], chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for c in chunks:
        yield fn(c)


_no_resources = Adapter.resources


def _request_id(resp: httpx.Response) -> str | None:
    return (resp.headers.get("request-id") or resp.headers.get("x-request-id")
            or resp.headers.get("x-amzn-requestid"))


__all__ = ["AsyncClient", "Client", "Reply", "RetryPolicy", "StreamEvent"]
