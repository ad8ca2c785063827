"""Per provider, what ``promptc simulate`` needs to know beyond the adapter: one table row each.

- ``naive``: the provider's *naive default*, as a transformation of the payload promptc's adapter
  built (so adapters stay as they are): promptc's markers and cache keys are stripped and what a
  developer who follows the quick-start would send is applied instead:

  ========================  =====================================================================
  anthropic                 one ``cache_control: {"type": "ephemeral"}`` (5m) on the last system block
  bedrock                   one ``cachePoint`` after the system blocks
  openai before gpt-5.6     no ``prompt_cache_key`` (automatic caching only)
  openai gpt-5.6 and later  implicit mode only: no ``prompt_cache_breakpoint``, no key
  gemini, deepseek, moonshot implicit caching, no cache key
  openrouter                like its upstream (an ``anthropic/...`` model: one marker on the last
                            system part), no ``session_id``
  vllm, sglang              no ``cache_salt``, no routing-key header
  ========================  =====================================================================

  Retention fields (``prompt_cache_retention``, the TTL of ``prompt_cache_options``) are kept, so
  on OpenAI both strategies cache for the same time; the naive Anthropic and Bedrock markers have
  the provider's default (5-minute) TTL. The naive default creates no cache objects (no resource
  manager).
- ``ttl``: the write TTL (label and seconds) a cached prefix lives for under a retention — what the
  theoretical best (:mod:`promptc.runtime.simulate.best`) counts windows with.
- ``sim_path``: where the simulator serves the provider, under its URL. By default the first of
  ``/<provider>`` + the path of the adapter's public base URL, ``/<provider>``, and that path alone
  (``""`` for Anthropic, ``"/v1"`` for OpenAI) under which the simulator has a route for the
  adapter's request path; none: the target is not simulated (E507).
- ``sim_min``: the :class:`~promptc.runtime.sim.Simulator` arguments that lower the provider's
  minimum cacheable tokens (``--min-tokens``); by default a ``<provider>_min_tokens`` argument when
  the simulator has one.
- ``sim_settings``: ``[tool.promptc.providers.<provider>]`` settings the simulation fills in where the
  project sets none — a placeholder for what only the real service needs (Vertex's Google Cloud
  project): ``promptc simulate`` talks to the simulator and needs no credentials.

The theoretical best's cache modes come from the spec (:func:`cache_modes`): the model's own mode
(its minimum, the row's TTL, a write fee when the price table or the spec has one) and, where the
provider's facts module declares an implicit cache used by requests without markers
(``IMPLICIT_MIN_TOKENS``, ``IMPLICIT_READ_MULTIPLIER`` and an ``implicit`` TTL in the spec, as
Qwen's), that cache too.

A provider with a simulator route module (``promptc.runtime.sim.<provider>_api``) but no row here gets
one derived from its own files (:func:`derived_row`): the providers of issue 26 (Z.ai, Qwen, MiniMax,
xAI, Mistral, Vertex) are registered that way, with no line in this module. Any other provider missing
from :data:`RULES` still simulates, with the generic row (naive = no cache key,
a 5-minute TTL for the best) and a note saying so.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from starlette.routing import Match

from promptc.core import providers
from promptc.core.providers import SPECS, Target, limits_for
from promptc.runtime.providers.base import WireCall
from promptc.runtime.sim.openrouter_api import claude_family
from promptc.runtime.simulate.best import CacheMode

#: Request fields and headers that only route or scope a cache (stripped by every naive default).
KEY_FIELDS = ("prompt_cache_key", "session_id", "cache_salt", "routing_key")
KEY_HEADERS = ("x-session-id", "x-smg-routing-key")


def _plain(call: WireCall, payload: dict[str, Any]) -> WireCall:
    headers = {k: v for k, v in call.headers.items() if k.lower() not in KEY_HEADERS}
    return WireCall(call.path, payload, [], None, headers)


def _strip_keys(p: dict[str, Any]) -> dict[str, Any]:
    for k in KEY_FIELDS:
        p.pop(k, None)
    return p


def _parts(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Every content part of chat ``messages`` or Responses ``input``."""
    out = []
    for msg in (p.get("messages") or []) + (p.get("input") if isinstance(p.get("input"), list) else []):
        if isinstance(msg, dict) and isinstance(msg.get("content"), list):
            out += [c for c in msg["content"] if isinstance(c, dict)]
    return out


