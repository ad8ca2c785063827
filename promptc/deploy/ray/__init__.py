"""N KV-tree engine replicas as a Ray Serve application (``pip install 'promptc[ray]'``).

Two deployments behind Ray Serve's HTTP proxy:

- ``EngineReplica`` (N replicas): one :class:`~promptc.engine.Engine` each, serving the engine's own
  ASGI application (:class:`promptc.engine.server.EngineServer`: the same OpenAI-compatible API,
  ``segments[]``, named segments, tenants, limits and error shapes as ``promptc serve``), and a
  :class:`~promptc.engine.kv_events.KVEventPublisher` whose endpoints it reports to routers through
  Ray Serve's ``record_routing_stats``;
- ``FleetIngress`` (one replica, no model): receives HTTP from the proxy, reads the body (bounded by
  ``max_body_bytes``), derives the request's route key (tenant salt from its API key, chain hashes of
  its ``segments[]``) and forwards the raw request through a deployment handle whose request router is
  :class:`promptc.deploy.ray.router.SegmentHashRouter`. A replica that dies before it answered is
  retried on another (at most ``retries`` times), else the client gets 503 ``replica_unavailable``.
``DELETE /v1/cache`` goes to every replica; ``GET /metrics`` and ``GET /v1/cache/stats`` are asked of
every replica and merged (:mod:`promptc.deploy.fleet_stats`: per-replica series plus fleet totals).

The route key is derived from the hashes the client sent; the replica still recomputes every hash and
rejects a mismatch, so a lying client can only misplace its own request, never poison a cache.
Segments given by name (``{"ref": ...}``) end the key: the part before them routes.

Build it with :func:`build_app` (the ``serve run`` import path ``promptc.deploy.ray:build_app``; see
docs/deploy.md and promptc/deploy/ray/serve.yaml) or run it with :func:`run` (``promptc serve
--replicas N``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from typing import Any, AsyncIterator, Callable, Mapping

import ray
from ray import serve
from ray.serve.config import RequestRouterConfig
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from promptc.deploy.fleet_stats import merge_metrics, merge_stats
from promptc.deploy.placement import RouteKey
from promptc.deploy.ray.router import ROUTE_KWARG
from promptc.engine.limits import ServerConfig

ROUTER_CLASS = "promptc.deploy.ray.router:SegmentHashRouter"
ROUTED_PATHS = ("/v1/chat/completions", "/v1/cache/warm")
FLEET_WIDE = ("/metrics", "/v1/cache/stats")  # answered by every replica, merged (promptc.deploy.fleet_stats)
#: Ray's own failure types for a replica that is gone (ray.exceptions)
_REPLICA_GONE = (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError, ray.exceptions.RayActorError)


def _error(status: int, message: str, code: str, type_: str = "server_error", param: str | None = None) -> Response:
    from promptc.engine.server import ApiError

    return ApiError(status, message, type_, param=param, code=code).response()


def route_key(config: ServerConfig, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    """The route key of a chat or warm request, or None (no segments, an unknown key, a body that is not
    JSON: the replica answers those; the router places them by load)."""
    if config.api_keys:
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        tenant = None
        for known, name in config.api_keys.items():  # every key compared, each in constant time (as the server)
            if hmac.compare_digest(given.encode(), known.encode()):
                tenant = name
        if tenant is None:
            return None
    else:
        tenant = "default"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        return None
    salt = data.get("cache_salt")
    if isinstance(salt, str) and salt:  # the engine's cache scope (tenant, salt): a salted chain is its own
        from promptc.engine.server import cache_scope

        tenant = cache_scope(tenant, salt)
    hashes = []
    for s in segments[: config.max_segments]:
        h = s.get("hash") if isinstance(s, dict) else None
        if not isinstance(h, str):
            break  # a named segment ({"ref": ...}) or a malformed one: the prefix before it routes
        hashes.append(h)
    return RouteKey.for_segments(tenant, hashes).to_json() if hashes else None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds ``limit`` (read no further)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class EngineReplica:
    """One engine and its HTTP application, driven in-process by the ingress (module docstring)."""

    def __init__(self, options: dict[str, Any], config: ServerConfig):
        from promptc.engine import Engine
        from promptc.engine.kv_events import KVEventPublisher
        from promptc.engine.server import EngineServer

        names = None
        if options.get("segments_redis"):
            from promptc.engine.named import RedisNames

            names = RedisNames(options["segments_redis"])
        self.engine = Engine(options.get("model"), dtype=options.get("dtype"),
                             budget_bytes=int(options.get("budget_bytes", 2 << 30)), ttl_s=options.get("ttl_s"),
                             token_cache_bytes=int(options.get("token_cache_bytes", 64 << 20)))
        self.app = EngineServer(self.engine, config, names=names).app
        host = ray.util.get_node_ip_address()
        self.publisher = KVEventPublisher(f"tcp://{host}:*", replay_endpoint=f"tcp://{host}:*")
        self.publisher.attach(self.engine.tree)
        self.replica_id = serve.get_replica_context().replica_id.unique_id

    def record_routing_stats(self) -> dict[str, Any]:
        """Where routers subscribe to this replica's KV events, and the KV tokens it can hold (the budget
        over K and V bytes per token of every layer), for the router's fit gate (Ray Serve polls this
        periodically)."""
        cfg, model = self.engine.model.cfg, self.engine.model
        per_token = 2 * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * model.kv_dtype.itemsize
        return {"kv_events": self.publisher.endpoint, "kv_replay": self.publisher.replay_endpoint,
                "fingerprint": self.engine.fingerprint,
                "kv_capacity_tokens": self.engine.tree.budget_bytes // per_token}

    async def http(self, request: dict[str, Any], **_route: Any) -> AsyncIterator[Any]:
        """Run one HTTP request through the engine's ASGI app: yields ``(status, headers, replica id)``,
        then the body chunks. ``promptc_route`` (for the router) is accepted and ignored here."""
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": request["method"], "scheme": "http", "path": request["path"],
                 "raw_path": request["path"].encode(), "root_path": "", "query_string": request["query_string"],
                 "headers": request["headers"], "server": request.get("server"), "client": request.get("client")}
        out: asyncio.Queue = asyncio.Queue()
        finished = asyncio.Event()
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": request["body"], "more_body": False}
            await finished.wait()  # the client is there until the response is complete or cancelled
            return {"type": "http.disconnect"}

        task = asyncio.ensure_future(self.app(scope, receive, out.put))
        try:
            while True:
                get = asyncio.ensure_future(out.get())
                await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    task.result()  # the app ended without a complete response: re-raise its error
                    return
                msg = get.result()
                if msg["type"] == "http.response.start":
                    yield (msg["status"], [(k, v) for k, v in msg.get("headers", [])], self.replica_id)
                elif msg["type"] == "http.response.body":
                    if msg.get("body"):
                        yield msg["body"]
                    if not msg.get("more_body", False):
                        finished.set()
                        await task  # the app's own clean-up after its last byte (counters, references)
                        return
        finally:
            finished.set()
            if not task.done():  # the caller went away mid-response: the engine cancels the request
                task.cancel()

    async def http_whole(self, request: dict[str, Any]) -> tuple[int, list, bytes, str]:
        """:meth:`http` collected: ``(status, headers, body, replica id)`` (for broadcasts)."""
        status, headers, chunks = 500, [], []
        async for item in self.http(request):
            if isinstance(item, tuple):
                status, headers, _ = item
            else:
                chunks.append(item)
        return status, headers, b"".join(chunks), self.replica_id

    def __del__(self) -> None:
        pub = getattr(self, "publisher", None)
        if pub is not None:
            pub.close()


class FleetIngress:
    """The HTTP entry point: reads the request, derives its route key, forwards it to an engine replica."""

    def __init__(self, engine: Any, config: ServerConfig, retries: int = 2):
        self.replicas = engine  # broadcasts (DELETE /v1/cache: a tenant's cache is cleared on every replica)
        self.engine = engine.options(stream=True)
        self.config, self.retries = config, retries

    async def __call__(self, request: Request) -> Response:
        body = await _read_body(request, self.config.max_body_bytes)
        if body is None:
            # the engine's own message and code (promptc.engine.server), before the body reaches a replica
            return _error(413, f"request body over {self.config.max_body_bytes} bytes", "request_too_large",
                          "invalid_request_error")
        headers = {k.lower(): v for k, v in request.headers.items()}
        route = None
        if request.method == "POST" and request.url.path in ROUTED_PATHS:
            route = await asyncio.to_thread(route_key, self.config, headers, body)  # JSON parsing off the loop
        forwarded = {"method": request.method, "path": request.url.path,
                     "query_string": request.scope.get("query_string", b""),
                     "headers": list(request.scope.get("headers", [])), "body": body,
                     "server": request.scope.get("server"), "client": request.scope.get("client")}
        if request.method == "DELETE" and request.url.path == "/v1/cache":
            return await self._clear_everywhere(forwarded)
        if request.method == "GET" and request.url.path in FLEET_WIDE:
            return await self._merged(forwarded, request.url.path)
        for _attempt in range(self.retries + 1):
            gen = self.engine.http.remote(forwarded, **{ROUTE_KWARG: route})
            try:
                status, resp_headers, replica = await gen.__anext__()
            except _REPLICA_GONE:
                continue  # nothing was sent to the client yet: another replica takes the request
            except StopAsyncIteration:
                break
            return await self._respond(gen, status, resp_headers, replica)
        return _error(503, "no engine replica could serve the request (the replica died); retry it",
                      "replica_unavailable")

    async def _everywhere(self, forwarded: dict[str, Any]) -> list[tuple] | Response:
        """The caller's own request answered by every live replica: their ``(status, headers, body, replica)``
        answers, or the response to give instead (503 when none answered; a replica's refusal, e.g. 401, as
        is: every replica answers the same for the same request)."""
        results = await self.replicas.broadcast("http_whole", forwarded).results_async(return_exceptions=True)
        answers = [r for r in results if isinstance(r, tuple)]
        if not answers:
            return _error(503, "no engine replica could serve the request; retry it", "replica_unavailable")
        for status, headers, body, replica in answers:
            if status != 200:
                return await self._respond(_chunks(body), status, headers, replica)
        return answers

    async def _clear_everywhere(self, forwarded: dict[str, Any]) -> Response:
        answers = await self._everywhere(forwarded)
        if isinstance(answers, Response):
            return answers
        freed = sum(json.loads(body).get("freed_bytes", 0) for _, _, body, _ in answers)
        return Response(json.dumps({"deleted": True, "freed_bytes": freed, "replicas": len(answers)}),
                        media_type="application/json", headers={"x-promptc-replicas": str(len(answers))})

    async def _merged(self, forwarded: dict[str, Any], path: str) -> Response:
        """``GET /metrics`` and ``GET /v1/cache/stats`` over the fleet: every replica answers the caller's
        own request (its scope), and the answers are merged (:mod:`promptc.deploy.fleet_stats`)."""
        answers = await self._everywhere(forwarded)
        if isinstance(answers, Response):
            return answers
        replicas = {"x-promptc-replicas": str(len(answers))}
        if path == "/metrics":
            text = await asyncio.to_thread(merge_metrics, [(rid, body.decode()) for _, _, body, rid in answers])
            return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8", headers=replicas)
        merged = merge_stats([(rid, json.loads(body)) for _, _, body, rid in answers])
        return Response(json.dumps(merged), media_type="application/json", headers=replicas)

    async def _respond(self, gen: Any, status: int, raw_headers: list, replica: str) -> Response:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers
                   if k.lower() not in (b"content-length", b"transfer-encoding")}
        headers["x-promptc-replica"] = replica
        if not headers.get("content-type", "").startswith("text/event-stream"):
            try:
                body = b"".join([chunk async for chunk in gen])
            except _REPLICA_GONE:
                return _error(503, "the engine replica died while answering; retry the request",
                              "replica_unavailable")
            return Response(body, status_code=status, headers=headers)

        async def stream() -> AsyncIterator[bytes]:
            try:
                async for chunk in gen:
                    yield chunk
            except _REPLICA_GONE:  # the status is sent: end the stream with an OpenAI-shaped error event
                err = {"error": {"message": "the engine replica died mid-stream; retry the request",
                                 "type": "server_error", "param": None, "code": "replica_unavailable"}}
                yield f"data: {json.dumps(err)}\n\n".encode()

        return StreamingResponse(stream(), status_code=status, headers=headers)

    def router_state(self, chain_of: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request router's view (replicas, blocks per replica, subscribers, load, choices); with a
        route key, also the cached tokens of its chain per replica. For operators and the tests."""
        router = _request_router(self.engine)
        if router is None:
            return {"replicas": [], "blocks": {}, "subscribers": {}, "load": {}, "choices": {}}
        out = router.state()
        key = RouteKey.from_json(chain_of)
        if key is not None:
            out["route"] = router.route_state(key)
        return out


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _request_router(handle: Any) -> Any:
    # Ray exposes no public accessor for a handle's request router (2.60): walk the handle's router
    # (SingletonThreadRouter wraps an AsyncioRouter); None until the first request created it.
    router = getattr(handle, "_router", None)
    router = getattr(router, "_asyncio_router", router)
    return getattr(router, "request_router", None) if router is not None else None


