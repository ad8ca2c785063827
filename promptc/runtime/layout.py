"""Where cache breakpoints go: provider-neutral candidates, then each provider's limits.

A breakpoint marks the end of a stable run of segments. Candidates, in priority order:

1. the plan's own breakpoints for this target (``RequestSegment.breakpoint``), when the plan was
   compiled for it; otherwise the same rule the compiler applies: the end of the static prefix, the
   end of the shared global prefix, the end of the session segments;
2. the end of the growing history (a turn-level append-only segment) when a slot is left: the next
   turn re-reads it.

:func:`place` then walks the provider's render order (its spec's wire order) and drops a candidate whose cumulative prefix
is below the model's minimum (the provider would silently ignore it), keeps at most
``max_breakpoints``, and gives marks on static/session segments the long TTL only while no
short-TTL mark precedes them (providers require 1h before 5m).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from promptc.core.wire import wire_last, wire_order
from promptc.plan import Request, RequestSegment


@dataclass(frozen=True)
class Candidate:
    """A wanted breakpoint after segment ``index``; ``stable`` marks get the configured retention."""

    index: int
    reason: str  # "plan", "static", "global", "session", "history"
    stable: bool


@dataclass(frozen=True)
class Mark:
    """A placed breakpoint: after segment ``index`` (its id), with ``ttl`` class and prefix tokens."""

    index: int
    segment: str
    reason: str
    long: bool
    prefix_tokens: int


def _leading_run(order: Sequence[int], segs: Sequence[RequestSegment], pred: Callable[[RequestSegment], bool]) -> list[int]:
    """The indices at the start of the wire ``order`` while ``pred`` holds."""
    out: list[int] = []
    for i in order:
        if not pred(segs[i]):
            break
        out.append(i)
    return out


def _is_static(s: RequestSegment) -> bool:
    return s.stability == "static"


def _is_global(s: RequestSegment) -> bool:
    return s.stability == "static" and s.level == "global"


def candidates(request: Request, target: str) -> list[Candidate]:
    """Wanted breakpoints for ``request`` on ``target``, highest priority first (see module doc).

    Positions are in ``target``'s wire order (:func:`promptc.core.wire.wire_order`): the shared
    block ends at the wire's leading run of global static segments (on a tools-first provider the
    tools come first whatever the plan's order), and a plan breakpoint compiled on a global segment
    inside that run (an older plan measured in plan order) moves to the run's end, where the wire
    prefix is really shared."""
    segs = request.segments
    order = wire_order(target, segs)
    glob = _leading_run(order, segs, _is_global)
    static = _leading_run(order, segs, _is_static)
    planned = [i for i, s in enumerate(segs) if s.breakpoint and target in s.breakpoint]
    out: list[Candidate] = []
    if planned:
        for i in planned:
            if i in glob and static and i != static[-1]:
                i = glob[-1]
            if all(c.index != i for c in out):
                out.append(Candidate(i, "plan", True))
    else:
        session = wire_last(target, segs, [i for i, s in enumerate(segs) if s.stability == "session"])
        for idx, reason in ((static[-1] if static else None, "static"), (glob[-1] if glob else None, "global"),
                            (session, "session")):
            if idx is not None and all(c.index != idx for c in out):
                out.append(Candidate(idx, reason, True))
    hist = max((i for i, s in enumerate(segs) if s.kind == "history" and s.stability == "turn"), default=None)
    if hist is not None and all(c.index < hist for c in out):
        out.append(Candidate(hist, "history", False))
    return out


def in_render_order(wanted: Sequence[Candidate], order: Sequence[int], segs: Sequence[RequestSegment],
                    markable: Callable[[int], bool] = lambda i: True) -> list[Candidate]:
    """Re-anchor the ``static`` and ``global`` candidates on the last markable segment of the
    provider's leading run of such segments *as it renders them* (Anthropic renders tools first, so
    the global prefix ends at the last global system block, not at the tools segment; OpenAI cannot
    mark a tool definition); other candidates on unmarkable segments are dropped."""
    runs = {"static": _leading_run(order, segs, _is_static), "global": _leading_run(order, segs, _is_global)}
    out: list[Candidate] = []
    for c in wanted:
        idx: int | None = c.index
        run = runs.get(c.reason)
        if run is None and c.reason == "plan" and c.index in runs["global"]:
            run = runs["global"][: runs["global"].index(c.index) + 1]
        if run is not None:
            idx = next((i for i in reversed(run) if markable(i)), None)
        if idx is not None and markable(idx) and all(o.index != idx for o in out):
            out.append(Candidate(idx, c.reason, c.stable))
    return out


def place(order: Sequence[int], counts: Sequence[int], wanted: Sequence[Candidate], *, min_tokens: int | None,
          max_breakpoints: int, long_ttl: bool, eligible: Callable[[int], bool] = lambda i: True) -> list[Mark]:
    """Marks in render order. ``order`` lists segment indices as the provider renders them and
    ``counts`` their token counts (same positions); ``eligible`` says whether a segment's last block
    may carry a marker (never empty text)."""
    if max_breakpoints <= 0:
        return []
    cum: dict[int, int] = {}
    total = 0
    for i, n in zip(order, counts):
        total += n
        cum[i] = total
    keep = [c for c in wanted if c.index in cum and eligible(c.index) and cum[c.index] >= (min_tokens or 0)]
    keep = keep[:max_breakpoints]
    pos = {i: p for p, i in enumerate(order)}
    keep.sort(key=lambda c: pos[c.index])
    marks: list[Mark] = []
    short_seen = False
    for c in keep:
        is_long = long_ttl and c.stable and not short_seen
        short_seen = short_seen or not is_long
        marks.append(Mark(c.index, "", c.reason, is_long, cum[c.index]))
    return marks


class TokenCounter:
    """Counts a segment's tokens for a target: the plan's count when it has one, else the target's
    tokenizer (a proxy for providers whose tokenizer is not public), cached by segment hash.

    Owned by a client; the tokenizer loads on first use unless a loaded ``tokenizer`` is given.
    """

    def __init__(self, tokenizer_id: str = "o200k_base", tokenizer=None):
        self.tokenizer_id = tokenizer_id
        self._tok = tokenizer
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()  # threads sharing a client load the tokenizer once

    def count(self, seg: RequestSegment, target: str) -> int:
        if seg.tokens and target in seg.tokens:
            return seg.tokens[target]
        n = self._counts.get(seg.hash)
        if n is None:
            with self._lock:
                if self._tok is None:
                    from promptc.tokenizers import load_tokenizer

                    self._tok = load_tokenizer(self.tokenizer_id)
            n = len(self._tok.encode(seg.content)) if seg.content else 0
            self._counts[seg.hash] = n
        return n
