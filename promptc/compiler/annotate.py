"""Annotate hashed plans with token counts per target and cache breakpoints.

For each plan and target, every static segment is counted with the target's tokenizer: for engine
targets the chat-templated message piece (role header and end marker included, exactly what the
engine tokenizes), otherwise the content. Counts come from the incremental :class:`TokenCache`;
unseen texts are encoded in one batch per tokenizer. Breakpoints follow each provider's limits
(:mod:`promptc.core.providers`, overridable in ``[tool.promptc.cache_limits]``), and W604 warns
when the static prefix is too short for a provider's cache to engage. Prefix lengths and breakpoints
are per target *in that target's wire order* (:mod:`promptc.core.wire`): most providers send tool
definitions before any system text, whatever the plan's order.
"""

from __future__ import annotations

from typing import Callable, Mapping

from promptc.compiler.token_cache import TokenCache, text_key
from promptc.core.errors import Diagnostic, Span
from promptc.core.providers import Target, limits_for, spec_for
from promptc.core.wire import tool_texts, wire_last, wire_order, wire_prefix_tokens
from promptc.plan import Plan, PlanSegment
from promptc.tokenizers.base import Tokenizer
from promptc.tokenizers.chat import ChatTemplate


def count_tokens(tok: Tokenizer, cache: TokenCache, texts: list[str]) -> dict[str, int]:
    """Token counts of each distinct text; unseen texts are encoded in one batch and cached."""
    out, todo = {}, []
    for t in dict.fromkeys(texts):
        n = cache.count(text_key(t))
        if n is None:
            todo.append(t)
        else:
            out[t] = n
    if todo:
        for t, ids in zip(todo, tok.encode_batch(todo)):
            out[t] = len(ids)
            cache.put(text_key(t), len(ids))
    return out


def counted_pieces(plan: Plan, target: Target, chat: ChatTemplate | None) -> list[list[str]]:
    """The texts whose tokens count for each static segment: chat-templated message pieces for
    engine targets (``chat`` given); for a tools segment, each tool definition as the target's wire
    carries it (:func:`promptc.core.wire.tool_texts`); the content otherwise."""
    static = [s for s in plan.segments if s.is_static]
    if chat is not None and spec_for(target.name).counts_chat_template:
        return [[p] for p in chat.split([{"role": s.role, "content": s.content} for s in static],
                                         add_generation_prompt=False).pieces]
    out = []
    for s in static:
        texts = tool_texts(target.name, s.tools or []) if s.kind == "tools" else None
        out.append(texts if texts is not None else [s.content])
    return out


def _span(seg: PlanSegment) -> Span:
    s = seg.source
    return Span(s.path, s.line, s.col, s.end_line, s.end_col)


def wire_global_end(plan: Plan, target: Target) -> int | None:
    """The plan index that ends the shared block *on the wire*: the longest run of global static
    segments at the start of ``target``'s wire order (None when the wire starts elsewhere)."""
    last = None
    for i in wire_order(target.name, plan.segments):
        s = plan.segments[i]
        if not (s.level == "global" and s.stability == "static"):
            break
        last = i
    return last


