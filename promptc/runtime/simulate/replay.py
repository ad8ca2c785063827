"""Replay a :class:`~promptc.runtime.simulate.workload.Workload` on the provider simulator, per target,
and tally the four strategies.

For each target two fresh in-process simulators (:class:`~promptc.runtime.sim.Simulator`, loopback,
fake clock moved to each turn's time) replay every turn through :class:`~promptc.runtime.client.Client`:

- ``promptc``: the adapter as it is (promptc's breakpoints, keys and cache objects);
- ``naive``: the same payloads with promptc's markers and keys stripped and the provider's naive
  default applied (:mod:`promptc.runtime.simulate.rules`).

The other two are computed from those runs' exact prompt sizes:

- ``none``: no caching — every prompt token at the input price;
- ``best``: the theoretical best (:mod:`promptc.runtime.simulate.best`).

Output tokens (the simulator's short replies) are billed the same in all four.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace as dc_replace
from typing import Any, Callable

from promptc.core.prices import Price, price_for
from promptc.core.providers import Target, limits_for, parse_target
from promptc.runtime.client import Client, Reply
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.cost import cost_of
from promptc.runtime.errors import ProviderError, RuntimeConfigError
from promptc.runtime.layout import TokenCounter
from promptc.runtime.providers.base import Adapter, WireCall
from promptc.runtime.sim import Simulator
from promptc.runtime.simulate.best import theoretical_best
from promptc.runtime.simulate.rules import (cache_modes, implicit_alongside, rules_for, served, sim_min_kwargs,
                                            sim_prefixes, with_min_tokens)
from promptc.runtime.simulate.workload import Workload
from promptc.runtime.usage import Usage

STRATEGIES = ("none", "naive", "promptc", "best")
LABELS = {"none": "no caching", "naive": "naive default", "promptc": "promptc placement", "best": "theoretical best"}


@dataclass(frozen=True)
class Tally:
    """Token totals and cost (USD; None when unknown) of one strategy over a workload."""

    requests: int
    uncached: int
    cache_read: int
    cache_write: int
    output: int
    cost: float | None

    @property
    def prompt(self) -> int:
        return self.uncached + self.cache_read + self.cache_write

    @property
    def hit_rate(self) -> float:
        """Cache-read tokens / prompt tokens."""
        return self.cache_read / self.prompt if self.prompt else 0.0

    @classmethod
    def of(cls, usages: list[Usage], price: Price | None) -> "Tally":
        costs = [cost_of(u, price).total for u in usages] if price else [None]
        return cls(len(usages), sum(u.uncached or 0 for u in usages), sum(u.cache_read or 0 for u in usages),
                   sum(u.cache_write_total or 0 for u in usages), sum(u.output or 0 for u in usages),
                   None if any(c is None for c in costs) else sum(costs))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt": self.prompt, "uncached": self.uncached,
                "cache_read": self.cache_read, "cache_write": self.cache_write, "output": self.output,
                "hit_rate": round(self.hit_rate, 6), "cost": None if self.cost is None else round(self.cost, 8)}


@dataclass(frozen=True)
class TargetResult:
    """One target's four strategies and what the reader should know about them (``notes``)."""

    target: str
    retention: str
    ttl: str
    ttl_s: float
    min_tokens: int
    real_min_tokens: int
    stable_tokens: dict[str, int]  # per plan: the largest stable prefix the simulator counted
    tallies: dict[str, Tally]
    notes: list[str] = field(default_factory=list)

    def savings(self, strategy: str) -> float | None:
        """USD saved against no caching."""
        none, other = self.tallies["none"].cost, self.tallies[strategy].cost
        return None if none is None or other is None else none - other

    def share_of_best(self, strategy: str) -> float | None:
        """The strategy's savings as a fraction of the theoretical best's (None when the best saves nothing)."""
        best, mine = self.savings("best"), self.savings(strategy)
        if best is None or mine is None or best <= 1e-12:
            return None
        return mine / best

    def to_json(self) -> dict[str, Any]:
        def share(s: str) -> float | None:
            v = self.share_of_best(s)
            return None if v is None else round(v, 6)

        return {"target": self.target, "retention": self.retention, "ttl": self.ttl,
                "ttl_s": None if self.ttl_s == float("inf") else self.ttl_s, "min_tokens": self.min_tokens,
                "real_min_tokens": self.real_min_tokens, "stable_tokens": dict(sorted(self.stable_tokens.items())),
                "strategies": {s: {**self.tallies[s].to_json(), "label": LABELS[s],
                                   "savings": None if self.savings(s) is None else round(self.savings(s), 8),
                                   "share_of_best_savings": share(s)} for s in STRATEGIES},
                "notes": list(self.notes)}


