"""Opt-in JSONL cache trace, and ``promptc trace stats``.

``Client(..., trace="cache-trace.jsonl")`` appends one line per request (successful or not)::

    {"ts": ..., "plan": "backend", "target": "anthropic/claude-sonnet-4-5", "model": ...,
     "status": "ok" | "error", "error": {...}, "attempts": 1, "latency_s": 0.21,
     "segments": [{"id", "hash", "prefix_hash"}], "breakpoints": [{"segment", "ttl", "prefix_tokens"}],
     "cache_key": ..., "usage": {...}, "cost": {...}, "expected_hit_tokens": 1800,
     "invalidation": null | {"reason": "segment_changed" | "ttl_expired" | "below_minimum"
                                       | "model_changed" | "unknown",
                             "segment": "rules", "detail": "..."},
     "collapse": null | {"code": "W510", ...},
     "provider_verdict": null | {"reason": "messages_changed" | ..., "cache_missed_input_tokens": n}}

``provider_verdict`` is the provider's own cache-miss verdict where it gives one and the project opted
in (Anthropic's cache-diagnosis beta: :mod:`promptc.runtime.diagnosis`).

An invalidation is reported when the previous request of the same plan placed a breakpoint (so a
hit up to it was expected) and the provider read more than 10% less than that prefix (expected
counts are estimates where the provider's tokenizer is not public). The reason is, in order: the
model changed; the first segment up to that breakpoint whose hash changed; the TTL likely expired;
the prefix is below the model's minimum; else unknown.

Collapse monitor (W510): per plan and target the tracer keeps the largest ``cache_read`` the provider
has served (the *established prefix*); a later successful reply that reads less than the plan's
fraction of it (``Tracer(collapse_fraction=...)``, ``[tool.promptc] cacheCollapseFraction`` or
``[tool.promptc.plans.<plan>] cacheCollapseFraction``; default :data:`COLLAPSE_FRACTION` = 0.5) gets
``"collapse": {"code": "W510", "established": N, "read": n, "fraction": f}`` next to its
``invalidation`` and a :class:`~promptc.runtime.errors.CacheCollapseWarning`. A new target (model
change) starts a new established prefix. ``trace stats`` counts collapses per plan.

Cache-object events (:meth:`Tracer.event`) share the file: ``{"ts", "event", "target", ...}`` with
``event`` one of ``create``, ``refresh``, ``recreate``, ``delete``, ``forget``, ``coalesced``,
``fallback`` or ``keepwarm`` (``action``: ``refresh``/``stop``), and where known ``remote_id``,
``prefix_hash``, ``tokens``, ``expires_at``, ``reason`` and ``cost`` (USD). :func:`stats` counts them
per target in ``cache_objects`` (:func:`cache_object_stats`, with storage fees).

Secrets (API keys) never reach the trace: it holds hashes, ids, counts and error messages that
were already redacted. The tracer's memory of the previous request per plan is owned by the
tracer (one per client), not global.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from promptc.core.providers import ttl_seconds
from promptc.runtime.diagnosis import verdict
from promptc.runtime.errors import CacheCollapseWarning, TraceError

#: Relative shortfall of a cache read against the expected prefix that counts as an invalidation.
TOLERANCE = 0.1
#: Default collapse-monitor fraction: a read below half the plan's established prefix is a collapse (W510).
COLLAPSE_FRACTION = 0.5


@dataclass
class _Last:
    hashes: list[tuple[str, str]]  # (segment id, hash)
    prefix_at: dict[str, tuple[str, int, bool]]  # segment id → (prefix hash, prefix tokens, long ttl)
    model: str | None
    target: str
    ts: float


@dataclass
class Tracer:
    """Appends trace records to ``path``; ``clock`` is injectable for tests. ``collapse_fraction`` is the
    collapse monitor's default fraction, ``plan_collapse_fractions`` per-plan overrides."""

    path: str | Path
    clock: Callable[[], float] = time.time
    collapse_fraction: float = COLLAPSE_FRACTION
    plan_collapse_fractions: dict[str, float] = field(default_factory=dict)
    _last: dict[str, _Last] = field(default_factory=dict)
    _established: dict[tuple[str | None, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, *, request, target: str, call, reply, error, latency_s: float, attempts: int,
               limits=None) -> dict[str, Any]:
        now = self.clock()
        segs = request.segments
        rec: dict[str, Any] = {
            "ts": round(now, 3), "plan": request.plan, "target": target,
            "model": getattr(reply, "model", None), "status": "ok" if error is None else "error",
            "attempts": attempts, "latency_s": round(latency_s, 6),
            "segments": [{"id": s.id, "hash": s.hash, "prefix_hash": s.prefix_hash} for s in segs],
            "breakpoints": [{"segment": m.segment, "ttl": "long" if m.long else "short",
                             "prefix_tokens": m.prefix_tokens, "reason": m.reason} for m in call.marks],
            "cache_key": call.cache_key, "usage": None, "cost": None, "expected_hit_tokens": None,
            "invalidation": None, "collapse": None, "provider_verdict": None, "error": None}
        if error is not None:
            rec["error"] = {"code": getattr(error, "code", None), "status": getattr(error, "status", None),
                            "message": str(error), "request_id": getattr(error, "request_id", None)}
        key = request.plan
        with self._lock:
            last = self._last.get(key)
            if reply is not None:
                rec["usage"] = reply.usage.to_json()
                rec["cost"] = reply.cost_detail.to_json() if reply.cost_detail else None
                expected = _expected(last, segs)
                if expected is not None:
                    rec["expected_hit_tokens"] = expected[1]
                    read = reply.usage.cache_read
                    # expected counts are the client's estimates (a proxy tokenizer for some providers):
                    # only a read short by more than the tolerance is an invalidation
                    if read is not None and read < expected[1] * (1 - TOLERANCE):
                        rec["invalidation"] = _reason(last, segs, reply.model or target, target, now, expected,
                                                      limits)
                rec["collapse"] = self._collapse(key, target, reply.usage.cache_read)
                rec["provider_verdict"] = verdict(getattr(reply, "raw", None))
                self._last[key] = _Last([(s.id, s.hash) for s in segs],
                                        {m.segment: (segs[m.index].prefix_hash, m.prefix_tokens, m.long)
                                         for m in call.marks}, reply.model or target, target, now)
            line = json.dumps(rec, ensure_ascii=False, sort_keys=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        return rec


    def _collapse(self, plan: str | None, target: str, read: int | None) -> dict[str, Any] | None:
        """The collapse verdict for a reply's cache read against the plan's established prefix (and the
        established prefix updated); called under the lock."""
        if read is None:
            return None
        established = self._established.get((plan, target), 0)
        fraction = self.plan_collapse_fractions.get(plan or "", self.collapse_fraction)
        self._established[(plan, target)] = max(established, read)
        if established and read < established * fraction:
            warnings.warn(f"warning[W510]: plan `{plan}` on {target} read {read} cached tokens, below {fraction:g} "
                          f"of its established prefix ({established} tokens)", CacheCollapseWarning, stacklevel=6)
            return {"code": "W510", "established": established, "read": read, "fraction": fraction}
        return None

    def event(self, *, event: str, **fields: Any) -> dict[str, Any]:
        """Append a cache-object event (``create``, ``refresh``, ``delete``, ``recreate``, ``fallback``,
        ``coalesced``, ``keepwarm`` ...): ``{"ts", "event", ...fields}``; request statistics skip these."""
        rec = {"ts": round(self.clock(), 3), "event": event, **fields}
        line = json.dumps(rec, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        return rec


def _expected(last: _Last | None, segs) -> tuple[str, int, bool, bool] | None:
    """The previous request's furthest breakpoint: (segment id, prefix tokens, long ttl, whether this
    request repeats that prefix byte for byte)."""
    if last is None or not last.prefix_at:
        return None
    sid, (ph, tokens, long) = max(last.prefix_at.items(), key=lambda kv: kv[1][1])
    by_id = {s.id: s.prefix_hash for s in segs}
    return sid, tokens, long, by_id.get(sid) == ph


def _reason(last: _Last, segs, model, target: str, now: float, expected, limits) -> dict[str, Any]:
    if (model and last.model and model != last.model) or target != last.target:
        return {"reason": "model_changed", "segment": None, "detail": f"{last.model} → {model}"}
    if not expected[3]:  # the prefix differs: name the first segment that changed (or went missing)
        now_hashes = {s.id: s.hash for s in segs}
        for sid, h in last.hashes:
            if now_hashes.get(sid) != h:
                return {"reason": "segment_changed", "segment": sid,
                        "detail": f"`{sid}` changed since the previous request"}
            if sid == expected[0]:
                break
    ttl = ttl_seconds(target, "long" if expected[2] else "short")  # the provider spec's lifetime
    if ttl is not None and now - last.ts > ttl:
        return {"reason": "ttl_expired", "segment": expected[0],
                "detail": f"{now - last.ts:.0f}s since the previous request (> {ttl:.0f}s)"}
    if limits is not None and limits.min_tokens and expected[1] < limits.min_tokens:
        return {"reason": "below_minimum", "segment": expected[0],
                "detail": f"{expected[1]} tokens < minimum {limits.min_tokens}"}
    return {"reason": "unknown", "segment": expected[0],
            "detail": "the prefix repeated but was not read from the cache"}


# -- reading: every record is validated before anything computes with it ----------------------------
# A trace file may come from anywhere (a pull request, a colleague, a hand edit): the fields the
# readers use (``trace stats``, ``report --trace``, ``simulate --from-trace``) are checked here, so
# ``usage: [1, 2]``, ``ts: NaN`` or ``cache_read: 10**400`` is an E508 with its line, not a crash.
# Unknown fields are kept: a newer writer's extra fields never make an older reader refuse a file.

#: The largest token count a record may carry (no model's context comes near it).
MAX_TRACE_TOKENS = 10**9
_Count = Annotated[int, Field(strict=True, ge=0, le=MAX_TRACE_TOKENS)]
_Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e15, le=1e15)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _TraceUsage(_Open):
    uncached: _Count | None = None
    cache_read: _Count | None = None
    cache_write_total: _Count | None = None
    output: _Count | None = None


class _TraceCost(_Open):
    total: _Number | None = None


class _TraceSegment(_Open):
    id: str | None = None
    hash: str | None = None
    prefix_hash: str | None = None


class _TraceInvalidation(_Open):
    reason: str | None = None
    segment: str | None = None


class _TraceCollapse(_Open):
    established: _Count | None = None
    read: _Count | None = None


class _TraceVerdict(_Open):
    reason: str | None = None
    cache_missed_input_tokens: _Count | None = None


class _TraceRecord(_Open):
    """The fields of one trace line the readers use (a request or a cache-object event)."""

    ts: _Number | None = None
    plan: str | None = None
    target: str | None = None
    # a request's "ok"/"error", or a cache-object event's HTTP status
    status: str | int | None = None
    usage: _TraceUsage | None = None
    cost: _Number | _TraceCost | None = None
    segments: list[_TraceSegment] | None = None
    invalidation: _TraceInvalidation | None = None
    collapse: _TraceCollapse | None = None
    provider_verdict: _TraceVerdict | None = None
    event: str | None = None
    action: str | None = None
    remote_id: str | None = None
    provider: str | None = None
    model: str | None = None
    tokens: _Count | None = None
    expires_at: _Number | None = None


_RECORD = TypeAdapter(_TraceRecord)


def _field_error(exc: ValidationError) -> str:
    e = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in e["loc"]) or "record"
    return f"`{where}`: {e['msg']}"


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """The records of a trace file, each checked against the trace record model (a malformed line,
    or a field of the wrong type or range, is an E508 error with its line number)."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"error[E508]: cannot read trace {path}: {getattr(exc, 'strerror', None) or exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise TraceError(f"error[E508]: {path}:{n}: not a trace record ({exc})") from None
        except RecursionError:
            raise TraceError(f"error[E508]: {path}:{n}: not a trace record (nested too deeply)") from None
        try:
            _RECORD.validate_python(rec)
        except ValidationError as exc:
            raise TraceError(f"error[E508]: {path}:{n}: not a trace record ({_field_error(exc)})") from None
        out.append(rec)
    return out


def stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Hit rate, tokens and cost per plan, and per segment how often it invalidated the cache.

    Per plan also ``collapses`` (records the collapse monitor flagged, W510) and ``established_prefix``
    (the largest cache read of the plan in the trace). ``misses`` counts requests with a promptc
    ``invalidation`` or a provider verdict (:mod:`promptc.runtime.diagnosis`) by
    ``"<promptc reason> / <provider verdict>"`` (``none`` for a side that saw no miss).

    Hit rate = cache-read tokens / prompt tokens over successful requests with known counters.
    """
    plans: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "errors": 0, "uncached": 0,
                                                            "cache_read": 0, "cache_write": 0, "output": 0,
                                                            "cost": 0.0, "invalidations": 0, "collapses": 0,
                                                            "established_prefix": 0})
    segments: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "invalidations": 0})
    misses: dict[str, int] = defaultdict(int)
    for r in records:
        if "event" in r:  # cache-object events, not requests
            continue
        p = plans[f"{r.get('plan')} @ {r.get('target')}"]
        p["requests"] += 1
        for s in r.get("segments") or []:
            segments[f"{r.get('plan')}:{s.get('id')}"]["requests"] += 1
        if r.get("status") != "ok":
            p["errors"] += 1
            continue
        u = r.get("usage") or {}
        for k, src in (("uncached", "uncached"), ("cache_read", "cache_read"), ("cache_write", "cache_write_total"),
                       ("output", "output")):
            p[k] += u.get(src) or 0
        p["cost"] += ((r.get("cost") or {}).get("total") or 0.0)
        p["established_prefix"] = max(p["established_prefix"], u.get("cache_read") or 0)
        pv = r.get("provider_verdict")
        if r.get("invalidation") or (pv and pv.get("reason") != "pending"):
            ours = (r.get("invalidation") or {}).get("reason") or "none"
            misses[f"{ours} / {(pv or {}).get('reason') or 'none'}"] += 1
        if r.get("collapse"):
            p["collapses"] += 1
        inv = r.get("invalidation")
        if inv:
            p["invalidations"] += 1
            if inv.get("segment"):
                segments[f"{r.get('plan')}:{inv['segment']}"]["invalidations"] += 1
    for p in plans.values():
        prompt = p["uncached"] + p["cache_read"] + p["cache_write"]
        p["hit_rate"] = round(p["cache_read"] / prompt, 4) if prompt else None
        p["cost"] = round(p["cost"], 8)
    return {"plans": dict(sorted(plans.items())), "segments": dict(sorted(segments.items())),
            "misses": dict(sorted(misses.items())), "cache_objects": cache_object_stats(records)}


