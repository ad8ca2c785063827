"""Annotate hashed plans with token counts per target and cache breakpoints.

For each plan and target, every static segment is counted with the target's tokenizer: for engine
targets the chat-templated message piece (role header and end marker included, exactly what the
engine tokenizes), otherwise the content. Counts come from the incremental :class:`TokenCache`;
unseen texts are encoded in one batch per tokenizer. Breakpoints follow each provider's limits
(:mod:`promptc.core.providers`, overridable in ``[tool.promptc.cache_limits]``), and W604 warns
when the static prefix is too short for a provider's cache to engage.
"""

from __future__ import annotations

from typing import Callable, Mapping

from promptc.compiler.token_cache import TokenCache, text_key
from promptc.core.errors import Diagnostic, Span
from promptc.core.providers import Target, limits_for
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


def counted_pieces(plan: Plan, target: Target, chat: ChatTemplate | None) -> list[str]:
    """The texts whose tokens count for each static segment: chat-templated message pieces for
    engine targets (``chat`` given), the content otherwise."""
    static = [s for s in plan.segments if s.is_static]
    if target.provider == "engine" and chat is not None:
        return chat.split([{"role": s.role, "content": s.content} for s in static], add_generation_prompt=False).pieces
    return [s.content for s in static]


def _span(seg: PlanSegment) -> Span:
    s = seg.source
    return Span(s.path, s.line, s.col, s.end_line, s.end_col)


def breakpoints(plan: Plan, target: Target, counts: list[int | None],
                cache_limits: Mapping[str, Mapping]) -> tuple[set[int], list[Diagnostic]]:
    """Indices of the segments after which ``target`` gets a cache breakpoint, and W604 findings."""
    limits = limits_for(target.name, cache_limits)
    segs = plan.segments
    static_end = max((i for i, s in enumerate(segs) if s.stability == "static"), default=None)
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
    candidates: list[int] = []
    if static_end is not None and static_tokens >= (limits.min_tokens or 0):
        candidates.append(static_end)
    last_global = max((i for i, s in enumerate(segs) if s.level == "global" and s.stability == "static"), default=None)
    cum, upto = 0, {}
    for i, c in enumerate(counts):
        if c is None:
            break
        cum += c
        upto[i] = cum
    if last_global is not None and last_global != static_end and upto.get(last_global, 0) >= (limits.min_tokens or 0):
        candidates.append(last_global)
    session_end = max((i for i, s in enumerate(segs) if s.stability == "session"), default=None)
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
    pieces: dict[tuple[str, str], list[str]] = {}
    by_tokenizer: dict[str, list[str]] = {}
    for name, plan in plans.items():
        for t in plan.targets:
            tok, _ = tokenizer(t.tokenizer)
            ps = counted_pieces(plan, t, chat_template(tok) if t.provider == "engine" else None)
            pieces[(name, t.name)] = ps
            by_tokenizer.setdefault(t.tokenizer, []).extend(ps)
    counted = {tok_id: count_tokens(*tokenizer(tok_id), texts)  # one batch per tokenizer
               for tok_id, texts in by_tokenizer.items()}
    out: dict[str, Plan] = {}
    for name in sorted(plans):
        plan = plans[name]
        tokens: list[dict[str, int]] = [{} for _ in plan.segments]
        prefix: list[dict[str, int]] = [{} for _ in plan.segments]
        bps: list[list[str]] = [[] for _ in plan.segments]
        for t in plan.targets:
            counts: list[int | None] = [counted[t.tokenizer][p] for p in pieces[(name, t.name)]]
            counts += [None] * (len(plan.segments) - len(counts))
            cum = 0
            for i, c in enumerate(counts):
                if c is None:
                    break
                cum += c
                tokens[i][t.name] = c
                prefix[i][t.name] = cum
            chosen, bdiags = breakpoints(plan, t, counts, cache_limits)
            diags.extend(bdiags)
            for i in chosen:
                bps[i].append(t.name)
        segs = [s.model_copy(update={"tokens": tokens[i] or None, "prefix_tokens": prefix[i] or None,
                                     "breakpoint": bps[i] or None}) for i, s in enumerate(plan.segments)]
        totals = {t.name: prefix[max((i for i, s in enumerate(plan.segments) if s.hash), default=0)].get(t.name, 0)
                  for t in plan.targets}
        out[name] = plan.model_copy(update={"segments": segs, "static_tokens": totals})
    return out, diags
