"""Keep-warm: an opt-in heartbeat that refreshes a plan's cached prefix shortly before its TTL runs
out, while the plan is in use and only when that pays; it stops when the plan goes idle.

**When.** A prefix used at ``t`` (or refreshed at ``t``) expires at ``t + TTL``; the TTL comes from
the client's retention and the provider's spec (:func:`ttl_seconds`: Anthropic ``short`` = 5 min,
``long`` = 1 h; OpenAI gpt-5.6+ 30 min or 12 h, ...). The heartbeat decides at ``expires_at − lead`` (``lead`` defaults to 10% of
the TTL, at most 60 s).

**Whether (the cost model).** With ``P`` prefix tokens, input price ``in`` ($/MTok), read
multiplier ``r``, write multiplier ``w`` (for the TTL written) and ``u`` uncached tokens in a ping:

- a refresh costs ``C = (P·r + u)·in/10⁶`` (a ping reads the prefix, which renews its TTL; plus
  ``storage·P/10⁶·TTL_h`` where the provider bills cache storage by time);
- it saves ``S = p · P·(w − r)·in/10⁶``: with probability ``p`` the plan is used within the next
  TTL, and that use then reads the prefix instead of writing it again;
- refresh iff ``S > margin · C`` (``margin`` = 1 by default). For Anthropic 5m the break-even is
  ``p* = (r + u/P) / (w − r) ≈ 0.1/1.15 ≈ 8.7%``.

**The idle-time model for p.** Keep the last ``window`` gaps ``g`` between real uses of the plan
(pings are not uses). At the decision, the plan has been idle for ``d``. Then

    p = #{g : d < g ≤ d + TTL} / #{g : g > d}

— the empirical probability that a pause which already lasted ``d`` ends within the next TTL. It is
0 when no observed pause was ever longer than ``d`` (the plan is idle: the heartbeat stops), and no
refresh happens before ``min_samples`` gaps were seen. ``max_idle_s`` optionally caps ``d``.

Everything runs on an injectable clock: :meth:`KeepWarm.tick` does the due work at "now", and
:meth:`KeepWarm.run_until` steps a fake clock from decision to decision (no real sleeping);
:meth:`KeepWarm.start` runs the same loop on a thread with the real clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from promptc.core import providers
from promptc.core.errors import PromptcError
from promptc.core.prices import Price, cost_of
from promptc.runtime.usage import Usage


class KeepWarmConfigError(PromptcError):
    """A keep-warm setting out of range (E533)."""

    code = "E533"


@dataclass(frozen=True)
class KeepWarmPolicy:
    """Knobs of the model (see the module doc). ``ttl_s`` overrides the TTL from the retention."""

    lead_s: float | None = None
    window: int = 50
    min_samples: int = 2
    margin: float = 1.0
    ping_uncached_tokens: int = 8
    max_idle_s: float | None = None
    ttl_s: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.lead_s is not None and self.lead_s < 0:
            problems.append(f"lead_s={self.lead_s} (must be ≥ 0)")
        if self.window < 1:
            problems.append(f"window={self.window} (must be ≥ 1)")
        if self.min_samples < 1:
            problems.append(f"min_samples={self.min_samples} (must be ≥ 1)")
        if self.margin <= 0:
            problems.append(f"margin={self.margin} (must be > 0)")
        if self.ttl_s is not None and self.ttl_s <= 0:
            problems.append(f"ttl_s={self.ttl_s} (must be > 0)")
        if problems:
            raise KeepWarmConfigError(f"error[E533]: keep-warm policy: {'; '.join(problems)}\n"
                                      "   = hint: see docs/providers.md, 'Cache objects, pre-warm and keep-warm'")

    def lead(self, ttl_s: float) -> float:
        return self.lead_s if self.lead_s is not None else min(60.0, 0.1 * ttl_s)


def ttl_seconds(target: str, retention: str) -> float | None:
    """The TTL a cached prefix lives unused on ``target`` under ``retention`` (None: no TTL to beat),
    from the provider's spec (:func:`promptc.core.providers.ttl_seconds`)."""
    return providers.ttl_seconds(target, retention)


def write_ttl(target: str, retention: str) -> str:
    """The TTL name a write under ``retention`` buys on ``target`` (the price table's write key)."""
    return providers.ttl_name(target, retention) or providers.ttl_name(target, "short") or "5m"


@dataclass(frozen=True)
class Verdict:
    """One keep-warm decision: refresh or not, with the numbers behind it (USD)."""

    refresh: bool
    p: float
    saving: float
    cost: float
    idle_s: float


def refresh_cost(price: Price, prefix_tokens: int, ttl_s: float, ping_uncached_tokens: int = 8) -> float:
    """``C``: a ping that reads the prefix (plus storage for the TTL it buys, where billed)."""
    storage = price.storage * prefix_tokens * 1e-6 * ttl_s / 3600.0
    ping = cost_of(Usage(uncached=ping_uncached_tokens, cache_read=prefix_tokens, cache_write={}, output=0), price)
    return (ping.total or 0.0) + storage


