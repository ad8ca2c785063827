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
:mod:`promptc.runtime.sim.cache`, each provider's wire format in
:mod:`~promptc.runtime.sim.anthropic_api` and :mod:`~promptc.runtime.sim.openai_api`; tokens are
counted with ``o200k_base``.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from promptc.core.providers import limits_for
from promptc.runtime.sim.cache import AnthropicCache, OpenAICache


#: The simulator's provider routes: ONE line per provider, ``"<module>:<class>"`` under
#: ``promptc.runtime.sim`` — a mixin whose ``sim_routes(self) -> [Route]`` adds the provider's routes
#: (and its cache state) to the app. :class:`SimApp` is composed from this tuple, nothing else names a
#: route class (``tests/providers/test_registry.py``).
ROUTES = (
    "anthropic_api:AnthropicRoutes",
    "openai_api:OpenAIRoutes",
    "selfhosted_api:SelfHostedRoutes",
    "gemini_api:GeminiRoutes",
    "moonshot_api:MoonshotRoutes",
    "deepseek_api:DeepSeekRoutes",
    "bedrock_api:BedrockRoutes",
    "openrouter_api:OpenRouterRoutes",
    "zai_api:ZaiRoutes",
    "dashscope_api:DashScopeRoutes",
    "minimax_api:MiniMaxRoutes",
    "xai_api:XaiRoutes",
    "mistral_api:MistralRoutes",
    "vertex_api:VertexRoutes",
)


def route_classes(refs: tuple[str, ...] = ROUTES) -> tuple[type, ...]:
    """The route mixins named by ``refs`` (see :data:`ROUTES`; a dotted module is absolute), in order."""
    out = []
    for ref in refs:
        module, _, name = ref.partition(":")
        out.append(getattr(importlib.import_module(module if "." in module else f"promptc.runtime.sim.{module}"),
                           name))
    return tuple(out)


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


@dataclass
class SimState:
    """Everything the simulator remembers; owned by one :class:`Simulator`."""

    clock: Any
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimCore:
    """What every route shares (state, auth, faults, errors, control routes); :class:`SimApp` adds the
    provider routes of :data:`ROUTES`."""

    def __init__(self, clock: Any = None, anthropic_min_tokens: dict[str, int] | None = None,
                 openai_min_tokens: int | None = None, min_tokens: int | None = None, tokenizer: Any = None):
        self.state = SimState(clock or FakeClock())
        from promptc.tokenizers import load_tokenizer

        # ``tokenizer``: an o200k_base tokenizer the caller already loaded (loading one takes seconds)
        self.tok = tokenizer if tokenizer is not None else load_tokenizer("o200k_base")
        # ``min_tokens`` lowers every provider's minimum (``promptc sim serve --min-tokens``); the
        # per-provider arguments win. "" matches every Claude family (Bedrock, OpenRouter).
        overrides = {**({"": min_tokens} if min_tokens is not None else {}), **(anthropic_min_tokens or {})}
        if openai_min_tokens is None:
            openai_min_tokens = min_tokens
        self.min_tokens = min_tokens
        self.anthropic_min_tokens = overrides  # Claude families on Bedrock and OpenRouter use them too
        self.anthropic = AnthropicCache(self.state.clock, lambda m: overrides.get(m) or overrides.get("") or
                                        limits_for(f"anthropic/{m}").min_tokens or 0)
        # the OpenAI spec's minimum unless lowered (one number for every OpenAI model)
        self.openai = OpenAICache(self.state.clock, minimum=openai_min_tokens if openai_min_tokens is not None
                                  else limits_for("openai/").min_tokens or 0)
        routes: list[Route] = []
        for cls in type(self).__mro__:  # each provider's mixin contributes its routes (sim_routes)
            if "sim_routes" in vars(cls):
                routes.extend(vars(cls)["sim_routes"](self))
        self.app = Starlette(routes=[
            *routes,
            Route("/_sim/faults", self.post_faults, methods=["POST"]),
            Route("/_sim/advance", self.post_advance, methods=["POST"]),
            Route("/_sim/requests", self.get_requests, methods=["GET"]),
        ], exception_handlers={exc: self._wrong_shape for exc in (TypeError, ValueError, KeyError, AttributeError,
                                                                   IndexError, RecursionError)})

    async def _wrong_shape(self, req: HTTPRequest, exc: Exception) -> JSONResponse:
        """A request body of the wrong types or shape is the client's mistake: 400 in the provider's
        error shape (as the real APIs answer), never a 500."""
        provider = "anthropic" if req.url.path.startswith("/v1/messages") else "openai"
        return self._error(provider, 400, "invalid_request_error",
                           f"invalid request body ({type(exc).__name__}: {str(exc)[:200]})")

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


def sim_app_class(refs: tuple[str, ...] = ROUTES) -> type:
    """The simulator application class serving the providers ``refs`` names (:data:`ROUTES`)."""
    return type("SimApp", (SimCore, *route_classes(refs)), {
        "__doc__": "The ASGI application (``.app``); :class:`Simulator` runs it on loopback.",
        "__module__": __name__})


SimApp = sim_app_class()


class Simulator:
    """Run :class:`SimApp` with uvicorn in a background thread on loopback (a context manager).

    ``clock`` defaults to a :class:`FakeClock` (advance it with :meth:`advance`); pass ``time.time``
    for real time. ``anthropic_min_tokens`` (per model) and ``openai_min_tokens`` override the
    minimum cacheable tokens, to exercise caching with small prompts; ``min_tokens`` lowers every
    provider's (the specs' minimums otherwise).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Any = None,
                 anthropic_min_tokens: dict[str, int] | None = None, openai_min_tokens: int | None = None,
                 min_tokens: int | None = None, tokenizer: Any = None):
        import uvicorn

        self.sim = SimApp(clock, anthropic_min_tokens, openai_min_tokens, min_tokens, tokenizer)
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


__all__ = ["FakeClock", "Fault", "ROUTES", "SimApp", "SimCore", "Simulator", "route_classes", "sim_app_class"]
