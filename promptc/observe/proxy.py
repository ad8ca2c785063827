"""``promptc observe``: a loopback proxy that forwards model calls unchanged and traces each one.

Agents point ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` / ``OPENAI_BASE_URL=http://127.0.0.1:PORT/v1``
at it. A path may start with ``/agent/NAME`` to label an agent (``.../agent/planner/v1/messages``),
or a request may carry ``x-promptc-agent: NAME``; unlabelled requests are grouped by conversation.
Requests go to the Anthropic upstream when the path is ``/v1/messages`` or the request carries an
``anthropic-version`` header, to the Gemini upstream for ``models/{model}:generateContent`` /
``:streamGenerateContent`` (and ``cachedContents``, or an ``x-goog-api-key`` header), else to the
OpenAI upstream. (``GOOGLE_GEMINI_BASE_URL`` / ``http_options.base_url`` point Gemini SDKs at it.)

Streaming is passed through chunk by chunk as it arrives (``aiter_raw``: the bytes the upstream
sent, never re-encoded or buffered); usage is read from the chunks on the side and the record is
written after the last chunk has gone to the agent.

Safety: the proxy binds loopback unless told otherwise, and off loopback requires ``key`` (sent as
``x-promptc-key``, compared in constant time, stripped before forwarding). Credentials headers are
forwarded upstream only: never traced, logged or put in an error.

Server stack: Starlette + uvicorn, which are in the core install (the provider simulator, ``promptc
sim``, is served by them too), so ``promptc observe`` needs no extra; httpx (core) is the upstream
client. A hand-written asyncio server would save nothing and parse HTTP with less care.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from promptc.observe.exchange import SECRET_HEADERS, Exchange, TraceWriter
from promptc.observe.errors import ObserveConfigError
from promptc.observe.explain import Observer
from promptc.observe.wire import GEMINI_PATH, MAX_BODY

DEFAULT_UPSTREAMS = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com",
                     "gemini": "https://generativelanguage.googleapis.com"}
#: Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones httpx sets itself.
HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                 "host", "content-length"})
#: Seconds a record waits for the records of requests that arrived before it (a concurrent agent's
#: long stream delays only the record, never the response).
ORDER_WAIT_S = 5.0
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_AGENT_PATH = re.compile(r"^/agent/([^/]+)(/.*)$")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ObserveProxy:
    """The ASGI application (``.app``). ``upstreams`` maps ``anthropic``/``openai`` to base URLs."""

    observer: Observer
    trace: str
    upstreams: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    key: str | None = None
    timeout_s: float = 600.0
    max_body: int = MAX_BODY
    on_record: Callable[[dict[str, Any]], None] | None = None  # e.g. the CLI's one line per miss

    def __post_init__(self) -> None:
        for name, url in self.upstreams.items():
            u = httpx.URL(url)
            if u.scheme not in ("http", "https") or not u.host:
                raise ObserveConfigError(f"error[E560]: the {name} upstream is not an http(s) URL: {url!r}")
        self.writer = TraceWriter(self.trace, self.on_record)
        self._client: httpx.AsyncClient | None = None
        # records are explained off the event loop, in arrival order (ORDER_WAIT_S): a pool of its own,
        # so waiting records never starve the ones they wait for
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="promptc-observe")
        self.app = Starlette(routes=[Route("/{path:path}", self.handle,
                                           methods=["GET", "POST", "PUT", "PATCH", "DELETE"])],
                             lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any):
        yield
        if self._client is not None:
            await self._client.aclose()
        self._pool.shutdown(wait=True)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0),
                                             limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        return self._client

    async def handle(self, request: Request):
        if self.key is not None:
            given = request.headers.get("x-promptc-key", "")
            if not hmac.compare_digest(given.encode(), self.key.encode()):
                return JSONResponse({"error": {"type": "authentication_error",
                                               "message": "promptc observe: missing or wrong x-promptc-key"}},
                                    status_code=401)
        path = request.url.path
        label = request.headers.get("x-promptc-agent")
        m = _AGENT_PATH.match(path)
        if m:
            label, path = m.group(1), m.group(2)
        if label is not None and not _LABEL.fullmatch(label):
            return JSONResponse({"error": {"type": "invalid_request_error",
                                           "message": "promptc observe: an agent label is 1-64 of A-Z a-z 0-9 _ . -"}},
                                status_code=400)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            return JSONResponse({"error": {"type": "request_too_large",
                                           "message": f"promptc observe: body over {self.max_body} bytes"}},
                                status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                return JSONResponse({"error": {"type": "request_too_large",
                                               "message": f"promptc observe: body over {self.max_body} bytes"}},
                                    status_code=413)
        if path.rstrip("/").endswith("/v1/messages") or "anthropic-version" in request.headers:
            provider = "anthropic"
        elif GEMINI_PATH.search(path) or "/cachedContents" in path or "x-goog-api-key" in request.headers:
            provider = "gemini"
        else:
            provider = "openai"
        if provider not in self.upstreams:
            return JSONResponse({"error": {"type": "invalid_request_error",
                                           "message": f"promptc observe: no {provider} upstream configured"}},
                                status_code=502)
        base = httpx.URL(self.upstreams[provider])
        url = base.copy_with(path=base.path.rstrip("/") + path, query=request.url.query.encode() or None)
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in HOP and k.lower() not in ("x-promptc-key", "x-promptc-agent")]
        secrets = tuple(v.split(" ", 1)[-1].strip() for k, v in request.headers.items() if k.lower() in SECRET_HEADERS)
        ex = Exchange(self.observer, self.writer, path, bytes(body), label, order_wait_s=ORDER_WAIT_S,
                      secrets=tuple(x for x in secrets if x))
        client = self._http()
        try:
            upstream = await client.send(client.build_request(request.method, url, headers=headers,
                                                              content=bytes(body)), stream=True)
        except (httpx.HTTPError, ValueError, OSError) as exc:
            msg = f"promptc observe: upstream {base.host} unreachable ({type(exc).__name__})"
            ex.response_started(502, {})
            await asyncio.get_running_loop().run_in_executor(self._pool, ex.finish, msg)
            return JSONResponse({"error": {"type": "api_error", "message": msg}}, status_code=502)
        ex.response_started(upstream.status_code, upstream.headers)
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP or k.lower() == "content-length"}

        async def relay():
            failure = None
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
                    ex.feed(chunk)
            except httpx.HTTPError as exc:
                failure = f"upstream stream broke ({type(exc).__name__})"
                raise
            finally:
                await upstream.aclose()
                await asyncio.get_running_loop().run_in_executor(self._pool, ex.finish, failure)

        return StreamingResponse(relay(), status_code=upstream.status_code, headers=out_headers)


class ProxyServer:
    """Run :class:`ObserveProxy` with uvicorn: in the foreground (:meth:`run`) or in a background
    thread (a context manager, for tests and benches). Off loopback a ``key`` is required."""

    def __init__(self, proxy: ObserveProxy, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        if not is_loopback(host) and not proxy.key:
            raise ObserveConfigError(f"error[E560]: promptc observe would bind {host}, which is not loopback, "
                                     f"without a key\n   = hint: give --key (or PROMPTC_OBSERVE_KEY) so only agents "
                                     f"that send x-promptc-key can use it, or bind 127.0.0.1")
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.proxy, self.host, self.port = proxy, host, port
        self.server = uvicorn.Server(uvicorn.Config(proxy.app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def run(self) -> None:
        self.server.run()

    def __enter__(self) -> "ProxyServer":
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("promptc observe did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


__all__ = ["DEFAULT_UPSTREAMS", "ObserveConfigError", "ObserveProxy", "ProxyServer", "SECRET_HEADERS", "is_loopback"]
