"""In-process observation without a proxy: :func:`instrument` adds httpx event hooks to a client.

::

    import anthropic, promptc.observe
    client = anthropic.Anthropic()
    promptc.observe.instrument(client, trace="cache-trace.jsonl")

Works with the official ``anthropic`` and ``openai`` SDK clients (sync and async: their httpx client
is ``client._client``) and with a bare ``httpx.Client``/``httpx.AsyncClient``. The request hook keeps
the request body; the response hook wraps the response's byte stream so every chunk is observed as
the SDK reads it (streaming stays streaming), and the record is written when the stream closes —
the same :class:`~promptc.observe.exchange.Exchange` the proxy drives, so records are identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import importlib

from promptc.observe.exchange import SECRET_HEADERS, Exchange, TraceWriter
from promptc.observe.explain import Observer
from promptc.observe.wire import MAX_BODY, api_for


def _tees(mod: Any) -> tuple[type, type]:
    """Byte-stream wrappers subclassing ``mod``'s stream types: the SDKs may bundle their own httpx
    (``httpx2``), whose responses only accept that module's stream classes."""

    class SyncTee(mod.SyncByteStream):
        def __init__(self, inner: Any, ex: Exchange) -> None:
            self.inner, self.ex, self.done = inner, ex, False

        def __iter__(self):
            for chunk in self.inner:
                self.ex.feed(chunk)
                yield chunk

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                if not self.done:
                    self.done = True
                    self.ex.finish()

    class AsyncTee(mod.AsyncByteStream):
        def __init__(self, inner: Any, ex: Exchange) -> None:
            self.inner, self.ex, self.done = inner, ex, False

        async def __aiter__(self):
            async for chunk in self.inner:
                self.ex.feed(chunk)
                yield chunk

        async def aclose(self) -> None:
            try:
                await self.inner.aclose()
            finally:
                if not self.done:
                    self.done = True
                    self.ex.finish()

    return SyncTee, AsyncTee


def _httpx_module(http: Any) -> tuple[Any, bool] | None:
    """(the httpx-like module ``http`` comes from, whether it is async), or None."""
    for cls in type(http).__mro__:
        root = cls.__module__.split(".")[0]
        if cls.__name__ in ("Client", "AsyncClient") and root.startswith("httpx"):
            return importlib.import_module(root), cls.__name__ == "AsyncClient"
    return None


def instrument(client: Any, trace: str | Path | None = None, *, observer: Observer | None = None,
               label: str | None = None) -> Observer:
    """Observe every model call ``client`` makes; records go to ``trace`` (JSONL, appended) and the
    returned :class:`Observer` keeps the conversation state. ``client`` is an SDK client or an httpx client."""
    http = getattr(client, "_client", client)
    found = _httpx_module(http)
    if found is None:
        raise TypeError("instrument() takes an anthropic/openai SDK client or an httpx client")
    mod, is_async = found
    sync_tee, async_tee = _tees(mod)
    obs = observer or Observer()
    writer = TraceWriter(trace) if trace is not None else None
    pending: dict[int, Exchange] = {}

    def on_request(request: Any) -> None:
        if api_for(request.url.path) is None:
            return
        try:
            body = request.content  # SDK requests carry their whole JSON body
        except mod.RequestNotRead:
            return
        if len(body) <= MAX_BODY:
            secrets = tuple(v.split(" ", 1)[-1].strip() for k, v in request.headers.items()
                            if k.lower() in SECRET_HEADERS)
            pending[id(request)] = Exchange(obs, writer, request.url.path, body, label,
                                            secrets=tuple(x for x in secrets if x))

    def on_response(response: Any) -> None:
        ex = pending.pop(id(response.request), None)
        if ex is None:
            return
        ex.response_started(response.status_code, response.headers)
        response.stream = async_tee(response.stream, ex) if is_async else sync_tee(response.stream, ex)

    async def a_on_request(request: Any) -> None:
        on_request(request)

    async def a_on_response(response: Any) -> None:
        on_response(response)

    hooks = http.event_hooks
    hooks["request"] = [*hooks.get("request", []), a_on_request if is_async else on_request]
    hooks["response"] = [*hooks.get("response", []), a_on_response if is_async else on_response]
    http.event_hooks = hooks
    return obs