def breakpoints(plan: Plan, target: Target, counts: list[int | None],
                cache_limits: Mapping[str, Mapping]) -> tuple[set[int], list[Diagnostic]]:
    """Indices of the segments after which ``target`` gets a cache breakpoint, and W604 findings.

    Everything is measured in ``target``'s wire order (:mod:`promptc.core.wire`): the static prefix
    ends at the last static segment the wire carries before any non-static one, the shared block at
    the end of the wire's leading run of global static segments, and a breakpoint is kept only where
    the cumulative *wire* prefix reaches the model's minimum."""
    limits = limits_for(target.name, cache_limits)
    segs = plan.segments
    order = wire_order(target.name, segs)
    upto_list = wire_prefix_tokens(target.name, segs, counts)
    upto = {i: n for i, n in enumerate(upto_list) if n is not None}
    static_idx = [i for i in order if i in upto and segs[i].stability == "static"]
    static_end = static_idx[-1] if static_idx else None
    diags: list[Diagnostic] = []
    static_tokens = sum(c for c in counts if c is not None)
    if limits.mode == "tree":
        return set(), diags
    if static_end is not None and limits.min_tokens and static_tokens < limits.min_tokens:
        how = "breakpoint" if limits.mode == "explicit" else "automatic prefix cache"
        diags.append(Diagnostic(
            "W604", f"plan `{plan.name}`: the static prefix ({static_tokens} tokens"
            f"{'' if target.tokenizer_exact else ' (estimated with ' + target.tokenizer + ')'} through `{segs[static_end].id}`) is "
            f"below {target.name}'s minimum of {limits.min_tokens} cacheable tokens; the {how} will silently not engage",
            _span(segs[static_end]), f"grow the shared static prefix, or accept that {target.name} will not cache it "
            f"(limits from {limits.source}; override in pyproject.toml [tool.promptc.cache_limits])", severity="warning"))
    if limits.mode != "explicit" or limits.max_breakpoints == 0:
        return set(), diags
    minimum = limits.min_tokens or 0
    candidates: list[int] = []
    if static_end is not None and upto.get(static_end, 0) >= minimum:
        candidates.append(static_end)
    last_global = wire_global_end(plan, target)
    if last_global is not None and last_global != static_end and upto.get(last_global, 0) >= minimum:
        candidates.append(last_global)
    session_end = wire_last(target.name, segs, [i for i, s in enumerate(segs) if s.stability == "session"])
    if session_end is not None:
        candidates.append(session_end)
    return set(sorted(set(candidates), key=candidates.index)[: limits.max_breakpoints]), diags


def annotate_plans(plans: dict[str, Plan], tokenizer: Callable[[str], tuple[Tokenizer, TokenCache]],
                   chat_template: Callable[[Tokenizer], ChatTemplate],
                   cache_limits: Mapping[str, Mapping]) -> tuple[dict[str, Plan], list[Diagnostic]]:
    """Set ``tokens``, ``prefix_tokens`` and ``breakpoint`` on every segment and ``static_tokens``
    on every plan. ``tokenizer(id)`` gives a tokenizer and its cache; ``chat_template(tok)`` the
    template engine targets are counted through."""
    diags: list[Diagnostic] = []
    pieces: dict[tuple[str, str], list[list[str]]] = {}
    by_tokenizer: dict[str, list[str]] = {}
    for name, plan in plans.items():
        for t in plan.targets:
            tok, _ = tokenizer(t.tokenizer)
            ps = counted_pieces(plan, t, chat_template(tok) if spec_for(t.name).counts_chat_template else None)
            pieces[(name, t.name)] = ps
            by_tokenizer.setdefault(t.tokenizer, []).extend(x for p in ps for x in p)
    counted = {tok_id: count_tokens(*tokenizer(tok_id), texts)  # one batch per tokenizer
               for tok_id, texts in by_tokenizer.items()}
    out: dict[str, Plan] = {}
    for name in sorted(plans):
        plan = plans[name]
        tokens: list[dict[str, int]] = [{} for _ in plan.segments]
        prefix: list[dict[str, int]] = [{} for _ in plan.segments]
        bps: list[list[str]] = [[] for _ in plan.segments]
        for t in plan.targets:
            counts: list[int | None] = [sum(counted[t.tokenizer][x] for x in p) for p in pieces[(name, t.name)]]
            counts += [None] * (len(plan.segments) - len(counts))
            for i, c in enumerate(counts):
                if c is None:
                    break
                tokens[i][t.name] = c
            # prefix lengths in the target's wire order (tools first on most providers)
            for i, n in enumerate(wire_prefix_tokens(t.name, plan.segments, counts)):
                if n is not None:
                    prefix[i][t.name] = n
            chosen, bdiags = breakpoints(plan, t, counts, cache_limits)
            diags.extend(bdiags)
            for i in chosen:
                bps[i].append(t.name)
        segs = [s.model_copy(update={"tokens": tokens[i] or None, "prefix_tokens": prefix[i] or None,
                                     "breakpoint": bps[i] or None}) for i, s in enumerate(plan.segments)]
        totals = {t.name: max((p.get(t.name, 0) for p in prefix), default=0) for t in plan.targets}
        out[name] = plan.model_copy(update={"segments": segs, "static_tokens": totals})
    return out, diags
