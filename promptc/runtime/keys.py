"""Keys a plan shares with its family, and the session id a gateway routes on.

**Plan families.** Each plan's cache key / routing key / session id is, by default, derived from its
own stable prefix (:func:`promptc.runtime.providers.openai.cache_key`), so sibling subagents that
share their parent's prefix still pin keys of their own and read nothing on their first call.
``[tool.promptc.plans.<plan>] parent = "<plan>"`` puts a plan in its parent's family: every plan of a
family (the root, its children, their children) sends one key, :func:`family_key` of the root's name
and the tenant, wherever the provider takes one (OpenAI/OpenRouter/Mistral/Moonshot
``prompt_cache_key``, xAI ``x-grok-conv-id``, OpenRouter ``session_id``, the self-hosted routing
header, a gateway's session header). A plan outside any family keeps its prefix-derived key.

**Gateways.** ``[tool.promptc.providers.<provider>] gateway = "<name>"`` (one of
:data:`promptc.core.providers.gateways.GATEWAYS`) or ``session_header = "<header>"`` makes the target
a gateway: every request carries the plan's session id (:func:`session_key`) in that header or body
field.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Mapping

from promptc.core.providers.gateways import GATEWAYS
from promptc.runtime.errors import RuntimeSettingError


def family_key(root: str, tenant: str | None) -> str:
    """The key every plan of ``root``'s family sends: ``head:digest`` (≤ 57 characters, like a prefix key)."""
    digest = hashlib.sha256(f"{tenant or ''}\nplan-family\n{root}".encode()).hexdigest()[:32]
    return f"{(tenant or 'promptc')[:24]}:{digest}"


def parents(plans: Mapping[str, Mapping[str, Any]], source: str | None = None) -> dict[str, str]:
    """``plan → parent`` from ``[tool.promptc.plans]``; E528 for a parent that is not a plan name or a cycle."""
    out: dict[str, str] = {}
    for name, table in plans.items():
        if "parent" not in table:
            continue
        parent = table["parent"]
        if not isinstance(parent, str) or not parent or parent == name:
            raise RuntimeSettingError(f"error[E528]: {source or 'config'}: tool.promptc.plans.{name}.parent must "
                                      "name another plan")
        out[name] = parent
    for name in out:
        seen, cur = {name}, name
        while cur in out:
            cur = out[cur]
            if cur in seen:
                raise RuntimeSettingError(f"error[E528]: {source or 'config'}: tool.promptc.plans.{name}.parent: "
                                          f"the parents form a cycle through `{cur}`")
            seen.add(cur)
    return out


def family_root(plan: str | None, parent_of: Mapping[str, str]) -> str | None:
    """The root of ``plan``'s family, or None when the plan is in no family (no parent, no children)."""
    if not plan:
        return None
    if plan not in parent_of and plan not in parent_of.values():
        return None
    while plan in parent_of:
        plan = parent_of[plan]
    return plan


def gateway_setting(provider: str, settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(header, body field) a target's gateway reads the session id from, or (None, None); E528 for an
    unknown gateway or a bad header name."""
    where = f"tool.promptc.providers.{provider}"
    header = settings.get("session_header")
    name = settings.get("gateway")
    if header is not None:
        if not isinstance(header, str) or not header or not all(c.isalnum() or c in "-_" for c in header):
            raise RuntimeSettingError(f"error[E528]: {where}.session_header must be an HTTP header name")
        return header, None
    if name is None:
        return None, None
    if name not in GATEWAYS:
        raise RuntimeSettingError(f"error[E528]: {where}.gateway: unknown gateway `{name}` (known: "
                                  f"{', '.join(sorted(GATEWAYS))})")
    g = GATEWAYS[name]
    return g.header, g.body_field


def with_session(call: Any, session: str, header: str | None, body_field: str | None) -> Any:
    """``call`` (a :class:`~promptc.runtime.providers.base.WireCall`) carrying ``session`` where the gateway
    reads it; the adapter's own value wins where it already set that field."""
    if header:
        return replace(call, headers={header: session, **call.headers})
    if body_field and body_field not in call.payload:
        return replace(call, payload={**call.payload, body_field: session})
    return call


def session_key(request: Any, tenant: str | None, key: str | None, call_key: str | None) -> str:
    """The session id a gateway routes on: the family key, else the key the adapter sent, else the
    plan's prefix-derived key."""
    from promptc.runtime.providers.openai import cache_key

    return key or call_key or cache_key(request, tenant, "plan")


def retention_break_even(target: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Whether ``long`` retention pays on ``target``, from its TTLs (the provider spec) and prices
    (:func:`promptc.core.prices.price_for`).

    A prefix written once and re-sent after a pause longer than the short TTL (but within the long
    one) is re-written under ``short`` (write multiplier ``w_s``) and read under ``long`` (read ``r``),
    after ``long`` paid ``w_l`` instead of ``w_s`` for its first write. So ``long`` pays for itself once
    ``break_even_calls = (w_l − w_s) / (w_s − r)`` such calls come (a provider with no write fee bills
    a write as plain input: multiplier 1). Subagents whose calls come in bursts under the short TTL
    gain nothing from ``long``; a main agent that pauses for a human does. None where a price or a
    TTL is unknown, or ``long`` keeps nothing ``short`` does not.
    """
    import math

    from promptc.core.prices import price_for
    from promptc.core.providers import parse_target, spec_for

    from promptc.runtime.errors import TargetError

    try:
        t = parse_target(target)
    except ValueError as exc:
        raise TargetError(f"error[E526]: {exc} (targets are provider/model, "
                          "e.g. anthropic/claude-sonnet-4-5)") from None
    spec = spec_for(t.provider)
    price = price_for(t.name, overrides)
    names = {r: spec.ttl_name(t.model, r) for r in ("short", "long")}
    seconds = {r: spec.ttl_seconds(t.model, r) for r in ("short", "long")}
    out: dict[str, Any] = {"target": t.name, "ttl": names, "ttl_seconds": seconds, "write": None, "read": None,
                           "break_even_calls": None, "calls_needed": None}
    if price is None or None in names.values() or names["short"] == names["long"]:
        return out
    w = {r: price.write_multiplier(names[r]) or 1.0 for r in ("short", "long")}
    out.update(write=w, read=price.read)
    if w["short"] <= price.read:
        return out
    k = max(0.0, (w["long"] - w["short"]) / (w["short"] - price.read))
    out.update(break_even_calls=round(k, 4), calls_needed=math.ceil(k) if k > 0 else 0)
    return out


def format_break_even(b: dict[str, Any]) -> str:
    """One line of :func:`retention_break_even` for ``promptc providers --break-even``."""
    if b["calls_needed"] is None:
        return f"{b['target']}: no break-even (a price or a TTL is unknown, or long keeps nothing short does not)\n"
    if b["calls_needed"] == 0:
        return (f"{b['target']}: long ({b['ttl']['long']}) costs no more to write than short ({b['ttl']['short']}): "
                f"no break-even to reach (storage fees, where billed, are not counted)\n")
    return (f"{b['target']}: short = {b['ttl']['short']} (write {b['write']['short']:g}x), long = {b['ttl']['long']} "
            f"(write {b['write']['long']:g}x), read {b['read']:g}x: long pays for itself after "
            f"{b['break_even_calls']:g} call(s) that come after a pause longer than {b['ttl']['short']} "
            f"(so {b['calls_needed']} such call(s) per written prefix)\n")