#: Cache-object event kinds :func:`cache_object_stats` counts (``keepwarm`` is split by ``action``).
OBJECT_EVENTS = ("create", "refresh", "recreate", "delete", "forget", "coalesced", "fallback")


def cache_object_stats(records: list[dict[str, Any]], prices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per target: counts of cache-object events (creates, refreshes, recreations, deletes, coalesced
    waits, fallbacks), keep-warm pings and their cost, the cost of creates/refreshes, and storage fees.

    Storage fee of an object = ``tokens / 10⁶ × hours alive × storage`` ($/MTok·h from the price
    table, 0 where the provider bills no storage); it lives from its ``create`` event until its
    ``delete`` event, else until the last ``expires_at`` a create/refresh event gave it, else until the
    trace's last record.
    """
    from promptc.core.prices import price_for

    out: dict[str, dict[str, Any]] = {}
    objects: dict[str, dict[str, Any]] = {}
    last_ts = max((r.get("ts") or 0.0 for r in records), default=0.0)

    def bucket(target: str) -> dict[str, Any]:
        return out.setdefault(target, {**{k: 0 for k in OBJECT_EVENTS}, "keepwarm_pings": 0, "keepwarm_stops": 0,
                                       "keepwarm_cost": 0.0, "object_cost": 0.0, "storage_token_hours": 0.0,
                                       "storage_cost": 0.0})

    for r in records:
        kind = r.get("event")
        if not kind:
            continue
        target = r.get("target") or (f"{r.get('provider')}/{r.get('model')}" if r.get("provider") else "unknown")
        b = bucket(target)
        cost = r.get("cost")
        cost = cost.get("total") if isinstance(cost, dict) else cost
        if kind == "keepwarm":
            if r.get("action") == "refresh":
                b["keepwarm_pings"] += 1
                b["keepwarm_cost"] += float(cost or 0.0)
            else:
                b["keepwarm_stops"] += 1
            continue
        if kind in b:
            b[kind] += 1
        if kind in ("create", "refresh", "recreate"):
            b["object_cost"] += float(cost or 0.0)
        rid = r.get("remote_id")
        if not rid:
            continue
        if kind in ("create", "recreate"):
            objects[rid] = {"target": target, "tokens": int(r.get("tokens") or 0), "born": r.get("ts") or 0.0,
                            "end": r.get("expires_at"), "deleted": None}
        elif kind == "refresh" and rid in objects and r.get("expires_at") is not None:
            objects[rid]["end"] = r["expires_at"]
        elif kind in ("delete", "forget") and rid in objects:
            objects[rid]["deleted"] = r.get("ts")
    for o in objects.values():
        end = o["deleted"] if o["deleted"] is not None else (o["end"] if o["end"] is not None else last_ts)
        if o["deleted"] is not None and o["end"] is not None:
            end = min(end, o["end"])
        hours = max(0.0, float(end) - float(o["born"])) / 3600.0
        b = bucket(o["target"])
        token_hours = o["tokens"] * hours
        b["storage_token_hours"] += token_hours
        price = price_for(o["target"], prices)
        b["storage_cost"] += token_hours * 1e-6 * (price.storage if price else 0.0)
    for b in out.values():
        for k in ("keepwarm_cost", "object_cost", "storage_token_hours", "storage_cost"):
            b[k] = round(b[k], 8)
        b["total_cost"] = round(b["keepwarm_cost"] + b["object_cost"] + b["storage_cost"], 8)
    return dict(sorted(out.items()))


def format_stats(s: dict[str, Any]) -> str:
    """A plain-text table of :func:`stats`."""
    lines = [f"{'plan @ target':<48} {'req':>4} {'err':>4} {'hit rate':>8} {'read':>8} {'write':>8} "
             f"{'uncached':>8} {'output':>7} {'cost $':>10} {'inval':>5} {'collapse':>8}"]
    for name, p in s["plans"].items():
        hr = "-" if p["hit_rate"] is None else f"{p['hit_rate']:.1%}"
        lines.append(f"{name:<48} {p['requests']:>4} {p['errors']:>4} {hr:>8} {p['cache_read']:>8} "
                     f"{p['cache_write']:>8} {p['uncached']:>8} {p['output']:>7} {p['cost']:>10.6f} "
                     f"{p['invalidations']:>5} {p.get('collapses', 0):>8}")
    lines.append("")
    lines.append(f"{'segment':<48} {'req':>4} {'invalidated':>11}")
    for name, seg in s["segments"].items():
        lines.append(f"{name:<48} {seg['requests']:>4} {seg['invalidations']:>11}")
    if s.get("misses"):
        lines.append("")
        lines.append(f"{'miss: promptc reason / provider verdict':<48} {'count':>5}")
        for name, n in s["misses"].items():
            lines.append(f"{name:<48} {n:>5}")
    objs = s.get("cache_objects") or {}
    if objs:
        lines.append("")
        lines.append(f"{'cache objects @ target':<36} {'create':>6} {'refr':>5} {'recr':>5} {'del':>4} {'coal':>5} "
                     f"{'pings':>5} {'ping $':>10} {'objects $':>10} {'MTok·h':>9} {'storage $':>10} {'total $':>10}")
        for name, b in objs.items():
            lines.append(f"{name:<36} {b['create']:>6} {b['refresh']:>5} {b['recreate']:>5} {b['delete']:>4} "
                         f"{b['coalesced']:>5} {b['keepwarm_pings']:>5} {b['keepwarm_cost']:>10.6f} "
                         f"{b['object_cost']:>10.6f} {b['storage_token_hours'] / 1e6:>9.4f} {b['storage_cost']:>10.6f} "
                         f"{b['total_cost']:>10.6f}")
    return "\n".join(lines)
