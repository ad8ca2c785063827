"""The run-time view (``promptc report --trace FILE``): what a JSONL cache trace says happened.

Totals are :func:`promptc.runtime.trace.stats` itself (the numbers of ``promptc trace stats``); this
module adds what a table cannot show: each plan's hit rate request by request (the timeline), the
invalidations with their reasons where they happened, the cost of the requests that each segment
invalidated, and the cache-object events (create, refresh, delete, keepwarm ...) where present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.runtime.trace import read_trace, stats


@dataclass(frozen=True)
class Point:
    """One request of one plan on the timeline."""

    index: int  # position in the trace file (1-based, over request records)
    ts: float
    status: str
    hit_rate: float | None  # cache read / prompt tokens of this request; None when unknown or failed
    read: int
    write: int
    uncached: int
    cost: float
    invalidation: dict[str, Any] | None


@dataclass
class RunView:
    """Everything the report shows about a trace."""

    path: str
    stats: dict[str, Any]  # promptc.runtime.trace.stats
    series: dict[str, list[Point]] = field(default_factory=dict)  # "plan @ target" → requests in order
    events: list[dict[str, Any]] = field(default_factory=list)  # cache-object events, in order
    segment_cost: dict[str, float] = field(default_factory=dict)  # "plan:segment" → cost of invalidated requests
    start: float = 0.0
    end: float = 0.0


def _point(index: int, r: dict[str, Any]) -> Point:
    u = r.get("usage") or {}
    read, write, uncached = u.get("cache_read") or 0, u.get("cache_write_total") or 0, u.get("uncached") or 0
    prompt = read + write + uncached
    ok = r.get("status") == "ok"
    return Point(index=index, ts=float(r.get("ts") or 0.0), status=str(r.get("status")),
                 hit_rate=round(read / prompt, 4) if ok and prompt else None, read=read, write=write,
                 uncached=uncached, cost=float((r.get("cost") or {}).get("total") or 0.0) if ok else 0.0,
                 invalidation=r.get("invalidation") if ok else None)


def view(records: list[dict[str, Any]], path: str = "") -> RunView:
    """The run-time view of trace ``records`` (as :func:`promptc.runtime.trace.read_trace` returns them)."""
    out = RunView(path=path, stats=stats(records))
    index = 0
    times = []
    for r in records:
        if "ts" in r and isinstance(r["ts"], (int, float)):
            times.append(float(r["ts"]))
        if "event" in r:
            out.events.append(r)
            continue
        index += 1
        p = _point(index, r)
        out.series.setdefault(f"{r.get('plan')} @ {r.get('target')}", []).append(p)
        inv = p.invalidation
        if inv and inv.get("segment"):
            key = f"{r.get('plan')}:{inv['segment']}"
            out.segment_cost[key] = round(out.segment_cost.get(key, 0.0) + p.cost, 8)
    out.series = dict(sorted(out.series.items()))
    out.segment_cost = dict(sorted(out.segment_cost.items()))
    out.start, out.end = (min(times), max(times)) if times else (0.0, 0.0)
    return out


def load(path: str | Path) -> RunView:
    """Read a trace file (E508 when it cannot be read) and build its view."""
    return view(read_trace(path), str(path))
