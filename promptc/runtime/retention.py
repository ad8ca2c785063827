"""Cache retention: ``none | short | long`` (legacy ``5m`` / ``1h`` accepted), mapped per provider.

========== ===================== ============================= ==============================
retention  Anthropic             OpenAI before gpt-5.6          OpenAI gpt-5.6 and later
========== ===================== ============================= ==============================
none       no ``cache_control``  no ``prompt_cache_key``        ``prompt_cache_options.mode =
                                 (caching itself is automatic   explicit`` with no breakpoints
                                 and cannot be switched off)
short      ``ttl: "5m"``         ``in_memory``                 ``ttl: "30m"``
long       ``ttl: "1h"``         ``24h``                       ``ttl: "12h"``
========== ===================== ============================= ==============================

The TTL each retention buys per model, and its lifetime, are the provider spec's
(:func:`promptc.core.providers.ttl_name`, :func:`~promptc.core.providers.ttl_seconds`; ``promptc
providers`` lists them).

A value a model does not support is an error (E504), e.g. ``short`` on gpt-5.5, which keeps
prompts for 24h only.
"""

from __future__ import annotations

from promptc.runtime.errors import RetentionError

RETENTIONS = ("none", "short", "long")
_LEGACY = {"5m": "short", "1h": "long"}


def normalize(value: str | None, where: str = "cacheRetention") -> str:
    """``none``/``short``/``long`` for a configured value (None → ``short``); E504 for anything else."""
    if value is None:
        return "short"
    v = str(value).strip().lower()
    v = _LEGACY.get(v, v)
    if v not in RETENTIONS:
        raise RetentionError(f"error[E504]: {where}: unknown cache retention {value!r}; use none, short or long "
                             "(legacy 5m and 1h are accepted)")
    return v