class NaiveAdapter(Adapter):
    """Wraps an adapter: every built call goes through the provider's naive default; no cache objects."""

    def __init__(self, inner: Adapter, naive: Callable[[WireCall, Target], WireCall], target: Target):
        self.inner, self.naive, self.target = inner, naive, target
        for attr in ("provider", "env_key", "env_key_fallbacks", "base_url_env", "default_base_url", "key_required",
                     "stream_framing"):
            setattr(self, attr, getattr(inner, attr))

    def headers(self, api_key: str) -> dict[str, str]:
        return self.inner.headers(api_key)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return self.inner.sign(method, url, headers, body)

    def error_from(self, headers, body):
        return self.inner.error_from(headers, body)

    def build(self, request, opts, ctx) -> WireCall:
        return self.naive(self.inner.build(request, opts, ctx), self.target)

    def parse(self, body, call):
        return self.inner.parse(body, call)

    def stream(self, call):
        return self.inner.stream(call)

    def error_details(self, body):
        return self.inner.error_details(body)


def _prompt_size(usage: Usage) -> int:
    """The prompt's size as the provider reported it: the normalized split's sum, else (a provider
    that reports no write counter, e.g. Kimi K3) its inclusive prompt count."""
    if usage.prompt is not None:
        return usage.prompt
    raw = usage.raw or {}
    for key in ("prompt_tokens", "input_tokens", "promptTokenCount"):
        if isinstance(raw.get(key), int):
            return raw[key]
    raise RuntimeConfigError("error[E507]: the simulator reported no prompt size: the theoretical best needs one")


def simulation_config(target: Target, config: RuntimeConfig) -> RuntimeConfig:
    """``config`` with the row's ``sim_settings`` filled in where the project sets none (a simulation
    needs no Google Cloud project, credentials or account: it talks to the simulator)."""
    defaults = rules_for(target.provider).sim_settings
    if not defaults:
        return config
    providers = dict(config.providers)
    providers[target.provider] = {**defaults, **providers.get(target.provider, {})}
    return dc_replace(config, providers=providers)


def replay(workload: Workload, target: str, strategy: str, *, min_tokens: int | None = None,
           retention: str = "short", config: RuntimeConfig | None = None, max_tokens: int = 256,
           counter: TokenCounter | None = None, sim_tokenizer: Any = None) -> list[Reply]:
    """Every turn of ``workload`` through a fresh simulator as ``strategy`` (``promptc`` or ``naive``);
    ``counter`` is the client's token counter and ``sim_tokenizer`` the simulator's o200k_base tokenizer
    (shared between replays: loading a tokenizer is slow)."""
    t = parse_target(target)
    config = simulation_config(t, config if config is not None else RuntimeConfig())
    sim_kwargs: dict[str, Any] = {}
    if min_tokens is not None:
        config = with_min_tokens(config, target, min_tokens)
        sim_kwargs = sim_min_kwargs(Simulator, t, min_tokens) or {}
    replies: list[Reply] = []
    with Simulator(**sim_kwargs, tokenizer=sim_tokenizer) as sim:
        setup = rules_for(t.provider).sim_setup
        if min_tokens is not None and setup is not None:
            setup(sim.sim, t.model, min_tokens)
        client = Client(target, api_key="sim", retention=retention, config=config, clock=sim.clock, base_url=sim.url)
        if counter is not None and client.counter.tokenizer_id == counter.tokenizer_id:
            client.counter = counter  # before the first build: loading a tokenizer is slow
        call_path = client.build(workload.requests[0]).path if workload.requests else "/"
        prefix = next((p for p in sim_prefixes(t.provider, client.adapter.default_base_url)
                       if served(sim.sim.app.routes, p + call_path)), None)
        if prefix is None:
            client.close()
            raise RuntimeConfigError(f"error[E507]: the provider simulator does not serve {target} (no route for "
                                     f"POST {call_path}; add its sim_path to promptc.runtime.simulate.rules)")
        client.base_url = sim.url + prefix
        if strategy == "naive":
            client.adapter = NaiveAdapter(client.adapter, rules_for(t.provider).naive, t)
        start = sim.clock()
        try:
            for turn, request in zip(workload.turns, workload.requests):
                due = start + turn.at
                if due > sim.clock():
                    sim.advance(due - sim.clock())
                replies.append(client.complete(request, max_tokens=max_tokens))
        except ProviderError as exc:
            if exc.status == 404:
                raise RuntimeConfigError(f"error[E507]: the provider simulator does not serve {target} "
                                         f"({client.base_url}: 404)") from None
            raise
        finally:
            client.close()
    return replies