def naive_anthropic(call: WireCall, target: Target) -> WireCall:
    """One ``cache_control`` (default 5m) on the last system block; every other marker removed."""
    p = copy.deepcopy(call.payload)
    p.pop("cache_control", None)
    for t in p.get("tools") or []:
        t.pop("cache_control", None)
    system = p.get("system")
    if isinstance(system, str):
        system = p["system"] = [{"type": "text", "text": system}] if system else []
    for b in system or []:
        b.pop("cache_control", None)
    for msg in p.get("messages") or []:
        if isinstance(msg.get("content"), list):
            for b in msg["content"]:
                b.pop("cache_control", None)
    if system:
        system[-1]["cache_control"] = {"type": "ephemeral"}
    return _plain(call, _strip_keys(p))


def naive_bedrock(call: WireCall, target: Target) -> WireCall:
    """One ``cachePoint`` after the system blocks; every other checkpoint removed."""
    p = copy.deepcopy(call.payload)

    def drop(blocks: Any) -> Any:
        return [b for b in blocks if not (isinstance(b, dict) and "cachePoint" in b)] if isinstance(blocks, list) \
            else blocks

    if isinstance(p.get("toolConfig"), dict):
        p["toolConfig"]["tools"] = drop(p["toolConfig"].get("tools"))
    for msg in p.get("messages") or []:
        msg["content"] = drop(msg.get("content"))
    system = drop(p.get("system"))
    if system:
        system.append({"cachePoint": {"type": "default"}})
        p["system"] = system
    return _plain(call, _strip_keys(p))


def naive_openai(call: WireCall, target: Target) -> WireCall:
    """No ``prompt_cache_key``; from gpt-5.6 implicit mode only (no explicit breakpoints)."""
    p = _strip_keys(copy.deepcopy(call.payload))
    for part in _parts(p):
        part.pop("prompt_cache_breakpoint", None)
    opts = p.get("prompt_cache_options")
    if isinstance(opts, dict):
        p["prompt_cache_options"] = {**opts, "mode": "implicit"}
    return _plain(call, p)


def naive_implicit(call: WireCall, target: Target) -> WireCall:
    """Implicit caching with no cache key or routing key (and no explicit markers)."""
    p = _strip_keys(copy.deepcopy(call.payload))
    for part in _parts(p):
        part.pop("prompt_cache_breakpoint", None)
        part.pop("cache_control", None)
    return _plain(call, p)


def naive_openrouter(call: WireCall, target: Target) -> WireCall:
    """Like the upstream: markers stripped; an ``anthropic/`` model gets one on the last system part."""
    upstream = str(call.payload.get("model") or target.model).split("/", 1)[0]
    out = naive_implicit(call, target)
    p = out.payload
    p.pop("cache_control", None)
    if upstream in ("anthropic", "bedrock"):
        system = [m for m in p.get("messages") or [] if m.get("role") == "system"]
        if system:
            last = system[-1]
            if isinstance(last.get("content"), str):
                last["content"] = [{"type": "text", "text": last["content"]}]
            if last.get("content"):
                last["content"][-1]["cache_control"] = {"type": "ephemeral"}
    elif upstream == "openai":
        opts = p.get("prompt_cache_options")
        if isinstance(opts, dict):
            p["prompt_cache_options"] = {**opts, "mode": "implicit"}
    return out


def spec_ttl(provider: str) -> Callable[[str, str], tuple[str, float]]:
    """The row's ``ttl`` from the provider's spec (:func:`promptc.core.providers.ttl_name`):
    the TTL ``retention`` buys on the model (``none`` counts as ``short``: the best still caches)."""
    def ttl(model: str, retention: str) -> tuple[str, float]:
        target = f"{provider}/{model}"
        name = providers.ttl_name(target, "short" if retention == "none" else retention)
        seconds = None if name is None else providers.ttl_lifetime(target, name)
        return ("lru", math.inf) if name is None or seconds is None else (name, seconds)
    return ttl


def implicit_ttl(provider: str) -> Callable[[str, str], tuple[str, float]]:
    """Implicit caching whatever the retention: the spec's ``implicit`` lifetime."""
    seconds = SPECS[provider].ttls["implicit"] or math.inf
    return lambda model, retention: ("implicit", seconds)


