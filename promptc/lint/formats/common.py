"""Small helpers shared by the formats."""

from __future__ import annotations

from promptc.lint.model import Finding, PlanImpact


def money(x: float) -> str:
    return f"${x:,.6f}".rstrip("0").rstrip(".") if x else "$0"


def impact_line(imp: PlanImpact) -> str:
    """``backend from `rules`: engine/smollm2 188 tokens; anthropic/… 142 tokens (estimate) $0.0008/request``."""
    parts = []
    for t in imp.targets:
        s = f"{t.target} {t.tokens} tokens" + (" (estimate)" if t.estimate else "")
        if t.cost is not None and t.cost.price_per_mtok:
            s += f" {money(t.cost.per_request)}/request"
            if t.cost.daily is not None:
                s += f" ({money(t.cost.daily)}/day)"
        if t.breakpoints_lost:
            s += f", breakpoints lost after {', '.join(f'`{b}`' for b in t.breakpoints_lost)}"
        parts.append(s)
    return f"{imp.plan} from `{imp.from_segment}`: " + "; ".join(parts)


def where(f: Finding) -> str:
    if f.location is None:
        return "-"
    loc = f"{f.location.path}:{f.location.line}:{f.location.col}"
    return loc + (" (baseline)" if f.location.side == "baseline" else "")


def counts(report) -> str:
    s = report.summary
    def n(k, w):
        return f"{k} {w}{'' if k == 1 else 's'}"
    return f"{n(s.errors, 'error')}, {n(s.warnings, 'warning')}, {s.infos} info, {s.suppressed} suppressed"
