"""What a change costs on the wire: per target, the prefix the provider re-writes and no longer reads.

Providers cache prefixes of what they receive, in their own serialization order (Anthropic, Bedrock
and OpenAI send every tool definition before any system text), only at prefixes that reach the
model's minimum, and only where an entry was written (a breakpoint, or every boundary for automatic
and tree caches). Lint prices a change with that model, per target:

* the wire order of each side's cached segments (:func:`wire_order`);
* the prefixes the baseline wrote (:func:`written`): its breakpoints for the target (the plan's own,
  else the end of the static prefix and of the shared global block, in wire order) whose cumulative
  tokens reach the minimum — below the minimum *nothing was cached before*;
* the longest of those that is still a prefix of the new wire (``read``; an append-only segment that
  only grew keeps the prefix through its old entries), and the new version's last written prefix
  (``end``; below the minimum *nothing will be cached after*);
* re-written tokens = ``end - read``, tokens no longer read = baseline's last written prefix - read.

The oracle for all of it is the provider simulator (tests/lint/test_oracle.py): the same numbers must
come out of a replay of the baseline's requests then the change's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from promptc.core.canonical import canonical_json
from promptc.core.providers import SPECS, limits_for, parse_target, spec_for
from promptc.core.wire import wire_order as _core_wire_order
from promptc.lint.snapshot import PlanView, SegView


def wire_order(target: str, segs: Sequence[SegView]) -> list[int]:
    """Indices of ``segs`` in the order ``target``'s provider serializes (and hashes) them."""
    return list(_core_wire_order(target, segs))


class WireCounter:
    """Token counts of what the wire carries where it differs from a plan's count: a tools segment is
    sent as the provider's tool definitions (``spec.tool_def``: Anthropic's ``input_schema`` shape,
    OpenAI's function shape), not as the plan's canonical tool list. Owned by one lint run (the
    tokenizers it loads live as long as it does)."""

    def __init__(self):
        self._tok: dict[str, object] = {}
        self._n: dict[tuple[str, str], int] = {}

    def tools_tokens(self, target: str, seg: SegView) -> int | None:
        """Tokens of ``seg``'s tool definitions on ``target``'s wire (None: the plan's count stands)."""
        if seg.tools is None or seg.hash is None:
            return None
        try:
            spec = spec_for(target)
            tok_id = parse_target(target).tokenizer
        except (KeyError, ValueError):
            return None
        if spec.tool_def is None or not tok_id or tok_id.startswith("gguf:"):
            return None
        key = (target, seg.hash)
        if key not in self._n:
            if tok_id not in self._tok:
                from promptc.tokenizers import load_tokenizer

                self._tok[tok_id] = load_tokenizer(tok_id)
            tok = self._tok[tok_id]
            self._n[key] = sum(len(tok.encode(canonical_json(spec.tool_def(t)))) for t in seg.tools)
        return self._n[key]


@dataclass(frozen=True)
class Limits:
    min_tokens: int
    mode: str  #: explicit | automatic | tree
    block_size: int | None = None
    cumulative: bool = False  #: each written checkpoint adds ``min_tokens`` to the previous one


def limits(target: str, cache_limits: Mapping[str, Mapping] | None) -> Limits:
    lim = limits_for(target, cache_limits or {})
    spec = SPECS.get(target.split("/", 1)[0])
    return Limits(lim.min_tokens or 0, lim.mode, getattr(lim, "block_size", None),
                  spec is not None and spec.cumulative_minimum)


@dataclass(frozen=True)
class Wire:
    """One side's cached prefix on one target, in wire order."""

    segs: tuple[SegView, ...]
    cum: tuple[int, ...]  #: tokens through each wire position
    marks: tuple[int, ...]  #: wire positions where entries are written (every one: automatic/tree)

    @property
    def total(self) -> int:
        return self.cum[-1] if self.cum else 0


def wire_of(plan: PlanView, target: str, lim: Limits, like: PlanView | None = None,
            counter: WireCounter | None = None) -> Wire:
    """``plan``'s cached prefix on ``target`` in wire order. A side without breakpoints (a lockfile
    records none) takes them from ``like`` (the other side) by segment id."""
    cached = list(plan.segments[: plan.static_end()])
    if like is not None:  # a lockfile records no kind or level: take them from the other side
        other = {s.id: s for s in like.segments}
        def same(s):  # the other side's segment with the same bytes (its tool list when unchanged)
            o = other.get(s.id)
            return o if o is not None and o.hash == s.hash else None

        cached = [replace(s, kind=s.kind or getattr(other.get(s.id), "kind", None),
                          level=s.level or getattr(other.get(s.id), "level", None),
                          tools=s.tools if s.tools is not None else getattr(same(s), "tools", None)) for s in cached]
    order = wire_order(target, cached)
    segs = tuple(cached[i] for i in order)
    cum, total = [], 0
    for s in segs:
        wire_n = counter.tools_tokens(target, s) if counter is not None and s.kind == "tools" else None
        total += s.tokens.get(target, 0) if wire_n is None else wire_n
        cum.append(total)
    if lim.mode in ("tree", "automatic"):
        marks = tuple(range(len(segs)))
    else:
        planned = [k for k, s in enumerate(segs) if target in s.breakpoint]
        if not planned and like is not None and not any(s.breakpoint for s in plan.segments):
            ids = {s.id for s in like.segments if target in s.breakpoint}
            planned = [k for k, s in enumerate(segs) if s.id in ids]
        if not planned and segs:  # no breakpoints known: the adapter's default ones
            last_global = max((k for k, s in enumerate(segs) if s.level == "global"), default=None)
            planned = sorted({len(segs) - 1} | ({last_global} if last_global is not None else set()))
        marks = tuple(planned)
    return Wire(segs, tuple(cum), marks)


