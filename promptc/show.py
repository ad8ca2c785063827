"""``promptc show``: a table of a plan's segments, with what they share with sibling plans.

The path is what ``promptc run`` takes: a compiled ``.plan.json`` (siblings are the other plans in its
folder), or a ``.prompt`` file or project compiled on the fly (siblings are the other plans it builds).
The table fits the terminal; written to a pipe or file it takes the width it needs (or ``$COLUMNS``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from promptc.core.wire import wire_prefix_keys
from promptc.plan import Plan, load_plan
from promptc.runtime.plans import choose_plan, is_plan_file, open_plans

#: What the columns mean, printed under the table.
LEGEND = (
    "hash, prefix: the first 8 hex digits of the segment's hash and of its prefix hash (the hash of everything "
    "up to and including it); equal prefix hashes mean a cache hit across plans",
    "bp: the targets whose provider places a cache breakpoint after this segment (e.g. Anthropic cache_control, "
    "Bedrock cachePoint); empty where no breakpoint goes",
    "role: a history segment has one role per entry (user, assistant, ...), bound at run time",
    "shared with: sibling plans whose prefix through this segment is identical on every target's wire (tools first "
    "on most providers)",
    "tokens: one column per target (named by its model); — for session and turn segments, whose text is only "
    "known at run time",
)


def _short(h: str | None) -> str:
    return h.split(":", 1)[1][:8] if h else "—"


def shared_with(plan: Plan, siblings: list[Plan]) -> list[list[str]]:
    """For each segment: the sibling plans whose prefix up to and including it is identical *on the
    wire of every target the plan runs on* (:func:`promptc.core.wire.wire_prefix_keys`: tools-first
    providers hash the tool definitions before any system text), so a share is never claimed that
    one of the plan's providers does not have."""
    def keys(p: Plan, target: str) -> list[str | None]:
        try:
            return wire_prefix_keys(target, p.segments, lambda s: s.hash)
        except ValueError:  # an unknown provider: plan order
            return wire_prefix_keys("engine", p.segments, lambda s: s.hash)

    targets = [t.name for t in plan.targets] or ["engine"]
    mine = {t: keys(plan, t) for t in targets}
    out: list[list[str]] = [[] for _ in plan.segments]
    for other in siblings:
        theirs = {t: keys(other, t) for t in targets}
        for i, seg in enumerate(plan.segments):
            if not seg.prefix_hash or i >= len(other.segments) or other.segments[i].prefix_hash != seg.prefix_hash:
                continue
            # the same position in plan order and the same wire prefix through it on every target
            if all(mine[t][i] is not None and mine[t][i] == theirs[t][i] for t in targets):
                out[i].append(other.name)
    return [sorted(n) for n in out]


def sibling_plans(path: Path, plan: Plan) -> list[Plan]:
    """The other compiled plans in the folder of ``path`` (an unreadable one only means less sharing information)."""
    out = []
    for p in sorted(path.parent.glob("*.plan.json")):
        if p.resolve() == path.resolve():
            continue
        try:
            other = load_plan(p)
        except Exception:  # noqa: BLE001 - a broken sibling must not stop showing this plan
            continue
        if other.name != plan.name:
            out.append(other)
    return out


#: Columns a narrow terminal drops first, in order (the rest always show).
OPTIONAL_COLUMNS = ("level", "kind", "prefix", "shared with", "role", "hash")


