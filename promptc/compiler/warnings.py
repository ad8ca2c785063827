"""Static warnings about a plan's cache shape (W310–W313), computed from the annotated plans.

They are warnings, not errors: the plan is valid, but the cache will not do what its author expects.
``compile_project`` reports them with every build and ``promptc check``; ``promptc lint`` reports
the ones located on changed lines.
"""

from __future__ import annotations

from typing import Mapping

from promptc.core.errors import Diagnostic, Span
from promptc.core.providers import limits_for
from promptc.core.wire import tools_first, wire_order
from promptc.plan import Plan, PlanSegment


def _span(s) -> Span:
    return Span(s.path, s.line, s.col, s.end_line, s.end_col)


def no_static_prefix(plan: Plan) -> list[Diagnostic]:
    """W310: the plan's first segment is not static, so nothing is cached across sessions."""
    if plan.segments and plan.segments[0].is_static:
        return []
    first = plan.segments[0].id if plan.segments else "nothing"
    return [Diagnostic("W310", f"plan `{plan.name}` has no static prefix (it starts with `{first}`): nothing is "
                               "cached across sessions", _span(plan.source),
                       "start the plan with a static segment (instructions, tools)", severity="warning")]


def shared_block_below_minimum(plan: Plan, cache_limits: Mapping[str, Mapping]) -> list[Diagnostic]:
    """W311: the shared global block alone is below a target's minimum while the static prefix is above it
    (both measured in the target's wire order: the shared block is the wire's leading run of global
    static segments, tools first on most providers)."""
    out: list[Diagnostic] = []
    segs = plan.segments
    static = [i for i, s in enumerate(segs) if s.is_static]
    if not static:
        return out
    for t in plan.targets:
        order = wire_order(t.name, segs)
        run = []
        for i in order:
            if not _is_shared(segs[i]):
                break
            run.append(i)
        wire_static = [i for i in order if segs[i].is_static]
        if not run or run[-1] == wire_static[-1]:
            continue
        last_global = run[-1]
        limits = limits_for(t.name, cache_limits)
        upto = (segs[last_global].prefix_tokens or {}).get(t.name)
        total = max((segs[i].prefix_tokens or {}).get(t.name, 0) for i in static) if static else None
        if limits.mode != "explicit" or not limits.min_tokens or upto is None or total is None:
            continue
        if upto < limits.min_tokens <= total:
            est = "" if t.tokenizer_exact else f" (estimated with {t.tokenizer})"
            out.append(Diagnostic(
                "W311", f"plan `{plan.name}`: the shared global prefix through `{segs[last_global].id}` is "
                        f"{upto} tokens{est}, below {t.name}'s minimum of {limits.min_tokens}, while the static "
                        f"prefix is {total}: the breakpoint after the shared block is dropped, so each plan caches "
                        "its own copy", _span(segs[last_global].source),
                "grow the shared global block past the minimum, or accept per-plan caching "
                f"(limits from {limits.source})", severity="warning"))
    return out


def memory_before_static_block(plan: Plan) -> list[Diagnostic]:
    """W312: an append-only static memory precedes a static (non-append-only) block."""
    segs: list[PlanSegment] = plan.segments
    for i, s in enumerate(segs):
        if not (s.is_static and s.kind == "memory" and s.append_only):
            continue
        later = next((t for t in segs[i + 1:] if t.is_static and not t.append_only), None)
        if later is not None:
            return [Diagnostic(
                "W312", f"plan `{plan.name}`: append-only memory `{s.id}` comes before static `{later.id}`: every "
                        f"appended entry re-writes `{later.id}` to the cache", _span(plan.source),
                f"place `{s.id}` after `{later.id}` in plan `{plan.name}`", severity="warning",
                notes=(f"`{s.id}` declared at {_span(s.source)}",))]
    return []


def _is_shared(s: PlanSegment) -> bool:
    return s.level == "global" and s.stability == "static"


def shared_block_cut_on_wire(plan: Plan) -> list[Diagnostic]:
    """W313: on a target that sends tools first, a non-global tools segment goes on the wire before
    the plan's shared global block, so that block is not a prefix other plans share."""
    segs = plan.segments
    shared = []
    for s in segs:  # the shared block in plan order: the leading run of global static segments
        if not _is_shared(s):
            break
        shared.append(s)
    if not shared:
        return []
    cut: dict[str, list[str]] = {}
    for t in plan.targets:
        if not tools_first(t.name):
            continue
        order = [segs[i] for i in wire_order(t.name, segs)]
        first = next((s for s in order if not _is_shared(s)), None)
        if first is not None and order.index(first) < max(order.index(s) for s in shared):
            cut.setdefault(first.id, []).append(t.name)
    out = []
    for culprit, targets in cut.items():
        seg = next(s for s in segs if s.id == culprit)
        out.append(Diagnostic(
            "W313", f"plan `{plan.name}`: on {', '.join(targets)} the tools of `{culprit}` ({seg.level}, "
                    f"{seg.stability}) go on the wire before the shared block "
                    f"({', '.join(f'`{s.id}`' for s in shared)}): the provider "
                    "sends every tool definition first, so no other plan shares this prefix and each caches its own "
                    "copy", _span(plan.source),
            f"make `{culprit}` global (one shared tools segment every plan lists), or move its tools into a global "
            "tools segment", severity="warning"))
    return out


def plan_warnings(plans: Mapping[str, Plan], cache_limits: Mapping[str, Mapping] | None = None) -> list[Diagnostic]:
    """Every static warning for ``plans`` (token-based ones only when the plans carry token counts)."""
    out: list[Diagnostic] = []
    for plan in plans.values():
        out += no_static_prefix(plan)
        out += shared_block_below_minimum(plan, cache_limits or {})
        out += memory_before_static_block(plan)
        out += shared_block_cut_on_wire(plan)
    return out