def written(w: Wire, lim: Limits) -> list[int]:
    """Wire positions of ``w`` whose entry the provider writes (prefix at or above the minimum; on a
    cumulative target, in wire order, each at least the minimum past the previous written one)."""
    if not lim.cumulative:
        return [k for k in w.marks if w.cum[k] >= max(lim.min_tokens, 1)]
    out, prev = [], 0
    for k in w.marks:
        if w.cum[k] - prev >= max(lim.min_tokens, 1):
            out.append(k)
            prev = w.cum[k]
    return out


def _grew(old: SegView, new: SegView, lim: Limits) -> bool:
    """An append-only segment that only grew keeps the prefix through its old entries where the
    wire carries its entries as separate blocks (tool definitions on an explicit cache) or the cache
    matches any boundary (tree, automatic); a memory is one text block: its old entry is gone."""
    o, n = old.entries, new.entries
    if o is None or n is None or len(n) <= len(o) or n[: len(o)] != o:
        return False
    return lim.mode in ("tree", "automatic") or new.kind == "tools"


def still_prefix(old: Wire, new: Wire, k: int, lim: Limits, *, stop: int | None = None) -> bool:
    """Whether ``old``'s prefix through wire position ``k`` is still a prefix of ``new``. With
    ``stop`` (the wire position of one change), only that change counts: positions before it are
    taken as unchanged."""
    if k >= len(new.segs):
        return False
    if stop is not None:
        if k < stop:
            return True
        return k == stop and _grew(old.segs[k], new.segs[k], lim)
    for j in range(k):
        if old.segs[j].hash != new.segs[j].hash:
            return False
    return old.segs[k].hash == new.segs[k].hash or _grew(old.segs[k], new.segs[k], lim)


def _floor_block(tokens: int, lim: Limits) -> int:
    if lim.mode != "automatic" or not lim.block_size or tokens < lim.min_tokens:
        return tokens
    return lim.min_tokens + (tokens - lim.min_tokens) // lim.block_size * lim.block_size


@dataclass(frozen=True)
class WireLoss:
    """What one target's next request does after the change."""

    read: int  #: tokens still read from the cache
    write: int  #: tokens written (re-written) to the cache
    was_read: int  #: tokens the baseline's next request would have read
    end: int  #: the new version's last written prefix (0: nothing will be cached)
    lost_marks: tuple[str, ...]  #: segments whose written entry is no longer read
    lost_segments: tuple[str, ...] = ()  #: baseline segments whose cached tokens are no longer read

    @property
    def lost(self) -> int:
        """Cached tokens no longer read."""
        return max(0, self.was_read - self.read)


def loss(old: Wire | None, new: Wire, lim: Limits, *, old_stop: int | None = None) -> WireLoss:
    """The next request of ``new`` after ``old`` was warm (see the module docstring)."""
    new_w = written(new, lim)
    end = _floor_block(new.cum[new_w[-1]], lim) if new_w else 0
    if old is None:
        return WireLoss(0, end, 0, end, ())
    old_w = written(old, lim)
    was = _floor_block(old.cum[old_w[-1]], lim) if old_w else 0
    valid = [k for k in old_w if still_prefix(old, new, k, lim, stop=old_stop)]
    read = _floor_block(old.cum[valid[-1]], lim) if valid else 0
    if old_stop is not None and old_stop >= len(old.segs):
        read = was
    if not new_w and lim.mode == "explicit":  # no breakpoint reaches the minimum: nothing is read either
        read = 0
    read = min(read, end) if end else min(read, new.total)
    lost = tuple(old.segs[k].id for k in old_w if k not in valid) if lim.mode == "explicit" else ()
    gone = tuple(s.id for k, s in enumerate(old.segs) if old.cum[k] > read and (old.cum[k - 1] if k else 0) < was)
    return WireLoss(read, max(0, end - read), was, end, lost, gone)


def position(w: Wire, seg_id: str | None) -> int | None:
    return next((k for k, s in enumerate(w.segs) if s.id == seg_id), None)
