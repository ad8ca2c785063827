"""Runtime adapter for the promptc engine: send a compiled plan's :class:`~promptc.plan.Request`.

The cacheable part goes as ``segments[]`` (every segment up to the last one that is not a trailing
turn text: static, session, memory and history entries); trailing turn text goes as plain
``messages``. Segment content and order are never changed. Sync (:class:`EngineClient`) and async
(:class:`AsyncEngineClient`) clients return the text, the usage and each segment's cache status.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from promptc.core.errors import PromptcError
from promptc.plan import Request


class EngineRequestError(PromptcError):
    """The engine answered with an error (its OpenAI-style message is kept)."""

    code = "E501"

    def __init__(self, status: int, message: str, param: str | None = None):
        self.status, self.param = status, param
        super().__init__(f"error[E501]: engine returned {status}: {message}" + (f" (param {param})" if param else ""))


class EngineConnectionError(PromptcError):
    """The engine could not be talked to at all (no HTTP answer); ``field`` is the option at fault."""

    code = "E708"

    def __init__(self, field: str | None, message: str, hint: str | None = None):
        self.field, self.message, self.hint = field, message, hint
        super().__init__(f"error[{self.code}]: " + (f"{field}: " if field else "") + message
                         + (f"\n   = hint: {hint}" if hint else ""))


class EngineUnreachable(EngineConnectionError, ConnectionError):
    """E708: connection refused, DNS failure, timeout."""

    code = "E708"


class InvalidEngineURL(EngineConnectionError, ValueError):
    """E709: the engine URL is not ``http(s)://HOST[:PORT]``."""

    code = "E709"


@dataclass
class RunResult:
    """One completed turn: the answer, OpenAI-style usage, per-segment cache status, and timing."""

    text: str
    usage: dict[str, Any]
    segments: list[dict[str, Any]]
    finish_reason: str | None
    ttft_s: float | None = None
    total_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def cached_tokens(self) -> int:
        return int(self.usage.get("prompt_tokens_details", {}).get("cached_tokens", 0))

    @property
    def prompt_tokens(self) -> int:
        return int(self.usage.get("prompt_tokens", 0))


def split_request(request: Request) -> tuple[list[dict], list[dict]]:
    """``(segments, messages)``: trailing turn-level text segments become uncached messages."""
    segs = list(request.segments)
    cut = len(segs)
    while cut > 0 and segs[cut - 1].stability == "turn" and segs[cut - 1].kind == "text":
        cut -= 1
    wire = [{"id": s.id, "hash": s.hash, "role": s.role, "content": s.content} for s in segs[:cut]]
    messages = [{"role": s.role, "content": s.content} for s in segs[cut:]]
    return wire, messages


def payload(request: Request, *, max_tokens: int = 256, temperature: float = 0.0, seed: int | None = None,
            stop: list[str] | None = None, stream: bool = False, model: str | None = None,
            extra_messages: list[dict] | None = None) -> dict:
    segments, messages = split_request(request)
    body: dict[str, Any] = {"segments": segments, "messages": messages + list(extra_messages or []),
                            "max_tokens": max_tokens, "temperature": temperature, "stream": stream}
    if model:
        body["model"] = model
    if seed is not None:
        body["seed"] = seed
    if stop:
        body["stop"] = stop
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


@contextlib.contextmanager
def _transport(base_url: str):
    """httpx transport failures → coded user errors (E708 unreachable, E709 malformed URL)."""
    try:
        yield
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise InvalidEngineURL("--engine", f"{base_url!r} is not an engine URL: {exc}",
                               hint="use http://HOST:PORT, e.g. http://127.0.0.1:8000") from None
    except httpx.TimeoutException:
        raise EngineUnreachable("--engine", f"the engine at {base_url} did not answer in time",
                                hint="check that `promptc serve` is running and not overloaded") from None
    except httpx.TransportError as exc:
        raise EngineUnreachable("--engine", f"cannot reach the engine at {base_url}: {exc or type(exc).__name__}",
                                hint="start one with `promptc serve` (or check the host and port)") from None


def _client_kwargs(base_url: str, api_key: str | None, timeout: float) -> dict:
    url = base_url.rstrip("/")
    with _transport(base_url):
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise httpx.UnsupportedProtocol(f"scheme {parsed.scheme or '(none)'!r}, host {parsed.host or '(none)'!r}")
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return {"base_url": url, "headers": headers, "timeout": timeout}


def _sent_key(resp: httpx.Response) -> str | None:
    """The bearer key this response's request carried (redacted from anything the server echoes)."""
    try:
        auth = resp.request.headers.get("authorization") or ""
    except RuntimeError:  # a response built without a request
        return None
    return auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else (auth or None)


def _scrub(value: Any, key: str | None) -> str:
    from promptc.runtime.errors import redact

    return redact(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False), key)


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        key = _sent_key(resp)
        try:
            err = resp.json()["error"]
            param = err.get("param")
            raise EngineRequestError(resp.status_code, _scrub(err.get("message", resp.text), key),
                                     None if param is None else _scrub(param, key))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EngineRequestError(resp.status_code, _scrub(resp.text[:500], key)) from None


