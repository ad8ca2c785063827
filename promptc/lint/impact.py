"""Impact: per plan and target, the tokens the next request re-writes instead of reading, the
provider breakpoints whose cache entries are lost, and what that costs.

Token counts are the plans' own (``tokens`` per segment and target, as ``promptc build`` computed
them): the impact of a change at position ``i`` is the plan's static prefix from segment ``i`` to
its end (minus what stays cached, for an append at the end of an append-only segment).
"""

from __future__ import annotations

from promptc.lint.classify import Change
from promptc.lint.config import LintConfig
from promptc.lint.model import Cost, PlanImpact, TargetImpact
from promptc.lint.pricing import price_for
from promptc.lint.snapshot import PlanView


def cost_of(target: str, tokens: int, config: LintConfig) -> Cost | None:
    """``tokens × input price × (write − read)`` per request, and a daily figure with a traffic
    model; None when the table has no price for ``target``."""
    price = price_for(target, config.pricing)
    if price is None or price.input is None:
        return None
    per = tokens * price.input / 1_000_000 * (price.write - price.read)
    daily = None
    if config.requests_per_day is not None:
        daily = per * min(float(config.sessions or 1), float(config.requests_per_day))
    return Cost(per_request=round(per, 6), daily=round(daily, 6) if daily is not None else None,
                price_per_mtok=price.input, write_multiplier=price.write, read_multiplier=price.read,
                pricing_key=price.key, source_date=price.source)


def plan_impact(change: Change, old: PlanView | None, new: PlanView, config: LintConfig) -> PlanImpact | None:
    """The impact of one change on its plan, or None when nothing cached is lost."""
    if change.break_at is None:
        return None
    i = change.break_at
    exact = {t.name: t.exact for t in new.targets}
    names = change.targets if change.targets is not None else tuple(exact)
    from_seg = new.segments[i].id if i < len(new.segments) else (new.segments[-1].id if new.segments else "")
    targets = []
    for t in names:
        tokens = max(0, new.static_tokens(t) - new.prefix_before(i, t) - change.keep.get(t, 0))
        lost: list[str] = []
        if old is not None:
            ob = change.old_break if change.old_break is not None else i
            lost = [s.id for s in old.segments[ob: old.static_end()] if t in s.breakpoint]
        targets.append(TargetImpact(target=t, tokens=tokens, estimate=not exact.get(t, True),
                                    breakpoints_lost=lost, cost=cost_of(t, tokens, config)))
    return PlanImpact(plan=new.name, from_segment=from_seg, targets=targets)
