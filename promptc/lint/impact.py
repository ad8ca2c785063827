"""Impact: per plan and target, what the next request re-writes instead of reading, which provider
breakpoints' entries are lost, and what that costs — in the target's wire order, above its minimum,
at the write price of the retention in force (the wire model is :mod:`promptc.lint.wire`).

Token counts are the plans' own per-target counts. Two figures per target: ``tokens`` (written on the
next request) and ``lost`` (cached tokens no longer read). A change breaks a plan on a target when
``lost > 0``; below the minimum on the baseline side nothing was cached, so nothing is lost.
"""

from __future__ import annotations

from promptc.core.providers import ttl_name
from promptc.lint import wire
from promptc.lint.classify import Change
from promptc.lint.config import LintConfig
from promptc.lint.model import Cost, PlanImpact, TargetImpact
from promptc.lint.pricing import break_cost, price_for
from promptc.lint.snapshot import PlanView


def ttl_for(target: str, retention: str) -> str:
    """The cache-write TTL ``retention`` buys on ``target`` (the provider's spec; ``long`` is the
    1-hour write on Anthropic and Bedrock)."""
    try:
        name = ttl_name(target, retention)
    except (KeyError, ValueError):
        name = None
    return name or ("1h" if retention == "long" else "5m")


def _write_multiplier(target: str, ttl: str, config: LintConfig, default: float) -> float:
    if ttl == "5m":
        return default
    from promptc.core.prices import price_for as row_for

    row = row_for(target, config.pricing)
    try:
        return float(row.write_multiplier(ttl)) if row is not None and row.write else default
    except (AttributeError, TypeError, ValueError):
        return default


def cost_of(target: str, tokens: int, config: LintConfig, *, lost_reads: int = 0, ttl: str = "5m",
            rewritten: bool = False) -> Cost | None:
    """``tokens × input price × (write − read)`` for the re-written tokens, plus ``lost_reads × input ×
    (1 − read)`` for cached tokens no longer cached at all; a daily figure with a traffic model. None
    when no price is known for ``target``."""
    price = price_for(target, config.pricing)
    if price is None or price.input is None:
        return None
    write = _write_multiplier(target, ttl, config, price.write)
    # priced by the one function (promptc.core.prices.cost_of, through lint.pricing.break_cost)
    per = break_cost(target, tokens, config.pricing, ttl=ttl, lost_reads=lost_reads, rewritten=rewritten) or 0.0
    daily = None
    if config.requests_per_day is not None:
        daily = per * min(float(config.sessions or 1), float(config.requests_per_day))
    return Cost(per_request=round(per, 6), daily=round(daily, 6) if daily is not None else None,
                price_per_mtok=price.input, write_multiplier=write, read_multiplier=price.read,
                pricing_key=price.key, source_date=price.source, ttl=ttl)


def _old_stop(old_w: wire.Wire, new_w: wire.Wire, new: PlanView, change: Change) -> int:
    """The wire position (baseline side) of one change: every baseline segment before it is taken
    as unchanged (what this change alone loses)."""
    i = change.break_at or 0
    sid = new.segments[i].id if i < len(new.segments) else None
    p = wire.position(new_w, sid)
    head = new_w.segs[: len(new_w.segs) if p is None else p]
    ids, hashes = {s.id for s in head}, {s.hash for s in head}
    if change.code in ("E911",):
        return 0
    return next((k for k, s in enumerate(old_w.segs) if s.id not in ids and s.hash not in hashes), len(old_w.segs))


def _common(target: str, lim: wire.Limits, counter: wire.WireCounter | None) -> wire.Common | None:
    """How much of a changed segment the target's cache still matches (its wire's token ids)."""
    if counter is None:
        return None
    return lambda a, b: counter.common_tokens(target, a, b, token_level=lim.token_level)


def target_impact(target: str, old: PlanView | None, new: PlanView, config: LintConfig, *,
                  change: Change | None = None, exact: bool = True,
                  counter: wire.WireCounter | None = None) -> TargetImpact:
    """What ``new``'s next request on ``target`` loses against a warm ``old`` (one ``change`` of it,
    or the whole plan when None)."""
    lim = wire.limits(target, config.cache_limits)
    new_w = wire.wire_of(new, target, lim, counter=counter)
    olds = {t.name for t in old.targets} if old is not None else set()
    fresh = old is None or target not in olds or (change is not None and change.code == "E911")
    old_w = wire.wire_of(old, target, lim, like=new, counter=counter) if old is not None and target in olds else None
    if fresh:
        res = wire.loss(None, new_w, lim)
        # a new model or tokenizer: everything the old target cached is gone, all of it is written again
        res = wire.WireLoss(0, res.write, res.end if change is not None and change.code == "E911" else 0, res.end, ())
    else:
        stop = _old_stop(old_w, new_w, new, change) if change is not None else None
        res = wire.loss(old_w, new_w, lim, old_stop=stop, common=_common(target, lim, counter))
    notes = []
    if old_w is not None and not wire.written(old_w, lim) and old_w.segs:
        notes.append(f"nothing was cached before on {target}: the baseline's prefix is below its minimum of "
                     f"{lim.min_tokens} tokens")
    if res.end == 0 and res.was_read:
        notes.append(f"nothing will be cached after on {target}: the new prefix is below its minimum of "
                     f"{lim.min_tokens} tokens; every request pays the full input price")
    retention = config.retention_for(new.name)
    ttl = ttl_for(target, retention)
    # nothing cached any more, or a wire that reports no writes: the tokens no longer read pay full price
    lost_reads = res.lost if res.end == 0 or not lim.writes_reported else 0
    return TargetImpact(target=target, tokens=res.write, lost=res.lost, read=res.read, estimate=not exact,
                        lost_segments=list(res.lost_segments) if res.lost else [],
                        breakpoints_lost=list(res.lost_marks), notes=notes,
                        cost=cost_of(target, res.write if res.lost else 0, config, lost_reads=lost_reads, ttl=ttl,
                                     rewritten=res.end > 0 and not lim.writes_reported)
                        if retention != "none" else None)