def miss_penalty(price: Price, prefix_tokens: int, ttl: str) -> float:
    """What a use costs more when the cache is gone: a write instead of a read (both priced by the
    one pricing function, so long-context tiers and the price in force apply)."""
    write = cost_of(Usage(uncached=0, cache_read=0, cache_write={ttl: prefix_tokens}, output=0), price).total
    read = cost_of(Usage(uncached=0, cache_read=prefix_tokens, cache_write={}, output=0), price).total
    return (write or 0.0) - (read or 0.0)


def use_probability(gaps: Any, idle_s: float, ttl_s: float) -> float:
    """``p`` of the idle-time model: #{g: d < g ≤ d + TTL} / #{g: g > d} (0 when no gap exceeds d)."""
    longer = [g for g in gaps if g > idle_s]
    if not longer:
        return 0.0
    return sum(1 for g in longer if g <= idle_s + ttl_s) / len(longer)


def decide(price: Price, prefix_tokens: int, ttl: str, ttl_s: float, gaps: Any, idle_s: float,
           policy: KeepWarmPolicy) -> Verdict:
    """The keep-warm decision for one prefix (see the module doc)."""
    cost = refresh_cost(price, prefix_tokens, ttl_s, policy.ping_uncached_tokens)
    gaps = list(gaps)
    if len(gaps) < policy.min_samples or (policy.max_idle_s is not None and idle_s > policy.max_idle_s):
        return Verdict(False, 0.0, 0.0, cost, idle_s)
    p = use_probability(gaps, idle_s, ttl_s)
    saving = p * miss_penalty(price, prefix_tokens, ttl)
    return Verdict(saving > policy.margin * cost, p, saving, cost, idle_s)


@dataclass
class Tracked:
    """A prefix the heartbeat looks after: its plan, size, TTL, price, expiry and how to ping it."""

    plan: str
    target: str
    prefix_hash: str
    prefix_tokens: int
    ttl_s: float
    ttl: str
    price: Price
    ping: Callable[[], float | None]
    last_use: float
    expires_at: float
    gaps: deque = field(default_factory=deque)
    pings: int = 0
    ping_cost: float = 0.0