def plan_table(plan: Plan, siblings: list[Plan], hide: tuple[str, ...] = ()) -> Table:
    """The segment table of ``plan`` without the columns named in ``hide``."""
    shared = shared_with(plan, siblings)
    targets = [t.name for t in plan.targets]
    # (name, header, column options); fixed-vocabulary columns never wrap, names and lists fold.
    columns: list[tuple[str, str, dict]] = [
        ("#", "#", {"no_wrap": True, "justify": "right", "min_width": 2}),
        ("segment", "segment", {"overflow": "fold", "min_width": 8}),
        ("level", "level", {"no_wrap": True}), ("stability", "stability", {"no_wrap": True}),
        ("role", "role", {"no_wrap": True}), ("kind", "kind", {"no_wrap": True})]
    models = [t.model for t in plan.targets]
    for t in plan.targets:  # the model names the token columns, unless two targets share it
        label = t.model if models.count(t.model) == 1 else t.name
        columns.append((t.name, f"{label}{'' if t.tokenizer_exact else ' ~'}",
                        {"justify": "right", "overflow": "fold", "min_width": 5}))
    columns += [("hash", "hash", {"no_wrap": True}), ("prefix", "prefix", {"no_wrap": True}),
                ("bp", "bp", {"overflow": "fold"}), ("shared with", "shared with", {"overflow": "fold"})]
    rows: list[dict[str, str]] = []
    totals = {t: 0 for t in targets}
    for i, seg in enumerate(plan.segments):
        row = {"#": str(i), "segment": seg.id, "level": seg.level,
               "stability": seg.stability + ("+append" if seg.append_only else ""),
               "role": "per entry" if seg.kind == "history" else seg.role, "kind": seg.kind,
               "hash": _short(seg.hash), "prefix": _short(seg.prefix_hash),
               "bp": ", ".join(b.split("/")[0] for b in seg.breakpoint or []), "shared with": ", ".join(shared[i])}
        for t in targets:
            n = (seg.tokens or {}).get(t)
            row[t] = "—" if n is None else str(n)
            totals[t] += n or 0
        rows.append(row)
    rows.append({"segment": "static prefix", **{t: str(totals[t]) for t in targets}})
    table = Table(title=f"plan {plan.name}  ({plan.source.path}); tokens per target: {', '.join(targets)}",
                  show_lines=False)
    shown = [c for c in columns if c[0] not in hide]
    for _, header, options in shown:
        table.add_column(header, **options)
    for row in rows:
        table.add_row(*[row.get(name, "") for name, _, _ in shown])
    return table


def natural_width(table: Table) -> int:
    """The width ``table`` takes when nothing wraps."""
    wide = Console(width=10_000)
    return Measurement.get(wide, wide.options, table).maximum


def fitted_table(plan: Plan, siblings: list[Plan], width: int) -> tuple[Table, tuple[str, ...]]:
    """The table for a ``width``-column console: optional columns are dropped until it fits unwrapped (or
    none is left to drop; then long names and headers fold)."""
    hide: tuple[str, ...] = ()
    table = plan_table(plan, siblings)
    for name in OPTIONAL_COLUMNS:
        if natural_width(table) <= width:
            break
        hide += (name,)
        table = plan_table(plan, siblings, hide)
    return table, hide


def show_plan(plan: Plan, siblings: list[Plan], console: Console | None = None) -> None:
    """Print the table of ``plan`` and the legend of its columns, at the console's width.

    Without a console: the terminal's width on a terminal (or ``$COLUMNS``), else the width the table needs.
    """
    if console is None:
        console = Console()
        if not console.is_terminal and not os.environ.get("COLUMNS"):
            console = Console(width=max(80, natural_width(plan_table(plan, siblings))))
    table, hidden = fitted_table(plan, siblings, console.width)
    console.print(table)
    if hidden:
        console.print(f"[dim](hidden to fit {console.width} columns: {', '.join(hidden)}; widen the terminal or set "
                      "COLUMNS)[/]", highlight=False)
    for line in LEGEND:
        if line.split(":")[0] not in hidden:
            console.print(f"[dim]{line}[/]", highlight=False)
    approx = [t.name for t in plan.targets if not t.tokenizer_exact]
    if approx:
        console.print(f"~ estimated: {', '.join(approx)} has no public tokenizer; counts use "
                      f"{', '.join(sorted({t.tokenizer for t in plan.targets if not t.tokenizer_exact}))} as a proxy")


def render_show(path: Path, plan_name: str | None = None, console: Console | None = None,
                compile_sources: Callable | None = None) -> None:
    """``promptc show PATH``: a compiled plan, or one plan of a ``.prompt`` file or project (``compile_sources``)."""
    names, plans = open_plans(path, compile_sources)
    plan = choose_plan(path, names, plans, plan_name)
    if is_plan_file(path):
        siblings = sibling_plans(path, plan)
    else:
        siblings = [p for n, p in plans.items() if n != plan.name]
    show_plan(plan, siblings, console)
