"""Pre-warm at deploy (``promptc warm [PLANS] --target T``): create or refresh the caches of every
plan's static prefix before the first user request, each shared prefix once per target.

For every plan, the *static prefix* is its leading run of static segments (content and hashes are
in the plan). Plans sharing segments share prefixes: in the team example the global block
(``rules``, ``repo_tools``) is one prefix for the three agents and each agent block is another.
Per target, a plan is warmed only when one of its cache points (the breakpoints the adapter places,
by prefix hash) is not yet warm in this run, so the global block is written once:

- **Anthropic**: a request with ``max_tokens: 0`` (documented as pre-warm: empty content, full
  usage) and the breakpoints placed; **OpenAI / Kimi**: a one-token request (``max_tokens: 1``),
  with ``prompt_cache_key``. Either only when a breakpoint's prefix reaches the model's minimum
  (below it, the provider would cache nothing);
- **providers with cache objects** (Gemini ``cachedContents``, Moonshot ``/v1/caching``): the
  adapter's :class:`~promptc.runtime.resources.ResourceManager` ``prepare``, which creates the
  object in the registry; no generation request is sent;
- **promptc's engine**: ``POST /v1/cache/warm`` with the prefix's segments.

A ping request ends the prefix with one tiny user turn (:data:`PING_TEXT`) after the last
breakpoint, so it is never part of a cached prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from promptc.core.errors import PromptcError
from promptc.core.hashing import chain, segment_hash
from promptc.core.prices import cost_of
from promptc.core.providers import SPECS
from promptc.plan import Plan, Request, RequestSegment
from promptc.runtime.usage import Usage

#: The user turn a warm or keep-warm ping sends after the prefix (outside every breakpoint).
PING_TEXT = "."


class WarmError(PromptcError):
    """A plan with nothing to warm, or a target that cannot be warmed (E532)."""

    code = "E532"


@dataclass
class WarmResult:
    """One warm action: which plans it served, what it sent, and what it created."""

    target: str
    plans: list[str]
    action: str  # "request" | "object" | "engine" | "skipped"
    prefixes: list[str] = field(default_factory=list)  # cache-point prefix hashes it covers
    created: list[str] = field(default_factory=list)  # prefixes (or remote ids) newly written
    reason: str | None = None  # why skipped
    tokens_written: int = 0
    tokens_read: int = 0
    cost: float | None = 0.0
    named: list[dict[str, Any]] = field(default_factory=list)  # engine named segments (warm --named)

    def to_json(self) -> dict[str, Any]:
        out = {"target": self.target, "plans": self.plans, "action": self.action, "prefixes": self.prefixes,
               "created": self.created, "reason": self.reason, "tokens_written": self.tokens_written,
               "tokens_read": self.tokens_read, "cost": self.cost}
        if self.named:
            out["named"] = self.named
        return out


def static_request(plan: Plan) -> Request | None:
    """A :class:`Request` of ``plan``'s leading static segments (None when it starts with none)."""
    out: list[RequestSegment] = []
    for seg in plan.segments:
        if not seg.is_static:
            break
        out.append(RequestSegment(id=seg.id, role=seg.role, kind=seg.kind, stability=seg.stability,
                                  content=seg.content, hash=seg.hash, prefix_hash=seg.prefix_hash, tools=seg.tools,
                                  level=seg.level, tokens=seg.tokens, breakpoint=seg.breakpoint))
    return Request(plan=plan.name, targets=plan.targets, segments=out) if out else None


def prefix_request(request: Request, upto: int | None = None) -> Request:
    """``request``'s segments through index ``upto`` (all when None) followed by the ping user turn."""
    segs = list(request.segments if upto is None else request.segments[: upto + 1])
    parent = segs[-1].prefix_hash if segs else None
    h = segment_hash("user", PING_TEXT)
    ping = RequestSegment(id="_warm", role="user", kind="text", stability="turn", content=PING_TEXT, hash=h,
                          prefix_hash=chain(parent, h), level="task")
    return Request(plan=request.plan, targets=request.targets, segments=[*segs, ping])