def _server_config(args: Mapping[str, Any]) -> ServerConfig:
    limits = dict(args.get("limits") or {})
    return ServerConfig.from_sources(args.get("keys_file"), **limits)


def build_app(args: Mapping[str, Any] | None = None) -> Any:
    """The Ray Serve application (``serve run promptc.deploy.ray:build_app key=value ...`` or a config
    file's ``args``). Arguments: ``num_replicas`` (2), ``model`` (a path; default the embedded model),
    ``dtype``, ``budget`` ("2GiB"), ``ttl`` (seconds), ``keys_file``, ``segments_redis`` (URL; share named
    segments between replicas), ``replica_cpus`` (1), ``max_ongoing_requests`` (16), ``retries`` (2),
    ``routing_stats_period_s`` (2), ``token_cache`` ("64MiB"),
    ``router`` (:class:`~promptc.deploy.placement.Placer` keywords),
    ``limits`` (:class:`~promptc.engine.limits.ServerConfig` fields), ``request_router_class`` (another
    router, e.g. for comparisons). Ray Serve calls an application builder with exactly one argument."""
    args = dict(args or {})
    return build(args, _server_config(args))


def build(args: Mapping[str, Any], config: ServerConfig) -> Any:
    """:func:`build_app` with an explicit server config (``promptc serve --replicas`` builds it from its flags)."""
    from promptc.engine.limits import parse_seconds, parse_size

    options = {"model": args.get("model"), "dtype": args.get("dtype"),
               "budget_bytes": parse_size(str(args.get("budget", "2GiB")), "budget"),
               "ttl_s": parse_seconds(args["ttl"], "ttl") if args.get("ttl") is not None else None,
               "segments_redis": args.get("segments_redis"),
               "token_cache_bytes": parse_size(str(args.get("token_cache", "64MiB")), "token_cache")}
    router_class = args.get("request_router_class", ROUTER_CLASS)
    extra = {}
    if router_class != "ray-default":  # "ray-default": Ray Serve's PowerOfTwoChoices (bench/fleet.py's peer)
        extra["request_router_config"] = RequestRouterConfig(
            request_router_class=router_class,
            request_router_kwargs=dict(args.get("router") or {}) if router_class == ROUTER_CLASS else {},
            request_routing_stats_period_s=float(args.get("routing_stats_period_s", 2.0)))
    replica = serve.deployment(
        EngineReplica, name="EngineReplica", num_replicas=int(args.get("num_replicas", 2)),
        max_ongoing_requests=int(args.get("max_ongoing_requests", 16)),
        ray_actor_options={"num_cpus": float(args.get("replica_cpus", 1))}, **extra)
    ingress = serve.deployment(FleetIngress, name="FleetIngress", num_replicas=1,
                               ray_actor_options={"num_cpus": 0})
    return ingress.bind(replica.bind(options, config), config, int(args.get("retries", 2)))


