"""The provider's own cache-miss verdict (Anthropic's cache-diagnosis beta), opt-in.

``[tool.promptc.providers.anthropic] cache_diagnosis = true`` makes every request carry the beta
header (:attr:`ProviderSpec.cache_diagnosis_beta`, a fact of the provider's spec) and
``diagnostics: {"previous_message_id": <the id of this plan's previous reply, or null>}``; the reply's
``diagnostics.cache_miss_reason`` is read by :func:`verdict` and the trace stores it as
``provider_verdict`` next to promptc's own ``invalidation`` reason, so ``trace stats`` can count
misses by (promptc reason, provider verdict): the team's bytes, the TTL, routing, or the provider.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from promptc.runtime.errors import RuntimeSettingError

#: The ``cache_miss_reason`` types the provider documents (anthropic-sdk-python 2.17.0 BetaCacheMissReason).
REASONS = ("model_changed", "system_changed", "tools_changed", "messages_changed", "previous_message_not_found",
           "unavailable")


def setting(provider: str, settings: Mapping[str, Any]) -> str | None:
    """The beta to send for ``provider`` when ``cache_diagnosis`` is on, else None; E528 for a non-boolean
    or a provider without a cache-miss verdict."""
    value = settings.get("cache_diagnosis", False)
    where = f"tool.promptc.providers.{provider}.cache_diagnosis"
    if not isinstance(value, bool):
        raise RuntimeSettingError(f"error[E528]: {where} must be true or false")
    if not value:
        return None
    from promptc.core.providers import SPECS

    beta = SPECS[provider].cache_diagnosis_beta if provider in SPECS else None
    if beta is None:
        raise RuntimeSettingError(f"error[E528]: {where}: {provider} returns no cache-miss verdict "
                                  "(docs/providers.md lists the providers that do)")
    return beta


def with_diagnosis(call: Any, beta: str, previous_message_id: str | None) -> Any:
    """``call`` asking for the provider's verdict against ``previous_message_id`` (None on a plan's first call)."""
    headers = dict(call.headers)
    existing = next((k for k in headers if k.lower() == "anthropic-beta"), None)
    if existing is None:
        headers["anthropic-beta"] = beta
    elif beta not in [b.strip() for b in headers[existing].split(",")]:
        headers[existing] = f"{headers[existing]},{beta}"
    return replace(call, headers=headers,
                   payload={**call.payload, "diagnostics": {"previous_message_id": previous_message_id}})


def verdict(raw: Any) -> dict[str, Any] | None:
    """The provider's verdict in a reply body: ``{"reason": type, "cache_missed_input_tokens": n | None}``,
    ``{"reason": "pending", ...}`` while its comparison was still running, None when the reply carries no
    divergence (or no diagnostics). A provider controls these bytes: anything else is ``"malformed"``."""
    if not isinstance(raw, dict) or raw.get("diagnostics") is None:
        return None
    d = raw["diagnostics"]
    if not isinstance(d, dict):
        return {"reason": "malformed", "cache_missed_input_tokens": None}
    reason = d.get("cache_miss_reason")
    if reason is None:
        return {"reason": "pending", "cache_missed_input_tokens": None}
    kind = reason.get("type") if isinstance(reason, dict) else None
    if kind not in REASONS:
        return {"reason": "malformed", "cache_missed_input_tokens": None}
    n = reason.get("cache_missed_input_tokens")
    ok = isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 10**9
    return {"reason": kind, "cache_missed_input_tokens": n if ok else None}
