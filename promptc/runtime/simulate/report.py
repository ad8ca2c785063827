"""The output of ``promptc simulate``: one table per target (text) or one JSON document."""

from __future__ import annotations

import json
from typing import Any

from promptc.runtime.simulate.replay import LABELS, STRATEGIES, TargetResult
from promptc.runtime.simulate.workload import Workload


def duration(seconds: float) -> str:
    """``27810`` → ``7h43m30s``."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


def ttl(label: str, seconds: float) -> str:
    """``("5m", 300)`` → ``5m TTL``; ``("in_memory", 600)`` → ``in_memory: 10m TTL``; no TTL when infinite."""
    if seconds == float("inf"):
        return f"{label}: no TTL"
    span = duration(seconds)
    return f"{span} TTL" if span == label else f"{label}: {span} TTL"


def summary(workload: Workload) -> dict[str, Any]:
    """What the workload was: name, turns, plans, duration."""
    return {"name": workload.name, "turns": len(workload.turns), "plans": sorted({t.plan for t in workload.turns}),
            "duration_s": workload.duration_s, "note": workload.note}


def to_json(workload: Workload, results: list[TargetResult]) -> str:
    """The whole report as canonical JSON (sorted keys)."""
    return json.dumps({"workload": summary(workload), "targets": [r.to_json() for r in results]}, indent=2,
                      sort_keys=True, ensure_ascii=False)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_text(workload: Workload, results: list[TargetResult]) -> str:
    """A table per target: strategy, hit rate, uncached/read/written tokens, cost and the share of the
    theoretical best's savings (against no caching)."""
    w = summary(workload)
    lines = [f"workload: {w['name']}: {w['turns']} turns of {len(w['plans'])} plans ({', '.join(w['plans'])}) "
             f"over {duration(w['duration_s'])}"]
    for r in results:
        lines.append("")
        real = f" (real: {r.real_min_tokens})" if r.real_min_tokens != r.min_tokens else ""
        lines.append(f"{r.target}: retention {r.retention} ({ttl(r.ttl, r.ttl_s)}), minimum {r.min_tokens} "
                     f"cacheable tokens{real}")
        lines.append(f"  {'strategy':<18} {'hit rate':>8} {'uncached':>9} {'read':>9} {'written':>9} {'cost $':>10} "
                     f"{'% of best savings':>18}")
        for s in STRATEGIES:
            t = r.tallies[s]
            cost = "unknown" if t.cost is None else f"{t.cost:.6f}"
            lines.append(f"  {LABELS[s]:<18} {t.hit_rate:>8.1%} {t.uncached:>9} {t.cache_read:>9} {t.cache_write:>9} "
                         f"{cost:>10} {_pct(r.share_of_best(s)):>18}")
        for note in r.notes:
            lines.append(f"  note: {note}")
    return "\n".join(lines)


__all__ = ["duration", "format_text", "summary", "to_json", "ttl"]