def ping_max_tokens(provider: str) -> int:
    """``max_tokens`` of a warm request: the spec's (0 on Anthropic and Bedrock: documented pre-warm, else 1)."""
    spec = SPECS.get(provider)
    return 1 if spec is None else spec.prewarm_max_tokens


def warm_plans(plans: Sequence[Plan], clients: Iterable[Any], *, named: bool = False) -> list[WarmResult]:
    """Warm every plan's static prefix on every client's target (see the module doc); returns what
    each step did. ``clients`` are :class:`~promptc.runtime.client.Client` objects (one per target).
    ``named`` (promptc's engine only): deploy each static segment as a named segment
    (``PUT /v1/segments/{segment id}``) and warm the prefix by reference."""
    clients = list(clients)
    foreign = [c.target.name for c in clients if c.limits.mode != "tree"]
    if named and foreign:  # checked before anything is sent
        raise WarmError(f"error[E532]: --named deploys named segments on promptc's engine; {foreign[0]} has none\n"
                        "   = hint: use --named with --target engine/<model> only")
    todo = [(p, static_request(p)) for p in plans]
    empty = [p.name for p, r in todo if r is None]
    if empty and len(empty) == len(todo):
        raise WarmError(f"error[E532]: nothing to warm: plan(s) {', '.join(empty)} start with no static segment\n"
                        "   = hint: only a static prefix can be cached ahead of time")
    results: list[WarmResult] = []
    for client in clients:
        warm: set[str] = set()
        for plan, req in todo:
            if req is None:
                results.append(WarmResult(client.target.name, [plan.name], "skipped", reason="no static prefix"))
                continue
            results.append(_warm_one(client, plan, req, warm, named))
    return _merge(results)


def _merge(results: list[WarmResult]) -> list[WarmResult]:
    """Skipped plans whose prefixes an earlier step already covered join that step's plan list."""
    out: list[WarmResult] = []
    for r in results:
        if r.action == "skipped" and r.reason == "already warm":
            host = next((o for o in out if o.target == r.target and set(r.prefixes) <= set(o.prefixes)
                         and o.action != "skipped"), None)
            if host is not None:
                host.plans.append(r.plans[0])
                continue
        out.append(r)
    return out


def _warm_one(client: Any, plan: Plan, req: Request, warm: set[str], named: bool = False) -> WarmResult:
    target = client.target.name
    provider = client.target.provider
    if client.limits.mode == "tree":  # promptc's engine: every segment is a node
        return _warm_engine(client, plan, req, warm, named)
    rm = client.resources()
    if rm is not None:
        return _warm_object(client, rm, plan, req, warm)
    ping = prefix_request(req)
    call = client.build(ping, max_tokens=ping_max_tokens(provider))
    points = [ping.segments[m.index].prefix_hash for m in call.marks]
    if not points:
        # automatic caching (OpenAI before gpt-5.6, Kimi, DeepSeek) places no marks: the whole static
        # prefix is the cache point, when it reaches the minimum
        total = sum(client.counter.count(s, target) for s in req.segments)
        if client.limits.mode == "automatic" and total >= (client.limits.min_tokens or 0):
            points = [req.segments[-1].prefix_hash]
        else:
            return WarmResult(target, [plan.name], "skipped", reason=f"below the minimum ({total} tokens < "
                              f"{client.limits.min_tokens})")
    if all(p in warm for p in points):
        return WarmResult(target, [plan.name], "skipped", prefixes=points, reason="already warm")
    reply = client.complete(ping, max_tokens=ping_max_tokens(provider))
    new = [p for p in points if p not in warm]
    warm.update(points)
    u = reply.usage
    return WarmResult(target, [plan.name], "request", points, new, tokens_written=u.cache_write_total or 0,
                      tokens_read=u.cache_read or 0, cost=reply.cost)