class KeepWarm:
    """The heartbeat. Call :meth:`used` after every real request of a plan; :meth:`tick` (or the
    thread from :meth:`start`) refreshes what pays and drops what went idle. ``emit`` receives
    ``{"event": "keepwarm", "action": "refresh" | "stop", ...}`` trace events."""

    def __init__(self, *, clock: Callable[[], float] = time.time, policy: KeepWarmPolicy | None = None,
                 emit: Callable[[dict[str, Any]], None] | None = None):
        self.clock = clock
        self.policy = policy or KeepWarmPolicy()
        self.emit = emit or (lambda event: None)
        self.tracked: dict[tuple[str, str], Tracked] = {}
        self._gaps: dict[tuple[str, str], deque] = {}
        self._last_use: dict[tuple[str, str], float] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def used(self, *, plan: str, target: str, prefix_hash: str, prefix_tokens: int, ttl_s: float, ttl: str,
             price: Price, ping: Callable[[], float | None], now: float | None = None) -> None:
        """Record a real use of ``plan``'s cached prefix at ``now``: its TTL restarts, the gap since
        the previous use feeds the idle-time model, and the prefix is (again) looked after."""
        now = self.clock() if now is None else now
        ttl_s = self.policy.ttl_s or ttl_s
        with self._lock:
            pk = (target, plan)
            gaps = self._gaps.setdefault(pk, deque(maxlen=self.policy.window))
            if pk in self._last_use:
                gaps.append(now - self._last_use[pk])
            self._last_use[pk] = now
            for k in [k for k, t in self.tracked.items() if (t.target, t.plan) == pk and t.prefix_hash != prefix_hash]:
                del self.tracked[k]  # the plan's prefix changed: the old one is no longer in use
            t = self.tracked.get((target, prefix_hash))
            if t is None:
                t = self.tracked[(target, prefix_hash)] = Tracked(plan, target, prefix_hash, prefix_tokens, ttl_s, ttl,
                                                                  price, ping, now, now + ttl_s, gaps)
            t.last_use, t.expires_at, t.ping, t.prefix_tokens = now, now + ttl_s, ping, prefix_tokens
        self._wake.set()

    def expires_at(self, target: str, plan: str) -> float | None:
        """When ``plan``'s tracked prefix on ``target`` expires (None when not tracked)."""
        with self._lock:
            return max((t.expires_at for t in self.tracked.values() if (t.target, t.plan) == (target, plan)),
                       default=None)

    def next_due(self) -> float | None:
        """The next decision time (None when nothing is tracked)."""
        with self._lock:
            return min((t.expires_at - self.policy.lead(t.ttl_s) for t in self.tracked.values()), default=None)

    def tick(self, now: float | None = None) -> list[tuple[Tracked, Verdict]]:
        """Decide for every prefix whose decision time has come: refresh it (ping; its TTL restarts)
        or stop looking after it. Returns the decisions taken."""
        now = self.clock() if now is None else now
        out = []
        with self._lock:
            due = [t for t in self.tracked.values() if t.expires_at - self.policy.lead(t.ttl_s) <= now]
        for t in due:
            if t.expires_at <= now:  # the decision came too late: the cache is gone, nothing to keep
                v = Verdict(False, 0.0, 0.0, 0.0, now - t.last_use)
            else:
                v = decide(t.price, t.prefix_tokens, t.ttl, t.ttl_s, t.gaps, now - t.last_use, self.policy)
            event = {"event": "keepwarm", "plan": t.plan, "target": t.target, "prefix_hash": t.prefix_hash,
                     "tokens": t.prefix_tokens, "p": round(v.p, 6), "saving": round(v.saving, 10),
                     "expected_cost": round(v.cost, 10), "idle_s": round(v.idle_s, 3)}
            if v.refresh:
                paid = t.ping()
                cost = v.cost if paid is None else paid
                with self._lock:
                    t.expires_at = now + t.ttl_s
                    t.pings += 1
                    t.ping_cost += cost
                self.emit({**event, "action": "refresh", "cost": cost, "expires_at": t.expires_at})
            else:
                with self._lock:
                    self.tracked.pop((t.target, t.prefix_hash), None)
                self.emit({**event, "action": "stop", "cost": 0.0})
            out.append((t, v))
        return out

    def run_until(self, t_end: float, set_time: Callable[[float], None]) -> list[tuple[Tracked, Verdict]]:
        """Step a fake clock (``set_time``) through every decision time up to ``t_end`` and tick there."""
        out = []
        while True:
            due = self.next_due()
            if due is None or due > t_end:
                break
            set_time(max(due, self.clock()))
            out.extend(self.tick())
        return out

    # -- a real-time heartbeat thread ------------------------------------------------------------------
    def start(self) -> "KeepWarm":
        """Run the heartbeat on a daemon thread (real clock) until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="promptc-keepwarm", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            due = self.next_due()
            wait = None if due is None else max(0.0, due - self.clock())
            self._wake.clear()
            if wait is None or wait > 0:
                self._wake.wait(wait)
                continue
            self.tick()

    def stop(self) -> None:
        """Stop the heartbeat thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class KeepWarmClient:
    """A :class:`~promptc.runtime.client.Client` whose requests feed a :class:`KeepWarm` heartbeat:
    after each reply, the plan's furthest stable breakpoint (static/session prefix) is tracked, with
    the client's retention deciding the TTL; the ping is that prefix plus one tiny user turn
    (``max_tokens`` 0 on Anthropic, 1 elsewhere)."""

    def __init__(self, client: Any, keepwarm: KeepWarm | None = None, policy: KeepWarmPolicy | None = None):
        self.client = client
        # the client's emit adds its own target to every event
        self.keepwarm = keepwarm or KeepWarm(clock=client.clock, policy=policy, emit=lambda e: client._emit(
            {k: v for k, v in e.items() if k != "target"}))
        self._cached_until: dict[str, float] = {}

    def expires_at(self, plan: str) -> float | None:
        """When the furthest cached prefix of ``plan`` (history breakpoints included) expires: the last
        request that placed a breakpoint + TTL, or a later keep-warm refresh (None when unknown)."""
        times = [t for t in (self._cached_until.get(plan), self.keepwarm.expires_at(self.client.target.name, plan))
                 if t is not None]
        return max(times, default=None)

    def complete(self, request: Any, **kw: Any) -> Any:
        """``client.complete`` then :meth:`observe`."""
        reply = self.client.complete(request, **kw)
        self.observe(request, reply)
        return reply

    def observe(self, request: Any, reply: Any) -> bool:
        """Track ``request``'s stable prefix after ``reply``; False when there is nothing to keep warm."""
        from promptc.runtime.warm import ping_max_tokens, prefix_request

        c = self.client
        retention = c.retention_for(request.plan)
        ttl_s = ttl_seconds(c.target.name, retention)
        if ttl_s is not None and reply.breakpoints:
            self._cached_until[request.plan] = c.clock() + ttl_s
        stable = [m for m in reply.breakpoints if request.segments[m.index].stability != "turn"]
        if ttl_s is None or not stable or c.price is None:
            return False
        mark = stable[-1]
        ping_req = prefix_request(request, mark.index)
        provider = c.target.provider

        def ping() -> float | None:
            return c.complete(ping_req, max_tokens=ping_max_tokens(provider)).cost

        self.keepwarm.used(plan=request.plan, target=c.target.name, prefix_hash=request.segments[mark.index].prefix_hash,
                           prefix_tokens=mark.prefix_tokens, ttl_s=ttl_s,
                           ttl=write_ttl(c.target.name, "long" if mark.long else "short"),
                           price=c.price, ping=ping)
        return True


__all__ = ["KeepWarm", "KeepWarmClient", "KeepWarmConfigError", "KeepWarmPolicy", "Tracked", "Verdict", "decide",
           "miss_penalty", "refresh_cost", "ttl_seconds", "use_probability", "write_ttl"]
