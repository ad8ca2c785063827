"""Explaining observed requests: link each one to its conversation, say why it missed, price the miss.

:class:`Observer` is the state one proxy (or one instrumented client) owns. For each finished
exchange it:

1. links the request to the earlier request it shares the longest segment prefix with (ties: more
   segments in common anywhere, then the most recent), inside a bounded memory of recent requests;
   that request's ``plan`` label (the agent) carries over, a new conversation gets a new label;
2. computes what the earlier request made cacheable: its furthest breakpoint whose prefix reaches
   the model's minimum (Anthropic's and gpt-5.6+'s markers, the implicit last-block breakpoint of
   gpt-5.6+, and every segment boundary for automatic caching), in estimated tokens;
3. when the provider read more than the tolerance less than that, names the cause, in order:
   ``model_changed``; ``cache_key_changed`` (a different ``prompt_cache_key``); the first segment
   that changed — ``tools_reordered`` when the tool set is the same in another order,
   ``marker_after_volatile`` when the unchanged prefix before it reached the minimum but carried no
   marker, else ``segment_changed`` — with a byte-level excerpt of the change and what it looks like
   (a time, a date, a uuid, a counter); ``ttl_expired`` (the gap since the prefix was last used is
   longer than the TTL that was sent); ``below_minimum``; else ``provider_side`` ("no explanation on
   the wire");
4. prices the request and the miss: ``miss_cost`` = the request's cost minus its cost had the
   missed tokens been read (both through :func:`promptc.core.prices.price_for` and
   :func:`promptc.runtime.cost.cost_of`; ``None`` when the model is unpriced).

The record it returns is a promptc trace record (:mod:`promptc.runtime.trace`): ``promptc trace
stats`` and ``promptc report --trace`` read it unchanged; the observer's own details are under the
``observe`` key. Provider facts (minimums, TTLs) come from :mod:`promptc.core.providers` and
:func:`promptc.core.providers.ttl_lifetime` / ``ttl_seconds``; nothing here restates them.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from promptc.core.prices import price_for
from promptc.core.providers import limits_for, tokenizer_for, ttl_lifetime, ttl_seconds
from promptc.observe.wire import WireRequest, WireSegment, usage_of
from promptc.runtime.cost import cost_of
from promptc.runtime.trace import TOLERANCE
from promptc.runtime.usage import Usage
from promptc.tokenizers import TokenizerRegistry

#: How many recent requests the observer remembers for linking, and how many bytes of their segment
#: texts at most (bounded memory: the oldest are forgotten first).
MEMORY = 512
MEMORY_BYTES = 64 << 20
#: Characters of context on each side of a change in an excerpt, and the most shown per side.
EXCERPT_CONTEXT = 24
EXCERPT_MAX = 160
#: Bytes of each segment kept in a trace record without --record-bodies.
SEGMENT_EXCERPT = 80

VOLATILE = [
    ("uuid", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("timestamp", re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2})?")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}")),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b")),
    ("counter", re.compile(r"\d+")),
]


def classify(old: str, new: str) -> str | None:
    """What a changed value looks like: ``uuid``, ``timestamp``, ``date``, ``time``, ``counter`` (or None)."""
    for name, rx in VOLATILE:
        if rx.search(new) and rx.search(old):
            return name
    return None


def excerpt(old: str, new: str) -> dict[str, Any]:
    """Where two texts first differ (character offset and UTF-8 byte offset) and a bounded excerpt of
    each side around the change, widened to whole volatile values (a clock value, a uuid)."""
    p = 0
    n = min(len(old), len(new))
    while p < n and old[p] == new[p]:
        p += 1
    s = 0
    while s < n - p and old[len(old) - 1 - s] == new[len(new) - 1 - s]:
        s += 1
    a, b_old, b_new = p, len(old) - s, len(new) - s
    # widen to the token-ish run around the change (digits, letters, :, -, .) so "12:01" shows whole
    while a > 0 and (old[a - 1].isalnum() or old[a - 1] in ":-.T"):
        a -= 1
    while b_old < len(old) and b_new < len(new) and (old[b_old].isalnum() or old[b_old] in ":-.") and \
            old[b_old] == new[b_new]:
        b_old += 1
        b_new += 1
    changed_old, changed_new = old[a:b_old], new[a:b_new]
    lo = max(0, a - EXCERPT_CONTEXT)

    def side(text: str, end: int) -> str:
        out = ("…" if lo else "") + text[lo:end + EXCERPT_CONTEXT]
        if end + EXCERPT_CONTEXT < len(text):
            out += "…"
        return out[:EXCERPT_MAX]

    return {"offset": p, "byte_offset": len(old[:p].encode("utf-8")), "before": side(old, b_old),
            "after": side(new, b_new), "old_value": changed_old[:EXCERPT_MAX], "new_value": changed_new[:EXCERPT_MAX],
            "looks_like": classify(changed_old, changed_new)}


@dataclass
class _Seen:
    """What the observer remembers of one request (in memory only; the trace holds hashes)."""

    n: int
    plan: str
    target: str
    model: str
    cache_key: str | None
    ts: float
    segments: list[WireSegment]
    tokens: list[int]  # cumulative estimated tokens per segment
    breakpoints: list[tuple[int, str]]  # (segment index, ttl name) of what this request made cacheable
    mode: str


@dataclass
class Observer:
    """The observer's state: remembered requests, labels, token counts. One per proxy or client.

    ``cache_limits`` overrides the provider table's minimums (a project's ``[tool.promptc.cache_limits]``);
    ``prices`` overrides prices (``[tool.promptc.prices]``); ``clock`` is injectable; ``record_bodies``
    stores whole segment texts in the trace (off: hashes and ``SEGMENT_EXCERPT``-character excerpts)."""

    cache_limits: Mapping[str, Mapping] | None = None
    prices: Mapping[str, Mapping] | None = None
    clock: Callable[[], float] = time.time
    record_bodies: bool = False
    memory: int = MEMORY
    tokenizers: TokenizerRegistry = field(default_factory=TokenizerRegistry)
    _seen: "OrderedDict[int, _Seen]" = field(default_factory=OrderedDict)
    _counts: "OrderedDict[tuple[str, str], int]" = field(default_factory=OrderedDict)
    _n: int = 0
    _bytes: int = 0
    _agents: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _order: threading.Condition = field(default_factory=threading.Condition)
    _open: set = field(default_factory=set)
    _ticket: int = 0

    # -- tokens ----------------------------------------------------------------------------------
    def _count(self, provider: str, model: str, seg: WireSegment) -> int:
        tok_id = tokenizer_for(provider, model)[0]
        key = (tok_id, seg.hash)
        with self._lock:
            n = self._counts.get(key)
        if n is None:
            n = len(self.tokenizers.get(tok_id).encode(seg.text)) if seg.text else 0
            with self._lock:
                self._counts[key] = n
                if len(self._counts) > 16 * self.memory:
                    self._counts.popitem(last=False)
        return n

    # -- the main entry point ------------------------------------------------------------------------
    def begin(self) -> tuple[int, float]:
        """A ticket for a request that just arrived, and the time it arrived: records are explained in
        arrival order, so a request is linked to the one sent before it even when that one's
        response finished later (an SDK may close a stream before its last byte)."""
        with self._order:
            self._ticket += 1
            self._open.add(self._ticket)
            return self._ticket, self.clock()

    def abandon(self, ticket: int) -> None:
        """A ticket whose exchange will never be explained (not a model call, or it failed early)."""
        with self._order:
            self._open.discard(ticket)
            self._order.notify_all()

    def explain(self, req: WireRequest, *, status: int, raw_usage: dict[str, Any] | None,
                reply_model: str | None, latency_s: float, path: str, error: dict[str, Any] | None = None,
                label: str | None = None, request_id: str | None = None, stream_complete: bool | None = None,
                ticket: int | None = None, started: float | None = None, order_wait_s: float = 0.0,
                sink: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """The trace record of one finished exchange (and remember the request), passed to ``sink``
        (the trace writer). With a ``ticket`` (:meth:`begin`), wait up to ``order_wait_s`` for the
        requests that arrived before it, so records are explained and written in arrival order."""
        if ticket is not None:
            with self._order:
                if not self._order.wait_for(lambda: min(self._open, default=ticket) >= ticket, timeout=order_wait_s):
                    # an earlier exchange is still streaming (or will never finish: a client that went away
                    # before its body started): stop waiting for it, now and for every later record
                    self._open.difference_update({t for t in self._open if t < ticket})
        try:
            rec = self._explain(req, status, raw_usage, reply_model, latency_s, path, error, label, request_id,
                                stream_complete, started)
            if sink is not None:
                sink(rec)
            return rec
        finally:
            if ticket is not None:
                self.abandon(ticket)

    def _explain(self, req, status, raw_usage, reply_model, latency_s, path, error, label, request_id,
                 stream_complete, started) -> dict[str, Any]:
        now = self.clock() if started is None else started
        target = req.target
        limits = limits_for(target, self.cache_limits)
        minimum = limits.min_tokens or 0
        mode = limits.mode
        if req.provider == "gemini":  # implicit caching is automatic; a cachedContent request reads an object
            mode = "object" if req.extra.get("cached_content") else "automatic"
        cum: list[int] = []
        total = 0
        for s in req.segments:
            total += self._count(req.provider, req.model, s)
            cum.append(total)
        bps = self._breakpoints(req, mode)
        ok = status < 400 and error is None
        usage: Usage | None = None
        if ok and raw_usage is not None:
            usage = usage_of(req.api, raw_usage, req.model, mode == "explicit")
        price = price_for(target, self.prices)
        cost = cost_of(usage, price) if (usage is not None and price is not None) else None
        rec: dict[str, Any] = {
            "ts": round(now, 3), "plan": None, "target": target, "model": reply_model or req.model,
            "status": "ok" if ok else "error", "attempts": 1, "latency_s": round(latency_s, 6),
            "segments": [{"id": s.id, "hash": s.hash, "prefix_hash": s.prefix_hash} for s in req.segments],
            "breakpoints": [{"segment": req.segments[i].id, "ttl": ttl, "prefix_tokens": cum[i], "reason": "wire"}
                            for i, ttl in bps if req.segments[i].marker],
            "cache_key": req.cache_key, "usage": usage.to_json() if usage else None,
            "cost": cost.to_json() if cost else None, "expected_hit_tokens": None, "invalidation": None,
            "error": None if ok else {"code": None, "status": status, "message": (error or {}).get("message"),
                                      "request_id": request_id}}
        obs: dict[str, Any] = {
            "api": req.api, "path": path, "stream": req.stream, "request_id": request_id,
            "prompt_tokens_estimate": total, "min_tokens": limits.min_tokens, "cache_mode": mode,
            "stream_complete": stream_complete, "linked_to": None, "shared_segments": 0, "priced": price is not None,
            "segment_detail": [self._detail(s, cum[i] - (cum[i - 1] if i else 0)) for i, s in enumerate(req.segments)]}
        if req.retention:
            obs["retention"] = req.retention
        rec["observe"] = obs
        with self._lock:
            self._n += 1
            prev, shared = self._link(req, label)
            if label:
                plan = label
            elif prev is not None:
                plan = prev.plan
            else:
                self._agents += 1
                plan = f"agent_{self._agents}"
            rec["plan"] = plan
            if prev is not None:
                obs["linked_to"], obs["shared_segments"] = prev.n, shared
            obs["request"] = self._n
            if ok and usage is not None:
                inv = self._invalidation(req, prev, shared, cum, bps, usage, minimum, now, mode)
                if inv is not None:
                    expected, inv = inv
                    rec["expected_hit_tokens"] = expected
                    if inv is not None:
                        inv.update(self._miss_cost(usage, price, inv.pop("_missed")))
                        rec["invalidation"] = inv
            if ok:
                self._seen[self._n] = _Seen(self._n, plan, target, req.model, req.cache_key, now, req.segments,
                                            cum, bps, mode)
                self._bytes += sum(len(x.text) for x in req.segments)
                while len(self._seen) > self.memory or (self._bytes > MEMORY_BYTES and len(self._seen) > 1):
                    _, old = self._seen.popitem(last=False)
                    self._bytes -= sum(len(x.text) for x in old.segments)
        return rec

    def _detail(self, s: WireSegment, tokens: int) -> dict[str, Any]:
        d: dict[str, Any] = {"id": s.id, "kind": s.kind, "role": s.role, "tokens": tokens,
                             "bytes": len(s.text.encode("utf-8")), "marker": s.marker}
        if self.record_bodies:
            d["text"] = s.text
        else:
            d["excerpt"] = s.text[:SEGMENT_EXCERPT] + ("…" if len(s.text) > SEGMENT_EXCERPT else "")
        return d

    @staticmethod
    def _breakpoints(req: WireRequest, mode: str) -> list[tuple[int, str]]:
        """(index, ttl name) of the prefixes a request asks the provider to cache."""
        n = len(req.segments)
        if mode == "object":  # a cache object is read whole or not at all: nothing to explain per prefix
            return []
        if mode == "explicit":
            out = [(i, s.marker) for i, s in enumerate(req.segments) if s.marker]
            if req.provider == "openai" and n and (not out or out[-1][0] != n - 1):
                out.append((n - 1, "implicit"))  # gpt-5.6+: the implicit breakpoint on the last block
            return out
        return [(i, "automatic") for i in range(n)]  # automatic prefix caching: every boundary

    def _link(self, req: WireRequest, label: str | None) -> tuple[_Seen | None, int]:
        """The remembered request this one continues (a labelled request: only that agent's)."""
        best: tuple[int, int, int] | None = None
        found: _Seen | None = None
        hashes = {s.hash for s in req.segments}
        for seen in self._seen.values():
            if seen.target.split("/")[0] != req.provider or (label is not None and seen.plan != label):
                continue
            k = 0
            for a, b in zip(seen.segments, req.segments):
                if a.prefix_hash != b.prefix_hash:
                    break
                k += 1
            common = sum(1 for s in seen.segments if s.hash in hashes)
            score = (k, common, seen.n)
            if (k or common) and (best is None or score > best):
                best, found = score, seen
        return found, (best[0] if best else 0)

    def _retention(self, ttl: str, req_retention: str | None) -> str:
        if ttl == "1h" or req_retention in ("24h",):
            return "long"
        return "short"

    def _invalidation(self, req: WireRequest, prev: _Seen | None, shared: int, cum: list[int],
                      bps: list[tuple[int, str]], usage: Usage, minimum: int, now: float, mode: str):
        """(expected hit tokens, invalidation or None), or None when nothing was expected."""
        read = usage.cache_read or 0
        marked = [cum[i] for i, _ in bps]
        if mode == "explicit" and marked and read == 0 and not usage.cache_write_total and max(marked) < minimum:
            idx = max(i for i, _ in bps)
            # the cost of this miss: the part of the marked prefix repeated from the linked request,
            # which a prefix at the minimum would have read
            missed = cum[min(idx, shared - 1)] if prev is not None and shared else 0
            return 0, {"reason": "below_minimum", "segment": req.segments[idx].id,
                       "detail": f"the marked prefix is ~{max(marked)} tokens, below the minimum of {minimum} for "
                                 f"{req.target}: nothing is written, nothing can be read",
                       "linked_to": prev.n if prev else None, "expected_read": 0, "read": read,
                       "missed_tokens": missed, "_missed": missed}
        if prev is None:
            return None
        # what the previous request made cacheable: its furthest breakpoint at or above the minimum
        cands = [(i, ttl) for i, ttl in prev.breakpoints if prev.tokens[i] >= max(minimum, 1)]
        if mode == "explicit":  # a read needs a breakpoint in this request at or after the cached prefix
            last_bp = max((i for i, _ in bps), default=-1)
            cands = [(i, ttl) for i, ttl in cands if i <= last_bp]
        if not cands:
            return None
        j, ttl = max(cands)
        expected = prev.tokens[j]
        if read >= expected * (1 - TOLERANCE):
            return expected, None
        missed = expected - read
        first = shared  # index of the first segment that differs from the linked request

        def inv(reason: str, seg: str | None, detail: str, **more: Any) -> tuple[int, dict[str, Any]]:
            return expected, {"reason": reason, "segment": seg, "detail": detail, "linked_to": prev.n,
                              "expected_read": expected, "read": read, "missed_tokens": missed, "_missed": missed,
                              **more}

        if prev.model != req.model:
            return inv("model_changed", None, f"{prev.model} → {req.model}: caches are per model")
        if prev.cache_key != req.cache_key:
            return inv("cache_key_changed", None,
                       f"prompt_cache_key {prev.cache_key!r} → {req.cache_key!r}: the cache is scoped by the key, "
                       f"so the same prefix under another key is a miss")
        if first <= j:
            old = prev.segments[first] if first < len(prev.segments) else None
            new = req.segments[first] if first < len(req.segments) else None
            if old is None or new is None:
                return inv("segment_changed", (old or new).id if (old or new) else None,
                           "the request is shorter than the cached prefix")
            old_tools = [s.hash for s in prev.segments if s.kind == "tool"]
            new_tools = [s.hash for s in req.segments if s.kind == "tool"]
            if old.kind == "tool" and sorted(old_tools) == sorted(new_tools) and old_tools != new_tools:
                moved = [s.id for s in req.segments if s.kind == "tool"]
                return inv("tools_reordered", new.id,
                           f"the same {len(new_tools)} tools were sent in another order (now: {', '.join(moved)}); "
                           f"sort them by name or keep the order fixed", first_changed=new.id)
            ex = excerpt(old.text, new.text)
            what = f" (looks like a {ex['looks_like']})" if ex["looks_like"] else ""
            stable = cum[first - 1] if first else 0
            if mode == "explicit" and stable >= max(minimum, 1) and not any(i < first for i, _ in bps):
                missed = stable  # what a marker before the changing content would have read
                return inv("marker_after_volatile", new.id,
                           f"`{new.id}` changes every request{what} and the only cache marker comes after it; "
                           f"the ~{stable} unchanged tokens before it were never cached — put the marker on "
                           f"`{req.segments[first - 1].id}` or move the changing content after the marker",
                           first_changed=new.id, excerpt=ex)
            return inv("segment_changed", new.id,
                       f"`{new.id}` changed at byte {ex['byte_offset']}{what}: {ex['old_value']!r} → "
                       f"{ex['new_value']!r}; everything after it was re-sent uncached",
                       first_changed=new.id, excerpt=ex)
        gap = now - prev.ts
        # the TTL that was sent (a marker's ttl, OpenAI's prompt_cache_retention), else the default one
        sent = ttl if ttl not in ("automatic", "implicit", "breakpoint") else req.retention
        ttl_s = (ttl_lifetime(req.target, sent) if sent else None) or \
            ttl_seconds(req.target, self._retention(ttl, req.retention))
        if ttl_s is not None and gap > ttl_s:
            return inv("ttl_expired", prev.segments[j].id,
                       f"{gap:.0f}s since the prefix was last used, longer than its {ttl_s:.0f}s TTL "
                       f"({ttl if ttl not in ('automatic', 'implicit') else req.retention or 'default'})",
                       gap_s=round(gap, 3), ttl_s=ttl_s)
        if mode != "explicit" and read > 0:
            # automatic caching reads in provider-sized steps (not in the provider table): a partial read
            # of an unchanged prefix is the provider's granularity, not a miss
            return expected, None
        return inv("provider_side", prev.segments[j].id,
                   "no explanation on the wire: the same prefix, within its TTL and above the minimum, was not "
                   "read (eviction, another replica, or the provider's own limits)", gap_s=round(gap, 3))

    @staticmethod
    def _miss_cost(usage: Usage, price, missed: int) -> dict[str, Any]:
        """``miss_cost``: what the request cost minus what it would have cost had ``missed`` tokens been read."""
        if price is None or not missed:
            return {"miss_cost": None if price is None else 0.0, "priced": price is not None}
        actual = cost_of(usage, price).total
        write = dict(usage.cache_write or {})
        left = missed
        for ttl in sorted(write, key=lambda t: -price.write_multiplier(t)):  # the dearest writes move first
            take = min(left, write[ttl])
            write[ttl] -= take
            left -= take
        uncached = max(0, (usage.uncached or 0) - left)
        moved = missed - max(0, left - (usage.uncached or 0))
        ideal = Usage(uncached=uncached, cache_read=(usage.cache_read or 0) + moved,
                      cache_write={k: v for k, v in write.items() if v}, output=usage.output)
        would = cost_of(ideal, price).total
        if actual is None or would is None:
            return {"miss_cost": None, "priced": True}
        return {"miss_cost": round(actual - would, 10), "priced": True, "price": price.key}