_openrouter_ttl = spec_ttl("openrouter")  # an upstream's own provider's TTLs (the OpenRouter spec's ``upstream``)


@dataclass(frozen=True)
class ProviderRules:
    """One provider's row: see the module doc."""

    naive: Callable[[WireCall, Target], WireCall]
    ttl: Callable[[str, str], tuple[str, float]]
    sim_path: str | None = None
    sim_min: Callable[[str, int], dict[str, Any]] | None = None
    sim_setup: Callable[[Any, str, int], None] | None = None  # (SimApp, model, minimum): lower it on the app
    generic: bool = False
    sim_settings: Mapping[str, Any] = field(default_factory=dict)


RULES: dict[str, ProviderRules] = {
    "anthropic": ProviderRules(naive_anthropic, spec_ttl("anthropic"),
                               sim_min=lambda model, n: {"anthropic_min_tokens": {model: n}}),
    "openai": ProviderRules(naive_openai, spec_ttl("openai"), sim_min=lambda model, n: {"openai_min_tokens": n}),
    "bedrock": ProviderRules(naive_bedrock, spec_ttl("bedrock"),
                             sim_min=lambda model, n: {"anthropic_min_tokens": {model: n}}),
    # Gemini implicit caching: the TTL is undocumented (about 3-5 minutes by OpenRouter's account)
    "gemini": ProviderRules(naive_implicit, implicit_ttl("gemini"),
                            sim_setup=lambda app, model, n: app.gemini_config(min_tokens={model: n})),
    "moonshot": ProviderRules(naive_implicit, spec_ttl("moonshot")),
    # DeepSeek clears its cache "within a few hours to a few days": four hours here
    "deepseek": ProviderRules(naive_implicit, implicit_ttl("deepseek")),
    "openrouter": ProviderRules(naive_openrouter, _openrouter_ttl,
                                sim_min=lambda model, n: {"anthropic_min_tokens": {claude_family(model): n},
                                                          "openai_min_tokens": n}),
    # self-hosted engines keep prefixes until memory runs out: no TTL
    "vllm": ProviderRules(naive_implicit, lambda m, r: ("lru", math.inf)),
    "sglang": ProviderRules(naive_implicit, lambda m, r: ("lru", math.inf)),
}
GENERIC = ProviderRules(naive_implicit, lambda m, r: ("5m", 300.0), generic=True)


def derived_row(provider: str) -> ProviderRules | None:
    """The row of a provider without one in :data:`RULES`, from its own files (None: it has no simulator
    route module ``promptc.runtime.sim.<provider>_api``): the naive default its wire module declares
    (``naive_<provider>``), else by the spec's mode — explicit breakpoints: one marker on the last
    system block (:func:`naive_anthropic`, the Anthropic-style quick start); automatic: no key
    (:func:`naive_implicit`); the TTL the spec's retention buys (its ``implicit`` lifetime where
    retention buys none); ``--min-tokens`` through the simulator's ``min_tokens``; the route module's
    ``SIM_SETTINGS``. A new provider thus needs no line here."""
    spec = SPECS.get(provider)
    try:
        route = importlib.import_module(f"promptc.runtime.sim.{provider}_api")
    except ImportError:
        return None
    if spec is None:
        return None
    try:
        wire = importlib.import_module(f"promptc.runtime.providers.{provider}")
    except ImportError:
        wire = None
    row = spec.limits(f"{provider}/")
    naive = getattr(wire, f"naive_{provider}", None) or (
        naive_anthropic if row is not None and row.mode == "explicit" else naive_implicit)
    short = spec.retention.get("short")
    ttl = implicit_ttl(provider) if short is None or short == "implicit" else spec_ttl(provider)
    return ProviderRules(naive, ttl, sim_min=lambda model, n: {"min_tokens": n},
                         sim_settings=dict(getattr(route, "SIM_SETTINGS", {})))


RULES.update({name: row for name in sorted(SPECS)
              if name not in RULES and (row := derived_row(name)) is not None})


@dataclass(frozen=True)
class ImplicitAlongside:
    """A provider's implicit cache for requests without markers, beside its explicit one (facts module)."""

    min_tokens: int
    read_multiplier: float
    ttl_s: float


