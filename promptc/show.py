"""``promptc show``: a table of a plan's segments, with what they share with sibling plans."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from promptc.plan import Plan, load_plan


def _short(h: str | None) -> str:
    return h.split(":", 1)[1][:10] if h else "—"


def shared_with(plan: Plan, siblings: list[Plan]) -> list[list[str]]:
    """For each segment: the sibling plans whose prefix up to and including it is identical."""
    out = []
    for i, seg in enumerate(plan.segments):
        names = []
        if seg.prefix_hash:
            for other in siblings:
                if i < len(other.segments) and other.segments[i].prefix_hash == seg.prefix_hash:
                    names.append(other.name)
        out.append(sorted(names))
    return out


def sibling_plans(path: Path, plan: Plan) -> list[Plan]:
    out = []
    for p in sorted(path.parent.glob("*.plan.json")):
        if p.resolve() == path.resolve():
            continue
        try:
            other = load_plan(p)
        except Exception:  # an unreadable sibling only means less sharing information
            continue
        if other.name != plan.name:
            out.append(other)
    return out


def render_show(path: Path, console: Console | None = None) -> None:
    console = console or Console(width=200)
    plan = load_plan(path)
    shared = shared_with(plan, sibling_plans(path, plan))
    targets = [t.name for t in plan.targets]
    table = Table(title=f"plan {plan.name}  ({plan.source.path})", show_lines=False)
    for col in ("#", "segment", "level", "stability", "role", "kind"):
        table.add_column(col)
    for t in plan.targets:
        table.add_column(f"tokens\n{t.name}{'' if t.tokenizer_exact else ' ~'}", justify="right")
    for col in ("hash", "prefix", "bp", "shared with"):
        table.add_column(col)
    totals = {t: 0 for t in targets}
    for i, seg in enumerate(plan.segments):
        counts = []
        for t in targets:
            n = (seg.tokens or {}).get(t)
            counts.append("—" if n is None else str(n))
            if n is not None:
                totals[t] += n
        stability = seg.stability + (" +append" if seg.append_only else "")
        table.add_row(str(i), seg.id, seg.level, stability, seg.role, seg.kind, *counts, _short(seg.hash),
                      _short(seg.prefix_hash), ",".join(b.split("/")[0] for b in seg.breakpoint or []) or "",
                      ", ".join(shared[i]))
    table.add_row("", "total (static prefix)", "", "", "", "", *[str(totals[t]) for t in targets], "", "", "", "")
    console.print(table)
    approx = [t.name for t in plan.targets if not t.tokenizer_exact]
    if approx:
        console.print(f"~ estimated: {', '.join(approx)} has no public tokenizer; counts use "
                      f"{', '.join(sorted({t.tokenizer for t in plan.targets if not t.tokenizer_exact}))} as a proxy")