def _warm_object(client: Any, rm: Any, plan: Plan, req: Request, warm: set[str]) -> WarmResult:
    target = client.target.name
    ping = prefix_request(req)
    point = req.segments[-1].prefix_hash
    if point in warm:
        return WarmResult(target, [plan.name], "skipped", prefixes=[point], reason="already warm")
    client.registry.reconcile_once(client.target.provider, rm)  # leftovers of a crashed run go first
    before = {e.remote_id for e in client.registry.entries()}
    opts = client._options(ping, ping_max_tokens(client.target.provider), None, False, None)
    ctx = client._context()
    rm.prepare(client.adapter.build(ping, opts, ctx), ping, opts, ctx)
    made = [e for e in client.registry.entries() if e.remote_id not in before]
    warm.add(point)
    price = client.price
    # creating a cache object bills its tokens at the input rate: priced by the one function (core.prices.cost_of)
    cost = sum(cost_of(Usage(uncached=e.tokens, cache_read=0, cache_write={}, output=0), price).total or 0.0
               for e in made) if price else None
    return WarmResult(target, [plan.name], "object", [point], [e.remote_id for e in made],
                      tokens_written=sum(e.tokens for e in made), cost=cost)


def _warm_engine(client: Any, plan: Plan, req: Request, warm: set[str], named: bool = False) -> WarmResult:
    target = client.target.name
    points = [req.segments[-1].prefix_hash]
    if all(p in warm for p in points):
        return WarmResult(target, [plan.name], "skipped", prefixes=points, reason="already warm")
    segments = [{"id": s.id, "hash": s.hash, "role": s.role, "content": s.content} for s in req.segments]
    deployed: list[dict[str, Any]] = []
    if named:  # register each segment under its id (a new version when its content changed), warm by reference
        for s in req.segments:
            put = client._client().put(client.base_url + "/segments/" + s.id, headers=client._headers(),
                                       json={"role": s.role, "content": s.content, "hash": s.hash},
                                       timeout=client.retry.timeout_s)
            if put.status_code >= 400:
                raise client._error(put, 1)
            got = put.json()
            deployed.append({"name": got["name"], "version": got["version"], "hash": got["hash"],
                             "created": got["created"]})
        segments = [{"ref": d["name"], "version": d["version"]} for d in deployed]
    resp = client._client().post(client.base_url + "/cache/warm", json={"segments": segments},
                                 headers=client._headers(), timeout=client.retry.timeout_s)
    if resp.status_code >= 400:
        raise client._error(resp, 1)
    body = resp.json()
    statuses = body.get("segments") or []
    computed = [s for s in statuses if s.get("status") != "hit"]
    warm.update(points)
    return WarmResult(target, [plan.name], "engine", points, [s["hash"] for s in computed],
                      tokens_written=sum(int(s.get("tokens") or 0) for s in computed),
                      tokens_read=sum(int(s.get("tokens") or 0) for s in statuses if s.get("status") == "hit"),
                      cost=0.0, named=deployed)


def format_results(results: list[WarmResult]) -> str:
    """A plain-text table of :func:`warm_plans` results, with totals."""
    lines = [f"{'target':<32} {'plans':<24} {'action':<8} {'created':>7} {'written':>8} {'read':>8} {'cost $':>10}  note"]
    for r in results:
        cost = "-" if r.cost is None else f"{r.cost:.6f}"
        lines.append(f"{r.target:<32} {','.join(r.plans):<24} {r.action:<8} {len(r.created):>7} {r.tokens_written:>8} "
                     f"{r.tokens_read:>8} {cost:>10}  {r.reason or ''}".rstrip())
    total = sum(r.cost or 0.0 for r in results)
    lines.append(f"{'total':<32} {'':<24} {'':<8} {sum(len(r.created) for r in results):>7} "
                 f"{sum(r.tokens_written for r in results):>8} {sum(r.tokens_read for r in results):>8} "
                 f"{total:>10.6f}")
    return "\n".join(lines)


__all__ = ["PING_TEXT", "WarmError", "WarmResult", "format_results", "ping_max_tokens", "prefix_request",
           "static_request", "warm_plans"]