def implicit_alongside(provider: str) -> ImplicitAlongside | None:
    """The implicit cache a provider's facts module declares beside its explicit mode (None: none)."""
    spec = SPECS.get(provider)
    if spec is None or "implicit" not in spec.ttls:
        return None
    try:
        facts = importlib.import_module(f"promptc.core.providers.{provider}")
    except ImportError:
        return None
    minimum = getattr(facts, "IMPLICIT_MIN_TOKENS", None)
    read = getattr(facts, "IMPLICIT_READ_MULTIPLIER", None)
    if minimum is None or read is None:
        return None
    return ImplicitAlongside(int(minimum), float(read), spec.ttls["implicit"] or math.inf)


def cache_modes(target: Target, retention: str, min_tokens: int | None, price: Any,
                cache_limits: Mapping[str, Mapping[str, Any]] | None = None) -> list[CacheMode]:
    """The theoretical best's cache modes on ``target`` (module doc); ``min_tokens`` is ``--min-tokens``
    (it lowers every mode's minimum, as it does in the simulator)."""
    row = rules_for(target.provider)
    label, ttl_s = row.ttl(target.model, retention)
    limits = limits_for(target.name, cache_limits)
    minimum = (limits.min_tokens or 0) if min_tokens is None else min_tokens
    spec = SPECS.get(target.provider)
    write_fee = bool(price.write) if price is not None else bool(spec is not None and spec.write_multipliers)
    modes = [CacheMode(limits.mode, minimum, label, ttl_s, write_fee)]
    alt = implicit_alongside(target.provider) if limits.mode == "explicit" else None
    if alt is not None:
        low = alt.min_tokens if min_tokens is None else min(min_tokens, alt.min_tokens)
        modes.append(CacheMode("implicit", low, "implicit", alt.ttl_s, False))
    return modes


def rules_for(provider: str) -> ProviderRules:
    """The provider's row, or :data:`GENERIC` (``generic=True``) when it has none."""
    return RULES.get(provider, GENERIC)


def sim_prefixes(provider: str, default_base_url: str) -> list[str]:
    """Where the simulator may serve ``provider``, most specific first: the row's ``sim_path``, else
    ``/<provider>`` + the public base URL's path, ``/<provider>``, the public base URL's path."""
    row = rules_for(provider)
    if row.sim_path is not None:
        return [row.sim_path]
    path = urlparse(default_base_url).path.rstrip("/")
    return list(dict.fromkeys([f"/{provider}{path}", f"/{provider}", path]))


def served(routes: list, path: str) -> bool:
    """Whether one of a Starlette app's ``routes`` answers ``POST path``."""
    scope = {"type": "http", "path": path, "method": "POST", "root_path": "", "headers": []}
    return any(r.matches(scope)[0] == Match.FULL for r in routes)


def sim_min_kwargs(simulator_cls: Any, target: Target, min_tokens: int) -> dict[str, Any] | None:
    """Simulator arguments lowering ``target``'s minimum to ``min_tokens``; None when it has no such knob."""
    row = rules_for(target.provider)
    if row.sim_min is not None:
        return row.sim_min(target.model, min_tokens)
    if row.sim_setup is not None:
        return {}
    params = inspect.signature(simulator_cls).parameters
    p = params.get(f"{target.provider}_min_tokens")
    if p is None:
        return None
    per_model = "dict" in str(p.annotation) or isinstance(p.default, dict)
    return {p.name: {target.model: min_tokens} if per_model else min_tokens}


def with_min_tokens(config: Any, target: str, min_tokens: int) -> Any:
    """``config`` (a :class:`~promptc.runtime.config.RuntimeConfig`) with ``target``'s minimum lowered."""
    limits = {k: dict(v) for k, v in config.cache_limits.items()}
    limits[target] = {**limits.get(target, {}), "min_tokens": min_tokens}
    return replace(config, cache_limits=limits)


__all__ = ["GENERIC", "KEY_FIELDS", "KEY_HEADERS", "ImplicitAlongside", "ProviderRules", "RULES", "cache_modes",
           "derived_row", "implicit_alongside", "naive_anthropic", "naive_bedrock", "naive_implicit", "naive_openai",
           "naive_openrouter", "rules_for", "served", "sim_min_kwargs", "sim_prefixes", "with_min_tokens"]