def start(args: Mapping[str, Any], *, config: ServerConfig | None = None, host: str = "127.0.0.1",
          port: int = 8000, **ray_init: Any) -> Any:
    """Start (or join, with ``RAY_ADDRESS``) a Ray instance and deploy the application behind Ray Serve's
    HTTP proxy on ``host:port``; returns the ingress handle (``router_state``). ``ray_init``: extra
    ``ray.init`` arguments (``num_cpus=2`` in the tests)."""
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, **ray_init)
    serve.start(http_options={"host": host, "port": port})
    app = build(args, config) if config is not None else build_app(args)
    serve.run(app, name="promptc", route_prefix="/")
    return serve.get_app_handle("promptc")


def run(args: Mapping[str, Any], *, config: ServerConfig | None = None, host: str = "127.0.0.1",
        port: int = 8000, on_ready: Callable[[], None] | None = None) -> None:
    """:func:`start`, call ``on_ready``, then block until SIGINT or SIGTERM (``promptc serve --replicas N``).
    Either signal shuts Ray Serve down (its replicas, ingress and proxy) and disconnects from Ray, and
    ``run`` returns normally; a cluster it joined (``RAY_ADDRESS``) keeps running. A signal while the
    fleet is still starting raises KeyboardInterrupt there (after the same clean-up)."""
    import signal
    import threading

    stop = threading.Event()
    started = False

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if not started:  # interrupt start() itself (ray.init may wait long for an unreachable cluster)
            raise KeyboardInterrupt

    previous = {}
    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        start(args, config=config, host=host, port=port)
        started = True
        if on_ready is not None and not stop.is_set():
            on_ready()
        while not stop.wait(1.0):  # a timed wait: Python runs signal handlers between the waits
            pass
    finally:
        started = True  # a signal during the clean-up only asks again for what is under way
        serve.shutdown()
        ray.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["EngineReplica", "FleetIngress", "build", "build_app", "route_key", "run", "start"]