def _result_from_json(data: dict, t0: float) -> RunResult:
    choice = data["choices"][0]
    return RunResult(choice["message"]["content"], data.get("usage", {}), data.get("promptc", {}).get("segments", []),
                     choice.get("finish_reason"), None, time.perf_counter() - t0, data)


class _StreamAssembler:
    def __init__(self, t0: float, key: str | None = None):
        self.t0, self.key = t0, key
        self.parts: list[str] = []
        self.ttft: float | None = None
        self.usage: dict = {}
        self.segments: list = []
        self.finish: str | None = None

    def feed(self, line: str) -> str | None:
        if not line.startswith("data: "):
            return None
        data = line[6:]
        if data == "[DONE]":
            return None
        obj = json.loads(data)
        if "error" in obj:
            err = obj["error"]
            msg = err.get("message", "stream error") if isinstance(err, dict) else err
            raise EngineRequestError(500, _scrub(msg, self.key))
        if obj.get("usage"):
            self.usage = obj["usage"]
            self.segments = obj.get("promptc", {}).get("segments", [])
        for ch in obj.get("choices", []):
            text = ch.get("delta", {}).get("content")
            if ch.get("finish_reason"):
                self.finish = ch["finish_reason"]
            if text:
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.t0
                self.parts.append(text)
                return text
        return None

    def result(self) -> RunResult:
        return RunResult("".join(self.parts), self.usage, self.segments, self.finish, self.ttft,
                         time.perf_counter() - self.t0)


class EngineClient:
    """Synchronous client for a promptc engine server."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600.0):
        self.http = httpx.Client(**_client_kwargs(base_url, api_key, timeout))
        self.base_url = base_url

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, request: Request, **kw) -> RunResult:
        t0 = time.perf_counter()
        with _transport(self.base_url):
            resp = self.http.post("/v1/chat/completions", json=payload(request, **kw))
        _raise_for(resp)
        return _result_from_json(resp.json(), t0)

    def stream(self, request: Request, **kw) -> Iterator[str | RunResult]:
        """Yield text deltas as they arrive, then the final :class:`RunResult` (with TTFT)."""
        t0 = time.perf_counter()
        with _transport(self.base_url), \
                self.http.stream("POST", "/v1/chat/completions", json=payload(request, stream=True, **kw)) as resp:
            if resp.status_code >= 400:
                resp.read()
                _raise_for(resp)
            asm = _StreamAssembler(t0, _sent_key(resp))
            for line in resp.iter_lines():
                text = asm.feed(line)
                if text:
                    yield text
        yield asm.result()

    def warm(self, request: Request) -> dict:
        segments, _ = split_request(request)
        with _transport(self.base_url):
            resp = self.http.post("/v1/cache/warm", json={"segments": segments})
        _raise_for(resp)
        return resp.json()

    def stats(self) -> dict:
        with _transport(self.base_url):
            resp = self.http.get("/v1/cache/stats")
        _raise_for(resp)
        return resp.json()


class AsyncEngineClient:
    """Asynchronous client for a promptc engine server."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600.0):
        self.http = httpx.AsyncClient(**_client_kwargs(base_url, api_key, timeout))
        self.base_url = base_url

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "AsyncEngineClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def run(self, request: Request, **kw) -> RunResult:
        t0 = time.perf_counter()
        with _transport(self.base_url):
            resp = await self.http.post("/v1/chat/completions", json=payload(request, **kw))
        _raise_for(resp)
        return _result_from_json(resp.json(), t0)

    async def stream(self, request: Request, **kw):
        t0 = time.perf_counter()
        with _transport(self.base_url):
            async for item in self._stream(request, t0, **kw):
                yield item

    async def _stream(self, request: Request, t0: float, **kw):
        async with self.http.stream("POST", "/v1/chat/completions", json=payload(request, stream=True, **kw)) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                _raise_for(resp)
            asm = _StreamAssembler(t0, _sent_key(resp))
            async for line in resp.aiter_lines():
                text = asm.feed(line)
                if text:
                    yield text
        yield asm.result()

    async def warm(self, request: Request) -> dict:
        segments, _ = split_request(request)
        with _transport(self.base_url):
            resp = await self.http.post("/v1/cache/warm", json={"segments": segments})
        _raise_for(resp)
        return resp.json()


class EmbeddedClient:
    """The same ``run`` as :class:`EngineClient`, on an in-process :class:`~promptc.engine.Engine`."""

    def __init__(self, engine, tenant: str = "default"):
        self.engine = engine
        self.tenant = tenant

    def run(self, request: Request, *, max_tokens: int = 256, temperature: float = 0.0, seed: int | None = None,
            stop: list[str] | None = None, **_: Any) -> RunResult:
        from promptc.engine.runner import GenerationParams, SegmentIn, openai_usage

        t0 = time.perf_counter()
        wire, messages = split_request(request)
        segments = [SegmentIn(s["id"], s["hash"], s["role"], s["content"]) for s in wire]
        params = GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed, stop=tuple(stop or ()))
        ttft = None
        for ev in self.engine.stream(self.tenant, segments, messages, params):
            if ttft is None:
                ttft = time.perf_counter() - t0
            if ev.completion is not None:
                c = ev.completion
                return RunResult(c.text, openai_usage(c), [st.to_json() for st in c.statuses], c.finish_reason, ttft,
                                 time.perf_counter() - t0)
        raise RuntimeError("the engine stream ended without a completion")