def simulate_target(workload: Workload, target: str, *, count: Callable[[str], int], min_tokens: int | None = None,
                    retention: str = "short", config: RuntimeConfig | None = None,
                    counter: TokenCounter | None = None, sim_tokenizer: Any = None) -> TargetResult:
    """The four strategies of ``target`` on ``workload`` (``count`` counts text as the simulator does;
    ``counter`` is shared by the clients)."""
    t = parse_target(target)
    config = config if config is not None else RuntimeConfig()
    price = price_for(target, config.prices)
    row = rules_for(t.provider)
    real_min = limits_for(target, config.cache_limits).min_tokens or 0
    effective = real_min if min_tokens is None else min_tokens
    ours = replay(workload, target, "promptc", min_tokens=min_tokens, retention=retention, config=config,
                  counter=counter, sim_tokenizer=sim_tokenizer)
    naive = replay(workload, target, "naive", min_tokens=min_tokens, retention=retention, config=config,
                   counter=counter, sim_tokenizer=sim_tokenizer)
    prompts = [_prompt_size(r.usage) for r in ours]
    outputs = [r.usage.output or 0 for r in ours]
    modes = cache_modes(t, retention, min_tokens, price, config.cache_limits)
    label, ttl_s = modes[0].ttl_label, modes[0].ttl_s
    best = theoretical_best(workload.requests, [x.at for x in workload.turns], prompts, outputs, count=count,
                            price=price, modes=modes)
    none = [Usage(p, 0, {}, o) for p, o in zip(prompts, outputs)]
    stable: dict[str, int] = {}
    for req, p in zip(workload.requests, prompts):
        turn = sum(count(s.content) for s in req.segments if s.stability == "turn")
        stable[req.plan] = max(stable.get(req.plan, 0), p - turn)
    notes = []
    alt = implicit_alongside(t.provider) if len(modes) > 1 else None
    if alt is not None:
        real = f" (real: {alt.min_tokens})" if modes[1].min_tokens != alt.min_tokens else ""
        life = "no TTL" if alt.ttl_s == float("inf") else f"{alt.ttl_s:g} s TTL"
        notes.append(f"{t.provider} also caches implicitly (requests without markers: minimum {modes[1].min_tokens} "
                     f"tokens{real}, {life}, hits at {alt.read_multiplier:.0%} of input); the best takes the cheaper "
                     "cache per request")
    low = sorted(name for name, n in stable.items() if n < real_min)
    if low and alt is not None:
        sizes = ", ".join(f"{n} {stable[n]}" for n in low)
        floor = min(alt.min_tokens, real_min)
        never = [n for n in low if stable[n] < floor]
        nothing = f"; below its minimum of {floor} ({', '.join(never)}) nothing is cached" if never else ""
        if min_tokens is not None and min_tokens < real_min:
            notes.append(f"stable prefixes below {target}'s real explicit minimum of {real_min} tokens ({sizes}): "
                         f"simulated with --min-tokens {min_tokens}, so promptc marks them (explicit cache); at the "
                         f"real minimum they get no marker and use the implicit cache{nothing}")
        else:
            notes.append(f"stable prefixes below {target}'s explicit minimum of {real_min} tokens ({sizes}) get no "
                         f"marker and use the implicit cache{nothing}")
    elif low:
        sizes = ", ".join(f"{n} {stable[n]}" for n in low)
        if min_tokens is not None and min_tokens < real_min:
            notes.append(f"stable prefixes below {target}'s real minimum of {real_min} tokens ({sizes}): "
                         f"simulated with --min-tokens {min_tokens}; at the real minimum nothing is cached")
        else:
            notes.append(f"stable prefixes below {target}'s minimum of {real_min} tokens ({sizes}) are never "
                         "cached; --min-tokens shows where caching would go at a lower minimum")
    if min_tokens is not None and sim_min_kwargs(Simulator, t, min_tokens) is None:
        notes.append(f"the simulator has no minimum setting for {t.provider}: --min-tokens applies to the client only")
    if row.generic:
        notes.append(f"{t.provider} has no row in promptc.runtime.simulate.rules: naive = no cache key, "
                     "best = a 5-minute TTL")
    if price is None:
        notes.append(f"no price for {target}: costs are unknown")
    if workload.note:
        notes.append(workload.note)
    tallies = {"none": Tally.of(none, price), "naive": Tally.of([r.usage for r in naive], price),
               "promptc": Tally.of([r.usage for r in ours], price), "best": Tally.of(best, price)}
    return TargetResult(target, retention, label, ttl_s, effective, real_min, stable, tallies, notes)


def simulate(workload: Workload, targets: list[str], *, min_tokens: int | None = None, retention: str = "short",
             config: RuntimeConfig | None = None) -> list[TargetResult]:
    """:func:`simulate_target` for each target, sharing one token counter."""
    from promptc.tokenizers import load_tokenizer

    tok = load_tokenizer("o200k_base")  # what the simulator counts with
    counter = TokenCounter("o200k_base", tok)  # the clients share it: loading a tokenizer takes ~2 s
    counts: dict[str, int] = {}

    def count(text: str) -> int:
        if text not in counts:
            counts[text] = len(tok.encode(text)) if text else 0
        return counts[text]

    return [simulate_target(workload, t, count=count, min_tokens=min_tokens, retention=retention, config=config,
                            counter=counter, sim_tokenizer=tok) for t in targets]


__all__ = ["LABELS", "NaiveAdapter", "STRATEGIES", "Tally", "TargetResult", "replay", "simulate", "simulate_target"]