def plan_impact(change: Change, old: PlanView | None, new: PlanView, config: LintConfig,
                counter: wire.WireCounter | None = None) -> PlanImpact | None:
    """The impact of one change on its plan, or None when the change cannot lose a cached prefix."""
    if change.break_at is None:
        return None
    i = change.break_at
    exact = {t.name: t.exact for t in new.targets}
    names = change.targets if change.targets is not None else tuple(exact)
    from_seg = new.segments[i].id if i < len(new.segments) else (new.segments[-1].id if new.segments else "")
    targets = [target_impact(t, old, new, config, change=change, exact=exact.get(t, True), counter=counter)
               for t in names]
    return PlanImpact(plan=new.name, from_segment=from_seg, targets=targets)


def whole_plan_impact(old: PlanView | None, new: PlanView, config: LintConfig,
                      counter: wire.WireCounter | None = None) -> dict[str, TargetImpact]:
    """Per target: what the plan's next request loses, every change of it together."""
    return {t.name: target_impact(t.name, old, new, config, exact=t.exact, counter=counter) for t in new.targets}


def totals(old_plans: dict[str, PlanView], new_plans: dict[str, PlanView], names: list[str],
           config: LintConfig, counter: wire.WireCounter | None = None) -> dict[str, tuple[int, float | None]]:
    """Per target: tokens written and extra cost of the next request of every plan in ``names``, in
    that order, as the wire counts them: a prefix one plan re-writes is read by the next plan whose
    wire starts with the same bytes (entries are keyed by prefix content, not by plan)."""
    out: dict[str, tuple[int, float | None]] = {}
    targets = sorted({t.name for n in names for t in new_plans[n].targets})
    for target in targets:
        lim = wire.limits(target, config.cache_limits)
        if lim.mode == "automatic":
            out[target] = _automatic_totals(target, lim, old_plans, new_plans, names, config, counter)
            continue
        fresh_entries: set[tuple] = set()  # prefixes written by earlier plans of this pass
        tokens, cost, priced = 0, 0.0, False
        for name in names:
            new = new_plans[name]
            if target not in {t.name for t in new.targets}:
                continue
            imp = target_impact(target, old_plans.get(name), new, config, counter=counter)
            new_w = wire.wire_of(new, target, lim, counter=counter)
            marks = wire.written(new_w, lim)
            keys = {k: tuple(s.hash for s in new_w.segs[: k + 1]) for k in marks}
            shared = max((new_w.cum[k] for k in marks if keys[k] in fresh_entries), default=0)
            read = max(imp.read, min(shared, imp.read + imp.tokens))
            write = imp.tokens - (read - imp.read)
            lost = max(0, imp.read + imp.lost - read)  # what the baseline read, less what is read now
            fresh_entries.update(keys[k] for k in marks if new_w.cum[k] > imp.read)
            tokens += write
            c = cost_of(target, write if lost else 0, config,
                        lost_reads=lost if write == 0 and lost else 0,  # reads less, writes nothing
                        ttl=ttl_for(target, config.retention_for(name)))
            if c is not None:
                cost, priced = cost + c.per_request, True
        out[target] = (tokens, round(cost, 6) if priced else None)
    return out


def _automatic_totals(target: str, lim: wire.Limits, old_plans: dict[str, PlanView], new_plans: dict[str, PlanView],
                      names: list[str], config: LintConfig,
                      counter: wire.WireCounter | None) -> tuple[int, float | None]:
    """:func:`totals` on an automatic cache: each plan's next request reads the longest prefix any
    earlier request left (every baseline plan's, then the changed plans' before it, under the same
    cache key); nothing is reported written; each plan pays its tokens no longer read uncached."""
    common = _common(target, lim, counter)
    has = lambda p: p is not None and target in {t.name for t in p.targets}  # noqa: E731
    sources = [wire.wire_of(p, target, lim, like=new_plans.get(n), counter=counter)
               for n, p in sorted(old_plans.items()) if has(p)]
    cost, priced = 0.0, False
    for name in names:
        new = new_plans[name]
        if not has(new):
            continue
        new_w = wire.wire_of(new, target, lim, counter=counter)
        old = old_plans.get(name)
        was = lim.floor(wire.wire_of(old, target, lim, like=new, counter=counter).total) if has(old) else 0
        read = max((lim.floor(wire.common_prefix(src, new_w, lim, common)) for src in sources), default=0)
        sources.append(new_w)
        lost = max(0, was - read)
        c = cost_of(target, 0, config, lost_reads=lost, ttl=ttl_for(target, config.retention_for(name)),
                    rewritten=lim.floor(new_w.total) > 0)  # the new prefix is written again (Kimi bills it)
        if c is not None:
            cost, priced = cost + c.per_request, True
    return 0, (round(cost, 6) if priced else None)
